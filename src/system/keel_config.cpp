#include "system/keel_config.hpp"

#include <sys/mount.h>

#include <cerrno>
#include <cstdlib>

#include "core/limits.hpp"
#include "core/read_file.hpp"
#include "service/toml_reader.hpp"

namespace keel {
namespace {

using service::Choice;
using service::ConfigError;
using service::Field;
using service::TomlReader;

// keel.toml is a few lines; more than this is not a configuration.
constexpr std::size_t kMaxConfigBytes = limits::kMaxConfigFileBytes;

constexpr std::string_view kTopKeys[] = {"hostname",       "target",  "exec",  "seed_dir",         "rescue_shell",
                                         "shutdown_grace", "signals", "mount", "shutdown_timeout", "container_sync",
                                         "watchdog",       "log_output", "python_hash_seed"};
constexpr std::string_view kSignalKeys[] = {"SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2", "SIGPWR"};
constexpr std::string_view kMountKeys[] = {"what", "where", "type", "options"};
constexpr std::string_view kWatchdogKeys[] = {"device", "timeout", "pet_interval", "shutdown_timeout",
                                              "critical_unhealthy"};
// WDIOC_SETTIMEOUT takes whole seconds in an int; drivers cap far lower
// (i6300esb: 2046 s). An hour is beyond any real device's range.
constexpr std::int64_t kMaxWatchdogTimeoutS = 3600;

class Reader : private TomlReader {
 public:
  Reader(KeelConfig& cfg, const std::string& file, std::vector<ConfigError>& errors)
      : TomlReader(file, errors), cfg_(cfg) {}

  void run(const toml::table& root) {
    check_keys(root, "", kTopKeys);
    if (Field f = field(root, "hostname")) {
      if (auto s = string_of(f)) {
        if (s->size() > 64 || s->find('/') != std::string::npos) {
          error(f.line, f.key, "must be at most 64 characters, without '/'");
        } else {
          cfg_.hostname = *s;
        }
      }
    }
    if (Field f = field(root, "target")) {
      if (auto s = string_of(f)) {
        if (service::valid_service_name(*s)) {
          cfg_.target = *s;
        } else {
          error(f.line, f.key, "not a service name: " + service::q(*s));
        }
      }
    }
    if (Field f = field(root, "exec")) cfg_.exec = argv_of(f);
    if (Field f = field(root, "seed_dir")) {
      if (auto s = string_of(f)) {
        if (!s->empty() && !service::is_absolute_path(*s)) {
          error(f.line, f.key, "must be an absolute path, or \"\" for no random seed");
        } else {
          cfg_.seed_dir = *s;
        }
      }
    }
    if (Field f = field(root, "rescue_shell")) {
      std::vector<std::string> argv = argv_of(f);
      if (!argv.empty()) cfg_.rescue_shell = std::move(argv);
    }
    if (Field f = field(root, "shutdown_grace")) {
      if (auto ns = seconds_of(f)) cfg_.shutdown_grace_ns = *ns;
    }
    if (Field f = field(root, "shutdown_timeout")) {
      if (auto ns = seconds_of(f)) {
        // 0 would give up on every service at once: no orderly stop at all.
        if (*ns == 0) {
          error(f.line, f.key, "must be more than 0 seconds");
        } else {
          cfg_.shutdown_timeout_ns = *ns;
        }
      }
    }
    if (Field f = field(root, "container_sync")) {
      if (auto b = bool_of(f)) cfg_.container_sync = *b;
    }
    signals(root);
    mounts(root);
    watchdog(root);
    if (Field f = field(root, "log_output")) {
      if (auto m = choice_of<service::LogOutput>(f, {{"none", service::LogOutput::None},
                                                      {"prefixed", service::LogOutput::Prefixed},
                                                      {"json", service::LogOutput::Json}})) {
        cfg_.log_output = *m;
      }
    }
    if (Field f = field(root, "python_hash_seed")) {
      if (auto b = bool_of(f)) cfg_.python_hash_seed = *b;
    }
  }

 private:
  // A program and its arguments: "/bin/prog" or ["/bin/prog", "arg"].
  std::vector<std::string> argv_of(const Field& f) {
    std::vector<std::string> argv;
    if (f.node->is_string()) {
      argv.push_back(f.node->as_string()->get());
    } else if (auto list = strings_of(f)) {
      for (auto& [s, line] : *list) argv.push_back(s);
    } else {
      return {};
    }
    if (argv.empty() || !service::is_absolute_path(argv[0])) {
      error(f.line, f.key, "must start with an absolute program path");
      return {};
    }
    return argv;
  }

