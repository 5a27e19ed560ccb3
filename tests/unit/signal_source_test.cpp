// Unit tests for core/signal_source: signals read from a signalfd in the
// event loop; the inherited mask and ignored set are recorded; SIGCHLD is
// forced to its default disposition.
//
// SignalSource::init changes process-wide state (mask, SIGCHLD), so every
// test runs under a SignalStateGuard that restores the mask and every
// disposition, discarding whatever is still pending first. Waits on the
// loop are bounded by a SIGALRM watchdog (EINTR ends epoll_wait). Both are
// in test_util.hpp.
#include "core/signal_source.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/event_loop.hpp"
#include "test_util.hpp"

namespace keel {
namespace {

using testutil::kMaxSig;
using testutil::open_fds;
using testutil::SignalStateGuard;
using testutil::Watchdog;

struct Collector final : SignalHandler {
  void on_signal(const signalfd_siginfo& info) noexcept override { got.push_back(info); }
  std::vector<signalfd_siginfo> got;
  [[nodiscard]] std::vector<int> signos() const {
    std::vector<int> out;
    for (const auto& i : got) out.push_back(static_cast<int>(i.ssi_signo));
    return out;
  }
};

sigset_t set_of(std::initializer_list<int> signos) {
  sigset_t s;
  sigemptyset(&s);
  for (int n : signos) sigaddset(&s, n);
  return s;
}

sigset_t current_mask() {
  sigset_t m;
  ::sigprocmask(SIG_SETMASK, nullptr, &m);
  return m;
}

void set_disposition(int signo, void (*handler)(int), int flags = 0) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(::sigaction(signo, &sa, nullptr), 0);
}

bool run_until(EventLoop& loop, const std::function<bool()>& done, int timeout_ms = 2000) {
  Watchdog dog(timeout_ms);
  while (!done() && !Watchdog::expired()) {
    if (!loop.run_once()) return false;
  }
  return done();
}

class SignalSourceTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(loop.init().ok()); }
  SignalStateGuard guard;  // constructed first, destroyed last
  EventLoop loop;
  Collector collector;
};

TEST_F(SignalSourceTest, InitBlocksTheHandledSignals) {
  SignalSource source;
  sigset_t handled = set_of({SIGUSR1, SIGUSR2, SIGTERM});
  ASSERT_EQ(sigismember(&handled, SIGUSR1), 1);
  Status s = source.init(loop, handled, collector);
  ASSERT_TRUE(s.ok()) << s.error().context;
  sigset_t m = current_mask();
  EXPECT_EQ(sigismember(&m, SIGUSR1), 1);
  EXPECT_EQ(sigismember(&m, SIGUSR2), 1);
  EXPECT_EQ(sigismember(&m, SIGTERM), 1);
  EXPECT_EQ(sigismember(&m, SIGHUP), 0);
  const sigset_t& h = source.handled();
  for (int n = 1; n <= kMaxSig; ++n) EXPECT_EQ(sigismember(&h, n), sigismember(&handled, n)) << n;
}

// glibc refuses to block its own 32 and 33, whose default action ends the
// process; keel blocks and reads them like any other (docs/signals.md).
TEST_F(SignalSourceTest, GlibcsOwnSignalsAreBlockedAndRead) {
  sigset_t handled;
  sigemptyset(&handled);
  ASSERT_NE(sigaddset(&handled, 33), 0) << "glibc took 33: this test no longer covers add_signal";
  for (int n : {32, 33, SIGUSR1}) add_signal(handled, n);
  EXPECT_EQ(sigismember(&handled, 32), 1);
  EXPECT_EQ(sigismember(&handled, 33), 1);
  EXPECT_EQ(sigismember(&handled, SIGUSR1), 1);
  EXPECT_EQ(sigismember(&handled, 34), 0);
  for (int n = 1; n <= kMaxSig; ++n) EXPECT_EQ(is_blockable(n), n != SIGKILL && n != SIGSTOP) << n;
  SignalSource source;
  ASSERT_TRUE(source.init(loop, handled, collector).ok());
  ASSERT_EQ(::kill(::getpid(), 33), 0);  // would end the test process if not blocked
  ASSERT_EQ(::kill(::getpid(), 32), 0);
  ASSERT_TRUE(run_until(loop, [&] { return collector.got.size() == 2; }));
  EXPECT_EQ(collector.signos(), (std::vector<int>{32, 33}));
}

