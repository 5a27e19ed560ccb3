#include "core/signal_source.hpp"

#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/limits.hpp"

namespace keel {

bool is_blockable(int signo) noexcept {
  return signo >= 1 && signo <= limits::kMaxSignal && signo != SIGKILL && signo != SIGSTOP;
}

void add_signal(sigset_t& set, int signo) noexcept {
  if (sigaddset(&set, signo) == 0) return;
  // The kernel's layout: bit N-1 for signal N, in unsigned longs.
  constexpr int kBits = 8 * static_cast<int>(sizeof(unsigned long));
  if (signo >= 1 && signo <= limits::kMaxSignal) set.__val[(signo - 1) / kBits] |= 1UL << ((signo - 1) % kBits);
}

namespace {

// sigprocmask() without glibc's filter, which drops 32 and 33 (see
// add_signal).
int block_raw(const sigset_t& set, sigset_t* old) noexcept {
  return static_cast<int>(::syscall(SYS_rt_sigprocmask, SIG_BLOCK, &set, old, _NSIG / 8));
}

}  // namespace

SignalSource::SignalSource() noexcept {
  sigemptyset(&handled_);
  sigemptyset(&original_mask_);
  sigemptyset(&original_ignored_);
}

SignalSource::~SignalSource() {
  if (fd_ >= 0) ::close(fd_);
}

Status SignalSource::init(EventLoop& loop, const sigset_t& handled, SignalHandler& handler) noexcept {
  handler_ = &handler;
  handled_ = handled;
  for (int signo = 1; signo <= limits::kMaxSignal; ++signo) {
    struct sigaction current {};
    if (::sigaction(signo, nullptr, &current) == 0 && current.sa_handler == SIG_IGN) {
      sigaddset(&original_ignored_, signo);
    }
  }
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  if (::sigaction(SIGCHLD, &dfl, nullptr) != 0) return errno_error("sigaction(SIGCHLD)");
  // Block before creating the fd, so nothing arriving in between is lost
  // or acted on with the default disposition.
  if (block_raw(handled_, &original_mask_) != 0) return errno_error("sigprocmask");
  fd_ = ::signalfd(-1, &handled_, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd_ < 0) return errno_error("signalfd");
  return loop.add(fd_, EPOLLIN, *this, this);
}

// rt_sigtimedwait takes a signal from the same pending set the signalfd
// reads, so the two ways of waiting never see a signal twice or lose one.
// The raw syscall, not glibc's sigwaitinfo(), which rewrites si_code
// SI_TKILL to SI_USER and so would report a sender differently from the
// signalfd.
Status SignalSource::wait_and_dispatch() noexcept {
  siginfo_t si{};
  if (::syscall(SYS_rt_sigtimedwait, &handled_, &si, nullptr, _NSIG / 8) < 0) {
    if (errno == EINTR) return {};
    return errno_error("sigwaitinfo");
  }
  signalfd_siginfo info{};
  info.ssi_signo = static_cast<std::uint32_t>(si.si_signo);
  info.ssi_errno = si.si_errno;
  info.ssi_code = si.si_code;
  info.ssi_pid = static_cast<std::uint32_t>(si.si_pid);
  info.ssi_uid = si.si_uid;
  if (si.si_signo == SIGCHLD) info.ssi_status = si.si_status;
  info.ssi_int = si.si_value.sival_int;
  handler_->on_signal(info);
  return {};
}

void SignalSource::on_ready(std::uint32_t /*events*/) noexcept {
  signalfd_siginfo batch[limits::kSignalBatch];
  for (;;) {
    ssize_t n = ::read(fd_, batch, sizeof batch);
    if (n <= 0) return;  // EAGAIN: drained
    auto count = static_cast<std::size_t>(n) / sizeof(signalfd_siginfo);
    for (std::size_t i = 0; i < count; ++i) handler_->on_signal(batch[i]);
    if (count < limits::kSignalBatch) return;
  }
}

void SignalSource::reblock() noexcept { (void)block_raw(handled_, nullptr); }

}  // namespace keel
