// rng_watch.hpp — knowing when the kernel's RNG is initialised, without
// waiting for it.
//
// The `rng-ready` milestone: services that need good randomness (a Python
// program calling os.urandom, which blocks until then) can be ordered after
// it while everything else starts at once. keel itself must never block on
// the RNG, so the watch is one non-blocking probe and then an fd in the
// event loop:
//
//   * getrandom(buf, 1, GRND_NONBLOCK) succeeds: the RNG is ready now;
//   * otherwise (EAGAIN) /dev/random is opened O_NONBLOCK and watched for
//     EPOLLIN: the kernel makes it readable exactly when the crng is ready
//     (random_poll). keel never reads it — readability is the signal — and
//     closes it after the one callback.
#pragma once

#include <cstdint>

#include "core/event_loop.hpp"
#include "core/result.hpp"

namespace keel {

class RngWatch final : private FdHandler {
 public:
  class Callback {
   public:
    virtual void on_rng_ready() noexcept = 0;

   protected:
    ~Callback() = default;
  };

  RngWatch() noexcept = default;
  ~RngWatch();
  RngWatch(const RngWatch&) = delete;
  RngWatch& operator=(const RngWatch&) = delete;

  // Probe, then watch. The callback runs exactly once: from inside start()
  // when the RNG is ready already (ready() is then true when start returns),
  // else from the loop when it becomes ready. An error (no /dev/random to
  // watch, epoll refused it) leaves ready() false and nothing watched: the
  // caller decides what the milestone does then. Call start() once.
  Status start(EventLoop& loop, Callback& callback) noexcept;

  // start() without the probe: straight to watching /dev/random. For tests
  // (the host's RNG is ready, so start() would never watch) and for a
  // getrandom() that a seccomp filter refuses.
  Status watch(EventLoop& loop, Callback& callback) noexcept;

  [[nodiscard]] bool ready() const noexcept { return ready_; }
  // When it was seen ready (monotonic_ns()); 0 while not ready.
  [[nodiscard]] std::int64_t ready_at_ns() const noexcept { return ready_at_ns_; }
  // The RNG was ready at start() (no wait at all).
  [[nodiscard]] bool ready_at_start() const noexcept { return ready_at_start_; }
  // /dev/random is being watched.
  [[nodiscard]] bool watching() const noexcept { return fd_ >= 0; }

  // One non-blocking probe: is the kernel's RNG initialised now?
  [[nodiscard]] static bool probe() noexcept;

 private:
  void on_ready(std::uint32_t events) noexcept override;
  void become_ready() noexcept;
  void stop_watching() noexcept;

  EventLoop* loop_ = nullptr;
  Callback* callback_ = nullptr;
  int fd_ = -1;
  bool ready_ = false;
  bool ready_at_start_ = false;
  std::int64_t ready_at_ns_ = 0;
};

}  // namespace keel
