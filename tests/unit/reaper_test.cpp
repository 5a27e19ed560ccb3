// Unit tests for core/reaper: reap_all, subreaper registration, exit codes.
//
// reap_all() collects ANY child of the test process, so each test starts by
// checking it has no children and leaves none behind. Subreaper tests run in
// a forked child (the flag would otherwise make this whole test process
// adopt orphans); the child reports a failure description over a pipe
// (run_in_child, test_util.hpp).
#include "core/reaper.hpp"

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/event_loop.hpp"
#include "test_util.hpp"

namespace keel {
namespace {

using testutil::fork_child;
using testutil::has_children;
using testutil::kMs;
using testutil::run_in_child;

struct ExitLog final : ExitHandler {
  void on_child_exit(pid_t pid, int status) noexcept override {
    order.push_back(pid);
    statuses[pid] = status;
  }
  std::vector<pid_t> order;
  std::map<pid_t, int> statuses;
};

// Wait (without reaping) until `pid` is a zombie; false after `timeout_ms`.
bool wait_zombie(pid_t pid, int timeout_ms = 3000) {
  std::int64_t deadline = monotonic_ns() + timeout_ms * kMs;
  while (monotonic_ns() < deadline) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid) {
      return true;
    }
    ::usleep(1000);
  }
  return false;
}

class ReaperTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(has_children()) << "a previous test left a child behind"; }
  void TearDown() override {
    // Leave nothing behind even when a test failed half-way.
    for (pid_t pid : spawned) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    EXPECT_FALSE(has_children()) << "this test left a child behind";
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
  }
  pid_t child(const std::function<int()>& body) {
    pid_t pid = fork_child(body);
    if (pid > 0) spawned.push_back(pid);
    return pid;
  }
  std::vector<pid_t> spawned;
  ExitLog log;
};

TEST_F(ReaperTest, NoChildrenAtAll) {
  EXPECT_EQ(reap_all(log), ReapOutcome::NoChildren);
  EXPECT_TRUE(log.order.empty());
}

TEST_F(ReaperTest, ReportsEveryChildWithItsStatus) {
  pid_t exit0 = child([] { return 0; });
  pid_t exit3 = child([] { return 3; });
  pid_t exit255 = child([] { return 255; });
  pid_t killed = child([] {
    ::kill(::getpid(), SIGKILL);
    return 99;
  });
  pid_t termed = child([] {
    ::signal(SIGTERM, SIG_DFL);
    ::kill(::getpid(), SIGTERM);
    return 99;
  });
  for (pid_t p : {exit0, exit3, exit255, killed, termed}) {
    ASSERT_GT(p, 0);
    ASSERT_TRUE(wait_zombie(p)) << p;
  }
  EXPECT_EQ(reap_all(log), ReapOutcome::NoChildren);
  ASSERT_EQ(log.order.size(), 5U);
  ASSERT_EQ(log.statuses.size(), 5U);
  EXPECT_TRUE(WIFEXITED(log.statuses[exit0]));
  EXPECT_EQ(WEXITSTATUS(log.statuses[exit0]), 0);
  EXPECT_EQ(WEXITSTATUS(log.statuses[exit3]), 3);
  EXPECT_EQ(WEXITSTATUS(log.statuses[exit255]), 255);
  EXPECT_TRUE(WIFSIGNALED(log.statuses[killed]));
  EXPECT_EQ(WTERMSIG(log.statuses[killed]), SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(log.statuses[termed]));
  EXPECT_EQ(WTERMSIG(log.statuses[termed]), SIGTERM);
  EXPECT_FALSE(has_children()) << "reap_all left a zombie";
  spawned.clear();
}

TEST_F(ReaperTest, ManyExitsAreCollectedByOneCall) {
  // SIGCHLDs coalesce; one reap_all must take them all.
  std::vector<pid_t> pids;
  for (int i = 0; i < 12; ++i) {
    pid_t p = child([i] { return 10 + i; });
    ASSERT_GT(p, 0);
    pids.push_back(p);
  }
  for (pid_t p : pids) ASSERT_TRUE(wait_zombie(p));
  EXPECT_EQ(reap_all(log), ReapOutcome::NoChildren);
  ASSERT_EQ(log.statuses.size(), pids.size());
  for (std::size_t i = 0; i < pids.size(); ++i) {
    EXPECT_EQ(WEXITSTATUS(log.statuses[pids[i]]), static_cast<int>(10 + i));
  }
  spawned.clear();
}

