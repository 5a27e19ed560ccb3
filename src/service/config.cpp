// config.cpp — one service file (TOML) into a ServiceConfig.
//
// toml++ parses the text and keeps the source line of every key and value;
// this file walks the resulting table with a fixed list of known keys per
// table and turns each value into a field, checking its type and range. A
// problem does not stop the walk: every one found becomes a ConfigError with
// the line of the key (or of the array element) it concerns, so a user fixes
// a file in one pass. keel-image runs this same code on an image's service
// files, against the image's own passwd/group.
//
// Size matters here: this is linked into the static PID-1 binary. toml++ is
// used header-only with its formatters (the iostream-based printers) turned
// off, the file is read with read(2) and parsed from a string_view, and
// nothing in this file touches an iostream.
#include "service/config.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <memory>

#include "core/limits.hpp"
#include "core/read_file.hpp"
#include "core/signals.hpp"
#include "core/userdb.hpp"

#include "service/toml_reader.hpp"

namespace keel::service {

std::string ConfigError::text() const {
  std::string out = file;
  if (line > 0) {
    if (!out.empty()) out += ':';
    out += std::to_string(line);
  }
  if (!key.empty()) {
    if (!out.empty()) out += ": ";
    out += key;
  }
  if (!out.empty()) out += ": ";
  out += message;
  return out;
}

bool SuccessStatuses::matches(int wait_status) const noexcept {
  if (WIFEXITED(wait_status)) {
    const int code = WEXITSTATUS(wait_status);
    return ((codes[code / 64] >> (code % 64)) & 1U) != 0;
  }
  if (WIFSIGNALED(wait_status)) {
    const int signo = WTERMSIG(wait_status);
    return signo >= 1 && signo <= 31 && ((signals >> signo) & 1U) != 0;
  }
  return false;
}

bool valid_service_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 64 || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '@' || c == '-';
  });
}

