// service_config_test.cpp — the service-file parser (service/config.cpp).
//
// Every key in each of its accepted forms, every kind of error with the line
// it is reported at, the full example of docs/services.md (read from the
// source tree, so the documentation cannot drift from the parser), users and
// groups against passwd/group files written here, and load_service_dir on a
// folder mixing good, bad and ignored files.
#include "service/config.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <string>

#include "service/toml_reader.hpp"
#include "test_util.hpp"

namespace keel::service {
namespace {

using keel::testutil::TempDir;
using keel::testutil::write_file;

constexpr std::int64_t kSec = 1'000'000'000;

class ServiceConfig_ : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(dir_.path() / "passwd",
               "root:x:0:0:root:/root:/bin/sh\n"
               "web:x:1000:1000::/srv/web:/bin/sh\n"
               "db:x:1001:1001::/:/bin/false\n");
    write_file(dir_.path() / "group",
               "root:x:0:\n"
               "web:x:1000:\n"
               "db:x:1001:\n"
               "audio:x:29:web\n"
               "video:x:44:web,db\n"
               "wheel:x:10:db\n");
    users_.passwd = (dir_.path() / "passwd").string();
    users_.group = (dir_.path() / "group").string();
  }

  ParseResult parse(const std::string& text) { return parse_service(text, "svc", "svc.toml", users_); }

  // The config of a file that must parse; prints the errors otherwise.
  ServiceConfig ok(const std::string& text) {
    ParseResult r = parse(text);
    std::string all;
    for (const auto& e : r.errors) all += e.text() + "\n";
    EXPECT_TRUE(r.config.has_value()) << all;
    EXPECT_TRUE(r.errors.empty()) << all;
    return r.config.value_or(ServiceConfig{});
  }

  // The single error of a file that must fail.
  ConfigError one_error(const std::string& text) {
    ParseResult r = parse(text);
    EXPECT_FALSE(r.config.has_value());
    std::string all;
    for (const auto& e : r.errors) all += e.text() + "\n";
    EXPECT_EQ(r.errors.size(), 1u) << all;
    return r.errors.empty() ? ConfigError{} : r.errors.front();
  }

  TempDir dir_;
  UserDbPaths users_;
};

using ServiceConfigKeys = ServiceConfig_;
using ServiceConfigErrors = ServiceConfig_;
using ServiceConfigUsers = ServiceConfig_;
using ServiceConfigDir = ServiceConfig_;

const std::string kCmd = "command = [\"/bin/true\"]\n";

TEST_F(ServiceConfigKeys, MinimalFileHasTheHeaderDefaults) {
  ServiceConfig c = ok(kCmd);
  ServiceConfig d;
  EXPECT_EQ(c.name, "svc");
  EXPECT_EQ(c.file, "svc.toml");
  EXPECT_EQ(c.command, std::vector<std::string>{"/bin/true"});
  EXPECT_EQ(c.type, Type::Simple);
  EXPECT_EQ(c.restart, d.restart);
  EXPECT_EQ(c.restart_delay_ns, d.restart_delay_ns);
  EXPECT_EQ(c.restart_delay_max_ns, d.restart_delay_max_ns);
  EXPECT_EQ(c.restart_reset_ns, d.restart_reset_ns);
  EXPECT_EQ(c.start_timeout_ns, d.start_timeout_ns);
  EXPECT_EQ(c.stop_timeout_ns, d.stop_timeout_ns);
  EXPECT_EQ(c.stop_signal, 15);
  EXPECT_FALSE(c.has_user);
  EXPECT_FALSE(c.capabilities.has_value());
  EXPECT_FALSE(c.umask.has_value());
  EXPECT_EQ(c.stdin_.kind, StreamKind::Null);
  EXPECT_EQ(c.stdout_.kind, StreamKind::Log);
  EXPECT_EQ(c.stderr_.kind, StreamKind::Log);
  EXPECT_EQ(c.log.ring_bytes, 65536u);
  EXPECT_EQ(c.on_exit, ExitAction::None);
}

TEST_F(ServiceConfigKeys, DescriptionAndTypes) {
  EXPECT_EQ(ok("description = \"hello\"\n" + kCmd).description, "hello");
  EXPECT_EQ(ok("type = \"simple\"\n" + kCmd).type, Type::Simple);
  EXPECT_EQ(ok("type = \"oneshot\"\n" + kCmd).type, Type::Oneshot);
  EXPECT_EQ(ok("type = \"notify\"\n" + kCmd).type, Type::Notify);
  ServiceConfig fd = ok("type = \"notify-fd\"\nnotify_fd = 5\n" + kCmd);
  EXPECT_EQ(fd.type, Type::NotifyFd);
  EXPECT_EQ(fd.notify_fd, 5);
  ServiceConfig t = ok("type = \"target\"\nrequires = [\"a\"]\n");
  EXPECT_EQ(t.type, Type::Target);
  EXPECT_TRUE(t.command.empty());
}

TEST_F(ServiceConfigKeys, CommandKeepsEveryArgument) {
  ServiceConfig c = ok("command = [\"/bin/sh\", \"-c\", \"echo a b\", \"\"]\n");
  EXPECT_EQ(c.command, (std::vector<std::string>{"/bin/sh", "-c", "echo a b", ""}));
}

TEST_F(ServiceConfigKeys, DependenciesCarryTheLineOfEachName) {
  ServiceConfig c = ok(kCmd +
                       "requires = [\n"
                       "  \"db\",\n"
                       "  \"cache@1\",\n"
                       "]\n"
                       "wants = [\"m\"]\n"
                       "after = [\"a.b\"]\n"
                       "before = [\"x-y\", \"z_z\"]\n");
  ASSERT_EQ(c.requires_.size(), 2u);
  EXPECT_EQ(c.requires_[0].name, "db");
  EXPECT_EQ(c.requires_[0].line, 3);
  EXPECT_EQ(c.requires_[1].name, "cache@1");
  EXPECT_EQ(c.requires_[1].line, 4);
  ASSERT_EQ(c.wants.size(), 1u);
  EXPECT_EQ(c.wants[0].line, 6);
  ASSERT_EQ(c.after.size(), 1u);
  EXPECT_EQ(c.after[0].name, "a.b");
  ASSERT_EQ(c.before.size(), 2u);
  EXPECT_EQ(c.before[1].name, "z_z");
  EXPECT_EQ(c.before[1].line, 8);
}

