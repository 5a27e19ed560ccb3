#include "system/config_codec.hpp"

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/limits.hpp"

namespace keel {
namespace {

// "KLD" and a format number: a keel of another version (an upgrade between
// fork and read cannot happen with fork, but the check costs nothing) or a
// stray writer on the pipe is refused at byte 0.
constexpr std::uint32_t kMagic = 0x4b4c4401;

class Writer {
 public:
  explicit Writer(std::string& out) noexcept : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i, v >>= 8) out_.push_back(static_cast<char>(v & 0xff));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i, v >>= 8) out_.push_back(static_cast<char>(v & 0xff));
  }
  void i32(int v) { u32(static_cast<std::uint32_t>(v)); }
  void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
  void boolean(bool v) { u8(v ? 1 : 0); }
  void str(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_.append(s);
  }
  void strs(const std::vector<std::string>& v) {
    u32(static_cast<std::uint32_t>(v.size()));
    for (const std::string& s : v) str(s);
  }
  template <typename T>
  void opt_u64(const std::optional<T>& v) {
    boolean(v.has_value());
    if (v) u64(static_cast<std::uint64_t>(*v));
  }

 private:
  std::string& out_;
};

// Every read checks what is left first; after the first failure every read
// returns zero values and `ok()` stays false, so a decoder reads on and
// tests once per record.
class Reader {
 public:
  explicit Reader(std::string_view in) noexcept : in_(in) {}

  [[nodiscard]] bool ok() const noexcept { return problem_.empty(); }
  [[nodiscard]] const std::string& problem() const noexcept { return problem_; }
  [[nodiscard]] bool at_end() const noexcept { return pos_ == in_.size(); }
  [[nodiscard]] std::size_t pos() const noexcept { return pos_; }

  void fail(const char* what) {
    if (problem_.empty()) problem_ = std::string(what) + " at byte " + std::to_string(pos_);
  }