namespace {

// A service file is a few hundred bytes; anything near this is a mistake
// (a binary or a log copied into the folder), not a configuration.
constexpr std::size_t kMaxServiceFileBytes = limits::kMaxConfigFileBytes;

constexpr std::int64_t kNsPerSecond = 1'000'000'000;

// The kernel's capability numbers (include/uapi/linux/capability.h): a
// fixed ABI, so a table here rather than libcap, which a static keel would
// have to carry.
constexpr std::string_view kCapabilityNames[] = {
    "chown",           "dac_override",  "dac_read_search", "fowner",          "fsetid",
    "kill",            "setgid",        "setuid",          "setpcap",         "linux_immutable",
    "net_bind_service", "net_broadcast", "net_admin",       "net_raw",         "ipc_lock",
    "ipc_owner",       "sys_module",    "sys_rawio",       "sys_chroot",      "sys_ptrace",
    "sys_pacct",       "sys_admin",     "sys_boot",        "sys_nice",        "sys_resource",
    "sys_time",        "sys_tty_config", "mknod",          "lease",           "audit_write",
    "audit_control",   "setfcap",       "mac_override",    "mac_admin",       "syslog",
    "wake_alarm",      "block_suspend", "audit_read",      "perfmon",         "bpf",
    "checkpoint_restore",
};
static_assert(std::size(kCapabilityNames) == 41, "CAP_CHOWN (0) .. CAP_CHECKPOINT_RESTORE (40)");

struct RlimitName {
  std::string_view name;
  int resource;
};
constexpr RlimitName kRlimits[] = {
    {"as", RLIMIT_AS},           {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
    {"data", RLIMIT_DATA},       {"fsize", RLIMIT_FSIZE},       {"locks", RLIMIT_LOCKS},
    {"memlock", RLIMIT_MEMLOCK}, {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
    {"nofile", RLIMIT_NOFILE},   {"nproc", RLIMIT_NPROC},       {"rss", RLIMIT_RSS},
    {"rtprio", RLIMIT_RTPRIO},   {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
    {"stack", RLIMIT_STACK},
};

constexpr std::string_view kTopKeys[] = {
    "description",      "type",          "command",      "notify_fd",       "requires",
    "wants",            "after",         "before",       "restart",         "restart_delay",
    "restart_delay_max", "restart_reset_after", "start_timeout", "stop_timeout", "stop_signal",
    "user",             "group",         "supplementary_groups", "working_directory", "environment",
    "environment_file", "umask",         "rlimits",      "capabilities",    "no_new_privileges",
    "stdin",            "stdout",        "stderr",       "log",             "cgroup",
    "on_exit",          "critical",      "restart_limit", "restart_limit_window", "success_exit_status",
    "on_failure",       "essential",     "watchdog",     "reload_signal",   "readiness_probe",
    "liveness_probe",   "socket",        "start",        "fd_store_max",    "python_hash_seed",
};
constexpr std::string_view kSocketKeys[] = {"listen", "name", "backlog", "owner", "group", "mode"};
constexpr std::string_view kLogKeys[] = {"ring_size", "file", "max_size", "keep", "console", "max_age", "compress"};
constexpr std::string_view kCgroupKeys[] = {"memory_max", "pids_max", "cpu_weight"};
constexpr std::string_view kProbeKeys[] = {"exec",     "tcp",      "http",      "file",        "file_max_age",
                                           "interval", "timeout",  "failures",  "successes",   "start_period",
                                           "action"};

// "host:port" with a numeric IPv4 address, "localhost" or a bracketed IPv6
// one ("[::1]:80"), port 1..65535: the probe child connects without a
// resolver (a static keel has none it could trust at boot).
bool valid_host_port(std::string_view s) {
  std::size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == s.size()) return false;
  std::string_view host = s.substr(0, colon);
  std::string_view port = s.substr(colon + 1);
  if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  int n = 0;
  std::from_chars(port.data(), port.data() + port.size(), n);
  if (n < 1 || n > 65535) return false;
  if (host.front() == '[') return host.size() > 2 && host.back() == ']';
  return host.find(':') == std::string_view::npos;
}

bool valid_env_name(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

class Parser : private TomlReader {
 public:
  Parser(ServiceConfig& cfg, std::vector<ConfigError>& errors, const UserDbPaths& users)
      : TomlReader(cfg.file, errors), cfg_(cfg), users_(users) {}

  void run(const toml::table& root);

 private:
  void command(const toml::table& root);
  void dependencies(const toml::table& root, std::string_view key, std::vector<DependencyRef>& out);
  void timing(const toml::table& root);
  void privileges(const toml::table& root);
  void environment(const toml::table& root);
  void umask(const toml::table& root);
  void rlimits(const toml::table& root);
  void capabilities(const toml::table& root);
  void streams(const toml::table& root);
  void log(const toml::table& root);
  void cgroup(const toml::table& root);
  void failure_policy(const toml::table& root);
  void success_exit_status(const Field& f);
  void watchdog_and_reload(const toml::table& root);
  void probe(const toml::table& root, std::string_view key, ProbeConfig& out, bool liveness);
  void sockets(const toml::table& root);
  void fd_store(const toml::table& root);
  std::optional<SocketConfig> socket(const toml::table& t, int line, std::size_t index);
  // A standard signal (stop_signal, reload_signal): a name ("SIGTERM",
  // "TERM") or a number from 1 to 31; 0 when it names none (the caller
  // says what was expected). nullopt: neither a string nor an integer,
  // reported here.
  std::optional<int> signal_of(const Field& f);

  // A user or a group as a service file writes it (`user`, `group`,
  // `supplementary_groups`, a socket's `owner` and `group`): a name or a
  // numeric id, a string or an integer, looked up in users_'s passwd or
  // group file. A numeric id stands for itself when the file does not list
  // it, and when there is no file at all (a scratch image); a name needs
  // the file. An error is reported at `f`, and nullopt returned.
  struct UserId {
    std::string text;  // as written
    uid_t uid = 0;
    gid_t gid = 0;  // the user's primary group; a bare id's own number
  };
  struct GroupId {
    std::string text;
    gid_t gid = 0;
  };
  std::optional<UserId> user_id(const Field& f);
  std::optional<GroupId> group_id(const Field& f);
  // An octal mode of at most 0777 (`umask`, a socket's `mode`): a string of
  // 1 to 4 octal digits, or an integer written in octal (0o022; a decimal
  // one would be another number than meant, except 0). `noun` and the
  // examples ("umask", "022", "0o022") word the errors.
  std::optional<mode_t> octal_mode(const Field& f, const std::string& noun, const std::string& example,
                                   const std::string& octal_example);

  ServiceConfig& cfg_;
  const UserDbPaths& users_;
};

void Parser::run(const toml::table& root) {
  check_keys(root, "", kTopKeys);
  if (Field f = field(root, "description")) {
    if (auto s = string_of(f)) cfg_.description = *s;
  }
  if (Field f = field(root, "type")) {
    if (auto t = choice_of<Type>(f, {{"simple", Type::Simple},
                                     {"oneshot", Type::Oneshot},
                                     {"notify", Type::Notify},
                                     {"notify-fd", Type::NotifyFd},
                                     {"target", Type::Target}})) {
      cfg_.type = *t;
    }
  }
  command(root);
  if (Field f = field(root, "notify_fd")) {
    if (auto v = int_of(f, 3, 1023)) cfg_.notify_fd = static_cast<int>(*v);
  }
  dependencies(root, "requires", cfg_.requires_);
  dependencies(root, "wants", cfg_.wants);
  dependencies(root, "after", cfg_.after);
  dependencies(root, "before", cfg_.before);
  if (Field f = field(root, "restart")) {
    if (auto r = choice_of<Restart>(
            f, {{"never", Restart::Never}, {"on-failure", Restart::OnFailure}, {"always", Restart::Always}})) {
      cfg_.restart = *r;
    }
  }
  timing(root);
  privileges(root);
  if (Field f = field(root, "working_directory")) {
    if (auto p = abs_path_of(f)) cfg_.working_directory = *p;
  }
  environment(root);
  umask(root);
  rlimits(root);
  capabilities(root);
  if (Field f = field(root, "no_new_privileges")) {
    if (auto b = bool_of(f)) cfg_.no_new_privileges = *b;
  }
  streams(root);
  log(root);
  cgroup(root);
  if (Field f = field(root, "on_exit")) {
    if (auto a = choice_of<ExitAction>(f, {{"none", ExitAction::None},
                                           {"poweroff", ExitAction::Poweroff},
                                           {"reboot", ExitAction::Reboot},
                                           {"halt", ExitAction::Halt},
                                           {"exit", ExitAction::Exit}})) {
      cfg_.on_exit = *a;
    }
  }
  if (Field f = field(root, "critical")) {
    if (auto b = bool_of(f)) cfg_.critical = *b;
  }
  failure_policy(root);
  watchdog_and_reload(root);
  probe(root, "readiness_probe", cfg_.readiness_probe, false);
  probe(root, "liveness_probe", cfg_.liveness_probe, true);
  sockets(root);
  if (Field f = field(root, "start")) {
    if (auto v = choice_of<bool>(f, {{"immediately", false}, {"on-connection", true}})) {
      if (*v && cfg_.sockets.empty()) {
        error(f.line, f.key, "\"on-connection\" needs a [[socket]] to watch");
      } else {
        cfg_.start_on_connection = *v;
      }
    }
  }
  fd_store(root);
  if (Field f = field(root, "python_hash_seed")) {
    if (auto b = bool_of(f)) {
      cfg_.python_hash_seed = *b;
      cfg_.python_hash_seed_given = true;
    }
  }
}

// An essential service without a restart limit of its own gets this one:
// otherwise a crash-looping essential service would never end the system.
constexpr int kEssentialRestartLimit = 5;

void Parser::failure_policy(const toml::table& root) {
  const std::initializer_list<Choice<ExitAction>> actions = {{"none", ExitAction::None},
                                                             {"poweroff", ExitAction::Poweroff},
                                                             {"reboot", ExitAction::Reboot},
                                                             {"halt", ExitAction::Halt},
                                                             {"exit", ExitAction::Exit}};
  Field limit = field(root, "restart_limit");
  if (limit) {
    if (auto v = int_of(limit, 0, 1'000'000)) cfg_.restart_limit = static_cast<int>(*v);
  }
  if (Field f = field(root, "restart_limit_window")) {
    if (auto v = seconds_of(f)) {
      if (*v > 0) {
        cfg_.restart_limit_window_ns = *v;
      } else {
        error(f.line, f.key, "must be more than 0 seconds");
      }
    }
  }
  if (Field f = field(root, "success_exit_status")) success_exit_status(f);
  Field on_failure = field(root, "on_failure");
  if (on_failure) {
    if (auto a = choice_of<ExitAction>(on_failure, actions)) cfg_.on_failure = *a;
  }
  if (Field f = field(root, "essential")) {
    if (f.node->is_boolean()) {
      cfg_.essential = f.node->as_boolean()->get() ? Essential::OnFailure : Essential::No;
    } else if (f.node->is_string()) {
      if (auto e = choice_of<Essential>(f, {{"on-failure", Essential::OnFailure}, {"always", Essential::Always}})) {
        cfg_.essential = *e;
      }
    } else {
      type_error(f, "true, false, \"on-failure\" or \"always\"");
    }
  }
  // What essential means, as the defaults of the explicit keys: a key the
  // file sets wins.
  if (cfg_.essential == Essential::No) return;
  if (!on_failure) cfg_.on_failure = ExitAction::Exit;
  if (cfg_.essential == Essential::Always && !field(root, "on_exit")) cfg_.on_exit = ExitAction::Exit;
  if (!limit) cfg_.restart_limit = kEssentialRestartLimit;
}

// [0, 143, "SIGTERM"]: exit codes 0..255 and signal names (or "15"-style
// numbers as strings), each an addition to exit 0.
void Parser::success_exit_status(const Field& f) {
  const toml::array* a = f.node->as_array();
  if (a == nullptr) {
    type_error(f, "an array of exit codes (0..255) and signal names");
    return;
  }
  for (const toml::node& e : *a) {
    const int line = line_of(e) > 0 ? line_of(e) : f.line;
    if (e.is_integer()) {
      const std::int64_t v = e.as_integer()->get();
      if (v >= 0 && v <= 255) {
        cfg_.success_exit_status.add_code(static_cast<int>(v));
      } else {
        error(line, f.key, "exit code " + std::to_string(v) + " out of range (0 to 255)");
      }
    } else if (e.is_string()) {
      if (auto signo = signals::parse(e.as_string()->get())) {
        cfg_.success_exit_status.add_signal(*signo);
      } else {
        error(line, f.key, "unknown signal " + q(e.as_string()->get()) + " (expected a name like \"SIGTERM\")");
      }
    } else {
      error(line, f.key, std::string("expected exit codes and signal names, got ") + type_name(e) + " in it");
    }
  }
}

std::optional<int> Parser::signal_of(const Field& f) {
  if (f.node->is_integer()) {
    const std::int64_t v = f.node->as_integer()->get();
    return v >= 1 && v <= 31 ? static_cast<int>(v) : 0;
  }
  if (f.node->is_string()) return signals::parse(f.node->as_string()->get()).value_or(0);
  type_error(f, "a signal name or number");
  return std::nullopt;
}

void Parser::watchdog_and_reload(const toml::table& root) {
  if (Field f = field(root, "watchdog")) {
    if (auto v = seconds_of(f)) cfg_.watchdog_ns = *v;
  }
  if (Field f = field(root, "reload_signal")) {
    const std::optional<int> signo = signal_of(f);
    if (!signo) return;  // not a name or a number: reported
    // SIGKILL or SIGSTOP would not be a reload; say so rather than kill it.
    if (*signo != 0 && *signo != SIGKILL && *signo != SIGSTOP) {
      cfg_.reload_signal = *signo;
    } else {
      error(f.line, f.key,
            "not a reload signal (expected a name like \"SIGHUP\" or a number from 1 to 31, not KILL or STOP)");
    }
  }
}

void Parser::command(const toml::table& root) {
  Field f = field(root, "command");
  if (cfg_.type == Type::Target) {
    if (f) error(f.line, "command", "a target has no command (remove it, or use another type)");
    return;
  }
  if (!f) {
    Field type = field(root, "type");
    error(type ? type.line : 0, "command", "missing: every service except a target needs one");
    return;
  }
  auto args = strings_of(f);
  if (!args) return;
  if (args->empty()) {
    error(f.line, f.key, "must not be empty: give the program and its arguments");
    return;
  }
  if ((*args)[0].first.empty()) {
    error((*args)[0].second, f.key, "the program (first element) must not be empty");
    return;
  }
  for (auto& [arg, line] : *args) cfg_.command.push_back(std::move(arg));
}

void Parser::dependencies(const toml::table& root, std::string_view key, std::vector<DependencyRef>& out) {
  Field f = field(root, key);
  if (!f) return;
  auto names = strings_of(f);
  if (!names) return;
  for (auto& [name, line] : *names) {
    if (!valid_service_name(name)) {
      error(line, f.key, "invalid service name " + q(name) + " (letters, digits, _ . @ -; at most 64)");
      continue;
    }
    out.push_back(DependencyRef{std::move(name), line});
  }
}

void Parser::timing(const toml::table& root) {
  Field delay = field(root, "restart_delay");
  if (delay) {
    if (auto v = seconds_of(delay)) cfg_.restart_delay_ns = *v;
  }
  Field delay_max = field(root, "restart_delay_max");
  if (delay_max) {
    if (auto v = seconds_of(delay_max)) cfg_.restart_delay_max_ns = *v;
  }
  if (cfg_.restart_delay_max_ns < cfg_.restart_delay_ns) {
    const Field& at = delay_max ? delay_max : delay;
    error(at.line, at.key, "restart_delay_max must not be less than restart_delay");
  }
  if (Field f = field(root, "restart_reset_after")) {
    if (auto v = seconds_of(f)) cfg_.restart_reset_ns = *v;
  }
  if (Field f = field(root, "start_timeout")) {
    if (auto v = seconds_of(f)) cfg_.start_timeout_ns = *v;
  }
  if (Field f = field(root, "stop_timeout")) {
    if (auto v = seconds_of(f)) cfg_.stop_timeout_ns = *v;
  }
  if (Field f = field(root, "stop_signal")) {
    const std::optional<int> signo = signal_of(f);
    if (!signo) return;  // not a name or a number: reported
    if (*signo != 0) {
      cfg_.stop_signal = *signo;
    } else {
      error(f.line, f.key, "unknown signal (expected a name like \"SIGTERM\" or a number from 1 to 31)");
    }
  }
}

// A user or group as written: a name, or an id (integer or digits).
std::optional<std::string> id_text(const toml::node& n) {
  if (n.is_string()) return n.as_string()->get();
  if (n.is_integer() && n.as_integer()->get() >= 0) return std::to_string(n.as_integer()->get());
  return std::nullopt;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The id a digits-only name stands for; (uid_t)-1 is "no change" to
// setresuid, so never an id.
std::optional<std::uint32_t> id_value(std::string_view s) {
  std::uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v == 0xFFFFFFFFu) return std::nullopt;
  return v;
}

std::optional<Parser::UserId> Parser::user_id(const Field& f) {
  std::optional<std::string> text = id_text(*f.node);
  if (!text) {
    type_error(f, "a user name or a numeric uid");
    return std::nullopt;
  }
  Result<UserEntry> u = find_user(*text, users_.passwd.c_str());
  if (u) return UserId{*text, u.value().uid, u.value().gid};
  const Error& e = u.error();
  if (all_digits(*text) && e.code == ENOENT && std::strcmp(e.context, "open passwd") == 0) {
    if (auto id = id_value(*text)) return UserId{*text, static_cast<uid_t>(*id), static_cast<gid_t>(*id)};
    error(f.line, f.key, "invalid user " + q(*text));
  } else if (e.code == ENOENT && std::strcmp(e.context, "user not found") == 0) {
    error(f.line, f.key, "unknown user " + q(*text) + " (not in " + users_.passwd + ")");
  } else if (e.code == EINVAL) {
    error(f.line, f.key, "invalid user " + q(*text));
  } else {
    error(f.line, f.key, "cannot read " + users_.passwd + ": " + e.message());
  }
  return std::nullopt;
}

std::optional<Parser::GroupId> Parser::group_id(const Field& f) {
  std::optional<std::string> text = id_text(*f.node);
  if (!text) {
    type_error(f, "a group name or a numeric gid");
    return std::nullopt;
  }
  Result<GroupEntry> g = find_group(*text, users_.group.c_str());
  if (g) return GroupId{*text, g.value().gid};
  const Error& e = g.error();
  if (all_digits(*text) && e.code == ENOENT && std::strcmp(e.context, "open group") == 0) {
    if (auto id = id_value(*text)) return GroupId{*text, static_cast<gid_t>(*id)};
    error(f.line, f.key, "invalid group " + q(*text));
  } else if (e.code == ENOENT && std::strcmp(e.context, "group not found") == 0) {
    error(f.line, f.key, "unknown group " + q(*text) + " (not in " + users_.group + ")");
  } else if (e.code == EINVAL) {
    error(f.line, f.key, "invalid group " + q(*text));
  } else {
    error(f.line, f.key, "cannot read " + users_.group + ": " + e.message());
  }
  return std::nullopt;
}

void Parser::privileges(const toml::table& root) {
  Field user = field(root, "user");
  Field group = field(root, "group");
  Field extra = field(root, "supplementary_groups");
  bool ok = true;

  if (user) {
    if (auto u = user_id(user)) {
      cfg_.user = u->text;
      cfg_.uid = u->uid;
      cfg_.gid = u->gid;
    } else {
      ok = false;
    }
  }
  if (group) {
    if (auto g = group_id(group)) {
      cfg_.group = g->text;
      cfg_.gid = g->gid;
    } else {
      ok = false;
    }
  }
  std::vector<gid_t> explicit_gids;
  if (extra) {
    const toml::array* a = extra.node->as_array();
    if (a == nullptr) {
      type_error(extra, "an array of group names or gids");
      ok = false;
    } else {
      for (const toml::node& e : *a) {
        if (auto g = group_id(Field{&e, line_of(e) > 0 ? line_of(e) : extra.line, extra.key})) {
          cfg_.supplementary_groups.push_back(g->text);
          explicit_gids.push_back(g->gid);
        } else {
          ok = false;
        }
      }
    }
  }
  if (!ok || (!user && !group && !extra)) return;

  // has_user means "switch credentials at start": also for a group alone
  // (root:group), uid staying 0.
  cfg_.has_user = true;
  auto add = [&](gid_t g) {
    if (std::find(cfg_.groups.begin(), cfg_.groups.end(), g) == cfg_.groups.end()) cfg_.groups.push_back(g);
  };
  for (gid_t g : explicit_gids) add(g);
  if (!user) return;
  // The user's own memberships, as initgroups() would give them. Looked up
  // by the name in passwd (a numeric id absent from passwd has none).
  Result<UserEntry> u = find_user(cfg_.user, users_.passwd.c_str());
  const std::string name = u ? u.value().name : cfg_.user;
  Result<std::vector<gid_t>> member_of = supplementary_groups(name, cfg_.gid, users_.group.c_str());
  if (member_of) {
    for (gid_t g : member_of.value()) add(g);
  } else if (member_of.error().code == ENOENT) {
    add(cfg_.gid);  // no group file: the primary group only
  } else {
    error(user.line, user.key, "cannot read " + users_.group + ": " + member_of.error().message());
  }
}

void Parser::environment(const toml::table& root) {
  if (Field f = field(root, "environment")) {
    const toml::table* t = f.node->as_table();
    if (t == nullptr) {
      type_error(f, "a table of strings");
    } else {
      // toml++ keeps a table sorted by key; the file's order is that of the
      // keys' positions (line, then column for an inline table).
      struct Var {
        int line;
        int column;
        std::string name;
        std::string value;
      };
      std::vector<Var> vars;
      for (auto&& [k, v] : *t) {
        int line = static_cast<int>(k.source().begin.line);
        if (line == 0) line = line_of(v);
        const std::string key = "environment." + std::string(k.str());
        if (!valid_env_name(k.str())) {
          error(line, key, "invalid variable name (letters, digits and _, not starting with a digit)");
          continue;
        }
        if (!v.is_string()) {
          error(line, key, std::string("expected a string, got ") + type_name(v));
          continue;
        }
        vars.push_back(Var{line, static_cast<int>(k.source().begin.column), std::string(k.str()), v.as_string()->get()});
      }
      std::stable_sort(vars.begin(), vars.end(), [](const Var& a, const Var& b) {
        return a.line != b.line ? a.line < b.line : a.column < b.column;
      });
      for (Var& var : vars) cfg_.environment.emplace_back(std::move(var.name), std::move(var.value));
    }
  }
  if (Field f = field(root, "environment_file")) {
    if (auto s = string_of(f)) {
      std::string_view path = *s;
      if (!path.empty() && path.front() == '-') path.remove_prefix(1);
      if (is_absolute_path(path)) {
        cfg_.environment_file = *s;
      } else {
        error(f.line, f.key, "must be an absolute path (\"-\" first: optional), not " + q(*s));
      }
    }
  }
}

std::optional<mode_t> Parser::octal_mode(const Field& f, const std::string& noun, const std::string& example,
                                         const std::string& octal_example) {
  const std::string msg =
      "expected a string of octal digits like \"" + example + "\" or an octal integer like " + octal_example;
  if (f.node->is_string()) {
    const std::string& s = f.node->as_string()->get();
    unsigned value = 0;
    bool ok = !s.empty() && s.size() <= 4;
    for (char c : s) {
      if (c < '0' || c > '7') {
        ok = false;
        break;
      }
      value = value * 8 + static_cast<unsigned>(c - '0');
    }
    if (!ok || value > 0777) {
      error(f.line, f.key, msg + " (at most 0777), not " + q(s));
      return std::nullopt;
    }
    return static_cast<mode_t>(value);
  }
  if (f.node->is_integer()) {
    const auto* v = f.node->as_integer();
    const bool octal = (v->flags() & toml::value_flags::format_as_octal) != toml::value_flags::none;
    // A decimal 22 would mean 0o26, never what was meant.
    if (!octal && v->get() != 0) {
      error(f.line, f.key,
            msg + " (" + std::to_string(v->get()) + " is decimal; write \"" + std::to_string(v->get()) + "\")");
      return std::nullopt;
    }
    if (v->get() < 0 || v->get() > 0777) {
      error(f.line, f.key, msg + " (at most 0o777)");
      return std::nullopt;
    }
    return static_cast<mode_t>(v->get());
  }
  type_error(f, ("an octal " + noun).c_str());
  return std::nullopt;
}

void Parser::umask(const toml::table& root) {
  if (Field f = field(root, "umask")) {
    if (auto m = octal_mode(f, "umask", "022", "0o022")) cfg_.umask = *m;
  }
}

void Parser::rlimits(const toml::table& root) {
  Field f = field(root, "rlimits");
  if (!f) return;
  const toml::table* t = f.node->as_table();
  if (t == nullptr) {
    type_error(f, "a table");
    return;
  }
  std::vector<std::pair<int, Rlimit>> found;
  for (auto&& [k, v] : *t) {
    int line = static_cast<int>(k.source().begin.line);
    if (line == 0) line = line_of(v);
    const std::string key = "rlimits." + std::string(k.str());
    const std::string_view name = k.str();
    const RlimitName* r = std::find_if(std::begin(kRlimits), std::end(kRlimits),
                                       [name](const RlimitName& n) { return n.name == name; });
    if (r == std::end(kRlimits)) {
      std::string message = "unknown limit";
      std::string_view best;
      std::size_t best_distance = 3;
      for (const RlimitName& n : kRlimits) {
        const std::size_t d = edit_distance(k.str(), n.name);
        if (d < best_distance) {
          best_distance = d;
          best = n.name;
        }
      }
      if (!best.empty()) message += "; did you mean " + q(best) + "?";
      error(line, key, std::move(message));
      continue;
    }
    const char* expected = "a limit: an integer >= 0, \"infinity\", or [soft, hard]";
    auto one = [&](const toml::node& n) -> std::optional<rlim_t> {
      if (n.is_integer() && n.as_integer()->get() >= 0) return static_cast<rlim_t>(n.as_integer()->get());
      if (n.is_string() && n.as_string()->get() == "infinity") return RLIM_INFINITY;
      return std::nullopt;
    };
    Rlimit limit;
    limit.resource = r->resource;
    if (const toml::array* a = v.as_array()) {
      std::optional<rlim_t> soft;
      std::optional<rlim_t> hard;
      if (a->size() == 2) {
        soft = one(*a->get(0));
        hard = one(*a->get(1));
      }
      if (!soft || !hard) {
        error(line, key, std::string("expected ") + expected);
        continue;
      }
      if (*soft > *hard) {
        error(line, key, "the soft limit must not be above the hard one");
        continue;
      }
      limit.soft = *soft;
      limit.hard = *hard;
    } else if (auto both = one(v)) {
      limit.soft = limit.hard = *both;
    } else {
      error(line, key, std::string("expected ") + expected + ", got " + type_name(v));
      continue;
    }
    found.emplace_back(line, limit);
  }
  std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [line, limit] : found) cfg_.rlimits.push_back(limit);
}

void Parser::capabilities(const toml::table& root) {
  Field f = field(root, "capabilities");
  if (!f) return;
  auto names = strings_of(f);
  if (!names) return;
  std::uint64_t mask = 0;
  bool ok = true;
  for (const auto& [name, line] : *names) {
    std::string n = lower(name);
    if (n.starts_with("cap_")) n.erase(0, 4);
    const auto* it = std::find(std::begin(kCapabilityNames), std::end(kCapabilityNames), n);
    if (it == std::end(kCapabilityNames)) {
      error(line, f.key, "unknown capability " + q(name));
      ok = false;
      continue;
    }
    mask |= std::uint64_t{1} << (it - std::begin(kCapabilityNames));
  }
  if (ok) cfg_.capabilities = mask;
}

void Parser::streams(const toml::table& root) {
  auto stream = [&](std::string_view key, bool output, Stream& out) {
    Field f = field(root, key);
    if (!f) return;
    auto s = string_of(f);
    if (!s) return;
    if (s->starts_with("file:")) {
      std::string path = s->substr(5);
      if (!is_absolute_path(path)) {
        error(f.line, f.key, "file: needs an absolute path, not " + q(path));
        return;
      }
      out = Stream{StreamKind::File, std::move(path)};
      return;
    }
    if (*s == "null") {
      out = Stream{StreamKind::Null, {}};
    } else if (*s == "console") {
      out = Stream{StreamKind::Console, {}};
    } else if (*s == "log" && output) {
      out = Stream{StreamKind::Log, {}};
    } else {
      error(f.line, f.key,
            std::string("expected one of ") + (output ? "log, console, null" : "null, console") +
                " or \"file:/absolute/path\", not " + q(*s));
    }
  };
  stream("stdin", false, cfg_.stdin_);
  stream("stdout", true, cfg_.stdout_);
  stream("stderr", true, cfg_.stderr_);
}

void Parser::log(const toml::table& root) {
  Field f = field(root, "log");
  if (!f) return;
  const toml::table* t = f.node->as_table();
  if (t == nullptr) {
    type_error(f, "a table");
    return;
  }
  const std::string p = "log.";
  check_keys(*t, p, kLogKeys);
  if (Field g = field(*t, "ring_size", p)) {
    if (auto v = size_of(g, 1024, std::uint64_t{16} * 1024 * 1024)) cfg_.log.ring_bytes = static_cast<std::size_t>(*v);
  }
  if (Field g = field(*t, "file", p)) {
    if (auto s = abs_path_of(g)) cfg_.log.file = *s;
  }
  if (Field g = field(*t, "max_size", p)) {
    if (auto v = size_of(g, 4096, std::numeric_limits<std::int64_t>::max())) cfg_.log.max_size = *v;
  }
  if (Field g = field(*t, "keep", p)) {
    if (auto v = int_of(g, 0, 100)) cfg_.log.keep = static_cast<int>(*v);
  }
  if (Field g = field(*t, "console", p)) {
    if (auto b = bool_of(g)) cfg_.log.console = *b;
  }
  if (Field g = field(*t, "max_age", p)) {
    // Seconds as a number like the other durations, or a string with a
    // unit ("30m", "12h", "1d"), the way log ages are usually said.
    if (g.node->is_string()) {
      const std::string& s = g.node->as_string()->get();
      std::int64_t n = 0;
      std::int64_t unit = 0;
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
      if (ec == std::errc() && end + 1 == s.data() + s.size() && n >= 0) {
        switch (*end) {
          case 's': unit = 1; break;
          case 'm': unit = 60; break;
          case 'h': unit = 3600; break;
          case 'd': unit = 86'400; break;
          default: break;
        }
      }
      if (unit == 0 || n > limits::kMaxDurationSeconds / unit) {
        error(g.line, g.key, "expected a number of seconds or a duration like \"30m\", \"12h\", \"1d\" (at most a year), not " + q(s));
      } else {
        cfg_.log.max_age_ns = n * unit * kNsPerSecond;
      }
    } else if (auto v = seconds_of(g)) {
      cfg_.log.max_age_ns = *v;
    }
  }
  if (Field g = field(*t, "compress", p)) {
    // zstd is refused by name, with why: keel links zlib only, as keel's
    // size is one of its promises (service/log_compress.hpp).
    const toml::value<std::string>* s = g.node->as_string();
    if (s != nullptr && s->get() == "zstd") {
      error(g.line, g.key,
            "\"zstd\" is not available for log files (its compressor would add about 650 KB to keel); use \"gzip\"");
    } else if (auto v = choice_of<Compression>(g, {{"none", Compression::None}, {"gzip", Compression::Gzip}})) {
      cfg_.log.compress = *v;
    }
  }
}

void Parser::cgroup(const toml::table& root) {
  Field f = field(root, "cgroup");
  if (!f) return;
  const toml::table* t = f.node->as_table();
  if (t == nullptr) {
    type_error(f, "a table");
    return;
  }
  const std::string p = "cgroup.";
  check_keys(*t, p, kCgroupKeys);
  if (Field g = field(*t, "memory_max", p)) {
    if (auto v = size_of(g, 4096, std::numeric_limits<std::int64_t>::max())) cfg_.cgroup.memory_max = *v;
  }
  if (Field g = field(*t, "pids_max", p)) {
    if (auto v = int_of(g, 1, std::numeric_limits<std::int64_t>::max())) {
      cfg_.cgroup.pids_max = static_cast<std::uint64_t>(*v);
    }
  }
  if (Field g = field(*t, "cpu_weight", p)) {
    if (auto v = int_of(g, 1, 10000)) cfg_.cgroup.cpu_weight = static_cast<std::uint32_t>(*v);
  }
}

// [readiness_probe] and [liveness_probe]: exactly one kind, its settings.
void Parser::probe(const toml::table& root, std::string_view key, ProbeConfig& out, bool liveness) {
  Field f = field(root, key);
  if (!f) return;
  const toml::table* t = f.node->as_table();
  if (t == nullptr) {
    type_error(f, "a table");
    return;
  }
  const std::string p = std::string(key) + ".";
  check_keys(*t, p, kProbeKeys);
  if (cfg_.type == Type::Target) {
    error(f.line, f.key, "a target runs nothing to probe");
    return;
  }
  if (!liveness && cfg_.type != Type::Simple) {
    // A notify, notify-fd or oneshot service says itself when it is ready:
    // two signals for one fact would leave "ready" ambiguous.
    error(f.line, f.key, "only for type \"simple\" (this type reports its own readiness)");
    return;
  }
  int kinds = 0;
  if (Field g = field(*t, "exec", p)) {
    ++kinds;
    if (auto args = strings_of(g)) {
      if (args->empty() || (*args)[0].first.empty()) {
        error(g.line, g.key, "must not be empty: give the program and its arguments");
      } else {
        out.kind = ProbeKind::Exec;
        for (auto& [arg, line] : *args) out.exec.push_back(std::move(arg));
      }
    }
  }
  if (Field g = field(*t, "tcp", p)) {
    ++kinds;
    if (auto s = string_of(g)) {
      if (valid_host_port(*s)) {
        out.kind = ProbeKind::Tcp;
        out.target = *s;
      } else {
        error(g.line, g.key, "expected \"ADDRESS:PORT\" (a numeric address, localhost or [IPv6]; port 1 to 65535), not " + q(*s));
      }
    }
  }
  if (Field g = field(*t, "http", p)) {
    ++kinds;
    if (auto s = string_of(g)) {
      std::string_view v = *s;
      bool ok = false;
      if (v.starts_with("http://")) {
        std::string_view rest = v.substr(7);
        std::size_t slash = rest.find('/');
        std::string_view hostport = rest.substr(0, slash);
        ok = slash != std::string_view::npos &&
             (valid_host_port(hostport) || (!hostport.empty() && valid_host_port(std::string(hostport) + ":80")));
      } else if (v.starts_with("unix:/")) {
        std::size_t sep = v.find(":/", 5);
        ok = sep != std::string_view::npos && sep > 5;
      }
      if (ok && v.find_first_of(" \r\n\t") == std::string_view::npos) {
        out.kind = ProbeKind::Http;
        out.target = *s;
      } else {
        error(g.line, g.key, "expected \"http://ADDRESS[:PORT]/PATH\" or \"unix:/SOCKET:/PATH\", not " + q(*s));
      }
    }
  }
  if (Field g = field(*t, "file", p)) {
    ++kinds;
    if (auto s = abs_path_of(g)) {
      out.kind = ProbeKind::File;
      out.target = *s;
    }
  }
  if (kinds != 1) {
    error(f.line, f.key, kinds == 0 ? "needs one of exec, tcp, http, file" : "takes only one of exec, tcp, http, file");
    out.kind = ProbeKind::None;
  }
  if (Field g = field(*t, "file_max_age", p)) {
    if (out.kind != ProbeKind::File && kinds == 1) error(g.line, g.key, "only with file");
    if (auto v = seconds_of(g)) out.file_max_age_ns = *v;
  }
  if (Field g = field(*t, "interval", p)) {
    if (auto v = seconds_of(g)) {
      if (*v < 100'000'000) {
        error(g.line, g.key, "must be at least 0.1 seconds");
      } else {
        out.interval_ns = *v;
      }
    }
  }
  if (Field g = field(*t, "timeout", p)) {
    if (auto v = seconds_of(g)) {
      if (*v < 100'000'000) {
        error(g.line, g.key, "must be at least 0.1 seconds");
      } else {
        out.timeout_ns = *v;
      }
    }
  }
  if (Field g = field(*t, "failures", p)) {
    if (auto v = int_of(g, 1, 1000)) out.failures = static_cast<int>(*v);
  }
  if (Field g = field(*t, "successes", p)) {
    if (auto v = int_of(g, 1, 1000)) out.successes = static_cast<int>(*v);
  }
  if (Field g = field(*t, "start_period", p)) {
    if (auto v = seconds_of(g)) out.start_period_ns = *v;
  }
  if (Field g = field(*t, "action", p)) {
    if (!liveness) {
      error(g.line, g.key, "only for liveness_probe (a readiness probe only gates dependents)");
    } else if (auto a = choice_of<ProbeAction>(g, {{"restart", ProbeAction::Restart},
                                                   {"stop", ProbeAction::Stop},
                                                   {"poweroff", ProbeAction::Poweroff},
                                                   {"reboot", ProbeAction::Reboot},
                                                   {"exit", ProbeAction::Exit}})) {
      out.action = *a;
    }
  }
}

// "tcp:127.0.0.1:8000", "tcp:[::]:8000", "udp:0.0.0.0:5353" -> address
// and port; false when it is not a numeric address and a port 1..65535
// (names are not looked up: that would need the network at boot).
bool parse_inet(std::string_view text, SocketConfig& out) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.find(':') == std::string_view::npos) return false;
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return false;  // IPv6 goes in brackets
  }
  unsigned char buf[16];
  const std::string h(host);
  const bool v6 = host.find(':') != std::string_view::npos;
  if (::inet_pton(v6 ? AF_INET6 : AF_INET, h.c_str(), buf) != 1) return false;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) return false;
  out.address = h;
  out.port = static_cast<std::uint16_t>(value);
  return true;
}

