// native_test.cpp — the native keel CLI, driven from outside.
//
// Every behaviour that depends on where keel sits runs twice (a
// parameterized suite): keel as a subreaper below the test, and keel as
// PID 1 of a fresh PID namespace (unshare). See harness.hpp for the
// harness and probe.cpp for the child program's subcommands.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "harness.hpp"

namespace keel::systest {
namespace {

// Everything keel forwards: 1..31 but SIGKILL, SIGSTOP (uncatchable) and
// SIGCHLD (keel's own).
std::vector<int> forwardable_signals() {
  std::vector<int> v;
  for (int s = 1; s <= 31; ++s) {
    if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD) v.push_back(s);
  }
  return v;
}

// Signals whose default action terminates the process.
const std::vector<int> kTerminating = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
                                       13, 14, 15, 16, 24, 25, 26, 27, 29, 30, 31};

std::string got(int signo, const std::string& pid) { return "got " + std::to_string(signo) + " " + pid; }

bool is_line(const std::optional<std::string>& line, const std::string& want) { return line && *line == want; }

std::string real_path(const std::string& path) {
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) != nullptr ? std::string(buf) : path;
}

// Consume stdout lines until every line in `wanted` has been seen (in any
// order). Returns those never seen.
std::set<std::string> await_lines(KeelRun& run, std::set<std::string> wanted, Duration timeout = kLineTimeout) {
  auto deadline = Clock::now() + timeout;
  while (!wanted.empty()) {
    auto left = std::chrono::duration_cast<Duration>(deadline - Clock::now());
    if (left <= Duration::zero()) break;
    auto line = run.next_line(Stream::Out, left);
    if (!line) break;
    wanted.erase(*line);
  }
  return wanted;
}

// A barrier on one probe process (see probe.cpp): once its line for
// SIGRTMIN is printed, every standard signal sent to it before has been.
bool barrier(KeelRun& run, const std::string& inner_pid) {
  pid_t host = run.host_pid(std::stoi(inner_pid));
  if (host <= 0 || ::kill(host, SIGRTMIN) != 0) return false;
  std::string want = got(SIGRTMIN, inner_pid);
  return run.find_line(Stream::Out, [&](const std::string& l) { return l == want; }).has_value();
}

class Native : public ::testing::TestWithParam<Placement> {
 protected:
  void SetUp() override {
    if (GetParam() == Placement::Namespace && !namespaces_available()) {
      GTEST_SKIP() << "unshare --pid --fork --mount-proc does not work here";
    }
  }
  void TearDown() override { reap_leftovers(); }

  [[nodiscard]] Launch keel(std::vector<std::string> args) const { return keel_launch(GetParam(), std::move(args)); }
};

INSTANTIATE_TEST_SUITE_P(Placements, Native, ::testing::Values(Placement::Subreaper, Placement::Namespace),
                         [](const ::testing::TestParamInfo<Placement>& p) {
                           return std::string(placement_name(p.param));
                         });

// ------------------------------------------------------------- reaping

TEST_P(Native, TenThousandOrphansLeaveNoZombieWhileKeelRuns) {
  KeelRun k(keel({kProbe, "orphans", "10000", "--wait"}));
  // 10,000 forks take ~17 s alone here and twice that beside the other
  // tests of ctest -j2: a bound for a hang, not a timing.
  auto done = k.find_line(Stream::Out, "done ", 90s);
  ASSERT_TRUE(is_line(done, "done 10000")) << k.text(Stream::Out) << k.text(Stream::Err);
  pid_t kp = k.keel_pid();
  ASSERT_GT(kp, 0);
  // Reaping lags the last exits a little: wait for it, boundedly.
  EXPECT_TRUE(poll_until([&] { return count_zombies(kp) == 0; }, 10s))
      << count_zombies(kp) << " zombies left below keel";
  // And nothing is left running either: only the probe, waiting on stdin.
  EXPECT_TRUE(poll_until([&] { return descendants(kp).size() == 1; }, 10s))
      << descendants(kp).size() << " processes below keel";
  EXPECT_TRUE(pid_alive(kp));
  k.close_stdin();
  EXPECT_EQ(k.wait_exit(), 0);
  EXPECT_TRUE(leftover_processes().empty());
}

