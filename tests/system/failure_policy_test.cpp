// The failure policy (issue 12, docs/services.md "Failure policy") with
// the real keel binary in the system role, as PID 1 of a fresh PID
// namespace (a container's init) and as a plain subreaper: the restart
// limit, success exit statuses, and essential services ending keel with
// the service's own exit status after the other services stopped in
// order. Services record what happened in files of their own (each start,
// each stop handler), so the tests assert behaviour and order, never
// timings; every wait is bounded by the harness.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "supervised.hpp"

namespace keel::systest {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> file_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// A long-running service whose stop handler appends its name to `file`,
// once. Ready (the s6 fd) only once its handler is set: a SIGTERM that
// came before it would end it without a record. One process, no children
// (a shell's forked children run its trap too). The stop signal may come
// twice (keel's stop of the service, then the system's end), so the
// handler ignores further ones and makes its record under an O_EXCL lock.
std::string recorder(const std::string& name, const std::string& file, const std::string& extra = "") {
  return extra + "type = \"notify-fd\"\nnotify_fd = 3\ncommand = [\"/usr/bin/python3\", \"-c\", \"" +
         "import os, signal; signal.signal(signal.SIGTERM, lambda *a: (signal.signal(signal.SIGTERM, "
         "signal.SIG_IGN), os.open('" + file + "." + name + "', os.O_CREAT | os.O_EXCL | os.O_WRONLY), "
         "os.write(os.open('" + file + "', os.O_WRONLY | os.O_APPEND | os.O_CREAT), b'" + name +
         "\\\\n'), os._exit(0))); os.write(3, b'\\\\n'); os.close(3); [signal.pause() for _ in iter(int, 1)]\"]\n";
}

class FailurePolicyTest : public ::testing::TestWithParam<Placement> {
 protected:
  void SetUp() override {
    if (GetParam() == Placement::Namespace && !namespaces_available()) {
      GTEST_SKIP() << "unshare --pid is not available here";
    }
  }
};

// A crash-looping service is started restart_limit times, then failed for
// good with the reason in `keelctl status`; keelctl start gives it the
// same number of starts again.
TEST_P(FailurePolicyTest, CrashLoopReachesItsRestartLimit) {
  Supervised s;
  const std::string starts = s.path("starts");
  s.service("loop",
            "restart = \"always\"\nrestart_delay = 0\nrestart_limit = 3\nrestart_limit_window = 60\n"
            "command = [\"/bin/sh\", \"-c\", \"echo start >> " +
                starts + "; exit 3\"]\n");
  s.service("bystander", "command = [\"/bin/sleep\", \"600\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(has_event(*k, "loop", "failed: restart limit reached: 3 starts in 60 s", 30s)) << k->text(Stream::Err);
  EXPECT_EQ(file_lines(starts).size(), 3U);
  EXPECT_EQ(count_events(*k, "loop", "restarting"), 2) << k->text(Stream::Err);
  ASSERT_TRUE(control_up(s));
  Ctl st = s.ctl({"status", "loop"});
  EXPECT_NE(st.out.find("failed"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("restart limit reached: 3 starts in 60 s; last: exited with status 3"), std::string::npos)
      << st.out;
  // Failed for good, not ending the system (no failure action): keel and
  // the other service go on.
  EXPECT_FALSE(k->try_wait_exit(100ms).has_value());
  EXPECT_NE(s.ctl({"status", "bystander"}).out.find("running"), std::string::npos);

  // keelctl start: the count starts afresh (3 more starts, then failed again).
  Ctl started = s.ctl({"start", "loop"});
  ASSERT_TRUE(poll_until([&] { return file_lines(starts).size() >= 6; }, 30s, 20ms)) << k->text(Stream::Err);
  ASSERT_TRUE(poll_until([&] { return count_events(*k, "loop", "failed: restart limit reached") == 2; }, 30s, 20ms))
      << k->text(Stream::Err);
  EXPECT_EQ(file_lines(starts).size(), 6U);
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

// success_exit_status = [143, "SIGTERM"]: a JVM-style exit 143, or death by
// SIGTERM, is a success for restart = "on-failure" (done, not restarted);
// the same exit without the list is restarted.
TEST_P(FailurePolicyTest, SuccessExitStatusIsNotRestartedOnFailure) {
  Supervised s;
  for (const char* name : {"jvm", "termed", "plain"}) {
    const std::string cmd = std::string(name) == "termed" ? "kill -TERM $$" : "exit 143";
    s.service(name, std::string("restart = \"on-failure\"\nrestart_delay = 0\n") +
                        (std::string(name) == "plain" ? "" : "success_exit_status = [0, 143, \"SIGTERM\"]\n") +
                        "command = [\"/bin/sh\", \"-c\", \"echo start >> " + s.path(name) + "; " + cmd + "\"]\n");
  }
  auto k = s.start(GetParam());
  ASSERT_TRUE(has_event(*k, "jvm", "done")) << k->text(Stream::Err);
  ASSERT_TRUE(has_event(*k, "termed", "done")) << k->text(Stream::Err);
  // The one without the list is restarted: a second start.
  ASSERT_TRUE(poll_until([&] { return file_lines(s.path("plain")).size() >= 2; }, 20s, 20ms)) << k->text(Stream::Err);
  EXPECT_EQ(count_events(*k, "jvm", "restarting"), 0) << k->text(Stream::Err);
  EXPECT_EQ(count_events(*k, "termed", "restarting"), 0) << k->text(Stream::Err);
  EXPECT_EQ(file_lines(s.path("jvm")).size(), 1U);
  EXPECT_EQ(file_lines(s.path("termed")).size(), 1U);
  ASSERT_TRUE(control_up(s));
  EXPECT_NE(s.ctl({"status", "jvm"}).out.find("done"), std::string::npos);
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

// An essential service that crash-loops: at its restart limit keel stops
// the other services in order (dependents first) and exits with the
// service's own status.
TEST_P(FailurePolicyTest, EssentialCrashLoopEndsKeelWithItsStatus) {
  Supervised s;
  const std::string order = s.path("order");
  s.service("base", recorder("base", order));
  s.service("middle", recorder("middle", order, "requires = [\"base\"]\n"));
  s.service("app",
            "requires = [\"middle\"]\nessential = true\nrestart = \"always\"\nrestart_delay = 0\n"
            "restart_limit = 2\ncommand = [\"/bin/sh\", \"-c\", \"echo start >> " +
                s.path("starts") + "; exit 7\"]\n");
  auto k = s.start(GetParam());
  auto code = k->wait_exit(60s);
  ASSERT_TRUE(code) << k->text(Stream::Err);
  EXPECT_EQ(*code, 7) << k->text(Stream::Err);
  EXPECT_EQ(file_lines(s.path("starts")).size(), 2U);
  EXPECT_EQ(file_lines(order), (std::vector<std::string>{"middle", "base"})) << k->text(Stream::Err);
  EXPECT_GE(count_events(*k, "app", "failed: restart limit reached: 2 starts in 60 s"), 1) << k->text(Stream::Err);
}

// Killed by a signal: 128 + N, as a shell and a container runtime say it.
TEST_P(FailurePolicyTest, EssentialKilledBySigkillEndsKeelWith137) {
  Supervised s;
  const std::string order = s.path("order");
  s.service("other", recorder("other", order));
  s.service("app",
            "after = [\"other\"]\nessential = true\nrestart = \"never\"\n"
            "command = [\"/bin/sh\", \"-c\", \"kill -KILL $$\"]\n");
  auto k = s.start(GetParam());
  auto code = k->wait_exit(30s);
  ASSERT_TRUE(code) << k->text(Stream::Err);
  EXPECT_EQ(*code, 137) << k->text(Stream::Err);
  EXPECT_EQ(file_lines(order), (std::vector<std::string>{"other"}));
  EXPECT_GE(count_events(*k, "app", "failed: killed by SIGKILL"), 1) << k->text(Stream::Err);
}

// essential = true: a clean exit is not a failure, keel goes on.
// essential = "always": the clean exit ends keel too, with status 0 (or
// the listed success status the service ended with).
TEST_P(FailurePolicyTest, EssentialCleanExitEndsKeelOnlyWhenAlways) {
  {
    Supervised s;
    s.service("app", "essential = true\ncommand = [\"/bin/true\"]\n");
    s.service("other", "command = [\"/bin/sleep\", \"600\"]\n");
    auto k = s.start(GetParam());
    ASSERT_TRUE(has_event(*k, "app", "done")) << k->text(Stream::Err);
    ASSERT_TRUE(control_up(s));
    EXPECT_FALSE(k->try_wait_exit(200ms).has_value()) << k->text(Stream::Err);
    // keelctl status says what its end would do (essential = true: a
    // failure for good ends the system with "exit").
    EXPECT_EQ(detail(s, "app", "essential"), "true");
    EXPECT_EQ(detail(s, "app", "on failure"), "exit");
    EXPECT_EQ(s.ctl({"status", "other"}).out.find("essential:"), std::string::npos);
    k->signal(SIGTERM);
    EXPECT_TRUE(k->wait_exit());
  }
  {
    Supervised s;
    const std::string order = s.path("order");
    s.service("app",
              "essential = \"always\"\nsuccess_exit_status = [3]\nafter = [\"other\"]\n"
              "command = [\"/bin/sh\", \"-c\", \"exit 3\"]\n");
    s.service("other", recorder("other", order));
    auto k = s.start(GetParam());
    auto code = k->wait_exit(30s);
    ASSERT_TRUE(code) << k->text(Stream::Err);
    EXPECT_EQ(*code, 3) << k->text(Stream::Err);
    EXPECT_TRUE(has_event(*k, "app", "done", 1s)) << k->text(Stream::Err);
    EXPECT_EQ(file_lines(order), (std::vector<std::string>{"other"}));
  }
}

// on_failure = "exit" without essential: a failing service's on_failure
// wins over its on_exit. (As a container's init on_exit's reboot would end
// keel by SIGHUP, 129; a plain supervisor exits with the status either way.)
TEST_P(FailurePolicyTest, OnFailureWinsOverOnExit) {
  Supervised s;
  s.service("app",
            "restart = \"never\"\non_exit = \"reboot\"\non_failure = \"exit\"\n"
            "command = [\"/bin/sh\", \"-c\", \"exit 9\"]\n");
  auto k = s.start(GetParam());
  auto code = k->wait_exit(30s);
  ASSERT_TRUE(code) << k->text(Stream::Err);
  EXPECT_EQ(*code, 9) << k->text(Stream::Err);
}

INSTANTIATE_TEST_SUITE_P(Placements, FailurePolicyTest, ::testing::Values(Placement::Subreaper, Placement::Namespace),
                         [](const ::testing::TestParamInfo<Placement>& p) {
                           return std::string(placement_name(p.param));
                         });

}  // namespace
}  // namespace keel::systest
