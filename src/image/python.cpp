// python.cpp — see python.hpp.
#include "image/python.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "image/diagnostic.hpp"
#include "image/progress.hpp"
#include "image/subprocess.hpp"
#include "image/spec.hpp"

namespace keel::image {
namespace {

namespace fs = std::filesystem;

// Runs in the host interpreter as `python3 -I -S -c HELPER CONFIG OUTDIR`.
// CONFIG: lines "KIND\tVALUE" (script, include, exclude, optional).
// Output, one line per file, sorted:
//   pyc\tMODULE\tIMAGE_PATH\tCOMPILED_FILE
//   so\tMODULE\tIMAGE_PATH\tHOST_FILE
//   missing\tMODULE\t\t           (a script imports it, not found: a note)
//   dynload\t\tIMAGE_DIR\t         (lib-dynload: getpath's exec_prefix landmark)
constexpr const char* kHelper = R"PY(
import inspect, modulefinder, os, py_compile, subprocess, sys, sysconfig, types
# Imports of the scripts are followed everywhere (function bodies too); in
# the stdlib only the imports a module runs when it is imported (its
# top-level code): a full scan drags in ~350 modules for `import json`
# (lazy imports inside functions: pydoc, unittest, asyncio, ...). A lazy
# import that a script reaches is listed in `include`.
# A class body runs at import too (email.message's `class Message` imports
# email.iterators): only function bodies (CO_NEWLOCALS) are left out.
class TopLevel(modulefinder.ModuleFinder):
    def scan_code(self, co, m):
        if m.__name__ != "__main__":
            co = co.replace(co_consts=tuple(
                None if isinstance(c, types.CodeType) and c.co_flags & inspect.CO_NEWLOCALS else c
                for c in co.co_consts))
        return super().scan_code(co, m)
cfg, out = sys.argv[1], sys.argv[2]
conf = {"script": [], "include": [], "exclude": [], "optional": []}
with open(cfg) as f:
    for line in f:
        k, v = line.rstrip("\n").split("\t", 1)
        conf[k].append(v)
HEAVY = {"ssl": ["ssl", "_ssl", "_hashlib"], "sqlite3": ["sqlite3", "_sqlite3"],
         "ctypes": ["ctypes", "_ctypes"], "lzma": ["lzma", "_lzma"], "bz2": ["bz2", "_bz2"],
         "curses": ["curses", "_curses", "_curses_panel"], "readline": ["readline"],
         "decimal": ["decimal", "_decimal", "_pydecimal"]}
excl = list(conf["exclude"])
for part, names in HEAVY.items():
    if part not in conf["optional"]:
        excl += names
def excluded(name):
    return any(name == e or name.startswith(e + ".") for e in excl)
start = subprocess.run([sys.executable, "-I", "-S", "-c",
                        "import sys; print('\\n'.join(sys.modules))"],
                       check=True, capture_output=True, text=True).stdout.split()
start += ["site", "encodings.ascii", "encodings.latin_1"]
mf = TopLevel(excludes=excl)
for name in sorted(set(start)) + conf["include"]:
    if name in ("__main__",) or excluded(name):
        continue
    try:
        mf.import_hook(name)
    except ImportError:
        if name in conf["include"]:
            sys.stderr.write("include: no module named '%s'\n" % name)
            sys.exit(3)
for s in conf["script"]:
    mf.run_script(s)
stdlib = os.path.realpath(sysconfig.get_path("stdlib"))
rows = []
for name, m in mf.modules.items():
    f = m.__file__
    if name == "__main__" or not f or excluded(name):
        continue
    real = os.path.realpath(f)
    if f.endswith(".py"):
        rel = os.path.relpath(real, stdlib)
        cfile = os.path.join(out, rel + "c")
        py_compile.compile(real, cfile=cfile, dfile=f, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        rows.append(("pyc", name, f[:-3] + ".pyc", cfile))
    elif f.endswith(".so"):
        rows.append(("so", name, f, real))
for name, importers in mf.badmodules.items():
    if "__main__" in importers and not excluded(name) and name not in mf.modules:
        rows.append(("missing", name, "", ""))
# CPython's getpath finds exec_prefix by the lib-dynload DIRECTORY: without
# it (no extension module traced) every start prints "Could not find
# platform dependent libraries <exec_prefix>" on stderr.
rows.append(("dynload", "", os.path.join(sys.exec_prefix, sys.platlibdir,
             "python%d.%d" % sys.version_info[:2], "lib-dynload"), ""))
for r in sorted(set(rows)):
    print("\t".join(r))
)PY";

std::string top_level(const std::string& module) { return module.substr(0, module.find('.')); }

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}



}  // namespace

