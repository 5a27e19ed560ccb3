#include "core/log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "core/limits.hpp"
#include "core/log_output.hpp"
#include "core/terminal_text.hpp"

namespace keel::log {
namespace {

int g_verbosity = static_cast<int>(Level::Warn);
int g_fd = 2;
int g_kmsg_fd = -1;  // /dev/kmsg when set_kmsg(true) opened it
// The kernel prints a kmsg record on the console when its level is below
// this (the first field of /proc/sys/kernel/printk); 0: prints none.
int g_console_loglevel = 0;
bool g_timestamps = false;  // msg() lines start with the time since boot

// keel's own output (log_output.hpp): one sink for log::fd() (stderr, the
// console), one for stdout (the tini personality's lower levels), each with
// its backlog in static storage (untouched, it costs no memory). When fd 1
// is the same file as log::fd() (a console on fds 0-2, one log pipe), its
// lines share the one sink, so they stay in order with the others.
char g_err_storage[limits::kLogBacklogBytes];
char g_out_storage[limits::kLogBacklogBytes];
constinit OutputSink g_err(g_err_storage, sizeof g_err_storage);
constinit OutputSink g_out(g_out_storage, sizeof g_out_storage);
int g_out_alias = -1;  // fd 1 is the same file as g_fd: 1 yes, 0 no, -1 not looked at yet
OutputWatch g_watch = nullptr;
void* g_watch_context = nullptr;

bool same_file(int a, int b) noexcept {
  struct stat sa {};
  struct stat sb {};
  if (::fstat(a, &sa) != 0 || ::fstat(b, &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// The loop watches a sink's fd for EPOLLOUT exactly while it has a backlog
// it can be woken for (a container init's lone-signalfd wait stays on
// otherwise: core/event_loop.hpp).
void sync_watch(OutputSink& sink) noexcept {
  int want = (g_watch != nullptr && sink.backlogged()) ? sink.poll_fd() : -1;
  int have = sink.watched();
  if (want == have) return;
  if (have >= 0) {
    if (g_watch != nullptr) g_watch(g_watch_context, have, false);
    sink.set_watched(-1);
  }
  if (want >= 0 && g_watch != nullptr && g_watch(g_watch_context, want, true)) sink.set_watched(want);
}

void unwatch(OutputSink& sink) noexcept {
  if (sink.watched() >= 0 && g_watch != nullptr) g_watch(g_watch_context, sink.watched(), false);
  sink.set_watched(-1);
}

OutputSink* sink_for(int fd) noexcept {
  OutputSink* sink = nullptr;
  if (fd == g_fd) {
    sink = &g_err;
  } else if (fd == STDOUT_FILENO) {
    if (g_out_alias < 0) g_out_alias = same_file(STDOUT_FILENO, g_fd) ? 1 : 0;
    sink = g_out_alias == 1 ? &g_err : &g_out;
  } else {
    return nullptr;
  }
  if (sink->mode() == OutputMode::Unattached) sink->attach(sink == &g_err ? g_fd : STDOUT_FILENO);
  return sink;
}

// The syslog priority the kernel reads from the start of a /dev/kmsg line.
int syslog_level(Level level) noexcept {
  switch (level) {
    case Level::Error: return 3;
    case Level::Warn: return 4;
    case Level::Info: return 6;
    case Level::Debug:
    case Level::Trace: return 7;
  }
  return 6;
}

const char* level_word(Level level) noexcept {
  switch (level) {
    case Level::Error: return "error: ";
    case Level::Warn: return "warning: ";
    case Level::Info: return "";
    case Level::Debug: return "debug: ";
    case Level::Trace: return "trace: ";
  }
  return "";
}

// Write all of buf; a console that returns EINTR or a short count must not
// lose the end of a line. EAGAIN (a non-blocking fd that is full) drops the
// rest: keel never blocks on its own log.
void write_all(int fd, const char* buf, std::size_t len) noexcept {
  while (len > 0) {
    ssize_t n = ::write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    buf += n;
    len -= static_cast<std::size_t>(n);
  }
}

// Format "PREFIX MESSAGE\n" into line + kKmsgRoom, leaving room in front
// for a "<N>" kmsg level or a "[SSSSS.uuuuuu] " time stamp, so one
// formatting serves both writes. Returns the length from line + kKmsgRoom.
constexpr std::size_t kKmsgRoom = 24;

// `escape`: the message (not the prefix) goes through terminal_text, since
// keel's messages quote what services control (names from file names, argv
// in exec errors, ...) and must not drive the console.
std::size_t format_line(char (&line)[limits::kLogLine + kKmsgRoom], const char* prefix, bool escape, const char* fmt,
                        va_list args) noexcept {
  char* text = line + kKmsgRoom;
  const std::size_t size = limits::kLogLine;
  std::size_t used = 0;
  if (prefix != nullptr) {
    int n = std::snprintf(text, size, "%s", prefix);
    used = n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  if (escape) {
    char raw[limits::kLogLine];
    int n = std::vsnprintf(raw, sizeof raw, fmt, args);
    std::size_t len = n > 0 ? static_cast<std::size_t>(n) : 0;
    bool cut = len >= sizeof raw;
    if (cut) len = sizeof raw - 1;
    std::size_t wrote = terminal_text::escape(std::string_view(raw, len), text + used, size - used);
    // Cut by vsnprintf or while escaping: marked below like any cut line.
    if (wrote + 1 >= size - used) cut = true;
    used = cut ? size - 1 : used + wrote;
  } else {
    int n = std::vsnprintf(text + used, size - used, fmt, args);
    if (n < 0) n = 0;
    used += static_cast<std::size_t>(n);
  }
  if (used >= size - 1) {  // cut: mark it, keep room for the newline
    used = size - 5;
    for (int dot = 0; dot < 3; ++dot) text[used++] = '.';
  }
  text[used++] = '\n';
  return used;
}

// One whole line to `fd`: through its sink (never waiting), or, for an fd
// that is neither stdout nor log::fd(), as before.
void emit(int fd, const char* data, std::size_t len) noexcept {
  OutputSink* sink = sink_for(fd);
  if (sink == nullptr) {
    write_all(fd, data, len);
    return;
  }
  sink->write(std::string_view(data, len));
  sync_watch(*sink);
}

void format_and_write(int fd, const char* prefix, const char* fmt, va_list args) noexcept {
  char line[limits::kLogLine + kKmsgRoom];
  int saved_errno = errno;  // callers often log right before they use errno
  std::size_t used = format_line(line, prefix, false, fmt, args);
  emit(fd, line + kKmsgRoom, used);
  errno = saved_errno;
}

}  // namespace

void set_verbosity(int level) noexcept { g_verbosity = level; }
int verbosity() noexcept { return g_verbosity; }
void set_fd(int fd) noexcept {
  g_fd = fd;
  reopen_output();
}
int fd() noexcept { return g_fd; }

void reopen_output() noexcept {
  int saved_errno = errno;
  for (OutputSink* sink : {&g_err, &g_out}) {
    unwatch(*sink);
    sink->detach();
  }
  g_out_alias = -1;
  // A backlog left from before is written to the new descriptor; otherwise
  // the sinks attach on their next line.
  if (g_err.backlogged()) g_err.attach(g_fd);
  if (g_out.backlogged()) g_out.attach(STDOUT_FILENO);
  flush_output();
  errno = saved_errno;
}

void set_output_watch(OutputWatch watch, void* context) noexcept {
  for (OutputSink* sink : {&g_err, &g_out}) unwatch(*sink);
  g_watch = watch;
  g_watch_context = context;
  for (OutputSink* sink : {&g_err, &g_out}) sync_watch(*sink);
}

void flush_output() noexcept {
  int saved_errno = errno;
  for (OutputSink* sink : {&g_err, &g_out}) {
    if (sink->backlogged() && sink->mode() != OutputMode::Unattached) sink->flush();
    sync_watch(*sink);
  }
  errno = saved_errno;
}

std::uint64_t output_lost() noexcept { return g_err.lost() + g_out.lost(); }

void set_kmsg(bool on) noexcept {
  if (on && g_kmsg_fd < 0) {
    // Non-blocking: the kernel never blocks a kmsg writer, but keel must not
    // depend on it. A missing /dev/kmsg (no devtmpfs yet) is simply no copy.
    g_kmsg_fd = ::open("/dev/kmsg", O_WRONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    g_console_loglevel = 0;
    int fd = ::open("/proc/sys/kernel/printk", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      char buf[32] = {};
      if (::read(fd, buf, sizeof buf - 1) > 0) g_console_loglevel = std::atoi(buf);
      ::close(fd);
    }
  } else if (!on && g_kmsg_fd >= 0) {
    ::close(g_kmsg_fd);
    g_kmsg_fd = -1;
  }
}
bool kmsg() noexcept { return g_kmsg_fd >= 0; }
void set_timestamps(bool on) noexcept { g_timestamps = on; }

void vwrite_line(int fd, const char* fmt, va_list args) noexcept { format_and_write(fd, nullptr, fmt, args); }

void write_text(int fd, std::string_view line) noexcept {
  OutputSink* sink = sink_for(fd);
  if (sink == nullptr || line.empty()) return;
  sink->write(line);
  sync_watch(*sink);
}

void write_line(int fd, const char* fmt, ...) noexcept {
  va_list args;
  va_start(args, fmt);
  format_and_write(fd, nullptr, fmt, args);
  va_end(args);
}

void msg(Level level, const char* fmt, ...) noexcept {
  if (!enabled(level)) return;
  char prefix[32];
  std::snprintf(prefix, sizeof prefix, "keel: %s", level_word(level));
  char line[limits::kLogLine + kKmsgRoom];
  int saved_errno = errno;
  va_list args;
  va_start(args, fmt);
  std::size_t used = format_line(line, prefix, true, fmt, args);
  va_end(args);
  if (g_timestamps) {
    // The time since boot, as the kernel stamps its own lines, so the
    // console reads as one time line.
    timespec now{};
    ::clock_gettime(CLOCK_BOOTTIME, &now);
    char stamp[kKmsgRoom + 1];
    int n = std::snprintf(stamp, sizeof stamp, "[%5ld.%06ld] ", static_cast<long>(now.tv_sec),
                          static_cast<long>(now.tv_nsec / 1000));
    std::size_t len = n > 0 ? std::min(static_cast<std::size_t>(n), kKmsgRoom) : 0;
    std::memcpy(line + kKmsgRoom - len, stamp, len);
    emit(g_fd, line + kKmsgRoom - len, used + len);
  } else {
    emit(g_fd, line + kKmsgRoom, used);
  }
  // The kmsg copy is left out when the kernel would print it on the
  // console too: keel's own console line is always written (the kernel
  // rate-limits /dev/kmsg writers, so it cannot be the only copy), and a
  // console must not show every line twice.
  if (g_kmsg_fd >= 0 && syslog_level(level) >= g_console_loglevel) {
    // One write is one kmsg record; a failure (rate limit, EAGAIN) is only
    // a missing copy, the console has the line.
    char* start = line + kKmsgRoom - 3;
    start[0] = '<';
    start[1] = static_cast<char>('0' + syslog_level(level));
    start[2] = '>';
    ssize_t n = ::write(g_kmsg_fd, start, used + 3);
    (void)n;
  }
  errno = saved_errno;
}

}  // namespace keel::log