TEST_P(Native, TenThousandOrphansAreAllReapedBeforeKeelExits) {
  // The probe exits right after its last fork: the last orphans die while
  // keel is already stopping the tree, and it must still reap them all.
  KeelRun k(keel({kProbe, "orphans", "10000"}));
  EXPECT_EQ(k.wait_exit(90s), 0) << k.text(Stream::Err);  // a bound for a hang (see above)
  EXPECT_EQ(k.text(Stream::Out), "done 10000\n");
  // As a subreaper, anything keel had not reaped would now be the test's.
  auto left = leftover_processes();
  EXPECT_TRUE(left.empty()) << left.size() << " processes left behind, first: " << left.front().pid << " ("
                            << left.front().state << ")";
}

TEST_P(Native, ExplicitSubreaperFlagReapsOrphansToo) {
  KeelRun k(keel({"-s", kProbe, "orphans", "200", "--wait"}));
  ASSERT_TRUE(is_line(k.find_line(Stream::Out, "done "), "done 200")) << k.text(Stream::Err);
  pid_t kp = k.keel_pid();
  EXPECT_TRUE(poll_until([&] { return descendants(kp).size() == 1; }, 10s))
      << descendants(kp).size() << " processes below keel, " << count_zombies(kp) << " zombies";
  k.close_stdin();
  EXPECT_EQ(k.wait_exit(), 0);
  EXPECT_EQ(k.text(Stream::Err), "");
}

// ------------------------------------------------------------- signals

TEST_P(Native, EverySignalReachesOnlyTheMainChildWithoutPgroup) {
  KeelRun k(keel({kProbe, "signals", "--child"}));
  auto ready = k.find_line(Stream::Out, "ready ");
  ASSERT_TRUE(ready) << k.text(Stream::Err);
  auto w = words(*ready);
  ASSERT_EQ(w.size(), 4u) << *ready;
  const std::string pid = w[1];
  const std::string child = w[3];
  for (int s : forwardable_signals()) {
    ASSERT_TRUE(k.signal(s)) << "kill(keel, " << s << ")";
    std::string want = got(s, pid);
    ASSERT_TRUE(k.find_line(Stream::Out, [&](const std::string& l) { return l == want; }))
        << "signal " << s << " did not reach the child; stderr: " << k.text(Stream::Err);
  }
  // The probe's child got none of them: after a barrier on it, any signal
  // sent to its group would have been printed.
  ASSERT_TRUE(barrier(k, child));
  for (const auto& line : k.lines(Stream::Out)) {
    auto lw = words(line);
    if (lw.size() == 3 && lw[0] == "got" && lw[2] == child) {
      EXPECT_EQ(std::stoi(lw[1]), SIGRTMIN) << "the main child's child got a signal without -g: " << line;
    }
  }
  k.close_stdin();
  EXPECT_EQ(k.wait_exit(), 0);
}

TEST_P(Native, EverySignalReachesTheProcessGroupWithPgroup) {
  KeelRun k(keel({"--pgroup", kProbe, "signals", "--child"}));
  auto ready = k.find_line(Stream::Out, "ready ");
  ASSERT_TRUE(ready) << k.text(Stream::Err);
  auto w = words(*ready);
  ASSERT_EQ(w.size(), 4u) << *ready;
  const std::string pid = w[1];
  const std::string child = w[3];
  for (int s : forwardable_signals()) {
    ASSERT_TRUE(k.signal(s));
    auto missing = await_lines(k, {got(s, pid), got(s, child)});
    ASSERT_TRUE(missing.empty()) << "signal " << s << " missing: " << *missing.begin();
  }
  k.close_stdin();
  EXPECT_EQ(k.wait_exit(), 0);
}

TEST_P(Native, ShortPgroupOptionSignalsTheGroup) {
  KeelRun k(keel({"-g", kProbe, "signals", "--child"}));
  auto ready = k.find_line(Stream::Out, "ready ");
  ASSERT_TRUE(ready);
  auto w = words(*ready);
  ASSERT_EQ(w.size(), 4u);
  ASSERT_TRUE(k.signal(SIGUSR1));
  EXPECT_TRUE(await_lines(k, {got(SIGUSR1, w[1]), got(SIGUSR1, w[3])}).empty());
  k.close_stdin();
  EXPECT_EQ(k.wait_exit(), 0);
}