TEST_F(ReaperTest, ChildrenRemainWhileOneRuns) {
  pid_t sleeper = child([] {
    for (;;) ::pause();
    return 0;
  });
  pid_t quick = child([] { return 5; });
  ASSERT_GT(sleeper, 0);
  ASSERT_GT(quick, 0);
  ASSERT_TRUE(wait_zombie(quick));
  EXPECT_EQ(reap_all(log), ReapOutcome::ChildrenRemain);
  ASSERT_EQ(log.order, std::vector<pid_t>{quick});
  EXPECT_EQ(WEXITSTATUS(log.statuses[quick]), 5);
  // Nothing new: still remains, nothing reported.
  EXPECT_EQ(reap_all(log), ReapOutcome::ChildrenRemain);
  EXPECT_EQ(log.order.size(), 1U);

  ASSERT_EQ(::kill(sleeper, SIGKILL), 0);
  ASSERT_TRUE(wait_zombie(sleeper));
  EXPECT_EQ(reap_all(log), ReapOutcome::NoChildren);
  ASSERT_EQ(log.order.size(), 2U);
  EXPECT_EQ(log.order[1], sleeper);
  EXPECT_TRUE(WIFSIGNALED(log.statuses[sleeper]));
  EXPECT_EQ(WTERMSIG(log.statuses[sleeper]), SIGKILL);
  spawned.clear();
}

TEST_F(ReaperTest, RunningChildIsNotReported) {
  pid_t sleeper = child([] {
    for (;;) ::pause();
    return 0;
  });
  ASSERT_GT(sleeper, 0);
  EXPECT_EQ(reap_all(log), ReapOutcome::ChildrenRemain);
  EXPECT_TRUE(log.order.empty());
  // A stopped child is not an exit either.
  ASSERT_EQ(::kill(sleeper, SIGSTOP), 0);
  std::int64_t deadline = monotonic_ns() + 2000 * kMs;
  siginfo_t info{};
  while (monotonic_ns() < deadline) {
    info = {};
    if (::waitid(P_PID, static_cast<id_t>(sleeper), &info, WSTOPPED | WNOHANG | WNOWAIT) == 0 && info.si_pid == sleeper) {
      break;
    }
    ::usleep(1000);
  }
  ASSERT_EQ(info.si_pid, sleeper) << "child did not stop";
  EXPECT_EQ(reap_all(log), ReapOutcome::ChildrenRemain);
  EXPECT_TRUE(log.order.empty());
}

TEST(ShellExitCode, FromRealChildren) {
  ASSERT_FALSE(has_children());
  struct Case {
    std::function<int()> body;
    int want;
  };
  const Case cases[] = {
      {[] { return 0; }, 0},
      {[] { return 1; }, 1},
      {[] { return 42; }, 42},
      {[] { return 255; }, 255},
      {[] {
         ::kill(::getpid(), SIGKILL);
         return 0;
       },
       128 + SIGKILL},
      {[] {
         ::signal(SIGTERM, SIG_DFL);
         ::kill(::getpid(), SIGTERM);
         return 0;
       },
       128 + SIGTERM},
      {[] {
         ::signal(SIGINT, SIG_DFL);
         ::kill(::getpid(), SIGINT);
         return 0;
       },
       128 + SIGINT},
  };
  for (const auto& c : cases) {
    pid_t pid = fork_child(c.body);
    ASSERT_GT(pid, 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_EQ(shell_exit_code(status), c.want);
  }
}

TEST(ShellExitCode, FromEncodedStatuses) {
  EXPECT_EQ(shell_exit_code(W_EXITCODE(0, 0)), 0);
  EXPECT_EQ(shell_exit_code(W_EXITCODE(7, 0)), 7);
  EXPECT_EQ(shell_exit_code(W_EXITCODE(255, 0)), 255);
  EXPECT_EQ(shell_exit_code(W_EXITCODE(0, SIGHUP)), 129);
  EXPECT_EQ(shell_exit_code(W_EXITCODE(0, SIGKILL)), 137);
  EXPECT_EQ(shell_exit_code(W_EXITCODE(0, SIGTERM)), 143);
  EXPECT_EQ(shell_exit_code(W_EXITCODE(0, SIGSYS)), 159);
  // A core dump does not change the code.
  EXPECT_EQ(shell_exit_code(W_EXITCODE(0, SIGSEGV) | WCOREFLAG), 128 + SIGSEGV);
  EXPECT_EQ(shell_exit_code(W_EXITCODE(0, SIGABRT) | WCOREFLAG), 134);
  // Stopped (never reported without WUNTRACED): 255.
  EXPECT_EQ(shell_exit_code(W_STOPCODE(SIGSTOP)), 255);
  EXPECT_EQ(shell_exit_code(W_STOPCODE(SIGTSTP)), 255);
}

TEST(Subreaper, BecomeSubreaperSetsTheFlag) {
  std::string r = run_in_child([]() -> std::string {
    int flag = -1;
    if (::prctl(PR_GET_CHILD_SUBREAPER, &flag, 0, 0, 0) != 0) return "prctl(GET) failed";
    if (is_subreaper() != (flag != 0)) return "is_subreaper disagrees with prctl before";
    if (flag != 0) return "a fresh child is already a subreaper (flag is not inherited across fork)";
    Status s = become_subreaper();
    if (!s) return std::string("become_subreaper: ") + s.error().context;
    if (!is_subreaper()) return "is_subreaper() false after become_subreaper()";
    if (::prctl(PR_GET_CHILD_SUBREAPER, &flag, 0, 0, 0) != 0 || flag == 0) return "prctl says not a subreaper";
    if (!become_subreaper().ok() || !is_subreaper()) return "second call failed";
    return "";
  });
  EXPECT_EQ(r, "");
}

TEST(Subreaper, IsSubreaperFollowsThePrctlFlag) {
  std::string r = run_in_child([]() -> std::string {
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return "set failed";
    if (!is_subreaper()) return "true not seen";
    if (::prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) != 0) return "clear failed";
    if (is_subreaper()) return "false not seen";
    return "";
  });
  EXPECT_EQ(r, "");
}

