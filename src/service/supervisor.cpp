#include "service/python_seed.hpp"
#include "service/supervisor.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <new>
#include <type_traits>

#include "core/limits.hpp"
#include "core/log.hpp"
#include "core/oom.hpp"
#include "core/reaper.hpp"
#include "core/signals.hpp"
#include "service/builtin.hpp"
#include "service/config_diff.hpp"
#include "service/event_record.hpp"
#include "service/exec_plan.hpp"
#include "service/listen_sockets.hpp"
#include "service/notify.hpp"
#include "service/probe.hpp"
#include "service/probe_main.hpp"
#include "service/run_dir.hpp"
#include "service/service_events.hpp"
#include "service/service_log.hpp"
#include "service/tree_tracker.hpp"

namespace keel::service {

// reload() and collect_removed() commit with moves that must not throw.
static_assert(std::is_nothrow_move_assignable_v<ServiceConfig>);
static_assert(std::is_nothrow_move_assignable_v<Graph>);

namespace {

// The CONFIG_DIR/main shorthand's fingerprint: its program's identity and
// times from the stat() that found it, never its bytes (hashing a 687 KB
// program cost 6 ms in the guest before the first service started, 0.15 s
// for a 20 MB one). A replaced program (new inode), a rewritten or touched
// one (size, mtime, ctime in ns) is a change; a rewrite of the same size
// within one tick of the filesystem's clock, in place, is not seen.
std::uint64_t program_fingerprint(const struct stat& st) noexcept {
  std::uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](std::uint64_t v) {
    for (int i = 0; i < 8; ++i, v >>= 8) h = (h ^ (v & 0xff)) * 1099511628211ULL;
  };
  mix(static_cast<std::uint64_t>(st.st_dev));
  mix(static_cast<std::uint64_t>(st.st_ino));
  mix(static_cast<std::uint64_t>(st.st_size));
  mix(static_cast<std::uint64_t>(st.st_mtim.tv_sec));
  mix(static_cast<std::uint64_t>(st.st_mtim.tv_nsec));
  mix(static_cast<std::uint64_t>(st.st_ctim.tv_sec));
  mix(static_cast<std::uint64_t>(st.st_ctim.tv_nsec));
  return h == 0 ? 1 : h;
}

bool needs_log(const ServiceConfig& c) {
  return c.stdout_.kind == StreamKind::Log || c.stderr_.kind == StreamKind::Log;
}

const char* readiness_name(Type type) {
  switch (type) {
    case Type::Simple: return "exec";
    case Type::Oneshot: return "exit";
    case Type::Notify: return "notify";
    case Type::NotifyFd: return "fd";
    case Type::Target: return "dependencies";
  }
  return "?";
}

// keelctl status's words for a service's keys, as the files write them.
const char* exit_action_word(ExitAction action) {
  switch (action) {
    case ExitAction::None: return "";
    case ExitAction::Poweroff: return "poweroff";
    case ExitAction::Reboot: return "reboot";
    case ExitAction::Halt: return "halt";
    case ExitAction::Exit: return "exit";
  }
  return "?";
}
const char* essential_word(Essential essential) {
  switch (essential) {
    case Essential::No: return "";
    case Essential::OnFailure: return "true";
    case Essential::Always: return "always";
  }
  return "?";
}

// pidfd_open(2) and pidfd_send_signal(2) by number: Linux 5.3 has them,
// and this keeps keel off glibc 2.36's wrappers.
int pidfd_open(pid_t pid) noexcept { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int pidfd_signal(int pidfd, int signo) noexcept {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, signo, nullptr, 0));
}
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

// A wait status (as waitpid gives it) from waitid's siginfo.
int wait_status_of(const siginfo_t& info) noexcept {
  switch (info.si_code) {
    case CLD_EXITED: return (info.si_status & 0xFF) << 8;
    case CLD_KILLED: return info.si_status & 0x7F;
    case CLD_DUMPED: return (info.si_status & 0x7F) | 0x80;
    default: return 0;
  }
}

// A launch that failed because keel is out of fds is logged as an error,
// visible even with `quiet`: otherwise the service would retry in back-off
// with only its status to tell why. The state machine records the reason
// for `keelctl status` and retries as the service's restart policy says.
Error launch_error(const ServiceConfig& c, Error e) noexcept {
  if (e.code == EMFILE || e.code == ENFILE) {
    log::msg(log::Level::Error, "%s: cannot start: %s: %s (keel is out of file descriptors; see \"Limits\" in docs/system-mode.md)",
             c.name.c_str(), e.context, e.message());
  }
  return e;
}

std::string describe_exit(int status) {
  if (status < 0) return "";
  char buf[64];
  if (WIFSIGNALED(status)) {
    std::snprintf(buf, sizeof buf, "killed by %s", signals::name(WTERMSIG(status)));
  } else {
    std::snprintf(buf, sizeof buf, "exited %d", WEXITSTATUS(status));
  }
  return buf;
}

}  // namespace

// One service at run time. The config lives here (a stable address the
// machine borrows); its `source` fingerprint tells, at reload, whether the
// file changed.
struct Supervisor::Unit final : NotifyTarget, TimerHandler, ProbeOwner {
  Unit(Supervisor& s, ServiceConfig c)
      : sup(s),
        config(std::move(c)),
        machine(s, config, 0),
        timer(s.loop_, *this),
        readiness(s.loop_, s.probes_, *this, false),
        liveness(s.loop_, s.probes_, *this, true) {}
  ~Unit() {
    close_main_watch();
    close_exec_watch();
    sup.stop_listening(*this);
    close_fd_store();
  }
  Unit(const Unit&) = delete;
  Unit& operator=(const Unit&) = delete;

  void on_timer() noexcept override {
    const bool launching = machine.state() == State::Launching;
    machine.timer_fired();
    // Said at once, whatever comes next (a restart's back-off line does not
    // give the reason): a launch stuck before its exec is a problem of the
    // machine's (a stopped child, a dead mount), not of the program.
    if (launching && machine.state() != State::Launching) {
      log::msg(log::Level::Warn, "%s: %s; killing it", config.name.c_str(), machine.last_error());
    }
    sup.schedule();
  }
  void notify_ready() noexcept override {
    // The notify-fd pipe can be written only by the exec'd program: its
    // report (EOF) is readable by now, and taken first.
    poll_exec_report();
    machine.ready();
    if (reloading && machine.state() == State::Running) reload_done();
    sup.schedule();
  }
  void notify_status(std::string_view text) noexcept override {
    std::size_t n = std::min(text.size(), sizeof status - 1);
    std::memcpy(status, text.data(), n);
    status[n] = '\0';
  }
  void notify_stopping() noexcept override;
  bool notify_sender_allowed(const NotifySender& sender) noexcept override;
  void notify_main_pid(pid_t pid) noexcept override;
  // ---- the rest of sd_notify (issue 12): at the end of this file
  void notify_watchdog() noexcept override;
  void notify_watchdog_trigger() noexcept override;
  void notify_watchdog_usec(std::uint64_t usec) noexcept override;
  void notify_extend_timeout(std::uint64_t usec) noexcept override;
  void notify_reloading() noexcept override;
  void notify_monotonic_usec(std::uint64_t usec) noexcept override;
  void notify_errno(int error) noexcept override;
  // ---- the fd store (docs/services.md, "The fd store"): at the end of this file
  std::size_t notify_fd_store(std::string_view name, const int* fds, std::size_t count) noexcept override;
  void notify_fd_store_remove(std::string_view name) noexcept override;
  void notify_fds_closed(std::size_t count, const char* why) noexcept override;
  void close_fd_store() noexcept;
  // A run starts (the exec confirmed) or ends: the watchdog and the
  // reload and stopping marks follow it.
  void watchdog_begin_run() noexcept;
  void watchdog_end_run() noexcept;
  void watchdog_expired(const char* why) noexcept;
  void reload_done() noexcept;  // READY=1 ends a reload cycle

  // Is `pid` one of this service's processes (never 1, never keel)? Its
  // cgroup when it has one, else the tree tracker's group and mark.
  [[nodiscard]] bool contains(pid_t pid) noexcept;
  // A notify message or a MAINPID refused: the reason kept and counted,
  // logged the first time in a run.
  void refuse(const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));
  // `signo` to the main process: through its pidfd when MAINPID named it
  // (a pid that is gone or reused is never hit), else to the launched
  // child, which keel has not reaped, so its pid cannot have been reused.
  int signal_main(int signo) noexcept;
  void close_main_watch() noexcept;
  void main_pidfd_ready() noexcept;
  // The launching child's exec report, read if it is there (never waits):
  // the machine hears exec_ok() or exec_failed(). Called when the pipe is
  // readable, and before anything that only the exec'd program can cause
  // (its exit, a notify message) is handed to the machine, so the machine
  // sees the report first whenever the kernel already has it.
  void poll_exec_report() noexcept;
  void close_exec_watch() noexcept;
  // The exec is confirmed: what keel learns about a running service.
  void exec_confirmed() noexcept;
  // ProbeOwner (service/probe.hpp): the runs of this service's probes.
  Result<Launch> launch_probe(Probe& probe, int output_fd) noexcept override;
  void probe_changed(Probe& probe) noexcept override;

  // The pidfd of a main process named by MAINPID, watched on the loop: it
  // turns readable when that process exits, whether or not keel is its
  // parent (a MAINPID whose parent is still in the service is reaped there
  // and keel gets no SIGCHLD for it).
  struct MainPidWatch final : FdHandler {
    explicit MainPidWatch(Unit& u) : unit(u) {}
    void on_ready(std::uint32_t /*events*/) noexcept override { unit.main_pidfd_ready(); }
    Unit& unit;
    int fd = -1;
  };

  // The read end of the launching child's exec-status pipe, watched on
  // the loop until the report (EOF or {step, errno}) is read.
  struct ExecReportWatch final : FdHandler {
    explicit ExecReportWatch(Unit& u) : unit(u) {}
    void on_ready(std::uint32_t /*events*/) noexcept override {
      unit.poll_exec_report();
      unit.sup.schedule();
    }
    Unit& unit;
    int fd = -1;
  };

  Supervisor& sup;
  ServiceConfig config;
  ServiceMachine machine;
  Timer timer;
  std::unique_ptr<ServiceLog> log;
  ServiceCgroup cgroup;
  bool in_cgroup = false;
  NotifySocket notify;
  ReadyPipe ready_pipe;
  ListenSockets sockets;    // socket activation: kept across restarts (listen_sockets.hpp)
  pid_t pgid = -1;          // the launched process's group (it leads a new session)
  ServiceTracker tracker;   // its processes without a cgroup (tree_tracker.hpp)
  bool down_requested = false;  // stop once everything ordered after it is down
  bool removed = false;         // gone from the files: stop, then forget
  bool on_exit_done = false;    // on_exit acted on for this run
  std::string pending_config;   // a changed definition to apply once stopped
  char status[128] = {};        // the last STATUS= from sd_notify
  // From when this unit counts as unhealthy (CLOCK_MONOTONIC ns; 0: healthy
  // or not wanted up). May lie in the future: a start counts from when its
  // start timeout would end. See track_health().
  std::int64_t unhealthy_from_ns = 0;
  // When it became ready again after failures (0: not so); see track_health().
  std::int64_t ready_after_failure_ns = 0;
  MainPidWatch main_watch{*this};
  ExecReportWatch exec_watch{*this};
  pid_t launched_pid = -1;  // the child of the last launch (the machine's pid may be gone or a MAINPID)
  char cgroup_path[limits::kNotifyCgroupPath] = {};  // as /proc/PID/cgroup names it; "": unknown
  bool refusal_logged = false;   // this run's first refusal was logged
  std::uint64_t refusals = 0;    // notify messages and MAINPIDs refused, since keel started
  char refusal[limits::kNotifyRefusalText] = {};  // the last one's reason

  // ---- sd_notify watchdog, reload, stopping, errno (issue 12)
  struct WatchdogTimer final : TimerHandler {
    explicit WatchdogTimer(Unit& u) : unit(u) {}
    void on_timer() noexcept override { unit.watchdog_expired("no WATCHDOG=1 in time"); }
    Unit& unit;
  };
  WatchdogTimer watchdog_handler{*this};
  Timer watchdog_timer{sup.loop_, watchdog_handler};  // a second timer: the machine's is for start/stop/backoff
  std::int64_t watchdog_ns = 0;                       // this run's period (WATCHDOG_USEC= changes it); 0: none
  bool reloading = false;                             // RELOADING=1 (or keelctl's reload signal) until READY=1
  bool reload_reported = false;                       // RELOADING=1 seen (and logged) in this cycle
  bool stopping_notified = false;                     // STOPPING=1 in this run
  int service_errno = 0;                              // the last ERRNO= (kept across runs); 0: none
  // Health and readiness probes (issue 12): started at the exec, stopped
  // when the run ends.
  Probe readiness;
  Probe liveness;

  // ---- start on the first connection (issue 12, config start_on_connection)
  // Its listening sockets, watched on the loop (EPOLLIN, one handler for
  // all of them) while the unit is Waiting and `listening`: keel never
  // accepts or reads, the first readiness only launches the service,
  // which finds the connection or datagram still queued.
  struct ConnectionWatch final : FdHandler {
    explicit ConnectionWatch(Unit& u) : unit(u) {}
    void on_ready(std::uint32_t /*events*/) noexcept override { unit.sup.connection_arrived(unit); }
    Unit& unit;
  };
  ConnectionWatch connection_watch{*this};
  int watched_sockets = 0;       // fds 0 .. N-1 of `sockets` added to the loop
  bool listening = false;        // Waiting, sockets made and watched, not launched: "listening"
  bool connection_seen = false;  // the next launch is for a connection (reset at the launch)
  // The fd store: fds the service stored with FDSTORE=1, in the order
  // stored, kept across its restarts. Its capacity is reserved at launch
  // (fd_store_max), so storing from the notify handler never allocates.
  struct StoredFd {
    int fd = -1;
    char name[limits::kFdNameMax + 1] = {};
  };
  std::vector<StoredFd> fd_store;
};