TEST_P(Native, RewriteByNameAndNumber) {
  KeelRun k(
      keel({"-r", "USR1:USR2", "-r", "1:15", "--rewrite", "sigwinch:SIGPWR", "-r", "SIGQUIT:2", kProbe, "signals"}));
  auto ready = k.find_line(Stream::Out, "ready ");
  ASSERT_TRUE(ready) << k.text(Stream::Err);
  const std::string pid = words(*ready).at(1);
  struct Case {
    int sent;
    int expected;
  };
  // One signal at a time: the probe prints exactly one line per signal it
  // gets, so the next line is what this one became (an extra delivery of
  // the original would show up as the next line instead).
  for (Case c : {Case{SIGUSR1, SIGUSR2}, Case{SIGHUP, SIGTERM}, Case{SIGWINCH, SIGPWR}, Case{SIGQUIT, SIGINT},
                 Case{SIGUSR2, SIGUSR2} /* not rewritten */, Case{SIGTERM, SIGTERM} /* rewrites do not chain */}) {
    ASSERT_TRUE(k.signal(c.sent));
    ASSERT_EQ(k.next_line(Stream::Out).value_or("<nothing>"), got(c.expected, pid)) << "sent " << c.sent;
  }
  ASSERT_TRUE(barrier(k, pid));
  std::vector<std::string> expected = {*ready,           got(SIGUSR2, pid), got(SIGTERM, pid), got(SIGPWR, pid),
                                       got(SIGINT, pid), got(SIGUSR2, pid), got(SIGTERM, pid), got(SIGRTMIN, pid)};
  EXPECT_EQ(k.lines(Stream::Out), expected);
  k.close_stdin();
  EXPECT_EQ(k.wait_exit(), 0);
}

TEST_P(Native, RewriteToZeroDropsTheSignal) {
  KeelRun k(keel({"-r", "HUP:0", "-r", "28:0", "-r", "SIGQUIT:0", kProbe, "signals"}));
  auto ready = k.find_line(Stream::Out, "ready ");
  ASSERT_TRUE(ready) << k.text(Stream::Err);
  const std::string pid = words(*ready).at(1);
  // Each dropped signal is followed by a higher-numbered marker through
  // keel: keel handles pending signals lowest first and one at a time, and
  // so does the probe, so a forwarded dropped signal would be printed
  // before the marker. The final barrier makes that airtight.
  struct Case {
    int dropped;
    int marker;
  };
  for (Case c : {Case{SIGHUP, SIGUSR2}, Case{SIGWINCH, SIGPWR}, Case{SIGQUIT, SIGUSR1}}) {
    ASSERT_LT(c.dropped, c.marker);
    ASSERT_TRUE(k.signal(c.dropped));
    ASSERT_TRUE(k.signal(c.marker));
    ASSERT_EQ(k.next_line(Stream::Out).value_or("<nothing>"), got(c.marker, pid)) << "dropped " << c.dropped;
  }
  ASSERT_TRUE(barrier(k, pid));
  std::vector<std::string> expected = {*ready, got(SIGUSR2, pid), got(SIGPWR, pid), got(SIGUSR1, pid),
                                       got(SIGRTMIN, pid)};
  EXPECT_EQ(k.lines(Stream::Out), expected);
  k.close_stdin();
  EXPECT_EQ(k.wait_exit(), 0);
}

TEST_P(Native, ForwardedSigtermEndsTheChildAndKeelReports143) {
  KeelRun k(keel({kProbe, "wait"}));
  ASSERT_TRUE(k.find_line(Stream::Out, "ready ")) << k.text(Stream::Err);
  ASSERT_TRUE(k.signal(SIGTERM));
  EXPECT_EQ(k.wait_exit(), 128 + SIGTERM);
}

// ----------------------------------------------------------- exit codes

TEST_P(Native, EveryExitCodeIsPassedThrough) {
  for (int first = 0; first < 256; first += 32) {
    std::vector<Launch> batch;
    for (int code = first; code < first + 32; ++code) batch.push_back(keel({kProbe, "exit", std::to_string(code)}));
    auto codes = run_all(batch, 30s);
    for (int i = 0; i < 32; ++i) {
      EXPECT_EQ(codes[static_cast<std::size_t>(i)], first + i) << "probe exit " << first + i;
    }
  }
}

