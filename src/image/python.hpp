// python.hpp — the [python] section: a Python runtime for the image.
//
// plan_python() asks the HOST interpreter (spec.python.interpreter) what the
// entry scripts need: the stdlib's `modulefinder` traces each script's
// imports, the modules the interpreter itself loads to start (`python3 -I -S
// -c pass`: encodings, codecs, io, abc, ...) are added, then `include`, minus
// `exclude` and the heavy optional parts (kPythonOptionalParts) not asked
// for. Every pure-Python module becomes a .pyc compiled on the host with
// --invalidation-mode unchecked-hash (no mtime in it: reproducible) and is
// placed SOURCELESS where the interpreter looks for its .py
// (/usr/lib/python3.11/json/__init__.pyc), so no .py and no __pycache__
// are needed; extension modules are copied from lib-dynload as they are
// (the builder adds their ELF closure). The interpreter keeps its host path
// (e.g. /usr/bin/python3.11, sys.prefix /usr), so the default prefix
// computation finds the stdlib with no PYTHONHOME.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace keel::image {

struct PythonSpec;

struct PythonFile {
  std::string path;              // image path
  std::filesystem::path source;  // host file (extension modules, scripts), when content is empty
  std::string content;           // the .pyc bytes
  bool compiled = false;         // content holds a .pyc
  bool elf = false;              // an extension module: needs its ELF closure
  std::string module;            // top-level module it belongs to ("json"), "(script)" for entry scripts
  std::uint32_t mode = 0644;
  int line = 0;
};

struct PythonPlan {
  std::filesystem::path interpreter;  // host interpreter, symlinks resolved (/usr/bin/python3.11)
  std::vector<PythonFile> files;
  std::vector<std::string> modules;  // every module included, sorted
  std::vector<std::string> notes;    // modules a script imports that the stdlib lacks
  // lib-dynload (/usr/lib/python3.11/lib-dynload): always in the image, even
  // empty, because getpath takes it as exec_prefix's landmark and warns on
  // stderr at every start when it is missing.
  std::string dynload_dir;
};

// Runs the host interpreter; throws ImageError (spec file, [python] line)
// when it cannot run or a listed module is not found.
[[nodiscard]] PythonPlan plan_python(const PythonSpec& python, const std::filesystem::path& spec_file);

// "[python] adds N bytes" and one line per top-level module, largest first.
// `extra` are sizes of files added on its behalf (interpreter, libraries).
[[nodiscard]] std::vector<std::string> python_size_report(
    const PythonPlan& plan, const std::vector<std::pair<std::string, std::uint64_t>>& extra);

}  // namespace keel::image