// A LISTEN_FDNAMES entry: sd_listen_fds_with_names() splits on ':'.
bool valid_fd_name(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-' || c == '@';
  });
}

// The whole file (core/read_file: O_NONBLOCK, a regular file only, at most
// kMaxServiceFileBytes). A service file may be a symbolic link: only root
// can place one in the services folder (docs/security.md).
std::optional<ConfigError> read_text(const std::string& path, std::string& out) {
  Status s = read_file(path.c_str(), out, kMaxServiceFileBytes);
  if (s) return std::nullopt;
  const bool at_open = std::strcmp(s.error().context, "open") == 0;
  return ConfigError{path, 0, "", (at_open ? "cannot open: " : "") + read_file_error_text(s.error(), kMaxServiceFileBytes)};
}

// FNV-1a of a service file's text: the text parsed is the text
// fingerprinted, so the file is read once, and a change between two reads
// cannot be missed.
std::uint64_t text_fingerprint(std::string_view text) noexcept {
  std::uint64_t h = 1469598103934665603ULL;
  for (char c : text) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  return h;
}

}  // namespace

ParseResult parse_service(std::string_view text, std::string_view name, std::string_view file,
                          const UserDbPaths& users) {
  ParseResult result;
  ServiceConfig cfg;
  cfg.name = name;
  cfg.file = file;
  toml::table root;
  // Size, nesting and toml++'s non-ASCII bug, before toml++ sees the text.
  if (TextProblem problem = check_toml_text(text)) {
    result.errors.push_back(ConfigError{cfg.file, problem.line, "", describe(problem)});
    return result;
  }
#if KEEL_TOML_EXCEPTIONS
  try {
    // No source path: toml++ copies it into a shared_ptr inside a noexcept
    // constructor, so an allocation failure there would be std::terminate
    // (found by tests/fault). Errors name the file themselves.
    root = toml::parse(text);
  } catch (const toml::parse_error& e) {
    result.errors.push_back(ConfigError{cfg.file, static_cast<int>(e.source().begin.line), "",
                                        "syntax error at column " + std::to_string(e.source().begin.column) + ": " +
                                            std::string(e.description())});
    return result;
  }
#else
  toml::parse_result parsed = toml::parse(text);  // no source path: see above
  if (!parsed) {
    const toml::parse_error& e = parsed.error();
    result.errors.push_back(ConfigError{cfg.file, static_cast<int>(e.source().begin.line), "",
                                        "syntax error at column " + std::to_string(e.source().begin.column) + ": " +
                                            std::string(e.description())});
    return result;
  }
  root = std::move(parsed).table();
#endif
  Parser(cfg, result.errors, users).run(root);
  if (result.errors.empty()) {
    cfg.source = text_fingerprint(text);
    result.config = std::move(cfg);
  } else {
    std::stable_sort(result.errors.begin(), result.errors.end(),
                     [](const ConfigError& a, const ConfigError& b) { return a.line < b.line; });
  }
  return result;
}