TEST_P(Native, DeathBySignalNGives128PlusN) {
  std::vector<Launch> batch;
  for (int s : kTerminating) batch.push_back(keel({kProbe, "die", std::to_string(s)}));
  auto codes = run_all(batch, 30s);
  for (std::size_t i = 0; i < kTerminating.size(); ++i) {
    EXPECT_EQ(codes[i], 128 + kTerminating[i]) << "probe killed by signal " << kTerminating[i];
  }
}

TEST_P(Native, RemapExitMapsOnlyTheGivenCodesToZero) {
  std::vector<std::string> opts = {"-e", "3", "--remap-exit", "143", "-e", "255"};
  struct Case {
    std::vector<std::string> probe;
    int expected;
  };
  std::vector<Case> cases = {
      {{"exit", "3"}, 0}, {{"exit", "143"}, 0}, {{"die", "15"}, 0}, {{"exit", "255"}, 0},   {{"exit", "4"}, 4},
      {{"exit", "2"}, 2}, {{"die", "9"}, 137},  {{"exit", "0"}, 0}, {{"exit", "144"}, 144},
  };
  std::vector<Launch> batch;
  for (const auto& c : cases) {
    std::vector<std::string> args = opts;
    args.push_back(kProbe);
    args.insert(args.end(), c.probe.begin(), c.probe.end());
    batch.push_back(keel(args));
  }
  auto codes = run_all(batch, 30s);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(codes[i], cases[i].expected) << "probe " << cases[i].probe[0] << " " << cases[i].probe[1];
  }
}

// ---------------------------------------------------- the child's state

// The status lines of `keel [opts] probe status --wait`, up to "cwd".
std::vector<std::string> status_lines(KeelRun& k) {
  std::vector<std::string> lines;
  while (auto line = k.next_line(Stream::Out)) {
    lines.push_back(*line);
    if (line->rfind("cwd ", 0) == 0) break;
  }
  return lines;
}

std::string field(const std::vector<std::string>& lines, const std::string& key) {
  for (const auto& l : lines) {
    if (l.rfind(key + " ", 0) == 0) return l.substr(key.size() + 1);
  }
  return "<missing>";
}

TEST_P(Native, ChildStartsWithNoIgnoredAndNoBlockedSignals) {
  const std::vector<int> ignore = {SIGPIPE, SIGUSR1, SIGHUP, SIGTSTP};
  const std::vector<int> block = {SIGUSR2, SIGINT, SIGTERM};
  // First, that the harness really starts a program (unshare too) with
  // them: the probe run directly must see them.
  {
    Launch direct = program_launch(GetParam(), kProbe, {"status"});
    direct.ignore = ignore;
    direct.block = block;
    KeelRun p(direct);
    auto lines = status_lines(p);
    EXPECT_EQ(p.wait_exit(), 0);
    std::uint64_t ign = std::strtoull(field(lines, "SigIgn").c_str(), nullptr, 16);
    std::uint64_t blk = std::strtoull(field(lines, "SigBlk").c_str(), nullptr, 16);
    for (int s : ignore) ASSERT_NE(ign & sig_bit(s), 0u) << "harness did not ignore " << s;
    for (int s : block) ASSERT_NE(blk & sig_bit(s), 0u) << "harness did not block " << s;
  }
  Launch l = keel({kProbe, "status", "--wait"});
  l.ignore = ignore;
  l.block = block;
  KeelRun k(l);
  auto lines = status_lines(k);
  ASSERT_FALSE(lines.empty()) << k.text(Stream::Err);
  EXPECT_EQ(field(lines, "SigIgn"), "0000000000000000");
  EXPECT_EQ(field(lines, "SigBlk"), "0000000000000000");
  k.close_stdin();
  EXPECT_EQ(k.wait_exit(), 0);
}

