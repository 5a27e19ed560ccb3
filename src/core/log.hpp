// log.hpp — keel's own messages.
//
// Every message is formatted into a stack buffer and written with one
// write(2), so lines from keel never interleave mid-line with a child's
// output and logging never allocates (it runs inside signal and reap
// handlers). Personalities (tini, dumb-init) format their own prefixes on
// top of write_line(); native keel uses msg().
//
// In the system role msg() lines also go to /dev/kmsg (set_kmsg), with the
// syslog level the kernel expects ("<3>keel: error: ..."), so keel's own
// messages land in the kernel ring buffer beside the boot messages, and in
// whatever reads it (dmesg, a serial console), even before any log file
// exists.
#pragma once

#include <cstdarg>

namespace keel::log {

enum class Level : int { Error = 0, Warn = 1, Info = 2, Debug = 3, Trace = 4 };

// Messages at or below this level are shown (default: Warn).
void set_verbosity(int level) noexcept;
[[nodiscard]] int verbosity() noexcept;
[[nodiscard]] inline bool enabled(Level level) noexcept { return static_cast<int>(level) <= verbosity(); }

// The fd keel's own messages go to (default 2). The system role points it
// at the console.
void set_fd(int fd) noexcept;
[[nodiscard]] int fd() noexcept;

// Also copy each msg() line to /dev/kmsg, prefixed "<N>" with the syslog
// level (error 3, warning 4, info 6, debug and trace 7). On: /dev/kmsg is
// opened once (write-only, close-on-exec, non-blocking); a failure to open
// or write is ignored (no /dev yet, the kernel's rate limit). Off: closed.
// fd() is taken to be the console: a line the kernel would echo there (more
// urgent than its console_loglevel, read from /proc/sys/kernel/printk when
// turned on) is not copied to kmsg, so the console shows each line once.
void set_kmsg(bool on) noexcept;
[[nodiscard]] bool kmsg() noexcept;

// Start each msg() line on fd() with the time since boot, "[    1.234567] ",
// as the kernel stamps its console lines (the system role as the machine's
// init: every boot step then shows when it happened).
void set_timestamps(bool on) noexcept;

// Format one line (a newline is appended) and write it to `fd` in one call.
void write_line(int fd, const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));
void vwrite_line(int fd, const char* fmt, va_list args) noexcept;

// Native keel message: "keel: error: ..." etc., when `level` is enabled.
void msg(Level level, const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));

}  // namespace keel::log
