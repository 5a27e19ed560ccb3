// service_events.hpp — a service's changes of state as events
// (service/event_record.hpp, docs/events.md).
//
// The supervisor calls these where a change happens; each formats one
// event into keel's record without allocating (they run from the reaper,
// timers and the notify handler).
#pragma once

#include <sys/types.h>

#include <string_view>

#include "service/state_machine.hpp"

namespace keel::service {

// After every change of state (Host::state_changed): ready, done, failed,
// restarting, stopping, stopped. Launching and Starting are recorded where
// the pid is known (starting, started). `shutting_down`: keel stops
// everything (a stop's reason).
void record_state_event(const ServiceMachine& machine, State old_state, bool shutting_down) noexcept;

// The service's main process was reaped (`wait_status` as waitpid gives it).
void record_exit_event(std::string_view service, pid_t pid, int wait_status) noexcept;

}  // namespace keel::service
