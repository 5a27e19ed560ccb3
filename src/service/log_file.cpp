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
#include <ctime>
#include <utility>

#include "service/log_record.hpp"

namespace keel::service {
namespace {

// "NAME.N" into `out`; false when it does not fit (a name near NAME_MAX).
bool numbered(char (&out)[NAME_MAX + 1], const char* name, int n, const char* suffix = "") noexcept {
  int len = std::snprintf(out, sizeof out, "%s.%d%s", name, n, suffix);
  return len > 0 && static_cast<std::size_t>(len) < sizeof out;
}

std::int64_t now_ms() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

constexpr const char* kSuffixes[] = {"", ".gz"};

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
  first_ms_ = -1;
  if (regular_ && size_ > 0 && max_age_ms_ > 0) {
    // FILE's age is its first line's stamp: read back through a second,
    // read-only descriptor of the same file (checked: same inode).
    first_ms_ = now_ms();
    int rd = ::openat(dir_fd_, base(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
    struct stat rst{};
    char stamp[limits::kServiceLogStamp];
    if (rd >= 0 && ::fstat(rd, &rst) == 0 && rst.st_ino == st.st_ino && rst.st_dev == st.st_dev &&
        ::pread(rd, stamp, sizeof stamp, 0) == static_cast<ssize_t>(sizeof stamp)) {
      std::int64_t ms = 0;
      if (log_record::stamp_ms(std::string_view(stamp, sizeof stamp), ms)) first_ms_ = ms;
    }
    if (rd >= 0) ::close(rd);
  }
  return {};
}

std::int64_t LogFile::age_deadline() const noexcept {
  if (max_age_ms_ <= 0 || fd_ < 0 || !regular_ || size_ == 0 || first_ms_ < 0 || compressing_) return -1;
  return first_ms_ + max_age_ms_;
}

Status LogFile::rotate_if_old(std::int64_t now) noexcept {
  const std::int64_t due = age_deadline();
  if (due < 0 || now < due) return {};
  return rotate();
}

bool LogFile::compress_job(int& dir_fd, const char*& name, Compression& how) noexcept {
  if (!compress_pending_ || compressing_ || dir_fd_ < 0) return false;
  compress_pending_ = false;
  compressing_ = true;
  dir_fd = dir_fd_;
  name = job_name_;
  how = compress_;
  return true;
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
  // Each of FILE.N and FILE.N.gz moves; one that moved in replaces the
  // other form of FILE.N+1, so no older copy stays behind.
  for (int i = keep_ - 1; i >= 1; --i) {
    for (const char* suffix : kSuffixes) {
      if (!numbered(from, base(), i, suffix) || !numbered(to, base(), i + 1, suffix)) {
        return Error{ENAMETOOLONG, "rotate log file"};
      }
      if (::renameat(dir_fd_, from, dir_fd_, to) != 0) {
        if (errno == ENOENT) continue;
        return errno_error("rotate log file");
      }
      for (const char* other : kSuffixes) {
        if (other != suffix && numbered(to, base(), i + 1, other)) (void)::unlinkat(dir_fd_, to, 0);
      }
    }
  }
  if (!numbered(to, base(), 1)) return Error{ENAMETOOLONG, "rotate log file"};
  if (::renameat(dir_fd_, base(), dir_fd_, to) != 0 && errno != ENOENT) return errno_error("rotate log file");
  for (const char* other : kSuffixes) {
    char stale[NAME_MAX + 1];
    if (*other != '\0' && numbered(stale, base(), 1, other)) (void)::unlinkat(dir_fd_, stale, 0);
  }
  if (compress_ != Compression::None && keep_ >= 1 && std::strlen(to) < sizeof job_name_) {
    std::memcpy(job_name_, to, std::strlen(to) + 1);
    compress_pending_ = true;
  }
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
  // Not while FILE.1 is being compressed (log_file.hpp): FILE grows a
  // little past its limits instead.
  const std::int64_t now = now_ms();
  const std::int64_t due = age_deadline();
  if (regular_ && size_ > 0 && !compressing_ && (size_ + line.size() > max_size_ || (due >= 0 && now >= due))) {
    if (Status s = rotate(); !s) return s;
  }
  if (size_ == 0) first_ms_ = now;
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
