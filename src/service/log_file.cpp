// log_file.cpp — see log_file.hpp. Rotated names are built in stack
// buffers, so rotation allocates nothing and can run in the read handler.
#include "service/log_file.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <utility>

namespace keel::service {
namespace {

// "PATH.N" into `out`; false when it does not fit (a path near PATH_MAX).
bool numbered(char (&out)[PATH_MAX], const std::string& path, int n) noexcept {
  int len = std::snprintf(out, sizeof out, "%s.%d", path.c_str(), n);
  return len > 0 && static_cast<std::size_t>(len) < sizeof out;
}

}  // namespace

void LogFile::configure(std::string path, std::uint64_t max_size, int keep) noexcept {
  if (path != path_) {
    close();
    path_ = std::move(path);
  }
  max_size_ = max_size;
  keep_ = keep < 0 ? 0 : keep;
}

void LogFile::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  size_ = 0;
  torn_ = false;
}

Status LogFile::open_file() noexcept {
  int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0640);
  if (fd < 0) return errno_error("open log file");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    Error e = errno_error("fstat log file");
    ::close(fd);
    return e;
  }
  fd_ = fd;
  regular_ = S_ISREG(st.st_mode);
  size_ = regular_ ? static_cast<std::uint64_t>(st.st_size) : 0;
  return {};
}

Status LogFile::rotate() noexcept {
  if (keep_ == 0) {
    if (::ftruncate(fd_, 0) != 0) return errno_error("truncate log file");
    size_ = 0;
    return {};
  }
  char from[PATH_MAX];
  char to[PATH_MAX];
  // Oldest first, so each rename lands on a name already moved away; the
  // last FILE.keep is replaced atomically and never counted twice.
  for (int i = keep_ - 1; i >= 1; --i) {
    if (!numbered(from, path_, i) || !numbered(to, path_, i + 1)) return Error{ENAMETOOLONG, "rotate log file"};
    if (::rename(from, to) != 0 && errno != ENOENT) return errno_error("rotate log file");
  }
  if (!numbered(to, path_, 1)) return Error{ENAMETOOLONG, "rotate log file"};
  if (::rename(path_.c_str(), to) != 0 && errno != ENOENT) return errno_error("rotate log file");
  // FILE is now FILE.1: whatever happens next, no more lines go to it.
  close();
  return open_file();
}

Status LogFile::write_line(std::string_view line) noexcept {
  if (path_.empty()) return {};
  if (fd_ < 0) {
    if (Status s = open_file(); !s) return s;
  }
  // Only a regular file rotates: renaming a path that names a device (a
  // link to /dev/console, say) would replace the device with a file.
  if (regular_ && size_ > 0 && size_ + line.size() > max_size_) {
    if (Status s = rotate(); !s) return s;
  }
  if (torn_) {
    // An earlier line was cut by a full disk and could not be taken back:
    // end it, so the next line starts on a line of its own.
    if (::write(fd_, "\n", 1) != 1) return errno_error("write log file");
    ++size_;
    torn_ = false;
  }
  for (;;) {
    ssize_t n = ::write(fd_, line.data(), line.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("write log file");
    if (static_cast<std::size_t>(n) == line.size()) {
      size_ += static_cast<std::uint64_t>(n);
      return {};
    }
    // A short write to a regular file means the disk filled up mid-line.
    // Writing the rest would most likely fail too (and retrying in a loop is
    // what keel must not do), so the line is dropped whole: take back its
    // start, so the file holds whole lines only.
    int saved = errno;
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
      size_ += static_cast<std::uint64_t>(n);
      torn_ = true;
    }
    errno = saved;
    return Error{ENOSPC, "write log file (short)"};
  }
}

}  // namespace keel::service
