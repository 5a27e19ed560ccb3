// RngWatch (system/rng_watch): on this host the kernel's RNG is initialised,
// so start() must report it at once without watching anything; the watching
// path (what a starved boot takes) is driven through watch(), which skips
// the probe: /dev/random is readable here, exactly the state the kernel
// enters when the crng becomes ready, so the loop must call back once and
// close the fd. The starved case itself is a QEMU boot test.
#include "system/rng_watch.hpp"

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <fcntl.h>
#include <unistd.h>

#include "test_util.hpp"

namespace keel {
namespace {

using testutil::open_fds;
using testutil::Watchdog;

struct Counter final : RngWatch::Callback {
  int calls = 0;
  void on_rng_ready() noexcept override { ++calls; }
};

bool run_until(EventLoop& loop, const std::function<bool()>& done, int timeout_ms = 2000) {
  Watchdog dog(timeout_ms);
  while (!done() && !Watchdog::expired()) {
    Status s = loop.run_once();
    EXPECT_TRUE(s.ok()) << s.error().context << ": " << s.error().message();
    if (!s) return false;
  }
  return done();
}

bool dev_random_open() {
  for (const auto& [fd, what] : open_fds()) {
    if (what == "/dev/random") return true;
  }
  return false;
}

TEST(RngWatch, TheProbeSaysReadyOnThisHost) { EXPECT_TRUE(RngWatch::probe()); }

TEST(RngWatch, ReadyAtOnceCallsBackFromStartAndWatchesNothing) {
  EventLoop loop;
  ASSERT_TRUE(loop.init());
  Counter counter;
  RngWatch watch;
  EXPECT_FALSE(watch.ready());
  EXPECT_EQ(watch.ready_at_ns(), 0);
  std::int64_t before = monotonic_ns();
  ASSERT_TRUE(watch.start(loop, counter));
  EXPECT_TRUE(watch.ready());
  EXPECT_TRUE(watch.ready_at_start());
  EXPECT_FALSE(watch.watching());
  EXPECT_EQ(counter.calls, 1);
  EXPECT_GE(watch.ready_at_ns(), before);
  EXPECT_LE(watch.ready_at_ns(), monotonic_ns());
  EXPECT_FALSE(dev_random_open());
}

TEST(RngWatch, TheWatchedDevRandomCallsBackOnceFromTheLoopAndIsClosed) {
  EventLoop loop;
  ASSERT_TRUE(loop.init());
  Counter counter;
  {
    RngWatch watch;
    ASSERT_TRUE(watch.watch(loop, counter));
    EXPECT_TRUE(watch.watching());
    EXPECT_FALSE(watch.ready());
    EXPECT_EQ(counter.calls, 0) << "watch() must not call back by itself";
    EXPECT_TRUE(dev_random_open());
    ASSERT_TRUE(run_until(loop, [&] { return counter.calls > 0; }));
    EXPECT_EQ(counter.calls, 1);
    EXPECT_TRUE(watch.ready());
    EXPECT_FALSE(watch.ready_at_start());
    EXPECT_FALSE(watch.watching());
    EXPECT_FALSE(dev_random_open());
    // Nothing left in the loop: a turn with a short watchdog dispatches nothing.
    {
      Watchdog dog(50);
      (void)loop.run_once();
    }
    EXPECT_EQ(counter.calls, 1);
  }
}

TEST(RngWatch, DestroyingAWatchRemovesItFromTheLoop) {
  EventLoop loop;
  ASSERT_TRUE(loop.init());
  Counter counter;
  {
    RngWatch watch;
    ASSERT_TRUE(watch.watch(loop, counter));
  }
  EXPECT_FALSE(dev_random_open());
  Watchdog dog(50);
  (void)loop.run_once();  // a dangling handler would be called here
  EXPECT_EQ(counter.calls, 0);
}

// The kernel semantics the watch relies on: a ready crng makes /dev/random
// readable for poll (EPOLLIN), and the fd is never read.
TEST(RngWatch, DevRandomPollsReadableWhenTheRngIsReady) {
  int fd = ::open("/dev/random", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ASSERT_EQ(::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
  epoll_event got{};
  EXPECT_EQ(::epoll_wait(ep, &got, 1, 1000), 1);
  EXPECT_NE(got.events & EPOLLIN, 0U);
  ::close(ep);
  ::close(fd);
}

}  // namespace
}  // namespace keel