  void signals(const toml::table& root) {
    Field f = field(root, "signals");
    if (!f) return;
    const toml::table* t = f.node->as_table();
    if (t == nullptr) {
      type_error(f, "a table");
      return;
    }
    check_keys(*t, "signals.", kSignalKeys);
    auto one = [&](std::string_view key, auto& out) {
      if (Field s = field(*t, key, "signals.")) {
        if (auto a = choice_of<SignalAction>(s, {{"reboot", SignalAction::Reboot},
                                                 {"poweroff", SignalAction::Poweroff},
                                                 {"halt", SignalAction::Halt},
                                                 {"ignore", SignalAction::Ignore}})) {
          out = *a;
        }
      }
    };
    one("SIGTERM", cfg_.signals.term);
    one("SIGINT", cfg_.signals.intr);
    one("SIGUSR1", cfg_.signals.usr1);
    one("SIGUSR2", cfg_.signals.usr2);
    one("SIGPWR", cfg_.signals.pwr);
  }

  void mounts(const toml::table& root) {
    Field f = field(root, "mount");
    if (!f) return;
    const toml::array* a = f.node->as_array();
    if (a == nullptr) {
      type_error(f, "an array of tables ([[mount]])");
      return;
    }
    for (const toml::node& n : *a) {
      const toml::table* t = n.as_table();
      int line = service::line_of(n) > 0 ? service::line_of(n) : f.line;
      if (t == nullptr) {
        error(line, "mount", std::string("expected a table, got ") + service::type_name(n));
        continue;
      }
      check_keys(*t, "mount.", kMountKeys);
      MountSpec m;
      m.line = line;
      bool ok = true;
      auto need = [&](std::string_view key, std::string& out) {
        Field k = field(*t, key, "mount.");
        if (!k) {
          error(line, std::string("mount.") + std::string(key), "missing");
          ok = false;
          return;
        }
        if (auto s = string_of(k)) {
          out = *s;
        } else {
          ok = false;
        }
      };
      need("what", m.what);
      need("where", m.where);
      need("type", m.type);
      if (ok && !service::is_absolute_path(m.where)) {
        error(line, "mount.where", "must be an absolute path, not " + service::q(m.where));
        ok = false;
      }
      if (Field o = field(*t, "options", "mount.")) {
        if (auto s = string_of(o)) {
          split_mount_options(*s, m.flags, m.data);
        } else {
          ok = false;
        }
      }
      if (ok) cfg_.mounts.push_back(std::move(m));
    }
  }

  void watchdog(const toml::table& root) {
    Field f = field(root, "watchdog");
    if (!f) return;
    const toml::table* t = f.node->as_table();
    if (t == nullptr) {
      type_error(f, "a table");
      return;
    }
    check_keys(*t, "watchdog.", kWatchdogKeys);
    WatchdogConfig w;
    Field dev = field(*t, "device", "watchdog.");
    if (!dev) {
      error(f.line, "watchdog.device", "missing (the watchdog device, e.g. \"/dev/watchdog\")");
      return;
    }
    if (auto s = abs_path_of(dev)) {
      w.device = *s;
    } else {
      return;  // no device: no watchdog, the rest does not matter
    }
    if (Field k = field(*t, "timeout", "watchdog.")) {
      if (auto v = int_of(k, 1, kMaxWatchdogTimeoutS)) w.timeout_s = static_cast<int>(*v);
    }
    if (Field k = field(*t, "shutdown_timeout", "watchdog.")) {
      if (auto v = int_of(k, 0, kMaxWatchdogTimeoutS)) w.shutdown_timeout_s = static_cast<int>(*v);
    }
    if (Field k = field(*t, "pet_interval", "watchdog.")) {
      if (auto ns = seconds_of(k)) {
        // Petting as often as the timeout (or never) lets the device fire
        // between two pets.
        if (*ns == 0 || *ns >= std::int64_t{w.timeout_s} * 1'000'000'000) {
          error(k.line, k.key, "must be more than 0 and less than the timeout (" + std::to_string(w.timeout_s) + " s)");
        } else {
          w.pet_interval_ns = *ns;
        }
      }
    }
    if (Field k = field(*t, "critical_unhealthy", "watchdog.")) {
      if (auto ns = seconds_of(k)) w.critical_unhealthy_ns = *ns;
    }
    cfg_.watchdog = std::move(w);
  }

