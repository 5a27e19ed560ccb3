// config_check.cpp — see config_check.hpp.
#include "system/config_check.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

#include "core/terminal_text.hpp"
#include "core/user_dirs.hpp"
#include "service/builtin.hpp"
#include "service/config.hpp"
#include "service/service_set.hpp"
#include "system/config_loader.hpp"

namespace keel {

namespace {

constexpr const char* kDefaultConfigDir = "/etc/keel";  // as the system role's (system_init.cpp)

constexpr const char kUsage[] =
    "usage: keel check [--root DIR | --user] [CONFIG_DIR]\n"
    "\n"
    "Check a keel configuration without applying it: CONFIG_DIR/keel.toml and\n"
    "every service file in CONFIG_DIR/services (syntax, keys, values, users and\n"
    "groups, the dependency graph, probes, sockets, log paths), the\n"
    "CONFIG_DIR/main program and the programs the services run. Each problem is\n"
    "printed as FILE:LINE: error: ... (or warning:), then a summary line.\n"
    "Reads files only: needs no root, starts nothing, opens no socket.\n"
    "\n"
    "  CONFIG_DIR   default: $KEEL_CONFIG_DIR, else /etc/keel (with --user:\n"
    "               $XDG_CONFIG_HOME/keel, else ~/.config/keel; with --root:\n"
    "               DIR/etc/keel); the services: $KEEL_SERVICES_DIR, else\n"
    "               CONFIG_DIR/services (with --root: always CONFIG_DIR/services)\n"
    "  --root DIR   an image tree: users and groups from DIR/etc/passwd and\n"
    "               DIR/etc/group, programs looked up inside DIR\n"
    "  --user       check it as your own user instance would load it (keel\n"
    "               --role=system run by you): services that need root are\n"
    "               errors. Without it the configuration is checked as root's\n"
    "               keel loads it, whoever runs keel check\n"
    "  -h, --help   this text\n"
    "\n"
    "Exit status: 0 no error (warnings allowed), 1 errors, 2 usage error.\n";

// Symbolic links followed at most this many times (the kernel's own bound).
constexpr int kMaxLinks = 40;

// stat() of `path` as the tree at `root` will see it: a link is followed
// inside the root, never out of it to the host's files. "" root: the
// running system's stat(). Only the last component's links are resolved
// by hand; a directory on the way that is an absolute link still resolves
// against the host (an image rarely has one; a relative one is exact).
bool stat_in_root(const std::string& root, std::string path, struct stat& st) {
  if (root.empty()) return ::stat(path.c_str(), &st) == 0;
  for (int hop = 0; hop < kMaxLinks; ++hop) {
    const std::string host = root + path;
    if (::lstat(host.c_str(), &st) != 0) return false;
    if (!S_ISLNK(st.st_mode)) return true;
    char target[4096];
    const ssize_t n = ::readlink(host.c_str(), target, sizeof target - 1);
    if (n <= 0) return false;
    const std::string_view t(target, static_cast<std::size_t>(n));
    if (t.front() == '/') {
      path = std::string(t);
    } else {
      path = path.substr(0, path.rfind('/') + 1) + std::string(t);
    }
  }
  errno = ELOOP;
  return false;
}

// A program keel will exec: present, a regular file, executable by someone.
// A warning, not an error: it may be on a filesystem keel.toml mounts, or
// made by a service that runs first.
void check_program(const CheckOptions& o, const std::string& file, std::string_view what, const std::string& program,
                   CheckReport& report) {
  if (program.empty() || program.front() != '/') return;  // found through PATH at start
  struct stat st{};
  std::string problem;
  if (!stat_in_root(o.root, program, st)) {
    problem = std::string(std::strerror(errno));
  } else if (!S_ISREG(st.st_mode)) {
    problem = "not a regular file";
  } else if ((st.st_mode & 0111) == 0) {
    problem = "not executable";
  } else {
    return;
  }
  report.findings.push_back(CheckFinding{file, 0, false,
                                         std::string(what) + ": " + program + ": " + problem +
                                             (o.root.empty() ? "" : " (in " + o.root + ")")});
}

// CONFIG_DIR/main, the launcher shorthand (service/supervisor.cpp's
// add_launcher_shorthand): a regular, executable file becomes the service
// "main" unless a main.toml exists.
void check_main(const CheckOptions& o, std::vector<service::ServiceConfig>& services, CheckReport& report) {
  const std::string path = o.config_dir + "/main";
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0) return;
  if (std::any_of(services.begin(), services.end(), [](const service::ServiceConfig& c) { return c.name == "main"; })) {
    report.findings.push_back(CheckFinding{path, 0, false, "main.toml defines the service \"main\": this file is not run"});
    return;
  }
  ++report.services;
  // main may be a link to a program elsewhere: followed as keel follows it
  // (inside the root for an image).
  std::string inside = path;
  if (!o.root.empty() && path.starts_with(o.root + "/")) inside = path.substr(o.root.size());
  const std::string root = inside == path ? std::string() : o.root;
  if (!stat_in_root(root, inside, st)) {
    report.findings.push_back(
        CheckFinding{path, 0, true, std::string("cannot run the main program: ") + std::strerror(errno)});
    return;
  }
  if (!S_ISREG(st.st_mode)) {
    report.findings.push_back(CheckFinding{path, 0, true, "not a regular file: keel ignores it (no main service)"});
    return;
  }
  if ((st.st_mode & 0111) == 0) {
    report.findings.push_back(CheckFinding{path, 0, true, "the main program is not executable"});
  }
  service::ServiceConfig c;
  c.name = "main";
  c.file = path;
  c.command = {path};
  services.push_back(std::move(c));
}

void add(CheckReport& report, const service::ConfigError& e, bool error) {
  std::string text = e.key.empty() ? e.message : e.key + ": " + e.message;
  report.findings.push_back(CheckFinding{e.file, e.line, error, std::move(text)});
}

}  // namespace

