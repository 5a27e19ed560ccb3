// state_machine.hpp — one service's life, as states and events.
//
// The supervisor turns the world into events (a start or stop request,
// dependencies settled or failed, the process launched or not, readiness,
// the main process's exit, the process tree found empty, the one timer
// firing) and this machine decides what to do: launch, signal the tree,
// arm the timer, settle. Every syscall goes through the Host interface, so
// unit tests drive the machine with fake events and no fork at all.
//
//            want_up              deps settled            exec ok
//   Stopped ---------> Waiting -------------> Launching ---------> Starting --ready--> Running
//      ^                 |  dep failed            |                   |                  |
//      |                 v                        | exec failed / exit / timeout         |
//      |               Failed <-- settle(give up) -- Stopping <---------------------------+
//      |                                                     | tree empty
//      +-------- settle(goal down) ------------------------- + ----> Backoff --timer--> Waiting
//                                                            +----> Done (oneshot ok, clean exit)
//
// Launching is the time between the fork and the exec: the child runs
// keel's set-up (cgroup, rlimits, chdir, ids) and may be stopped there by
// the service's user, or hang on a dead mount, so keel never waits for it.
// The host reports the end of it as an event: exec_ok() (the exec-status
// pipe reached EOF) or exec_failed() ({step, errno} on the pipe; the child
// exits 126/127). The child's exit may be seen before that report
// (main_exited() while launching): the machine keeps the status and waits
// for the report, whose text wins. A launch that gets neither within the
// start timeout (kLaunchTimeoutNs when start_timeout is 0) is stopped as a
// tree, like a start that is not ready in time.
//
// A service is stopped as a tree: the stop signal (and SIGCONT) to every
// process of the service, the stop timeout, then SIGKILL; it is stopped
// the moment the host reports the tree empty and the main process reaped,
// never later. What comes after a stop is decided when the stop starts
// (the "pending" outcome): restart after a back-off, give up, done, stopped
// for good, or start again at once (a restart request).
//
// The machine never allocates: messages go into a fixed buffer, the config
// is borrowed (the supervisor keeps it alive while the machine exists).
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "core/limits.hpp"
#include "core/result.hpp"
#include "service/backoff.hpp"
#include "service/config.hpp"

namespace keel::service {

enum class State : std::uint8_t {
  Stopped,    // not running, not wanted (or not yet)
  Waiting,    // wanted; waiting for its dependencies to settle
  Launching,  // forked; waiting for the exec (or its failure) to be reported
  Starting,   // exec'd; waiting to be ready (notify, fd, oneshot's exit)
  Running,    // up and ready (a readiness probe, if any, has passed)
  Stopping,   // the stop signal went out; waiting for the tree to be gone
  Backoff,    // failed; waiting to be restarted
  Done,       // exited successfully and stays down (oneshot, or restart=never/on-failure)
  Failed,     // failed and will not be restarted (or could not start)
};
[[nodiscard]] const char* state_name(State state) noexcept;

class ServiceMachine;

// What the machine needs from the world. Implemented by the supervisor
// (real processes) and by the unit tests (fakes).
class Host {
 public:
  // Start the service's process without waiting for its exec: the pid of
  // the forked child, or why it could not even be forked. The outcome of
  // the exec comes later, as exec_ok() or exec_failed().
  virtual Result<pid_t> launch(ServiceMachine& machine) noexcept = 0;
  // Send `signo` to every process of the service (the whole tree), and
  // SIGCONT right after it to each when `and_continue` (one pass over the
  // tree for both: without cgroups each pass is a walk of /proc).
  virtual void signal_tree(ServiceMachine& machine, int signo, bool and_continue) noexcept = 0;
  // Is any process of the service still alive (the main one included)?
  [[nodiscard]] virtual bool tree_alive(ServiceMachine& machine) noexcept = 0;
  // The machine's single timer: (re)arm, or disarm.
  virtual void arm_timer(ServiceMachine& machine, std::int64_t delay_ns) noexcept = 0;
  virtual void disarm_timer(ServiceMachine& machine) noexcept = 0;
  // Called after every change of state (the old one given).
  virtual void state_changed(ServiceMachine& machine, State old_state) noexcept = 0;
  [[nodiscard]] virtual std::int64_t now_ns() noexcept = 0;
  [[nodiscard]] virtual std::uint64_t random() noexcept = 0;

 protected:
  ~Host() = default;
};

class ServiceMachine {
 public:
  ServiceMachine(Host& host, const ServiceConfig& config, int index) noexcept
      : host_(host), config_(&config), index_(index) {}
  ServiceMachine(const ServiceMachine&) = delete;
  ServiceMachine& operator=(const ServiceMachine&) = delete;

