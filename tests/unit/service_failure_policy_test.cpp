// The failure policy of the service state machine (issue 12): the restart
// limit, success exit statuses, and which system action a service's end
// asks for (final_action). Driven by fake events like service_state_test.
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
  void signal_tree(ServiceMachine&, int signo, bool) noexcept override {
    log.push_back("signal " + std::to_string(signo));
  }
  bool tree_alive(ServiceMachine&) noexcept override { return alive; }
  void arm_timer(ServiceMachine&, std::int64_t ns) noexcept override { armed = ns; }
  void disarm_timer(ServiceMachine&) noexcept override { armed = -1; }
  void state_changed(ServiceMachine& m, State) noexcept override {
    log.push_back(state_name(m.state()));
    if (m.state() == State::Launching) m.exec_ok();
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
  std::int64_t armed = -1;
  std::int64_t now = 0;
};

ServiceConfig config(Type type, Restart restart) {
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

  void start() {
    m.want_up();
    m.deps_settled();
  }
  // The main process ends with `status` after running `run_ms`.
  void end(int status, std::int64_t run_ms = 10) {
    host.now += run_ms * kMs;
    host.alive = false;
    m.main_exited(status);
  }
  // From Backoff: the timer, then the launch.
  void restart_after_backoff() {
    host.now += m.backoff_ns();
    m.timer_fired();
    m.deps_settled();
  }
};

// More than restart_limit starts within the window: failed for good with
// the limit and the last run's reason, not backed off again.
TEST(FailurePolicy, RestartLimitFailsTheServiceForGood) {
  ServiceConfig c = config(Type::Simple, Restart::Always);
  c.restart_limit = 3;
  c.restart_limit_window_ns = 60'000 * kMs;
  Fixture f(c);
  f.start();
  for (int i = 0; i < 2; ++i) {
    f.end(exited(7));
    ASSERT_EQ(f.m.state(), State::Backoff) << i;
    f.restart_after_backoff();
    ASSERT_EQ(f.m.state(), State::Running) << i;
  }
  EXPECT_EQ(f.m.limit_starts(), 3);
  f.host.take();
  f.end(exited(7));
  EXPECT_EQ(f.host.take(), "failed");
  EXPECT_EQ(f.m.state(), State::Failed);
  EXPECT_STREQ(f.m.last_error(), "restart limit reached: 3 starts in 60 s; last: exited with status 7");
  EXPECT_EQ(f.m.restarts(), 2);
  EXPECT_TRUE(f.m.ended_for_good());
  EXPECT_EQ(WEXITSTATUS(f.m.last_exit_status()), 7);
}

// Starts spread wider than the window never reach the limit: the window
// opens anew at the first start after it passed.
TEST(FailurePolicy, RestartLimitCountsOnlyWithinTheWindow) {
  ServiceConfig c = config(Type::Simple, Restart::Always);
  c.restart_limit = 2;
  c.restart_limit_window_ns = 5000 * kMs;
  Fixture f(c);
  f.start();
  for (int i = 0; i < 6; ++i) {
    f.end(killed(SIGSEGV), 3000);  // 3 s runs: never 3 starts within 5 s
    ASSERT_EQ(f.m.state(), State::Backoff) << i;
    f.restart_after_backoff();
    ASSERT_EQ(f.m.state(), State::Running) << i;
  }
  // Now quick crashes: the third start within 5 s is refused.
  f.end(killed(SIGSEGV), 10);
  ASSERT_EQ(f.m.state(), State::Backoff);
  f.restart_after_backoff();
  f.end(killed(SIGSEGV), 10);
  EXPECT_EQ(f.m.state(), State::Failed);
  EXPECT_STREQ(f.m.last_error(), "restart limit reached: 2 starts in 5 s; last: killed by SIGSEGV");
}