bool Supervisor::Unit::contains(pid_t pid) noexcept {
  if (pid <= 1 || pid == ::getpid()) return false;
  if (in_cgroup && cgroup_path[0] != '\0') return pid_in_cgroup(pid, cgroup_path);
  if (pid == machine.pid()) return true;
  return tracker.live() && in_tree(tracker, pid);
}

void Supervisor::Unit::refuse(const char* fmt, ...) noexcept {
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(refusal, sizeof refusal, fmt, args);
  va_end(args);
  ++refusals;
  if (refusal_logged) return;
  refusal_logged = true;
  log::msg(log::Level::Warn, "%s: %s (further refusals in this run are only counted)", config.name.c_str(), refusal);
}

bool Supervisor::Unit::notify_sender_allowed(const NotifySender& sender) noexcept {
  // A message from the exec'd program comes after its exec closed the
  // report pipe: take that report first, so the machine is past launching.
  poll_exec_report();
  // Without a user, the service runs with keel's own credentials.
  uid_t own = config.has_user ? config.uid : ::geteuid();
  auto uid = static_cast<unsigned>(sender.uid);
  if (sender.uid != 0 && sender.uid != own) {
    refuse("notify message from pid %d uid %u refused: not the service's user", static_cast<int>(sender.pid), uid);
    return false;
  }
  if (sender.pid <= 0) {
    refuse("notify message from uid %u refused: its pid is unknown (another PID namespace)", uid);
    return false;
  }
  if (!contains(sender.pid)) {
    refuse("notify message from pid %d uid %u refused: not in the service", static_cast<int>(sender.pid), uid);
    return false;
  }
  return true;
}

void Supervisor::Unit::notify_main_pid(pid_t pid) noexcept {
  State s = machine.state();
  if (s != State::Starting && s != State::Running) return;
  if (pid == machine.pid()) return;
  if (pid == 1 || pid == ::getpid()) {
    refuse("MAINPID=%d refused: that is %s", static_cast<int>(pid), pid == ::getpid() ? "keel" : "the init process");
    return;
  }
  // The pidfd first, then the checks: if the pid was reused between the
  // two, the pidfd names the old process, which the signal-0 probe finds
  // gone, so the checks were about the process the pidfd holds.
  int fd = pidfd_open(pid);
  if (fd < 0) {
    refuse("MAINPID=%d refused: %s", static_cast<int>(pid), errno == ESRCH ? "no such process" : std::strerror(errno));
    return;
  }
  if (!contains(pid) || pidfd_signal(fd, 0) != 0) {
    ::close(fd);
    refuse("MAINPID=%d refused: not in the service", static_cast<int>(pid));
    return;
  }
  close_main_watch();
  Status added = sup.loop_.add(fd, EPOLLIN, main_watch);
  if (!added) {
    ::close(fd);
    refuse("MAINPID=%d refused: cannot watch it (%s: %s)", static_cast<int>(pid), added.error().context,
           added.error().message());
    return;
  }
  main_watch.fd = fd;
  log::msg(log::Level::Info, "%s: main pid is now %d", config.name.c_str(), static_cast<int>(pid));
  machine.set_main_pid(pid);
}

int Supervisor::Unit::signal_main(int signo) noexcept {
  if (main_watch.fd >= 0) return pidfd_signal(main_watch.fd, signo);
  if (machine.pid() > 0) return ::kill(machine.pid(), signo);
  errno = ESRCH;
  return -1;
}

void Supervisor::Unit::close_main_watch() noexcept {
  if (main_watch.fd < 0) return;
  sup.loop_.remove(main_watch.fd, main_watch);
  ::close(main_watch.fd);
  main_watch.fd = -1;
}

void Supervisor::Unit::main_pidfd_ready() noexcept {
  if (main_watch.fd < 0) return;  // closed earlier in this batch of events
  pid_t pid = machine.pid();
  siginfo_t info{};
  if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(main_watch.fd), &info, WEXITED | WNOHANG) == 0) {
    if (info.si_pid == 0) return;  // keel's child, still running: nothing happened
    // keel's child, and reaped here rather than by the reaper: same path.
    close_main_watch();
    sup.on_child_exit(pid, wait_status_of(info));
    sup.after_reap();
    return;
  }
  // Not keel's child (its parent, inside the service, reaps it): readable
  // means it has exited, with a status keel cannot know.
  close_main_watch();
  if (log::enabled(log::Level::Info)) {
    log::msg(log::Level::Info, "%s: main pid %d exited (not keel's child: status unknown, taken as 0)",
             config.name.c_str(), static_cast<int>(pid));
  }
  if (log) log->flush();
  record_exit_event(config.name, pid, 0);
  machine.main_exited(0);
  sup.after_reap();
}

void Supervisor::Unit::poll_exec_report() noexcept {
  if (exec_watch.fd < 0) return;
  Error error;
  ExecReport report = read_exec_report(exec_watch.fd, &error);
  if (report == ExecReport::Pending) return;
  close_exec_watch();
  if (report == ExecReport::Execed) {
    exec_confirmed();
    machine.exec_ok();
  } else {
    machine.exec_failed(launch_error(config, error));
  }
}

void Supervisor::Unit::close_exec_watch() noexcept {
  if (exec_watch.fd < 0) return;
  sup.loop_.remove(exec_watch.fd, exec_watch);
  ::close(exec_watch.fd);
  exec_watch.fd = -1;
}

void Supervisor::Unit::exec_confirmed() noexcept {
  // Only now is the child certainly in its cgroup (where clone3 could not
  // start it there, its own hook moved it before the exec): its path is
  // the one notify senders' /proc/PID/cgroup must show. Until then,
  // contains() knows the launching child by its pid.
  if (!in_cgroup || !proc_cgroup_path(launched_pid, cgroup_path, sizeof cgroup_path)) cgroup_path[0] = '\0';
  log::msg(log::Level::Info, "%s: started (pid %d)", config.name.c_str(), static_cast<int>(launched_pid));
  event_record().begin("started", config.name).num("pid", launched_pid).commit();
  watchdog_begin_run();
}

// One run of a probe (service/probe.hpp): the exec plan of the service,
// with the probe's command and its output on the probe's pipe. An `exec`
// probe runs as the service would (user, groups, environment, working
// directory, umask, limits), outside its cgroup; tcp, http and file run
// keel's own binary in its probe role with keel's credentials, since
// nothing of the service's runs there.
Result<Launch> Supervisor::Unit::launch_probe(Probe& probe, int output_fd) noexcept {
  static char error_text[200];  // as in launch(): the Error's context, copied by the probe at once
  const ProbeConfig& p = *probe.config();
  try {
    ServiceConfig c = config;
    c.stdin_ = Stream{StreamKind::Null, {}};
    c.stdout_ = Stream{StreamKind::Log, {}};
    c.stderr_ = Stream{StreamKind::Log, {}};
    if (p.kind == ProbeKind::Exec) {
      c.command = p.exec;
    } else {
      const char* kind = p.kind == ProbeKind::Tcp ? "tcp" : p.kind == ProbeKind::Http ? "http" : "file";
      // tcp and http bound their own waits a little before keel's timeout,
      // so the run says what it waited for rather than being killed.
      const long long number =
          p.kind == ProbeKind::File ? static_cast<long long>(p.file_max_age_ns) : p.timeout_ns / 1'000'000 * 9 / 10;
      c.command = {sup.settings_.log_writer_program, std::string(kProbeArg), kind, p.target, std::to_string(number)};
      c.has_user = false;
      c.capabilities.reset();
      c.no_new_privileges = false;
      c.environment.clear();
      c.environment_file.clear();
      c.rlimits.clear();
      c.umask.reset();
      c.working_directory.clear();
    }
    ExecInputs in;
    in.config = &c;
    in.log_fd = output_fd;  // a probe's stdout and stderr share its one output pipe
    in.log_err_fd = output_fd;
    in.console_fd = sup.settings_.console_fd;
    in.passwd_path = sup.settings_.users.passwd.c_str();
    in.extra_env.emplace_back("KEEL_SERVICE", c.name);
    ExecPlan plan;
    std::string error;
    if (!build_exec_plan(in, plan, error)) {
      std::snprintf(error_text, sizeof error_text, "%s", error.c_str());
      return Error{0, error_text};
    }
    return spawn_service_nowait(plan);
  } catch (const std::bad_alloc&) {
    return Error{ENOMEM, "preparing the probe"};
  }
}

namespace {

// A probe's output for keel's own log line: one line, controls as '?'
// (the log's reader may be a terminal). No allocation.
void one_line(const char* in, char* out, std::size_t size) noexcept {
  std::size_t n = 0;
  for (; in[0] != '\0' && n + 1 < size; ++in) {
    const auto ch = static_cast<unsigned char>(*in);
    out[n++] = (ch < 0x20 || ch == 0x7f) ? (ch == '\n' ? ' ' : '?') : static_cast<char>(ch);
  }
  while (n > 0 && out[n - 1] == ' ') --n;
  out[n] = '\0';
}

const char* probe_action_name(ProbeAction action) noexcept {
  switch (action) {
    case ProbeAction::Restart: return "restart";
    case ProbeAction::Stop: return "stop";
    case ProbeAction::Poweroff: return "poweroff";
    case ProbeAction::Reboot: return "reboot";
    case ProbeAction::Exit: return "exit";
  }
  return "?";
}

}  // namespace

void Supervisor::Unit::probe_changed(Probe& probe) noexcept {
  const char* name = config.name.c_str();
  if (!probe.liveness()) {
    // The readiness probe passed: the service is ready for its dependents.
    if (probe.health() == Health::Healthy) {
      log::msg(log::Level::Info, "%s: readiness probe passed", name);
      machine.ready();
      sup.schedule();
    }
    return;
  }
  char output[limits::kProbeOutputBytes + 1];
  one_line(probe.last_output(), output, sizeof output);
  if (probe.health() == Health::Healthy) {
    log::msg(log::Level::Info, "%s: healthy (liveness probe %s)", name, probe.last_result());
    event_record().begin("healthy", config.name).commit();
    return;
  }
  if (probe.health() != Health::Unhealthy) return;
  const ProbeConfig& p = *probe.config();
  log::msg(log::Level::Warn, "%s: unhealthy: liveness probe %s %d time%s in a row (%s): %s", name, probe.last_result(),
           p.failures, p.failures == 1 ? "" : "s", probe_action_name(p.action), output[0] != '\0' ? output : "(no output)");
  char reason[limits::kProbeOutputBytes + 128];
  std::snprintf(reason, sizeof reason, "liveness probe %s%s%s", probe.last_result(), output[0] != '\0' ? ": " : "",
                output);
  event_record().begin("unhealthy", config.name).str("reason", reason).commit();
  switch (p.action) {
    case ProbeAction::Restart: machine.unhealthy(reason, true); break;
    case ProbeAction::Stop: machine.unhealthy(reason, false); break;
    // The whole system goes down in order; as a container's init a
    // poweroff is keel's exit, and "exit" is that (status 1: unhealthy).
    case ProbeAction::Poweroff:
    case ProbeAction::Exit: sup.power_.request_power(ExitAction::Poweroff, 1); break;
    case ProbeAction::Reboot: sup.power_.request_power(ExitAction::Reboot, 1); break;
  }
  sup.schedule();
}

// A `keelctl wait SERVICE --ready` waiting for its answer.
struct Supervisor::Waiter final : TimerHandler {
  Waiter(Supervisor& s, control::Session& sess, std::string n) : sup(s), session(&sess), name(std::move(n)), timer(s.loop_, *this) {}
  void on_timer() noexcept override {
    if (session != nullptr) {
      char text[256];  // a timer handler does not allocate
      std::snprintf(text, sizeof text,
                    reload ? "timed out waiting for %s's reload (RELOADING=1, then READY=1)\n"
                           : "timed out waiting for %s to be ready\n",
                    name.c_str());
      session->finish(control::Code::Timeout, text);
    }
    session = nullptr;
  }
  Supervisor& sup;
  control::Session* session;
  std::string name;
  Timer timer;
  // `keelctl reload SERVICE` of a notify service: answered at READY=1
  // after RELOADING=1 (seen_reloading), not by a change of state.
  bool reload = false;
  bool seen_reloading = false;
  std::string ok_text;  // the reply's text on success
};

// A `keelctl log SERVICE -f`: each new line goes to the client.
struct Supervisor::Follower final : LogFollower {
  Follower(control::Session& s, ServiceLog& l) : session(&s), log(&l) {}
  void on_log_line(std::string_view line) noexcept override {
    if (session != nullptr) session->send(line);
  }
  control::Session* session;
  ServiceLog* log;
};

