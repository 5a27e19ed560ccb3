#include "core/event_loop.hpp"

#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "core/limits.hpp"

namespace keel {

std::int64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

Timer::~Timer() { disarm(); }

void Timer::arm_after(std::int64_t delay_ns) noexcept {
  if (armed_) loop_.unlink(*this);
  // Saturated: now + delay must not overflow whatever the caller passes.
  // An overflowed (negative) deadline sorted first and disarmed the timerfd,
  // so no timer of the loop fired again.
  const std::int64_t now = monotonic_ns();
  const std::int64_t room = limits::kTimerMaxDeadlineNs > now ? limits::kTimerMaxDeadlineNs - now : 0;
  deadline_ns_ = now + std::clamp<std::int64_t>(delay_ns, 0, room);
  loop_.link(*this);
  loop_.rearm_timerfd();
}

void Timer::disarm() noexcept {
  if (!armed_) return;
  loop_.unlink(*this);
  loop_.rearm_timerfd();
}

EventLoop::~EventLoop() {
  while (timers_ != nullptr) unlink(*timers_);
  if (timer_fd_ >= 0) ::close(timer_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

Status EventLoop::init() noexcept {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return errno_error("epoll_create1");
  timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (timer_fd_ < 0) return errno_error("timerfd_create");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = static_cast<FdHandler*>(this);
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, timer_fd_, &ev) != 0) return errno_error("epoll_ctl(ADD)");
  return {};
}

Status EventLoop::add(int fd, std::uint32_t events, FdHandler& handler, SoleWaiter* sole) noexcept {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = &handler;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) return errno_error("epoll_ctl(ADD)");
  ++watched_fds_;
  if (sole != nullptr) {
    sole_fd_ = fd;
    sole_ = sole;
  }
  return {};
}

Status EventLoop::modify(int fd, std::uint32_t events, FdHandler& handler) noexcept {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = &handler;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0) return errno_error("epoll_ctl(MOD)");
  return {};
}

void EventLoop::remove(int fd, const FdHandler& handler) noexcept {
  // First, so that a failed EPOLL_CTL_DEL (fd already closed) still keeps a
  // dying handler from being called.
  for (int i = batch_next_; i < batch_size_; ++i) {
    if (batch_[i].data.ptr == &handler) batch_[i].data.ptr = nullptr;
  }
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr) != 0) return;
  --watched_fds_;
  if (fd == sole_fd_) {
    sole_fd_ = -1;
    sole_ = nullptr;
  }
}

// The two dispatch points call handlers through their base classes.
// UBSan's vptr check (sanitizer builds only) probes the object's memory
// through a pipe, so when the fd table is full, which keel must survive,
// it reports a live handler as an invalid object. It is turned off here;
// AddressSanitizer still catches a call on a freed handler (the vtable
// pointer's load).
#if defined(__SANITIZE_ADDRESS__)
#define KEEL_NO_VPTR_CHECK __attribute__((no_sanitize("vptr")))
#else
#define KEEL_NO_VPTR_CHECK
#endif

KEEL_NO_VPTR_CHECK Status EventLoop::run_once() noexcept {
  if (sole_ != nullptr && watched_fds_ == 1 && timers_ == nullptr) return sole_->wait_and_dispatch();
  epoll_event events[limits::kEpollBatch];
  int n = ::epoll_wait(epoll_fd_, events, limits::kEpollBatch, -1);
  if (n < 0) {
    if (errno == EINTR) return {};  // e.g. SIGCONT after a stop; nothing to dispatch
    return errno_error("epoll_wait");
  }
  // A callback may remove (and its owner destroy) another handler whose event
  // is later in this batch: remove() clears that event's pointer.
  batch_ = events;
  batch_size_ = n;
  for (int i = 0; i < n; ++i) {
    batch_next_ = i + 1;
    auto* handler = static_cast<FdHandler*>(events[i].data.ptr);
    if (handler != nullptr) handler->on_ready(events[i].events);
  }
  batch_ = nullptr;
  batch_size_ = 0;
  batch_next_ = 0;
  return {};
}

Status EventLoop::run() noexcept {
  while (!stopping_) {
    Status s = run_once();
    if (!s) return s;
  }
  return {};
}

void EventLoop::link(Timer& timer) noexcept {
  Timer** slot = &timers_;
  while (*slot != nullptr && (*slot)->deadline_ns_ <= timer.deadline_ns_) slot = &(*slot)->next_;
  timer.next_ = *slot;
  *slot = &timer;
  timer.armed_ = true;
}

void EventLoop::unlink(Timer& timer) noexcept {
  for (Timer** slot = &timers_; *slot != nullptr; slot = &(*slot)->next_) {
    if (*slot == &timer) {
      *slot = timer.next_;
      break;
    }
  }
  timer.next_ = nullptr;
  timer.armed_ = false;
}

void EventLoop::rearm_timerfd() noexcept {
  std::int64_t want = timers_ != nullptr ? timers_->deadline_ns_ : -1;
  if (want == armed_deadline_ || timer_fd_ < 0) return;  // skip a syscall when nothing changes
  itimerspec spec{};
  if (want >= 0) {
    // Absolute deadline; a deadline already past must still fire, and an
    // all-zero it_value would disarm, so clamp to 1 ns.
    std::int64_t at = want > 0 ? want : 1;
    spec.it_value.tv_sec = static_cast<time_t>(at / 1'000'000'000);
    spec.it_value.tv_nsec = static_cast<long>(at % 1'000'000'000);
  }
  ::timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
  armed_deadline_ = want;
}

KEEL_NO_VPTR_CHECK void EventLoop::on_ready(std::uint32_t /*events*/) noexcept {
  std::uint64_t expirations = 0;
  // Drain the fd; the count itself is not needed, deadlines are compared below.
  if (::read(timer_fd_, &expirations, sizeof expirations) < 0) { /* EAGAIN: spurious */ }
  armed_deadline_ = -1;
  std::int64_t now = monotonic_ns();
  // Pop due timers one at a time: a handler may arm or disarm others.
  while (timers_ != nullptr && timers_->deadline_ns_ <= now) {
    Timer* due = timers_;
    unlink(*due);
    due->handler_.on_timer();
  }
  rearm_timerfd();
}

}  // namespace keel