namespace {

void Parser::sockets(const toml::table& root) {
  Field f = field(root, "socket");
  if (!f) return;
  const toml::array* a = f.node->as_array();
  if (a == nullptr) {
    type_error(f, "an array of tables ([[socket]])");
    return;
  }
  if (cfg_.type == Type::Target || cfg_.type == Type::Oneshot) {
    error(f.line, f.key, "a target or a oneshot service has no listening sockets");
    return;
  }
  if (a->size() > limits::kMaxServiceSockets) {
    error(f.line, f.key, "at most " + std::to_string(limits::kMaxServiceSockets) + " sockets per service");
    return;
  }
  for (std::size_t i = 0; i < a->size(); ++i) {
    const toml::node& n = *a->get(i);
    const toml::table* t = n.as_table();
    if (t == nullptr) {
      error(line_of(n), f.key, std::string("expected a table ([[socket]]), not ") + type_name(n));
      continue;
    }
    if (auto s = socket(*t, line_of(n), i)) cfg_.sockets.push_back(std::move(*s));
  }
  // The service's fds 3 .. 3+N-1 are its sockets (sd_listen_fds() starts
  // at 3): an s6 notification fd there would replace one.
  const auto n = static_cast<int>(cfg_.sockets.size());
  if (cfg_.type == Type::NotifyFd && cfg_.notify_fd >= 3 && cfg_.notify_fd < 3 + n) {
    Field nf = field(root, "notify_fd");
    error(nf ? nf.line : f.line, "notify_fd",
          "fd " + std::to_string(cfg_.notify_fd) + " is one of the sockets' (3 to " + std::to_string(2 + n) +
              "): set notify_fd to " + std::to_string(3 + n) + " or more");
  }
}

// ---- sd_notify FDSTORE (docs/services.md, "The fd store")
void Parser::fd_store(const toml::table& root) {
  Field f = field(root, "fd_store_max");
  if (!f) return;
  auto v = int_of(f, 0, static_cast<std::int64_t>(limits::kFdStoreMax));
  if (!v) return;
  if (*v > 0 && (cfg_.type == Type::Target || cfg_.type == Type::Oneshot)) {
    error(f.line, f.key, "a target or a oneshot service has no fd store (it is kept across restarts)");
    return;
  }
  // Stored fds follow the sockets at 3, 4, ...: the child installs at
  // most kMaxServiceSockets there (exec_plan.cpp).
  const std::size_t room = limits::kMaxServiceSockets - cfg_.sockets.size();
  if (static_cast<std::size_t>(*v) > room) {
    error(f.line, f.key,
          "at most " + std::to_string(room) + " with " + std::to_string(cfg_.sockets.size()) +
              " sockets (sockets and stored fds together: " + std::to_string(limits::kMaxServiceSockets) + ")");
    return;
  }
  cfg_.fd_store_max = static_cast<std::size_t>(*v);
}

std::optional<SocketConfig> Parser::socket(const toml::table& t, int line, std::size_t index) {
  const std::string p = "socket[" + std::to_string(index) + "].";
  check_keys(t, p, kSocketKeys);
  SocketConfig s;
  s.line = line;
  s.name = cfg_.name;
  bool ok = true;
  Field listen = field(t, "listen", p);
  if (!listen) {
    error(line, p + "listen", "missing (for example \"tcp:127.0.0.1:8000\" or \"unix:/run/web.sock\")");
    return std::nullopt;
  }
  auto text = string_of(listen);
  if (!text) return std::nullopt;
  s.listen = *text;
  const std::string_view v = *text;
  const std::size_t colon = v.find(':');
  const std::string_view scheme = v.substr(0, colon == std::string_view::npos ? 0 : colon);
  const std::string_view rest = colon == std::string_view::npos ? std::string_view{} : v.substr(colon + 1);
  if (scheme == "tcp" || scheme == "udp") {
    s.kind = scheme == "tcp" ? SocketKind::Tcp : SocketKind::Udp;
    if (!parse_inet(rest, s)) {
      error(listen.line, listen.key,
            "expected a numeric address and a port, like \"" + std::string(scheme) + ":127.0.0.1:8000\" or \"" +
                std::string(scheme) + ":[::]:8000\", not " + q(v));
      ok = false;
    }
  } else if (scheme == "unix" || scheme == "unix-dgram") {
    s.kind = scheme == "unix" ? SocketKind::Unix : SocketKind::UnixDgram;
    // sun_path holds 108 bytes with the final NUL.
    if (!is_absolute_path(rest) || rest.size() > 107 || rest.back() == '/') {
      error(listen.line, listen.key,
            "expected an absolute path of at most 107 bytes after " + q(scheme) + ", not " + q(v));
      ok = false;
    }
    s.address = rest;
  } else {
    error(listen.line, listen.key, "expected tcp:, udp:, unix: or unix-dgram: before the address, not " + q(v));
    ok = false;
  }
  if (Field g = field(t, "name", p)) {
    if (auto n = string_of(g)) {
      if (valid_fd_name(*n)) {
        s.name = *n;
      } else {
        error(g.line, g.key, "expected 1 to 64 of letters, digits, _ . @ -, not " + q(*n));
        ok = false;
      }
    }
  }
  if (Field g = field(t, "backlog", p)) {
    if (auto b = int_of(g, 1, 65535)) s.backlog = static_cast<int>(*b);
  }
  const bool unix_path = s.kind == SocketKind::Unix || s.kind == SocketKind::UnixDgram;
  for (const char* key : {"owner", "group", "mode"}) {
    Field g = field(t, key, p);
    if (g && !unix_path) {
      error(g.line, g.key, "only for unix and unix-dgram sockets");
      ok = false;
    }
  }
  if (!unix_path) return ok ? std::optional<SocketConfig>(std::move(s)) : std::nullopt;
  if (Field g = field(t, "owner", p)) {
    if (auto u = user_id(g)) {
      s.uid = u->uid;
      s.set_owner = true;
    } else {
      ok = false;
    }
  }
  if (Field g = field(t, "group", p)) {
    if (auto gr = group_id(g)) {
      s.gid = gr->gid;
      s.set_group = true;
    } else {
      ok = false;
    }
  }
  if (Field g = field(t, "mode", p)) {
    if (auto m = octal_mode(g, "mode", "0660", "0o660")) {
      s.mode = *m;
    } else {
      ok = false;
    }
  }
  return ok ? std::optional<SocketConfig>(std::move(s)) : std::nullopt;
}

// Two services cannot listen on one address: the second file (in name
// order) is refused with the line of its [[socket]].
void refuse_shared_addresses(LoadResult& result) {
  std::vector<std::pair<std::string, std::string>> seen;  // canonical address, service
  auto canonical = [](const SocketConfig& s) {
    const bool stream = s.kind == SocketKind::Tcp || s.kind == SocketKind::Unix;
    const bool inet = s.kind == SocketKind::Tcp || s.kind == SocketKind::Udp;
    return std::string(inet ? (stream ? "tcp:" : "udp:") : "unix:") + s.address +
           (inet ? ":" + std::to_string(s.port) : std::string());
  };
  std::erase_if(result.services, [&](const ServiceConfig& c) {
    for (const SocketConfig& s : c.sockets) {
      const std::string key = canonical(s);
      auto it = std::find_if(seen.begin(), seen.end(), [&](const auto& e) { return e.first == key; });
      if (it != seen.end()) {
        result.errors.push_back(ConfigError{c.file, s.line, "socket",
                                            q(s.listen) + ": the address of a socket of service " + q(it->second)});
        return true;
      }
    }
    for (const SocketConfig& s : c.sockets) seen.emplace_back(canonical(s), c.name);
    return false;
  });
}

}  // namespace

