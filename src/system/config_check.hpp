// config_check.hpp — `keel check [--root DIR] [CONFIG_DIR]`: a configuration
// checked before it is applied.
//
// Runs exactly what keel runs on the files (the loader's parse of
// keel.toml and of every service file, system/config_loader.hpp's
// load_in_process; the graph of the whole set, service/service_set.hpp),
// in process, and adds what only a boot would find out: the
// CONFIG_DIR/main program and the absolute programs the services and
// keel.toml's `exec` name, looked up in the tree that will run them.
// Every problem is printed as `FILE:LINE: error: ...` or `warning:`, then
// a summary line. It reads files only: no root, no run directory, no
// socket, nothing started; the reads are those of the loader (O_NONBLOCK,
// regular files only, bounded sizes and nesting), so a FIFO, a device, a
// huge or deeply nested file or a symbolic-link loop is an error, never a
// hang. docs/system-mode.md, "Checking a configuration".
#pragma once

#include <string>
#include <vector>

namespace keel {

struct CheckOptions {
  std::string config_dir;    // keel.toml, main, services/ (unless services_dir)
  std::string services_dir;  // "": config_dir + "/services"
  std::string root;          // "": the running system; else an image tree
  bool user_instance = false;  // --user: as the caller's user instance loads it
};

struct CheckFinding {
  std::string file;
  int line = 0;  // 0: about the file as a whole
  bool error = true;
  std::string text;  // "KEY: MESSAGE" or "MESSAGE"
  // "FILE:LINE: error: TEXT"
  [[nodiscard]] std::string format() const;
};

struct CheckReport {
  std::vector<CheckFinding> findings;
  int services = 0;  // service files (and the main program) checked
  [[nodiscard]] int errors() const;
  [[nodiscard]] int warnings() const;
};

// Allocates; may throw std::bad_alloc only.
[[nodiscard]] CheckReport check_configuration(const CheckOptions& options);

// The `check` subcommand (src/main.cpp): argv[0] is "check". Exit 0 with
// no error, 1 with errors, 2 for a usage error.
int run_check(int argc, char** argv) noexcept;

}  // namespace keel
