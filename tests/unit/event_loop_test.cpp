// Unit tests for core/event_loop: timers behind one timerfd, fd dispatch,
// blocking when idle, stop().
//
// Nothing here may hang: every wait on the loop runs under a Watchdog
// (test_util.hpp), a repeating ITIMER_REAL whose SIGALRM (handler installed
// without SA_RESTART) makes epoll_wait fail with EINTR, which run_once()
// turns into an ok return, so the waiting loop can check its deadline.
#include "core/event_loop.hpp"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace keel {
namespace {

using testutil::in_child;
using testutil::kMs;
using testutil::open_fds;
using testutil::Watchdog;

// Run the loop until `done()` or `timeout_ms` passes. Returns done().
bool run_until(EventLoop& loop, const std::function<bool()>& done, int timeout_ms = 2000) {
  Watchdog dog(timeout_ms);
  while (!done() && !Watchdog::expired()) {
    Status s = loop.run_once();
    EXPECT_TRUE(s.ok()) << s.error().context << ": " << s.error().message();
    if (!s) return false;
  }
  return done();
}

// Run one loop turn, bounded: returns the ms it took, or -1 if the watchdog
// had to interrupt it after `timeout_ms`.
std::int64_t one_turn_ms(EventLoop& loop, int timeout_ms) {
  Watchdog dog(timeout_ms);
  std::int64_t t0 = monotonic_ns();
  Status s = loop.run_once();
  EXPECT_TRUE(s.ok());
  std::int64_t elapsed = (monotonic_ns() - t0) / kMs;
  return Watchdog::expired() ? -1 : elapsed;
}

// Records its name and the time in a shared log when fired; optional action.
struct Recorder final : TimerHandler {
  Recorder(std::vector<std::string>& log, std::string name) : log_(log), name_(std::move(name)) {}
  void on_timer() noexcept override {
    fired_at = monotonic_ns();
    ++count;
    log_.push_back(name_);
    if (action) action();
  }
  std::vector<std::string>& log_;
  std::string name_;
  std::function<void()> action;
  std::int64_t fired_at = 0;
  int count = 0;
};

struct FdRecorder final : FdHandler {
  void on_ready(std::uint32_t ev) noexcept override {
    events.push_back(ev);
    if (action) action(ev);
  }
  std::vector<std::uint32_t> events;
  std::function<void(std::uint32_t)> action;
};

class EventLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Status s = loop.init();
    ASSERT_TRUE(s.ok()) << s.error().context << ": " << s.error().message();
  }
  EventLoop loop;
  std::vector<std::string> log;
};

TEST(MonotonicNs, AdvancesAndMatchesClockMonotonic) {
  std::int64_t a = monotonic_ns();
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  std::int64_t b = monotonic_ns();
  std::int64_t c = static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  EXPECT_LE(a, c);
  EXPECT_LE(c, b);
  ::usleep(2000);
  EXPECT_GE(monotonic_ns() - b, 2 * kMs);
}

TEST(EventLoopInit, CreatesAnEpollAndATimerfdBothCloseOnExec) {
  auto before = open_fds();
  std::vector<std::pair<int, std::string>> added;
  {
    EventLoop loop;
    ASSERT_TRUE(loop.init().ok());
    for (const auto& entry : open_fds()) {
      bool old = false;
      for (const auto& b : before) old = old || b == entry;
      if (!old) added.push_back(entry);
    }
    ASSERT_EQ(added.size(), 2U);
    int epolls = 0;
    int timerfds = 0;
    for (const auto& [fd, what] : added) {
      EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC) << fd << " " << what;
      epolls += what == "anon_inode:[eventpoll]";
      timerfds += what == "anon_inode:[timerfd]";
    }
    EXPECT_EQ(epolls, 1);
    EXPECT_EQ(timerfds, 1);
  }
  // The destructor closes both.
  for (const auto& [fd, what] : added) EXPECT_LT(::fcntl(fd, F_GETFD), 0) << fd << " " << what << " leaked";
}