std::string CheckFinding::format() const {
  std::string out = terminal_text::escaped(file);
  if (line > 0) out += ":" + std::to_string(line);
  out += error ? ": error: " : ": warning: ";
  terminal_text::append_escaped(text, out);
  return out;
}

int CheckReport::errors() const {
  return static_cast<int>(std::count_if(findings.begin(), findings.end(), [](const CheckFinding& f) { return f.error; }));
}
int CheckReport::warnings() const { return static_cast<int>(findings.size()) - errors(); }

CheckReport check_configuration(const CheckOptions& options) {
  CheckReport report;
  LoadRequest request;
  request.keel_toml = options.config_dir + "/keel.toml";
  request.services_dir = options.services_dir.empty() ? options.config_dir + "/services" : options.services_dir;
  if (!options.root.empty()) {
    request.users.passwd = options.root + "/etc/passwd";
    request.users.group = options.root + "/etc/group";
  }
  request.user_instance = options.user_instance;
  // What the loader child does at boot and at every reload, in process.
  Loaded loaded = load_in_process(request);
  if (loaded.keel) {
    for (const service::ConfigError& e : loaded.keel->errors) add(report, e, true);
    if (!loaded.keel->config.exec.empty()) {
      check_program(options, request.keel_toml, "exec", loaded.keel->config.exec.front(), report);
    }
  }
  std::vector<service::ServiceConfig> services;
  if (loaded.services) {
    services = std::move(loaded.services->services);
    std::vector<std::string> bad_files;
    for (const service::ConfigError& e : loaded.services->errors) {
      add(report, e, true);
      if (e.file != request.services_dir) bad_files.push_back(e.file);
    }
    std::sort(bad_files.begin(), bad_files.end());
    bad_files.erase(std::unique(bad_files.begin(), bad_files.end()), bad_files.end());
    report.services = static_cast<int>(services.size() + bad_files.size());
  }
  check_main(options, services, report);
  for (const service::ServiceConfig& c : services) {
    if (c.name != "main" || c.command.size() != 1 || c.command.front() != c.file) {
      if (!c.command.empty()) check_program(options, c.file, "command", c.command.front(), report);
    }
  }
  service::SetCheck set = service::check_service_set(std::move(services));
  for (const service::SetProblem& p : set.problems) add(report, p.error, p.fatal);
  // keel.toml's start target: without a service of that name keel starts
  // every service (service/supervisor.cpp), which is seldom what was meant.
  if (loaded.keel && !loaded.keel->config.target.empty()) {
    const std::string& target = loaded.keel->config.target;
    if (std::none_of(set.services.begin(), set.services.end(),
                     [&](const service::ServiceConfig& c) { return c.name == target; })) {
      report.findings.push_back(CheckFinding{request.keel_toml, 0, false,
                                             "target: no service named '" + target + "': keel starts every service"});
    }
  }
  // By file, then line: each file's problems together, in reading order.
  std::stable_sort(report.findings.begin(), report.findings.end(), [](const CheckFinding& a, const CheckFinding& b) {
    return a.file != b.file ? a.file < b.file : a.line < b.line;
  });
  return report;
}