// docs/container-mode.md: "SigIgn and SigBlk all zero, whatever keel itself
// inherited" — real-time signals included.
TEST_P(Native, ChildStartsWithNoIgnoredOrBlockedRealtimeSignals) {
  Launch l = keel({kProbe, "status"});
  l.ignore = {SIGRTMIN + 6, SIGRTMAX};
  l.block = {SIGRTMIN + 7};
  KeelRun k(l);
  auto lines = status_lines(k);
  ASSERT_FALSE(lines.empty()) << k.text(Stream::Err);
  EXPECT_EQ(field(lines, "SigIgn"), "0000000000000000");
  EXPECT_EQ(field(lines, "SigBlk"), "0000000000000000");
  EXPECT_EQ(k.wait_exit(), 0);
}

TEST_P(Native, ChildKeepsTheCallersDirectoryWhileKeelMovesToRoot) {
  TempDir dir;
  Launch l = keel({kProbe, "status", "--wait"});
  l.cwd = dir.path();
  KeelRun k(l);
  auto lines = status_lines(k);
  ASSERT_FALSE(lines.empty()) << k.text(Stream::Err);
  EXPECT_EQ(field(lines, "cwd"), real_path(dir.path()));
  pid_t kp = k.keel_pid();
  ASSERT_GT(kp, 0);
  EXPECT_EQ(read_link("/proc/" + std::to_string(kp) + "/cwd"), "/");
  pid_t probe = k.host_pid(std::stoi(field(lines, "pid")));
  ASSERT_GT(probe, 0);
  EXPECT_EQ(read_link("/proc/" + std::to_string(probe) + "/cwd"), real_path(dir.path()));
  k.close_stdin();
  EXPECT_EQ(k.wait_exit(), 0);
}

// Without a terminal (the container case) the program gets a session of
// its own, so keel and the program sit in different scheduler autogroups.
TEST_P(Native, WithoutATerminalTheProgramLeadsItsOwnSession) {
  KeelRun k(keel({kProbe, "status", "--wait"}));
  auto lines = status_lines(k);
  ASSERT_FALSE(lines.empty()) << k.text(Stream::Err);
  EXPECT_EQ(field(lines, "sid"), field(lines, "pid"));
  EXPECT_EQ(field(lines, "pgid"), field(lines, "pid"));
  k.close_stdin();
  EXPECT_EQ(k.wait_exit(), 0);
}

// With a terminal (docker run -it) the program gets a process group of its
// own in keel's session, and that group holds the terminal's foreground, so
// the terminal's ^C and ^Z reach it directly.
TEST(NativeTerminal, WithATerminalTheProgramHoldsTheForeground) {
  int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(master, 0);
  ASSERT_EQ(::grantpt(master), 0);
  ASSERT_EQ(::unlockpt(master), 0);
  const char* slave = ::ptsname(master);
  ASSERT_NE(slave, nullptr);
  Launch l = keel_launch(Placement::Subreaper, {kProbe, "status", "--wait"});
  l.stdin_terminal = slave;
  KeelRun k(l);
  auto lines = status_lines(k);
  ASSERT_FALSE(lines.empty()) << k.text(Stream::Err);
  pid_t probe = std::stoi(field(lines, "pid"));
  EXPECT_EQ(field(lines, "pgid"), field(lines, "pid"));
  EXPECT_EQ(std::stoi(field(lines, "sid")), k.keel_pid()) << "the program must stay in keel's session";
  EXPECT_EQ(::tcgetpgrp(master), probe) << "the program's group must hold the terminal's foreground";
  k.kill_all();
  ::close(master);
}

// keel started with fd 0 closed (`keel PROGRAM <&-`, a daemon's exec) must
// still run PROGRAM: a closed stdin is a normal case, like a non-terminal.
TEST_P(Native, RunsTheProgramWhenStartedWithStdinClosed) {
  Launch l = keel({kProbe, "exit", "5"});
  l.stdin_closed = true;
  KeelRun k(l);
  EXPECT_EQ(k.wait_exit(), 5) << k.text(Stream::Err);
  EXPECT_EQ(k.text(Stream::Err), "");
}

// ----------------------------------------------------- whole-tree stop

// The grandchild `probe stubborn` leaves, as the test sees it.
pid_t stubborn_grandchild(KeelRun& k, const char* word) {
  auto line = k.find_line(Stream::Out, std::string(word) + " ");
  if (!line) {
    ADD_FAILURE() << "no '" << word << "' line; stderr: " << k.text(Stream::Err);
    return -1;
  }
  return k.host_pid(std::stoi(words(*line).at(1)));
}

