// json_text.hpp — service-controlled text as the contents of a JSON string.
//
// Service names, reasons and captured lines are hostile: any byte can come.
// One escaper, writing into a caller's buffer without allocating (it runs
// in the log pipes' read handlers and wherever an event is recorded), for
// every JSON line keel writes from PID 1: the event record (docs/events.md)
// and the container output (`log_output = "json"`). The result is one valid
// JSON line that a terminal shows as text.
#pragma once

#include <cstddef>
#include <string_view>

namespace keel {

// `value` as a JSON string's contents into `out` (at most `size` bytes, no
// quotes): '"' and '\\' escaped, C0 controls, DEL and the C1 controls
// (U+0080..U+009F, which a terminal acts on) as \u00XX, each byte of
// ill-formed UTF-8 as \ufffd; well-formed UTF-8 is kept. Returns the bytes
// written, or SIZE_MAX when it does not fit (nothing useful is in `out`).
[[nodiscard]] std::size_t json_escape(std::string_view value, char* out, std::size_t size) noexcept;

}  // namespace keel
