// supervisor.hpp — the services, running: keel's main job once the system is up.
//
// The supervisor owns one Unit per service: its config, its state machine
// (service/state_machine.hpp), its log (service_log.hpp), its cgroup or
// process-group tracking, its readiness channel (notify.hpp) and its timer.
// It implements the machine's Host (launch, signal the tree, timers) with
// real processes, and the control server's ControlHandler (keelctl).
//
// Scheduling is a pass over the units after every batch of events (a reap,
// a timer, a readiness message, a control request): a waiting unit whose
// requirements are ready and whose ordering predecessors have settled is
// launched; one whose requirement failed for good fails with the reason.
// Independent services therefore start in the same pass, in parallel. A
// unit asked to stop waits until every unit ordered after it has no
// process left, which gives the reverse dependency order at shutdown.
//
// Allocation happens at the edges only: loading and reloading the files,
// building a child's argv/env before fork, answering control requests.
// Reaping, readiness, timers and state changes do not allocate.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "control/handler.hpp"
#include "control/server.hpp"
#include "control/status.hpp"
#include "core/event_loop.hpp"
#include "service/cgroup.hpp"
#include "service/config.hpp"
#include "service/container_output.hpp"
#include "service/graph.hpp"
#include "service/log_writer_link.hpp"
#include "service/probe.hpp"
#include "service/state_machine.hpp"

namespace keel::service {

struct ExecInputs;  // service/exec_plan.hpp

struct SupervisorSettings {
  std::string config_dir = "/etc/keel";  // CONFIG_DIR/main is the launcher shorthand
  std::string services_dir = "/etc/keel/services";
  std::string run_dir = "/run/keel";     // notify sockets; the control socket by default
  std::string control_socket = "/run/keel/control.sock";  // "" : no control socket
  gid_t control_group = static_cast<gid_t>(-1);  // besides root, who may use keelctl
  std::string cgroup_root;  // a directory in a cgroup2 mount; "": track process groups instead
  std::string start_target = "default";  // its closure starts at boot; absent: every service
  UserDbPaths users;
  int console_fd = 1;  // "console" streams of services
  std::vector<ServiceConfig> extra_services;  // with no file: the rescue shell
  // The log writer: keel's own binary (service/log_writer_link.hpp).
  std::string log_writer_program = "/proc/self/exe";
  // keel.toml log_output / KEEL_LOG_OUTPUT: every service's lines also on
  // keel's own stdout/stderr (service/container_output.hpp).
  LogOutput log_output = LogOutput::None;
};

// How far the start went: reported once, when every service of the start
// set has settled (ready, done, failed).
struct StartSummary {
  std::string target;        // the start target; "" when every service was started
  int started = 0;           // services of the start set that are up (running or done)
  int failed = 0;            // ... that failed
  bool target_failed = false;  // the target itself could not be reached
  std::string reason;        // why, when it failed
};

// What the supervisor asks of the system around it.
class SupervisorHooks {
 public:
  // A service with on_exit, or keelctl poweroff/reboot/halt. `exit_code` is
  // the service's shell-style status (0 for keelctl).
  virtual void request_power(ExitAction action, int exit_code) noexcept = 0;
  // After stop_all(): every service is down.
  virtual void all_stopped() noexcept = 0;
  // The start set has settled (see StartSummary).
  virtual void start_settled(const StartSummary& summary) noexcept = 0;
  // A reload was asked for (keelctl reload, SIGHUP): load the service files
  // elsewhere (the system role's loader child, system/config_loader.hpp)
  // and answer with Supervisor::reload_loaded() or reload_failed(), which
  // may come before this returns. false: the supervisor loads them itself,
  // in process (the tests that run a Supervisor without a loader).
  virtual bool load_services() noexcept { return false; }

