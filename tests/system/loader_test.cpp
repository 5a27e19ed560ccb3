// The configuration loader, from outside: keel.toml and the service files
// are parsed in a child (system/config_loader.hpp), so a loader that dies
// leaves PID 1 running, with a clear error, and a later reload works; and
// the start-up reads each service file once, never "(built in)", never the
// CONFIG_DIR/main program (a reload tells a changed main from its stat).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"

namespace keel::systest {
namespace {

namespace fs = std::filesystem;

struct Ctl {
  int code = -1;
  std::string text;  // stdout and stderr
};

class LoaderTest : public ::testing::TestWithParam<Placement> {
 protected:
  void SetUp() override {
    if (GetParam() == Placement::Namespace && !namespaces_available()) {
      GTEST_SKIP() << "unshare --pid is not available here";
    }
    fs::create_directories(dir_.path() + "/services");
  }

  void service(const std::string& name, const std::string& toml) const {
    std::ofstream(dir_.path() + "/services/" + name + ".toml") << toml;
  }

  std::unique_ptr<KeelRun> start(std::vector<std::pair<std::string, std::string>> env = {}) const {
    Launch l = keel_launch(GetParam(), {"--role=system"});
    l.set_env = {{"KEEL_CONFIG_DIR", dir_.path()}, {"KEEL_RUN_DIR", dir_.path() + "/run"}, {"KEEL_CGROUP_ROOT", "none"}};
    for (auto& e : env) l.set_env.push_back(e);
    return std::make_unique<KeelRun>(l);
  }

  Ctl ctl(std::vector<std::string> args) const {
    std::vector<std::string> argv{"ctl", "--socket", dir_.path() + "/run/control.sock"};
    argv.insert(argv.end(), args.begin(), args.end());
    Outcome o = run_through(program_launch(Placement::Subreaper, keel_binary(), argv));
    return Ctl{o.code.value_or(-1), o.out + o.err};
  }

  bool control_up() const {
    return poll_until([&] { return ctl({"status"}).code == 0; }, 10s, 20ms);
  }