  // ---- requests ----
  void want_up() noexcept;     // start (or keep running)
  void want_down() noexcept;   // stop, and stay stopped
  void restart() noexcept;     // stop if running, then start again at once (no back-off)
  // ---- events ----
  void deps_settled() noexcept;                  // Waiting: every dependency is ready or settled
  void dep_failed(const char* dependency) noexcept;  // Waiting: a requirement failed for good
  void exec_ok() noexcept;                           // Launching: the child has exec'd
  void exec_failed(const Error& error) noexcept;     // Launching: the child reported {step, errno}
  void ready() noexcept;                         // READY=1, the notify fd's newline
  void main_exited(int wait_status) noexcept;    // the main process was reaped
  void tree_check() noexcept;                    // a process of ours may be gone: check emptiness
  void timer_fired() noexcept;
  void set_main_pid(pid_t pid) noexcept;         // MAINPID= from sd_notify
  // The watchdog's deadline passed (or WATCHDOG=trigger), while starting
  // or running: the reason kept, SIGABRT to the tree (so the service can
  // dump core) in place of the stop signal, the rest of the stop sequence
  // as usual, then the restart policy as for a failure.
  void watchdog_timeout(const char* why) noexcept;
  // Starting or running: its liveness probe found it unhealthy (`reason`,
  // shown as "unhealthy: REASON"); stop it, then restart it after a
  // back-off (`restart`) or leave it failed.
  void unhealthy(const char* reason, bool restart) noexcept;
  // A broken service (bad dependency, cycle) is marked failed with a reason
  // and never launched.
  void mark_broken(const char* reason) noexcept;
  // A reload replaced the config; the machine keeps its state.
  void rebind(const ServiceConfig& config) noexcept { config_ = &config; }

  // ---- what the supervisor and `keelctl status` read ----
  [[nodiscard]] State state() const noexcept { return state_; }
  [[nodiscard]] bool goal_up() const noexcept { return goal_up_; }
  [[nodiscard]] bool is_ready() const noexcept { return state_ == State::Running || state_ == State::Done; }
  // Settled for ordering: not on the way up (ready, failed, stopped, done).
  [[nodiscard]] bool settled() const noexcept;
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] const ServiceConfig& config() const noexcept { return *config_; }
  [[nodiscard]] int index() const noexcept { return index_; }
  void set_index(int index) noexcept { index_ = index; }
  [[nodiscard]] std::int64_t started_at_ns() const noexcept { return started_ns_; }
  [[nodiscard]] std::int64_t ready_at_ns() const noexcept { return ready_ns_; }
  [[nodiscard]] int restarts() const noexcept { return restarts_; }
  [[nodiscard]] int failures() const noexcept { return failures_; }
  [[nodiscard]] int last_exit_status() const noexcept { return last_status_; }  // wait status; -1: none yet
  [[nodiscard]] const char* last_error() const noexcept { return last_error_; }
  [[nodiscard]] std::int64_t backoff_ns() const noexcept { return backoff_ns_; }  // the last delay chosen
  // Stopping: SIGKILL already sent (no stop timeout left to extend).
  [[nodiscard]] bool killing() const noexcept { return killing_; }
  // Did the service end for good after running (so on_exit applies)?
  [[nodiscard]] bool ended_for_good() const noexcept {
    return goal_up_ && (state_ == State::Done || state_ == State::Failed);
  }
  // What its end asks of the whole system (the failure policy): on a
  // failure for good, on_failure (or on_exit when on_failure is "none");
  // on a clean end for good, on_exit; otherwise nothing.
  [[nodiscard]] ExitAction final_action() const noexcept;
  // Stopping for a restart request (keelctl restart, a changed service at a reload).
  [[nodiscard]] bool stop_is_restart() const noexcept { return after_stop_ == After::Again; }
  // Starts counted against restart_limit in the current window.
  [[nodiscard]] int limit_starts() const noexcept { return limit_starts_; }

 private:
  enum class After : std::uint8_t { Stopped, Restart, Again, Done, Failed };

  void set_state(State state) noexcept;
  void launch() noexcept;
  void launch_failed() noexcept;
  void failure(const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));
  void exited_unexpectedly(bool success) noexcept;
  // `signo`: the first signal of the sequence; 0: the service's stop_signal.
  void begin_stop(After after, int signo = 0) noexcept;
  void finish_stop() noexcept;
  void settle(After after) noexcept;
  [[nodiscard]] BackoffPolicy policy() const noexcept;
  [[nodiscard]] std::int64_t restart_rate_delay(std::int64_t now, std::int64_t delay) const noexcept;
  [[nodiscard]] bool restart_limit_reached(std::int64_t next_start_ns) const noexcept;

  Host& host_;
  const ServiceConfig* config_;
  int index_;
  State state_ = State::Stopped;
  bool goal_up_ = false;
  bool killing_ = false;  // Stopping: SIGKILL sent
  After after_stop_ = After::Stopped;
  pid_t pid_ = -1;
  std::int64_t started_ns_ = 0;
  std::int64_t ready_ns_ = 0;
  std::int64_t backoff_ns_ = 0;
  // When the last kRestartBurst launches happened (a ring; start_count_
  // launches so far, saturating), for the start-rate limit.
  std::int64_t recent_starts_[limits::kRestartBurst] = {};
  int start_count_ = 0;
  // The restart limit's window (config restart_limit_window), systemd's
  // way: it opens at the first start counted, and a start after it has
  // passed opens a new one. A user's start or restart resets it.
  std::int64_t limit_window_ns_ = 0;
  int limit_starts_ = 0;
  int restarts_ = 0;  // saturates at INT_MAX
  int failures_ = 0;
  int last_status_ = -1;
  // Launching: the main process exited before its exec report was seen
  // (its wait status is in last_status_).
  bool exited_launching_ = false;
  // Launching: the child reported a failed step and is on its way out; the
  // reason is in last_error_.
  bool exec_failed_ = false;
  char last_error_[160] = {};
};

}  // namespace keel::service