TEST_F(EventLoopTest, TimersFireInDeadlineOrder) {
  Recorder a(log, "a"), b(log, "b"), c(log, "c"), d(log, "d");
  Timer ta(loop, a), tb(loop, b), tc(loop, c), td(loop, d);
  std::int64_t start = monotonic_ns();
  ta.arm_after(40 * kMs);
  tb.arm_after(10 * kMs);
  tc.arm_after(25 * kMs);
  td.arm_after(1 * kMs);
  EXPECT_TRUE(ta.armed() && tb.armed() && tc.armed() && td.armed());
  ASSERT_TRUE(run_until(loop, [&] { return log.size() == 4; }));
  EXPECT_EQ(log, (std::vector<std::string>{"d", "b", "c", "a"}));
  // Never early.
  EXPECT_GE(a.fired_at - start, 40 * kMs);
  EXPECT_GE(b.fired_at - start, 10 * kMs);
  EXPECT_GE(c.fired_at - start, 25 * kMs);
  EXPECT_GE(d.fired_at - start, 1 * kMs);
  // Nor very late (a generous bound: only a gross error trips it).
  EXPECT_LT(a.fired_at - start, 1000 * kMs);
  EXPECT_FALSE(ta.armed() || tb.armed() || tc.armed() || td.armed());
  // One-shot: each fired once.
  EXPECT_EQ(a.count + b.count + c.count + d.count, 4);
}

TEST_F(EventLoopTest, ArmedReflectsState) {
  Recorder a(log, "a");
  Timer t(loop, a);
  EXPECT_FALSE(t.armed());
  t.arm_after(5 * kMs);
  EXPECT_TRUE(t.armed());
  t.disarm();
  EXPECT_FALSE(t.armed());
  t.disarm();  // disarming twice is harmless
  EXPECT_FALSE(t.armed());
  t.arm_after(1 * kMs);
  ASSERT_TRUE(run_until(loop, [&] { return a.count == 1; }));
  EXPECT_FALSE(t.armed());
}

