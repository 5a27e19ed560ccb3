#include "service/notify.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "core/limits.hpp"

namespace keel::service {
namespace {

// An sd_notify message is small; systemd itself reads at most PIPE_BUF
// (4096) bytes and drops the rest. So does keel.
constexpr std::size_t kNotifyMessageMax = 4096;
// fds one message may carry: enough for a full fd store; the kernel closes
// any beyond (MSG_CTRUNC), and keel closes those it does not keep.
constexpr std::size_t kPassedFdsMax =
    limits::kFdStoreMax > limits::kNotifyPassedFdsMax ? limits::kFdStoreMax : limits::kNotifyPassedFdsMax;

// A whole decimal number from 0 to `max`: no sign, no blanks, no "0x".
bool parse_bounded(std::string_view digits, std::uint64_t max, std::uint64_t& out) noexcept {
  if (digits.empty()) return false;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc{} || end != digits.data() + digits.size() || v > max) return false;
  out = v;
  return true;
}

// The fd store's part of a trusted message (FDSTORE=1, FDSTOREREMOVE=1,
// FDNAME=): the fds the target kept, the first `kept` of `fds`.
std::size_t fd_store_message(std::string_view message, const int* fds, std::size_t count,
                             NotifyTarget& target) noexcept {
  bool store = false;
  bool remove = false;
  bool barrier = false;
  bool has_name = false;
  std::string_view name = "stored";
  while (!message.empty()) {
    std::size_t nl = message.find('\n');
    std::string_view line = message.substr(0, nl);
    message = nl == std::string_view::npos ? std::string_view{} : message.substr(nl + 1);
    if (line == "FDSTORE=1") {
      store = true;
    } else if (line == "FDSTOREREMOVE=1") {
      remove = true;
    } else if (line == "BARRIER=1") {
      barrier = true;
    } else if (line.starts_with("FDNAME=")) {
      name = line.substr(7);
      has_name = true;
    }
  }
  // LISTEN_FDNAMES' rules: ':' separates the names; no control characters.
  bool name_ok = !name.empty() && name.size() <= limits::kFdNameMax;
  for (char ch : name) {
    if (ch == ':' || static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) name_ok = false;
  }
  if (remove && has_name && name_ok) target.notify_fd_store_remove(name);
  if (count == 0) return 0;
  if (!store) {
    // BARRIER=1's fd is there to be closed: nothing to say about it.
    if (!barrier) target.notify_fds_closed(count, "no FDSTORE=1 with them");
    return 0;
  }
  if (!name_ok) {
    target.notify_fds_closed(count, "a bad FDNAME= (1 to 255 printable bytes, no ':')");
    return 0;
  }
  std::size_t kept = target.notify_fd_store(name, fds, count);
  return kept < count ? kept : count;
}

}  // namespace

void parse_notify_message(std::string_view message, NotifyTarget& target) noexcept {
  while (!message.empty()) {
    std::size_t nl = message.find('\n');
    std::string_view line = message.substr(0, nl);
    message = nl == std::string_view::npos ? std::string_view{} : message.substr(nl + 1);
    if (line == "READY=1") {
      target.notify_ready();
    } else if (line == "STOPPING=1") {
      target.notify_stopping();
    } else if (line.starts_with("STATUS=")) {
      target.notify_status(line.substr(7));
    } else if (line.starts_with("MAINPID=")) {
      std::string_view digits = line.substr(8);
      long pid = 0;
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
      if (ec == std::errc{} && end == digits.data() + digits.size() && pid > 0 && pid < (1L << 30)) {
        target.notify_main_pid(static_cast<pid_t>(pid));
      }
    } else if (line == "WATCHDOG=1") {
      target.notify_watchdog();
    } else if (line == "WATCHDOG=trigger") {
      target.notify_watchdog_trigger();
    } else if (line == "RELOADING=1") {
      target.notify_reloading();
    } else {
      std::uint64_t v = 0;
      if (line.starts_with("WATCHDOG_USEC=")) {
        if (parse_bounded(line.substr(14), limits::kNotifyUsecMax, v) && v > 0) target.notify_watchdog_usec(v);
      } else if (line.starts_with("EXTEND_TIMEOUT_USEC=")) {
        if (parse_bounded(line.substr(20), limits::kNotifyUsecMax, v)) target.notify_extend_timeout(v);
      } else if (line.starts_with("MONOTONIC_USEC=")) {
        // A CLOCK_MONOTONIC time, not a duration: any u64 is well formed.
        if (parse_bounded(line.substr(15), UINT64_MAX, v)) target.notify_monotonic_usec(v);
      } else if (line.starts_with("ERRNO=")) {
        // Linux errnos are below 4096 (MAX_ERRNO).
        if (parse_bounded(line.substr(6), 4095, v)) target.notify_errno(static_cast<int>(v));
      }
    }
  }
}