TEST_F(ServiceConfigKeys, RestartAndDurations) {
  EXPECT_EQ(ok("restart = \"never\"\n" + kCmd).restart, Restart::Never);
  EXPECT_EQ(ok("restart = \"on-failure\"\n" + kCmd).restart, Restart::OnFailure);
  EXPECT_EQ(ok("restart = \"always\"\n" + kCmd).restart, Restart::Always);
  ServiceConfig c = ok(kCmd +
                       "restart_delay = 0.25\nrestart_delay_max = 2\nrestart_reset_after = 1.5\n"
                       "start_timeout = 0\nstop_timeout = 3\n");
  EXPECT_EQ(c.restart_delay_ns, kSec / 4);
  EXPECT_EQ(c.restart_delay_max_ns, 2 * kSec);
  EXPECT_EQ(c.restart_reset_ns, kSec * 3 / 2);
  EXPECT_EQ(c.start_timeout_ns, 0);
  EXPECT_EQ(c.stop_timeout_ns, 3 * kSec);
  EXPECT_EQ(ok(kCmd + "restart_delay = 5\nrestart_delay_max = 5\n").restart_delay_max_ns, 5 * kSec);
}

TEST_F(ServiceConfigKeys, StopSignalByNameOrNumber) {
  EXPECT_EQ(ok(kCmd + "stop_signal = \"SIGINT\"\n").stop_signal, 2);
  EXPECT_EQ(ok(kCmd + "stop_signal = \"hup\"\n").stop_signal, 1);
  EXPECT_EQ(ok(kCmd + "stop_signal = \"QUIT\"\n").stop_signal, 3);
  EXPECT_EQ(ok(kCmd + "stop_signal = 10\n").stop_signal, 10);
}

TEST_F(ServiceConfigKeys, WatchdogAndReloadSignal) {
  EXPECT_EQ(ok(kCmd).watchdog_ns, 0);
  EXPECT_EQ(ok(kCmd).reload_signal, 0);
  EXPECT_EQ(ok(kCmd + "watchdog = 30\n").watchdog_ns, 30 * kSec);
  EXPECT_EQ(ok(kCmd + "watchdog = 0.5\n").watchdog_ns, kSec / 2);
  EXPECT_EQ(ok(kCmd + "reload_signal = \"SIGHUP\"\n").reload_signal, 1);
  EXPECT_EQ(ok(kCmd + "reload_signal = \"usr1\"\n").reload_signal, 10);
  EXPECT_EQ(ok(kCmd + "reload_signal = 12\n").reload_signal, 12);
  EXPECT_EQ(one_error(kCmd + "reload_signal = \"KILL\"\n").key, "reload_signal");
  EXPECT_EQ(one_error(kCmd + "reload_signal = 40\n").key, "reload_signal");
  EXPECT_EQ(one_error(kCmd + "watchdog = -1\n").key, "watchdog");
}

TEST_F(ServiceConfigKeys, PathsEnvironmentUmask) {
  ServiceConfig c = ok(kCmd +
                       "working_directory = \"/srv\"\n"
                       "environment = { ZED = \"1\", ALPHA = \"two words\", _x9 = \"\" }\n"
                       "environment_file = \"-/etc/svc.env\"\n"
                       "umask = \"027\"\n");
  EXPECT_EQ(c.working_directory, "/srv");
  EXPECT_EQ(c.environment_file, "-/etc/svc.env");
  ASSERT_TRUE(c.umask.has_value());
  EXPECT_EQ(*c.umask, 027u);
  ASSERT_EQ(c.environment.size(), 3u);
  EXPECT_EQ(c.environment[0], (std::pair<std::string, std::string>{"ZED", "1"}));
  EXPECT_EQ(c.environment[1].first, "ALPHA");
  EXPECT_EQ(c.environment[2].first, "_x9");
  EXPECT_EQ(*ok(kCmd + "umask = 0o077\n").umask, 077u);
  EXPECT_EQ(*ok(kCmd + "umask = 0\n").umask, 0u);
  EXPECT_EQ(ok(kCmd + "environment_file = \"/etc/e\"\n").environment_file, "/etc/e");
}

TEST_F(ServiceConfigKeys, EnvironmentTableKeepsFileOrder) {
  ServiceConfig c = ok(kCmd +
                       "[environment]\n"
                       "Z = \"1\"\n"
                       "M = \"2\"\n"
                       "A = \"3\"\n");
  ASSERT_EQ(c.environment.size(), 3u);
  EXPECT_EQ(c.environment[0].first, "Z");
  EXPECT_EQ(c.environment[1].first, "M");
  EXPECT_EQ(c.environment[2].first, "A");
}

TEST_F(ServiceConfigKeys, Rlimits) {
  ServiceConfig c = ok(kCmd +
                       "[rlimits]\n"
                       "nofile = [1024, 4096]\n"
                       "core = \"infinity\"\n"
                       "nproc = 100\n"
                       "stack = [8388608, \"infinity\"]\n");
  ASSERT_EQ(c.rlimits.size(), 4u);
  EXPECT_EQ(c.rlimits[0].resource, RLIMIT_NOFILE);
  EXPECT_EQ(c.rlimits[0].soft, 1024u);
  EXPECT_EQ(c.rlimits[0].hard, 4096u);
  EXPECT_EQ(c.rlimits[1].resource, RLIMIT_CORE);
  EXPECT_EQ(c.rlimits[1].soft, RLIM_INFINITY);
  EXPECT_EQ(c.rlimits[1].hard, RLIM_INFINITY);
  EXPECT_EQ(c.rlimits[2].resource, RLIMIT_NPROC);
  EXPECT_EQ(c.rlimits[2].soft, 100u);
  EXPECT_EQ(c.rlimits[3].resource, RLIMIT_STACK);
  EXPECT_EQ(c.rlimits[3].hard, RLIM_INFINITY);
  for (const char* name : {"as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
                           "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"}) {
    EXPECT_EQ(ok(kCmd + "[rlimits]\n" + name + " = 1\n").rlimits.size(), 1u) << name;
  }
}

