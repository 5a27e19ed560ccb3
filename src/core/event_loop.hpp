// event_loop.hpp — the single-threaded heart of keel.
//
// One epoll instance watches every fd keel cares about (signalfd, the timer
// fd, and later service pipes and the control socket). Timers are an
// intrusive list sorted by deadline behind ONE timerfd that is armed to the
// earliest deadline, so an idle keel sleeps in epoll_wait with no timeout
// and no periodic wake-up. Nothing here allocates after init(): handlers and
// timers are owned by their users and linked in place.
#pragma once

#include <sys/epoll.h>

#include <cstdint>

#include "core/result.hpp"

struct epoll_event;

namespace keel {

class FdHandler {
 public:
  // `events` is the epoll event mask (EPOLLIN, EPOLLHUP, ...).
  virtual void on_ready(std::uint32_t events) noexcept = 0;

 protected:
  ~FdHandler() = default;
};

// An fd handler that can also wait for its own event and consume it in one
// syscall (a signalfd's signals can be taken with sigwaitinfo). When it is
// the only fd the loop watches and no timer is armed, the loop lets it wait,
// which saves epoll_wait's extra syscall on every event. That is the steady
// state of a container init: one wake-up per orphan to reap, per signal to
// forward.
class SoleWaiter {
 public:
  // Block until the event, then dispatch it. EINTR is not an error.
  virtual Status wait_and_dispatch() noexcept = 0;

 protected:
  ~SoleWaiter() = default;
};

class TimerHandler {
 public:
  virtual void on_timer() noexcept = 0;

 protected:
  ~TimerHandler() = default;
};

// Monotonic time in nanoseconds (CLOCK_MONOTONIC).
[[nodiscard]] std::int64_t monotonic_ns() noexcept;

class EventLoop;

// A one-shot timer. Owned by its user; must outlive its armed period or be
// disarmed first (the destructor disarms).
class Timer {
 public:
  Timer(EventLoop& loop, TimerHandler& handler) noexcept : loop_(loop), handler_(handler) {}
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // (Re)arm to fire once, `delay_ns` from now.
  void arm_after(std::int64_t delay_ns) noexcept;
  void disarm() noexcept;
  [[nodiscard]] bool armed() const noexcept { return armed_; }
  // When it fires (monotonic_ns()), if armed.
  [[nodiscard]] std::int64_t deadline_ns() const noexcept { return deadline_ns_; }

 private:
  friend class EventLoop;
  EventLoop& loop_;
  TimerHandler& handler_;
  std::int64_t deadline_ns_ = 0;
  Timer* next_ = nullptr;
  bool armed_ = false;
};

class EventLoop final : private FdHandler {
 public:
  EventLoop() noexcept = default;
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Create the epoll and timer fds (close-on-exec, so children never see them).
  Status init() noexcept;

  // `sole`: how `handler` can wait by itself when it is all there is to wait for.
  Status add(int fd, std::uint32_t events, FdHandler& handler, SoleWaiter* sole = nullptr) noexcept;
  Status modify(int fd, std::uint32_t events, FdHandler& handler) noexcept;
  // Stop watching `fd`, whose handler is `handler`. An event of that handler
  // still pending in the batch being dispatched is dropped, so the handler
  // may be destroyed as soon as this returns, even from inside another
  // handler's callback of the same batch.
  void remove(int fd, const FdHandler& handler) noexcept;

  // Wait for and dispatch one batch of events. Blocks without a timeout when
  // no timer is armed. EINTR is not an error (returns ok, dispatching nothing).
  // With a single fd that has a SoleWaiter and no timer, that waiter waits.
  Status run_once() noexcept;

  // Run until stop() is called from a handler.
  Status run() noexcept;
  void stop() noexcept { stopping_ = true; }
  [[nodiscard]] bool stopping() const noexcept { return stopping_; }

 private:
  friend class Timer;
  void link(Timer& timer) noexcept;
  void unlink(Timer& timer) noexcept;
  void rearm_timerfd() noexcept;
  void on_ready(std::uint32_t events) noexcept override;  // the timerfd fired

  int epoll_fd_ = -1;
  int timer_fd_ = -1;
  Timer* timers_ = nullptr;            // sorted by deadline, earliest first
  int watched_fds_ = 0;                // fds added by users (not the timerfd)
  int sole_fd_ = -1;                   // the fd whose SoleWaiter may wait alone
  SoleWaiter* sole_ = nullptr;
  std::int64_t armed_deadline_ = -1;   // what timer_fd_ is set to; -1 = disarmed
  // The batch being dispatched (run_once's stack array) and the index of the
  // next event to deliver: remove() clears the pending events of a handler.
  epoll_event* batch_ = nullptr;
  int batch_next_ = 0;
  int batch_size_ = 0;
  bool stopping_ = false;
};

}  // namespace keel
