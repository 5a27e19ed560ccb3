#include "service/service_events.hpp"

#include <sys/wait.h>

#include "core/signals.hpp"
#include "service/event_record.hpp"

namespace keel::service {

namespace {

// Why a service is being stopped, in a few words.
const char* stop_reason(const ServiceMachine& m, bool shutting_down) noexcept {
  if (shutting_down) return "shutdown";
  if (!m.goal_up()) return "stop requested";
  if (m.stop_is_restart()) return "restart requested";
  // The main process is gone and ended well (restart = "always", leftovers
  // in its tree): last_error() would be an older run's.
  if (m.pid() < 0 && m.last_exit_status() == 0) return "exited";
  return m.last_error()[0] != '\0' ? m.last_error() : "exited";
}

}  // namespace

void record_state_event(const ServiceMachine& m, State old_state, bool shutting_down) noexcept {
  EventRecord& r = event_record();
  const std::string_view name = m.config().name;
  switch (m.state()) {
    case State::Running: r.begin("ready", name).commit(); return;
    case State::Done: r.begin("done", name).commit(); return;
    case State::Failed: r.begin("failed", name).str("reason", m.last_error()).commit(); return;
    case State::Backoff: r.begin("restarting", name).num("delay_ms", m.backoff_ns() / 1'000'000).commit(); return;
    case State::Stopping: r.begin("stopping", name).str("reason", stop_reason(m, shutting_down)).commit(); return;
    case State::Stopped:
      if (old_state != State::Stopped) r.begin("stopped", name).commit();
      return;
    case State::Waiting:
    case State::Launching:
    case State::Starting: return;
  }
}

void record_exit_event(std::string_view service, pid_t pid, int wait_status) noexcept {
  EventRecord& r = event_record().begin("exited", service).num("pid", pid);
  if (WIFSIGNALED(wait_status)) {
    r.str("signal", signals::name(WTERMSIG(wait_status)));
  } else {
    r.num("exit_code", WEXITSTATUS(wait_status));
  }
  r.commit();
}

}  // namespace keel::service