int run_check(int argc, char** argv) noexcept {
  try {
    CheckOptions options;
    bool have_dir = false;
    for (int i = 1; i < argc; ++i) {
      const std::string_view a = argv[i];
      if (a == "-h" || a == "--help") {
        std::fputs(kUsage, stdout);
        return 0;
      }
      if (a == "--user") {
        options.user_instance = true;
        continue;
      }
      if (a == "--root" || a.starts_with("--root=")) {
        std::string_view v;
        if (a == "--root") {
          if (i + 1 >= argc) {
            std::fprintf(stderr, "keel check: --root needs a directory\n%s", kUsage);
            return 2;
          }
          v = argv[++i];
        } else {
          v = a.substr(7);
        }
        if (v.empty()) {
          std::fprintf(stderr, "keel check: --root needs a directory\n");
          return 2;
        }
        options.root = std::string(v);
        while (options.root.size() > 1 && options.root.back() == '/') options.root.pop_back();
        if (options.root == "/") options.root.clear();
        continue;
      }
      if (a.starts_with("-") && a != "-") {
        std::fprintf(stderr, "keel check: unknown option '%s'\n%s", argv[i], kUsage);
        return 2;
      }
      if (have_dir) {
        std::fprintf(stderr, "keel check: one CONFIG_DIR at most\n%s", kUsage);
        return 2;
      }
      options.config_dir = std::string(a);
      have_dir = true;
    }
    if (options.user_instance && !options.root.empty()) {
      std::fprintf(stderr, "keel check: --user and --root do not go together (an image's keel runs as root)\n%s",
                   kUsage);
      return 2;
    }
    if (!have_dir) {
      // As keel's system role finds it (a user instance's own with --user:
      // core/user_dirs.hpp); an image's tree has its own.
      const char* env = options.root.empty() ? std::getenv("KEEL_CONFIG_DIR") : nullptr;
      const std::string fallback = options.user_instance ? user_config_dir() : kDefaultConfigDir;
      options.config_dir = options.root + (env != nullptr && *env != '\0' ? std::string(env) : fallback);
    }
    if (options.root.empty()) {
      const char* env = std::getenv("KEEL_SERVICES_DIR");
      if (env != nullptr && *env != '\0') options.services_dir = env;
    }
    struct stat st{};
    const bool found = ::stat(options.config_dir.c_str(), &st) == 0;
    if (!found || !S_ISDIR(st.st_mode)) {
      std::fprintf(stderr, "keel check: %s: %s\n", terminal_text::escaped(options.config_dir).c_str(),
                   found ? "not a directory" : std::strerror(errno));
      return 1;
    }
    const CheckReport report = check_configuration(options);
    std::string out;
    for (const CheckFinding& f : report.findings) (out += f.format()) += '\n';
    const int errors = report.errors();
    const int warnings = report.warnings();
    out += std::to_string(report.services) + (report.services == 1 ? " service" : " services") + " checked, " +
           std::to_string(errors) + (errors == 1 ? " error, " : " errors, ") + std::to_string(warnings) +
           (warnings == 1 ? " warning" : " warnings") + "\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    return errors > 0 ? 1 : 0;
  } catch (const std::bad_alloc&) {
    std::fputs("keel check: out of memory\n", stderr);
    return 1;
  }
}

}  // namespace keel