  KeelConfig& cfg_;
};

}  // namespace

void split_mount_options(std::string_view options, unsigned long& flags, std::string& data) {
  struct Flag {
    std::string_view word;
    unsigned long set;
    unsigned long clear;
  };
  // The generic options mount(8) turns into flags; everything else is the
  // filesystem's own and goes to it as data.
  constexpr Flag kFlags[] = {
      {"ro", MS_RDONLY, 0},          {"rw", 0, MS_RDONLY},          {"nosuid", MS_NOSUID, 0},
      {"suid", 0, MS_NOSUID},        {"nodev", MS_NODEV, 0},        {"dev", 0, MS_NODEV},
      {"noexec", MS_NOEXEC, 0},      {"exec", 0, MS_NOEXEC},        {"sync", MS_SYNCHRONOUS, 0},
      {"async", 0, MS_SYNCHRONOUS},  {"noatime", MS_NOATIME, 0},    {"atime", 0, MS_NOATIME},
      {"nodiratime", MS_NODIRATIME, 0}, {"relatime", MS_RELATIME, 0}, {"strictatime", MS_STRICTATIME, 0},
      {"dirsync", MS_DIRSYNC, 0},    {"lazytime", MS_LAZYTIME, 0},  {"defaults", 0, 0},
  };
  while (!options.empty()) {
    std::size_t comma = options.find(',');
    std::string_view word = options.substr(0, comma);
    options = comma == std::string_view::npos ? std::string_view{} : options.substr(comma + 1);
    if (word.empty()) continue;
    bool generic = false;
    for (const Flag& f : kFlags) {
      if (f.word == word) {
        flags = (flags | f.set) & ~f.clear;
        generic = true;
        break;
      }
    }
    if (generic) continue;
    if (!data.empty()) data += ',';
    data += word;
  }
}

KeelConfigResult parse_keel_config(std::string_view text, const std::string& file) {
  KeelConfigResult result;
  result.found = true;
  toml::table root;
  // Size, nesting and toml++'s non-ASCII bug, before toml++ sees the text.
  if (service::TextProblem problem = service::check_toml_text(text)) {
    result.errors.push_back(ConfigError{file, problem.line, "", service::describe(problem)});
    return result;
  }
  try {
    // No source path: toml++ copies it into a shared_ptr inside a noexcept
    // constructor, so an allocation failure there would be std::terminate
    // (found by tests/fault). Errors name the file themselves.
    root = toml::parse(text);
  } catch (const toml::parse_error& e) {
    result.errors.push_back(ConfigError{file, static_cast<int>(e.source().begin.line), "",
                                        "syntax error at column " + std::to_string(e.source().begin.column) + ": " +
                                            std::string(e.description())});
    return result;
  }
  Reader(result.config, file, result.errors).run(root);
  return result;
}

void apply_log_output_env(KeelConfigResult& result, const char* value) {
  if (value == nullptr || *value == '\0') return;
  if (auto mode = service::parse_log_output(value)) {
    result.config.log_output = *mode;
    return;
  }
  result.errors.push_back(ConfigError{"environment", 0, "KEEL_LOG_OUTPUT",
                                      service::q(value) + " is not one of " + service::kLogOutputChoices +
                                          "; ignored (log_output stays " +
                                          service::log_output_name(result.config.log_output) + ")"});
}

KeelConfigResult load_keel_config(const std::string& path) {
  KeelConfigResult result;
  std::string text;
  Status s = read_file(path.c_str(), text, kMaxConfigBytes);
  if (s) {
    result = parse_keel_config(text, path);
  } else if (s.error().code != ENOENT) {
    result.found = true;
    result.errors.push_back(ConfigError{path, 0, "", "cannot read: " + read_file_error_text(s.error(), kMaxConfigBytes)});
  }
  // The environment wins, so a Dockerfile's ENV needs no keel.toml.
  apply_log_output_env(result, std::getenv("KEEL_LOG_OUTPUT"));
  return result;
}

}  // namespace keel
