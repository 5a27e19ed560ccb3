// rng_watch.cpp — the kernel RNG's readiness as an event (see rng_watch.hpp).
#include "system/rng_watch.hpp"

#include <fcntl.h>
#include <linux/random.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "core/log.hpp"

namespace keel {

RngWatch::~RngWatch() { stop_watching(); }

bool RngWatch::probe() noexcept {
  // One byte with GRND_NONBLOCK: EAGAIN until the crng is initialised, and
  // it cannot block. A raw syscall, so the flags are exactly these.
  unsigned char byte = 0;
  for (;;) {
    long n = ::syscall(SYS_getrandom, &byte, 1, GRND_NONBLOCK);
    if (n == 1) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

Status RngWatch::start(EventLoop& loop, Callback& callback) noexcept {
  loop_ = &loop;
  callback_ = &callback;
  if (probe()) {
    ready_at_start_ = true;
    become_ready();
    return {};
  }
  return watch(loop, callback);
}

Status RngWatch::watch(EventLoop& loop, Callback& callback) noexcept {
  loop_ = &loop;
  callback_ = &callback;
  if (fd_ >= 0 || ready_) return {};
  // Not ready (or no getrandom at all: ENOSYS, a kernel before 3.17, where
  // /dev/random's readability still tells). O_NONBLOCK so that nothing,
  // even a stray read, could ever block keel on it.
  fd_ = ::open("/dev/random", O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd_ < 0) return errno_error("open /dev/random");
  Status added = loop.add(fd_, EPOLLIN, *this);
  if (!added) {
    ::close(fd_);
    fd_ = -1;
    return added;
  }
  // The RNG may have become ready between the probe and the watch: epoll
  // reports a level that is already there, so that case fires at once.
  return {};
}

void RngWatch::on_ready(std::uint32_t events) noexcept {
  // EPOLLIN is the only thing /dev/random's poll reports for reading; an
  // EPOLLERR/HUP would be a kernel without the semantics, so re-probe
  // rather than trust it.
  if ((events & EPOLLIN) == 0 && !probe()) {
    stop_watching();
    log::msg(log::Level::Warn, "/dev/random reported 0x%x, not readiness: rng-ready cannot be detected", events);
    return;
  }
  stop_watching();
  become_ready();
}

void RngWatch::become_ready() noexcept {
  if (ready_) return;
  ready_ = true;
  ready_at_ns_ = monotonic_ns();
  if (callback_ != nullptr) callback_->on_rng_ready();
}

void RngWatch::stop_watching() noexcept {
  if (fd_ < 0) return;
  if (loop_ != nullptr) loop_->remove(fd_, *this);
  ::close(fd_);
  fd_ = -1;
}

}  // namespace keel