Status NotifySocket::open(EventLoop& loop, const char* path, uid_t owner, gid_t group, NotifyTarget& target) noexcept {
  close();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::size_t len = std::strlen(path);
  if (len >= sizeof addr.sun_path) return Error{ENAMETOOLONG, "notify socket path"};
  std::memcpy(addr.sun_path, path, len + 1);
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return errno_error("notify socket");
  // Before bind: no datagram may arrive without the sender's credentials.
  int on = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) {
    Error e = errno_error("notify socket SO_PASSCRED");
    ::close(fd);
    return e;
  }
  ::unlink(path);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    Error e = errno_error("bind notify socket");
    ::close(fd);
    return e;
  }
  // The service's user may send (sending needs write permission on the
  // socket file), nobody else but root. A datagram sent in the moment
  // between bind and chmod is still judged by its credentials. The parent
  // directory is keel's alone, so the path cannot be swapped under us.
  if (::chown(path, owner, group) != 0 || ::chmod(path, 0600) != 0) {
    Error e = errno_error("notify socket owner and mode");
    ::close(fd);
    ::unlink(path);
    return e;
  }
  Status s = loop.add(fd, EPOLLIN, *this);
  if (!s) {
    ::close(fd);
    ::unlink(path);
    return s;
  }
  std::memcpy(path_, path, len + 1);
  fd_ = fd;
  loop_ = &loop;
  target_ = &target;
  return {};
}

void NotifySocket::close() noexcept {
  if (fd_ < 0) return;
  loop_->remove(fd_, *this);
  ::close(fd_);
  ::unlink(path_);
  fd_ = -1;
  path_[0] = '\0';
}

void NotifySocket::on_ready(std::uint32_t /*events*/) noexcept {
  // Drain every queued datagram: several may arrive before one wake-up.
  for (;;) {
    char buffer[kNotifyMessageMax];
    // Room for the credentials and a few passed fds; fds beyond it are
    // closed by the kernel (MSG_CTRUNC).
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * kPassedFdsMax)];
    iovec iov{buffer, sizeof buffer};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd_, &msg, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // EAGAIN: all read
    }
    NotifySender sender;
    int passed[kPassedFdsMax];
    std::size_t passed_count = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET) continue;
      if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
        ucred cred{};
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        sender.pid = cred.pid;
        sender.uid = cred.uid;
        sender.gid = cred.gid;
      } else if (c->cmsg_type == SCM_RIGHTS) {
        std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
          int fd = -1;
          std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
          if (fd < 0) continue;
          if (passed_count < kPassedFdsMax) {
            passed[passed_count++] = fd;
          } else {
            ::close(fd);
          }
        }
      }
    }
    // The sender is judged while it is surely alive: a BARRIER=1 sender
    // waits for its passed fd to be closed and may exit right after, and a
    // gone process is no longer "in the service". So the fds are closed
    // only after the check, unless a trusted FDSTORE=1 hands them over.
    std::size_t kept = 0;
    if (target_->notify_sender_allowed(sender)) {
      std::size_t got = static_cast<std::size_t>(n) < sizeof buffer ? static_cast<std::size_t>(n) : sizeof buffer;
      const std::string_view message(buffer, got);
      parse_notify_message(message, *target_);
      kept = fd_store_message(message, passed, passed_count, *target_);
    } else if (passed_count > 0) {
      target_->notify_fds_closed(passed_count, "the sender was refused");
    }
    for (std::size_t i = kept; i < passed_count; ++i) ::close(passed[i]);
    if (fd_ < 0) return;  // the target closed us (the service stopped)
  }
}

Status ReadyPipe::open(EventLoop& loop, NotifyTarget& target) noexcept {
  close();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return errno_error("notify pipe");
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  Status s = loop.add(fds[0], EPOLLIN, *this);
  if (!s) {
    ::close(fds[0]);
    ::close(fds[1]);
    return s;
  }
  read_fd_ = fds[0];
  write_fd_ = fds[1];
  loop_ = &loop;
  target_ = &target;
  return {};
}

void ReadyPipe::close_write_end() noexcept {
  if (write_fd_ >= 0) ::close(write_fd_);
  write_fd_ = -1;
}

void ReadyPipe::close() noexcept {
  close_write_end();
  if (read_fd_ < 0) return;
  loop_->remove(read_fd_, *this);
  ::close(read_fd_);
  read_fd_ = -1;
}

void ReadyPipe::on_ready(std::uint32_t /*events*/) noexcept {
  char buffer[512];
  for (;;) {
    ssize_t n = ::read(read_fd_, buffer, sizeof buffer);
    if (n > 0) {
      if (std::memchr(buffer, '\n', static_cast<std::size_t>(n)) != nullptr) {
        // Ready: the pipe has done its job. Closing it now also means a
        // service that keeps writing gets EPIPE rather than filling it.
        close();
        target_->notify_ready();
        return;
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) close();  // every writer is gone without a newline
    return;               // EAGAIN, or EOF handled
  }
}

}  // namespace keel::service