// A `keelctl events` follower: each event's line goes to the client. A
// client that does not read loses lines (the server drops what its
// connection's buffer does not take, never waits): the gap in seq says so.
struct Supervisor::EventsFollower final : EventFollower {
  explicit EventsFollower(control::Session& s) : session(&s) {}
  void on_event(std::string_view line) noexcept override {
    if (session != nullptr) session->send(line);
  }
  control::Session* session;
};

// keelctl events: the kept events (--since-boot), then the live ones
// unless --no-follow. The JSON lines go as they are; keelctl formats them.
void Supervisor::follow_events(const control::Request& request, control::Session& session) {
  using control::Code;
  std::string out;
  if ((request.flags & control::kFlagSinceBoot) != 0) event_record().replay(out);
  if ((request.flags & control::kFlagFollow) == 0) {
    session.finish(Code::Ok, out);
    return;
  }
  auto f = std::make_unique<EventsFollower>(session);
  event_followers_.reserve(event_followers_.size() + 1);  // room first: a follower the record knows is kept
  if (!event_record().add_follower(*f)) {
    session.finish(Code::Failed, "too many keelctl events followers\n");
    return;
  }
  // The replay in chunks the server takes whole (it cuts a longer chunk).
  std::string_view rest = out;
  while (!rest.empty()) {
    std::size_t n = rest.size();
    if (n > limits::kControlMaxChunk) {
      n = rest.rfind('\n', limits::kControlMaxChunk - 1) + 1;  // npos + 1: no line end, 0
      if (n == 0) n = limits::kControlMaxChunk;
    }
    session.send(rest.substr(0, n));
    rest.remove_prefix(n);
  }
  event_followers_.push_back(std::move(f));
}

Supervisor::Supervisor(EventLoop& loop, SupervisorHooks& hooks, SupervisorSettings settings)
    : loop_(loop),
      power_(hooks),
      settings_(std::move(settings)),
      log_writer_(loop, settings_.log_writer_program.c_str()) {
  random_state_ = static_cast<std::uint64_t>(monotonic_ns()) ^ (static_cast<std::uint64_t>(::getpid()) << 32) ^
                  0x9E3779B97F4A7C15ULL;
}

Supervisor::~Supervisor() {
  for (auto& f : followers_) {
    if (f->log != nullptr) f->log->remove_follower(*f);
  }
  control_.close();
}

// ---------------------------------------------------------------- loading

void Supervisor::log_config_errors(const std::vector<ConfigError>& errors) noexcept {
  for (const ConfigError& e : errors) {
    try {
      log::msg(log::Level::Error, "%s", e.text().c_str());
    } catch (const std::bad_alloc&) {
      oom::dropped("a configuration error's message");
    }
  }
}

// CONFIG_DIR/main, an executable, is shorthand for a service "main" that
// runs it on the console and powers off when it ends: the seed's launcher,
// with no service file to write.
void Supervisor::add_launcher_shorthand(std::vector<ServiceConfig>& configs, bool main_python) {
  // The built-in milestones first: a file of the same name does not replace
  // one (services depend on its meaning).
  for (ServiceConfig& b : builtin_services()) {
    auto same = std::find_if(configs.begin(), configs.end(), [&](const ServiceConfig& c) { return c.name == b.name; });
    if (same != configs.end()) {
      log::msg(log::Level::Warn, "%s: '%s' is built in; the file is ignored", same->file.c_str(), b.name.c_str());
      configs.erase(same);
    }
    configs.push_back(std::move(b));
  }
  std::string path = settings_.config_dir + "/main";
  // stat, not open: it never blocks, and it follows a link (main may well
  // be one, to a program elsewhere: CONFIG_DIR is root's). Only a regular
  // file is a program; a FIFO or a device (/dev/zero) is refused here,
  // with a message, rather than handed to exec and the fingerprint.
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return;
  for (const ServiceConfig& c : configs) {
    if (c.name == "main") return;  // an explicit main.toml wins
  }
  if (!S_ISREG(st.st_mode)) {
    log::msg(log::Level::Error, "%s: not a regular file: ignored (no main service)", path.c_str());
    return;
  }
  ServiceConfig c;
  c.name = "main";
  c.file = path;
  c.description = "the main program (" + path + ")";
  c.command = {path};
  c.restart = Restart::Never;
  c.on_exit = ExitAction::Poweroff;
  c.stdin_ = Stream{StreamKind::Console, {}};
  c.stdout_ = Stream{StreamKind::Console, {}};
  c.stderr_ = Stream{StreamKind::Console, {}};
  c.start_timeout_ns = 0;
  c.source = program_fingerprint(st);
  c.python_program = main_python;
  configs.push_back(std::move(c));
}

void Supervisor::start() {
  LoadResult loaded = load_service_dir(settings_.services_dir, settings_.users);
  mark_python_programs(loaded, settings_.config_dir);
  start(std::move(loaded));
}

void Supervisor::start(LoadResult loaded) {
  open_control();
  container_output_.set_mode(settings_.log_output);
  if (!settings_.cgroup_root.empty()) {
    Status s = cgroups_.init(settings_.cgroup_root.c_str());
    if (s) {
      log::msg(log::Level::Info, "services get cgroups under %s (controllers: as limits need them)",
               settings_.cgroup_root.c_str());
    } else {
      log::msg(log::Level::Warn, "no cgroups for services (%s: %s: %s); tracking process groups instead",
               settings_.cgroup_root.c_str(), s.error().context, s.error().message());
    }
  }
  load_initial(std::move(loaded));
}

// The run directory and the control socket. Opening the socket allocates
// nothing, so that a start that runs out of memory later still leaves
// keelctl working; when it could not open, reload() (SIGHUP) tries again.
// A run directory someone else controls is refused (service/run_dir.hpp):
// then no notify socket, and no control socket if it would live there.
void Supervisor::open_control() noexcept {
  try {
    std::string problem = prepare_run_dir(settings_.run_dir);
    if (problem.empty()) problem = prepare_run_dir(settings_.run_dir + "/notify");
    run_dir_ok_ = problem.empty();
    if (!run_dir_ok_) log::msg(log::Level::Error, "%s (no notify sockets)", problem.c_str());
  } catch (const std::bad_alloc&) {
    run_dir_ok_ = false;  // not checked: not trusted
    oom::dropped("the run directory's check");
  }
  if (settings_.control_socket.empty() || control_.is_open()) return;
  const std::string& run = settings_.run_dir;
  const std::string& sock = settings_.control_socket;
  const bool control_in_run_dir = sock.size() > run.size() && sock.compare(0, run.size(), run) == 0 && sock[run.size()] == '/';
  if (!run_dir_ok_ && control_in_run_dir) {
    log::msg(log::Level::Error, "control socket %s: its run directory was refused (keelctl will not work)", sock.c_str());
    return;
  }
  Status s = control_.open(loop_, sock.c_str(), settings_.control_group, *this);
  if (!s) {
    log::msg(log::Level::Error, "control socket %s: %s: %s (keelctl will not work)", sock.c_str(), s.error().context,
             s.error().message());
  }
}

void Supervisor::load_initial(LoadResult loaded) {
  add_launcher_shorthand(loaded.services, loaded.main_python);
  for (ServiceConfig& c : settings_.extra_services) loaded.services.push_back(std::move(c));
  settings_.extra_services.clear();
  // Built aside, then swapped in: a failure leaves no unit without its
  // node in the graph.
  std::vector<std::unique_ptr<Unit>> units;
  units.reserve(loaded.services.size());
  for (ServiceConfig& c : loaded.services) units.push_back(std::make_unique<Unit>(*this, std::move(c)));
  std::vector<ServiceConfig> configs;
  configs.reserve(units.size());
  for (const auto& u : units) configs.push_back(u->config);
  Graph graph = build_graph(configs);
  log_config_errors(loaded.errors);
  file_errors_.swap(loaded.errors);
  units_.swap(units);
  install_graph(std::move(graph));
  // The start target's closure, or every service when there is no target
  // of that name.
  std::vector<int> roots;
  for (std::size_t i = 0; i < units_.size(); ++i) {
    if (units_[i]->config.name == settings_.start_target) roots.push_back(static_cast<int>(i));
  }
  std::vector<int> start;
  if (roots.empty()) {
    // Every service, but not the built-in ones: those come up only for
    // what requires them.
    for (std::size_t i = 0; i < units_.size(); ++i) {
      if (units_[i]->config.file != kBuiltinFile) start.push_back(static_cast<int>(i));
    }
    if (settings_.start_target != "default") {
      log::msg(log::Level::Error, "start target '%s' does not exist: starting every service",
               settings_.start_target.c_str());
    }
  } else {
    start = closure(graph_, roots);
    start_target_ = settings_.start_target;
  }
  for (int i : start) start_set_.push_back(units_[i]->config.name);
  initial_loaded_ = true;
  if (cgroups_.ready()) {
    // The controllers the services' limits need, on before any service
    // cgroup holds a process (cheap then; CgroupManager::enable_for); none
    // when no service sets a limit. A reload that brings a limit enables
    // its controller at that service's start.
    std::string enabled;
    for (int i : start) {
      std::string more = cgroups_.enable_for(units_[i]->config.cgroup);
      if (more.empty()) continue;
      if (!enabled.empty()) enabled += ' ';
      enabled += more;
    }
    if (!enabled.empty()) {
      log::msg(log::Level::Info, "cgroup controllers enabled for the services' limits: %s", enabled.c_str());
    }
  }
  std::vector<std::string> bad_files;
  for (const ConfigError& e : file_errors_) {
    if (std::find(bad_files.begin(), bad_files.end(), e.file) == bad_files.end()) bad_files.push_back(e.file);
  }
  log::msg(log::Level::Info, "%zu services loaded from %s, %zu files with errors; starting %zu", units_.size(),
           settings_.services_dir.c_str(), bad_files.size(), start.size());
  for (int i : start) request_start(i);
  schedule();
}

namespace {

// A graph node's config: a service on its way out keeps no edges.
void add_node_config(std::vector<ServiceConfig>& configs, const ServiceConfig& c, bool removed) {
  configs.push_back(c);
  if (removed) {
    configs.back().requires_.clear();
    configs.back().wants.clear();
    configs.back().after.clear();
    configs.back().before.clear();
  }
}

}  // namespace

// Every change to units_ builds its graph first (this may throw and changes
// nothing), then changes units_ and installs the graph, neither of which
// can fail: schedule() indexes both with the same i.
void Supervisor::install_graph(Graph graph) noexcept {
  graph_ = std::move(graph);
  for (std::size_t i = 0; i < units_.size(); ++i) units_[i]->machine.set_index(static_cast<int>(i));
  log_config_errors(graph_.errors);
  for (std::size_t i = 0; i < units_.size(); ++i) {
    if (graph_.nodes[i].broken && units_[i]->machine.state() != State::Failed) {
      units_[i]->machine.mark_broken(graph_.nodes[i].broken_reason.c_str());
    }
  }
  update_output_width();
}

// log_output = "prefixed" pads names to the longest one configured, so the
// column stays put; it moves only when a reload adds a longer name.
void Supervisor::update_output_width() noexcept {
  std::size_t width = 0;
  for (const auto& u : units_) {
    // Built-in services (service/builtin.hpp) are not the user's: their
    // names do not widen the column.
    if (u->removed || u->config.file == kBuiltinFile) continue;
    width = std::max(width, u->config.name.size());
  }
  container_output_.set_width(width);
}

bool Supervisor::graph_matches_units() const noexcept {
  if (graph_.nodes.size() != units_.size()) return false;
  for (std::size_t i = 0; i < units_.size(); ++i) {
    if (units_[i]->machine.index() != static_cast<int>(i)) return false;
  }
  return true;
}

// ---------------------------------------------------------------- requests

void Supervisor::request_start(int index) noexcept {
  Unit& u = *units_[index];
  if (graph_.nodes[index].broken || u.removed) return;
  u.down_requested = false;
  u.on_exit_done = false;
  // What it requires or wants comes up with it.
  for (int dep : graph_.nodes[index].requires_) {
    if (!units_[dep]->machine.goal_up()) request_start(dep);
  }
  for (int dep : graph_.nodes[index].wants) {
    if (!units_[dep]->machine.goal_up()) request_start(dep);
  }
  u.machine.want_up();
}

void Supervisor::request_stop(int index) noexcept {
  Unit& u = *units_[index];
  u.down_requested = true;
  // Stopped for good: what it stored goes (docs/services.md, "The fd store").
  u.close_fd_store();
  // Whatever requires it cannot keep running without it.
  for (int dep : graph_.nodes[index].required_by) {
    if (!units_[dep]->down_requested) request_stop(dep);
  }
}

void Supervisor::stop_all() noexcept {
  if (stopping_all_) return;
  stopping_all_ = true;
  log::msg(log::Level::Info, "stopping every service");
  for (std::size_t i = 0; i < units_.size(); ++i) units_[i]->down_requested = true;
  schedule();
}

