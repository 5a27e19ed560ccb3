#include "core/log_output.hpp"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace keel::log {

bool LineBacklog::push(std::string_view text) noexcept {
  if (text.size() > room()) return false;
  std::memcpy(data_ + used_, text.data(), text.size());
  used_ += text.size();
  return true;
}

void LineBacklog::consume(std::size_t n) noexcept {
  n = std::min(n, used_);
  // At most kLogBacklogBytes moved, and only while the device is slow.
  std::memmove(data_, data_ + n, used_ - n);
  used_ -= n;
}

std::size_t LineBacklog::discard() noexcept {
  std::size_t lines = static_cast<std::size_t>(std::count(data_, data_ + used_, '\n'));
  used_ = 0;
  return lines;
}

namespace {

// /dev/console: the one device keel can open by name before /proc is
// mounted (the kernel opened it for init from the same node).
constexpr unsigned kConsoleMajor = 5;
constexpr unsigned kConsoleMinor = 1;

int reopen_nonblocking(int fd, const struct stat& st) noexcept {
  char path[32];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  // A new open file description of the same terminal, FIFO or pipe: its
  // O_NONBLOCK is keel's alone. O_NOCTTY: a terminal must not become keel's
  // controlling one by this.
  int own = ::open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (own >= 0) return own;
  if (S_ISCHR(st.st_mode) && major(st.st_rdev) == kConsoleMajor && minor(st.st_rdev) == kConsoleMinor) {
    return ::open("/dev/console", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  }
  return -1;
}

}  // namespace

void OutputSink::attach(int fd) noexcept {
  detach();
  target_ = fd;
  own_fd_ = fd;
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    mode_ = OutputMode::Discard;
    return;
  }
  if (S_ISSOCK(st.st_mode)) {
    mode_ = OutputMode::Socket;
  } else if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
    mode_ = OutputMode::File;
  } else if (int flags = ::fcntl(fd, F_GETFL); flags >= 0 && (flags & O_NONBLOCK) != 0) {
    mode_ = OutputMode::Own;  // already non-blocking (whoever set it): nothing to change
  } else if (int own = reopen_nonblocking(fd, st); own >= 0) {
    own_fd_ = own;
    owned_ = true;
    mode_ = OutputMode::Own;
  } else {
    // Not reopened: no /proc (very early boot, before the system role
    // mounts it; a chroot without it) and not the console; another user's
    // pipe or terminal (EACCES); a FIFO whose reader has gone. A pipe is
    // written with RWF_NOWAIT where the kernel has it for pipes; anything
    // else only when poll() says it takes data: a device that takes part of
    // a line and then stalls, or a pipe another writer fills between the
    // poll and the write, can still hold keel until the reader reads. The
    // system role attaches again once /proc is mounted.
    mode_ = OutputMode::Guarded;
    nowait_ = S_ISFIFO(st.st_mode);
  }
}

void OutputSink::detach() noexcept {
  if (owned_) ::close(own_fd_);
  owned_ = false;
  own_fd_ = -1;
  nowait_ = false;
  mode_ = OutputMode::Unattached;
}

void OutputSink::attach_test(WriteFn device, void* context) noexcept {
  detach();
  test_write_ = device;
  test_context_ = context;
  mode_ = OutputMode::Test;
}

int OutputSink::poll_fd() const noexcept {
  switch (mode_) {
    case OutputMode::Own:
    case OutputMode::Socket:
    case OutputMode::Guarded: return own_fd_;
    default: return -1;
  }
}