TEST_F(SignalSourceTest, RaisedSignalReachesTheHandlerThroughTheLoop) {
  SignalSource source;
  ASSERT_TRUE(source.init(loop, set_of({SIGUSR1, SIGUSR2}), collector).ok());
  ASSERT_EQ(::raise(SIGUSR2), 0);
  EXPECT_TRUE(collector.got.empty()) << "delivered outside the loop";
  ASSERT_TRUE(run_until(loop, [&] { return !collector.got.empty(); }));
  ASSERT_EQ(collector.got.size(), 1U);
  EXPECT_EQ(collector.got[0].ssi_signo, static_cast<std::uint32_t>(SIGUSR2));
  EXPECT_EQ(collector.got[0].ssi_pid, static_cast<std::uint32_t>(::getpid()));
  EXPECT_EQ(collector.got[0].ssi_code, SI_TKILL);
}

TEST_F(SignalSourceTest, KilledSignalCarriesSenderInfo) {
  SignalSource source;
  ASSERT_TRUE(source.init(loop, set_of({SIGUSR1, SIGTERM}), collector).ok());
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  ASSERT_TRUE(run_until(loop, [&] { return !collector.got.empty(); }));
  EXPECT_EQ(collector.got[0].ssi_signo, static_cast<std::uint32_t>(SIGTERM));
  EXPECT_EQ(collector.got[0].ssi_code, SI_USER);
  EXPECT_EQ(collector.got[0].ssi_pid, static_cast<std::uint32_t>(::getpid()));
  EXPECT_EQ(collector.got[0].ssi_uid, static_cast<std::uint32_t>(::getuid()));
}

// A second fd makes the loop wait in epoll_wait, where one signalfd read
// takes a whole batch; with the signalfd alone the loop waits in
// rt_sigtimedwait instead, one signal per turn (tested further below).
struct SecondFd final : FdHandler {
  explicit SecondFd(EventLoop& loop) : fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    EXPECT_GE(fd, 0);
    EXPECT_TRUE(loop.add(fd, EPOLLIN, *this).ok());
  }
  ~SecondFd() { ::close(fd); }
  void on_ready(std::uint32_t) noexcept override {}
  int fd;
};

TEST_F(SignalSourceTest, SeveralPendingSignalsAllArriveInOneTurn) {
  SignalSource source;
  SecondFd second(loop);
  ASSERT_TRUE(source.init(loop, set_of({SIGHUP, SIGUSR1, SIGUSR2, SIGTERM}), collector).ok());
  ::raise(SIGTERM);
  ::raise(SIGHUP);
  ::raise(SIGUSR2);
  ::raise(SIGUSR1);
  {
    Watchdog dog(2000);
    ASSERT_TRUE(loop.run_once().ok());
  }
  // Standard signals are dequeued lowest number first.
  EXPECT_EQ(collector.signos(), (std::vector<int>{SIGHUP, SIGUSR1, SIGUSR2, SIGTERM}));
}

TEST_F(SignalSourceTest, MoreSignalsThanOneReadBatchAllArriveInOneTurn) {
  // 23 distinct pending signals: more than the 16 read per batch. (Not
  // SIGCONT: raising a stop signal discards a pending SIGCONT.)
  const std::vector<int> signos = {SIGHUP,  SIGINT,  SIGQUIT, SIGTRAP,   SIGUSR1, SIGUSR2, SIGPIPE, 16 /*STKFLT*/,
                                   SIGTERM, SIGCHLD, SIGTSTP,   SIGTTIN, SIGTTOU, SIGURG,  SIGXCPU,
                                   SIGXFSZ, SIGPROF, SIGWINCH, SIGIO,    SIGPWR,  SIGSYS,  SIGVTALRM, SIGABRT};
  sigset_t handled;
  sigemptyset(&handled);
  for (int n : signos) sigaddset(&handled, n);
  SignalSource source;
  SecondFd second(loop);
  ASSERT_TRUE(source.init(loop, handled, collector).ok());
  for (int n : signos) ASSERT_EQ(::raise(n), 0) << n;
  {
    Watchdog dog(2000);
    ASSERT_TRUE(loop.run_once().ok());
  }
  std::vector<int> got = collector.signos();
  std::sort(got.begin(), got.end());
  std::vector<int> want = signos;
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
}

