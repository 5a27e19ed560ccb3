// The shutdown's bounded filesystem calls (src/system/shutdown_io.hpp): the
// sync-progress decision fed made-up /proc/meminfo values, the meminfo
// parser, and the child-process calls on real (private) mounts.
#include "system/shutdown_io.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>

#include "core/event_loop.hpp"
#include "test_util.hpp"

namespace keel {
namespace {

TEST(ShutdownSyncProgress, NewLowsKeepItGoingStallsInARowEndIt) {
  SyncProgress p(3);
  EXPECT_TRUE(p.check(50'000, true));  // the first look is progress
  EXPECT_TRUE(p.check(40'000, true));
  EXPECT_TRUE(p.check(40'000, true));  // stall 1
  EXPECT_EQ(p.stalled(), 1);
  EXPECT_TRUE(p.check(45'000, true));  // stall 2: higher is not progress
  EXPECT_TRUE(p.check(39'999, true));  // a new low: the count starts again
  EXPECT_EQ(p.stalled(), 0);
  EXPECT_EQ(p.lowest(), 39'999U);
  EXPECT_TRUE(p.check(39'999, true));
  EXPECT_TRUE(p.check(39'999, true));
  EXPECT_FALSE(p.check(39'999, true));  // third look in a row without a new low
  EXPECT_EQ(p.stalled(), 3);
}

TEST(ShutdownSyncProgress, UpAndDownAroundAStuckDeviceIsNotProgress) {
  // Lower than the last look, but never below the lowest: systemd's "less
  // than the previous value" would call every other look progress.
  SyncProgress p(3);
  EXPECT_TRUE(p.check(1'000, true));
  EXPECT_TRUE(p.check(1'200, true));   // stall 1
  EXPECT_TRUE(p.check(1'100, true));   // stall 2, though lower than the last
  EXPECT_FALSE(p.check(1'050, true));  // stall 3
}

TEST(ShutdownSyncProgress, UnreadableCountersAreNoProgress) {
  SyncProgress p(2);
  EXPECT_TRUE(p.check(0, false));
  EXPECT_FALSE(p.check(0, false));
  SyncProgress zero(2);
  EXPECT_TRUE(zero.check(0, true));   // nothing outstanding: progress once,
  EXPECT_TRUE(zero.check(0, true));   // then, should the child still not
  EXPECT_FALSE(zero.check(0, true));  // have exited, stuck like any other
}

TEST(ShutdownMeminfo, DirtyWritebackAndNfsUnstableAreSummed) {
  const std::string text =
      "MemTotal:        8000000 kB\n"
      "MemFree:         4000000 kB\n"
      "Dirty:              1234 kB\n"
      "Writeback:            56 kB\n"
      "AnonPages:        100000 kB\n"
      "NFS_Unstable:          7 kB\n"
      "WritebackTmp:         99 kB\n";  // FUSE's temporary pages: not the disks'
  std::uint64_t kb = 0;
  ASSERT_TRUE(parse_meminfo_outstanding(text.data(), text.size(), kb));
  EXPECT_EQ(kb, 1234U + 56U + 7U);
}

TEST(ShutdownMeminfo, WithoutTheCountersItSaysSo) {
  const std::string text = "MemTotal: 8000000 kB\nWritebackTmp: 5 kB\nDirty: lots\n";
  std::uint64_t kb = 42;
  EXPECT_FALSE(parse_meminfo_outstanding(text.data(), text.size(), kb));
  EXPECT_EQ(kb, 42U);
  // A cut last line (no newline) still counts; the real file is read whole.
  const std::string cut = "Dirty:  10 kB\nWriteback: 5";
  ASSERT_TRUE(parse_meminfo_outstanding(cut.data(), cut.size(), kb));
  EXPECT_EQ(kb, 15U);
}

TEST(ShutdownSyncBounded, ARealSyncFinishes) {
  int rc = testutil::in_child(
      [] {
        sigset_t chld;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        ::sigprocmask(SIG_BLOCK, &chld, nullptr);
        SyncBounds b{1'000'000'000, 3, 60'000'000'000, "/proc/meminfo"};
        SyncOutcome s = sync_bounded(b);
        if (!s.finished || s.fork_error != 0) return 1;
        return ::waitpid(-1, nullptr, WNOHANG) < 0 && errno == ECHILD ? 0 : 2;  // the child was reaped
      },
      60'000);
  EXPECT_EQ(rc, 0);
}

TEST(ShutdownSyncBounded, AChildThatDoesNotExitIsLeftAtTheDeadline) {
  int rc = testutil::in_child([] {
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    ::sigprocmask(SIG_BLOCK, &chld, nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
      for (;;) ::pause();
    }
    int status = 0;
    if (wait_child_until(pid, monotonic_ns() + 50'000'000, status)) return 1;  // still running: not "exited"
    ::kill(pid, SIGKILL);
    if (!wait_child_until(pid, monotonic_ns() + 2'000'000'000, status)) return 2;
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 0 : 3;
  });
  EXPECT_EQ(rc, 0);
}

TEST(ShutdownMountCall, UnmountRemountAndDetachInAChild) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for a mount namespace";
  testutil::TempDir dir{"keel-shutdown-io-"};
  const std::string a = (dir.path() / "a").string();
  const std::string b = (dir.path() / "b").string();
  int rc = testutil::in_child(
      [&] {
        if (::unshare(CLONE_NEWNS) != 0) return 90;
        if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 91;
        sigset_t chld;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        ::sigprocmask(SIG_BLOCK, &chld, nullptr);
        for (const std::string& m : {a, b}) {
          ::mkdir(m.c_str(), 0755);
          if (::mount("tmpfs", m.c_str(), "tmpfs", 0, "size=1m") != 0) return 92;
        }
        const std::int64_t later = monotonic_ns() + 10'000'000'000;
        // The child's call changes PID 1's mount table: same namespace.
        CallOutcome ro = mount_call_bounded(MountCall::RemountReadOnly, a.c_str(), later);
        if (ro.timed_out || ro.error != 0) return 10;
        if (::mkdir((a + "/x").c_str(), 0755) == 0 || errno != EROFS) return 11;
        CallOutcome un = mount_call_bounded(MountCall::Unmount, a.c_str(), later);
        if (un.timed_out || un.error != 0) return 12;
        CallOutcome again = mount_call_bounded(MountCall::Unmount, a.c_str(), later);
        if (again.timed_out || again.error != EINVAL) return 13;  // no longer a mount point
        CallOutcome det = mount_call_bounded(MountCall::Detach, b.c_str(), later);
        if (det.timed_out || det.error != 0) return 14;
        return 0;
      },
      20'000);
  EXPECT_EQ(rc, 0);
}

}  // namespace
}  // namespace keel