int Supervisor::give_up_stopping(long long deadline_s) noexcept {
  if (!stopping_all_ || all_stopped_reported_) return -1;
  all_stopped_reported_ = true;
  int left = 0;
  for (auto& u : units_) {
    // From now on the shutdown's end (kill(-1), or the exit) owns what is
    // left: no unit resends SIGKILL by a pid that it may reap and that
    // could then be reused.
    u->timer.disarm();
    u->watchdog_timer.disarm();
    const State s = u->machine.state();
    if (s != State::Starting && s != State::Running && s != State::Stopping && u->machine.pid() < 0) continue;
    ++left;
    char where[limits::kNotifyCgroupPath + 32] = "";
    if (u->in_cgroup) {
      std::snprintf(where, sizeof where, ", cgroup %s", u->cgroup_path[0] != '\0' ? u->cgroup_path : "(its own)");
    } else if (u->pgid > 0) {
      std::snprintf(where, sizeof where, ", process group %d", static_cast<int>(u->pgid));
    }
    log::msg(log::Level::Error, "%s: still %s at the shutdown deadline (main pid %d%s)", u->config.name.c_str(),
             state_name(s), static_cast<int>(u->machine.pid()), where);
  }
  log::msg(log::Level::Error, "shutdown deadline (%lld s) passed with %d service%s not stopped: going on without %s",
           deadline_s, left, left == 1 ? "" : "s", left == 1 ? "it" : "them");
  for (auto& u : units_) {
    if (u->log) u->log->close();
  }
  // What the services wrote before the deadline still reaches its files.
  log_writer_.finish(&Supervisor::log_writer_finished, this);
  return left;
}

bool Supervisor::unit_has_process(Unit& u) noexcept {
  return u.machine.pid() >= 0 || (u.pgid > 0 && tree_alive(u.machine));
}

// ---------------------------------------------------------------- scheduling

void Supervisor::schedule() noexcept {
  // Re-entrancy: a transition inside the pass (a target becoming ready)
  // asks for another pass rather than nesting one.
  if (scheduling_) {
    reschedule_ = true;
    return;
  }
  scheduling_ = true;
  do {
    reschedule_ = false;
    // Launches in flight, each holding its report pipe until the exec is
    // reported: bounded, so a pass over a thousand services cannot take
    // a thousand fds more at once (limits.hpp). Those left waiting go in a
    // later pass, when a report comes in.
    int launching = 0;
    for (const auto& u : units_) launching += u->machine.state() == State::Launching ? 1 : 0;
    for (std::size_t i = 0; i < units_.size(); ++i) {
      Unit& u = *units_[i];
      const GraphNode& node = graph_.nodes[i];
      // Started on connection and done (a clean exit, an idle timeout):
      // still wanted, so back to waiting for the next connection.
      if (u.config.start_on_connection && u.machine.state() == State::Done && u.machine.goal_up() &&
          !u.down_requested && !u.removed && !stopping_all_) {
        u.machine.want_up();
      }
      if (u.down_requested) {
        // Stop only after everything that starts after it is down.
        bool blocked = false;
        for (int later : node.stop_after) {
          State s = units_[later]->machine.state();
          if (s == State::Launching || s == State::Starting || s == State::Running || s == State::Stopping ||
              (units_[later]->machine.pid() >= 0)) {
            blocked = true;
            break;
          }
        }
        if (!blocked && u.machine.goal_up()) u.machine.want_down();
        continue;
      }
      if (u.machine.state() != State::Waiting) continue;
      const char* failed_dep = nullptr;
      bool wait = false;
      for (int dep : node.requires_) {
        ServiceMachine& m = units_[dep]->machine;
        if (m.state() == State::Failed) {
          failed_dep = units_[dep]->config.name.c_str();
          break;
        }
        // A service waiting for its first connection is ready: its
        // sockets already accept connections.
        if (!m.is_ready() && !units_[dep]->listening) wait = true;
      }
      if (failed_dep != nullptr) {
        u.machine.dep_failed(failed_dep);
        continue;
      }
      for (int dep : node.order_after) {
        if (!units_[dep]->machine.settled() && !units_[dep]->listening) wait = true;
      }
      if (wait) continue;
      // Started on connection: its sockets made and watched instead of a
      // launch, until a connection comes (connection_arrived). A socket
      // that cannot be made falls through to the launch, which fails
      // with the reason.
      if (u.config.start_on_connection && !u.connection_seen && (u.listening || listen_for_connection(u))) continue;
      if (u.config.type != Type::Target && launching >= limits::kMaxLaunching) continue;
      u.machine.deps_settled();
      if (u.machine.state() == State::Launching) ++launching;
    }
  } while (reschedule_);
  scheduling_ = false;
  collect_removed();
  report_start_if_settled();
  if (stopping_all_ && !all_stopped_reported_) {
    for (auto& u : units_) {
      State s = u->machine.state();
      if (s == State::Launching || s == State::Starting || s == State::Running || s == State::Stopping ||
          u->machine.pid() >= 0)
        return;
    }
    all_stopped_reported_ = true;
    // Log files closed now: a file held open for writing would keep its
    // filesystem from being remounted read-only at shutdown. The writer
    // gets every line first, within its bound (log_writer_link.hpp).
    for (auto& u : units_) {
      if (u->log) u->log->close();
    }
    log::msg(log::Level::Info, "every service is stopped");
    log_writer_.finish(&Supervisor::log_writer_finished, this);
  }
}

void Supervisor::log_writer_finished(void* self) noexcept { static_cast<Supervisor*>(self)->power_.all_stopped(); }

void Supervisor::report_start_if_settled() noexcept {
  // A reap before the services are loaded (the loader's own exit) must not
  // report an empty start as settled.
  if (start_reported_ || stopping_all_ || !initial_loaded_) return;
  StartSummary summary;
  for (const std::string& name : start_set_) {
    Unit* u = find(name);
    if (u == nullptr) continue;
    State s = u->machine.state();
    const bool listening = s == State::Waiting && u->listening;
    if ((s == State::Waiting && !listening) || s == State::Launching || s == State::Starting || s == State::Backoff ||
        s == State::Stopping)
      return;
    if (s == State::Running || s == State::Done || listening) ++summary.started;
    if (s == State::Failed) ++summary.failed;
  }
  start_reported_ = true;
  // The summary's strings are what could throw (start_settled is noexcept):
  // without them the boot summary is not reported, and that is counted.
  try {
    summary.target = start_target_;
    if (!start_target_.empty()) {
      Unit* t = find(start_target_);
      if (t != nullptr && t->machine.state() == State::Failed) {
        summary.target_failed = true;
        summary.reason = t->machine.last_error();
      }
    }
  } catch (const std::bad_alloc&) {
    oom::dropped("the boot summary");
    return;
  }
  power_.start_settled(summary);
}

void Supervisor::add_and_start(ServiceConfig config) {
  Unit* existing = find(config.name);
  if (existing == nullptr) {
    auto unit = std::make_unique<Unit>(*this, std::move(config));
    std::vector<ServiceConfig> configs;
    configs.reserve(units_.size() + 1);
    for (const auto& u : units_) add_node_config(configs, u->config, u->removed);
    configs.push_back(unit->config);
    Graph graph = build_graph(configs);
    units_.reserve(units_.size() + 1);
    // Nothing below can fail.
    existing = unit.get();
    units_.push_back(std::move(unit));
    install_graph(std::move(graph));
  }
  request_start(existing->machine.index());
  schedule();
}

void Supervisor::after_reap() noexcept {
  for (auto& u : units_) {
    if (u->machine.state() == State::Stopping) u->machine.tree_check();
  }
  schedule();
}

void Supervisor::on_child_exit(pid_t pid, int wait_status) noexcept {
  if (log_writer_.on_child_exit(pid, wait_status)) return;
  if (probes_.on_child_exit(pid, wait_status)) return;  // a probe run, never a service's process
  for (auto& u : units_) {
    if (u->machine.pid() != pid) continue;
    // A launching child's report, if any, was written before it exited:
    // read it now, so its text (not a bare "exited 127") is the reason.
    u->poll_exec_report();
    u->close_main_watch();
    if (u->log) u->log->flush();  // its last lines before the exit message
    if (WIFSIGNALED(wait_status)) {
      log::msg(log::Level::Info, "%s: pid %d killed by %s", u->config.name.c_str(), static_cast<int>(pid),
               signals::name(WTERMSIG(wait_status)));
    } else {
      log::msg(log::Level::Info, "%s: pid %d exited with status %d", u->config.name.c_str(), static_cast<int>(pid),
               WEXITSTATUS(wait_status));
    }
    record_exit_event(u->config.name, pid, wait_status);
    u->machine.main_exited(wait_status);
    return;
  }
  log::msg(log::Level::Debug, "reaped pid %d (status %d)", static_cast<int>(pid), shell_exit_code(wait_status));
}

// Units removed by a reload are forgotten once they have stopped.
void Supervisor::collect_removed() noexcept {
  bool any = false;
  for (auto& u : units_) {
    if (u->removed && (u->machine.state() == State::Stopped || u->machine.state() == State::Failed ||
                       u->machine.state() == State::Done) && u->machine.pid() < 0) {
      any = true;
    }
  }
  if (!any) return;
  auto gone = [](const Unit& u) {
    return u.removed && u.machine.pid() < 0 &&
           (u.machine.state() == State::Stopped || u.machine.state() == State::Failed ||
            u.machine.state() == State::Done);
  };
  // The graph of what stays, first: until it exists nothing is forgotten.
  Graph graph;
  try {
    std::vector<ServiceConfig> configs;
    configs.reserve(units_.size());
    for (const auto& u : units_) {
      if (!gone(*u)) add_node_config(configs, u->config, u->removed);
    }
    graph = build_graph(configs);
  } catch (const std::bad_alloc&) {
    oom::dropped("forgetting removed services (tried again at the next event)");
    return;
  }
  for (auto& p : units_) {
    Unit& u = *p;
    if (!gone(u)) continue;
    log::msg(log::Level::Info, "%s: removed", u.config.name.c_str());
    for (auto& f : followers_) {
      if (f->log == u.log.get()) {
        if (f->session != nullptr) f->session->finish(control::Code::Ok, "");
        f->session = nullptr;
        f->log = nullptr;
      }
    }
    if (u.in_cgroup) cgroups_.remove(u.cgroup);
  }
  // Moves of unique_ptrs and destructors: cannot throw. A unit's fds leave
  // the event loop as it is destroyed, and their events still pending in
  // this batch are dropped (EventLoop::remove).
  std::erase_if(units_, [&](const std::unique_ptr<Unit>& u) { return gone(*u); });
  install_graph(std::move(graph));
}

// ---------------------------------------------------------------- Host

// Socket activation: the service's sockets made (or kept, when their
// definition is unchanged) before its program starts, and handed to the
// plan. A refusal (a link planted at a unix path, an address in use) is a
// failed launch with the reason, like a missing program.
Status Supervisor::open_listen_sockets(Unit& u, ExecInputs& in, char* error_text, std::size_t size) {
  if (u.config.sockets.empty()) {
    u.sockets.close();
    return {};
  }
  std::string problem = u.sockets.open(u.config.sockets);
  if (!problem.empty()) {
    std::snprintf(error_text, size, "%s", problem.c_str());
    return Error{0, error_text};
  }
  in.listen_fds = &u.sockets.fds();
  return {};
}