LoadResult load_service_dir(const std::string& dir, const UserDbPaths& users) {
  LoadResult result;
  DIR* d = ::opendir(dir.c_str());
  // Closed however this ends, std::bad_alloc included.
  std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
  if (d == nullptr) {
    if (errno != ENOENT) {
      result.errors.push_back(ConfigError{dir, 0, "", std::string("cannot read the folder: ") + std::strerror(errno)});
    }
    return result;
  }
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    const dirent* e = ::readdir(d);
    if (e == nullptr) {
      if (errno != 0) {
        result.errors.push_back(
            ConfigError{dir, 0, "", std::string("cannot read the folder: ") + std::strerror(errno)});
      }
      break;
    }
    const std::string_view n = e->d_name;
    // Dotfiles and editor leftovers (".web.toml.swp", "web.toml~") are not services.
    if (n.empty() || n.front() == '.' || n.back() == '~' || !n.ends_with(".toml")) continue;
    names.emplace_back(n);
  }
  std::sort(names.begin(), names.end());
  const std::string prefix = dir.empty() || dir.back() == '/' ? dir : dir + "/";
  std::string text;
  for (const std::string& entry : names) {
    const std::string path = prefix + entry;
    const std::string_view stem = std::string_view(entry).substr(0, entry.size() - 5);
    if (!valid_service_name(stem)) {
      result.errors.push_back(ConfigError{
          path, 0, "", "invalid service name " + q(stem) + " (letters, digits, _ . @ -; at most 64; no leading '.')"});
      continue;
    }
    if (auto err = read_text(path, text)) {
      result.errors.push_back(std::move(*err));
      continue;
    }
    ParseResult parsed = parse_service(text, stem, path, users);
    if (parsed.config) {
      result.services.push_back(std::move(*parsed.config));
    } else {
      for (ConfigError& err : parsed.errors) result.errors.push_back(std::move(err));
    }
  }
  refuse_shared_addresses(result);
  return result;
}

}  // namespace keel::service
