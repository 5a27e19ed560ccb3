// The service state machine driven by fake events: no fork, no signals,
// no clock. The fake host records what the machine asked for, so each test
// asserts the exact order of actions and states.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>
#include <string>
#include <vector>

#include "service/state_machine.hpp"

namespace keel::service {
namespace {

constexpr std::int64_t kMs = 1'000'000;

int exited(int code) { return (code & 0xff) << 8; }
int killed(int sig) { return sig & 0x7f; }

class FakeHost final : public Host {
 public:
  Result<pid_t> launch(ServiceMachine&) noexcept override {
    log.push_back("launch");
    if (launch_error != 0) return Error{launch_error, "execve"};
    alive = true;
    return next_pid++;
  }
  void signal_tree(ServiceMachine&, int signo, bool and_continue) noexcept override {
    log.push_back("signal " + std::to_string(signo));
    if (and_continue) log.push_back("signal " + std::to_string(SIGCONT));
  }
  bool tree_alive(ServiceMachine&) noexcept override { return alive; }
  void arm_timer(ServiceMachine&, std::int64_t ns) noexcept override {
    log.push_back("arm " + std::to_string(ns / kMs));
    armed = ns;
  }
  void disarm_timer(ServiceMachine&) noexcept override { armed = -1; }
  void state_changed(ServiceMachine& m, State) noexcept override {
    log.push_back(state_name(m.state()));
    // Most tests are about what comes after the exec: the fake child execs
    // at once (as the supervisor's report pipe says EOF). The tests of the
    // launch itself turn this off and send the report themselves.
    if (m.state() == State::Launching && exec_at_once) m.exec_ok();
  }
  std::int64_t now_ns() noexcept override { return now; }
  std::uint64_t random() noexcept override { return 0; }

  std::string take() {
    std::string out;
    for (const std::string& s : log) out += (out.empty() ? "" : ", ") + s;
    log.clear();
    return out;
  }