PythonPlan plan_python(const PythonSpec& python, const fs::path& spec_file) {
  auto fail = [&](const std::string& message) -> void { throw ImageError(spec_file.string(), python.line, message); };
  PythonPlan plan;
  std::error_code ec;
  plan.interpreter = fs::canonical(python.interpreter, ec);
  if (ec) fail("[python] interpreter " + python.interpreter.string() + ": " + ec.message());

  std::string tmpl = (fs::temp_directory_path() / "keel-image-python-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) fail(std::string("mkdtemp: ") + std::strerror(errno));
  const fs::path tmp = tmpl;
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
  } cleanup{tmp};

  {
    std::ofstream cfg(tmp / "config");
    for (const PythonScript& s : python.scripts) cfg << "script\t" << s.source.string() << "\n";
    for (const std::string& m : python.include) cfg << "include\t" << m << "\n";
    for (const std::string& m : python.exclude) cfg << "exclude\t" << m << "\n";
    for (const std::string& m : python.optional) cfg << "optional\t" << m << "\n";
  }
  const ToolRun r = run_tool(
      {plan.interpreter.string(), "-I", "-S", "-c", kHelper, (tmp / "config").string(), (tmp / "pyc").string()}, tmp);
  if (r.exit_code != 0) {
    std::string err = r.err;
    while (!err.empty() && err.back() == '\n') err.pop_back();
    if (const auto nl = err.rfind('\n'); nl != std::string::npos && r.exit_code != 3)
      err = err.substr(nl + 1);
    fail("[python] tracing the imports with " + plan.interpreter.string() + " failed" +
         (err.empty() ? std::string() : ": " + err));
  }

  std::istringstream lines(r.out);
  std::string line;
  std::vector<std::string> missing;
  while (std::getline(lines, line)) {
    std::vector<std::string> f;
    std::size_t pos = 0;
    for (;;) {
      const std::size_t tab = line.find('\t', pos);
      f.push_back(line.substr(pos, tab - pos));
      if (tab == std::string::npos) break;
      pos = tab + 1;
    }
    if (f.size() != 4) continue;
    if (f[0] == "dynload") {
      plan.dynload_dir = f[2];
      continue;
    }
    if (f[0] == "missing") {
      missing.push_back(f[1]);
      continue;
    }
    PythonFile file;
    file.module = f[1];
    file.path = f[2];
    file.line = python.line;
    if (f[0] == "pyc") {
      file.compiled = true;
      file.content = read_file(f[3]);
    } else {
      file.source = f[3];
      file.elf = true;
      file.mode = 0755;
    }
    plan.modules.push_back(f[1]);
    plan.files.push_back(std::move(file));
  }
  for (const PythonScript& s : python.scripts) {
    PythonFile file;
    file.path = s.path;
    file.source = s.source;
    file.module = "(script " + s.path + ")";
    file.mode = 0755;
    file.line = s.line;
    plan.files.push_back(std::move(file));
  }
  std::sort(plan.modules.begin(), plan.modules.end());
  plan.modules.erase(std::unique(plan.modules.begin(), plan.modules.end()), plan.modules.end());
  for (const std::string& m : missing) {
    plan.notes.push_back("[python] a script imports '" + m + "', which is not in " + plan.interpreter.string() +
                         "'s standard library: not added (a [[tree]] or [[file]] must bring it)");
  }
  return plan;
}

std::vector<std::string> python_size_report(const PythonPlan& plan,
                                            const std::vector<std::pair<std::string, std::uint64_t>>& extra) {
  std::map<std::string, std::uint64_t> by;
  for (const PythonFile& f : plan.files) {
    std::uint64_t size = f.content.size();
    if (!f.compiled) {
      std::error_code ec;
      size = fs::file_size(f.source, ec);
      if (ec) size = 0;
    }
    by[f.module.starts_with("(") ? f.module : top_level(f.module)] += size;
  }
  for (const auto& [what, size] : extra) by[what] += size;
  std::vector<std::pair<std::string, std::uint64_t>> sorted(by.begin(), by.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::uint64_t total = 0;
  for (const auto& [what, size] : sorted) total += size;
  std::vector<std::string> out;
  out.push_back("[python] adds " + human_bytes(total) + " (" + std::to_string(total) + " bytes, uncompressed), " +
                std::to_string(plan.modules.size()) + " modules; by module:");
  for (const auto& [what, size] : sorted) out.push_back("[python]   " + human_bytes(size) + "\t" + what);
  return out;
}

}  // namespace keel::image
