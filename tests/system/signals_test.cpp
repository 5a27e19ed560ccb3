// Signals in every role (docs/signals.md), driven from outside: every
// catchable signal 1..64 sent to keel leaves it alive and doing what the
// table says, and a closed stdout/stderr never ends it.
//
//   * the container init (native and tini personalities), as PID 1 of a
//     namespace and as a plain subreaper: every signal reaches the child,
//     real-time ones included (tini's fault signals excepted);
//   * the system role, not PID 1 and as PID 1 of a namespace: every signal
//     that is not a power request or a reload is logged and ignored, and
//     the services are still supervised (keelctl answers);
//   * the system role with stdout and stderr on a pipe whose reader has
//     gone (`keel --role=system 2>&1 | head -1`): keel keeps running;
//   * the children of each keep an empty signal mask and no ignored signal.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "harness.hpp"

namespace keel::systest {
namespace {

namespace fs = std::filesystem;

// Every signal a process can block, as keel does (core/signal_source.hpp):
// 1..64 but SIGKILL and SIGSTOP; glibc's own 32 and 33 included (sent with
// kill(), they end a process that leaves them at their default).
std::vector<int> blockable_signals() {
  std::vector<int> v;
  for (int s = 1; s <= SIGRTMAX; ++s) {
    if (s != SIGKILL && s != SIGSTOP) v.push_back(s);
  }
  return v;
}

// keel's name for a signal in its log (core/signals.cpp).
std::string signal_name(int signo) {
  if (signo == SIGIO) return "SIGIO";  // glibc says POLL
  if (signo > 31 && signo < SIGRTMIN) return "SIG" + std::to_string(signo);
  if (signo < SIGRTMIN) return std::string("SIG") + ::sigabbrev_np(signo);
  if (signo == SIGRTMIN) return "SIGRTMIN";
  if (signo == SIGRTMAX) return "SIGRTMAX";
  if (signo - SIGRTMIN <= 15) return "SIGRTMIN+" + std::to_string(signo - SIGRTMIN);
  return "SIGRTMAX-" + std::to_string(SIGRTMAX - signo);
}

// A barrier on the probe (probe.cpp): SIGRTMIN straight to it (`host`, its
// pid as the test sees it), and a new "got" line for it (`inner`, its pid
// as it sees itself): every standard signal sent to it before has been
// printed by then. keel forwarded a SIGRTMIN already, so lines are counted.
bool probe_barrier(KeelRun& run, pid_t host, pid_t inner) {
  const std::string want = got(SIGRTMIN, inner);
  auto count = [&] {
    const auto& lines = run.lines(Stream::Out);
    return std::count(lines.begin(), lines.end(), want);
  };
  const auto before = count();
  if (::kill(host, SIGRTMIN) != 0) return false;
  return poll_until([&] { return count() > before; }, kLineTimeout);
}

class SignalsTest : public ::testing::TestWithParam<Placement> {
 protected:
  void SetUp() override {
    if (GetParam() == Placement::Namespace && !namespaces_available()) {
      GTEST_SKIP() << "unshare --pid is not available here";
    }
  }
  void TearDown() override { reap_leftovers(); }
};

// ------------------------------------------------------ container init

// Send every blockable signal but SIGCHLD to keel running the probe;
// `forwarded(signo)` says which must reach the child. Keel must still be
// running at the end, and exit with the probe's 0 when its stdin closes.
void check_every_signal(KeelRun& k, const std::function<bool(int)>& forwarded) {
  auto rd = wait_ready(k);
  ASSERT_TRUE(rd) << k.text(Stream::Err);
  pid_t child_host = k.host_pid(rd->pid);
  // One at a time: a pending SIGCONT and a pending stop signal cancel each
  // other in the kernel, whoever receives them.
  for (int s : blockable_signals()) {
    if (s == SIGCHLD) continue;
    ASSERT_TRUE(k.signal(s)) << "kill(keel, " << s << "): keel is gone; stderr:\n" << k.text(Stream::Err);
    if (!forwarded(s)) continue;
    ASSERT_TRUE(saw(k, Stream::Out, got(s, rd->pid))) << signal_name(s) << " did not reach the child; stderr:\n"
                                                       << k.text(Stream::Err);
  }
  // Nothing else arrived: after a barrier on the child, a signal keel had
  // forwarded would have been printed.
  ASSERT_TRUE(probe_barrier(k, child_host, rd->pid));
  for (int s : blockable_signals()) {
    if (s == SIGCHLD || forwarded(s) || s == SIGRTMIN) continue;
    EXPECT_FALSE(any_line(k, Stream::Out, got(s, rd->pid))) << signal_name(s) << " was forwarded";
  }
  EXPECT_FALSE(k.try_wait_exit(0ms)) << "keel exited; stderr:\n" << k.text(Stream::Err);
  // The child starts with no signal blocked or ignored, whatever keel does.
  EXPECT_EQ(status_sigset(child_host, "SigBlk"), std::optional<std::uint64_t>(0));
  EXPECT_EQ(status_sigset(child_host, "SigIgn"), std::optional<std::uint64_t>(0));
  k.close_stdin();
  EXPECT_EQ(k.wait_exit(), 0) << k.text(Stream::Err);
}

// glibc's own 32 and 33 are never forwarded (a glibc program that has not
// set up its handler would die of one).
bool glibc_own(int s) { return s > 31 && s < SIGRTMIN; }

TEST_P(SignalsTest, ContainerInitForwardsEverySignalRealTimeOnesIncluded) {
  KeelRun k(keel_launch(GetParam(), {kProbe, "signals"}));
  check_every_signal(k, [](int s) { return !glibc_own(s); });
}

bool tini_forwards(int s) {
  if (glibc_own(s)) return false;
  for (int own : {SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP, SIGSYS, SIGTTIN, SIGTTOU}) {
    if (s == own) return false;
  }
  return true;
}

TEST_P(SignalsTest, TiniPersonalityForwardsAllButItsOwnAndSurvivesThose) {
  // The probe keeps the mask and ignored set tini hands down (the harness
  // starts keel with none).
  KeelRun k(keel_launch(GetParam(), {"--compat=tini", "--", kProbe, "signals"}));
  check_every_signal(k, tini_forwards);
}

// dumb-init forwards 1..31 and dies of a real-time signal when it is not
// PID 1; keel's personality forwards them (docs/signals.md). Its tty
// signals (stop-self) are left to dumb_init_test.cpp.
TEST_P(SignalsTest, DumbInitPersonalityForwardsRealTimeSignals) {
  KeelRun k(keel_launch(GetParam(), {"--compat=dumb-init", kProbe, "signals"}));
  auto rd = wait_ready(k);
  ASSERT_TRUE(rd) << k.text(Stream::Err);
  for (int s = 32; s <= SIGRTMAX; ++s) {
    ASSERT_TRUE(k.signal(s)) << "kill(keel, " << s << "): keel is gone; stderr:\n" << k.text(Stream::Err);
    if (glibc_own(s)) continue;
    ASSERT_TRUE(saw(k, Stream::Out, got(s, rd->pid))) << signal_name(s) << " did not reach the child; stderr:\n"
                                                       << k.text(Stream::Err);
  }
  EXPECT_FALSE(k.try_wait_exit(0ms)) << "keel exited; stderr:\n" << k.text(Stream::Err);
  k.close_stdin();
  EXPECT_EQ(k.wait_exit(), 0) << k.text(Stream::Err);
}

// ------------------------------------------------------ system role

class Config {
 public:
  Config() {
    fs::create_directories(dir_.path() + "/services");
    std::ofstream(dir_.path() + "/services/svc.toml") << "command = [\"/bin/sleep\", \"600\"]\n";
  }
  [[nodiscard]] const std::string& path() const { return dir_.path(); }
  [[nodiscard]] std::string socket() const { return dir_.path() + "/run/control.sock"; }
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> env() const {
    return {{"KEEL_CONFIG_DIR", path()}, {"KEEL_RUN_DIR", path() + "/run"}, {"KEEL_CGROUP_ROOT", "none"}};
  }
  // `keel ctl --socket PATH ARGS...`: its exit code and output.
  [[nodiscard]] Outcome ctl(std::vector<std::string> args) const {
    std::vector<std::string> argv{"ctl", "--socket", socket()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_through(program_launch(Placement::Subreaper, keel_binary(), argv));
  }

 private:
  TempDir dir_;
};

// svc's main pid as the test sees it: the sleep below keel.
pid_t service_pid(pid_t keel) {
  for (const ProcEntry& p : descendants(keel)) {
    if (p.comm == "sleep") return p.pid;
  }
  return -1;
}

// The signals the system role acts on (a power request each, or a reload);
// every other one is logged and ignored, SIGPIPE and SIGXFSZ silently.
bool system_acts_on(int s) {
  return s == SIGTERM || s == SIGINT || s == SIGUSR1 || s == SIGUSR2 || s == SIGPWR || s == SIGHUP || s == SIGCHLD;
}

TEST_P(SignalsTest, SystemRoleLogsAndIgnoresEverySignalItDoesNotActOn) {
  Config config;
  Launch l = keel_launch(GetParam(), {"--role=system"});
  l.set_env = config.env();
  KeelRun k(l);
  ASSERT_TRUE(seen(k, Stream::Err, [](const std::string& line) { return starts_with(line, "keel: svc: started"); }))
      << k.text(Stream::Err);
  pid_t keel = k.keel_pid();
  pid_t svc = -1;
  ASSERT_TRUE(poll_until([&] { return (svc = service_pid(keel)) > 0; }, kLineTimeout));
  for (int s : blockable_signals()) {
    if (system_acts_on(s)) continue;
    ASSERT_TRUE(k.signal(s)) << "kill(keel, " << s << "): keel is gone; stderr:\n" << k.text(Stream::Err);
    if (s == SIGPIPE || s == SIGXFSZ) continue;
    ASSERT_TRUE(saw(k, Stream::Err, "keel: " + signal_name(s) + " received: ignored"))
        << signal_name(s) << "; stderr:\n"
        << k.text(Stream::Err);
  }
  EXPECT_FALSE(k.try_wait_exit(0ms)) << "keel exited; stderr:\n" << k.text(Stream::Err);
  EXPECT_NE(proc_state(keel), 'T') << "keel is stopped";
  // Still supervising: keelctl answers and the service is the same process.
  Outcome status = config.ctl({"status"});
  EXPECT_EQ(status.code, 0) << status.err;
  EXPECT_TRUE(contains(status.out, "svc")) << status.out;
  EXPECT_TRUE(pid_alive(svc));
  EXPECT_EQ(service_pid(keel), svc);
  EXPECT_EQ(status_sigset(svc, "SigBlk"), std::optional<std::uint64_t>(0));
  EXPECT_EQ(status_sigset(svc, "SigIgn"), std::optional<std::uint64_t>(0));
  // A service started after keel ignored SIGPIPE and SIGXFSZ has them back.
  Outcome restart = config.ctl({"restart", "svc"});
  EXPECT_EQ(restart.code, 0) << restart.err;
  pid_t again = -1;
  ASSERT_TRUE(poll_until([&] { return (again = service_pid(keel)) > 0 && again != svc; }, kLineTimeout));
  EXPECT_EQ(status_sigset(again, "SigIgn"), std::optional<std::uint64_t>(0));
  EXPECT_EQ(status_sigset(again, "SigBlk"), std::optional<std::uint64_t>(0));
}

// A fault signal raised by the kernel while it is blocked is delivered as
// a plain death (the kernel resets it to its default): PID 1 dies and the
// kernel panics. So the system role must catch the fault signals (with
// core/fatal's handlers: freeze as PID 1), never block them, in every
// placement. (tests/unit/fatal_test.cpp crashes such a PID 1 for real.)
TEST_P(SignalsTest, SystemRoleCatchesFaultSignalsAndNeverBlocksThem) {
  Config config;
  Launch l = keel_launch(GetParam(), {"--role=system"});
  l.set_env = config.env();
  KeelRun k(l);
  ASSERT_TRUE(seen(k, Stream::Err, [](const std::string& line) { return starts_with(line, "keel: svc: started"); }))
      << k.text(Stream::Err);
  pid_t keel = k.keel_pid();
  auto blocked = status_sigset(keel, "SigBlk");
  auto caught = status_sigset(keel, "SigCgt");
  ASSERT_TRUE(blocked && caught);
  for (int s : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS}) {
    std::uint64_t bit = std::uint64_t{1} << (s - 1);
    EXPECT_EQ(*blocked & bit, 0U) << signal_name(s) << " is blocked";
    EXPECT_NE(*caught & bit, 0U) << signal_name(s) << " has no handler";
  }
}

INSTANTIATE_TEST_SUITE_P(Placements, SignalsTest, ::testing::Values(Placement::Subreaper, Placement::Namespace));

// ------------------------------------------------ a closed stdout/stderr

// `keel --role=system 2>&1 | head -1`: keel's stdout and stderr on one
// pipe, the reader gone after the first line. Every later line keel writes
// fails with EPIPE (and raised SIGPIPE, which ended keel before); keel must
// keep supervising and end only when asked.
TEST(SignalsClosedOutput, SystemRoleOutlivesTheReaderOfItsOutput) {
  Config config;
  // bash for PIPESTATUS: keel's own exit status, on the runner's stderr.
  Launch l = program_launch(Placement::Subreaper, "/bin/bash",
                            {"-c", "\"$0\" --role=system 2>&1 | head -n 1; echo \"keel exit ${PIPESTATUS[0]}\" >&2",
                             keel_binary()});
  l.set_env = config.env();
  KeelRun run(l);
  auto first = run.next_line(Stream::Out);
  ASSERT_TRUE(first);
  EXPECT_TRUE(starts_with(*first, "keel: ")) << *first;
  // head gone (the pipe has no reader), keel and its service up.
  pid_t keel = -1;
  ASSERT_TRUE(poll_until(
      [&] {
        bool head = false;
        for (const ProcEntry& p : descendants(run.runner_pid())) {
          if (p.comm == "keel") keel = p.pid;
          if (p.comm == "head" && p.state != 'Z') head = true;
        }
        return !head && keel > 0 && service_pid(keel) > 0;
      },
      kLineTimeout));
  const pid_t svc = service_pid(keel);

  // More output, every line of it to a pipe with no reader: a restart logs
  // "stopping", "stopped", "started"; a SIGWINCH is logged as ignored.
  Outcome restart = config.ctl({"restart", "svc"});
  EXPECT_EQ(restart.code, 0) << restart.err;
  EXPECT_TRUE(poll_until([&] { return service_pid(keel) > 0 && service_pid(keel) != svc; }, kLineTimeout));
  EXPECT_TRUE(run.signal(SIGWINCH) || ::kill(keel, SIGWINCH) == 0);
  Outcome status = config.ctl({"status"});
  EXPECT_EQ(status.code, 0) << "keelctl status: " << status.err << run.text(Stream::Err);
  EXPECT_TRUE(contains(status.out, "running")) << status.out;
  EXPECT_TRUE(pid_alive(keel)) << run.text(Stream::Err);

  // Asked to stop (not PID 1: stop everything, exit 0), it still gets there.
  ASSERT_EQ(::kill(keel, SIGTERM), 0);
  EXPECT_EQ(run.wait_exit(), 0);
  EXPECT_TRUE(contains(run.text(Stream::Err), "keel exit 0")) << run.text(Stream::Err);
}

// The container init with its stderr on a pipe whose reader has gone: each
// of its own lines fails with EPIPE and the kernel raises SIGPIPE against
// keel. That SIGPIPE is keel's, not the program's: never forwarded.
TEST(SignalsClosedOutput, ContainerInitNeverForwardsTheSigpipeOfItsOwnWrite) {
  // keel's stdout stays the test's (the probe's lines); its stderr goes to
  // head, which exits after the first line.
  Launch l = program_launch(Placement::Subreaper, "/bin/bash",
                            {"-c", "exec 3>&1; \"$0\" -vv \"$1\" signals 2>&1 1>&3 | head -n 1 >&2", keel_binary(),
                             kProbe});
  KeelRun run(l);
  auto rd = wait_ready(run);
  ASSERT_TRUE(rd) << run.text(Stream::Err);
  pid_t keel = -1;
  ASSERT_TRUE(poll_until(
      [&] {
        bool head = false;
        for (const ProcEntry& p : descendants(run.runner_pid())) {
          if (p.comm == "keel") keel = p.pid;
          if (p.comm == "head" && p.state != 'Z') head = true;
        }
        return !head && keel > 0;
      },
      kLineTimeout));
  // keel logs receiving and forwarding it (-vv): two writes to the broken pipe.
  ASSERT_EQ(::kill(keel, SIGUSR1), 0);
  ASSERT_TRUE(saw(run, Stream::Out, got(SIGUSR1, rd->pid))) << run.text(Stream::Err);
  ASSERT_TRUE(probe_barrier(run, rd->pid, rd->pid));
  EXPECT_FALSE(any_line(run, Stream::Out, got(SIGPIPE, rd->pid))) << "keel forwarded the SIGPIPE of its own write";
  EXPECT_TRUE(pid_alive(keel));
  run.close_stdin();
  EXPECT_EQ(run.wait_exit(), 0) << run.text(Stream::Err);
}

}  // namespace
}  // namespace keel::systest