TEST_F(ServiceConfigKeys, Capabilities) {
  ServiceConfig c = ok(kCmd + "capabilities = [\"CAP_NET_BIND_SERVICE\", \"net_raw\", \"Cap_Chown\", "
                              "\"CHECKPOINT_RESTORE\"]\n");
  ASSERT_TRUE(c.capabilities.has_value());
  EXPECT_EQ(*c.capabilities, (1ULL << 10) | (1ULL << 13) | (1ULL << 0) | (1ULL << 40));
  ServiceConfig none = ok(kCmd + "capabilities = []\n");
  ASSERT_TRUE(none.capabilities.has_value());
  EXPECT_EQ(*none.capabilities, 0u);
  EXPECT_EQ(*ok(kCmd + "capabilities = [\"sys_admin\", \"bpf\"]\n").capabilities, (1ULL << 21) | (1ULL << 39));
}

TEST_F(ServiceConfigKeys, NoNewPrivilegesAndOnExit) {
  EXPECT_TRUE(ok(kCmd + "no_new_privileges = true\n").no_new_privileges);
  EXPECT_EQ(ok(kCmd + "on_exit = \"none\"\n").on_exit, ExitAction::None);
  EXPECT_EQ(ok(kCmd + "on_exit = \"poweroff\"\n").on_exit, ExitAction::Poweroff);
  EXPECT_EQ(ok(kCmd + "on_exit = \"reboot\"\n").on_exit, ExitAction::Reboot);
  EXPECT_EQ(ok(kCmd + "on_exit = \"halt\"\n").on_exit, ExitAction::Halt);
}