// A window that is not whole seconds is said in milliseconds.
TEST(FailurePolicy, AWindowUnderASecondIsSaidInMilliseconds) {
  ServiceConfig c = config(Type::Simple, Restart::Always);
  c.restart_limit = 1;
  c.restart_limit_window_ns = 1500 * kMs;
  Fixture f(c);
  f.start();
  f.end(exited(1));
  EXPECT_EQ(f.m.state(), State::Failed);
  EXPECT_STREQ(f.m.last_error(), "restart limit reached: 1 starts in 1500 ms; last: exited with status 1");
}

// Without a limit (the default) keel restarts for ever, as before.
TEST(FailurePolicy, NoLimitByDefault) {
  Fixture f(config(Type::Simple, Restart::Always));
  f.start();
  for (int i = 0; i < 20; ++i) {
    f.end(exited(1));
    ASSERT_EQ(f.m.state(), State::Backoff) << i;
    f.restart_after_backoff();
  }
  EXPECT_EQ(f.m.restarts(), 20);
}

// A start that fails (the launch itself) counts against the limit too,
// and a start timeout's restart as well.
TEST(FailurePolicy, FailedLaunchesAndStartTimeoutsCount) {
  ServiceConfig c = config(Type::Notify, Restart::OnFailure);
  c.restart_limit = 2;
  Fixture f(c);
  f.host.launch_error = ENOENT;
  f.start();
  ASSERT_EQ(f.m.state(), State::Backoff);
  f.host.launch_error = 0;
  f.restart_after_backoff();
  ASSERT_EQ(f.m.state(), State::Starting);
  f.host.now += 5000 * kMs;
  f.m.timer_fired();  // not ready in time: stopped
  f.host.alive = false;
  f.m.main_exited(killed(SIGTERM));
  EXPECT_EQ(f.m.state(), State::Failed);
  EXPECT_STREQ(f.m.last_error(), "restart limit reached: 2 starts in 60 s; last: not ready within 5 s");
}

// keelctl start / restart of a service failed by the limit starts it
// again with the count reset: it gets restart_limit starts anew.
TEST(FailurePolicy, AUserStartResetsTheCount) {
  for (bool use_restart : {false, true}) {
    ServiceConfig c = config(Type::Simple, Restart::Always);
    c.restart_limit = 1;
    Fixture f(c);
    f.start();
    f.end(exited(1));
    ASSERT_EQ(f.m.state(), State::Failed);
    if (use_restart) {
      f.m.restart();
    } else {
      f.m.want_up();
    }
    f.m.deps_settled();
    ASSERT_EQ(f.m.state(), State::Running) << use_restart;
    EXPECT_EQ(f.m.limit_starts(), 1);
    // And a restart while running resets it as well.
    f.m.restart();
    f.host.alive = false;
    f.m.main_exited(killed(SIGTERM));
    f.m.deps_settled();
    ASSERT_EQ(f.m.state(), State::Running);
    EXPECT_EQ(f.m.limit_starts(), 1);
  }
}

// success_exit_status: 143 and SIGTERM are successes for on-failure (done,
// not restarted); other statuses still fail.
TEST(FailurePolicy, SuccessExitStatusesAreNotRestartedOnFailure) {
  ServiceConfig c = config(Type::Simple, Restart::OnFailure);
  c.success_exit_status.add_code(143);
  c.success_exit_status.add_signal(SIGTERM);
  for (int status : {exited(0), exited(143), killed(SIGTERM)}) {
    Fixture f(c);
    f.start();
    f.host.take();
    f.end(status);
    EXPECT_EQ(f.host.take(), "done") << status;
    EXPECT_STREQ(f.m.last_error(), "") << status;
  }
  for (int status : {exited(1), exited(142), killed(SIGKILL), killed(SIGINT)}) {
    Fixture f(c);
    f.start();
    f.end(status);
    EXPECT_EQ(f.m.state(), State::Backoff) << status;
  }
}

// Without the list, 143 is a failure (the default is exit 0 alone).
TEST(FailurePolicy, ByDefaultOnlyExitZeroIsASuccess) {
  Fixture f(config(Type::Simple, Restart::OnFailure));
  f.start();
  f.end(exited(143));
  EXPECT_EQ(f.m.state(), State::Backoff);
  EXPECT_STREQ(f.m.last_error(), "exited with status 143");
}