TEST_F(EventLoopTest, RearmEarlierFiresOnceAtTheNewDeadline) {
  Recorder a(log, "a"), guard(log, "guard");
  Timer ta(loop, a), tg(loop, guard);
  ta.arm_after(10'000 * kMs);
  ta.arm_after(10 * kMs);
  tg.arm_after(60 * kMs);  // after this one fires, a must not fire again
  ASSERT_TRUE(run_until(loop, [&] { return guard.count == 1; }));
  EXPECT_EQ(log, (std::vector<std::string>{"a", "guard"}));
  EXPECT_FALSE(ta.armed());
}

TEST_F(EventLoopTest, RearmLaterDoesNotFireAtTheOldDeadline) {
  Recorder a(log, "a"), b(log, "b");
  Timer ta(loop, a), tb(loop, b);
  std::int64_t start = monotonic_ns();
  ta.arm_after(5 * kMs);
  tb.arm_after(30 * kMs);
  ta.arm_after(60 * kMs);  // moved behind b
  ASSERT_TRUE(run_until(loop, [&] { return log.size() == 2; }));
  EXPECT_EQ(log, (std::vector<std::string>{"b", "a"}));
  EXPECT_GE(a.fired_at - start, 60 * kMs);
  EXPECT_EQ(a.count, 1);
}

TEST_F(EventLoopTest, DisarmPreventsFiring) {
  Recorder a(log, "a"), b(log, "b");
  Timer ta(loop, a), tb(loop, b);
  ta.arm_after(5 * kMs);
  tb.arm_after(40 * kMs);
  ta.disarm();
  ASSERT_TRUE(run_until(loop, [&] { return b.count == 1; }));
  EXPECT_EQ(a.count, 0);
  EXPECT_EQ(log, (std::vector<std::string>{"b"}));
}

TEST_F(EventLoopTest, DisarmingTheOnlyTimerLeavesTheLoopIdle) {
  Recorder a(log, "a");
  Timer ta(loop, a);
  ta.arm_after(20 * kMs);
  ta.disarm();
  // Nothing may wake the loop: the watchdog has to interrupt it.
  EXPECT_EQ(one_turn_ms(loop, 150), -1);
  EXPECT_EQ(a.count, 0);
}

TEST_F(EventLoopTest, DestroyingAnArmedTimerDisarmsIt) {
  Recorder a(log, "a"), b(log, "b");
  Timer tb(loop, b);
  {
    Timer ta(loop, a);
    ta.arm_after(5 * kMs);
  }
  tb.arm_after(40 * kMs);
  ASSERT_TRUE(run_until(loop, [&] { return b.count == 1; }));
  EXPECT_EQ(a.count, 0);
}

TEST_F(EventLoopTest, HandlerArmsAnotherTimer) {
  Recorder a(log, "a"), b(log, "b");
  Timer ta(loop, a), tb(loop, b);
  a.action = [&] { tb.arm_after(15 * kMs); };
  std::int64_t start = monotonic_ns();
  ta.arm_after(5 * kMs);
  ASSERT_TRUE(run_until(loop, [&] { return b.count == 1; }));
  EXPECT_EQ(log, (std::vector<std::string>{"a", "b"}));
  EXPECT_GE(b.fired_at - a.fired_at, 15 * kMs);
  EXPECT_GE(b.fired_at - start, 20 * kMs);
}

TEST_F(EventLoopTest, HandlerArmsAnotherTimerWithZeroDelay) {
  Recorder a(log, "a"), b(log, "b");
  Timer ta(loop, a), tb(loop, b);
  a.action = [&] { tb.arm_after(0); };
  ta.arm_after(1 * kMs);
  ASSERT_TRUE(run_until(loop, [&] { return b.count == 1; }, 1000));
  EXPECT_EQ(log, (std::vector<std::string>{"a", "b"}));
}

TEST_F(EventLoopTest, HandlerRearmsItself) {
  Recorder a(log, "a");
  Timer ta(loop, a);
  a.action = [&] {
    if (a.count < 5) ta.arm_after(2 * kMs);
  };
  ta.arm_after(2 * kMs);
  ASSERT_TRUE(run_until(loop, [&] { return a.count == 5; }));
  EXPECT_FALSE(ta.armed());
  // And then it stays quiet.
  EXPECT_EQ(one_turn_ms(loop, 60), -1);
  EXPECT_EQ(a.count, 5);
}

TEST_F(EventLoopTest, HandlerRearmingItselfWithZeroDelayDoesNotSpinInOneTurn) {
  Recorder a(log, "a");
  Timer ta(loop, a);
  a.action = [&] { ta.arm_after(0); };
  ta.arm_after(0);
  Watchdog dog(1000);
  ASSERT_TRUE(loop.run_once().ok());
  ASSERT_FALSE(Watchdog::expired());
  // One turn pops the due timers; a timer re-armed at "now" is for the next turn.
  EXPECT_EQ(a.count, 1);
  ASSERT_TRUE(loop.run_once().ok());
  EXPECT_EQ(a.count, 2);
  ta.disarm();
}

TEST_F(EventLoopTest, HandlerDisarmsAnotherDueTimer) {
  Recorder a(log, "a"), b(log, "b"), c(log, "c");
  Timer ta(loop, a), tb(loop, b), tc(loop, c);
  a.action = [&] { tb.disarm(); };
  ta.arm_after(1 * kMs);
  tb.arm_after(2 * kMs);
  tc.arm_after(3 * kMs);
  ::usleep(20'000);  // all three are due when the loop next looks
  ASSERT_TRUE(run_until(loop, [&] { return c.count == 1; }));
  EXPECT_EQ(log, (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(b.count, 0);
}

TEST_F(EventLoopTest, AllDueTimersFireInOneTurn) {
  Recorder a(log, "a"), b(log, "b"), c(log, "c"), later(log, "later");
  Timer ta(loop, a), tb(loop, b), tc(loop, c), tl(loop, later);
  tc.arm_after(3 * kMs);
  ta.arm_after(1 * kMs);
  tb.arm_after(2 * kMs);
  tl.arm_after(10'000 * kMs);
  ::usleep(20'000);
  EXPECT_NE(one_turn_ms(loop, 1000), -1);
  EXPECT_EQ(log, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(tl.armed());
  tl.disarm();
}

TEST_F(EventLoopTest, ZeroDelayFiresOnTheNextRunOnce) {
  Recorder a(log, "a");
  Timer ta(loop, a);
  ta.arm_after(0);
  std::int64_t ms = one_turn_ms(loop, 1000);
  EXPECT_NE(ms, -1) << "run_once blocked on a timer armed with 0 delay";
  EXPECT_EQ(a.count, 1);
}

TEST_F(EventLoopTest, NegativeDelayFiresOnTheNextRunOnce) {
  Recorder a(log, "a");
  Timer ta(loop, a);
  ta.arm_after(-5 * kMs);
  EXPECT_NE(one_turn_ms(loop, 1000), -1);
  EXPECT_EQ(a.count, 1);
}

TEST_F(EventLoopTest, RunOnceBlocksWhenIdle) {
  // No timer, no fd: only the watchdog's SIGALRM (EINTR) ends the wait,
  // and run_once reports that as ok.
  std::int64_t t0 = monotonic_ns();
  EXPECT_EQ(one_turn_ms(loop, 150), -1);
  EXPECT_GE(monotonic_ns() - t0, 140 * kMs);
}

TEST_F(EventLoopTest, RunOnceBlocksAfterTheLastTimerFired) {
  Recorder a(log, "a");
  Timer ta(loop, a);
  ta.arm_after(1 * kMs);
  ASSERT_TRUE(run_until(loop, [&] { return a.count == 1; }));
  EXPECT_EQ(one_turn_ms(loop, 120), -1) << "the loop woke up with nothing to do";
  EXPECT_EQ(a.count, 1);
}

TEST_F(EventLoopTest, RunOnceWaitsForAFarTimer) {
  Recorder a(log, "a");
  Timer ta(loop, a);
  ta.arm_after(10'000 * kMs);
  EXPECT_EQ(one_turn_ms(loop, 120), -1);
  EXPECT_EQ(a.count, 0);
  ta.disarm();
}

TEST_F(EventLoopTest, FdHandlerGetsEpollin) {
  int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_GE(efd, 0);
  FdRecorder h;
  h.action = [&](std::uint32_t) {
    std::uint64_t v = 0;
    ssize_t n = ::read(efd, &v, sizeof v);
    (void)n;
  };
  ASSERT_TRUE(loop.add(efd, EPOLLIN, h).ok());
  std::uint64_t one = 1;
  ASSERT_EQ(::write(efd, &one, sizeof one), static_cast<ssize_t>(sizeof one));
  ASSERT_TRUE(run_until(loop, [&] { return !h.events.empty(); }));
  EXPECT_TRUE(h.events[0] & EPOLLIN);
  EXPECT_FALSE(h.events[0] & EPOLLOUT);
  // Drained: the next turn blocks.
  EXPECT_EQ(one_turn_ms(loop, 80), -1);
  EXPECT_EQ(h.events.size(), 1U);
  loop.remove(efd);
  ::close(efd);
}

TEST_F(EventLoopTest, FdHandlerGetsHangupWhenWriterCloses) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  FdRecorder h;
  ASSERT_TRUE(loop.add(p[0], EPOLLIN, h).ok());
  ::close(p[1]);
  ASSERT_TRUE(run_until(loop, [&] { return !h.events.empty(); }));
  EXPECT_TRUE(h.events[0] & EPOLLHUP);
  loop.remove(p[0]);
  ::close(p[0]);
}

TEST_F(EventLoopTest, EachFdGoesToItsOwnHandler) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_GE(efd, 0);
  FdRecorder pipe_reader, pipe_writer, event_reader;
  ASSERT_TRUE(loop.add(p[0], EPOLLIN, pipe_reader).ok());
  ASSERT_TRUE(loop.add(p[1], EPOLLOUT, pipe_writer).ok());
  ASSERT_TRUE(loop.add(efd, EPOLLIN, event_reader).ok());
  // Only the write end is ready.
  ASSERT_TRUE(run_until(loop, [&] { return !pipe_writer.events.empty(); }));
  EXPECT_TRUE(pipe_writer.events[0] & EPOLLOUT);
  EXPECT_TRUE(pipe_reader.events.empty());
  EXPECT_TRUE(event_reader.events.empty());
  loop.remove(p[1]);
  ASSERT_EQ(::write(p[1], "x", 1), 1);
  ASSERT_TRUE(run_until(loop, [&] { return !pipe_reader.events.empty(); }));
  EXPECT_EQ(pipe_reader.events[0], static_cast<std::uint32_t>(EPOLLIN));
  EXPECT_TRUE(event_reader.events.empty());
  loop.remove(p[0]);
  loop.remove(efd);
  ::close(p[0]);
  ::close(p[1]);
  ::close(efd);
}

TEST_F(EventLoopTest, ModifyChangesInterestAndHandler) {
  int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_GE(efd, 0);
  FdRecorder first, second;
  ASSERT_TRUE(loop.add(efd, EPOLLIN, first).ok());
  // Not readable yet: the loop must block.
  EXPECT_EQ(one_turn_ms(loop, 60), -1);
  ASSERT_TRUE(loop.modify(efd, EPOLLOUT, second).ok());
  ASSERT_TRUE(run_until(loop, [&] { return !second.events.empty(); }));
  EXPECT_TRUE(second.events[0] & EPOLLOUT);
  EXPECT_TRUE(first.events.empty());
  loop.remove(efd);
  ::close(efd);
}

TEST_F(EventLoopTest, AddAndModifyReportErrors) {
  FdRecorder h;
  Status s = loop.add(-1, EPOLLIN, h);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, EBADF);
  EXPECT_STREQ(s.error().context, "epoll_ctl(ADD)");
  int efd = ::eventfd(0, EFD_CLOEXEC);
  ASSERT_GE(efd, 0);
  s = loop.modify(efd, EPOLLIN, h);  // never added
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ENOENT);
  EXPECT_STREQ(s.error().context, "epoll_ctl(MOD)");
  ASSERT_TRUE(loop.add(efd, EPOLLIN, h).ok());
  s = loop.add(efd, EPOLLIN, h);  // twice
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, EEXIST);
  loop.remove(efd);
  ::close(efd);
}

TEST_F(EventLoopTest, RemoveStopsDispatch) {
  int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_GE(efd, 0);
  FdRecorder h;  // never drains: level-triggered, it would fire every turn
  ASSERT_TRUE(loop.add(efd, EPOLLIN, h).ok());
  std::uint64_t one = 1;
  ASSERT_EQ(::write(efd, &one, sizeof one), static_cast<ssize_t>(sizeof one));
  ASSERT_TRUE(run_until(loop, [&] { return h.events.size() >= 2; }));
  loop.remove(efd);
  std::size_t seen = h.events.size();
  EXPECT_EQ(one_turn_ms(loop, 80), -1) << "a removed fd still woke the loop";
  EXPECT_EQ(h.events.size(), seen);
  ::close(efd);
}

TEST_F(EventLoopTest, RemoveOfAnUnknownFdIsHarmless) {
  loop.remove(-1);
  loop.remove(12345);
  Recorder a(log, "a");
  Timer ta(loop, a);
  ta.arm_after(1 * kMs);
  ASSERT_TRUE(run_until(loop, [&] { return a.count == 1; }));
}

TEST_F(EventLoopTest, TimersAndFdsInTheSameLoop) {
  int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_GE(efd, 0);
  FdRecorder h;
  h.action = [&](std::uint32_t) {
    std::uint64_t v = 0;
    ssize_t n = ::read(efd, &v, sizeof v);
    (void)n;
    log.push_back("fd");
  };
  ASSERT_TRUE(loop.add(efd, EPOLLIN, h).ok());
  Recorder a(log, "a");
  Timer ta(loop, a);
  a.action = [&] {
    std::uint64_t one = 1;
    ssize_t n = ::write(efd, &one, sizeof one);
    (void)n;
  };
  ta.arm_after(5 * kMs);
  ASSERT_TRUE(run_until(loop, [&] { return log.size() == 2; }));
  EXPECT_EQ(log, (std::vector<std::string>{"a", "fd"}));
  loop.remove(efd);
  ::close(efd);
}

// run() only returns after stop() (or an error), so a broken stop() would
// hang the test: run() runs in a forked child (in_child), killed after 3 s.

TEST(EventLoopRun, StopFromATimerEndsRun) {
  int code = in_child([] {
    EventLoop loop;
    if (!loop.init()) return 10;
    std::vector<std::string> log;
    Recorder a(log, "a");
    Timer ta(loop, a);
    a.action = [&] {
      if (a.count == 3) {
        loop.stop();
      } else {
        ta.arm_after(1 * kMs);
      }
    };
    ta.arm_after(1 * kMs);
    if (loop.stopping()) return 11;
    if (!loop.run()) return 12;
    if (!loop.stopping()) return 13;
    if (a.count != 3) return 14;  // run() went on after stop()
    return 0;
  });
  EXPECT_EQ(code, 0) << (code == -1 ? "run() did not return after stop()" : "");
}

TEST(EventLoopRun, StopFromAnFdHandlerEndsRun) {
  int code = in_child([] {
    EventLoop loop;
    if (!loop.init()) return 10;
    int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0) return 11;
    FdRecorder h;
    h.action = [&](std::uint32_t) { loop.stop(); };  // never drained: stop must win
    if (!loop.add(efd, EPOLLIN, h)) return 12;
    std::uint64_t one = 1;
    if (::write(efd, &one, sizeof one) != static_cast<ssize_t>(sizeof one)) return 13;
    if (!loop.run()) return 14;
    if (h.events.size() != 1) return 15;  // the level-triggered fd was dispatched again
    return 0;
  });
  EXPECT_EQ(code, 0) << (code == -1 ? "run() did not return after stop()" : "");
}

TEST(EventLoopRun, RunReturnsImmediatelyWhenAlreadyStopping) {
  int code = in_child([] {
    EventLoop loop;
    if (!loop.init()) return 10;
    loop.stop();
    if (!loop.run()) return 11;
    return 0;
  });
  EXPECT_EQ(code, 0) << (code == -1 ? "run() blocked although stop() had been called" : "");
}

TEST(EventLoopRun, RunKeepsGoingUntilStopped) {
  // EINTR is not an end: run() continues through interruptions and events.
  int code = in_child([] {
    EventLoop loop;
    if (!loop.init()) return 10;
    std::vector<std::string> log;
    Recorder a(log, "a");
    Timer ta(loop, a);
    a.action = [&] { loop.stop(); };
    std::int64_t t0 = monotonic_ns();  // before arming: the deadline counts from there
    ta.arm_after(150 * kMs);
    Watchdog dog(20, 20);  // SIGALRM every 20 ms: several EINTRs before the timer
    if (!loop.run()) return 11;
    if (a.count != 1) return 12;
    if (monotonic_ns() - t0 < 150 * kMs) return 13;
    if (!Watchdog::expired()) return 14;  // no EINTR happened: the test proves nothing
    return 0;
  });
  EXPECT_EQ(code, 0);
}

TEST(EventLoopErrors, RunOnceOnAnUninitialisedLoopFails) {
  EventLoop loop;  // no init(): epoll fd is -1
  Watchdog dog(1000);
  Status s = loop.run_once();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, EBADF);
  EXPECT_STREQ(s.error().context, "epoll_wait");
}

// The loop hands the wait to a SoleWaiter only when its fd is the only one
// watched and no timer is armed; otherwise it waits in epoll_wait.
struct FakeSole final : FdHandler, SoleWaiter {
  void on_ready(std::uint32_t) noexcept override { ++epoll_dispatches; }
  Status wait_and_dispatch() noexcept override {
    ++direct_waits;
    return {};
  }
  int epoll_dispatches = 0;
  int direct_waits = 0;
};

TEST(EventLoopSoleWaiter, WaitsDirectlyOnlyWhenAloneAndNoTimerIsArmed) {
  EventLoop loop;
  ASSERT_TRUE(loop.init().ok());
  int ready = ::eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);  // always readable
  int other = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_GE(ready, 0);
  ASSERT_GE(other, 0);
  FakeSole sole;
  ASSERT_TRUE(loop.add(ready, EPOLLIN, sole, &sole).ok());
  ASSERT_TRUE(loop.run_once().ok());
  EXPECT_EQ(sole.direct_waits, 1);
  EXPECT_EQ(sole.epoll_dispatches, 0);

  FakeSole second;
  ASSERT_TRUE(loop.add(other, EPOLLIN, second).ok());  // two fds: epoll
  ASSERT_TRUE(loop.run_once().ok());
  EXPECT_EQ(sole.direct_waits, 1);
  EXPECT_EQ(sole.epoll_dispatches, 1);

  loop.remove(other);  // alone again, but a timer is armed: epoll
  std::vector<std::string> log;
  Recorder r(log, "t");
  Timer t(loop, r);
  t.arm_after(10'000 * testutil::kMs);
  ASSERT_TRUE(loop.run_once().ok());
  EXPECT_EQ(sole.direct_waits, 1);
  EXPECT_EQ(sole.epoll_dispatches, 2);

  t.disarm();
  ASSERT_TRUE(loop.run_once().ok());
  EXPECT_EQ(sole.direct_waits, 2);
  ::close(ready);
  ::close(other);
}

// A handler that removes another one whose event is in the same batch (the
// supervisor forgetting a removed service's log pipe while its EOF is
// pending) must keep that event from being dispatched.
TEST(EventLoopForget, AHandlerForgottenEarlierInTheBatchIsNotCalled) {
  EventLoop loop;
  ASSERT_TRUE(loop.init().ok());
  struct Watch final : FdHandler {
    std::function<void()> action;
    int calls = 0;
    void on_ready(std::uint32_t /*events*/) noexcept override {
      ++calls;
      if (action) action();
    }
  } a, b;
  int fa = ::eventfd(1, EFD_CLOEXEC);  // readable from the start
  int fb = ::eventfd(1, EFD_CLOEXEC);
  ASSERT_TRUE(loop.add(fa, EPOLLIN, a).ok());
  ASSERT_TRUE(loop.add(fb, EPOLLIN, b).ok());
  // Whichever runs first removes the other, as a destructor would.
  a.action = [&] {
    loop.remove(fb);
    loop.forget(b);
  };
  b.action = [&] {
    loop.remove(fa);
    loop.forget(a);
  };
  Watchdog dog(2000);
  ASSERT_TRUE(loop.run_once().ok());
  EXPECT_EQ(a.calls + b.calls, 1) << "both were ready in one batch; the second was forgotten";
  ::close(fa);
  ::close(fb);
}

}  // namespace
}  // namespace keel