TEST_F(SignalSourceTest, AloneItWaitsDirectlyOneSignalPerTurnInOrder) {
  SignalSource source;
  ASSERT_TRUE(source.init(loop, set_of({SIGHUP, SIGUSR1, SIGTERM}), collector).ok());
  ::raise(SIGTERM);
  ::raise(SIGHUP);
  ::raise(SIGUSR1);
  for (std::size_t turn = 1; turn <= 3; ++turn) {
    Watchdog dog(2000);
    ASSERT_TRUE(loop.run_once().ok());
    EXPECT_EQ(collector.got.size(), turn);
  }
  EXPECT_EQ(collector.signos(), (std::vector<int>{SIGHUP, SIGUSR1, SIGTERM}));
  // The direct wait reports the sender as the signalfd does.
  EXPECT_EQ(collector.got[0].ssi_code, SI_TKILL);
  EXPECT_EQ(collector.got[0].ssi_pid, static_cast<std::uint32_t>(::getpid()));
}

TEST_F(SignalSourceTest, AnArmedTimerStillFiresWhileOnlySignalsAreWatched) {
  // With a timer armed the loop must wait in epoll (the timer's fd too),
  // not in rt_sigtimedwait, or the timer would never fire.
  SignalSource source;
  ASSERT_TRUE(source.init(loop, set_of({SIGUSR1}), collector).ok());
  struct Fired final : TimerHandler {
    void on_timer() noexcept override { fired = true; }
    bool fired = false;
  } fired;
  Timer timer(loop, fired);
  timer.arm_after(5 * testutil::kMs);
  ASSERT_TRUE(run_until(loop, [&] { return fired.fired; }));
  EXPECT_TRUE(collector.got.empty());
}

TEST_F(SignalSourceTest, UnhandledSignalsAreNotRead) {
  SignalSource source;
  ASSERT_TRUE(source.init(loop, set_of({SIGUSR1}), collector).ok());
  sigset_t usr2 = set_of({SIGUSR2});
  ASSERT_EQ(::sigprocmask(SIG_BLOCK, &usr2, nullptr), 0);
  ::raise(SIGUSR2);  // blocked by us, not handled by the source
  ::raise(SIGUSR1);
  ASSERT_TRUE(run_until(loop, [&] { return !collector.got.empty(); }));
  EXPECT_EQ(collector.signos(), (std::vector<int>{SIGUSR1}));
  sigset_t pending;
  ::sigpending(&pending);
  EXPECT_EQ(sigismember(&pending, SIGUSR2), 1) << "the source consumed a signal it does not handle";
}

TEST_F(SignalSourceTest, OriginalMaskIsWhatWasBlockedBefore) {
  sigset_t pre = set_of({SIGHUP, SIGWINCH});
  ASSERT_EQ(::sigprocmask(SIG_BLOCK, &pre, nullptr), 0);
  sigset_t before = current_mask();
  SignalSource source;
  ASSERT_TRUE(source.init(loop, set_of({SIGUSR1, SIGTERM}), collector).ok());
  const sigset_t& orig = source.original_mask();
  for (int n = 1; n <= kMaxSig; ++n) EXPECT_EQ(sigismember(&orig, n), sigismember(&before, n)) << n;
  EXPECT_EQ(sigismember(&orig, SIGHUP), 1);
  EXPECT_EQ(sigismember(&orig, SIGWINCH), 1);
  EXPECT_EQ(sigismember(&orig, SIGUSR1), 0);
  // The previously blocked signals stay blocked, the handled ones are added.
  sigset_t now = current_mask();
  EXPECT_EQ(sigismember(&now, SIGHUP), 1);
  EXPECT_EQ(sigismember(&now, SIGUSR1), 1);
}

TEST_F(SignalSourceTest, OriginalMaskIsEmptyBeforeInit) {
  SignalSource source;
  for (int n = 1; n <= kMaxSig; ++n) {
    EXPECT_EQ(sigismember(&source.original_mask(), n), 0) << n;
    EXPECT_EQ(sigismember(&source.original_ignored(), n), 0) << n;
    EXPECT_EQ(sigismember(&source.handled(), n), 0) << n;
  }
}

TEST_F(SignalSourceTest, OriginalIgnoredRecordsInheritedSigIgn) {
  set_disposition(SIGUSR1, SIG_IGN);
  set_disposition(SIGPIPE, SIG_IGN);
  set_disposition(SIGUSR2, SIG_DFL);
  set_disposition(SIGHUP, +[](int) {});  // caught is not ignored
  SignalSource source;
  ASSERT_TRUE(source.init(loop, set_of({SIGUSR1, SIGUSR2, SIGTERM}), collector).ok());
  const sigset_t& ign = source.original_ignored();
  EXPECT_EQ(sigismember(&ign, SIGUSR1), 1);
  EXPECT_EQ(sigismember(&ign, SIGPIPE), 1);
  EXPECT_EQ(sigismember(&ign, SIGUSR2), 0);
  EXPECT_EQ(sigismember(&ign, SIGHUP), 0);
  EXPECT_EQ(sigismember(&ign, SIGTERM), 0);
}

