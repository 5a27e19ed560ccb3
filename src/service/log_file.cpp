// log_file.cpp — see log_file.hpp. Rotated names are built in stack
// buffers, so rotation allocates nothing and can run in the read handler.
#include "service/log_file.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace keel::service {
namespace {

// "NAME.N" into `out`; false when it does not fit (a name near NAME_MAX).
bool numbered(char (&out)[NAME_MAX + 1], const char* name, int n) noexcept {
  int len = std::snprintf(out, sizeof out, "%s.%d", name, n);
  return len > 0 && static_cast<std::size_t>(len) < sizeof out;
}

}  // namespace

void LogFile::configure(std::string path, std::uint64_t max_size, int keep) noexcept {
  if (path != path_) {
    close();
    path_ = std::move(path);
    // The paths are absolute (service/config checks); the name is the
    // rest after the last '/', a suffix of path_ (nothing to allocate).
    const std::size_t slash = path_.rfind('/');
    base_at_ = slash == std::string::npos ? path_.size() : slash + 1;
  }
  max_size_ = max_size;
  keep_ = keep < 0 ? 0 : keep;
}

void LogFile::close_file() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  size_ = 0;
  torn_ = false;
}

void LogFile::close() noexcept {
  close_file();
  if (dir_fd_ >= 0) ::close(dir_fd_);
  dir_fd_ = -1;
}

Status LogFile::open_file() noexcept {
  if (base()[0] == '\0') return Error{EINVAL, "log file path (not /DIR/NAME)"};
  if (dir_fd_ < 0) {
    char dir_path[PATH_MAX];
    const std::size_t dir_len = base_at_ == 1 ? 1 : base_at_ - 1;  // "/" for a file in the root
    if (dir_len >= sizeof dir_path) return Error{ENAMETOOLONG, "open log directory"};
    std::memcpy(dir_path, path_.data(), dir_len);
    dir_path[dir_len] = '\0';
    // O_PATH|O_NOFOLLOW: an fd for whatever the path names, a link
    // included, without opening it (no FIFO to wait on, no device to
    // wake); fstat then says what it is. An O_PATH fd is enough for the
    // *at calls below.
    int dir = ::open(dir_path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0) return errno_error("open log directory");
    struct stat dst{};
    if (::fstat(dir, &dst) != 0 || !S_ISDIR(dst.st_mode)) {
      const bool link = S_ISLNK(dst.st_mode);
      ::close(dir);
      return link ? Error{ELOOP, "log directory is a symbolic link (not followed)"}
                  : Error{ENOTDIR, "open log directory"};
    }
    dir_fd_ = dir;
  }
  int fd = ::openat(dir_fd_, base(),
                    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW, 0640);
  if (fd < 0) return errno_error(errno == ELOOP ? "log file is a symbolic link (not followed)" : "open log file");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    Error e = errno_error("fstat log file");
    ::close(fd);
    return e;
  }
  // A second name for the same file is a hard link someone made to it: with
  // fs.protected_hardlinks off (the kernel's default), anyone who can write
  // the folder can link any file there, /etc/shadow included.
  if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
    ::close(fd);
    return Error{EMLINK, "log file has other hard links (refused)"};
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
  char from[NAME_MAX + 1];
  char to[NAME_MAX + 1];
  // Oldest first, so each rename lands on a name already moved away; the
  // last FILE.keep is replaced atomically and never counted twice. All
  // relative to the held directory: renameat never follows a link (it
  // replaces one at the target, and moves one at the source).
  for (int i = keep_ - 1; i >= 1; --i) {
    if (!numbered(from, base(), i) || !numbered(to, base(), i + 1)) return Error{ENAMETOOLONG, "rotate log file"};
    if (::renameat(dir_fd_, from, dir_fd_, to) != 0 && errno != ENOENT) return errno_error("rotate log file");
  }
  if (!numbered(to, base(), 1)) return Error{ENAMETOOLONG, "rotate log file"};
  if (::renameat(dir_fd_, base(), dir_fd_, to) != 0 && errno != ENOENT) return errno_error("rotate log file");
  // FILE is now FILE.1: whatever happens next, no more lines go to it.
  close_file();
  return open_file();
}

Status LogFile::write_line(std::string_view line) noexcept {
  if (path_.empty()) return {};
  if (fd_ < 0) {
    if (Status s = open_file(); !s) return s;
  }
  // Only a regular file rotates: renaming a path that names a device node
  // would replace the device with a file.
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