  TempDir dir_;
};

bool line_with(KeelRun& k, const std::string& needle, Duration timeout = kLineTimeout) {
  return seen(k, Stream::Err, [&](const std::string& l) { return l.find(needle) != std::string::npos; }, timeout)
      .has_value();
}

// The loader is killed by SIGSEGV (its test hook, while a marker file
// exists): keel stays up with no services and says why, on its console and
// in keelctl status; a reload while the loader still crashes keeps
// everything and fails with the reason; once it is repaired, a reload loads
// the files, with their errors named file:line.
TEST_P(LoaderTest, ACrashingLoaderLeavesKeelRunningAndAReloadLoadsOnceItIsRepaired) {
  const std::string marker = dir_.path() + "/crash";
  std::ofstream(marker) << "";
  service("svc", "command = [\"/bin/sleep\", \"600\"]\n");
  auto k = start({{"KEEL_TEST_LOADER_FAULT", "crash:" + marker}});
  ASSERT_TRUE(line_with(*k, "the configuration loader was killed by SIGSEGV: keel runs with keel.toml's defaults and "
                            "no services (keelctl reload tries again)"))
      << k->text(Stream::Err);
  ASSERT_TRUE(control_up()) << k->text(Stream::Err);
  Ctl status = ctl({"status"});
  EXPECT_NE(status.text.find("not loaded: the configuration loader was killed by SIGSEGV"), std::string::npos)
      << status.text;
  Ctl still = ctl({"reload"});
  EXPECT_EQ(still.code, 1) << still.text;
  EXPECT_NE(still.text.find("reload failed: the configuration loader was killed by SIGSEGV; every service keeps its "
                            "definition"),
            std::string::npos)
      << still.text;
  EXPECT_FALSE(k->exited());

  ASSERT_EQ(::unlink(marker.c_str()), 0);
  service("typo", "command = [\"/bin/sleep\", \"600\"]\n\ncomand = 1\n");
  Ctl r = ctl({"reload"});
  EXPECT_EQ(r.code, 0) << r.text;
  EXPECT_NE(r.text.find("reloaded: 1 added"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("typo.toml:3: comand: unknown key"), std::string::npos) << r.text;
  EXPECT_TRUE(line_with(*k, "svc: ready")) << k->text(Stream::Err);
  EXPECT_FALSE(k->exited());
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

// The loader's answer is garbage (its test hook): refused with the reason,
// at boot and at a SIGHUP reload; keel keeps running.
TEST_P(LoaderTest, ALoaderAnswerThatIsGarbageIsRefusedWithTheReason) {
  service("svc", "command = [\"/bin/sleep\", \"600\"]\n");
  auto k = start({{"KEEL_TEST_LOADER_FAULT", "garbage"}});
  ASSERT_TRUE(line_with(*k, "the configuration loader's answer is malformed (not a loader message at byte 4)"))
      << k->text(Stream::Err);
  ASSERT_TRUE(control_up()) << k->text(Stream::Err);
  k->signal(SIGHUP);
  EXPECT_TRUE(line_with(*k, "reload: the configuration loader's answer is malformed")) << k->text(Stream::Err);
  EXPECT_FALSE(k->exited());
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

INSTANTIATE_TEST_SUITE_P(Placements, LoaderTest, ::testing::Values(Placement::Subreaper, Placement::Namespace),
                         [](const ::testing::TestParamInfo<Placement>& p) { return std::string(placement_name(p.param)); });

// CONFIG_DIR/main is fingerprinted by stat, not by its bytes: a reload
// leaves an unchanged main alone and restarts a replaced one.
TEST(LoaderMain, AReloadRestartsAReplacedMainAndLeavesAnUnchangedOneAlone) {
  TempDir dir;
  const std::string main = dir.path() + "/main";
  auto write_main = [&](const std::string& version) {
    const std::string tmp = main + ".new";
    std::ofstream(tmp) << "#!/bin/sh\necho \"main " << version << " $$\"\nexec sleep 600\n";
    ASSERT_EQ(::chmod(tmp.c_str(), 0755), 0);
    ASSERT_EQ(::rename(tmp.c_str(), main.c_str()), 0);  // a new inode, as an upgrade installs one
  };
  write_main("v1");
  Launch l = keel_launch(Placement::Subreaper, {"--role=system"});
  l.set_env = {{"KEEL_CONFIG_DIR", dir.path()}, {"KEEL_RUN_DIR", dir.path() + "/run"}, {"KEEL_CGROUP_ROOT", "none"}};
  KeelRun k(l);
  ASSERT_TRUE(k.find_line(Stream::Out, "main v1 ")) << k.text(Stream::Err);
  auto ctl = [&](const std::string& verb) {
    Outcome o = run_through(
        program_launch(Placement::Subreaper, keel_binary(), {"ctl", "--socket", dir.path() + "/run/control.sock", verb}));
    return o.out + o.err;
  };
  ASSERT_TRUE(poll_until([&] { return ctl("status").find("main") != std::string::npos; }, 10s, 20ms));
  std::string same = ctl("reload");
  EXPECT_NE(same.find("reloaded: 0 added, 0 changed, 0 removed"), std::string::npos) << same;
  write_main("v2");
  std::string changed = ctl("reload");
  EXPECT_NE(changed.find("main: changed"), std::string::npos) << changed;
  EXPECT_TRUE(k.find_line(Stream::Out, "main v2 ")) << k.text(Stream::Err);
  k.signal(SIGTERM);
  EXPECT_TRUE(k.wait_exit());
}

// The start-up's reads, under strace -f (keel and its loader child): each
// service file opened once, no "(built in)" path, and the CONFIG_DIR/main
// program opened once, by the loader child, for its first 256 bytes (the
// #! check of service/python_seed; exec'd, not read: a static ELF copy, so no
// interpreter reads it either). Before issue 11 each file was opened twice
// and main was read whole to hash it.
TEST(LoaderStartup, EachServiceFileIsOpenedOnceAndMainIsNeverRead) {
  const std::string strace = []() -> std::string {
    for (const char* p : {"/usr/bin/strace", "/bin/strace"}) {
      if (::access(p, X_OK) == 0) return p;
    }
    return "";
  }();
  if (strace.empty()) GTEST_SKIP() << "strace is not installed (dev.sh's TEST_PACKAGES should have it)";
  TempDir dir;
  fs::create_directories(dir.path() + "/services");
  for (const char* n : {"a", "b", "c"}) {
    std::ofstream(dir.path() + "/services/" + n + ".toml") << "command = [\"/bin/sleep\", \"600\"]\n";
  }
  std::ofstream(dir.path() + "/services/needs-rng.toml")
      << "requires = [\"rng-ready\"]\ncommand = [\"/bin/sleep\", \"600\"]\n";
  // main: an ELF that exits at once (sleep without an operand), so keel,
  // not PID 1 here, ends by itself.
  fs::copy_file("/bin/sleep", dir.path() + "/main");
  ASSERT_EQ(::chmod((dir.path() + "/main").c_str(), 0755), 0);
  const std::string trace = dir.path() + "/trace";
  Launch l = program_launch(Placement::Subreaper, strace,
                            {"-f", "-qq", "-s", "512", "-o", trace, "-e", "trace=open,openat,openat2", keel_binary(),
                             "--role=system"});
  l.set_env = {{"KEEL_CONFIG_DIR", dir.path()}, {"KEEL_RUN_DIR", dir.path() + "/run"}, {"KEEL_CGROUP_ROOT", "none"}};
  KeelRun k(l);
  ASSERT_TRUE(k.wait_exit(60s)) << k.text(Stream::Err);
  std::ifstream in(trace);
  std::stringstream text;
  text << in.rdbuf();
  auto opens_of = [&](const std::string& path) {
    int n = 0;
    std::istringstream lines(text.str());
    for (std::string line; std::getline(lines, line);) {
      if (line.find("open") != std::string::npos && line.find("\"" + path + "\"") != std::string::npos) ++n;
    }
    return n;
  };
  ASSERT_FALSE(text.str().empty());
  for (const char* n : {"a", "b", "c", "needs-rng"}) {
    EXPECT_EQ(opens_of(dir.path() + "/services/" + n + ".toml"), 1) << n << "\n" << text.str();
  }
  EXPECT_EQ(opens_of("(built in)"), 0) << text.str();
  // Issue 14: once per start, for its #! line only (at most 256 bytes:
  // is it a Python script, which gets PYTHONHASHSEED? service/python_seed),
  // never read whole.
  EXPECT_EQ(opens_of(dir.path() + "/main"), 1) << text.str();
}

}  // namespace
}  // namespace keel::systest