TEST_F(SignalSourceTest, InheritedIgnoredButHandledSignalIsStillDelivered) {
  // A blocked signal is queued even when its disposition is SIG_IGN, so a
  // keel started with SIGUSR1 ignored still sees it.
  set_disposition(SIGUSR1, SIG_IGN);
  SignalSource source;
  ASSERT_TRUE(source.init(loop, set_of({SIGUSR1}), collector).ok());
  ::raise(SIGUSR1);
  ASSERT_TRUE(run_until(loop, [&] { return !collector.got.empty(); }, 1000));
  EXPECT_EQ(collector.signos(), (std::vector<int>{SIGUSR1}));
}

TEST_F(SignalSourceTest, SigchldIgnoredIsForcedToDefault) {
  set_disposition(SIGCHLD, SIG_IGN);
  SignalSource source;
  ASSERT_TRUE(source.init(loop, set_of({SIGCHLD, SIGTERM}), collector).ok());
  struct sigaction now {};
  ASSERT_EQ(::sigaction(SIGCHLD, nullptr, &now), 0);
  EXPECT_EQ(now.sa_handler, SIG_DFL);
  EXPECT_EQ(sigismember(&source.original_ignored(), SIGCHLD), 1);
  // Behaviour: a child's exit status can be collected (no auto-reaping), and
  // its SIGCHLD reaches the loop.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(7);
  ASSERT_TRUE(run_until(loop, [&] { return !collector.got.empty(); }));
  EXPECT_EQ(collector.got[0].ssi_signo, static_cast<std::uint32_t>(SIGCHLD));
  EXPECT_EQ(collector.got[0].ssi_pid, static_cast<std::uint32_t>(pid));
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid) << "child was auto-reaped";
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7);
}

TEST_F(SignalSourceTest, SigchldNoCldWaitIsCleared) {
  // SIG_DFL with SA_NOCLDWAIT also makes the kernel reap children itself.
  set_disposition(SIGCHLD, SIG_DFL, SA_NOCLDWAIT);
  SignalSource source;
  ASSERT_TRUE(source.init(loop, set_of({SIGCHLD}), collector).ok());
  struct sigaction now {};
  ASSERT_EQ(::sigaction(SIGCHLD, nullptr, &now), 0);
  EXPECT_EQ(now.sa_handler, SIG_DFL);
  EXPECT_EQ(now.sa_flags & SA_NOCLDWAIT, 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(3);
  int status = 0;
  {
    Watchdog dog(2000);
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  }
  EXPECT_EQ(WEXITSTATUS(status), 3);
}

TEST_F(SignalSourceTest, SigchldCaughtIsForcedToDefault) {
  set_disposition(SIGCHLD, +[](int) {});
  SignalSource source;
  ASSERT_TRUE(source.init(loop, set_of({SIGTERM}), collector).ok());
  struct sigaction now {};
  ASSERT_EQ(::sigaction(SIGCHLD, nullptr, &now), 0);
  EXPECT_EQ(now.sa_handler, SIG_DFL);
  EXPECT_EQ(sigismember(&source.original_ignored(), SIGCHLD), 0);
}

TEST_F(SignalSourceTest, SignalfdIsCloseOnExecNonBlockingAndClosedByTheDestructor) {
  auto before = open_fds();
  std::vector<int> added;
  {
    SignalSource source;
    ASSERT_TRUE(source.init(loop, set_of({SIGUSR1}), collector).ok());
    for (const auto& entry : open_fds()) {
      bool old = false;
      for (const auto& b : before) old = old || b == entry;
      if (!old) {
        EXPECT_EQ(entry.second, "anon_inode:[signalfd]");
        added.push_back(entry.first);
      }
    }
    ASSERT_EQ(added.size(), 1U);
    EXPECT_TRUE(::fcntl(added[0], F_GETFD) & FD_CLOEXEC);
    EXPECT_TRUE(::fcntl(added[0], F_GETFL) & O_NONBLOCK);
  }  // (its fd is closed; epoll forgets a closed fd by itself)
  EXPECT_LT(::fcntl(added[0], F_GETFD), 0) << "signalfd leaked";
}

}  // namespace
}  // namespace keel