  std::uint8_t u8() {
    if (!take(1)) return 0;
    return static_cast<std::uint8_t>(in_[pos_ - 1]);
  }
  std::uint32_t u32() {
    if (!take(4)) return 0;
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in_[pos_ - 4 + static_cast<std::size_t>(i)]);
    return v;
  }
  std::uint64_t u64() {
    if (!take(8)) return 0;
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in_[pos_ - 8 + static_cast<std::size_t>(i)]);
    return v;
  }
  int i32() { return static_cast<int>(u32()); }
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  bool boolean() {
    std::uint8_t v = u8();
    if (v > 1) fail("bad boolean");
    return v == 1;
  }
  // An enum of `count` values.
  template <typename E>
  E choice(std::uint8_t count) {
    std::uint8_t v = u8();
    if (v >= count) {
      fail("bad enum value");
      return E{};
    }
    return static_cast<E>(v);
  }
  std::string str() {
    std::uint32_t n = u32();
    if (!ok()) return {};
    if (n > in_.size() - pos_) {
      fail("string longer than the message");
      return {};
    }
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  // A list's count, bounded by the bytes left (each element takes at least
  // `min_element_bytes`), so a forged count cannot make the decoder
  // reserve or loop beyond the message.
  std::size_t count(std::size_t min_element_bytes) {
    std::uint32_t n = u32();
    if (!ok()) return 0;
    if (static_cast<std::size_t>(n) > (in_.size() - pos_) / min_element_bytes) {
      fail("count larger than the message");
      return 0;
    }
    return n;
  }
  std::vector<std::string> strs() {
    std::vector<std::string> v;
    std::size_t n = count(4);
    v.reserve(n);
    for (std::size_t i = 0; i < n && ok(); ++i) v.push_back(str());
    return v;
  }
  template <typename T>
  std::optional<T> opt_u64() {
    if (!boolean()) return std::nullopt;
    std::uint64_t v = u64();
    if (static_cast<std::uint64_t>(static_cast<T>(v)) != v) {
      fail("number out of range");
      return std::nullopt;
    }
    return static_cast<T>(v);
  }

 private:
  bool take(std::size_t n) {
    if (!ok()) return false;
    if (n > in_.size() - pos_) {
      fail("truncated");
      return false;
    }
    pos_ += n;
    return true;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
  std::string problem_;
};

// ---- ConfigError

void put(Writer& w, const service::ConfigError& e) {
  w.str(e.file);
  w.i32(e.line);
  w.str(e.key);
  w.str(e.message);
}

void get(Reader& r, service::ConfigError& e) {
  e.file = r.str();
  e.line = r.i32();
  e.key = r.str();
  e.message = r.str();
}

void put_errors(Writer& w, const std::vector<service::ConfigError>& errors) {
  w.u32(static_cast<std::uint32_t>(errors.size()));
  for (const service::ConfigError& e : errors) put(w, e);
}

std::vector<service::ConfigError> get_errors(Reader& r) {
  std::vector<service::ConfigError> errors;
  std::size_t n = r.count(16);
  errors.reserve(n);
  for (std::size_t i = 0; i < n && r.ok(); ++i) get(r, errors.emplace_back());
  return errors;
}

// ---- ServiceConfig

void put_deps(Writer& w, const std::vector<service::DependencyRef>& deps) {
  w.u32(static_cast<std::uint32_t>(deps.size()));
  for (const service::DependencyRef& d : deps) {
    w.str(d.name);
    w.i32(d.line);
  }
}

std::vector<service::DependencyRef> get_deps(Reader& r) {
  std::vector<service::DependencyRef> deps;
  std::size_t n = r.count(8);
  deps.reserve(n);
  for (std::size_t i = 0; i < n && r.ok(); ++i) {
    service::DependencyRef& d = deps.emplace_back();
    d.name = r.str();
    d.line = r.i32();
  }
  return deps;
}

void put(Writer& w, const service::Stream& s) {
  w.u8(static_cast<std::uint8_t>(s.kind));
  w.str(s.path);
}

service::Stream get_stream(Reader& r) {
  service::Stream s;
  s.kind = r.choice<service::StreamKind>(4);
  s.path = r.str();
  return s;
}

// ---- ProbeConfig (issue 12): PID 1 schedules by these numbers, so each
// is checked against what the parser allows.

void put(Writer& w, const service::ProbeConfig& p) {
  w.u8(static_cast<std::uint8_t>(p.kind));
  w.strs(p.exec);
  w.str(p.target);
  w.i64(p.file_max_age_ns);
  w.i64(p.interval_ns);
  w.i64(p.timeout_ns);
  w.i32(p.failures);
  w.i32(p.successes);
  w.i64(p.start_period_ns);
  w.u8(static_cast<std::uint8_t>(p.action));
}

void get(Reader& r, service::ProbeConfig& p) {
  constexpr std::int64_t kMaxNs = limits::kMaxDurationSeconds * 1'000'000'000;  // seconds_of's cap
  p.kind = r.choice<service::ProbeKind>(5);
  p.exec = r.strs();
  p.target = r.str();
  p.file_max_age_ns = r.i64();
  p.interval_ns = r.i64();
  p.timeout_ns = r.i64();
  p.failures = r.i32();
  p.successes = r.i32();
  p.start_period_ns = r.i64();
  p.action = r.choice<service::ProbeAction>(5);
  if (!r.ok()) return;
  if (p.file_max_age_ns < 0 || p.file_max_age_ns > kMaxNs || p.interval_ns < 100'000'000 || p.interval_ns > kMaxNs ||
      p.timeout_ns < 100'000'000 || p.timeout_ns > kMaxNs || p.start_period_ns < 0 || p.start_period_ns > kMaxNs ||
      p.failures < 1 || p.failures > 1000 || p.successes < 1 || p.successes > 1000) {
    r.fail("probe setting out of range");
  }
  if (p.kind == service::ProbeKind::Exec && (p.exec.empty() || p.exec[0].empty())) r.fail("empty probe command");
  if ((p.kind == service::ProbeKind::Tcp || p.kind == service::ProbeKind::Http || p.kind == service::ProbeKind::File) &&
      p.target.empty()) {
    r.fail("empty probe target");
  }
}

void put(Writer& w, const service::ServiceConfig& c) {
  w.str(c.name);
  w.str(c.file);
  w.str(c.description);
  w.u8(static_cast<std::uint8_t>(c.type));
  w.strs(c.command);
  w.i32(c.notify_fd);
  put_deps(w, c.requires_);
  put_deps(w, c.wants);
  put_deps(w, c.after);
  put_deps(w, c.before);
  w.u8(static_cast<std::uint8_t>(c.restart));
  w.i64(c.restart_delay_ns);
  w.i64(c.restart_delay_max_ns);
  w.i64(c.restart_reset_ns);
  w.i64(c.start_timeout_ns);
  w.i64(c.stop_timeout_ns);
  w.i32(c.stop_signal);
  w.str(c.user);
  w.str(c.group);
  w.strs(c.supplementary_groups);
  w.boolean(c.has_user);
  w.u32(c.uid);
  w.u32(c.gid);
  w.u32(static_cast<std::uint32_t>(c.groups.size()));
  for (gid_t g : c.groups) w.u32(g);
  w.opt_u64(c.capabilities);
  w.boolean(c.no_new_privileges);
  w.str(c.working_directory);
  w.u32(static_cast<std::uint32_t>(c.environment.size()));
  for (const auto& [name, value] : c.environment) {
    w.str(name);
    w.str(value);
  }
  w.str(c.environment_file);
  w.opt_u64(c.umask);
  w.u32(static_cast<std::uint32_t>(c.rlimits.size()));
  for (const service::Rlimit& l : c.rlimits) {
    w.i32(l.resource);
    w.u64(l.soft);
    w.u64(l.hard);
  }
  put(w, c.stdin_);
  put(w, c.stdout_);
  put(w, c.stderr_);
  w.u64(c.log.ring_bytes);
  w.str(c.log.file);
  w.u64(c.log.max_size);
  w.i32(c.log.keep);
  w.boolean(c.log.console);
  w.opt_u64(c.cgroup.memory_max);
  w.opt_u64(c.cgroup.pids_max);
  w.opt_u64(c.cgroup.cpu_weight);
  w.u8(static_cast<std::uint8_t>(c.on_exit));
  w.u64(c.source);
  w.boolean(c.critical);
  // The failure policy (issue 12).
  w.i32(c.restart_limit);
  w.i64(c.restart_limit_window_ns);
  for (std::uint64_t bits : c.success_exit_status.codes) w.u64(bits);
  w.u32(c.success_exit_status.signals);
  w.u8(static_cast<std::uint8_t>(c.on_failure));
  w.u8(static_cast<std::uint8_t>(c.essential));
  w.i64(c.watchdog_ns);
  w.i32(c.reload_signal);
  put(w, c.readiness_probe);
  put(w, c.liveness_probe);
  // Socket activation.
  w.u32(static_cast<std::uint32_t>(c.sockets.size()));
  for (const service::SocketConfig& k : c.sockets) {
    w.str(k.listen);
    w.u8(static_cast<std::uint8_t>(k.kind));
    w.str(k.address);
    w.u32(k.port);
    w.str(k.name);
    w.i32(k.backlog);
    w.boolean(k.set_owner);
    w.u32(k.uid);
    w.boolean(k.set_group);
    w.u32(k.gid);
    w.u32(k.mode);
    w.i32(k.line);
  }
  w.boolean(c.start_on_connection);
  // sd_notify FDSTORE.
  w.u32(static_cast<std::uint32_t>(c.fd_store_max));
  // [log] max_age and compress (issue 13).
  w.i64(c.log.max_age_ns);
  w.u8(static_cast<std::uint8_t>(c.log.compress));
  // Python hash seed (issue 14).
  w.boolean(c.python_hash_seed);
  w.boolean(c.python_program);
}

void get(Reader& r, service::ServiceConfig& c) {
  c.name = r.str();
  if (r.ok() && !service::valid_service_name(c.name)) r.fail("invalid service name");
  c.file = r.str();
  c.description = r.str();
  c.type = r.choice<service::Type>(5);
  c.command = r.strs();
  c.notify_fd = r.i32();
  c.requires_ = get_deps(r);
  c.wants = get_deps(r);
  c.after = get_deps(r);
  c.before = get_deps(r);
  c.restart = r.choice<service::Restart>(3);
  c.restart_delay_ns = r.i64();
  c.restart_delay_max_ns = r.i64();
  c.restart_reset_ns = r.i64();
  c.start_timeout_ns = r.i64();
  c.stop_timeout_ns = r.i64();
  c.stop_signal = r.i32();
  c.user = r.str();
  c.group = r.str();
  c.supplementary_groups = r.strs();
  c.has_user = r.boolean();
  c.uid = r.u32();
  c.gid = r.u32();
  std::size_t groups = r.count(4);
  c.groups.reserve(groups);
  for (std::size_t i = 0; i < groups && r.ok(); ++i) c.groups.push_back(r.u32());
  c.capabilities = r.opt_u64<std::uint64_t>();
  c.no_new_privileges = r.boolean();
  c.working_directory = r.str();
  std::size_t env = r.count(8);
  c.environment.reserve(env);
  for (std::size_t i = 0; i < env && r.ok(); ++i) {
    std::string name = r.str();
    std::string value = r.str();
    c.environment.emplace_back(std::move(name), std::move(value));
  }
  c.environment_file = r.str();
  c.umask = r.opt_u64<mode_t>();
  std::size_t limits = r.count(20);
  c.rlimits.reserve(limits);
  for (std::size_t i = 0; i < limits && r.ok(); ++i) {
    service::Rlimit& l = c.rlimits.emplace_back();
    l.resource = r.i32();
    l.soft = r.u64();
    l.hard = r.u64();
  }
  c.stdin_ = get_stream(r);
  c.stdout_ = get_stream(r);
  c.stderr_ = get_stream(r);
  c.log.ring_bytes = r.u64();
  c.log.file = r.str();
  c.log.max_size = r.u64();
  c.log.keep = r.i32();
  c.log.console = r.boolean();
  c.cgroup.memory_max = r.opt_u64<std::uint64_t>();
  c.cgroup.pids_max = r.opt_u64<std::uint64_t>();
  c.cgroup.cpu_weight = r.opt_u64<std::uint32_t>();
  c.on_exit = r.choice<service::ExitAction>(5);
  c.source = r.u64();
  c.critical = r.boolean();
  // The failure policy: a limit and a window the parser would accept (a
  // window of 0 or less would make the limit meaningless), bit 0 of the
  // exit codes always set (exit 0 is always a success), no bit for a
  // signal 0.
  c.restart_limit = r.i32();
  if (r.ok() && (c.restart_limit < 0 || c.restart_limit > 1'000'000)) r.fail("bad restart_limit");
  c.restart_limit_window_ns = r.i64();
  if (r.ok() && c.restart_limit_window_ns <= 0) r.fail("bad restart_limit_window");
  for (std::uint64_t& bits : c.success_exit_status.codes) bits = r.u64();
  if (r.ok() && (c.success_exit_status.codes[0] & 1U) == 0) r.fail("bad success_exit_status");
  c.success_exit_status.signals = r.u32();
  if (r.ok() && (c.success_exit_status.signals & 1U) != 0) r.fail("bad success_exit_status");
  c.on_failure = r.choice<service::ExitAction>(5);
  c.essential = r.choice<service::Essential>(3);
  c.watchdog_ns = r.i64();
  if (r.ok() && (c.watchdog_ns < 0 || c.watchdog_ns > limits::kMaxDurationSeconds * 1'000'000'000)) {
    r.fail("watchdog period out of range");
  }
  c.reload_signal = r.i32();
  if (r.ok() && (c.reload_signal < 0 || c.reload_signal > 31)) r.fail("reload signal out of range");
  get(r, c.readiness_probe);
  get(r, c.liveness_probe);
  // Socket activation: PID 1 binds what this says, so every field is
  // checked as the parser would have left it.
  std::size_t sockets = r.count(4);
  if (r.ok() && sockets > limits::kMaxServiceSockets) r.fail("too many sockets");
  for (std::size_t i = 0; i < sockets && r.ok(); ++i) {
    service::SocketConfig& k = c.sockets.emplace_back();
    k.listen = r.str();
    k.kind = r.choice<service::SocketKind>(4);
    k.address = r.str();
    const std::uint32_t port = r.u32();
    k.name = r.str();
    k.backlog = r.i32();
    k.set_owner = r.boolean();
    k.uid = r.u32();
    k.set_group = r.boolean();
    k.gid = r.u32();
    const std::uint32_t mode = r.u32();
    k.line = r.i32();
    const bool path = k.kind == service::SocketKind::Unix || k.kind == service::SocketKind::UnixDgram;
    if (r.ok() &&
        (port > 65535 || mode > 0777 || k.backlog < 1 || k.name.empty() || k.name.find(':') != std::string::npos ||
         k.address.empty() || (path && (k.address.size() > 107 || k.address.front() != '/')))) {
      r.fail("bad socket");
    }
    k.port = static_cast<std::uint16_t>(port);
    k.mode = static_cast<mode_t>(mode);
  }
  c.start_on_connection = r.boolean();
  if (r.ok() && c.start_on_connection && c.sockets.empty()) r.fail("start on connection without a socket");
  // sd_notify FDSTORE: bounded as the parser bounds it (sockets and stored
  // fds share the child's fds 3 .. 3+kMaxServiceSockets-1).
  const std::uint32_t store = r.u32();
  if (r.ok() && (store > limits::kFdStoreMax || c.sockets.size() + store > limits::kMaxServiceSockets)) {
    r.fail("fd_store_max out of range");
  }
  c.fd_store_max = store;
  // [log] max_age and compress: bounded as the parser bounds them.
  c.log.max_age_ns = r.i64();
  const std::uint8_t compress = r.u8();
  if (r.ok() && (c.log.max_age_ns < 0 || c.log.max_age_ns > limits::kMaxDurationSeconds * 1'000'000'000 ||
                 compress > static_cast<std::uint8_t>(service::Compression::Gzip))) {
    r.fail("log max_age or compress out of range");
  }
  c.log.compress = static_cast<service::Compression>(compress);
  c.python_hash_seed = r.boolean();
  c.python_program = r.boolean();
}

// ---- KeelConfig

void put(Writer& w, const std::optional<SignalAction>& a) {
  w.u8(a ? static_cast<std::uint8_t>(*a) + 1 : 0);
}

std::optional<SignalAction> get_opt_action(Reader& r) {
  std::uint8_t v = r.u8();
  if (v > 4) r.fail("bad enum value");
  if (v == 0 || v > 4) return std::nullopt;
  return static_cast<SignalAction>(v - 1);
}

void put(Writer& w, const KeelConfigResult& k) {
  const KeelConfig& c = k.config;
  w.str(c.hostname);
  w.str(c.target);
  w.strs(c.exec);
  w.str(c.seed_dir);
  w.strs(c.rescue_shell);
  w.i64(c.shutdown_grace_ns);
  w.i64(c.shutdown_timeout_ns);
  w.boolean(c.container_sync);
  put(w, c.signals.term);
  put(w, c.signals.intr);
  w.u8(static_cast<std::uint8_t>(c.signals.usr1));
  w.u8(static_cast<std::uint8_t>(c.signals.usr2));
  w.u8(static_cast<std::uint8_t>(c.signals.pwr));
  w.u32(static_cast<std::uint32_t>(c.mounts.size()));
  for (const MountSpec& m : c.mounts) {
    w.str(m.what);
    w.str(m.where);
    w.str(m.type);
    w.u64(m.flags);
    w.str(m.data);
    w.i32(m.line);
  }
  w.str(c.watchdog.device);
  w.i32(c.watchdog.timeout_s);
  w.i64(c.watchdog.pet_interval_ns);
  w.i32(c.watchdog.shutdown_timeout_s);
  w.i64(c.watchdog.critical_unhealthy_ns);
  put_errors(w, k.errors);
  w.boolean(k.found);
  w.u8(static_cast<std::uint8_t>(c.log_output));
  w.boolean(c.python_hash_seed);
}

void get(Reader& r, KeelConfigResult& k) {
  KeelConfig& c = k.config;
  c.hostname = r.str();
  c.target = r.str();
  c.exec = r.strs();
  c.seed_dir = r.str();
  c.rescue_shell = r.strs();
  c.shutdown_grace_ns = r.i64();
  c.shutdown_timeout_ns = r.i64();
  c.container_sync = r.boolean();
  c.signals.term = get_opt_action(r);
  c.signals.intr = get_opt_action(r);
  c.signals.usr1 = r.choice<SignalAction>(4);
  c.signals.usr2 = r.choice<SignalAction>(4);
  c.signals.pwr = r.choice<SignalAction>(4);
  std::size_t mounts = r.count(28);
  c.mounts.reserve(mounts);
  for (std::size_t i = 0; i < mounts && r.ok(); ++i) {
    MountSpec& m = c.mounts.emplace_back();
    m.what = r.str();
    m.where = r.str();
    m.type = r.str();
    m.flags = static_cast<unsigned long>(r.u64());
    m.data = r.str();
    m.line = r.i32();
  }
  // The same bounds as keel_config.cpp's parse: PID 1 arms timers and
  // sets the device's timeout from these.
  c.watchdog.device = r.str();
  c.watchdog.timeout_s = r.i32();
  c.watchdog.pet_interval_ns = r.i64();
  c.watchdog.shutdown_timeout_s = r.i32();
  c.watchdog.critical_unhealthy_ns = r.i64();
  if (r.ok()) {
    const WatchdogConfig& w = c.watchdog;
    if (w.timeout_s < 1 || w.timeout_s > 3600 || w.shutdown_timeout_s < 0 || w.shutdown_timeout_s > 3600 ||
        w.pet_interval_ns < 0 || w.pet_interval_ns >= std::int64_t{w.timeout_s} * 1'000'000'000 ||
        w.critical_unhealthy_ns < 0 || w.critical_unhealthy_ns > limits::kMaxDurationSeconds * 1'000'000'000 ||
        (!w.device.empty() && w.device[0] != '/')) {
      r.fail("bad watchdog settings");
    }
  }
  k.errors = get_errors(r);
  k.found = r.boolean();
  c.log_output = r.choice<service::LogOutput>(service::kLogOutputCount);
  c.python_hash_seed = r.boolean();
}

}  // namespace

std::string encode_loaded(const Loaded& loaded) {
  std::string out;
  Writer w(out);
  w.u32(kMagic);
  w.boolean(loaded.keel.has_value());
  if (loaded.keel) put(w, *loaded.keel);
  w.boolean(loaded.services.has_value());
  if (loaded.services) {
    w.u32(static_cast<std::uint32_t>(loaded.services->services.size()));
    for (const service::ServiceConfig& c : loaded.services->services) put(w, c);
    put_errors(w, loaded.services->errors);
    w.boolean(loaded.services->main_python);
  }
  return out;
}

bool decode_loaded(std::string_view bytes, Loaded& out, std::string& problem) {
  Reader r(bytes);
  out = Loaded{};
  if (r.u32() != kMagic) r.fail("not a loader message");
  if (r.ok() && r.boolean()) get(r, out.keel.emplace());
  if (r.ok() && r.boolean()) {
    service::LoadResult& s = out.services.emplace();
    // A service takes well over 100 bytes; 64 is a safe lower bound.
    std::size_t n = r.count(64);
    s.services.reserve(n);
    for (std::size_t i = 0; i < n && r.ok(); ++i) get(r, s.services.emplace_back());
    if (r.ok()) s.errors = get_errors(r);
    if (r.ok()) s.main_python = r.boolean();
  }
  if (r.ok() && !r.at_end()) r.fail("bytes after the end");
  problem = r.problem();
  return r.ok();
}

}  // namespace keel