// In a child: double-fork a grandchild that waits on a pipe, let the middle
// process exit, and see whether the grandchild becomes ours.
std::string orphan_scenario(bool subreaper) {
  if (subreaper && !become_subreaper().ok()) return "become_subreaper failed";
  int gate[2];    // grandchild blocks reading until we close the write end
  int report[2];  // middle tells us the grandchild's pid
  if (::pipe(gate) != 0 || ::pipe(report) != 0) return "pipe failed";
  pid_t middle = ::fork();
  if (middle < 0) return "fork failed";
  if (middle == 0) {
    pid_t grandchild = ::fork();
    if (grandchild == 0) {
      ::close(gate[1]);
      ::alarm(5);
      char c;
      ssize_t n = ::read(gate[0], &c, 1);
      (void)n;
      ::_exit(42);
    }
    ssize_t w = ::write(report[1], &grandchild, sizeof grandchild);
    (void)w;
    ::_exit(0);
  }
  ::close(gate[0]);
  ::close(report[1]);
  pid_t grandchild = -1;
  if (::read(report[0], &grandchild, sizeof grandchild) != static_cast<ssize_t>(sizeof grandchild) || grandchild <= 0) {
    return "no grandchild pid";
  }
  if (!wait_zombie(middle)) return "middle did not exit";
  ExitLog log;
  ReapOutcome first = reap_all(log);
  if (log.order != std::vector<pid_t>{middle}) return "first reap_all did not report just the middle process";
  if (!subreaper) {
    ::close(gate[1]);
    if (first != ReapOutcome::NoChildren) return "not a subreaper, yet a child remains after the middle exited";
    return "";
  }
  if (first != ReapOutcome::ChildrenRemain) return "orphaned grandchild was not adopted (NoChildren)";
  // The grandchild's parent is now us.
  std::ifstream status("/proc/" + std::to_string(grandchild) + "/status");
  std::string line;
  std::string ppid;
  while (std::getline(status, line)) {
    if (line.rfind("PPid:", 0) == 0) ppid = line.substr(5);
  }
  if (std::stoi(ppid.empty() ? "-1" : ppid) != ::getpid()) return "grandchild PPid is" + ppid + ", not us";
  ::close(gate[1]);  // let it exit
  std::int64_t deadline = monotonic_ns() + 3000 * kMs;
  while (log.statuses.count(grandchild) == 0 && monotonic_ns() < deadline) {
    ReapOutcome o = reap_all(log);
    if (o == ReapOutcome::NoChildren && log.statuses.count(grandchild) == 0) return "grandchild vanished";
    ::usleep(1000);
  }
  if (log.statuses.count(grandchild) == 0) return "grandchild never reaped";
  int st = log.statuses[grandchild];
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 42) return "grandchild status " + std::to_string(st);
  if (reap_all(log) != ReapOutcome::NoChildren) return "children remain at the end";
  return "";
}

TEST(Subreaper, OrphanedGrandchildIsReapedByTheSubreaper) { EXPECT_EQ(run_in_child([] { return orphan_scenario(true); }), ""); }

TEST(Subreaper, WithoutTheFlagTheOrphanGoesElsewhere) {
  EXPECT_EQ(run_in_child([] { return orphan_scenario(false); }), "");
}

}  // namespace
}  // namespace keel
