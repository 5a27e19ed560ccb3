// log.hpp — keel's own messages.
//
// Every message is formatted into a stack buffer and handed whole to
// log_output.hpp's sink for its fd, which writes it without ever waiting
// (a descriptor of keel's own, non-blocking), keeps what the device does not
// take in a fixed backlog and drops and counts what does not fit, so a
// stalled console or an unread log pipe cannot stop PID 1. Lines from keel
// never interleave mid-line with a child's output, and logging never
// allocates (it runs inside signal and reap handlers). Personalities (tini, dumb-init) format their own prefixes on
// top of write_line(); native keel uses msg().
//
// In the system role msg() lines also go to /dev/kmsg (set_kmsg), with the
// syslog level the kernel expects ("<3>keel: error: ..."), so keel's own
// messages land in the kernel ring buffer beside the boot messages, and in
// whatever reads it (dmesg, a serial console), even before any log file
// exists.
#pragma once

#include <cstdarg>
#include <cstdint>
#include <string_view>

namespace keel::log {

enum class Level : int { Error = 0, Warn = 1, Info = 2, Debug = 3, Trace = 4 };

// Messages at or below this level are shown (default: Warn).
void set_verbosity(int level) noexcept;
[[nodiscard]] int verbosity() noexcept;
[[nodiscard]] inline bool enabled(Level level) noexcept { return static_cast<int>(level) <= verbosity(); }

// The fd keel's own messages go to (default 2, the console in the system
// role). keel writes to it through a descriptor of its own
// (log_output.hpp); lines written to fd 1 (write_line) get one too.
void set_fd(int fd) noexcept;
[[nodiscard]] int fd() noexcept;

// Decide again how to write to fd() and fd 1 without waiting: after /proc is
// mounted (the first way to reopen them) and after the console was put on
// fds 0-2. A backlog is kept and flushed to the new descriptor.
void reopen_output() noexcept;

// The event loop's part (core/log_flusher.hpp): `watch(context, fd, true)`
// when keel's output to `fd` has a backlog (watch it for EPOLLOUT and call
// flush_output(); return false when it cannot be watched), `watch(context,
// fd, false)` when it has none left (or before its fd is closed). nullptr:
// nobody watches; a backlog is then retried on the next line.
using OutputWatch = bool (*)(void* context, int fd, bool watch) noexcept;
void set_output_watch(OutputWatch watch, void* context) noexcept;
// Write what the devices take now from the backlogs. Never waits.
void flush_output() noexcept;
// keel's own lines dropped since start because a device was not accepting
// output and the backlog was full (or the device had gone): `keelctl status`.
[[nodiscard]] std::uint64_t output_lost() noexcept;

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

// Format one line (a newline is appended) and write it to `fd` whole: fd()
// and fd 1 through their non-blocking sinks, any other fd with write(2).
void write_line(int fd, const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));
void vwrite_line(int fd, const char* fmt, va_list args) noexcept;

// One whole line (ending in '\n'), as it is, to fd() or fd 1 through its
// non-blocking sink: written now, queued, or dropped and counted, never
// waited for. Any other fd: nothing is written. For lines keel passes on
// (a service's output: service/container_output.hpp).
void write_text(int fd, std::string_view line) noexcept;

// Native keel message: "keel: error: ..." etc., when `level` is enabled.
void msg(Level level, const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));

}  // namespace keel::log
