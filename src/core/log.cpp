#include "core/log.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/limits.hpp"

namespace keel::log {
namespace {

int g_verbosity = static_cast<int>(Level::Warn);
int g_fd = 2;

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

void format_and_write(int fd, const char* prefix, const char* fmt, va_list args) noexcept {
  char line[limits::kLogLine];
  int saved_errno = errno;  // callers often log right before they use errno
  std::size_t used = 0;
  if (prefix != nullptr) {
    int n = std::snprintf(line, sizeof line, "%s", prefix);
    used = n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  int n = std::vsnprintf(line + used, sizeof line - used, fmt, args);
  if (n < 0) n = 0;
  used += static_cast<std::size_t>(n);
  if (used >= sizeof line - 1) {  // cut: mark it, keep room for the newline
    used = sizeof line - 5;
    for (int dot = 0; dot < 3; ++dot) line[used++] = '.';
  }
  line[used++] = '\n';
  write_all(fd, line, used);
  errno = saved_errno;
}

}  // namespace

void set_verbosity(int level) noexcept { g_verbosity = level; }
int verbosity() noexcept { return g_verbosity; }
void set_fd(int fd) noexcept { g_fd = fd; }
int fd() noexcept { return g_fd; }

void vwrite_line(int fd, const char* fmt, va_list args) noexcept { format_and_write(fd, nullptr, fmt, args); }

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
  va_list args;
  va_start(args, fmt);
  format_and_write(g_fd, prefix, fmt, args);
  va_end(args);
}

}  // namespace keel::log
