#include "service/supervisor.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <new>

#include "core/log.hpp"
#include "core/reaper.hpp"
#include "core/signals.hpp"
#include "service/builtin.hpp"
#include "service/exec_plan.hpp"
#include "service/notify.hpp"
#include "service/service_log.hpp"
#include "service/tree_tracker.hpp"

namespace keel::service {

namespace {

// A fingerprint of a service file's bytes (FNV-1a), to tell at reload
// whether it changed without keeping every file's text in PID 1's memory.
std::uint64_t file_fingerprint(const std::string& path) noexcept {
  std::uint64_t h = 1469598103934665603ULL;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(buf[i])) * 1099511628211ULL;
  }
  ::close(fd);
  return h;
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
// machine borrows); the source text is kept to tell, at reload, whether the
// file changed.
struct Supervisor::Unit final : NotifyTarget, TimerHandler {
  Unit(Supervisor& s, ServiceConfig c, std::uint64_t fingerprint)
      : sup(s), config(std::move(c)), source(fingerprint), machine(s, config, 0), timer(s.loop_, *this) {}

  void on_timer() noexcept override {
    machine.timer_fired();
    sup.schedule();
  }
  void notify_ready() noexcept override {
    machine.ready();
    sup.schedule();
  }
  void notify_status(std::string_view text) noexcept override {
    std::size_t n = std::min(text.size(), sizeof status - 1);
    std::memcpy(status, text.data(), n);
    status[n] = '\0';
  }
  void notify_stopping() noexcept override {
    log::msg(log::Level::Debug, "%s: says it is stopping", config.name.c_str());
  }
  void notify_main_pid(pid_t pid) noexcept override {
    log::msg(log::Level::Info, "%s: main pid is now %d", config.name.c_str(), static_cast<int>(pid));
    machine.set_main_pid(pid);
  }