  std::vector<std::string> log;
  pid_t next_pid = 100;
  int launch_error = 0;
  bool alive = false;
  bool exec_at_once = true;
  std::int64_t armed = -1;
  std::int64_t now = 0;
};

ServiceConfig config(Type type, Restart restart = Restart::OnFailure) {
  ServiceConfig c;
  c.name = "svc";
  c.type = type;
  c.restart = restart;
  c.command = {"/bin/x"};
  c.restart_delay_ns = 100 * kMs;
  c.restart_delay_max_ns = 1000 * kMs;
  c.restart_reset_ns = 10'000 * kMs;
  c.start_timeout_ns = 5000 * kMs;
  c.stop_timeout_ns = 2000 * kMs;
  return c;
}

struct Fixture {
  explicit Fixture(ServiceConfig c) : cfg(std::move(c)), m(host, cfg, 0) {}
  ServiceConfig cfg;
  FakeHost host;
  ServiceMachine m;
};

TEST(ServiceState, SimpleServiceIsReadyOnceLaunched) {
  Fixture f(config(Type::Simple));
  f.m.want_up();
  EXPECT_EQ(f.host.take(), "waiting");
  f.m.deps_settled();
  EXPECT_EQ(f.host.take(), "launch, arm 5000, launching, running");
  EXPECT_EQ(f.m.pid(), 100);
  EXPECT_TRUE(f.m.is_ready());
}

TEST(ServiceState, NotifyServiceWaitsForReadyWithinItsTimeout) {
  Fixture f(config(Type::Notify));
  f.m.want_up();
  f.m.deps_settled();
  EXPECT_EQ(f.host.take(), "waiting, launch, arm 5000, launching, starting");
  EXPECT_FALSE(f.m.is_ready());
  f.m.ready();
  EXPECT_EQ(f.host.take(), "running");
  EXPECT_EQ(f.host.armed, -1);
}

TEST(ServiceState, StartTimeoutStopsTheTreeAndBacksOff) {
  Fixture f(config(Type::NotifyFd));
  f.m.want_up();
  f.m.deps_settled();
  f.host.take();
  f.host.now += 5000 * kMs;
  f.m.timer_fired();
  EXPECT_EQ(f.host.take(), "signal 15, signal 18, arm 2000, stopping");
  EXPECT_STREQ(f.m.last_error(), "not ready within 5 s");
  f.host.alive = false;
  f.m.main_exited(killed(SIGTERM));
  EXPECT_EQ(f.host.take(), "arm 100, backoff");
  f.m.timer_fired();
  EXPECT_EQ(f.host.take(), "waiting");
}

TEST(ServiceState, AWatchdogTimeoutSendsSIGABRTThenStopsAndRestartsAsAFailure) {
  Fixture f(config(Type::Notify));
  f.m.want_up();
  f.m.deps_settled();
  f.m.ready();
  f.host.take();
  f.m.watchdog_timeout("no WATCHDOG=1 in time");
  EXPECT_EQ(f.host.take(), "signal 6, signal 18, arm 2000, stopping");
  EXPECT_STREQ(f.m.last_error(), "watchdog timeout: no WATCHDOG=1 in time");
  // Ignored: SIGKILL after the stop timeout, as for any stop.
  f.m.timer_fired();
  EXPECT_EQ(f.host.take(), "signal 9, arm 1000");
  f.host.alive = false;
  f.m.main_exited(killed(SIGKILL));
  EXPECT_EQ(f.host.take(), "arm 1000, backoff");
  EXPECT_EQ(f.m.failures(), 1);
  // restart = "never": failed for good; not starting or running: nothing.
  Fixture g(config(Type::Notify, Restart::Never));
  g.m.watchdog_timeout("WATCHDOG=trigger");
  EXPECT_EQ(g.host.take(), "");
  g.m.want_up();
  g.m.deps_settled();
  g.host.take();
  g.host.alive = true;
  g.m.watchdog_timeout("WATCHDOG=trigger");
  g.host.alive = false;
  g.m.main_exited(killed(SIGABRT));
  EXPECT_EQ(g.host.take(), "signal 6, signal 18, arm 2000, stopping, failed");
}

TEST(ServiceState, OneshotIsDoneOnlyAfterASuccessfulExit) {
  Fixture f(config(Type::Oneshot));
  f.m.want_up();
  f.m.deps_settled();
  EXPECT_EQ(f.host.take(), "waiting, launch, arm 5000, launching, starting");
  EXPECT_FALSE(f.m.is_ready());
  f.m.ready();  // READY=1 means nothing to a oneshot
  EXPECT_EQ(f.host.take(), "");
  f.host.alive = false;
  f.m.main_exited(exited(0));
  EXPECT_EQ(f.host.take(), "done");
  EXPECT_TRUE(f.m.is_ready());
  EXPECT_TRUE(f.m.ended_for_good());
}

TEST(ServiceState, FailingOneshotWithRestartNeverFails) {
  Fixture f(config(Type::Oneshot, Restart::Never));
  f.m.want_up();
  f.m.deps_settled();
  f.host.take();
  f.host.alive = false;
  f.m.main_exited(exited(3));
  EXPECT_EQ(f.host.take(), "failed");
  EXPECT_STREQ(f.m.last_error(), "exited with status 3");
}

TEST(ServiceState, CrashLoopBacksOffExponentiallyAndCountsRestarts) {
  Fixture f(config(Type::Simple, Restart::Always));
  f.m.want_up();
  f.m.deps_settled();
  f.host.take();
  std::vector<std::int64_t> delays;
  for (int i = 0; i < 6; ++i) {
    // Runs of 1.5 s: the start-rate floor (1 s between starts, 5 starts
    // in 10 s) is met by the back-off alone, so it shows unchanged.
    f.host.now += 1500 * kMs;
    f.host.alive = false;
    f.m.main_exited(killed(SIGSEGV));
    ASSERT_EQ(f.m.state(), State::Backoff);
    delays.push_back(f.m.backoff_ns() / kMs);
    f.host.now += f.m.backoff_ns();
    f.m.timer_fired();
    f.m.deps_settled();
    ASSERT_EQ(f.m.state(), State::Running);
  }
  EXPECT_EQ(delays, (std::vector<std::int64_t>{100, 200, 400, 800, 1000, 1000}));
  EXPECT_EQ(f.m.restarts(), 6);
  EXPECT_STREQ(f.m.last_error(), "killed by SIGSEGV");
  // A run longer than restart_reset starts the count again.
  f.host.now += 20'000 * kMs;
  f.host.alive = false;
  f.m.main_exited(exited(1));
  EXPECT_EQ(f.m.backoff_ns() / kMs, 100);
  EXPECT_EQ(f.m.failures(), 1);
}

// restart_delay = 0 means "at once", but never more than one automatic
// start a second, and at most 5 within 10 s (limits.hpp): a crash-looping
// service used to be restarted as fast as it could fork.
TEST(ServiceState, ZeroDelayCrashLoopIsHeldToTheStartRateLimit) {
  ServiceConfig c = config(Type::Simple, Restart::Always);
  c.restart_delay_ns = 0;
  c.restart_delay_max_ns = 0;
  Fixture f(c);
  f.m.want_up();
  f.m.deps_settled();
  std::vector<std::int64_t> delays;
  std::vector<std::int64_t> starts{0};
  for (int i = 0; i < 10; ++i) {
    f.host.now += 10 * kMs;  // every run crashes after 10 ms
    f.host.alive = false;
    f.m.main_exited(exited(1));
    ASSERT_EQ(f.m.state(), State::Backoff);
    delays.push_back(f.m.backoff_ns() / kMs);
    f.host.now += f.m.backoff_ns();
    f.m.timer_fired();
    f.m.deps_settled();
    ASSERT_EQ(f.m.state(), State::Running);
    starts.push_back(f.host.now / kMs);
  }
  EXPECT_EQ(delays, (std::vector<std::int64_t>{990, 990, 990, 990, 5990, 990, 990, 990, 990, 5990}));
  EXPECT_EQ(starts, (std::vector<std::int64_t>{0, 1000, 2000, 3000, 4000, 10000, 11000, 12000, 13000, 14000, 20000}));
  // Never more than 5 starts within any 10 s.
  for (std::size_t i = 5; i < starts.size(); ++i) EXPECT_GE(starts[i] - starts[i - 5], 10'000) << i;
  EXPECT_EQ(f.m.restarts(), 10);
}

// A service that ran longer than the floor is restarted after its own
// restart_delay, 0 included: the floor is between starts, not after exits.
TEST(ServiceState, ZeroDelayRestartsAtOnceAfterALongRun) {
  ServiceConfig c = config(Type::Simple, Restart::Always);
  c.restart_delay_ns = 0;
  c.restart_delay_max_ns = 0;
  Fixture f(c);
  f.m.want_up();
  f.m.deps_settled();
  f.host.take();
  f.host.now += 60'000 * kMs;
  f.host.alive = false;
  f.m.main_exited(exited(1));
  EXPECT_EQ(f.host.take(), "arm 0, backoff");
}

// An operator's restart is not held back by the rate limit.
TEST(ServiceState, ARestartRequestIsNotRateLimited) {
  ServiceConfig c = config(Type::Simple, Restart::Always);
  c.restart_delay_ns = 0;
  c.restart_delay_max_ns = 0;
  Fixture f(c);
  f.m.want_up();
  f.m.deps_settled();
  f.host.now += 10 * kMs;
  f.host.alive = false;
  f.m.main_exited(exited(1));
  ASSERT_EQ(f.m.state(), State::Backoff);
  f.host.take();
  f.m.restart();
  EXPECT_EQ(f.host.take(), "waiting");
  f.m.deps_settled();
  EXPECT_EQ(f.host.take(), "launch, arm 5000, launching, running");
}

TEST(ServiceState, OnFailureDoesNotRestartACleanExit) {
  Fixture f(config(Type::Simple, Restart::OnFailure));
  f.m.want_up();
  f.m.deps_settled();
  f.host.take();
  f.host.alive = false;
  f.m.main_exited(exited(0));
  EXPECT_EQ(f.host.take(), "done");
}

TEST(ServiceState, LeftoversOfAnExitedMainAreStoppedBeforeTheRestart) {
  Fixture f(config(Type::Simple, Restart::Always));
  f.m.want_up();
  f.m.deps_settled();
  f.host.take();
  f.host.now += 5000 * kMs;    // past the start-rate floor
  f.m.main_exited(exited(1));  // a daemon child is still alive
  EXPECT_EQ(f.host.take(), "signal 15, signal 18, arm 2000, stopping");
  f.m.tree_check();
  EXPECT_EQ(f.host.take(), "");  // still alive: nothing
  f.host.alive = false;
  f.m.tree_check();
  EXPECT_EQ(f.host.take(), "arm 100, backoff");
}

TEST(ServiceState, StopEscalatesToSigkillAfterTheTimeoutAndEndsWhenTheTreeIsGone) {
  ServiceConfig c = config(Type::Simple);
  c.stop_signal = SIGINT;
  Fixture f(c);
  f.m.want_up();
  f.m.deps_settled();
  f.host.take();
  f.m.want_down();
  EXPECT_EQ(f.host.take(), "signal 2, signal 18, arm 2000, stopping");
  f.m.timer_fired();
  EXPECT_EQ(f.host.take(), "signal 9, arm 1000");
  EXPECT_STREQ(f.m.last_error(), "did not stop within 2000 ms: killed");
  f.m.main_exited(killed(SIGKILL));  // the main is gone, a child is not yet
  EXPECT_EQ(f.host.take(), "");
  f.host.alive = false;
  f.m.tree_check();
  EXPECT_EQ(f.host.take(), "stopped");
  EXPECT_FALSE(f.m.goal_up());
}

// A service on the console (a shell, a getty: stdin the console, its
// controlling terminal) is hung up first, then gets its stop signal; a
// service whose stop signal is SIGHUP gets it once. A stop with another
// first signal (a watchdog's SIGABRT) is not preceded by a hang-up.
TEST(ServiceState, ConsoleServiceIsHungUpBeforeItsStopSignal) {
  ServiceConfig c = config(Type::Simple);
  c.stdin_ = Stream{StreamKind::Console, {}};
  Fixture f(c);
  f.m.want_up();
  f.m.deps_settled();
  f.host.take();
  f.m.want_down();
  EXPECT_EQ(f.host.take(), "signal 1, signal 15, signal 18, arm 2000, stopping");

  ServiceConfig hup = config(Type::Simple);
  hup.stdin_ = Stream{StreamKind::Console, {}};
  hup.stop_signal = SIGHUP;
  Fixture g(hup);
  g.m.want_up();
  g.m.deps_settled();
  g.host.take();
  g.m.want_down();
  EXPECT_EQ(g.host.take(), "signal 1, signal 18, arm 2000, stopping");

  Fixture plain(config(Type::Simple));  // stdin not the console: no hang-up
  plain.m.want_up();
  plain.m.deps_settled();
  plain.host.take();
  plain.m.want_down();
  EXPECT_EQ(plain.host.take(), "signal 15, signal 18, arm 2000, stopping");
}

TEST(ServiceState, StopEndsAtOnceWhenTheServiceObeys) {
  Fixture f(config(Type::Simple));
  f.m.want_up();
  f.m.deps_settled();
  f.m.want_down();
  f.host.take();
  f.host.alive = false;
  f.m.main_exited(killed(SIGTERM));
  EXPECT_EQ(f.host.take(), "stopped");
  EXPECT_EQ(f.host.armed, -1);
}

TEST(ServiceState, RestartRequestStartsAgainWithoutBackoff) {
  Fixture f(config(Type::Simple));
  f.m.want_up();
  f.m.deps_settled();
  f.host.take();
  f.m.restart();
  EXPECT_EQ(f.host.take(), "signal 15, signal 18, arm 2000, stopping");
  f.host.alive = false;
  f.m.main_exited(killed(SIGTERM));
  EXPECT_EQ(f.host.take(), "waiting");
  f.m.deps_settled();
  EXPECT_EQ(f.host.take(), "launch, arm 5000, launching, running");
  EXPECT_EQ(f.m.pid(), 101);
}

TEST(ServiceState, StartDuringStopStartsAgainAfterIt) {
  Fixture f(config(Type::Simple));
  f.m.want_up();
  f.m.deps_settled();
  f.m.want_down();
  f.m.want_up();
  f.host.take();
  f.host.alive = false;
  f.m.main_exited(killed(SIGTERM));
  EXPECT_EQ(f.host.take(), "waiting");
}

TEST(ServiceState, StopDuringBackoffCancelsTheRestart) {
  Fixture f(config(Type::Simple, Restart::Always));
  f.m.want_up();
  f.m.deps_settled();
  f.host.alive = false;
  f.m.main_exited(exited(1));
  f.host.take();
  f.m.want_down();
  EXPECT_EQ(f.host.take(), "stopped");
  EXPECT_EQ(f.host.armed, -1);
}

TEST(ServiceState, ExecFailureIsAFailureWithItsReason) {
  Fixture f(config(Type::Simple, Restart::Never));
  f.host.launch_error = ENOENT;
  f.m.want_up();
  f.m.deps_settled();
  EXPECT_EQ(f.host.take(), "waiting, launch, failed");
  EXPECT_STREQ(f.m.last_error(), "cannot start: execve failed: No such file or directory");
}

// ---- launching: the exec report is an event (issue 10, §1)

TEST(ServiceState, LaunchingUntilTheExecIsReported) {
  Fixture f(config(Type::Notify));
  f.host.exec_at_once = false;
  f.m.want_up();
  f.m.deps_settled();
  EXPECT_EQ(f.host.take(), "waiting, launch, arm 5000, launching");
  EXPECT_EQ(f.m.pid(), 100);
  EXPECT_FALSE(f.m.settled());
  f.m.ready();  // before the exec nothing of the service's own runs: ignored
  EXPECT_EQ(f.host.take(), "");
  f.m.exec_ok();
  EXPECT_EQ(f.host.take(), "starting");
  EXPECT_EQ(f.host.armed, 5000 * kMs);  // the same start timeout goes on
  f.m.ready();
  EXPECT_EQ(f.host.take(), "running");
}

TEST(ServiceState, SimpleServiceIsRunningOnlyOnceExeced) {
  Fixture f(config(Type::Simple));
  f.host.exec_at_once = false;
  f.m.want_up();
  f.m.deps_settled();
  EXPECT_EQ(f.host.take(), "waiting, launch, arm 5000, launching");
  EXPECT_FALSE(f.m.is_ready());
  f.m.exec_ok();
  EXPECT_EQ(f.host.take(), "running");
  EXPECT_EQ(f.host.armed, -1);
}

TEST(ServiceState, ExecFailureReportedBeforeTheExit) {
  Fixture f(config(Type::Simple, Restart::Never));
  f.host.exec_at_once = false;
  f.m.want_up();
  f.m.deps_settled();
  f.host.take();
  f.m.exec_failed(Error{ENOENT, "execve"});
  EXPECT_EQ(f.host.take(), "");  // launching until the child is reaped
  EXPECT_EQ(f.m.state(), State::Launching);
  f.host.alive = false;
  f.m.main_exited(exited(127));
  EXPECT_EQ(f.host.take(), "failed");
  EXPECT_STREQ(f.m.last_error(), "cannot start: execve failed: No such file or directory");
  EXPECT_EQ(f.m.last_exit_status(), -1);
}

TEST(ServiceState, ExecFailureReportedAfterTheExitStillGivesItsReason) {
  Fixture f(config(Type::Simple, Restart::Never));
  f.host.exec_at_once = false;
  f.m.want_up();
  f.m.deps_settled();
  f.host.take();
  f.host.alive = false;
  f.m.main_exited(exited(126));
  EXPECT_EQ(f.host.take(), "");  // waits for the report, which says more
  EXPECT_EQ(f.m.state(), State::Launching);
  f.m.exec_failed(Error{EACCES, "chdir"});
  EXPECT_EQ(f.host.take(), "failed");
  EXPECT_STREQ(f.m.last_error(), "cannot start: chdir failed: Permission denied");
  EXPECT_EQ(f.m.last_exit_status(), -1);
}

TEST(ServiceState, ExecFailureRestartsLikeAnyFailure) {
  Fixture f(config(Type::Simple, Restart::Always));
  f.host.exec_at_once = false;
  f.m.want_up();
  f.m.deps_settled();
  f.host.take();
  f.m.exec_failed(Error{ENOENT, "execve"});
  f.host.alive = false;
  f.m.main_exited(exited(127));
  EXPECT_EQ(f.host.take(), "arm 1000, backoff");
}

TEST(ServiceState, ProgramThatExitsBeforeItsReportIsReadRanAndExited) {
  Fixture f(config(Type::Oneshot, Restart::Never));
  f.host.exec_at_once = false;
  f.m.want_up();
  f.m.deps_settled();
  f.host.take();
  f.host.alive = false;
  f.m.main_exited(exited(0));
  EXPECT_EQ(f.host.take(), "");
  f.m.exec_ok();  // EOF: it had exec'd; its exit now counts
  EXPECT_EQ(f.host.take(), "starting, done");
  EXPECT_EQ(f.m.last_exit_status(), exited(0));
}

TEST(ServiceState, LaunchThatNeverExecsIsKilledAtTheStartTimeout) {
  Fixture f(config(Type::Simple, Restart::Always));
  f.host.exec_at_once = false;
  f.m.want_up();
  f.m.deps_settled();
  EXPECT_EQ(f.host.take(), "waiting, launch, arm 5000, launching");
  f.host.now += 5000 * kMs;
  f.m.timer_fired();
  EXPECT_EQ(f.host.take(), "signal 15, signal 18, arm 2000, stopping");
  EXPECT_STREQ(f.m.last_error(), "did not exec within 5 s: stopped (SIGSTOP) or hung in chdir/exec");
  f.m.exec_ok();  // a late report changes nothing
  EXPECT_EQ(f.host.take(), "");
  f.m.timer_fired();  // still there: SIGKILL
  EXPECT_EQ(f.host.take(), "signal 9, arm 1000");
  f.host.alive = false;
  f.m.main_exited(killed(SIGKILL));
  EXPECT_EQ(f.host.take(), "arm 100, backoff");
  EXPECT_STREQ(f.m.last_error(), "did not exec within 5 s: stopped (SIGSTOP) or hung in chdir/exec");
}

TEST(ServiceState, LaunchIsBoundedEvenWithoutAStartTimeout) {
  ServiceConfig c = config(Type::Notify);
  c.start_timeout_ns = 0;
  Fixture f(c);
  f.host.exec_at_once = false;
  f.m.want_up();
  f.m.deps_settled();
  EXPECT_EQ(f.host.armed, limits::kLaunchTimeoutNs);
  f.m.exec_ok();
  EXPECT_EQ(f.host.armed, -1);  // once exec'd, it may take forever to be ready
  EXPECT_EQ(f.m.state(), State::Starting);
}

TEST(ServiceState, StopRequestDuringLaunchStopsTheChild) {
  Fixture f(config(Type::Simple));
  f.host.exec_at_once = false;
  f.m.want_up();
  f.m.deps_settled();
  f.host.take();
  f.m.want_down();
  EXPECT_EQ(f.host.take(), "signal 15, signal 18, arm 2000, stopping");
  f.m.exec_ok();  // too late: ignored
  EXPECT_EQ(f.host.take(), "");
  f.host.alive = false;
  f.m.main_exited(killed(SIGTERM));
  EXPECT_EQ(f.host.take(), "stopped");
}

TEST(ServiceState, RestartRequestDuringLaunchStartsAgain) {
  Fixture f(config(Type::Simple));
  f.host.exec_at_once = false;
  f.m.want_up();
  f.m.deps_settled();
  f.host.take();
  f.m.restart();
  EXPECT_EQ(f.host.take(), "signal 15, signal 18, arm 2000, stopping");
  f.host.alive = false;
  f.m.main_exited(killed(SIGTERM));
  EXPECT_EQ(f.host.take(), "waiting");
}

TEST(ServiceState, DependencyFailureFailsAWaitingService) {
  Fixture f(config(Type::Simple));
  f.m.want_up();
  f.m.dep_failed("db");
  EXPECT_EQ(f.host.take(), "waiting, failed");
  EXPECT_STREQ(f.m.last_error(), "dependency db failed");
  f.m.want_up();  // a later start tries again
  EXPECT_EQ(f.host.take(), "waiting");
}

TEST(ServiceState, TargetIsReadyWithoutAProcess) {
  ServiceConfig c = config(Type::Target);
  c.command.clear();
  Fixture f(c);
  f.m.want_up();
  f.m.deps_settled();
  EXPECT_EQ(f.host.take(), "waiting, running");
  f.m.want_down();
  EXPECT_EQ(f.host.take(), "stopped");
}

TEST(ServiceState, MainPidFromNotifyReplacesTheLaunchedOne) {
  Fixture f(config(Type::Notify));
  f.m.want_up();
  f.m.deps_settled();
  f.m.set_main_pid(4242);
  EXPECT_EQ(f.m.pid(), 4242);
  f.m.ready();
  f.host.alive = false;
  f.m.main_exited(exited(0));
  EXPECT_EQ(f.m.state(), State::Done);
}

TEST(ServiceState, ExitBeforeReadyIsAFailure) {
  Fixture f(config(Type::Notify, Restart::Never));
  f.m.want_up();
  f.m.deps_settled();
  f.host.alive = false;
  f.m.main_exited(exited(0));
  EXPECT_EQ(f.m.state(), State::Failed);
  EXPECT_STREQ(f.m.last_error(), "exited before it was ready");
}

TEST(ServiceState, BrokenServiceIsFailedAndNeverLaunched) {
  Fixture f(config(Type::Simple));
  f.m.mark_broken("on a dependency cycle");
  EXPECT_EQ(f.host.take(), "failed");
  EXPECT_STREQ(f.m.last_error(), "on a dependency cycle");
}

}  // namespace
}  // namespace keel::service
