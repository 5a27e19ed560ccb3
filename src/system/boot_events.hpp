// boot_events.hpp — the system role's own events: keel-start, the boot's
// steps with their durations, target-reached, the shutdown and its steps
// (service/event_record.hpp, docs/events.md).
#pragma once

#include <cstdint>
#include <string_view>

#include "system/power.hpp"

namespace keel {

// One boot step's duration: begin() (or construction) to end(), the event
// stamped at its end as docs/events.md says.
class BootStep {
 public:
  BootStep() noexcept { begin(); }
  void begin() noexcept;
  // The step is over; its event is recorded later (emit).
  void stop() noexcept;
  // Record `step` (a literal) with the time from begin() to stop().
  void emit(const char* step) const noexcept;
  // stop() then emit().
  void end(const char* step) noexcept {
    stop();
    emit(step);
  }

 private:
  std::int64_t start_mono_ns_ = 0;
  std::int64_t end_mono_ns_ = 0;
  std::int64_t end_real_ns_ = 0;
};

// Give keel's record its memory, the console copy (keel.events=console),
// and record keel-start (main()'s time) and, when keel mounted the early
// filesystems, their boot step.
void start_event_record(bool console, const BootStep* early_mounts) noexcept;

// The start target settled: target-reached, or not; the boot's area of the
// record is closed either way.
void record_target(std::string_view target, bool failed) noexcept;

// A power request: `ends_by_exit` when keel will exit rather than call
// reboot(2) (a container's power-off, not PID 1).
void record_shutdown(PowerAction action, bool ends_by_exit) noexcept;
void record_shutdown_step(const char* step) noexcept;

}  // namespace keel