TEST_F(ServiceConfigKeys, FailurePolicy) {
  ServiceConfig d = ok(kCmd);
  EXPECT_EQ(d.restart_limit, 0);
  EXPECT_EQ(d.restart_limit_window_ns, 60'000'000'000);
  EXPECT_EQ(d.on_failure, ExitAction::None);
  EXPECT_EQ(d.essential, Essential::No);
  EXPECT_TRUE(d.success_exit_status == SuccessStatuses{});
  EXPECT_TRUE(d.success_exit_status.matches(0));
  EXPECT_FALSE(d.success_exit_status.matches(143 << 8));

  ServiceConfig c = ok(kCmd + "restart_limit = 5\nrestart_limit_window = 90\n" +
                       "success_exit_status = [0, 143, \"SIGTERM\", \"USR1\"]\non_failure = \"reboot\"\n");
  EXPECT_EQ(c.restart_limit, 5);
  EXPECT_EQ(c.restart_limit_window_ns, 90'000'000'000);
  EXPECT_TRUE(c.success_exit_status.matches(0));
  EXPECT_TRUE(c.success_exit_status.matches(143 << 8));
  EXPECT_TRUE(c.success_exit_status.matches(SIGTERM));
  EXPECT_TRUE(c.success_exit_status.matches(SIGUSR1));
  EXPECT_FALSE(c.success_exit_status.matches(1 << 8));
  EXPECT_FALSE(c.success_exit_status.matches(SIGKILL));
  EXPECT_EQ(c.on_failure, ExitAction::Reboot);
  EXPECT_EQ(c.on_exit, ExitAction::None);
  EXPECT_EQ(ok(kCmd + "restart_limit_window = 0.5\n").restart_limit_window_ns, 500'000'000);
  EXPECT_EQ(ok(kCmd + "on_failure = \"exit\"\n").on_failure, ExitAction::Exit);
  EXPECT_EQ(ok(kCmd + "on_failure = \"halt\"\n").on_failure, ExitAction::Halt);
  EXPECT_EQ(ok(kCmd + "on_failure = \"poweroff\"\n").on_failure, ExitAction::Poweroff);
  EXPECT_EQ(ok(kCmd + "on_failure = \"none\"\n").on_failure, ExitAction::None);
  EXPECT_EQ(ok(kCmd + "on_exit = \"exit\"\n").on_exit, ExitAction::Exit);
  // A list without 0 still has exit 0 as a success.
  EXPECT_TRUE(ok(kCmd + "success_exit_status = [2]\n").success_exit_status.matches(0));
}

// essential folds into the explicit keys as their defaults; an explicit
// key wins.
TEST_F(ServiceConfigKeys, Essential) {
  ServiceConfig t = ok(kCmd + "essential = true\n");
  EXPECT_EQ(t.essential, Essential::OnFailure);
  EXPECT_EQ(t.on_failure, ExitAction::Exit);
  EXPECT_EQ(t.on_exit, ExitAction::None);
  EXPECT_EQ(t.restart_limit, 5);
  EXPECT_EQ(ok(kCmd + "essential = \"on-failure\"\n").on_failure, ExitAction::Exit);
  ServiceConfig a = ok(kCmd + "essential = \"always\"\n");
  EXPECT_EQ(a.essential, Essential::Always);
  EXPECT_EQ(a.on_failure, ExitAction::Exit);
  EXPECT_EQ(a.on_exit, ExitAction::Exit);
  ServiceConfig own =
      ok(kCmd + "essential = \"always\"\non_failure = \"reboot\"\non_exit = \"halt\"\nrestart_limit = 0\n");
  EXPECT_EQ(own.on_failure, ExitAction::Reboot);
  EXPECT_EQ(own.on_exit, ExitAction::Halt);
  EXPECT_EQ(own.restart_limit, 0);
  ServiceConfig f = ok(kCmd + "essential = false\n");
  EXPECT_EQ(f.essential, Essential::No);
  EXPECT_EQ(f.on_failure, ExitAction::None);
  EXPECT_EQ(f.restart_limit, 0);
}

TEST_F(ServiceConfigKeys, Streams) {
  ServiceConfig c = ok(kCmd + "stdin = \"console\"\nstdout = \"null\"\nstderr = \"file:/var/log/e\"\n");
  EXPECT_EQ(c.stdin_.kind, StreamKind::Console);
  EXPECT_EQ(c.stdout_.kind, StreamKind::Null);
  EXPECT_EQ(c.stderr_.kind, StreamKind::File);
  EXPECT_EQ(c.stderr_.path, "/var/log/e");
  ServiceConfig d = ok(kCmd + "stdin = \"file:/in\"\nstdout = \"console\"\nstderr = \"log\"\n");
  EXPECT_EQ(d.stdin_.kind, StreamKind::File);
  EXPECT_EQ(d.stdin_.path, "/in");
  EXPECT_EQ(d.stdout_.kind, StreamKind::Console);
  EXPECT_EQ(d.stderr_.kind, StreamKind::Log);
  EXPECT_EQ(ok(kCmd + "stdin = \"null\"\n").stdin_.kind, StreamKind::Null);
}

TEST_F(ServiceConfigKeys, LogTable) {
  ServiceConfig c = ok(kCmd + "[log]\nring_size = \"1M\"\nfile = \"/var/log/s.log\"\nmax_size = 8192\nkeep = 0\n"
                              "console = true\n");
  EXPECT_EQ(c.log.ring_bytes, 1024u * 1024);
  EXPECT_EQ(c.log.file, "/var/log/s.log");
  EXPECT_EQ(c.log.max_size, 8192u);
  EXPECT_EQ(c.log.keep, 0);
  EXPECT_TRUE(c.log.console);
  EXPECT_EQ(ok(kCmd + "[log]\nring_size = \"64K\"\n").log.ring_bytes, 65536u);
  EXPECT_EQ(ok(kCmd + "[log]\nring_size = 2048\n").log.ring_bytes, 2048u);
  EXPECT_EQ(ok(kCmd + "[log]\nring_size = \"16MiB\"\n").log.ring_bytes, 16u << 20);
  EXPECT_EQ(ok(kCmd + "[log]\nmax_size = \"2m\"\n").log.max_size, 2u << 20);
}

TEST_F(ServiceConfigKeys, CgroupTable) {
  ServiceConfig c = ok(kCmd + "[cgroup]\nmemory_max = \"64M\"\npids_max = 100\ncpu_weight = 10000\n");
  EXPECT_EQ(c.cgroup.memory_max, std::optional<std::uint64_t>(64u << 20));
  EXPECT_EQ(c.cgroup.pids_max, std::optional<std::uint64_t>(100));
  EXPECT_EQ(c.cgroup.cpu_weight, std::optional<std::uint32_t>(10000));
  EXPECT_EQ(ok(kCmd + "[cgroup]\nmemory_max = 1048576\n").cgroup.memory_max, std::optional<std::uint64_t>(1u << 20));
  EXPECT_FALSE(ok(kCmd).cgroup.memory_max.has_value());
}

TEST_F(ServiceConfigKeys, ProbeTables) {
  ServiceConfig c = ok(kCmd +
                       "[readiness_probe]\ntcp = \"127.0.0.1:5432\"\ninterval = 0.5\ntimeout = 2\nsuccesses = 2\n"
                       "[liveness_probe]\nexec = [\"/bin/check\", \"x\"]\nfailures = 4\nstart_period = 30\n"
                       "action = \"exit\"\n");
  EXPECT_EQ(c.readiness_probe.kind, ProbeKind::Tcp);
  EXPECT_EQ(c.readiness_probe.target, "127.0.0.1:5432");
  EXPECT_EQ(c.readiness_probe.interval_ns, kSec / 2);
  EXPECT_EQ(c.readiness_probe.timeout_ns, 2 * kSec);
  EXPECT_EQ(c.readiness_probe.successes, 2);
  EXPECT_EQ(c.readiness_probe.failures, 3);
  EXPECT_EQ(c.liveness_probe.kind, ProbeKind::Exec);
  EXPECT_EQ(c.liveness_probe.exec, (std::vector<std::string>{"/bin/check", "x"}));
  EXPECT_EQ(c.liveness_probe.failures, 4);
  EXPECT_EQ(c.liveness_probe.start_period_ns, 30 * kSec);
  EXPECT_EQ(c.liveness_probe.action, ProbeAction::Exit);
  EXPECT_EQ(c.liveness_probe.interval_ns, 10 * kSec);
  EXPECT_EQ(c.liveness_probe.timeout_ns, 5 * kSec);
  ServiceConfig h = ok(kCmd + "[liveness_probe]\nhttp = \"unix:/run/web.sock:/healthz\"\n");
  EXPECT_EQ(h.liveness_probe.kind, ProbeKind::Http);
  EXPECT_EQ(h.liveness_probe.action, ProbeAction::Restart);
  EXPECT_EQ(ok(kCmd + "[liveness_probe]\nhttp = \"http://127.0.0.1/\"\n").liveness_probe.kind, ProbeKind::Http);
  ServiceConfig f = ok(kCmd + "[liveness_probe]\nfile = \"/run/web.alive\"\nfile_max_age = 30\naction = \"stop\"\n");
  EXPECT_EQ(f.liveness_probe.kind, ProbeKind::File);
  EXPECT_EQ(f.liveness_probe.file_max_age_ns, 30 * kSec);
  EXPECT_EQ(f.liveness_probe.action, ProbeAction::Stop);
  EXPECT_FALSE(ok(kCmd).liveness_probe.enabled());
}

TEST_F(ServiceConfigErrors, ProbeMistakesNameTheKeyAndLine) {
  ConfigError none = one_error(kCmd + "[liveness_probe]\ninterval = 3\n");
  EXPECT_EQ(none.line, 2);
  EXPECT_EQ(none.key, "liveness_probe");
  EXPECT_NE(none.message.find("needs one of"), std::string::npos) << none.message;
  ConfigError two = one_error(kCmd + "[liveness_probe]\ntcp = \"127.0.0.1:1\"\nfile = \"/x\"\n");
  EXPECT_NE(two.message.find("only one of"), std::string::npos) << two.message;
  ConfigError tcp = one_error(kCmd + "[liveness_probe]\ntcp = \"127.0.0.1:99999\"\n");
  EXPECT_EQ(tcp.key, "liveness_probe.tcp");
  EXPECT_EQ(tcp.line, 3);
  ConfigError http = one_error(kCmd + "[liveness_probe]\nhttp = \"https://x/\"\n");
  EXPECT_EQ(http.key, "liveness_probe.http");
  ConfigError action = one_error(kCmd + "[readiness_probe]\ntcp = \"127.0.0.1:1\"\naction = \"stop\"\n");
  EXPECT_EQ(action.key, "readiness_probe.action");
  ConfigError notify = one_error("type = \"notify\"\n" + kCmd + "[readiness_probe]\ntcp = \"127.0.0.1:1\"\n");
  EXPECT_EQ(notify.key, "readiness_probe");
  EXPECT_NE(notify.message.find("simple"), std::string::npos) << notify.message;
  ConfigError interval = one_error(kCmd + "[liveness_probe]\nfile = \"/x\"\ninterval = 0\n");
  EXPECT_EQ(interval.key, "liveness_probe.interval");
  ConfigError age = one_error(kCmd + "[liveness_probe]\ntcp = \"127.0.0.1:1\"\nfile_max_age = 3\n");
  EXPECT_EQ(age.key, "liveness_probe.file_max_age");
  ConfigError typo = one_error(kCmd + "[liveness_probe]\nfile = \"/x\"\nfailure = 3\n");
  EXPECT_EQ(typo.key, "liveness_probe.failure");
}

TEST_F(ServiceConfigKeys, TheFullExampleOfTheDocsParses) {
  const std::filesystem::path doc = std::filesystem::path(KEEL_SOURCE_DIR) / "docs/services.md";
  const std::string text = keel::testutil::slurp(doc);
  ASSERT_FALSE(text.empty()) << doc;
  const auto section = text.find("## A full example");
  ASSERT_NE(section, std::string::npos);
  const auto begin = text.find("```toml\n", section);
  ASSERT_NE(begin, std::string::npos);
  const auto end = text.find("```\n", begin + 8);
  ASSERT_NE(end, std::string::npos);
  const std::string example = text.substr(begin + 8, end - begin - 8);
  ServiceConfig c = ok(example);
  EXPECT_EQ(c.type, Type::Notify);
  EXPECT_EQ(c.command, (std::vector<std::string>{"/usr/bin/web", "--port", "80"}));
  EXPECT_EQ(c.uid, 1000u);
  EXPECT_EQ(c.gid, 1000u);
  EXPECT_EQ(c.stop_signal, 2);
  EXPECT_EQ(c.restart_delay_ns, kSec / 2);
  ASSERT_EQ(c.requires_.size(), 1u);
  EXPECT_EQ(c.environment.size(), 2u);
  EXPECT_EQ(c.rlimits.size(), 2u);
  EXPECT_EQ(c.cgroup.cpu_weight, std::optional<std::uint32_t>(200));
  EXPECT_EQ(c.stderr_.path, "/var/log/web.err");
  EXPECT_EQ(*c.capabilities, 1ULL << 10);
}

// Every prefix of a real file (cut mid-key, mid-string, mid-table) is either
// a config or errors: never an exception, never both, never neither.
TEST_F(ServiceConfigKeys, EveryPrefixOfTheDocsExampleIsHandled) {
  const std::filesystem::path doc = std::filesystem::path(KEEL_SOURCE_DIR) / "docs/services.md";
  const std::string text = keel::testutil::slurp(doc);
  const auto begin = text.find("```toml\n", text.find("## A full example"));
  ASSERT_NE(begin, std::string::npos);
  const std::string example = text.substr(begin + 8, text.find("```\n", begin + 8) - begin - 8);
  for (std::size_t n = 0; n <= example.size(); ++n) {
    ParseResult r;
    ASSERT_NO_THROW(r = parse(example.substr(0, n))) << n;
    EXPECT_NE(r.config.has_value(), !r.errors.empty()) << n;
  }
}

// ------------------------------------------------------------------ errors

TEST_F(ServiceConfigErrors, TextHasFileLineKeyMessage) {
  EXPECT_EQ((ConfigError{"web.toml", 4, "restart", "bad"}).text(), "web.toml:4: restart: bad");
  EXPECT_EQ((ConfigError{"web.toml", 0, "", "bad"}).text(), "web.toml: bad");
  EXPECT_EQ((ConfigError{"web.toml", 3, "", "bad"}).text(), "web.toml:3: bad");
  EXPECT_EQ((ConfigError{"", 0, "", "bad"}).text(), "bad");
}

TEST_F(ServiceConfigErrors, SyntaxErrorHasItsLine) {
  ConfigError e = one_error(kCmd + "\nrestart = \n");
  EXPECT_EQ(e.file, "svc.toml");
  EXPECT_EQ(e.line, 3);
  EXPECT_NE(e.message.find("syntax error"), std::string::npos) << e.message;
}

TEST_F(ServiceConfigErrors, UnknownKeyNamesTheClosestOne) {
  ConfigError e = one_error(kCmd + "restrat = \"always\"\n");
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(e.key, "restrat");
  EXPECT_EQ(e.text(), "svc.toml:2: restrat: unknown key; did you mean 'restart'?");
  ConfigError far = one_error(kCmd + "zzzzzzzzz = 1\n");
  EXPECT_EQ(far.message, "unknown key");
  ConfigError nested = one_error(kCmd + "[log]\nkep = 3\n");
  EXPECT_EQ(nested.line, 3);
  EXPECT_EQ(nested.key, "log.kep");
  EXPECT_NE(nested.message.find("'keep'"), std::string::npos);
  ConfigError cg = one_error(kCmd + "[cgroup]\nmemory_mx = 1\n");
  EXPECT_EQ(cg.key, "cgroup.memory_mx");
  EXPECT_NE(cg.message.find("'memory_max'"), std::string::npos);
  ConfigError rl = one_error(kCmd + "[rlimits]\nnofiles = 1\n");
  EXPECT_EQ(rl.line, 3);
  EXPECT_EQ(rl.key, "rlimits.nofiles");
  EXPECT_NE(rl.message.find("'nofile'"), std::string::npos);
}

TEST_F(ServiceConfigErrors, WrongTypes) {
  EXPECT_EQ(one_error(kCmd + "restart = 3\n").text(), "svc.toml:2: restart: expected a string, got an integer");
  EXPECT_EQ(one_error(kCmd + "description = true\n").message, "expected a string, got a boolean");
  EXPECT_EQ(one_error("command = \"/bin/true\"\n").message, "expected an array of strings, got a string");
  EXPECT_EQ(one_error(kCmd + "no_new_privileges = \"yes\"\n").message, "expected a boolean, got a string");
  EXPECT_EQ(one_error(kCmd + "notify_fd = 3.5\n").message, "expected an integer, got a float");
  EXPECT_EQ(one_error(kCmd + "stop_timeout = \"5s\"\n").message, "expected a number of seconds, got a string");
  EXPECT_EQ(one_error(kCmd + "environment = [\"A=1\"]\n").message, "expected a table of strings, got an array");
  EXPECT_EQ(one_error(kCmd + "log = 1\n").message, "expected a table, got an integer");
  EXPECT_EQ(one_error(kCmd + "user = true\n").key, "user");
  EXPECT_EQ(one_error(kCmd + "environment = { A = 1 }\n").key, "environment.A");
  ConfigError el = one_error("command = [\n  \"/bin/x\",\n  3,\n]\n");
  EXPECT_EQ(el.line, 3);
  EXPECT_EQ(el.key, "command");
}

TEST_F(ServiceConfigErrors, BadValuesWithTheirLines) {
  struct Case {
    std::string text;
    int line;
    std::string key;
  };
  const Case cases[] = {
      {"type = \"daemon\"\n" + kCmd, 1, "type"},
      {kCmd + "restart = \"sometimes\"\n", 2, "restart"},
      {kCmd + "notify_fd = 2\n", 2, "notify_fd"},
      {kCmd + "notify_fd = 1024\n", 2, "notify_fd"},
      {kCmd + "\nrequires = [\"ok\", \"bad name\"]\n", 3, "requires"},
      {kCmd + "wants = [\".hidden\"]\n", 2, "wants"},
      {kCmd + "restart_delay = -1\n", 2, "restart_delay"},
      {kCmd + "stop_timeout = -0.5\n", 2, "stop_timeout"},
      {kCmd + "restart_delay = 10\nrestart_delay_max = 5\n", 3, "restart_delay_max"},
      {kCmd + "restart_delay = 60\n", 2, "restart_delay"},
      {kCmd + "stop_signal = \"SIGFOO\"\n", 2, "stop_signal"},
      {kCmd + "stop_signal = 64\n", 2, "stop_signal"},
      {kCmd + "working_directory = \"srv\"\n", 2, "working_directory"},
      {kCmd + "environment_file = \"-etc/x\"\n", 2, "environment_file"},
      {kCmd + "environment = { \"1A\" = \"x\" }\n", 2, "environment.1A"},
      {kCmd + "umask = \"089\"\n", 2, "umask"},
      {kCmd + "umask = \"1777\"\n", 2, "umask"},
      {kCmd + "umask = 22\n", 2, "umask"},
      {kCmd + "umask = 0o1000\n", 2, "umask"},
      {kCmd + "[rlimits]\nnofile = [4096, 1024]\n", 3, "rlimits.nofile"},
      {kCmd + "[rlimits]\nnofile = -1\n", 3, "rlimits.nofile"},
      {kCmd + "[rlimits]\nnofile = [1]\n", 3, "rlimits.nofile"},
      {kCmd + "[rlimits]\ncore = \"unlimited\"\n", 3, "rlimits.core"},
      {kCmd + "capabilities = [\"CAP_FLY\"]\n", 2, "capabilities"},
      {kCmd + "stdin = \"log\"\n", 2, "stdin"},
      {kCmd + "stdout = \"file:relative\"\n", 2, "stdout"},
      {kCmd + "stderr = \"journal\"\n", 2, "stderr"},
      {kCmd + "[log]\nring_size = 512\n", 3, "log.ring_size"},
      {kCmd + "[log]\nring_size = \"32M\"\n", 3, "log.ring_size"},
      {kCmd + "[log]\nring_size = \"lots\"\n", 3, "log.ring_size"},
      {kCmd + "[log]\nfile = \"log.txt\"\n", 3, "log.file"},
      {kCmd + "[log]\nmax_size = 100\n", 3, "log.max_size"},
      {kCmd + "[log]\nkeep = 101\n", 3, "log.keep"},
      {kCmd + "[cgroup]\nmemory_max = \"12X\"\n", 3, "cgroup.memory_max"},
      {kCmd + "[cgroup]\npids_max = 0\n", 3, "cgroup.pids_max"},
      {kCmd + "[cgroup]\ncpu_weight = 0\n", 3, "cgroup.cpu_weight"},
      {kCmd + "[cgroup]\ncpu_weight = 10001\n", 3, "cgroup.cpu_weight"},
      {kCmd + "on_exit = \"explode\"\n", 2, "on_exit"},
      {kCmd + "restart_limit = -1\n", 2, "restart_limit"},
      {kCmd + "restart_limit = \"5\"\n", 2, "restart_limit"},
      {kCmd + "restart_limit_window = 0\n", 2, "restart_limit_window"},
      {kCmd + "success_exit_status = 143\n", 2, "success_exit_status"},
      {kCmd + "success_exit_status = [\n0,\n256]\n", 4, "success_exit_status"},
      {kCmd + "success_exit_status = [-1]\n", 2, "success_exit_status"},
      {kCmd + "success_exit_status = [\"SIGNOPE\"]\n", 2, "success_exit_status"},
      {kCmd + "success_exit_status = [1.5]\n", 2, "success_exit_status"},
      {kCmd + "on_failure = \"explode\"\n", 2, "on_failure"},
      {kCmd + "essential = \"yes\"\n", 2, "essential"},
      {kCmd + "essential = 1\n", 2, "essential"},
      {"command = []\n", 1, "command"},
      {"command = [\"\"]\n", 1, "command"},
      {"type = \"target\"\ncommand = [\"/bin/x\"]\n", 2, "command"},
      {"type = \"oneshot\"\n", 1, "command"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    ConfigError e = one_error(c.text);
    EXPECT_EQ(e.line, c.line) << e.text();
    EXPECT_EQ(e.key, c.key) << e.text();
    EXPECT_FALSE(e.message.empty());
  }
  EXPECT_EQ(one_error(kCmd + "restart = \"sometimes\"\n").message,
            "expected one of never, on-failure, always, not 'sometimes'");
  ConfigError missing = one_error("description = \"x\"\n");
  EXPECT_EQ(missing.line, 0);
  EXPECT_EQ(missing.key, "command");
}

TEST_F(ServiceConfigErrors, EveryErrorOfAFileSortedByLine) {
  ParseResult r = parse(
      "command = [\"/bin/x\"]\n"  // 1
      "[log]\n"                   // 2
      "keep = 500\n"              // 3
      "[cgroup]\n"                // 4
      "cpu_weight = 0\n");        // 5
  EXPECT_EQ(r.errors.size(), 2u);
  r = parse(
      "user = \"nobody-here\"\n"  // 1
      "command = [\"/bin/x\"]\n"  // 2
      "restart = 1\n"             // 3
      "colour = \"blue\"\n"       // 4
      "umask = \"9\"\n"           // 5
      "[rlimits]\n"               // 6
      "nofile = \"many\"\n");     // 7
  ASSERT_FALSE(r.config.has_value());
  ASSERT_EQ(r.errors.size(), 5u);
  std::vector<int> lines;
  for (const auto& e : r.errors) lines.push_back(e.line);
  EXPECT_EQ(lines, (std::vector<int>{1, 3, 4, 5, 7}));
  EXPECT_EQ(r.errors[0].key, "user");
  EXPECT_EQ(r.errors[2].key, "colour");
}

// ------------------------------------------------------------------ users

TEST_F(ServiceConfigUsers, UserByNameGetsItsGroups) {
  ServiceConfig c = ok(kCmd + "user = \"web\"\n");
  EXPECT_TRUE(c.has_user);
  EXPECT_EQ(c.user, "web");
  EXPECT_EQ(c.uid, 1000u);
  EXPECT_EQ(c.gid, 1000u);
  // Primary, then audio and video, which list web as a member.
  EXPECT_EQ(c.groups, (std::vector<gid_t>{1000, 29, 44}));
}

TEST_F(ServiceConfigUsers, ExplicitSupplementaryGroupsWithoutDuplicates) {
  ServiceConfig c = ok(kCmd + "user = \"db\"\nsupplementary_groups = [\"audio\", 44, \"wheel\"]\n");
  EXPECT_EQ(c.uid, 1001u);
  EXPECT_EQ(c.supplementary_groups, (std::vector<std::string>{"audio", "44", "wheel"}));
  ASSERT_EQ(c.groups.size(), 4u);
  for (gid_t g : {29u, 44u, 10u, 1001u}) {
    EXPECT_NE(std::find(c.groups.begin(), c.groups.end(), g), c.groups.end()) << g;
  }
}

TEST_F(ServiceConfigUsers, GroupOverridesThePrimaryOne) {
  ServiceConfig c = ok(kCmd + "user = \"web\"\ngroup = \"video\"\n");
  EXPECT_EQ(c.uid, 1000u);
  EXPECT_EQ(c.gid, 44u);
  EXPECT_EQ(c.group, "video");
  EXPECT_EQ(c.groups.front(), 44u);
}

TEST_F(ServiceConfigUsers, GroupWithoutUserRunsAsRoot) {
  ServiceConfig c = ok(kCmd + "group = 29\n");
  EXPECT_TRUE(c.has_user);
  EXPECT_EQ(c.uid, 0u);
  EXPECT_EQ(c.gid, 29u);
}

TEST_F(ServiceConfigUsers, NumericUserNotInPasswd) {
  ServiceConfig c = ok(kCmd + "user = 4242\n");
  EXPECT_TRUE(c.has_user);
  EXPECT_EQ(c.uid, 4242u);
  EXPECT_EQ(c.gid, 4242u);
  EXPECT_EQ(ok(kCmd + "user = \"1000\"\n").gid, 1000u);  // in passwd: its primary group
}

TEST_F(ServiceConfigUsers, NumericUserWithoutAnyPasswdFile) {
  UserDbPaths none{(dir_.path() / "no-passwd").string(), (dir_.path() / "no-group").string()};
  ParseResult r = parse_service(kCmd + "user = 1234\ngroup = 99\nsupplementary_groups = [7]\n", "s", "s.toml", none);
  ASSERT_TRUE(r.config.has_value()) << (r.errors.empty() ? "" : r.errors[0].text());
  EXPECT_EQ(r.config->uid, 1234u);
  EXPECT_EQ(r.config->gid, 99u);
  EXPECT_EQ(r.config->groups, (std::vector<gid_t>{7, 99}));
  // (uid_t)-1 is never an id, file or not: not silently root.
  EXPECT_FALSE(parse_service(kCmd + "user = 4294967295\n", "s", "s.toml", none).config.has_value());
  EXPECT_FALSE(parse_service(kCmd + "group = \"99999999999\"\n", "s", "s.toml", none).config.has_value());
  // A name cannot be resolved without the file: an error that says so.
  ParseResult named = parse_service(kCmd + "user = \"web\"\n", "s", "s.toml", none);
  ASSERT_EQ(named.errors.size(), 1u);
  EXPECT_EQ(named.errors[0].line, 2);
  EXPECT_NE(named.errors[0].message.find("cannot read"), std::string::npos) << named.errors[0].message;
}

TEST_F(ServiceConfigUsers, UnknownUserAndGroups) {
  ConfigError u = one_error(kCmd + "\nuser = \"nobody\"\n");
  EXPECT_EQ(u.line, 3);
  EXPECT_EQ(u.key, "user");
  EXPECT_NE(u.message.find("unknown user 'nobody'"), std::string::npos) << u.message;
  ConfigError g = one_error(kCmd + "group = \"staff\"\n");
  EXPECT_EQ(g.line, 2);
  EXPECT_EQ(g.key, "group");
  EXPECT_NE(g.message.find("unknown group 'staff'"), std::string::npos);
  ConfigError s = one_error(kCmd + "supplementary_groups = [\n  \"audio\",\n  \"floppy\",\n]\n");
  EXPECT_EQ(s.line, 4);
  EXPECT_EQ(s.key, "supplementary_groups");
}

// ------------------------------------------------------------------ folder

TEST(ServiceConfigName, ValidNames) {
  EXPECT_TRUE(valid_service_name("web"));
  EXPECT_TRUE(valid_service_name("getty@tty1"));
  EXPECT_TRUE(valid_service_name("a.b-c_D9"));
  EXPECT_TRUE(valid_service_name(std::string(64, 'a')));
  EXPECT_FALSE(valid_service_name(std::string(65, 'a')));
  EXPECT_FALSE(valid_service_name(""));
  EXPECT_FALSE(valid_service_name(".web"));
  EXPECT_FALSE(valid_service_name("a b"));
  EXPECT_FALSE(valid_service_name("a/b"));
  EXPECT_FALSE(valid_service_name("caf\xc3\xa9"));
}

TEST_F(ServiceConfigDir, GoodBadAndIgnoredFiles) {
  const auto d = dir_.path() / "services";
  write_file(d / "web.toml", "command = [\"/bin/web\"]\nuser = \"web\"\n");
  write_file(d / "db.toml", "command = [\"/bin/db\"]\n");
  write_file(d / "all.toml", "type = \"target\"\nrequires = [\"web\", \"db\"]\n");
  write_file(d / "broken.toml", "command = [\"/bin/x\"\n");
  write_file(d / "typo.toml", "command = [\"/bin/x\"]\nrestrat = \"always\"\n");
  write_file(d / "bad name.toml", "command = [\"/bin/x\"]\n");
  write_file(d / "web.toml~", "garbage");
  write_file(d / ".hidden.toml", "garbage");
  write_file(d / "README", "not a service");
  std::filesystem::create_directories(d / "dir.toml");
  LoadResult r = load_service_dir(d.string(), users_);
  std::vector<std::string> names;
  for (const auto& s : r.services) names.push_back(s.name);
  EXPECT_EQ(names, (std::vector<std::string>{"all", "db", "web"}));
  EXPECT_EQ(r.services[2].uid, 1000u);
  EXPECT_EQ(r.services[2].file, (d / "web.toml").string());
  std::vector<std::string> bad;
  for (const auto& e : r.errors) bad.push_back(std::filesystem::path(e.file).filename().string());
  EXPECT_EQ(bad, (std::vector<std::string>{"bad name.toml", "broken.toml", "dir.toml", "typo.toml"}));
  for (const auto& e : r.errors) {
    if (e.file.ends_with("typo.toml")) {
      EXPECT_EQ(e.text(), (d / "typo.toml").string() + ":2: restrat: unknown key; did you mean 'restart'?");
    }
    if (e.file.ends_with("broken.toml")) {
      EXPECT_GT(e.line, 0);
    }
  }
}

TEST_F(ServiceConfigDir, MissingFolderIsNoServices) {
  LoadResult r = load_service_dir((dir_.path() / "nope").string(), users_);
  EXPECT_TRUE(r.services.empty());
  EXPECT_TRUE(r.errors.empty());
}

TEST_F(ServiceConfigDir, AFileInsteadOfAFolderIsAnError) {
  write_file(dir_.path() / "plain", "x");
  LoadResult r = load_service_dir((dir_.path() / "plain").string(), users_);
  EXPECT_TRUE(r.services.empty());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("cannot read"), std::string::npos);
}

}  // namespace
}  // namespace keel::service

