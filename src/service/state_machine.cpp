#include "service/state_machine.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <limits>

#include "core/signals.hpp"

namespace keel::service {
namespace {

// After SIGKILL, how often to send it again while anything of the tree is
// left: only the no-cgroup fallback can miss a process forked meanwhile;
// the kernel's cgroup.kill cannot. One wake-up a second bounds the cost.
constexpr std::int64_t kKillRetryNs = 1'000'000'000;

}  // namespace

const char* state_name(State state) noexcept {
  switch (state) {
    case State::Stopped: return "stopped";
    case State::Waiting: return "waiting";
    case State::Launching: return "launching";
    case State::Starting: return "starting";
    case State::Running: return "running";
    case State::Stopping: return "stopping";
    case State::Backoff: return "backoff";
    case State::Done: return "done";
    case State::Failed: return "failed";
  }
  return "?";
}

bool ServiceMachine::settled() const noexcept {
  switch (state_) {
    case State::Stopped:
    case State::Running:
    case State::Done:
    case State::Failed:
      return true;
    case State::Waiting:
    case State::Launching:
    case State::Starting:
    case State::Stopping:
    case State::Backoff:
      return false;
  }
  return true;
}

BackoffPolicy ServiceMachine::policy() const noexcept {
  return BackoffPolicy{config_->restart_delay_ns, config_->restart_delay_max_ns, config_->restart_reset_ns};
}

// The back-off delay, raised so that an automatic restart comes at least
// kRestartMinIntervalNs after the last start and at most kRestartBurst
// starts fall within kRestartWindowNs (limits.hpp). Never below `delay`.
std::int64_t ServiceMachine::restart_rate_delay(std::int64_t now, std::int64_t delay) const noexcept {
  std::int64_t earliest = started_ns_ + limits::kRestartMinIntervalNs;
  if (start_count_ >= limits::kRestartBurst) {
    // The oldest of the last kRestartBurst starts: the next slot of the ring.
    const std::int64_t oldest = recent_starts_[start_count_ % limits::kRestartBurst];
    earliest = std::max(earliest, oldest + limits::kRestartWindowNs);
  }
  return std::max(delay, earliest - now);
}

// Would a start at `next_start_ns` be one more than restart_limit within
// the current window? (Only automatic restarts ask.)
bool ServiceMachine::restart_limit_reached(std::int64_t next_start_ns) const noexcept {
  const int limit = config_->restart_limit;
  if (limit <= 0 || limit_starts_ < limit) return false;
  return next_start_ns - limit_window_ns_ < config_->restart_limit_window_ns;
}

ExitAction ServiceMachine::final_action() const noexcept {
  if (!goal_up_) return ExitAction::None;
  if (state_ == State::Failed) return config_->on_failure != ExitAction::None ? config_->on_failure : config_->on_exit;
  if (state_ == State::Done) return config_->on_exit;
  return ExitAction::None;
}

void ServiceMachine::set_state(State state) noexcept {
  State old = state_;
  state_ = state;
  host_.state_changed(*this, old);
}

void ServiceMachine::failure(const char* fmt, ...) noexcept {
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(last_error_, sizeof last_error_, fmt, args);
  va_end(args);
}

void ServiceMachine::want_up() noexcept {
  goal_up_ = true;
  switch (state_) {
    case State::Stopped:
    case State::Done:
    case State::Failed:
      failures_ = 0;
      limit_starts_ = 0;  // a user's start: the restart limit counts afresh
      set_state(State::Waiting);
      return;
    case State::Stopping:
      after_stop_ = After::Again;
      return;
    case State::Waiting:
    case State::Launching:
    case State::Starting:
    case State::Running:
    case State::Backoff:
      return;
  }
}

void ServiceMachine::want_down() noexcept {
  goal_up_ = false;
  switch (state_) {
    case State::Waiting:
    case State::Backoff:
    case State::Done:
    case State::Failed:
      host_.disarm_timer(*this);
      set_state(State::Stopped);
      return;
    case State::Launching:
    case State::Starting:
    case State::Running:
      begin_stop(After::Stopped);
      return;
    case State::Stopping:
      after_stop_ = After::Stopped;
      return;
    case State::Stopped:
      return;
  }
}

void ServiceMachine::restart() noexcept {
  goal_up_ = true;
  limit_starts_ = 0;  // a user's restart: the restart limit counts afresh
  switch (state_) {
    case State::Launching:
    case State::Starting:
    case State::Running:
      begin_stop(After::Again);
      return;
    case State::Stopping:
      after_stop_ = After::Again;
      return;
    case State::Backoff:
      host_.disarm_timer(*this);
      set_state(State::Waiting);
      return;
    case State::Stopped:
    case State::Done:
    case State::Failed:
    case State::Waiting:
      want_up();
      return;
  }
}

void ServiceMachine::deps_settled() noexcept {
  if (state_ == State::Waiting) launch();
}

void ServiceMachine::dep_failed(const char* dependency) noexcept {
  if (state_ != State::Waiting) return;
  failure("dependency %s failed", dependency);
  set_state(State::Failed);
}

void ServiceMachine::mark_broken(const char* reason) noexcept {
  host_.disarm_timer(*this);
  goal_up_ = true;
  failure("%s", reason);
  set_state(State::Failed);
}

void ServiceMachine::launch() noexcept {
  started_ns_ = host_.now_ns();
  recent_starts_[start_count_ % limits::kRestartBurst] = started_ns_;
  // Counts on without overflowing: near INT_MAX it steps back by the
  // ring's size, which keeps the slot (count % size) and count >= size.
  if (start_count_ >= std::numeric_limits<int>::max() - limits::kRestartBurst) start_count_ -= limits::kRestartBurst;
  ++start_count_;
  if (limit_starts_ == 0 || started_ns_ - limit_window_ns_ >= config_->restart_limit_window_ns) {
    limit_window_ns_ = started_ns_;
    limit_starts_ = 0;
  }
  if (limit_starts_ < std::numeric_limits<int>::max()) ++limit_starts_;
  if (config_->type == Type::Target) {
    ready_ns_ = started_ns_;
    set_state(State::Running);
    return;
  }
  Result<pid_t> pid = host_.launch(*this);
  if (!pid) {
    // A code of 0 carries a whole sentence in the context (a bad
    // environment file, say); otherwise it is a step and an errno.
    if (pid.error().code == 0) {
      failure("cannot start: %s", pid.error().context);
    } else {
      failure("cannot start: %s failed: %s", pid.error().context, pid.error().message());
    }
    last_status_ = -1;
    exited_unexpectedly(false);
    return;
  }
  pid_ = pid.value();
  exited_launching_ = false;
  exec_failed_ = false;
  // The start timeout runs from the fork, so it bounds the launch as well:
  // a child stopped or hung before its exec is killed when it expires. A
  // service that may take forever to be ready (start_timeout = 0) still
  // gets its exec bounded.
  host_.arm_timer(*this, config_->start_timeout_ns > 0 ? config_->start_timeout_ns : limits::kLaunchTimeoutNs);
  set_state(State::Launching);
}

void ServiceMachine::exec_ok() noexcept {
  if (state_ != State::Launching || exec_failed_) return;
  // A simple service with a readiness probe is starting until the probe
  // first passes (ready(), from the supervisor), within the start timeout.
  if (config_->type == Type::Simple && !config_->readiness_probe.enabled()) {
    host_.disarm_timer(*this);
    ready_ns_ = host_.now_ns();
    set_state(State::Running);
  } else {
    if (config_->start_timeout_ns <= 0) host_.disarm_timer(*this);
    set_state(State::Starting);
  }
  // The program ran and has already exited (its exit was seen before the
  // report): that exit is now an exit of a started service.
  if (exited_launching_ && (state_ == State::Starting || state_ == State::Running)) {
    exited_launching_ = false;
    main_exited(last_status_);
  }
}

void ServiceMachine::exec_failed(const Error& error) noexcept {
  if (state_ != State::Launching || exec_failed_) return;
  exec_failed_ = true;
  // A code of 0 carries a whole sentence in the context; otherwise it is a
  // step and an errno, as for a launch that failed in keel.
  if (error.code == 0) {
    failure("cannot start: %s", error.context);
  } else {
    failure("cannot start: %s failed: %s", error.context, error.message());
  }
  // The child exits 126/127 right after its report; until it is reaped the
  // service stays launching (the start timeout still bounds it, should it
  // be stopped in between). Already reaped: the launch is over.
  if (pid_ < 0) launch_failed();
}

void ServiceMachine::launch_failed() noexcept {
  exec_failed_ = false;
  exited_launching_ = false;
  last_status_ = -1;  // the report says why; "exited 127" would say less
  exited_unexpectedly(false);
}

void ServiceMachine::ready() noexcept {
  // While launching, nothing of the service's own has run yet (the host
  // reads the exec report before a notify message), so a readiness message
  // cannot be the service's.
  if (state_ != State::Starting || config_->type == Type::Oneshot) return;
  host_.disarm_timer(*this);
  ready_ns_ = host_.now_ns();
  set_state(State::Running);
}

void ServiceMachine::unhealthy(const char* reason, bool restart) noexcept {
  if (state_ != State::Starting && state_ != State::Running) return;
  failure("unhealthy: %s", reason);
  // As a crash would: a restart counts for the back-off; otherwise the
  // service is failed for good (and its on_exit applies).
  begin_stop(restart ? After::Restart : After::Failed);
}

void ServiceMachine::set_main_pid(pid_t pid) noexcept {
  if (pid > 0 && (state_ == State::Starting || state_ == State::Running)) pid_ = pid;
}

void ServiceMachine::main_exited(int wait_status) noexcept {
  pid_ = -1;
  last_status_ = wait_status;
  // Exit 0, or an end listed in success_exit_status (143 for a JVM).
  bool success = config_->success_exit_status.matches(wait_status);
  switch (state_) {
    case State::Launching:
      if (exec_failed_) {
        launch_failed();
      } else {
        // The exec report is still to be read (the host reads it next):
        // it decides whether this was a failed exec or a program that ran.
        exited_launching_ = true;
      }
      return;
    case State::Starting:
    case State::Running:
      if (!success) {
        if (WIFSIGNALED(wait_status)) {
          failure("killed by %s", signals::name(WTERMSIG(wait_status)));
        } else {
          failure("exited with status %d", WEXITSTATUS(wait_status));
        }
      } else if (state_ == State::Starting && config_->type != Type::Oneshot) {
        failure("exited before it was ready");
        success = false;
      }
      exited_unexpectedly(success);
      return;
    case State::Stopping:
      tree_check();
      return;
    case State::Stopped:
    case State::Waiting:
    case State::Backoff:
    case State::Done:
    case State::Failed:
      return;  // a MAINPID= process from an earlier run; nothing to do
  }
}

void ServiceMachine::exited_unexpectedly(bool success) noexcept {
  Restart policy = config_->restart;
  bool again = policy == Restart::Always || (policy == Restart::OnFailure && !success);
  if (config_->type == Type::Oneshot && success) again = false;
  After after = again ? After::Restart : (success ? After::Done : After::Failed);
  // Whatever the main process left behind is stopped before the service
  // counts as down: a restart must not find the old daemon still holding
  // its port, and "done" must mean nothing of it runs.
  begin_stop(after);
}

void ServiceMachine::watchdog_timeout(const char* why) noexcept {
  if (state_ != State::Starting && state_ != State::Running) return;
  failure("watchdog timeout: %s", why);
  begin_stop(config_->restart != Restart::Never ? After::Restart : After::Failed, SIGABRT);
}

void ServiceMachine::begin_stop(After after, int signo) noexcept {
  after_stop_ = after;
  killing_ = false;
  host_.disarm_timer(*this);
  if (pid_ < 0 && !host_.tree_alive(*this)) {
    settle(after);
    return;
  }
  // A stopped (SIGSTOP'd) process would never act on the stop signal:
  // SIGCONT follows it.
  if (signo == 0) {
    signo = config_->stop_signal;
    // A shell on the console (stdin the console, made its controlling tty)
    // ignores SIGTERM when interactive, and a plain `poweroff` from the
    // rescue shell would wait out the whole stop_timeout. The console going
    // away is a hang-up to it: SIGHUP first, as the kernel sends when a
    // terminal hangs up, then the stop signal for anything that ignores that.
    if (config_->stdin_.kind == StreamKind::Console && signo != SIGHUP && signo != SIGKILL) {
      host_.signal_tree(*this, SIGHUP, false);
    }
  }
  host_.signal_tree(*this, signo, signo != SIGKILL);
  host_.arm_timer(*this, config_->stop_timeout_ns);
  set_state(State::Stopping);
}

void ServiceMachine::tree_check() noexcept {
  if (state_ != State::Stopping || pid_ >= 0) return;
  if (host_.tree_alive(*this)) return;
  finish_stop();
}

void ServiceMachine::finish_stop() noexcept {
  host_.disarm_timer(*this);
  settle(after_stop_);
}

void ServiceMachine::timer_fired() noexcept {
  switch (state_) {
    case State::Launching: {
      if (!exec_failed_) {
        std::int64_t bound = config_->start_timeout_ns > 0 ? config_->start_timeout_ns : limits::kLaunchTimeoutNs;
        failure("did not exec within %lld s: stopped (SIGSTOP) or hung in chdir/exec",
                static_cast<long long>(bound / 1'000'000'000));
      }
      exec_failed_ = false;
      exited_launching_ = false;
      bool again = config_->restart != Restart::Never;
      begin_stop(again ? After::Restart : After::Failed);
      return;
    }
    case State::Starting: {
      long long seconds = static_cast<long long>(config_->start_timeout_ns / 1'000'000'000);
      failure("not ready within %lld s", seconds);
      bool again = config_->restart != Restart::Never;
      begin_stop(again ? After::Restart : After::Failed);
      return;
    }
    case State::Stopping:
      if (!killing_) {
        killing_ = true;
        if (after_stop_ == After::Stopped || after_stop_ == After::Again) {
          failure("did not stop within %lld ms: killed",
                  static_cast<long long>(config_->stop_timeout_ns / 1'000'000));
        }
      }
      host_.signal_tree(*this, SIGKILL, false);
      host_.arm_timer(*this, kKillRetryNs);
      return;
    case State::Backoff:
      set_state(State::Waiting);
      return;
    case State::Stopped:
    case State::Waiting:
    case State::Running:
    case State::Done:
    case State::Failed:
      return;
  }
}

void ServiceMachine::settle(After after) noexcept {
  switch (after) {
    case After::Stopped:
      set_state(State::Stopped);
      return;
    case After::Again:
      goal_up_ = true;
      set_state(State::Waiting);
      return;
    case After::Restart: {
      if (!goal_up_) {
        set_state(State::Stopped);
        return;
      }
      std::int64_t uptime = host_.now_ns() - started_ns_;
      failures_ = next_failure_count(policy(), failures_, uptime);
      const std::int64_t now = host_.now_ns();
      const std::int64_t delay = restart_rate_delay(now, backoff_delay(policy(), failures_, host_.random()));
      if (restart_limit_reached(now + delay)) {
        // Failed for good: the failure policy (final_action) takes over.
        // The last run's reason is kept after the limit's.
        char last[sizeof last_error_];
        std::snprintf(last, sizeof last, "%s", last_error_);
        // The window as written: whole seconds, else milliseconds.
        const std::int64_t window = config_->restart_limit_window_ns;
        const bool whole = window % 1'000'000'000 == 0;
        failure("restart limit reached: %d starts in %lld %s%s%s", limit_starts_,
                static_cast<long long>(whole ? window / 1'000'000'000 : window / 1'000'000), whole ? "s" : "ms",
                last[0] != 0 ? "; last: " : "", last);
        set_state(State::Failed);
        return;
      }
      backoff_ns_ = delay;
      if (restarts_ < std::numeric_limits<int>::max()) ++restarts_;
      host_.arm_timer(*this, backoff_ns_);
      set_state(State::Backoff);
      return;
    }
    case After::Done:
      set_state(State::Done);
      return;
    case After::Failed:
      set_state(State::Failed);
      return;
  }
}

}  // namespace keel::service