  Supervisor& sup;
  ServiceConfig config;
  std::uint64_t source;  // file_fingerprint() of its file
  ServiceMachine machine;
  Timer timer;
  std::unique_ptr<ServiceLog> log;
  ServiceCgroup cgroup;
  bool in_cgroup = false;
  NotifySocket notify;
  ReadyPipe ready_pipe;
  pid_t pgid = -1;          // the launched process's group (it leads a new session)
  bool down_requested = false;  // stop once everything ordered after it is down
  bool removed = false;         // gone from the files: stop, then forget
  bool on_exit_done = false;    // on_exit acted on for this run
  std::string pending_config;   // a changed definition to apply once stopped
  char status[128] = {};        // the last STATUS= from sd_notify
};

// A `keelctl wait SERVICE --ready` waiting for its answer.
struct Supervisor::Waiter final : TimerHandler {
  Waiter(Supervisor& s, control::Session& sess, std::string n) : sup(s), session(&sess), name(std::move(n)), timer(s.loop_, *this) {}
  void on_timer() noexcept override {
    if (session != nullptr) session->finish(control::Code::Timeout, "timed out waiting for " + name + " to be ready\n");
    session = nullptr;
  }
  Supervisor& sup;
  control::Session* session;
  std::string name;
  Timer timer;
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

Supervisor::Supervisor(EventLoop& loop, SupervisorHooks& hooks, SupervisorSettings settings)
    : loop_(loop), power_(hooks), settings_(std::move(settings)) {
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
  for (const ConfigError& e : errors) log::msg(log::Level::Error, "%s", e.text().c_str());
}

// CONFIG_DIR/main, an executable, is shorthand for a service "main" that
// runs it on the console and powers off when it ends: the seed's launcher,
// with no service file to write.
void Supervisor::add_launcher_shorthand(std::vector<ServiceConfig>& configs) {
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
  if (::access(path.c_str(), F_OK) != 0) return;
  for (const ServiceConfig& c : configs) {
    if (c.name == "main") return;  // an explicit main.toml wins
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
  configs.push_back(std::move(c));
}

void Supervisor::start() {
  if (!settings_.cgroup_root.empty()) {
    Status s = cgroups_.init(settings_.cgroup_root.c_str());
    if (s) {
      log::msg(log::Level::Info, "services get cgroups under %s (controllers: %s)", settings_.cgroup_root.c_str(),
               cgroups_.controllers().empty() ? "none" : cgroups_.controllers().c_str());
    } else {
      log::msg(log::Level::Warn, "no cgroups for services (%s: %s: %s); tracking process groups instead",
               settings_.cgroup_root.c_str(), s.error().context, s.error().message());
    }
  }
  ::mkdir(settings_.run_dir.c_str(), 0755);
  std::string notify_dir = settings_.run_dir + "/notify";
  ::mkdir(notify_dir.c_str(), 0755);
  if (!settings_.control_socket.empty()) {
    Status s = control_.open(loop_, settings_.control_socket.c_str(), settings_.control_group, *this);
    if (!s) {
      log::msg(log::Level::Error, "control socket %s: %s: %s (keelctl will not work)",
               settings_.control_socket.c_str(), s.error().context, s.error().message());
    }
  }
  load_initial();
}

void Supervisor::load_initial() {
  LoadResult loaded = load_service_dir(settings_.services_dir, settings_.users);
  add_launcher_shorthand(loaded.services);
  for (ServiceConfig& c : settings_.extra_services) loaded.services.push_back(std::move(c));
  settings_.extra_services.clear();
  log_config_errors(loaded.errors);
  file_errors_ = std::move(loaded.errors);
  for (ServiceConfig& c : loaded.services) {
    std::uint64_t print = file_fingerprint(c.file);
    units_.push_back(std::make_unique<Unit>(*this, std::move(c), print));
  }
  rebuild_graph();
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
  std::vector<std::string> bad_files;
  for (const ConfigError& e : file_errors_) {
    if (std::find(bad_files.begin(), bad_files.end(), e.file) == bad_files.end()) bad_files.push_back(e.file);
  }
  log::msg(log::Level::Info, "%zu services loaded from %s, %zu files with errors; starting %zu", units_.size(),
           settings_.services_dir.c_str(), bad_files.size(), start.size());
  for (int i : start) request_start(i);
  schedule();
}

void Supervisor::rebuild_graph() {
  std::vector<ServiceConfig> configs;
  configs.reserve(units_.size());
  for (std::size_t i = 0; i < units_.size(); ++i) {
    units_[i]->machine.set_index(static_cast<int>(i));
    configs.push_back(units_[i]->config);
    if (units_[i]->removed) {  // no edges for a service on its way out
      configs.back().requires_.clear();
      configs.back().wants.clear();
      configs.back().after.clear();
      configs.back().before.clear();
    }
  }
  graph_ = build_graph(configs);
  log_config_errors(graph_.errors);
  for (std::size_t i = 0; i < units_.size(); ++i) {
    if (graph_.nodes[i].broken && units_[i]->machine.state() != State::Failed) {
      units_[i]->machine.mark_broken(graph_.nodes[i].broken_reason.c_str());
    }
  }
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
    for (std::size_t i = 0; i < units_.size(); ++i) {
      Unit& u = *units_[i];
      const GraphNode& node = graph_.nodes[i];
      if (u.down_requested) {
        // Stop only after everything that starts after it is down.
        bool blocked = false;
        for (int later : node.stop_after) {
          State s = units_[later]->machine.state();
          if (s == State::Starting || s == State::Running || s == State::Stopping ||
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
        if (!m.is_ready()) wait = true;
      }
      if (failed_dep != nullptr) {
        u.machine.dep_failed(failed_dep);
        continue;
      }
      for (int dep : node.order_after) {
        if (!units_[dep]->machine.settled()) wait = true;
      }
      if (!wait) u.machine.deps_settled();
    }
  } while (reschedule_);
  scheduling_ = false;
  collect_removed();
  report_start_if_settled();
  if (stopping_all_ && !all_stopped_reported_) {
    for (auto& u : units_) {
      State s = u->machine.state();
      if (s == State::Starting || s == State::Running || s == State::Stopping || u->machine.pid() >= 0) return;
    }
    all_stopped_reported_ = true;
    // Log files closed now: a file held open for writing would keep its
    // filesystem from being remounted read-only at shutdown.
    for (auto& u : units_) {
      if (u->log) u->log->close();
    }
    log::msg(log::Level::Info, "every service is stopped");
    power_.all_stopped();
  }
}

void Supervisor::report_start_if_settled() noexcept {
  if (start_reported_ || stopping_all_) return;
  StartSummary summary;
  for (const std::string& name : start_set_) {
    Unit* u = find(name);
    if (u == nullptr) continue;
    State s = u->machine.state();
    if (s == State::Waiting || s == State::Starting || s == State::Backoff || s == State::Stopping) return;
    if (s == State::Running || s == State::Done) ++summary.started;
    if (s == State::Failed) ++summary.failed;
  }
  start_reported_ = true;
  summary.target = start_target_;
  if (!start_target_.empty()) {
    Unit* t = find(start_target_);
    if (t != nullptr && t->machine.state() == State::Failed) {
      summary.target_failed = true;
      summary.reason = t->machine.last_error();
    }
  }
  try {
    power_.start_settled(summary);
  } catch (...) {
    // start_settled is noexcept; the copy of the summary is what could throw.
  }
}

void Supervisor::add_and_start(ServiceConfig config) {
  Unit* existing = find(config.name);
  if (existing == nullptr) {
    units_.push_back(std::make_unique<Unit>(*this, std::move(config), 0));
    rebuild_graph();
    existing = units_.back().get();
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
  for (auto& u : units_) {
    if (u->machine.pid() != pid) continue;
    if (u->log) u->log->flush();  // its last lines before the exit message
    if (WIFSIGNALED(wait_status)) {
      log::msg(log::Level::Info, "%s: pid %d killed by %s", u->config.name.c_str(), static_cast<int>(pid),
               signals::name(WTERMSIG(wait_status)));
    } else {
      log::msg(log::Level::Info, "%s: pid %d exited with status %d", u->config.name.c_str(), static_cast<int>(pid),
               WEXITSTATUS(wait_status));
    }
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
  try {
    for (auto it = units_.begin(); it != units_.end();) {
      Unit& u = **it;
      if (u.removed && u.machine.pid() < 0 &&
          (u.machine.state() == State::Stopped || u.machine.state() == State::Failed ||
           u.machine.state() == State::Done)) {
        log::msg(log::Level::Info, "%s: removed", u.config.name.c_str());
        for (auto& f : followers_) {
          if (f->log == u.log.get()) {
            if (f->session != nullptr) f->session->finish(control::Code::Ok, "");
            f->session = nullptr;
            f->log = nullptr;
          }
        }
        if (u.in_cgroup) cgroups_.remove(u.cgroup);
        it = units_.erase(it);
      } else {
        ++it;
      }
    }
    rebuild_graph();
  } catch (const std::bad_alloc&) {
    log::msg(log::Level::Error, "out of memory while removing services; will retry");
  }
}

// ---------------------------------------------------------------- Host

Result<pid_t> Supervisor::launch(ServiceMachine& machine) noexcept {
  Unit& u = *units_[machine.index()];
  const ServiceConfig& c = u.config;
  // A plan error is a sentence, not a step and an errno: it travels as the
  // Error's context (code 0), which the machine copies into its own
  // last_error at once, so one buffer serves every launch.
  static char error_text[200];
  // Whatever the outcome, keel keeps no fd of the launch it does not need
  // while the service runs: the log pipe's write end (the run has its own
  // copy) and the cgroup's fds (reopened by name when needed). A running
  // service then costs keel 1 fd, 2 with a readiness channel
  // (docs/system-mode.md, "Limits").
  struct LaunchFds {
    Unit& u;
    ~LaunchFds() {
      if (u.log) u.log->release_write_end();
      u.cgroup.close_fds();
    }
  } launch_fds{u};
  try {
    if (needs_log(c)) {
      if (!u.log) u.log = std::make_unique<ServiceLog>(c.name, c.log);
      Status s = u.log->open(loop_);
      if (!s) return launch_error(c, s.error());
    }
    ExecInputs in;
    in.config = &c;
    in.log_fd = u.log ? u.log->write_fd() : -1;
    in.console_fd = settings_.console_fd;
    in.passwd_path = settings_.users.passwd.c_str();
    in.extra_env.emplace_back("KEEL_SERVICE", c.name);
    if (cgroups_.ready()) {
      if (u.in_cgroup) cgroups_.remove(u.cgroup);
      Result<ServiceCgroup> cg = cgroups_.create(c.name, c.cgroup);
      if (cg) {
        u.cgroup = std::move(cg.value());
        u.in_cgroup = true;
        if (!u.cgroup.warning.empty()) log::msg(log::Level::Warn, "%s: %s", c.name.c_str(), u.cgroup.warning.c_str());
        in.cgroup_procs_fd = u.cgroup.procs_fd;
        in.cgroup_dir_fd = u.cgroup.dir_fd;
      } else {
        u.in_cgroup = false;
        log::msg(log::Level::Warn, "%s: no cgroup (%s: %s); tracking its process group", c.name.c_str(),
                 cg.error().context, cg.error().message());
      }
    }
    if (c.type == Type::Notify) {
      std::string path = settings_.run_dir + "/notify/" + c.name;
      Status s = u.notify.open(loop_, path.c_str(), u);
      if (!s) return launch_error(c, s.error());
      in.extra_env.emplace_back("NOTIFY_SOCKET", path);
    }
    if (c.type == Type::NotifyFd) {
      Status s = u.ready_pipe.open(loop_, u);
      if (!s) return launch_error(c, s.error());
      in.notify_pipe_write_fd = u.ready_pipe.write_fd();
    }
    ExecPlan plan;
    std::string error;
    if (!build_exec_plan(in, plan, error)) {
      u.ready_pipe.close();
      std::snprintf(error_text, sizeof error_text, "%s", error.c_str());
      return Error{0, error_text};
    }
    Result<pid_t> pid = spawn_service(plan);
    u.ready_pipe.close_write_end();
    if (!pid) {
      u.ready_pipe.close();
      u.notify.close();
      return launch_error(c, pid.error());
    }
    u.pgid = pid.value();
    u.status[0] = '\0';
    log::msg(log::Level::Info, "%s: started (pid %d)", c.name.c_str(), static_cast<int>(pid.value()));
    return pid;
  } catch (const std::bad_alloc&) {
    return Error{ENOMEM, "preparing the service"};
  }
}

void Supervisor::signal_tree(ServiceMachine& machine, int signo) noexcept {
  Unit& u = *units_[machine.index()];
  if (machine.pid() > 0) ::kill(machine.pid(), signo);  // MAINPID may live outside the group
  if (u.in_cgroup) {
    Status s = signo == SIGKILL ? kill_all(u.cgroup) : signal_all(u.cgroup, signo);
    if (s) return;
  }
  if (u.pgid > 0) (void)signal_process_group_and_adopted(u.pgid, u.config.name, signo);
}

bool Supervisor::tree_alive(ServiceMachine& machine) noexcept {
  Unit& u = *units_[machine.index()];
  if (u.in_cgroup) return populated(u.cgroup);
  if (u.pgid <= 0) return false;
  return service::tree_alive(u.pgid, u.config.name);
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

void Supervisor::state_changed(ServiceMachine& machine, State old_state) noexcept {
  Unit& u = *units_[machine.index()];
  State now = machine.state();
  const char* name = u.config.name.c_str();
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
    case State::Starting:
      log::msg(log::Level::Debug, "%s: %s", name, state_name(now));
      break;
  }
  // Leaving a run: its readiness channels and its cgroup go with it.
  if (now != State::Starting && now != State::Running && now != State::Stopping) {
    u.notify.close();
    u.ready_pipe.close();
    if (u.in_cgroup && !populated(u.cgroup)) {
      cgroups_.remove(u.cgroup);
      u.in_cgroup = false;
    }
    u.pgid = -1;
  }
  if (now == State::Running || now == State::Done) u.on_exit_done = false;
  // The service ended for good: act on on_exit (the launcher's power-off).
  if (machine.ended_for_good() && !stopping_all_ && !u.on_exit_done && u.config.on_exit != ExitAction::None &&
      (now == State::Done || now == State::Failed)) {
    u.on_exit_done = true;
    int code = machine.last_exit_status() >= 0 ? shell_exit_code(machine.last_exit_status()) : 1;
    if (now == State::Failed && code == 0) code = 1;
    power_.request_power(u.config.on_exit, code);
  }
  reschedule_ = true;
}

void Supervisor::finish_waiters(Unit& u, bool failed) noexcept {
  for (auto& w : waiters_) {
    if (w->session == nullptr || w->name != u.config.name) continue;
    w->timer.disarm();
    if (failed) {
      char text[256];
      std::snprintf(text, sizeof text, "%s failed: %s\n", u.config.name.c_str(), u.machine.last_error());
      w->session->finish(control::Code::Failed, text);
    } else {
      w->session->finish(control::Code::Ok, "");
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
  if (u.removed) st.state += " (removed)";
  st.pid = m.pid() > 0 ? m.pid() : 0;
  if (m.state() == State::Running || m.state() == State::Starting) st.uptime_ns = monotonic_ns() - m.started_at_ns();
  st.restarts = static_cast<std::uint32_t>(m.restarts());
  st.last_exit = describe_exit(m.last_exit_status());
  st.ready = m.is_ready();
  st.readiness = readiness_name(u.config.type);
  st.last_error = m.last_error();
  if (u.status[0] != '\0') {
    st.last_error += st.last_error.empty() ? "" : "; ";
    st.last_error += std::string("status: ") + u.status;
  }
  if (!u.pending_config.empty()) st.last_error += (st.last_error.empty() ? "" : "; ") + u.pending_config;
  st.log_dropped = u.log ? u.log->dropped_lines() : 0;
  return st;
}

void Supervisor::handle(const control::Request& request, control::Session& session) noexcept {
  // Waiters answered (ready, failed, timed out) are swept here, at the
  // next request: they cannot remove themselves from their own timer.
  std::erase_if(waiters_, [](const std::unique_ptr<Waiter>& w) { return w->session == nullptr; });
  try {
    handle_request(request, session);
  } catch (const std::bad_alloc&) {
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
      std::string text = json             ? control::format_status_json(list)
                         : name.empty()   ? control::format_status_table(list)
                                          : control::format_status_detail(list.front());
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
      if (::kill(u->machine.pid(), *signo) != 0) {
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
        u->log = std::make_unique<ServiceLog>(u->config.name, u->config.log);
      }
      if (!out.empty()) session.send(out);
      auto f = std::make_unique<Follower>(session, *u->log);
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
      auto w = std::make_unique<Waiter>(*this, session, name);
      if (request.timeout_ms > 0) w->timer.arm_after(static_cast<std::int64_t>(request.timeout_ms) * 1'000'000);
      waiters_.push_back(std::move(w));
      return;
    }
    case Verb::Reload: {
      std::string summary = reload();
      session.finish(Code::Ok, summary);
      return;
    }
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
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if ((*it)->session == &session || (*it)->session == nullptr) {
      it = waiters_.erase(it);
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

std::string Supervisor::reload() {
  LoadResult loaded = load_service_dir(settings_.services_dir, settings_.users);
  add_launcher_shorthand(loaded.services);
  std::string out;
  int added = 0, removed = 0, changed = 0, kept = 0;
  // A file that fails to load keeps the service's old definition.
  std::vector<std::string> failed_names;
  for (const ConfigError& e : loaded.errors) {
    std::string stem = e.file.substr(e.file.rfind('/') + 1);
    if (stem.ends_with(".toml")) stem.resize(stem.size() - 5);
    failed_names.push_back(stem);
    out += e.text() + "\n";
  }
  for (const std::string& stem : failed_names) {
    if (find(stem) != nullptr && std::count(failed_names.begin(), failed_names.end(), stem) >= 1) {
      out += stem + ": kept the old definition\n";
    }
  }
  std::sort(failed_names.begin(), failed_names.end());
  failed_names.erase(std::unique(failed_names.begin(), failed_names.end()), failed_names.end());
  kept = static_cast<int>(std::count_if(failed_names.begin(), failed_names.end(),
                                        [&](const std::string& n) { return find(n) != nullptr; }));
  log_config_errors(loaded.errors);
  file_errors_ = loaded.errors;

  std::vector<int> to_start, to_restart;
  // Removed: on the list before, not now, and not kept because its file broke.
  for (auto& u : units_) {
    if (u->removed) continue;
    bool present = std::any_of(loaded.services.begin(), loaded.services.end(),
                               [&](const ServiceConfig& c) { return c.name == u->config.name; });
    bool broken_file = std::binary_search(failed_names.begin(), failed_names.end(), u->config.name);
    if (!present && !broken_file) {
      u->removed = true;
      u->down_requested = true;
      ++removed;
      out += u->config.name + ": removed\n";
    }
  }
  for (ServiceConfig& c : loaded.services) {
    // The launcher shorthand's "file" is the program: a new program is a
    // changed service.
    std::uint64_t text = file_fingerprint(c.file);
    Unit* u = find(c.name);
    if (u == nullptr) {
      out += c.name + ": added\n";
      ++added;
      units_.push_back(std::make_unique<Unit>(*this, std::move(c), text));
      to_start.push_back(static_cast<int>(units_.size()) - 1);
      continue;
    }
    if (u->source == text) continue;
    ++changed;
    out += c.name + ": changed\n";
    bool was_up = u->machine.goal_up();
    // The machine borrows the config: replace it in place while the unit
    // keeps its state, then restart a running service on the new one.
    if (u->log) u->log->reconfigure(c.log);
    u->config = std::move(c);
    u->source = text;
    u->machine.rebind(u->config);
    if (was_up) to_restart.push_back(u->machine.index());
  }
  rebuild_graph();
  if (!stopping_all_) {
    for (int i : to_start) request_start(i);
    for (int i : to_restart) {
      if (graph_.nodes[i].broken) continue;
      request_start(i);
      units_[i]->machine.restart();
    }
  }
  schedule();
  std::string head = "reloaded: " + std::to_string(added) + " added, " + std::to_string(changed) + " changed, " +
                     std::to_string(removed) + " removed";
  if (kept > 0) head += ", " + std::to_string(kept) + " kept (bad file)";
  return head + "\n" + out;
}

}  // namespace keel::service