TEST_P(Native, StubbornGrandchildIsKilledAfterTheGracePeriod) {
  KeelRun k(keel({"-v", "-t", "1", kProbe, "stubborn", "--wait"}));
  pid_t gc = stubborn_grandchild(k, "stubborn");
  ASSERT_GT(gc, 0);
  auto ignored = status_sigset(gc, "SigIgn");
  ASSERT_TRUE(ignored && (*ignored & sig_bit(SIGTERM)) != 0) << "the grandchild does not ignore SIGTERM";
  pid_t kp = k.keel_pid();

  auto t0 = Clock::now();
  k.close_stdin();  // the probe exits 7 now
  ASSERT_TRUE(k.find_line(Stream::Err, "exited with status 7")) << k.text(Stream::Err);
  EXPECT_TRUE(pid_alive(gc)) << "the grandchild died with the main child";
  ASSERT_TRUE(k.find_line(Stream::Err, "sent SIGTERM")) << k.text(Stream::Err);
  EXPECT_TRUE(pid_alive(kp)) << "keel left without waiting for the grandchild";
  EXPECT_TRUE(pid_alive(gc));
  ASSERT_TRUE(k.find_line(Stream::Err, "sent SIGKILL")) << k.text(Stream::Err);
  EXPECT_EQ(k.wait_exit(), 7);
  // Everything keel did happened after t0: SIGTERM, then 1 s, then SIGKILL.
  EXPECT_GE(k.exit_time() - t0, 900ms) << "keel did not wait the grace period";
  EXPECT_FALSE(pid_exists(gc)) << "the grandchild outlived keel";
  EXPECT_TRUE(leftover_processes().empty());
}

TEST_P(Native, GraceZeroKillsAtOnce) {
  KeelRun k(keel({"-v", "-t", "0", kProbe, "stubborn", "--wait"}));
  pid_t gc = stubborn_grandchild(k, "stubborn");
  ASSERT_GT(gc, 0);
  k.close_stdin();
  // The default grace is 5 s: well past this deadline.
  EXPECT_EQ(k.wait_exit(3s), 7);
  EXPECT_FALSE(pid_exists(gc));
  std::string err = k.text(Stream::Err);
  EXPECT_NE(err.find("sent SIGKILL"), std::string::npos) << err;
  EXPECT_EQ(err.find("sent SIGTERM"), std::string::npos) << err;
  EXPECT_TRUE(leftover_processes().empty());
}

TEST_P(Native, GrandchildThatHonoursSigtermEndsTheGraceEarly) {
  KeelRun k(keel({"-v", "-t", "30", kProbe, "daemon", "--wait"}));
  pid_t gc = stubborn_grandchild(k, "daemon");
  ASSERT_GT(gc, 0);
  EXPECT_TRUE(pid_alive(gc));
  k.close_stdin();
  // The grace period is a bound, not a delay: far less than 30 s.
  EXPECT_EQ(k.wait_exit(10s), 3);
  EXPECT_FALSE(pid_exists(gc));
  std::string err = k.text(Stream::Err);
  EXPECT_NE(err.find("sent SIGTERM"), std::string::npos) << err;
  EXPECT_EQ(err.find("sent SIGKILL"), std::string::npos) << err;
  EXPECT_TRUE(leftover_processes().empty());
}

TEST_P(Native, SecondSigtermDuringTheGracePeriodKillsAtOnce) {
  KeelRun k(keel({"-v", "-t", "30", kProbe, "stubborn", "--wait"}));
  pid_t gc = stubborn_grandchild(k, "stubborn");
  ASSERT_GT(gc, 0);
  k.close_stdin();
  ASSERT_TRUE(k.find_line(Stream::Err, "sent SIGTERM")) << k.text(Stream::Err);
  EXPECT_TRUE(pid_alive(gc));
  ASSERT_TRUE(k.signal(SIGTERM));
  EXPECT_EQ(k.wait_exit(10s), 7);
  EXPECT_FALSE(pid_exists(gc));
  EXPECT_NE(k.text(Stream::Err).find("sent SIGKILL"), std::string::npos);
}

