// event_format.hpp — `keelctl events` without --json: one readable line per
// event (docs/events.md), from the JSON line keel sends.
//
//   2026-12-06T19:00:00.123Z web        exited      pid=212 exit_code=1
//   2026-12-06T19:00:00.124Z -          boot-step   step=mounts duration_us=812
//
// The time is the event's wall-clock time to the millisecond, the second
// column the service ("-" for keel's own events), then the event and every
// other field as key=value (lists as a,b,c). Service text is escaped for
// the terminal. A line that is not a flat JSON object is shown as it is
// (escaped), so a newer keel's events still print.
#pragma once

#include <string>
#include <string_view>

namespace keel::control {

// One event line (without its '\n') -> the readable line, with its '\n'.
[[nodiscard]] std::string format_event_line(std::string_view json);

}  // namespace keel::control