ssize_t OutputSink::device_write(const char* data, std::size_t len) noexcept {
  switch (mode_) {
    case OutputMode::Own:
    case OutputMode::File: return ::write(own_fd_, data, len);
    case OutputMode::Socket: return ::send(own_fd_, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    case OutputMode::Guarded: {
      if (nowait_) {
        // A pipe or FIFO keel could not reopen (another user's: `docker run
        // --user`, a pipe made by root's runtime, mode 0600): recent kernels
        // take a per-write "do not wait" for pipes, without touching the
        // shared O_NONBLOCK. Not for this kind of file (a terminal): poll.
        iovec iov{const_cast<char*>(data), len};
        ssize_t n = ::pwritev2(own_fd_, &iov, 1, -1, RWF_NOWAIT);
        if (n >= 0 || (errno != EOPNOTSUPP && errno != EINVAL)) return n;
        nowait_ = false;
      }
      pollfd p{own_fd_, POLLOUT, 0};
      int n = ::poll(&p, 1, 0);
      if (n == 0 || (n > 0 && (p.revents & POLLOUT) == 0 && (p.revents & (POLLERR | POLLHUP)) == 0)) {
        errno = EAGAIN;
        return -1;
      }
      return ::write(own_fd_, data, len);  // an error (EPIPE) is reported by the write itself
    }
    case OutputMode::Test: return test_write_(test_context_, data, len);
    case OutputMode::Unattached:
    case OutputMode::Discard: break;
  }
  return static_cast<ssize_t>(len);  // nowhere to write: taken
}

// A notice for the unreported lines is in the backlog: they count as
// reported once it is written.
void OutputSink::note_notice_queued() noexcept {
  ++notices_queued_;
  reported_queued_ += unreported_;
  unreported_ = 0;
}

// The device has gone: the lines waiting are lost, but the notices among
// them are not lines of keel's to count, and the losses they would have
// reported are unreported again. (A notice already written while the
// backlog never emptied since is taken as still queued: at worst a loss
// is reported twice, never hidden.)
void OutputSink::discard_backlog() noexcept {
  std::size_t lines = backlog_.discard();
  std::uint64_t notices = std::min<std::uint64_t>(notices_queued_, lines);
  drop(lines - notices);
  unreported_ += reported_queued_;
  notices_queued_ = 0;
  reported_queued_ = 0;
}

void OutputSink::drop(std::uint64_t lines) noexcept {
  lost_total_ += lines;
  unreported_ += lines;
}

// "keel: N lines of keel's own output lost (...)\n" into `buf`; its length.
std::size_t OutputSink::format_notice(char (&buf)[kNoticeMax]) const noexcept {
  int n = std::snprintf(buf, sizeof buf,
                        "keel: %llu line%s of keel's own output lost (the console or log was not accepting output)\n",
                        static_cast<unsigned long long>(unreported_), unreported_ == 1 ? "" : "s");
  return n > 0 ? std::min(static_cast<std::size_t>(n), sizeof buf - 1) : 0;
}

// The "lost" line goes into the backlog in front of the next line that
// gets in, so it is written in order, after everything that was kept.
void OutputSink::queue(std::string_view line) noexcept {
  if (unreported_ > 0) {
    // The notice and the line together, or neither: a notice alone would
    // have to count this line too.
    char notice[kNoticeMax];
    std::size_t len = format_notice(notice);
    if (backlog_.room() < len + line.size()) {
      drop(1);
      return;
    }
    backlog_.push(std::string_view(notice, len));
    backlog_.push(line);
    note_notice_queued();
    return;
  }
  if (!backlog_.push(line)) drop(1);
}

void OutputSink::write(std::string_view line) noexcept {
  if (mode_ == OutputMode::Discard) return;
  // While the loop watches the fd, it says when to try again: no write per
  // line that would only return EAGAIN.
  if (backlogged() && watched_fd_ < 0) flush();
  if (!backlogged() && unreported_ == 0) {
    for (;;) {
      ssize_t n = device_write(line.data(), line.size());
      if (n >= 0) {
        // A short write (a terminal with little room): the tail waits at
        // the front of the backlog, ahead of anything else.
        if (static_cast<std::size_t>(n) < line.size()) backlog_.push(line.substr(static_cast<std::size_t>(n)));
        return;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        backlog_.push(line);  // the backlog is empty: a line always fits
      } else {
        drop(1);  // EPIPE (the reader has gone), EIO (a hung-up terminal): lost
      }
      return;
    }
  }
  bool was_empty = !backlogged();
  queue(line);
  // Nothing was waiting (only a loss to report): try now.
  if (was_empty) flush();
}

void OutputSink::flush() noexcept {
  while (backlogged()) {
    std::string_view pending = backlog_.pending();
    // Whole lines, at most PIPE_BUF bytes at a time: a pipe takes such a
    // write whole or not at all, so another writer of the same pipe (the
    // services, on the console) cannot land inside one of keel's lines.
    std::size_t len = std::min<std::size_t>(pending.size(), PIPE_BUF);
    if (len < pending.size()) {
      std::size_t end = pending.substr(0, len).rfind('\n');
      if (end != std::string_view::npos) len = end + 1;
    }
    ssize_t n = device_write(pending.data(), len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      discard_backlog();  // the device has gone (EPIPE, EIO): what it held is lost
      return;
    }
    if (n == 0) return;  // took nothing: wait for the next chance
    backlog_.consume(static_cast<std::size_t>(n));
    if (!backlogged()) {
      notices_queued_ = 0;  // every queued notice has been written
      reported_queued_ = 0;
    }
    if (!backlogged() && unreported_ > 0) {
      // Drained after a loss with no line since: say so now (an empty
      // backlog always has room for it).
      char notice[kNoticeMax];
      if (backlog_.push(std::string_view(notice, format_notice(notice)))) note_notice_queued();
    }
  }
}

}  // namespace keel::log