// keel's parent dies (unshare, SIGKILLed): -p makes the kernel signal keel,
// which forwards it like any other. keel itself then belongs to the test
// (a subreaper), which reaps it.
TEST(NativeNamespace, PdeathsigArrivesAndIsForwardedWhenTheParentDies) {
  if (!namespaces_available()) GTEST_SKIP() << "unshare --pid --fork --mount-proc does not work here";
  KeelRun k(keel_launch(Placement::Namespace, {"-p", "USR1", kProbe, "signals"}));
  auto ready = k.find_line(Stream::Out, "ready ");
  ASSERT_TRUE(ready) << k.text(Stream::Err);
  const std::string pid = words(*ready).at(1);
  pid_t kp = k.keel_pid();
  ASSERT_GT(kp, 0);
  ASSERT_EQ(::kill(k.runner_pid(), SIGKILL), 0);
  auto line = k.next_line(Stream::Out);
  EXPECT_EQ(line.value_or("<nothing>"), got(SIGUSR1, pid)) << k.text(Stream::Err);
  EXPECT_TRUE(poll_until([&] { return status_field(kp, "PPid") == std::to_string(::getpid()); }, 10s))
      << "keel was not re-parented to the test";
  k.close_stdin();
  ASSERT_TRUE(poll_until([&] { return proc_state(kp) == 'Z'; }, 10s)) << "keel did not exit";
  int status = -1;
  ASSERT_EQ(::waitpid(kp, &status, 0), kp);
  EXPECT_EQ(shell_code(status), 0);
}

// ------------------------------------------------------------ bad input

TEST_P(Native, UsageErrorsExit2WithOneLineNamingTheProblem) {
  struct Case {
    std::vector<std::string> args;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {{"--bogus", kProbe, "exit", "0"}, "'--bogus'"},
      {{"-x", kProbe, "exit", "0"}, "'-x'"},
      {{"-r", "TERM:FOO", kProbe, "exit", "0"}, "'TERM:FOO'"},
      {{"-r", "TERM", kProbe, "exit", "0"}, "'TERM'"},
      {{"-r", "32:1", kProbe, "exit", "0"}, "'32:1'"},
      {{"--rewrite=NOPE:TERM", kProbe, "exit", "0"}, "'NOPE:TERM'"},
      {{"-p", "FOO", kProbe, "exit", "0"}, "'FOO'"},
      {{"--pdeathsig", "0", kProbe, "exit", "0"}, "'0'"},
      {{"-e", "256", kProbe, "exit", "0"}, "'256'"},
      {{"-e", "abc", kProbe, "exit", "0"}, "'abc'"},
      {{"-e", "-1", kProbe, "exit", "0"}, "'-1'"},
      {{"-t", "abc", kProbe, "exit", "0"}, "'abc'"},
      {{"-t", "-1", kProbe, "exit", "0"}, "'-1'"},
      {{"-t", "86401", kProbe, "exit", "0"}, "'86401'"},
      {{"--grace"}, "'--grace'"},
      {{"--role=bogus", kProbe, "exit", "0"}, "'bogus'"},
      {{}, "no PROGRAM"},
      {{"-g", "-v"}, "no PROGRAM"},
      {{"--"}, "no PROGRAM"},
  };
  std::vector<std::unique_ptr<KeelRun>> runs;
  for (const auto& c : cases) runs.push_back(std::make_unique<KeelRun>(keel(c.args)));
  for (std::size_t i = 0; i < cases.size(); ++i) {
    KeelRun& k = *runs[i];
    std::string label = "keel";
    for (const auto& a : cases[i].args) label += " " + a;
    EXPECT_EQ(k.wait_exit(), 2) << label;
    std::string err = k.text(Stream::Err);
    EXPECT_EQ(count_lines(err), 1) << label << "\n" << err;
    EXPECT_NE(err.find(cases[i].needle), std::string::npos) << label << "\n" << err;
    EXPECT_EQ(err.rfind("keel: ", 0), 0u) << label << "\n" << err;
    EXPECT_EQ(k.text(Stream::Out), "") << label;
  }
}