namespace keel::service {
namespace {

// Durations are capped at one year (limits::kMaxDurationSeconds): a
// start_timeout of 9223372036 s used to be accepted, and now + that
// overflowed the event loop's deadline, freezing every timer of PID 1.
TEST(ServiceConfigDurations, AreCappedAtOneYearWithFileAndLine) {
  const std::string cmd = "command = [\"/bin/true\"]\n";
  for (const char* key : {"start_timeout", "stop_timeout", "restart_delay", "restart_delay_max", "restart_reset_after"}) {
    for (const char* value : {"9223372036", "31536001", "31536000.5", "1e300"}) {
      ParseResult r = parse_service(cmd + key + " = " + value + "\n", "x", "x.toml");
      ASSERT_EQ(r.errors.size(), 1U) << key << " = " << value;
      EXPECT_EQ(r.errors[0].line, 2);
      EXPECT_EQ(r.errors[0].key, key);
      EXPECT_NE(r.errors[0].message.find("must be from 0 to 31536000 seconds (one year)"), std::string::npos)
          << r.errors[0].text();
    }
  }
  ParseResult r = parse_service(cmd + "start_timeout = 9223372036\n", "x", "x.toml");
  ASSERT_EQ(r.errors.size(), 1U);
  EXPECT_EQ(r.errors[0].text(),
            "x.toml:2: start_timeout: must be from 0 to 31536000 seconds (one year), not 9223372036");
  // The cap itself is accepted.
  ParseResult ok = parse_service(cmd + "start_timeout = 31536000\nrestart_reset_after = 31536000.0\n"
                                       "restart_delay_max = 31536000\n", "x", "x.toml");
  ASSERT_TRUE(ok.config.has_value()) << ok.errors[0].text();
  EXPECT_EQ(ok.config->start_timeout_ns, 31'536'000 * kSec);
  EXPECT_EQ(ok.config->restart_reset_ns, 31'536'000 * kSec);
}

// toml++ 3.3.0 has undefined behaviour on some non-ASCII code points where
// it looks for whitespace; keel rejects non-ASCII outside strings and
// comments before toml++ sees the text.
TEST(ServiceConfigText, NonAsciiOutsideStringsIsASyntaxErrorWithItsPosition) {
  EXPECT_EQ(stray_non_ascii("a = 1\n\xC3\xA9 = 1\n").line, 2);
  EXPECT_EQ(stray_non_ascii("a = 1\n\xC3\xA9 = 1\n").column, 1);
  EXPECT_EQ(stray_non_ascii("\xEF\xBB\xBE" "m = \"x\"").line, 1);  // U+FEFE, not a BOM
  EXPECT_EQ(stray_non_ascii("\xEF\xBB\xBF" "m = \"x\"").line, 0);  // a BOM is fine
  EXPECT_EQ(stray_non_ascii("description = \"caf\xC3\xA9\" # \xC3\xA9t\xC3\xA9\n").line, 0);
  EXPECT_EQ(stray_non_ascii("d = 'caf\xC3\xA9'\ne = \"\"\"\n\xC3\xA9\"\"\"\nf = '''\xC3\xA9'''\n").line, 0);
  EXPECT_EQ(stray_non_ascii("d = \"a\\\"\xC3\xA9\"").line, 0);  // an escaped quote stays in the string
  // After a line-ending backslash toml++ skips whitespace: what ends it counts.
  TextPosition p = stray_non_ascii("d = \"\"\"a\\\n   \xC3\xA9\"\"\"");
  EXPECT_EQ(p.line, 2);
  EXPECT_EQ(p.column, 4);
  ParseResult r = parse_service("command = [\"/bin/x\"]\n\xC3\xA9 = 1\n", "x", "x.toml");
  ASSERT_EQ(r.errors.size(), 1U);
  EXPECT_EQ(r.errors[0].text(), "x.toml:2: syntax error at column 1: a character that is not ASCII outside a string or comment");
  ParseResult ok = parse_service("description = \"d\xC3\xA9j\xC3\xA0 vu\"\ncommand = [\"/bin/x\"]\n", "x", "x.toml");
  EXPECT_TRUE(ok.errors.empty());
}

}  // namespace
}  // namespace keel::service