Result<pid_t> Supervisor::launch(ServiceMachine& machine) noexcept {
  Unit& u = *units_[machine.index()];
  const ServiceConfig& c = u.config;
  // A plan error is a sentence, not a step and an errno: it travels as the
  // Error's context (code 0), which the machine copies into its own
  // last_error at once, so one buffer serves every launch.
  static char error_text[200];
  // Whatever the outcome, keel keeps no fd of the launch it does not need
  // while the service runs: the log pipes' write ends (the run has its own
  // copies) and the cgroup's fds (reopened by name when needed). A running
  // service then costs keel 1 fd per captured stream (2 by default), one
  // more with a readiness channel (docs/system-mode.md, "Limits").
  struct LaunchFds {
    Unit& u;
    ~LaunchFds() {
      if (u.log) u.log->release_write_end();
      u.cgroup.close_fds();
    }
  } launch_fds{u};
  try {
    if (needs_log(c)) {
      if (!u.log) u.log = std::make_unique<ServiceLog>(c.name, c.log, &log_writer_, &container_output_);
      Status s = u.log->open(loop_, c.stdout_.kind == StreamKind::Log, c.stderr_.kind == StreamKind::Log);
      if (!s) return launch_error(c, s.error());
    }
    ExecInputs in;
    in.config = &c;
    in.log_fd = u.log ? u.log->write_fd(LogStream::Stdout) : -1;
    in.log_err_fd = u.log ? u.log->write_fd(LogStream::Stderr) : -1;
    in.console_fd = settings_.console_fd;
    in.passwd_path = settings_.users.passwd.c_str();
    in.extra_env.emplace_back("KEEL_SERVICE", c.name);
    if (cgroups_.ready()) {
      if (u.in_cgroup) cgroups_.remove(u.cgroup);
      Result<ServiceCgroup> cg = cgroups_.create(c.name, c.cgroup);
      if (cg) {
        u.cgroup = std::move(cg.value());
        u.in_cgroup = true;
        if (!u.cgroup.enabled.empty()) {
          log::msg(log::Level::Info, "%s: cgroup controllers enabled for its limits: %s", c.name.c_str(),
                   u.cgroup.enabled.c_str());
        }
        if (!u.cgroup.warning.empty()) log::msg(log::Level::Warn, "%s: %s", c.name.c_str(), u.cgroup.warning.c_str());
        in.cgroup_procs_fd = u.cgroup.procs_fd;
        in.cgroup_dir_fd = u.cgroup.dir_fd;
      } else {
        u.in_cgroup = false;
        log::msg(log::Level::Warn, "%s: no cgroup (%s: %s); tracking its process group", c.name.c_str(),
                 cg.error().context, cg.error().message());
      }
    }
    // A watchdog needs the socket for its pings, whatever the readiness;
    // so does an fd store, for FDSTORE=1.
    if (c.type == Type::Notify || c.watchdog_ns > 0 || c.fd_store_max > 0) {
      if (!run_dir_ok_) return Error{0, "no notify socket: the run directory was refused (see keel's log)"};
      std::string path = settings_.run_dir + "/notify/" + c.name;
      // The socket belongs to the user the service runs as (keel's own
      // when it names none).
      uid_t owner = c.has_user ? c.uid : ::geteuid();
      gid_t group = c.has_user ? c.gid : ::getegid();
      Status s = u.notify.open(loop_, path.c_str(), owner, group, u);
      if (!s) return launch_error(c, s.error());
      in.extra_env.emplace_back("NOTIFY_SOCKET", path);
    }
    if (c.watchdog_ns > 0) {
      in.extra_env.emplace_back("WATCHDOG_USEC", std::to_string(c.watchdog_ns / 1000));
      in.self_pid_env = "WATCHDOG_PID";  // filled in by the child (core/spawn.hpp)
    }
    if (c.type == Type::NotifyFd) {
      Status s = u.ready_pipe.open(loop_, u);
      if (!s) return launch_error(c, s.error());
      in.notify_pipe_write_fd = u.ready_pipe.write_fd();
    }
    if (Status s = open_listen_sockets(u, in, error_text, sizeof error_text); !s) return s.error();
    // The fd store: room for what the service may store in this run (an
    // edge, so the notify handler never allocates), and what it stored
    // before, passed after the sockets.
    if (u.fd_store.capacity() < c.fd_store_max) u.fd_store.reserve(c.fd_store_max);
    for (const Unit::StoredFd& f : u.fd_store) in.stored_fds.emplace_back(f.fd, f.name);
    ExecPlan plan;
    std::string error;
    if (!build_exec_plan(in, plan, error)) {
      u.ready_pipe.close();
      std::snprintf(error_text, sizeof error_text, "%s", error.c_str());
      return Error{0, error_text};
    }
    // Not waiting for the exec: the child may be stopped or hung before
    // it (ARCHITECTURE.md, rule 5). Its report pipe joins the loop, and the
    // machine is launching until the report or the start timeout.
    Result<Launch> launched = spawn_service_nowait(plan);
    u.ready_pipe.close_write_end();
    if (!launched) {
      u.ready_pipe.close();
      u.notify.close();
      return launch_error(c, launched.error());
    }
    const Launch l = launched.value();
    u.close_exec_watch();
    Status watched = loop_.add(l.report_fd, EPOLLIN, u.exec_watch);
    if (!watched) {
      // Without its report the launch could not be followed: the child
      // goes (reaped as an orphan) and the launch fails with the reason.
      ::kill(l.pid, SIGKILL);
      ::close(l.report_fd);
      u.ready_pipe.close();
      u.notify.close();
      return launch_error(c, watched.error());
    }
    u.exec_watch.fd = l.report_fd;
    u.launched_pid = l.pid;
    u.pgid = l.pid;
    // As soon as the child's pid is known, before any walk of /proc can
    // see it: until then another service's stop could take it for an
    // orphan nobody claims (tree_tracker.hpp, rule 3).
    u.tracker.begin_run(l.pid);
    u.status[0] = '\0';
    u.refusal_logged = false;
    u.cgroup_path[0] = '\0';  // known once the exec is confirmed (exec_confirmed)
    log::msg(log::Level::Debug, "%s: launching (pid %d)", c.name.c_str(), static_cast<int>(l.pid));
    // What it was ordered after (or required) that is in this start.
    EventRecord& event = event_record().begin("starting", c.name).num("pid", l.pid).list_begin("after");
    for (int d : graph_.nodes[machine.index()].order_after) {
      if (units_[d]->machine.goal_up()) event.item(units_[d]->config.name);
    }
    event.list_end().commit();
    return l.pid;
  } catch (const std::bad_alloc&) {
    return Error{ENOMEM, "preparing the service"};
  }
}

void Supervisor::signal_tree(ServiceMachine& machine, int signo, bool and_continue) noexcept {
  Unit& u = *units_[machine.index()];
  // A MAINPID in a sub-cgroup or outside the group is reached too.
  (void)u.signal_main(signo);
  if (and_continue) (void)u.signal_main(SIGCONT);
  if (u.in_cgroup) {
    Status s = signo == SIGKILL ? kill_all(u.cgroup) : signal_all(u.cgroup, signo);
    if (s) {
      if (and_continue) (void)signal_all(u.cgroup, SIGCONT);
      return;
    }
  }
  if (!u.tracker.live()) return;
  (void)service::signal_tree(u.tracker, sole_run(u), signo, and_continue);
  if (u.tracker.overflows() > 0 && signo != SIGCONT) {
    log::msg(log::Level::Warn, "%s: more sessions and groups than keel remembers (%d); some may escape this stop",
             u.config.name.c_str(), limits::kTrackedIds);
  }
}

bool Supervisor::sole_run(const Unit& u) const noexcept {
  // Rule 3 of tree_tracker.hpp: an orphan no rule ties to a service is
  // this one's only when no other service (cgroup or not) has a run going
  // that could have made it.
  for (const auto& other : units_) {
    if (other.get() != &u && other->tracker.live()) return false;
  }
  return true;
}

bool Supervisor::tree_alive(ServiceMachine& machine) noexcept {
  Unit& u = *units_[machine.index()];
  if (u.in_cgroup) return populated(u.cgroup);
  if (!u.tracker.live()) return false;
  return service::tree_alive(u.tracker, sole_run(u));
}

void Supervisor::arm_timer(ServiceMachine& machine, std::int64_t delay_ns) noexcept {
  units_[machine.index()]->timer.arm_after(delay_ns);
}

void Supervisor::disarm_timer(ServiceMachine& machine) noexcept { units_[machine.index()]->timer.disarm(); }

std::int64_t Supervisor::now_ns() noexcept { return monotonic_ns(); }

std::uint64_t Supervisor::random() noexcept {
  // xorshift64*: the jitter needs spread, not secrecy, and keel must never
  // ask the kernel's RNG for anything early in boot.
  random_state_ ^= random_state_ >> 12;
  random_state_ ^= random_state_ << 25;
  random_state_ ^= random_state_ >> 27;
  return random_state_ * 2685821657736338717ULL;
}

// Health as the hardware watchdog sees it (issue 12): a unit wanted up is
// healthy once ready (running, or done for a oneshot) and unhealthy while
// failed, backing off or stopped; a start counts as unhealthy only once it
// took longer than its start timeout (the machine fails it then anyway).
// A restart loop stays unhealthy from its first failure, through the short
// runs between failures (a simple service is "ready" at its exec), until a
// run lasts restart_reset_after: the back-off's own notion of recovered.
// Not wanted up: healthy.
void Supervisor::track_health(Unit& u) noexcept {
  const State now = u.machine.state();
  const std::int64_t t = now_ns();
  if (!u.machine.goal_up() || now == State::Done) {
    u.unhealthy_from_ns = 0;
    u.ready_after_failure_ns = 0;
    return;
  }
  if (now == State::Running) {
    // Ready after failures: unhealthy still, until this run lasts.
    if (u.unhealthy_from_ns != 0 && u.unhealthy_from_ns <= t && u.machine.failures() > 0) {
      if (u.ready_after_failure_ns == 0) u.ready_after_failure_ns = t;
      return;
    }
    u.unhealthy_from_ns = 0;
    u.ready_after_failure_ns = 0;
    return;
  }
  if (u.ready_after_failure_ns != 0 && t - u.ready_after_failure_ns >= u.config.restart_reset_ns) {
    u.unhealthy_from_ns = 0;  // that run lasted: this is a new failure, not the old loop
  }
  u.ready_after_failure_ns = 0;
  if (u.unhealthy_from_ns != 0) return;  // still unhealthy since then
  switch (now) {
    case State::Failed:
    case State::Backoff:
    case State::Stopped:
    case State::Stopping: u.unhealthy_from_ns = t; return;
    case State::Waiting:
    case State::Launching:
    case State::Starting:
      // A start with no timeout never counts as unhealthy by itself.
      if (u.config.start_timeout_ns > 0) u.unhealthy_from_ns = t + u.config.start_timeout_ns;
      return;
    case State::Running:
    case State::Done: return;
  }
}

std::int64_t Supervisor::critical_unhealthy_since_ns(const char** name) const noexcept {
  const std::int64_t t = monotonic_ns();
  std::int64_t earliest = 0;
  for (const std::unique_ptr<Unit>& u : units_) {
    if (!u->config.critical) continue;
    std::int64_t since = u->unhealthy_from_ns;
    // Up again for restart_reset_after: recovered (no state change says so).
    if (since != 0 && u->ready_after_failure_ns != 0 && t - u->ready_after_failure_ns >= u->config.restart_reset_ns) {
      since = 0;
    }
    // Running but found unhealthy by its liveness probe: unhealthy too.
    const State s = u->machine.state();
    if (since == 0 && (s == State::Starting || s == State::Running) && u->liveness.health() == Health::Unhealthy) {
      since = u->liveness.since_mono_ns();
    }
    if (since == 0) continue;
    if (earliest == 0 || since < earliest) {
      earliest = since;
      if (name != nullptr) *name = u->config.name.c_str();
    }
  }
  return earliest;
}

void Supervisor::state_changed(ServiceMachine& machine, State old_state) noexcept {
  Unit& u = *units_[machine.index()];
  State now = machine.state();
  const char* name = u.config.name.c_str();
  record_state_event(machine, old_state, stopping_all_);
  switch (now) {
    case State::Running:
      log::msg(log::Level::Info, "%s: ready", name);
      finish_waiters(u, false);
      break;
    case State::Done:
      log::msg(log::Level::Info, "%s: done", name);
      finish_waiters(u, false);
      break;
    case State::Failed:
      log::msg(log::Level::Error, "%s: failed: %s", name, machine.last_error());
      finish_waiters(u, true);
      break;
    case State::Backoff:
      log::msg(log::Level::Info, "%s: restarting in %lld ms (failure %d)", name,
               static_cast<long long>(machine.backoff_ns() / 1'000'000), machine.failures());
      break;
    case State::Stopping:
      log::msg(log::Level::Info, "%s: stopping", name);
      break;
    case State::Stopped:
      if (old_state != State::Stopped) log::msg(log::Level::Info, "%s: stopped", name);
      break;
    case State::Waiting:
    case State::Launching:
    case State::Starting:
      log::msg(log::Level::Debug, "%s: %s", name, state_name(now));
      break;
  }
  // Leaving Waiting (a connection, keelctl stop, a requirement failed):
  // no more watching; the sockets stay open.
  if (now != State::Waiting) stop_listening(u);
  if (now == State::Launching) u.connection_seen = false;
  track_health(u);
  // A report not read by now (a launch stopped or timed out) is not wanted.
  if (now != State::Launching) u.close_exec_watch();
  // The watchdog watches a starting or running service only; a reload
  // under way ends with the run.
  if (now != State::Starting && now != State::Running) {
    u.watchdog_end_run();
    finish_reload_waiters(u, control::Code::Failed, "stopped during its reload");
  }
  update_probes(u, old_state);
  // Leaving a run: its readiness channels and its cgroup go with it.
  if (now != State::Launching && now != State::Starting && now != State::Running && now != State::Stopping) {
    u.close_main_watch();
    u.notify.close();
    u.ready_pipe.close();
    if (u.in_cgroup && !populated(u.cgroup)) {
      cgroups_.remove(u.cgroup);
      u.in_cgroup = false;
    }
    u.pgid = -1;
    u.tracker.end_run();
  }
  if (now == State::Running || now == State::Done) u.on_exit_done = false;
  // The service ended for good: its failure policy (on_failure, on_exit,
  // essential) may end the system, with the service's own exit status.
  if (!stopping_all_ && !u.on_exit_done) end_system_for(u);
  reschedule_ = true;
}

// The failure policy's system action (ServiceMachine::final_action), once
// per run. The status carried is the service's last exit as a shell gives
// it (128+N for signal N); a failure without one (never started) or with
// a clean one (exit 0 before it was ready, a restart limit reached by
// clean exits under restart = "always") carries 1: never 0 for a failure.
void Supervisor::end_system_for(Unit& u) noexcept {
  const ServiceMachine& machine = u.machine;
  const ExitAction action = machine.final_action();
  if (action == ExitAction::None) return;
  // A service started on connection that exited cleanly has not ended: it
  // listens again (schedule()), so on_exit is not for this exit.
  if (u.config.start_on_connection && machine.state() == State::Done) return;
  u.on_exit_done = true;
  int code = machine.last_exit_status() >= 0 ? shell_exit_code(machine.last_exit_status()) : 1;
  if (machine.state() == State::Failed && code == 0) code = 1;
  log::msg(log::Level::Warn, "%s: %s for good: the system ends (exit status %d)", u.config.name.c_str(),
           machine.state() == State::Failed ? "failed" : "ended", code);
  power_.request_power(action, code);
}

