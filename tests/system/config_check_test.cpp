// config_check_test.cpp — `keel check` run from outside (as a throwaway
// non-root user, under strace to prove it opens no socket and leaves the
// run directory alone), and `keelctl reload --dry-run` against a running
// keel, as PID 1 of a PID namespace and as a subreaper: the answer names
// what a reload would do, nothing changes, and the real reload then does
// what it said.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "supervised.hpp"
#include "throwaway_uid.hpp"

namespace keel::systest {
namespace {

namespace fs = std::filesystem;

// `keel check ARGS` as the throwaway uid (setpriv: no root, no groups).
Ctl check_as_nobody(const std::vector<std::string>& args) {
  const uid_t uid = keel::testing::throwaway_uid();
  std::vector<std::string> argv{"--reuid=" + std::to_string(uid), "--regid=" + std::to_string(uid), "--clear-groups",
                                keel_binary(), "check"};
  argv.insert(argv.end(), args.begin(), args.end());
  Launch l = program_launch(Placement::Subreaper, "/usr/bin/setpriv", argv);
  l.unset_env = {"KEEL_CONFIG_DIR", "KEEL_SERVICES_DIR"};
  Outcome o = run_through(l);
  return Ctl{o.code.value_or(-1), o.out, o.err};
}

bool has(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

TEST(KeelCheck, AGoodConfigurationPassesAsAnUnprivilegedUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to a throwaway uid";
  Supervised d(Supervised::Access::Open);
  d.file("keel.toml", "hostname = \"box\"\n");
  d.service("db", "command = [\"/bin/sleep\", \"600\"]\n");
  d.service("web", "command = [\"/bin/sleep\", \"600\"]\nrequires = [\"db\"]\nuser = \"root\"\n"
                   "[readiness_probe]\ntcp = \"127.0.0.1:41400\"\n[[socket]]\nlisten = \"tcp:127.0.0.1:41401\"\n");
  Ctl c = check_as_nobody({d.dir()});
  EXPECT_EQ(c.code, 0) << c.out << c.err;
  EXPECT_EQ(c.out, "2 services checked, 0 errors, 0 warnings\n") << c.err;
}

// The same files checked --user: as the caller's own user instance would
// load them (docs/system-mode.md, "A user instance"), a service that needs
// root is an error; without --user (above) they are root's keel's files.
TEST(KeelCheck, WithUserAServiceThatNeedsRootIsAnError) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to a throwaway uid";
  Supervised d(Supervised::Access::Open);
  d.service("db", "command = [\"/bin/sleep\", \"600\"]\n");
  d.service("web", "command = [\"/bin/sleep\", \"600\"]\nuser = \"root\"\n");
  Ctl c = check_as_nobody({"--user", d.dir()});
  EXPECT_EQ(c.code, 1) << c.out << c.err;
  EXPECT_TRUE(has(c.out, d.path("services/web.toml") + ": error: user instance: service web: user = \"root\" needs root"))
      << c.out;
  EXPECT_TRUE(has(c.out, "1 error")) << c.out;
  Ctl both = check_as_nobody({"--user", "--root", d.dir()});
  EXPECT_EQ(both.code, 2) << both.out << both.err;
}

TEST(KeelCheck, EachKindOfProblemIsAnErrorWithItsFileAndLine) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to a throwaway uid";
  struct Case {
    const char* what;
    std::string toml;
    std::string expect;  // after "FILE:"
  } cases[] = {
      {"syntax", "command = [\"/bin/true\"\n", "1: error: syntax error"},
      {"key", "command = [\"/bin/true\"]\nrestrat = \"never\"\n", "2: error: restrat: unknown key"},
      {"range", "command = [\"/bin/true\"]\nstop_timeout = -5\n", "2: error: stop_timeout: "},
      {"user", "command = [\"/bin/true\"]\nuser = \"no-such-user-41400\"\n", "2: error: user: unknown user"},
      {"group", "command = [\"/bin/true\"]\ngroup = \"no-such-group-41400\"\n", "2: error: group: unknown group"},
      {"requires", "command = [\"/bin/true\"]\n\nrequires = [\"nowhere\"]\n", "3: error: requires: no service named"},
      {"cycle", "command = [\"/bin/true\"]\nafter = [\"cycle\"]\n", "2: error: dependency cycle: cycle -> cycle"},
      {"probe", "command = [\"/bin/true\"]\n[liveness_probe]\nhttp = \"ftp://x/\"\n", "3: error: liveness_probe.http: "},
      {"socket", "command = [\"/bin/true\"]\n[[socket]]\nlisten = \"unix:" + std::string(120, 'x') + "\"\n",
       "3: error: socket[0].listen: "},
      {"log", "command = [\"/bin/true\"]\n[log]\nfile = \"web.log\"\n", "3: error: log.file: "},
  };
  for (const Case& c : cases) {
    Supervised d(Supervised::Access::Open);
    d.service("ok", "command = [\"/bin/true\"]\n");
    d.service(c.what, c.toml);
    Ctl r = check_as_nobody({d.dir()});
    EXPECT_EQ(r.code, 1) << c.what << ": " << r.out << r.err;
    EXPECT_TRUE(has(r.out, d.path("services/") + c.what + ".toml:" + c.expect)) << c.what << ": " << r.out;
    EXPECT_TRUE(has(r.out, "2 services checked, 1 error, 0 warnings\n")) << c.what << ": " << r.out;
  }
  Supervised d(Supervised::Access::Open);
  d.file("keel.toml", "hostname = \"box\"\n\n[[mount]]\nwhat = \"tmpfs\"\n");
  Ctl r = check_as_nobody({d.dir()});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(has(r.out, d.path("keel.toml") + ":")) << r.out;
  // The main program: present but not executable.
  Supervised m(Supervised::Access::Open);
  m.file("main", "#!/bin/sh\n");
  r = check_as_nobody({m.dir()});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(has(r.out, m.path("main") + ": error: the main program is not executable")) << r.out;
}

TEST(KeelCheck, HostileFilesAreErrorsNeverAHang) {
  Supervised d(Supervised::Access::Open);
  ASSERT_EQ(::mkfifo(d.path("keel.toml").c_str(), 0644), 0);
  ASSERT_EQ(::mkfifo(d.path("services/fifo.toml").c_str(), 0644), 0);
  fs::create_symlink("loop.toml", d.path("services/loop.toml"));
  d.service("huge", std::string(std::size_t{2} * 1024 * 1024, '#'));
  d.service("deep", "a = " + std::string(200000, '[') + std::string(200000, ']') + "\n");
  d.service("ok", "command = [\"/bin/true\"]\n");
  // run_through bounds the run (kExitTimeout): a FIFO read that waited for
  // a writer would fail the test rather than hang it.
  Outcome o = run_through(program_launch(Placement::Subreaper, keel_binary(), {"check", d.dir()}));
  ASSERT_TRUE(o.code.has_value()) << "keel check did not finish";
  EXPECT_EQ(*o.code, 1) << o.out << o.err;
  EXPECT_TRUE(has(o.out, d.path("keel.toml") + ": error: cannot read: not a regular file (a FIFO)")) << o.out;
  EXPECT_TRUE(has(o.out, d.path("services/fifo.toml") + ": error: not a regular file (a FIFO)")) << o.out;
  EXPECT_TRUE(has(o.out, d.path("services/loop.toml") + ": error: cannot open: Too many levels")) << o.out;
  EXPECT_TRUE(has(o.out, d.path("services/huge.toml") + ": error: larger than")) << o.out;
  EXPECT_TRUE(has(o.out, d.path("services/deep.toml") + ":1: error: nested deeper than")) << o.out;
  EXPECT_TRUE(has(o.out, "5 services checked, 5 errors, 0 warnings")) << o.out;
}

TEST(KeelCheck, UsageHelpAndDefaults) {
  Outcome o = run_through(program_launch(Placement::Subreaper, keel_binary(), {"check", "--help"}));
  EXPECT_EQ(o.code, 0);
  EXPECT_TRUE(has(o.out, "usage: keel check [--root DIR | --user] [CONFIG_DIR]")) << o.out;
  o = run_through(program_launch(Placement::Subreaper, keel_binary(), {"check", "--nope"}));
  EXPECT_EQ(o.code, 2) << o.out << o.err;
  o = run_through(program_launch(Placement::Subreaper, keel_binary(), {"check", "a", "b"}));
  EXPECT_EQ(o.code, 2) << o.out << o.err;
  // No CONFIG_DIR: $KEEL_CONFIG_DIR, as keel's system role.
  Supervised d(Supervised::Access::Open);
  d.service("x", "command = [\"/bin/true\"]\nbogus = 1\n");
  Launch l = program_launch(Placement::Subreaper, keel_binary(), {"check"});
  l.set_env = {{"KEEL_CONFIG_DIR", d.dir()}};
  o = run_through(l);
  EXPECT_EQ(o.code, 1) << o.out << o.err;
  EXPECT_TRUE(has(o.out, d.path("services/x.toml") + ":2: error: bogus: unknown key")) << o.out;
  // --root: CONFIG_DIR, users and programs inside the image tree.
  Supervised root(Supervised::Access::Open);
  fs::create_directories(root.path("etc/keel/services"));
  root.file("etc/passwd", "app:x:1000:1000::/:/bin/sh\n");
  root.file("etc/group", "app:x:1000:\n");
  root.file("etc/keel/services/app.toml", "command = [\"/usr/bin/app\"]\nuser = \"app\"\n");
  o = run_through(program_launch(Placement::Subreaper, keel_binary(), {"check", "--root", root.dir()}));
  EXPECT_EQ(o.code, 0) << o.out << o.err;
  EXPECT_TRUE(has(o.out, root.path("etc/keel/services/app.toml") +
                             ": warning: command: /usr/bin/app: No such file or directory (in " + root.dir() + ")"))
      << o.out;
}

TEST(KeelCheck, OpensNoSocketAndLeavesTheRunDirectoryAlone) {
  if (!installed("/usr/bin/strace")) GTEST_FAIL() << "strace is missing (dev.sh installs it)";
  Supervised d(Supervised::Access::Open);
  d.service("web", "command = [\"/bin/true\"]\n[[socket]]\nlisten = \"unix:" + d.path("run/web.sock") +
                       "\"\n[readiness_probe]\ntcp = \"127.0.0.1:41402\"\n");
  const std::string trace = d.path("trace");
  Launch l = program_launch(Placement::Subreaper, "/usr/bin/strace",
                            {"-f", "-qq", "-o", trace, "-e", "trace=%network,%file", keel_binary(), "check", d.dir()});
  l.set_env = {{"KEEL_RUN_DIR", d.path("run")}};
  Outcome o = run_through(l);
  EXPECT_EQ(o.code, 0) << o.out << o.err;
  std::ifstream in(trace);
  std::stringstream text;
  text << in.rdbuf();
  ASSERT_FALSE(text.str().empty());
  for (const std::string& line : split_lines(text.str())) {
    EXPECT_FALSE(has(line, "socket(") || has(line, "bind(") || has(line, "connect(")) << line;
    EXPECT_FALSE(has(line, d.path("run"))) << line;
  }
  EXPECT_FALSE(fs::exists(d.path("run")));
}

// ------------------------------------------------ keelctl reload --dry-run

class ReloadDryRun : public ::testing::TestWithParam<Placement> {
 protected:
  void SetUp() override {
    if (GetParam() == Placement::Namespace && !namespaces_available()) {
      GTEST_SKIP() << "unshare --pid is not available here";
    }
  }
};

TEST_P(ReloadDryRun, SaysWhatAReloadWouldDoChangesNothingAndTheReloadDoesIt) {
  Supervised d(Supervised::Access::Open);
  // Sleep lengths unique to this run: the processes are looked for by
  // command line, and the other placement may run at the same time.
  const std::string id = std::to_string(::getpid()) + (GetParam() == Placement::Namespace ? "1" : "2");
  auto sleeper = [&](int n) { return "4" + id + std::to_string(n); };
  auto sleep_cmd = [&](int n) { return "command = [\"/bin/sleep\", \"" + sleeper(n) + "\"]\n"; };
  auto running = [&](int n) {
    for (const ProcEntry& p : proc_table()) {
      std::ifstream f("/proc/" + std::to_string(p.pid) + "/cmdline");
      std::stringstream text;
      text << f.rdbuf();
      const std::string cmd = text.str();
      if (has(cmd, std::string("sleep") + '\0' + sleeper(n))) return true;
    }
    return false;
  };
  d.service("same", sleep_cmd(1));
  d.service("chg", sleep_cmd(2));
  d.service("gone", sleep_cmd(3));
  d.service("down", sleep_cmd(4) + "restart = \"never\"\n");
  auto k = d.start(GetParam());
  for (const char* n : {"same", "chg", "gone", "down"}) ASSERT_TRUE(has_event(*k, n, "ready")) << n;
  ASSERT_TRUE(control_up(d));
  ASSERT_EQ(d.ctl({"stop", "down"}).code, 0);
  ASSERT_TRUE(has_event(*k, "down", "stopped"));

  // Nothing edited: nothing to do.
  Ctl none = d.ctl({"reload", "--dry-run"});
  EXPECT_EQ(none.code, 0) << none.err;
  EXPECT_EQ(none.out, "dry run: a reload would add 0, change 0, remove 0; 0 errors\n");

  const Ctl before = d.ctl({"status"});
  d.service("chg", sleep_cmd(12) + "environment = { A = \"1\" }\n");
  d.remove_service("gone");
  d.service("new", sleep_cmd(5));
  d.service("down", sleep_cmd(4) + "restart = \"always\"\n");
  d.service("bad", sleep_cmd(7) + "comand = 1\n");
  Ctl dry = d.ctl({"reload", "--dry-run"});
  const std::string answer = dry.out + dry.err;
  EXPECT_EQ(dry.code, 1) << answer;  // a file has errors
  EXPECT_TRUE(has(answer, "dry run: a reload would add 1, change 2, remove 1; ")) << answer;
  EXPECT_TRUE(has(answer, "error: " + d.path("services/bad.toml") + ":2: comand: unknown key")) << answer;
  EXPECT_TRUE(has(answer, "gone: removed: stopped\n")) << answer;
  EXPECT_TRUE(has(answer, "new: added: started\n")) << answer;
  EXPECT_TRUE(has(answer, "chg: changed (command, environment): restarted\n")) << answer;
  EXPECT_TRUE(has(answer, "down: changed (restart): applied in place (not running")) << answer;

  // Nothing changed: the same services in the same states, the same
  // processes, no error recorded from the files.
  const Ctl after = d.ctl({"status"});
  EXPECT_EQ(d.ctl({"status", "new"}).code, 3);
  EXPECT_EQ(d.ctl({"status", "gone"}).code, 0);
  EXPECT_FALSE(has(after.out, "comand")) << after.out;
  EXPECT_EQ(split_lines(before.out).size(), split_lines(after.out).size()) << after.out;
  for (int n : {1, 2, 3}) EXPECT_TRUE(running(n)) << n;
  for (int n : {4, 5, 7, 12}) EXPECT_FALSE(running(n)) << n;
  EXPECT_FALSE(has(k->text(Stream::Err), "reloaded:")) << k->text(Stream::Err);

  // The real reload does what the dry run said.
  d.remove_service("bad");
  Ctl real = d.ctl({"reload"});
  EXPECT_EQ(real.code, 0) << real.err;
  EXPECT_TRUE(has(real.out, "reloaded: 1 added, 2 changed, 1 removed\n")) << real.out;
  ASSERT_TRUE(has_event(*k, "new", "ready"));
  ASSERT_TRUE(has_event(*k, "gone", "removed"));
  EXPECT_TRUE(poll_until([&] { return running(12) && !running(2) && !running(3); }, 10s));
  EXPECT_TRUE(has(d.ctl({"status", "down"}).out, "stopped")) << d.ctl({"status", "down"}).out;
  EXPECT_TRUE(running(1));
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

// The loader fails (a crash, as tests/system/loader_test.cpp makes one):
// the dry run fails with the reason, as the reload does; once it loads, the
// dry run names what the reload would add, and adds nothing.
TEST_P(ReloadDryRun, ALoaderThatFailsIsTheAnswerAndNothingIsAdded) {
  Supervised d(Supervised::Access::Open);
  const std::string marker = d.path("crash");
  std::ofstream(marker) << "";
  d.service("svc", "command = [\"/bin/sleep\", \"600\"]\n");
  auto k = d.start(GetParam(), {{"KEEL_TEST_LOADER_FAULT", "crash:" + marker}});
  ASSERT_TRUE(control_up(d)) << k->text(Stream::Err);
  Ctl failed = d.ctl({"reload", "--dry-run"});
  EXPECT_EQ(failed.code, 1) << failed.out << failed.err;
  EXPECT_TRUE(has(failed.err, "reload failed: the configuration loader was killed by SIGSEGV")) << failed.err;
  ASSERT_EQ(::unlink(marker.c_str()), 0);
  Ctl dry = d.ctl({"reload", "--dry-run"});
  EXPECT_EQ(dry.code, 0) << dry.err;
  EXPECT_TRUE(has(dry.out, "svc: added: started\n")) << dry.out;
  EXPECT_EQ(d.ctl({"status", "svc"}).code, 3);
  Ctl real = d.ctl({"reload"});
  EXPECT_TRUE(has(real.out, "svc: added")) << real.out << real.err;
  EXPECT_TRUE(has_event(*k, "svc", "ready"));
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

INSTANTIATE_TEST_SUITE_P(Placements, ReloadDryRun, ::testing::Values(Placement::Subreaper, Placement::Namespace),
                         [](const ::testing::TestParamInfo<Placement>& p) { return std::string(placement_name(p.param)); });

}  // namespace
}  // namespace keel::systest