// A oneshot that ends with a listed status is done (its dependents start).
TEST(FailurePolicy, OneshotWithASuccessStatusIsDone) {
  ServiceConfig c = config(Type::Oneshot, Restart::Never);
  c.success_exit_status.add_code(3);
  Fixture f(c);
  f.start();
  f.end(exited(3));
  EXPECT_EQ(f.m.state(), State::Done);
  EXPECT_TRUE(f.m.is_ready());
  Fixture g(config(Type::Oneshot, Restart::Never));
  g.start();
  g.end(exited(3));
  EXPECT_EQ(g.m.state(), State::Failed);
}

// Which action a service's end asks of the system.
TEST(FailurePolicy, FinalActionOnFailureAndOnExit) {
  ServiceConfig c = config(Type::Simple, Restart::OnFailure);
  c.on_failure = ExitAction::Exit;
  {
    Fixture f(c);
    f.start();
    EXPECT_EQ(f.m.final_action(), ExitAction::None);  // running
    f.end(exited(0));
    EXPECT_EQ(f.m.state(), State::Done);
    EXPECT_EQ(f.m.final_action(), ExitAction::None);  // a clean end is not a failure
  }
  {
    ServiceConfig n = c;
    n.restart = Restart::Never;
    Fixture f(n);
    f.start();
    f.end(exited(7));
    EXPECT_EQ(f.m.state(), State::Failed);
    EXPECT_EQ(f.m.final_action(), ExitAction::Exit);
  }
  {
    // on_exit covers both ends; on_failure wins on a failure.
    ServiceConfig n = c;
    n.restart = Restart::Never;
    n.on_exit = ExitAction::Reboot;
    Fixture f(n);
    f.start();
    f.end(exited(0));
    EXPECT_EQ(f.m.final_action(), ExitAction::Reboot);
    f.m.want_up();
    f.m.deps_settled();
    f.end(exited(2));
    EXPECT_EQ(f.m.final_action(), ExitAction::Exit);
  }
  {
    // on_exit alone now also acts on a crash loop stopped by the limit.
    ServiceConfig n = config(Type::Simple, Restart::Always);
    n.on_exit = ExitAction::Poweroff;
    n.restart_limit = 1;
    Fixture f(n);
    f.start();
    f.end(exited(1));
    EXPECT_EQ(f.m.state(), State::Failed);
    EXPECT_EQ(f.m.final_action(), ExitAction::Poweroff);
  }
}

// Backing off is not the end: no action while a restart is pending, and
// none for a service stopped on purpose.
TEST(FailurePolicy, NoActionWhileRestartingOrWhenStopped) {
  ServiceConfig c = config(Type::Simple, Restart::Always);
  c.on_failure = ExitAction::Exit;
  c.on_exit = ExitAction::Exit;
  c.restart_limit = 5;
  Fixture f(c);
  f.start();
  f.end(killed(SIGKILL));
  EXPECT_EQ(f.m.state(), State::Backoff);
  EXPECT_EQ(f.m.final_action(), ExitAction::None);
  f.m.want_down();
  EXPECT_EQ(f.m.state(), State::Stopped);
  EXPECT_EQ(f.m.final_action(), ExitAction::None);
}

// A launch failure with restart = never is failed for good at once.
TEST(FailurePolicy, StartFailureGivenUpRunsTheFailureAction) {
  ServiceConfig c = config(Type::Simple, Restart::Never);
  c.on_failure = ExitAction::Halt;
  Fixture f(c);
  f.host.launch_error = EACCES;
  f.start();
  EXPECT_EQ(f.m.state(), State::Failed);
  EXPECT_EQ(f.m.final_action(), ExitAction::Halt);
  EXPECT_EQ(f.m.last_exit_status(), -1);
}

}  // namespace
}  // namespace keel::service