// The readiness probe runs from the exec until the service is ready, its
// first run soon after the exec (a daemon binds its port in milliseconds).
// The liveness probe runs from the moment the service is ready to the end
// of the run, its first run one interval later: a service still starting
// is bounded by start_timeout, not judged by its liveness.
void Supervisor::update_probes(Unit& u, State old_state) noexcept {
  const State now = u.machine.state();
  if (now != State::Starting && now != State::Running) {
    u.readiness.stop();
    u.liveness.stop();
    return;
  }
  const ProbeConfig& r = u.config.readiness_probe;
  if (old_state == State::Launching && now == State::Starting && r.enabled()) {
    u.readiness.start(r, std::min<std::int64_t>(r.interval_ns, 100'000'000));
  }
  if (now == State::Running && old_state != State::Running) {
    u.readiness.stop();
    const ProbeConfig& l = u.config.liveness_probe;
    if (l.enabled()) u.liveness.start(l, l.interval_ns);
  }
}

std::int64_t Supervisor::unhealthy_since_ns(std::string_view name) const noexcept {
  for (const auto& u : units_) {
    if (u->config.name != name || u->removed) continue;
    const State s = u->machine.state();
    if (s != State::Starting && s != State::Running) return 0;
    return u->liveness.health() == Health::Unhealthy ? u->liveness.since_mono_ns() : 0;
  }
  return 0;
}

void Supervisor::finish_waiters(Unit& u, bool failed) noexcept {
  for (auto& w : waiters_) {
    if (w->session == nullptr || w->name != u.config.name || w->reload) continue;
    w->timer.disarm();
    if (failed) {
      char text[256];
      std::snprintf(text, sizeof text, "%s failed: %s\n", u.config.name.c_str(), u.machine.last_error());
      w->session->finish(control::Code::Failed, text);
    } else {
      w->session->finish(control::Code::Ok, w->ok_text);
    }
    w->session = nullptr;
  }
}

// ---------------------------------------------------------------- control

Supervisor::Unit* Supervisor::find(const std::string& name) noexcept {
  for (auto& u : units_) {
    if (u->config.name == name && !u->removed) return u.get();
  }
  return nullptr;
}

control::ServiceStatus Supervisor::status_of(Unit& u) {
  control::ServiceStatus st;
  const ServiceMachine& m = u.machine;
  st.name = u.config.name;
  st.description = u.config.description;
  st.state = state_name(m.state());
  // What the service said of itself (sd_notify), while it runs.
  if (m.state() == State::Running && u.reloading) st.state = "reloading";
  if (m.state() == State::Waiting && u.listening) st.state = "listening";
  if (m.state() == State::Running && u.stopping_notified) st.state = "stopping";
  if (u.removed) st.state += " (removed)";
  st.pid = m.pid() > 0 ? m.pid() : 0;
  if (m.state() == State::Running || m.state() == State::Starting || m.state() == State::Launching)
    st.uptime_ns = monotonic_ns() - m.started_at_ns();
  st.restarts = static_cast<std::uint32_t>(m.restarts());
  st.last_exit = describe_exit(m.last_exit_status());
  st.ready = m.is_ready();
  st.readiness = u.config.readiness_probe.enabled() ? "probe" : readiness_name(u.config.type);
  st.last_error = m.last_error();
  if (u.status[0] != '\0') {
    st.last_error += st.last_error.empty() ? "" : "; ";
    st.last_error += std::string("status: ") + u.status;
  }
  if (!u.pending_config.empty()) st.last_error += (st.last_error.empty() ? "" : "; ") + u.pending_config;
  st.log_dropped = u.log ? u.log->dropped_lines() : 0;
  if (!u.config.log.file.empty() && log_writer_.problem() != nullptr) st.log_writer = log_writer_.problem();
  st.log_file = u.config.log.file;
  st.service_errno = u.service_errno;
  st.notify_refused = u.refusals;
  if (u.refusals != 0) st.notify_refusal = u.refusal;
  // Health: the liveness probe's verdict while it runs, and a verdict of
  // unhealthy kept after it stopped the service; the last run of either
  // probe, whichever ran last.
  const Probe& live = u.liveness;
  if (live.running() || live.health() == Health::Unhealthy) {
    st.health = health_name(live.health());
    st.health_since_ns = live.since_wall_ns();
  }
  const Probe* last = u.readiness.last_run_wall_ns() > live.last_run_wall_ns() ? &u.readiness : &live;
  if (last->last_result()[0] != '\0') {
    st.probe_kind = last->liveness() ? "liveness" : "readiness";
    st.probe_result = last->last_result();
    st.probe_output = last->last_output();
  }
  // What its end does to the system, its sockets and its fd store.
  st.essential = essential_word(u.config.essential);
  st.on_exit = exit_action_word(u.config.on_exit);
  st.on_failure = exit_action_word(u.config.on_failure);
  st.critical = u.config.critical;
  for (const SocketConfig& sc : u.config.sockets) st.sockets.push_back({sc.listen, sc.name});
  st.sockets_open = !u.sockets.empty();
  st.on_connection = u.config.start_on_connection;
  st.fd_store_max = u.config.fd_store_max;
  for (const Unit::StoredFd& f : u.fd_store) st.fd_store.emplace_back(f.name);
  return st;
}

void Supervisor::handle(const control::Request& request, control::Session& session) noexcept {
  // Waiters answered (ready, failed, timed out) are swept here, at the
  // next request: they cannot remove themselves from their own timer.
  std::erase_if(waiters_, [](const std::unique_ptr<Waiter>& w) { return w->session == nullptr; });
  try {
    handle_request(request, session);
  } catch (const std::bad_alloc&) {
    oom::dropped("a keelctl request");
    session.finish(control::Code::Failed, "keel is out of memory\n");
  }
  schedule();
}

void Supervisor::handle_request(const control::Request& request, control::Session& session) {
  using control::Code;
  using control::Verb;
  const std::string name = request.args.empty() ? std::string() : request.args[0];
  auto need_service = [&]() -> Unit* {
    if (name.empty()) {
      session.finish(Code::BadRequest, "which service?\n");
      return nullptr;
    }
    Unit* u = find(name);
    if (u == nullptr) session.finish(Code::NoService, "no service named '" + name + "'\n");
    return u;
  };
  switch (request.verb) {
    case Verb::Status: {
      std::vector<control::ServiceStatus> list;
      if (!name.empty()) {
        Unit* u = find(name);
        if (u == nullptr) {
          for (const ConfigError& e : file_errors_) {
            if (!e.file.ends_with("/" + name + ".toml")) continue;
            if (list.empty()) {
              list.emplace_back();
              list.back().name = name;
              list.back().state = "error";
              list.back().last_error = e.text();
            } else {
              list.back().last_error += "; " + e.text();
            }
          }
          if (list.empty()) {
            session.finish(Code::NoService, "no service named '" + name + "'\n");
            return;
          }
        } else {
          list.push_back(status_of(*u));
        }
      } else {
        for (auto& u : units_) list.push_back(status_of(*u));
        // Files that did not load show as services in state "error".
        for (const ConfigError& e : file_errors_) {
          std::string stem = e.file.substr(e.file.rfind('/') + 1);
          if (stem.ends_with(".toml")) stem.resize(stem.size() - 5);
          auto it = std::find_if(list.begin(), list.end(), [&](const control::ServiceStatus& s) {
            return s.name == stem && s.state == "error";
          });
          if (it != list.end()) {
            it->last_error += "; " + e.text();
            continue;
          }
          control::ServiceStatus st;
          st.name = stem;
          st.state = "error";
          st.last_error = e.text();
          list.push_back(st);
        }
      }
      bool json = (request.flags & control::kFlagJson) != 0;
      control::KeelStatus keel;
      keel.output_lost = log::output_lost();
      std::string text = json             ? control::format_status_json(list, keel)
                         : name.empty()   ? control::format_status_table(list, keel)
                                          : control::format_status_detail(list.front(), keel);
      session.finish(Code::Ok, text);
      return;
    }
    case Verb::Start:
    case Verb::Restart: {
      Unit* u = need_service();
      if (u == nullptr) return;
      int i = u->machine.index();
      if (graph_.nodes[i].broken) {
        session.finish(Code::Failed, name + " cannot start: " + graph_.nodes[i].broken_reason + "\n");
        return;
      }
      if (stopping_all_) {
        session.finish(Code::Failed, "the system is shutting down\n");
        return;
      }
      if (request.verb == Verb::Restart) {
        u->down_requested = false;
        request_start(i);
        u->machine.restart();
      } else {
        request_start(i);
      }
      session.finish(Code::Ok, "");
      return;
    }
    case Verb::Stop: {
      Unit* u = need_service();
      if (u == nullptr) return;
      request_stop(u->machine.index());
      session.finish(Code::Ok, "");
      return;
    }
    case Verb::Signal: {
      Unit* u = need_service();
      if (u == nullptr) return;
      if (request.args.size() != 2) {
        session.finish(Code::BadRequest, "usage: signal SERVICE SIGNAL\n");
        return;
      }
      std::optional<int> signo = signals::parse(request.args[1]);
      if (!signo) {
        session.finish(Code::BadRequest, "unknown signal '" + request.args[1] + "'\n");
        return;
      }
      if (u->machine.pid() <= 0) {
        session.finish(Code::Failed, name + " has no running process\n");
        return;
      }
      if (u->signal_main(*signo) != 0) {
        session.finish(Code::Failed, std::string("kill: ") + std::strerror(errno) + "\n");
        return;
      }
      session.finish(Code::Ok, "");
      return;
    }
    case Verb::Log: {
      Unit* u = need_service();
      if (u == nullptr) return;
      std::string out;
      if (u->log) u->log->tail(request.lines, out);
      bool follow = (request.flags & control::kFlagFollow) != 0;
      if (!follow) {
        session.finish(Code::Ok, out);
        return;
      }
      if (!u->log) {
        u->log = std::make_unique<ServiceLog>(u->config.name, u->config.log, &log_writer_, &container_output_);
      }
      if (!out.empty()) session.send(out);
      auto f = std::make_unique<Follower>(session, *u->log);
      // Room first: a follower the log knows of must be one keel keeps.
      followers_.reserve(followers_.size() + 1);
      if (!u->log->add_follower(*f)) {
        session.finish(Code::Failed, "too many followers of " + name + "'s log\n");
        return;
      }
      followers_.push_back(std::move(f));
      return;  // answered as lines come, until the client goes away
    }
    case Verb::Wait: {
      Unit* u = need_service();
      if (u == nullptr) return;
      if (u->machine.is_ready()) {
        session.finish(Code::Ok, "");
        return;
      }
      if (u->machine.state() == State::Failed) {
        session.finish(Code::Failed, name + " failed: " + u->machine.last_error() + "\n");
        return;
      }
      // A built-in milestone (rng-ready) runs only when something requires
      // it; waiting for it is asking for it, so the wait starts it (a wait
      // for anything else starts nothing: its goal is the operator's).
      if (u->config.file == kBuiltinFile && !u->machine.goal_up() && !stopping_all_) {
        request_start(u->machine.index());
      }
      auto w = std::make_unique<Waiter>(*this, session, name);
      if (request.timeout_ms > 0) w->timer.arm_after(static_cast<std::int64_t>(request.timeout_ms) * 1'000'000);
      waiters_.push_back(std::move(w));
      return;
    }
    case Verb::Reload: {
      if (name.empty()) {
        request_reload(&session, (request.flags & control::kFlagDryRun) != 0);
        return;  // answered when the files are loaded
      }
      Unit* u = need_service();
      if (u == nullptr) return;
      reload_service(*u, session);
      return;
    }
    case Verb::Events: follow_events(request, session); return;
    case Verb::Poweroff:
    case Verb::Reboot:
    case Verb::Halt: {
      ExitAction action = request.verb == Verb::Poweroff ? ExitAction::Poweroff
                          : request.verb == Verb::Reboot ? ExitAction::Reboot
                                                         : ExitAction::Halt;
      session.finish(Code::Ok, "");
      power_.request_power(action, 0);
      return;
    }
  }
  session.finish(Code::BadRequest, "unknown request\n");
}

