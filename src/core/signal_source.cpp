#include "core/signal_source.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include "core/limits.hpp"

namespace keel {

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
  if (::sigprocmask(SIG_BLOCK, &handled_, &original_mask_) != 0) return errno_error("sigprocmask");
  fd_ = ::signalfd(-1, &handled_, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd_ < 0) return errno_error("signalfd");
  return loop.add(fd_, EPOLLIN, *this);
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

}  // namespace keel