 protected:
  ~SupervisorHooks() = default;
};

class Supervisor final : private Host, private control::ControlHandler {
 public:
  Supervisor(EventLoop& loop, SupervisorHooks& hooks, SupervisorSettings settings);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Open the control socket, take the loaded services (`loaded`: the
  // loader's answer), start the start target. Problems are logged, never
  // fatal. May throw std::bad_alloc only. Without an argument the files are
  // loaded in process (tests; the system role never does).
  void start(LoadResult loaded);
  void start();

  // From the reaper: is `pid` a service's main process? (Orphans are not.)
  void on_child_exit(pid_t pid, int wait_status) noexcept;
  // After a reap batch: check the trees of stopping services, schedule.
  void after_reap() noexcept;

  // Add a service that has no file (the rescue or emergency shell) and start
  // it. May throw std::bad_alloc only.
  void add_and_start(ServiceConfig config);

  // Shutdown: stop every service in reverse dependency order, each within
  // its own stop timeout; SupervisorHooks::all_stopped() when done.
  void stop_all() noexcept;
  // The shutdown deadline (`deadline_s` seconds) passed before every
  // service was down: log each one still up or stopping (name, state, main
  // pid, group or cgroup) and how many, stop every unit's timers, close the
  // logs and give the log writer its bounded time to write what is queued;
  // then SupervisorHooks::all_stopped(), as after a full stop (it may come
  // before this returns). Returns how many were left; -1 when there was
  // nothing to give up (no stop_all(), or all_stopped() under way).
  int give_up_stopping(long long deadline_s) noexcept;

  // keelctl reload (`session`, answered with the summary when the load is
  // done) or SIGHUP (nullptr). The files are loaded through
  // SupervisorHooks::load_services(); a reload asked for while one is
  // loading runs again after it, so it sees every change made before it
  // was asked for.
  // With `dry_run` (keelctl reload --dry-run): answered with what the
  // reload would do, nothing applied.
  void request_reload(control::Session* session, bool dry_run = false) noexcept;
  // The loader's answer to load_services(): apply it, or keep every
  // definition as it is (`problem` says why), and answer the waiting keelctl.
  void reload_loaded(LoadResult loaded) noexcept;
  void reload_failed(const char* problem) noexcept;

  // Apply `loaded` (the service files as they are now) and return a summary
  // for keelctl; without an argument the files are loaded in process. May
  // throw std::bad_alloc only.
  std::string reload(LoadResult loaded);
  std::string reload();

  // Settings can change until start() (the system role learns where the
  // cgroup2 mount is only after its early mounts).
  [[nodiscard]] SupervisorSettings& settings() noexcept { return settings_; }

  // Is the service `name` unhealthy (its liveness probe's verdict), and
  // since when: the monotonic time (core/event_loop.hpp's monotonic_ns) it
  // turned unhealthy; 0 when healthy, not probed, not running or unknown.
  // For a hardware watchdog that stops petting when a critical service
  // stays unhealthy.
  [[nodiscard]] std::int64_t unhealthy_since_ns(std::string_view name) const noexcept;

  // The invariant schedule() relies on: one graph node per unit, same
  // indices. For tests (the fault-injection sweep checks it after each run).
  [[nodiscard]] bool graph_matches_units() const noexcept;

  // The hardware watchdog's question (system/hw_watchdog.hpp): since when
  // (CLOCK_MONOTONIC ns) has a service marked `critical` been unhealthy,
  // the earliest of them; 0 when none is. May be later than now (a start
  // that is not late yet). `name`, when given, is set to that service's
  // name (valid until the next reload). Health probes extend this.
  [[nodiscard]] std::int64_t critical_unhealthy_since_ns(const char** name = nullptr) const noexcept;

 private:
  struct Unit;
  struct Waiter;
  struct Follower;
  struct EventsFollower;
  friend struct Unit;
  friend struct Waiter;

  // Host
  Result<pid_t> launch(ServiceMachine& machine) noexcept override;
  void signal_tree(ServiceMachine& machine, int signo, bool and_continue) noexcept override;
  bool tree_alive(ServiceMachine& machine) noexcept override;
  void arm_timer(ServiceMachine& machine, std::int64_t delay_ns) noexcept override;
  void disarm_timer(ServiceMachine& machine) noexcept override;
  void state_changed(ServiceMachine& machine, State old_state) noexcept override;
  void track_health(Unit& unit) noexcept;
  std::int64_t now_ns() noexcept override;
  std::uint64_t random() noexcept override;

  // ControlHandler
  void handle(const control::Request& request, control::Session& session) noexcept override;
  void session_closed(control::Session& session) noexcept override;
  void handle_request(const control::Request& request, control::Session& session);

  void open_control() noexcept;
  Status open_listen_sockets(Unit& u, ExecInputs& in, char* error_text, std::size_t size);
  // Start on the first connection (issue 12): watch the unit's sockets
  // instead of launching it, until one is readable.
  bool listen_for_connection(Unit& u) noexcept;
  void stop_listening(Unit& u) noexcept;
  void connection_arrived(Unit& u) noexcept;
  void load_initial(LoadResult loaded);
  // What a reload of the loaded files does (supervisor.cpp): decided
  // aside, then applied by reload() or described by dry_reload().
  struct ReloadPlan {
    struct Change {
      Unit* unit;
      std::size_t index;  // in the loaded services
      bool restart;       // up: restarted on its new definition
    };
    std::vector<std::string> failed_names;  // stems of the files with errors
    int kept = 0;                           // of them, services that keep their old definition
    std::vector<Unit*> leaving;
    std::vector<std::size_t> added;  // indices in the loaded services
    std::vector<Change> changes;
    Graph graph;        // units_ (changed configs in), then the added ones
    std::string lines;  // the reply's lines after its head
  };
  ReloadPlan plan_reload(const LoadResult& loaded);
  std::string dry_reload(LoadResult loaded, bool& has_errors);
  void begin_reload() noexcept;
  void finish_reload(control::Code code, std::string_view text) noexcept;
  void add_launcher_shorthand(std::vector<ServiceConfig>& configs, bool main_python);
  void install_graph(Graph graph) noexcept;
  void schedule() noexcept;
  void report_start_if_settled() noexcept;
  void request_start(int index) noexcept;
  void request_stop(int index) noexcept;
  void collect_removed() noexcept;
  void finish_waiters(Unit& unit, bool failed) noexcept;
  void end_system_for(Unit& unit) noexcept;
  // keelctl reload SERVICE (supervisor.cpp, at the end): the reload signal and
  // a wait for the service's RELOADING=1, READY=1 cycle, or a restart.
  void reload_service(Unit& unit, control::Session& session);
  void finish_reload_waiters(Unit& unit, control::Code code, const char* why) noexcept;
  void update_probes(Unit& unit, State old_state) noexcept;
  [[nodiscard]] bool unit_has_process(Unit& unit) noexcept;
  // No other unit has a run going (tree_tracker.hpp, rule 3).
  [[nodiscard]] bool sole_run(const Unit& unit) const noexcept;
  [[nodiscard]] Unit* find(const std::string& name) noexcept;
  [[nodiscard]] control::ServiceStatus status_of(Unit& unit);
  void log_config_errors(const std::vector<ConfigError>& errors) noexcept;
  void follow_events(const control::Request& request, control::Session& session);
  static void log_writer_finished(void* self) noexcept;
  void update_output_width() noexcept;

  EventLoop& loop_;
  SupervisorHooks& power_;
  SupervisorSettings settings_;
  CgroupManager cgroups_;
  control::ControlServer control_;
  // Before the units: their logs deliver to it until they are destroyed.
  LogWriterLink log_writer_;
  // keel's stdout/stderr copy of every line (log_output), before the units too.
  ContainerOutput container_output_;
  // Probe runs in flight (service/probe.hpp), before the units: their
  // probes forget themselves in it as they are destroyed.
  ProbeTable probes_;
  std::vector<std::unique_ptr<Unit>> units_;
  Graph graph_;
  std::vector<ConfigError> file_errors_;   // files that did not load (shown by status)
  bool run_dir_ok_ = false;  // run_dir (and run_dir/notify) passed prepare_run_dir: sockets may go there
  std::vector<std::unique_ptr<Waiter>> waiters_;
  std::vector<std::unique_ptr<Follower>> followers_;
  std::vector<std::unique_ptr<EventsFollower>> event_followers_;  // keelctl events (service/event_record.hpp)
  std::uint64_t random_state_;
  bool scheduling_ = false;
  bool reschedule_ = false;
  bool stopping_all_ = false;
  bool all_stopped_reported_ = false;
  std::vector<std::string> start_set_;  // names of what the start asked for
  std::string start_target_;            // "" : every service
  bool start_reported_ = false;
  bool initial_loaded_ = false;  // load_initial ran: before it nothing can have settled
  // keelctl reload sessions waiting for the load under way, and for the
  // next one (asked for while one was loading).
  std::vector<control::Session*> reload_waiting_;
  std::vector<control::Session*> reload_next_;
  bool reload_loading_ = false;
  bool reload_again_ = false;
  // keelctl reload --dry-run sessions, likewise; whether the load under way
  // (and the next one) is applied: not when only dry runs asked for it.
  std::vector<control::Session*> dry_waiting_;
  std::vector<control::Session*> dry_next_;
  bool apply_now_ = true;
  bool apply_again_ = false;
};

}  // namespace keel::service