TEST_P(Native, MissingProgramExits127NamingIt) {
  for (std::string program : {"/nonexistent/keel-test-program", "keel-no-such-program-4242"}) {
    KeelRun k(keel({program, "arg"}));
    EXPECT_EQ(k.wait_exit(), 127) << program;
    std::string err = k.text(Stream::Err);
    EXPECT_EQ(count_lines(err), 1) << err;
    EXPECT_NE(err.find(program), std::string::npos) << err;
  }
}

TEST_P(Native, NonExecutableProgramExits126NamingIt) {
  TempDir dir;
  std::string script = dir.path() + "/not-executable";
  {
    std::ofstream f(script);
    f << "#!/bin/sh\nexit 0\n";
  }
  ASSERT_EQ(::chmod(script.c_str(), 0644), 0);
  for (const std::string& program : {script, dir.path()}) {
    KeelRun k(keel({program}));
    EXPECT_EQ(k.wait_exit(), 126) << program;
    std::string err = k.text(Stream::Err);
    EXPECT_EQ(count_lines(err), 1) << err;
    EXPECT_NE(err.find(program), std::string::npos) << err;
  }
}

TEST(NativeCli, HelpAndVersionExit0OnStdout) {
  for (const char* opt : {"--help", "-h"}) {
    KeelRun k(keel_launch(Placement::Subreaper, {opt}));
    EXPECT_EQ(k.wait_exit(), 0) << opt;
    EXPECT_NE(k.text(Stream::Out).find("Usage: keel"), std::string::npos) << opt;
    EXPECT_EQ(k.text(Stream::Err), "") << opt;
  }
  for (const char* opt : {"--version", "-V"}) {
    KeelRun k(keel_launch(Placement::Subreaper, {opt}));
    EXPECT_EQ(k.wait_exit(), 0) << opt;
    std::string out = k.text(Stream::Out);
    EXPECT_EQ(out.rfind("keel ", 0), 0u) << out;
    EXPECT_EQ(count_lines(out), 1) << out;
    EXPECT_EQ(k.text(Stream::Err), "") << opt;
  }
  // --help wins over what follows, and is not passed to a program.
  KeelRun k(keel_launch(Placement::Subreaper, {"--help", kProbe, "exit", "9"}));
  EXPECT_EQ(k.wait_exit(), 0);
}

// ----------------------------------------------------------------- role

TEST_P(Native, RunAsInitIgnoresKernelWordsAndKeepsRunning) {
  TempDir dir;
  std::string init = dir.path() + "/init";
  ASSERT_EQ(::symlink(keel_binary().c_str(), init.c_str()), 0);
  // ("single" would ask for the rescue target: a shell.)
  Launch l = keel({"splash", "quiet"});
  l.program = init;
  l.set_env = {{"KEEL_CONFIG_DIR", dir.path() + "/etc"}, {"KEEL_RUN_DIR", dir.path() + "/run"},
               {"KEEL_CGROUP_ROOT", "none"}};
  KeelRun k(l);
  pid_t kp = k.keel_pid();
  ASSERT_GT(kp, 0);
  // The system's init never exits; an attempt to run "splash" would fail
  // and exit (127) at once.
  EXPECT_FALSE(k.try_wait_exit(700ms)) << "exited with " << shell_code(k.wait_status()) << "; stderr:\n"
                                       << k.text(Stream::Err);
  EXPECT_TRUE(pid_alive(kp));
  EXPECT_EQ(read_link("/proc/" + std::to_string(kp) + "/exe"), real_path(keel_binary()));
  EXPECT_TRUE(descendants(kp).empty()) << "init started something";
  std::string err = k.text(Stream::Err);
  EXPECT_EQ(err.find("cannot run"), std::string::npos) << err;
  EXPECT_EQ(err.find("error"), std::string::npos) << err;
  k.kill_all();
  // The runner dies by SIGKILL, except when util-linux's unshare sees keel
  // killed first: it tries to re-raise SIGKILL on itself via signal(2),
  // which cannot be done for SIGKILL, and exits 1 instead.
  int code = shell_code(k.wait_status());
  if (GetParam() == Placement::Namespace && code == 1) code = 128 + SIGKILL;
  EXPECT_EQ(code, 128 + SIGKILL);
}

}  // namespace
}  // namespace keel::systest