void Supervisor::session_closed(control::Session& session) noexcept {
  std::erase(reload_waiting_, &session);
  std::erase(reload_next_, &session);
  std::erase(dry_waiting_, &session);
  std::erase(dry_next_, &session);
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if ((*it)->session == &session || (*it)->session == nullptr) {
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = event_followers_.begin(); it != event_followers_.end();) {
    if ((*it)->session == &session || (*it)->session == nullptr) {
      event_record().remove_follower(**it);
      it = event_followers_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = followers_.begin(); it != followers_.end();) {
    Follower& f = **it;
    if (f.session == &session || f.session == nullptr) {
      if (f.log != nullptr) f.log->remove_follower(f);
      it = followers_.erase(it);
    } else {
      ++it;
    }
  }
}

// ---------------------------------------------------------------- reload

// A dry run joins the loads exactly as a reload does (the one under way
// answers it, or the next one); a load asked for by dry runs only applies
// nothing.
void Supervisor::request_reload(control::Session* session, bool dry_run) noexcept {
  if (reload_loading_) {
    reload_again_ = true;
    if (!dry_run) apply_again_ = true;
    if (session != nullptr) {
      try {
        (dry_run ? dry_next_ : reload_next_).push_back(session);
      } catch (const std::bad_alloc&) {
        session->finish(control::Code::Failed, "out of memory: try again\n");
      }
    }
    return;
  }
  if (session != nullptr) {
    try {
      (dry_run ? dry_waiting_ : reload_waiting_).push_back(session);
    } catch (const std::bad_alloc&) {
      session->finish(control::Code::Failed, "out of memory: try again\n");
      return;
    }
  }
  apply_now_ = !dry_run;
  begin_reload();
}

void Supervisor::begin_reload() noexcept {
  reload_loading_ = true;
  // The hooks may answer before returning (a loader that could not start).
  if (power_.load_services()) return;
  try {
    LoadResult loaded = load_service_dir(settings_.services_dir, settings_.users);
    mark_python_programs(loaded, settings_.config_dir);
    reload_loaded(std::move(loaded));
  } catch (const std::bad_alloc&) {
    oom::dropped("the reload (nothing changed)");
    finish_reload(control::Code::Failed, "out of memory: nothing changed\n");
  }
}

void Supervisor::reload_loaded(LoadResult loaded) noexcept {
  // The dry runs first: their plan is made against the services as they
  // are, before a reload in the same load changes them. They take the
  // files (`consume`) when nothing is applied, else a copy.
  auto answer_dry_runs = [&](bool consume) noexcept {
    if (dry_waiting_.empty()) return;
    std::vector<control::Session*> dry;
    dry.swap(dry_waiting_);
    try {
      bool has_errors = false;
      const std::string text = dry_reload(consume ? std::move(loaded) : loaded, has_errors);
      for (control::Session* s : dry) s->finish(has_errors ? control::Code::Failed : control::Code::Ok, text);
    } catch (const std::bad_alloc&) {
      for (control::Session* s : dry) s->finish(control::Code::Failed, "out of memory: try again\n");
    }
  };
  if (!apply_now_) {
    answer_dry_runs(true);
    finish_reload(control::Code::Ok, "");
    return;
  }
  answer_dry_runs(false);
  try {
    std::string summary = reload(std::move(loaded));
    log::msg(log::Level::Info, "%.*s", static_cast<int>(summary.find('\n')), summary.c_str());
    finish_reload(control::Code::Ok, summary);
  } catch (const std::bad_alloc&) {
    oom::dropped("the reload (nothing changed)");
    finish_reload(control::Code::Failed, "out of memory: nothing changed\n");
  }
}

void Supervisor::reload_failed(const char* problem) noexcept {
  log::msg(log::Level::Error, "reload: %s; every service keeps its definition", problem);
  event_record().begin("reload").list_begin("added").list_end().list_begin("removed").list_end().list_begin("restarted")
      .list_end().num("errors", 1).commit();
  char text[512];
  std::snprintf(text, sizeof text, "reload failed: %s; every service keeps its definition\n", problem);
  finish_reload(control::Code::Failed, text);
}

// Answers the keelctl sessions that waited for this load, then starts the
// next one if a reload or a dry run was asked for meanwhile.
void Supervisor::finish_reload(control::Code code, std::string_view text) noexcept {
  std::vector<control::Session*> done;
  done.swap(reload_waiting_);
  for (control::Session* s : done) s->finish(code, text);
  done.clear();
  done.swap(dry_waiting_);  // only when the load failed: else answered already
  for (control::Session* s : done) s->finish(code, text);
  reload_loading_ = false;
  if (!reload_again_) {
    apply_now_ = true;  // a load handed in directly (reload_loaded) is applied
    return;
  }
  reload_again_ = false;
  apply_now_ = std::exchange(apply_again_, false);
  reload_waiting_.swap(reload_next_);
  dry_waiting_.swap(dry_next_);
  begin_reload();
}

std::string Supervisor::reload() {
  LoadResult loaded = load_service_dir(settings_.services_dir, settings_.users);
  mark_python_programs(loaded, settings_.config_dir);
  return reload(std::move(loaded));
}

// What a reload of `loaded` would do, decided before anything changes: the
// real reload applies exactly this, and `keelctl reload --dry-run` reports
// it (dry_reload), so the two cannot drift apart. `loaded` has had
// add_launcher_shorthand. May throw std::bad_alloc only.
Supervisor::ReloadPlan Supervisor::plan_reload(const LoadResult& loaded) {
  ReloadPlan plan;
  // A file that fails to load keeps the service's old definition.
  for (const ConfigError& e : loaded.errors) {
    std::string stem = e.file.substr(e.file.rfind('/') + 1);
    if (stem.ends_with(".toml")) stem.resize(stem.size() - 5);
    plan.failed_names.push_back(stem);
    plan.lines += e.text() + "\n";
  }
  for (const std::string& stem : plan.failed_names) {
    if (find(stem) != nullptr) plan.lines += stem + ": kept the old definition\n";
  }
  std::sort(plan.failed_names.begin(), plan.failed_names.end());
  plan.failed_names.erase(std::unique(plan.failed_names.begin(), plan.failed_names.end()), plan.failed_names.end());
  plan.kept = static_cast<int>(std::count_if(plan.failed_names.begin(), plan.failed_names.end(),
                                             [&](const std::string& n) { return find(n) != nullptr; }));
  for (auto& u : units_) {
    if (u->removed) continue;
    bool present = std::any_of(loaded.services.begin(), loaded.services.end(),
                               [&](const ServiceConfig& c) { return c.name == u->config.name; });
    bool broken_file = std::binary_search(plan.failed_names.begin(), plan.failed_names.end(), u->config.name);
    if (!present && !broken_file) {
      plan.leaving.push_back(u.get());
      plan.lines += u->config.name + ": removed\n";
    }
  }
  for (std::size_t i = 0; i < loaded.services.size(); ++i) {
    const ServiceConfig& c = loaded.services[i];
    // The launcher shorthand's source is its program: a new program is a
    // changed service.
    Unit* u = find(c.name);
    if (u == nullptr) {
      plan.lines += c.name + ": added\n";
      plan.added.push_back(i);
      continue;
    }
    if (u->config.source == c.source) continue;
    plan.lines += c.name + ": changed\n";
    plan.changes.push_back(ReloadPlan::Change{u, i, false});
  }
  std::vector<ServiceConfig> configs;
  configs.reserve(units_.size() + plan.added.size());
  for (auto& u : units_) {
    const ServiceConfig* config = &u->config;
    for (const ReloadPlan::Change& ch : plan.changes) {
      if (ch.unit == u.get()) config = &loaded.services[ch.index];
    }
    bool going = u->removed || std::find(plan.leaving.begin(), plan.leaving.end(), u.get()) != plan.leaving.end();
    add_node_config(configs, *config, going);
  }
  for (std::size_t i : plan.added) add_node_config(configs, loaded.services[i], false);
  plan.graph = build_graph(configs);
  // A changed service that is up is restarted on its new definition,
  // unless keel is stopping everything or it cannot start (then it is
  // marked failed); any other change is taken in place, for its next start.
  for (ReloadPlan::Change& ch : plan.changes) {
    const auto at = static_cast<std::size_t>(std::find_if(units_.begin(), units_.end(), [&](const auto& u) {
                                               return u.get() == ch.unit;
                                             }) - units_.begin());
    ch.restart = ch.unit->machine.goal_up() && !stopping_all_ && !plan.graph.nodes[at].broken;
  }
  return plan;
}

std::string Supervisor::reload(LoadResult loaded) {
  open_control();  // checks the run directory again; opens the control socket if it failed at start
  add_launcher_shorthand(loaded.services, loaded.main_python);
  // Everything that can fail happens first, aside: which units go, the new
  // units, the changed configs, the new graph, the reply. Only then is the
  // state changed, by steps that cannot fail, so an allocation failure
  // leaves the services exactly as they were.
  ReloadPlan plan = plan_reload(loaded);
  std::vector<ConfigError> errors = std::move(loaded.errors);
  std::vector<std::unique_ptr<Unit>> fresh;
  fresh.reserve(plan.added.size());
  for (std::size_t i : plan.added) fresh.push_back(std::make_unique<Unit>(*this, std::move(loaded.services[i])));
  std::string head = "reloaded: " + std::to_string(plan.added.size()) + " added, " +
                     std::to_string(plan.changes.size()) + " changed, " + std::to_string(plan.leaving.size()) +
                     " removed";
  if (plan.kept > 0) head += ", " + std::to_string(plan.kept) + " kept (bad file)";
  head += "\n";
  head += plan.lines;
  std::vector<int> to_start, to_restart;
  to_start.reserve(fresh.size());
  to_restart.reserve(plan.changes.size());
  units_.reserve(units_.size() + fresh.size());

  // ---- From here on nothing can fail (the one exception is said below).
  log_config_errors(errors);
  file_errors_.swap(errors);
  for (Unit* u : plan.leaving) {
    u->removed = true;
    u->down_requested = true;
  }
  for (const ReloadPlan::Change& ch : plan.changes) {
    Unit* u = ch.unit;
    ServiceConfig& config = loaded.services[ch.index];
    if (u->log) {
      try {
        u->log->reconfigure(config.log);  // changes nothing when it throws
      } catch (const std::bad_alloc&) {
        oom::dropped("a changed service's new log settings (it keeps the old ones)");
      }
    }
    // The machine borrows the config: replace it in place while the unit
    // keeps its state, then restart a running service on the new one.
    u->config = std::move(config);
    u->machine.rebind(u->config);
    stop_listening(*u);  // watched again from the new [[socket]]s, or launched
    if (ch.restart) to_restart.push_back(u->machine.index());
  }
  const std::size_t first_fresh = units_.size();
  for (auto& u : fresh) {
    // A built-in one comes up only for what requires it, as at boot (it is
    // new here only when the boot's loading failed).
    if (u->config.file != kBuiltinFile) to_start.push_back(static_cast<int>(units_.size()));
    units_.push_back(std::move(u));  // within the reserved capacity
  }
  install_graph(std::move(plan.graph));
  if (!stopping_all_) {
    for (int i : to_start) request_start(i);
    for (int i : to_restart) {
      request_start(i);
      units_[i]->machine.restart();
    }
  }
  // Before schedule(): the removed units are still there to be named.
  EventRecord& event = event_record().begin("reload").list_begin("added");
  for (std::size_t i = first_fresh; i < units_.size(); ++i) event.item(units_[i]->config.name);
  event.list_end().list_begin("removed");
  for (Unit* u : plan.leaving) event.item(u->config.name);
  event.list_end().list_begin("restarted");
  for (int i : to_restart) {
    if (!graph_.nodes[i].broken && !stopping_all_) event.item(units_[i]->config.name);
  }
  event.list_end().num("errors", static_cast<long long>(file_errors_.size())).commit();
  schedule();
  return head;
}

// `keelctl reload --dry-run`: plan_reload's answer in words, nothing
// applied (no unit added, stopped or reconfigured; the control socket and
// the run directory are not touched).
std::string Supervisor::dry_reload(LoadResult loaded, bool& has_errors) {
  add_launcher_shorthand(loaded.services, loaded.main_python);
  const ReloadPlan plan = plan_reload(loaded);
  has_errors = !loaded.errors.empty();
  std::string out = "dry run: a reload would add " + std::to_string(plan.added.size()) + ", change " +
                    std::to_string(plan.changes.size()) + ", remove " + std::to_string(plan.leaving.size());
  if (plan.kept > 0) out += ", keep " + std::to_string(plan.kept) + " (bad file)";
  out += "; " + std::to_string(loaded.errors.size()) + (loaded.errors.size() == 1 ? " error\n" : " errors\n");
  for (const ConfigError& e : loaded.errors) out += "error: " + e.text() + "\n";
  for (const std::string& stem : plan.failed_names) {
    if (find(stem) != nullptr) out += stem + ": kept: its file has errors, the old definition stays\n";
  }
  const std::size_t units = units_.size();
  for (Unit* u : plan.leaving) {
    out += u->config.name + ": removed: " + (u->machine.goal_up() ? "stopped" : "forgotten (not running)") + "\n";
  }
  for (std::size_t k = 0; k < plan.added.size(); ++k) {
    const ServiceConfig& c = loaded.services[plan.added[k]];
    const GraphNode& node = plan.graph.nodes[units + k];
    out += c.name + ": added: ";
    if (node.broken) {
      out += "marked failed: " + node.broken_reason;
    } else if (c.file == kBuiltinFile) {
      out += "started when something requires it";
    } else {
      out += stopping_all_ ? "not started (keel is stopping)" : "started";
    }
    out += "\n";
  }
  for (std::size_t i = 0; i < units; ++i) {
    Unit& u = *units_[i];
    const ReloadPlan::Change* ch = nullptr;
    for (const ReloadPlan::Change& c : plan.changes) {
      if (c.unit == &u) ch = &c;
    }
    const GraphNode& node = plan.graph.nodes[i];
    if (ch == nullptr) {
      // Unchanged, but a requirement went away (or a cycle came).
      const bool leaving = std::find(plan.leaving.begin(), plan.leaving.end(), &u) != plan.leaving.end();
      if (!leaving && !u.removed && node.broken && u.machine.state() != State::Failed) {
        out += u.config.name + ": unchanged: marked failed: " + node.broken_reason + "\n";
      }
      continue;
    }
    const std::vector<std::string> keys = changed_keys(u.config, loaded.services[ch->index]);
    std::string why;
    for (const std::string& k : keys) why += (why.empty() ? "" : ", ") + k;
    if (why.empty()) why = "no setting: the file's text";
    out += u.config.name + ": changed (" + why + "): ";
    if (ch->restart) {
      out += "restarted";
    } else if (node.broken) {
      out += "marked failed: " + node.broken_reason;
    } else if (stopping_all_) {
      out += "applied in place (keel is stopping)";
    } else {
      out += "applied in place (not running: used at its next start)";
    }
    out += "\n";
  }
  return out;
}

// ---------------------------------------------------------------- sd_notify: watchdog, timeouts, reload (issue 12)
//
// What a service says about itself beyond readiness (docs/services.md,
// "sd_notify: what keel acts on"). Every handler here runs from the notify
// socket's fd handler or a timer: nothing allocates.

void Supervisor::Unit::watchdog_begin_run() noexcept {
  reloading = false;
  reload_reported = false;
  stopping_notified = false;
  watchdog_ns = config.watchdog_ns;
  // The first ping is due one period after the exec, as with systemd.
  if (watchdog_ns > 0) watchdog_timer.arm_after(watchdog_ns);
}

void Supervisor::Unit::watchdog_end_run() noexcept {
  watchdog_timer.disarm();
  watchdog_ns = 0;
  reloading = false;
  reload_reported = false;
  stopping_notified = false;
}

void Supervisor::Unit::watchdog_expired(const char* why) noexcept {
  const State s = machine.state();
  if (s != State::Starting && s != State::Running) return;
  watchdog_timer.disarm();
  if (log) log->flush();
  log::msg(log::Level::Error, "%s: watchdog timeout (%s, period %lld ms): SIGABRT, then the stop sequence",
           config.name.c_str(), why, static_cast<long long>(watchdog_ns / 1'000'000));
  machine.watchdog_timeout(why);
  sup.schedule();
}

void Supervisor::Unit::notify_watchdog() noexcept {
  const State s = machine.state();
  if ((s == State::Starting || s == State::Running) && watchdog_ns > 0) watchdog_timer.arm_after(watchdog_ns);
}

void Supervisor::Unit::notify_watchdog_trigger() noexcept { watchdog_expired("WATCHDOG=trigger"); }

void Supervisor::Unit::notify_watchdog_usec(std::uint64_t usec) noexcept {
  const State s = machine.state();
  if (s != State::Starting && s != State::Running) return;
  // For this run only, as systemd's override: the next start goes back to
  // the service file's period. Bounded by the parser (limits.hpp).
  watchdog_ns = static_cast<std::int64_t>(usec) * 1000;
  watchdog_timer.arm_after(watchdog_ns);
  log::msg(log::Level::Info, "%s: watchdog period is now %lld ms", config.name.c_str(),
           static_cast<long long>(watchdog_ns / 1'000'000));
}

void Supervisor::Unit::notify_extend_timeout(std::uint64_t usec) noexcept {
  // systemd's rule: the timeout in force is pushed so that it does not
  // expire within `usec` from now; it never shortens. It applies to the
  // start timeout (starting), the stop timeout (stopping, before SIGKILL)
  // and a reload's bound (keelctl reload SERVICE). keel has no runtime
  // limit (RuntimeMaxSec=), so a running service has nothing to extend.
  const auto extend_ns = static_cast<std::int64_t>(usec) * 1000;
  const std::int64_t until = monotonic_ns() + extend_ns;
  const State s = machine.state();
  if ((s == State::Starting || (s == State::Stopping && !machine.killing())) && timer.armed() &&
      timer.deadline_ns() < until) {
    timer.arm_after(extend_ns);
  }
  if (s == State::Running && reloading) {
    for (auto& w : sup.waiters_) {
      if (w->reload && w->session != nullptr && w->name == config.name && w->timer.armed() &&
          w->timer.deadline_ns() < until) {
        w->timer.arm_after(extend_ns);
      }
    }
  }
}

void Supervisor::Unit::notify_stopping() noexcept {
  // Shown in status until the run ends. The exit that follows is judged as
  // any exit is: 0 is not a failure (restart = "on-failure" leaves it
  // done; "always" restarts it, as systemd does), anything else is.
  if (machine.state() != State::Running && machine.state() != State::Starting) return;
  if (!stopping_notified) log::msg(log::Level::Info, "%s: says it is stopping", config.name.c_str());
  stopping_notified = true;
}

void Supervisor::Unit::notify_reloading() noexcept {
  if (machine.state() != State::Running) return;
  if (!reload_reported) log::msg(log::Level::Info, "%s: reloading", config.name.c_str());
  reloading = true;
  reload_reported = true;
  for (auto& w : sup.waiters_) {
    if (w->reload && w->session != nullptr && w->name == config.name) w->seen_reloading = true;
  }
}

void Supervisor::Unit::reload_done() noexcept {
  // A keelctl reload waiting for the cycle is answered when it saw
  // RELOADING=1 first.
  reloading = false;
  reload_reported = false;
  log::msg(log::Level::Info, "%s: reloaded", config.name.c_str());
  for (auto& w : sup.waiters_) {
    if (w->reload && w->seen_reloading && w->session != nullptr && w->name == config.name) {
      w->timer.disarm();
      w->session->finish(control::Code::Ok, w->ok_text);
      w->session = nullptr;
    }
  }
}

void Supervisor::Unit::notify_monotonic_usec(std::uint64_t usec) noexcept {
  // Sent with RELOADING=1: when the service began its reload. keel needs no
  // clock of the service's; it is only logged.
  if (reloading) {
    log::msg(log::Level::Debug, "%s: reload began at %llu us (CLOCK_MONOTONIC)", config.name.c_str(),
             static_cast<unsigned long long>(usec));
  }
}

void Supervisor::Unit::notify_errno(int error) noexcept { service_errno = error; }

void Supervisor::finish_reload_waiters(Unit& u, control::Code code, const char* why) noexcept {
  for (auto& w : waiters_) {
    if (!w->reload || w->session == nullptr || w->name != u.config.name) continue;
    w->timer.disarm();
    if (code == control::Code::Ok) {
      w->session->finish(code, w->ok_text);
    } else {
      char text[256];
      std::snprintf(text, sizeof text, "%s %s\n", u.config.name.c_str(), why);
      w->session->finish(code, text);
    }
    w->session = nullptr;
  }
}

void Supervisor::reload_service(Unit& u, control::Session& session) {
  using control::Code;
  const std::string& name = u.config.name;
  if (stopping_all_) {
    session.finish(Code::Failed, "the system is shutting down\n");
    return;
  }
  const int i = u.machine.index();
  if (u.config.reload_signal == 0) {
    // Nothing to tell it: a restart is the reload, answered when it is
    // ready again (or failed), within its stop and start timeouts.
    if (graph_.nodes[i].broken) {
      session.finish(Code::Failed, name + " cannot start: " + graph_.nodes[i].broken_reason + "\n");
      return;
    }
    auto w = std::make_unique<Waiter>(*this, session, name);
    w->ok_text = name + " has no reload_signal: restarted\n";
    waiters_.reserve(waiters_.size() + 1);
    u.down_requested = false;
    request_start(i);
    u.machine.restart();
    if (u.config.start_timeout_ns > 0) w->timer.arm_after(u.config.stop_timeout_ns + u.config.start_timeout_ns);
    waiters_.push_back(std::move(w));  // within the reserved capacity
    if (u.machine.is_ready()) finish_waiters(u, false);
    return;
  }
  if (u.machine.state() != State::Running || u.machine.pid() <= 0) {
    session.finish(Code::Failed, name + " is not running (" + state_name(u.machine.state()) + ")\n");
    return;
  }
  std::string sent = std::string("sent ") + signals::name(u.config.reload_signal);
  if (u.config.type != Type::Notify) {
    if (u.signal_main(u.config.reload_signal) != 0) {
      session.finish(Code::Failed, name + ": " + sent + " failed: " + std::strerror(errno) + "\n");
      return;
    }
    // Nothing says when a plain daemon is done reloading.
    session.finish(Code::Ok, name + ": " + sent + "\n");
    return;
  }
  auto w = std::make_unique<Waiter>(*this, session, name);
  w->reload = true;
  w->ok_text = name + ": reloaded\n";
  waiters_.reserve(waiters_.size() + 1);
  if (u.signal_main(u.config.reload_signal) != 0) {
    session.finish(Code::Failed, name + ": " + sent + " failed: " + std::strerror(errno) + "\n");
    return;
  }
  log::msg(log::Level::Info, "%s: %s for a reload", name.c_str(), sent.c_str());
  u.reloading = true;
  if (u.config.start_timeout_ns > 0) w->timer.arm_after(u.config.start_timeout_ns);
  waiters_.push_back(std::move(w));  // within the reserved capacity
}

// ---- Start on the first connection (issue 12)

// The unit's sockets made (or kept) and watched instead of a launch. In
// the scheduling pass: opening them allocates, like a launch does.
bool Supervisor::listen_for_connection(Unit& u) noexcept {
  std::string problem;
  try {
    problem = u.sockets.open(u.config.sockets);
  } catch (const std::bad_alloc&) {
    oom::dropped("a service's sockets");
    return false;
  }
  if (!problem.empty()) {
    log::msg(log::Level::Error, "%s: %s", u.config.name.c_str(), problem.c_str());
    return false;
  }
  for (int fd : u.sockets.fds()) {
    if (Status s = loop_.add(fd, EPOLLIN, u.connection_watch); !s) {
      log::msg(log::Level::Error, "%s: cannot watch its socket: %s: %s (started now instead)", u.config.name.c_str(),
               s.error().context, std::strerror(s.error().code));
      stop_listening(u);
      return false;
    }
    ++u.watched_sockets;
  }
  u.listening = true;
  // Waiting for a connection is where it should be, not a late start.
  u.unhealthy_from_ns = 0;
  log::msg(log::Level::Info, "%s: listening (started on the first connection)", u.config.name.c_str());
  finish_waiters(u, false);
  return true;
}

void Supervisor::stop_listening(Unit& u) noexcept {
  const std::vector<int>& fds = u.sockets.fds();
  for (int i = 0; i < u.watched_sockets && i < static_cast<int>(fds.size()); ++i) {
    loop_.remove(fds[i], u.connection_watch);
  }
  u.watched_sockets = 0;
  u.listening = false;
}

// A connection or a datagram is queued on one of its sockets: launch it
// (in the scheduling pass, under the launch bound), leaving it queued for
// the service.
void Supervisor::connection_arrived(Unit& u) noexcept {
  if (!u.listening) return;
  stop_listening(u);
  u.connection_seen = true;
  log::msg(log::Level::Info, "%s: a connection: starting", u.config.name.c_str());
  schedule();
}

// ---------------------------------------------------------------- the fd store

std::size_t Supervisor::Unit::notify_fd_store(std::string_view name, const int* fds, std::size_t count) noexcept {
  const char* service = config.name.c_str();
  if (down_requested) {
    log::msg(log::Level::Warn, "%s: %zu fd(s) named \"%.*s\" not stored: the service is being stopped", service, count,
             static_cast<int>(name.size()), name.data());
    return 0;
  }
  const std::size_t max = std::min(config.fd_store_max, fd_store.capacity());
  std::size_t kept = 0;
  while (kept < count && fd_store.size() < max) {
    StoredFd& f = fd_store.emplace_back();  // within the reserved capacity: no allocation
    f.fd = fds[kept];
    std::memcpy(f.name, name.data(), name.size());
    f.name[name.size()] = '\0';
    ++kept;
  }
  if (kept < count) {
    log::msg(log::Level::Warn, "%s: %zu fd(s) named \"%.*s\" closed: the fd store is full (fd_store_max = %zu)",
             service, count - kept, static_cast<int>(name.size()), name.data(), config.fd_store_max);
  }
  if (kept > 0) {
    log::msg(log::Level::Info, "%s: stored %zu fd(s) named \"%.*s\" (%zu in the fd store)", service, kept,
             static_cast<int>(name.size()), name.data(), fd_store.size());
  }
  return kept;
}

void Supervisor::Unit::notify_fd_store_remove(std::string_view name) noexcept {
  std::size_t removed_count = 0;
  std::erase_if(fd_store, [&](const StoredFd& f) {
    if (name != f.name) return false;
    ::close(f.fd);
    ++removed_count;
    return true;
  });
  if (removed_count > 0) {
    log::msg(log::Level::Info, "%s: removed %zu fd(s) named \"%.*s\" from the fd store", config.name.c_str(),
             removed_count, static_cast<int>(name.size()), name.data());
  }
}

void Supervisor::Unit::notify_fds_closed(std::size_t count, const char* why) noexcept {
  log::msg(log::Level::Warn, "%s: %zu fd(s) sent with a notify message closed: %s", config.name.c_str(), count, why);
}

void Supervisor::Unit::close_fd_store() noexcept {
  for (const StoredFd& f : fd_store) ::close(f.fd);
  fd_store.clear();
}

}  // namespace keel::service
