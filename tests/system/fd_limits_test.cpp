// File descriptors and reply size (issue 9): keel as PID 1 of a PID
// namespace under the fd limit the kernel gives init (soft = hard = 1024,
// set with prlimit), and `keelctl status --json` of 10,000 services.
//
// Before: each service held 2-3 fds in keel whether it ran or not, plus 2
// per cgroup, so under 1024 fds keel started ~250 services (~500 without
// cgroups) and the rest failed in back-off; and a status reply over 1 MiB
// was cut into invalid JSON with exit 0. Now a running service costs keel
// one fd per captured stream (its log pipes' read ends: 2 by default, since
// issue 13 gave stderr a pipe of its own), a service with no process none, keel
// raises its soft limit to the hard limit, and replies of any size arrive
// whole (docs/system-mode.md, "Limits").
#include <gtest/gtest.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

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
  std::string out;
  std::string err;
};

class FdLimits : public ::testing::Test {
 public:
  void SetUp() override { fs::create_directories(dir_.path() + "/services"); }
  void TearDown() override { reap_leftovers(); }

  void service(const std::string& name, const std::string& toml) const {
    std::ofstream(dir_.path() + "/services/" + name + ".toml") << toml;
  }
  [[nodiscard]] std::string socket() const { return dir_.path() + "/run/control.sock"; }

  // `count` services svc0000.. running `sleep`, and a target "default"
  // that requires them all: the boot reaches it only if every one runs.
  void sleepers(int count) const {
    std::string requires_list;
    for (int i = 0; i < count; ++i) {
      char name[16];
      std::snprintf(name, sizeof name, "svc%04d", i);
      service(name, "command = [\"/bin/sleep\", \"3600\"]\n");
      requires_list += std::string(i == 0 ? "" : ", ") + "\"" + name + "\"";
    }
    service("default", "type = \"target\"\nrequires = [" + requires_list + "]\n");
  }

  // keel --role=system as PID 1 of a new PID namespace, with RLIMIT_NOFILE
  // `nofile` ("SOFT:HARD") from the start, as the kernel sets it for init.
  std::unique_ptr<KeelRun> start(const std::string& nofile, const std::string& cgroup,
                                 std::vector<std::string> words = {}) const {
    std::vector<std::string> args{"--nofile=" + nofile, keel_binary(), "--role=system"};
    args.insert(args.end(), words.begin(), words.end());
    Launch l = program_launch(Placement::Namespace, "prlimit", args);
    l.set_env = {{"KEEL_CONFIG_DIR", dir_.path()},
                 {"KEEL_RUN_DIR", dir_.path() + "/run"},
                 {"KEEL_CGROUP_ROOT", cgroup}};
    return std::make_unique<KeelRun>(l);
  }

  [[nodiscard]] Ctl ctl(std::vector<std::string> args) const {
    std::vector<std::string> argv{"ctl", "--socket", socket()};
    argv.insert(argv.end(), args.begin(), args.end());
    Outcome o = run_through(program_launch(Placement::Subreaper, keel_binary(), argv));
    return Ctl{o.code.value_or(-1), o.out, o.err};
  }

  TempDir dir_;  // NOLINT(misc-non-private-member-variables-in-classes): the tests' own directory
};

std::string read_text(const std::string& path) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

int count_fds(pid_t pid) {
  int n = 0;
  DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.' ? 1 : 0;
  ::closedir(d);
  return n;
}

// "Max open files            1024                 4096                 files"
std::string max_open_files(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::istringstream words(line.substr(14));
    std::string soft, hard;
    words >> soft >> hard;
    return soft + " " + hard;
  }
  return "";
}

int count_of(const std::string& text, const std::string& needle) {
  int n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

std::string cgroup2_root(const std::string& tag) {
  std::ifstream mounts("/proc/self/mounts");
  std::string dev, dir, type;
  std::string rest;
  while (mounts >> dev >> dir >> type && std::getline(mounts, rest)) {
    if (type == "cgroup2") return dir + "/keel-test-" + tag + "-" + std::to_string(::getpid());
  }
  return "";
}

// 450 long-running services under soft = hard = 1024: all run, the target
// is reached, keelctl answers, and keel holds about two fds per service
// (stdout and stderr each have their own log pipe since issue 13: 600, the
// number before, no longer fit).
void four_hundred_fifty_under_1024(FdLimits& t, const std::string& cgroup) {
  constexpr int kServices = 450;
  t.sleepers(kServices);
  auto keel = t.start("1024:1024", cgroup);
  ASSERT_TRUE(keel->started());
  auto reached = seen(*keel, Stream::Err, [](const std::string& l) { return l.find("target default") != std::string::npos; },
                      60s);
  ASSERT_TRUE(reached) << "no start summary";
  EXPECT_NE(reached->find("reached target default"), std::string::npos) << *reached;
  EXPECT_NE(reached->find(", 0 failed"), std::string::npos) << *reached;
  Ctl status = t.ctl({"status"});
  EXPECT_EQ(status.code, 0) << status.err;
  EXPECT_EQ(count_of(status.out, " running "), kServices + 1) << status.out.substr(0, 2000);
  const int fds = count_fds(keel->keel_pid());
  std::printf("keel holds %d fds with %d services running (cgroups: %s)\n", fds, kServices, cgroup.c_str());
  EXPECT_LE(fds, 2 * kServices + 32) << "about two fds per running service (its log pipes), plus keel's own";
  EXPECT_EQ(max_open_files(keel->keel_pid()), "1024 1024");
  keel->kill_all();  // PID 1 of the namespace: everything in it goes
}

TEST_F(FdLimits, FourHundredFiftyServicesReachTheTargetUnderInitsFdLimitWithoutCgroups) {
  if (!namespaces_available()) GTEST_SKIP() << "unshare --pid is not available here";
  four_hundred_fifty_under_1024(*this, "none");
}

TEST_F(FdLimits, FourHundredFiftyServicesReachTheTargetUnderInitsFdLimitWithCgroups) {
  if (!namespaces_available()) GTEST_SKIP() << "unshare --pid is not available here";
  std::string root = cgroup2_root("fds");
  if (root.empty()) GTEST_SKIP() << "no cgroup2 mount here";
  four_hundred_fifty_under_1024(*this, root);
  // The services' cgroups empty as the namespace's processes die.
  std::error_code ec;
  (void)poll_until(
      [&] {
        for (const auto& e : fs::directory_iterator(root, ec)) {
          if (e.is_directory(ec)) fs::remove(e.path(), ec);
        }
        return fs::remove(root, ec);
      },
      20s, 50ms);
}

// Soft 1024, hard 4096: keel raises its soft limit, so 1,100 services (more
// than 1024 fds' worth) run, and each service gets the inherited soft limit
// back (select() breaks above 1024), unless its [rlimits] says otherwise.
TEST_F(FdLimits, KeelRaisesItsSoftLimitAndServicesGetTheInheritedOneBack) {
  if (!namespaces_available()) GTEST_SKIP() << "unshare --pid is not available here";
  constexpr int kServices = 1100;
  sleepers(kServices);
  service("wide", "command = [\"/bin/sleep\", \"3601\"]\n[rlimits]\nnofile = [2048, 4096]\n");
  auto keel = start("1024:4096", "none");
  ASSERT_TRUE(keel->started());
  auto reached = seen(*keel, Stream::Err, [](const std::string& l) { return l.find("target default") != std::string::npos; },
                      90s);
  ASSERT_TRUE(reached) << "no start summary";
  EXPECT_NE(reached->find("reached target default"), std::string::npos) << *reached;
  EXPECT_EQ(max_open_files(keel->keel_pid()), "4096 4096");
  EXPECT_TRUE(seen(*keel, Stream::Err, [](const std::string& l) {
    return l.find("soft limit raised from 1024 to the hard limit 4096") != std::string::npos;
  }));
  ASSERT_EQ(ctl({"start", "wide"}).code, 0);
  EXPECT_TRUE(seen(*keel, Stream::Err, [](const std::string& l) { return l.find("wide: ready") != std::string::npos; }));
  int checked = 0;
  for (const ProcEntry& p : descendants(keel->keel_pid())) {
    if (p.comm != "sleep") continue;
    const std::string cmd = read_text("/proc/" + std::to_string(p.pid) + "/cmdline");
    const bool wide = cmd.find("3601") != std::string::npos;
    EXPECT_EQ(max_open_files(p.pid), wide ? "2048 4096" : "1024 4096") << cmd;
    ++checked;
  }
  EXPECT_EQ(checked, kServices + 1);
}

// More services than fds: the ones that cannot start say why, at error
// level (shown with `quiet`), and root's keelctl still answers.
TEST_F(FdLimits, OutOfFdsLaunchFailuresAreVisibleWithQuietAndKeelctlStillAnswers) {
  if (!namespaces_available()) GTEST_SKIP() << "unshare --pid is not available here";
  constexpr int kServices = 1100;
  sleepers(kServices);
  auto keel = start("1024:1024", "none", {"quiet"});
  ASSERT_TRUE(keel->started());
  EXPECT_TRUE(seen(
      *keel, Stream::Err,
      [](const std::string& l) { return l.find("cannot start") != std::string::npos && l.find("out of file descriptors") != std::string::npos; },
      60s));
  Ctl status;
  ASSERT_TRUE(poll_until(
      [&] {
        status = ctl({"status", "--json"});
        return status.code == 0;
      },
      20s, 100ms))
      << status.err;
  EXPECT_GE(count_of(status.out, "Too many open files"), 1);
  EXPECT_LE(count_fds(keel->keel_pid()), 1024);
}

// `keelctl status --json` of 10,000 services (none running: a target with
// no requirements is the start target) is whole, valid JSON.
TEST_F(FdLimits, StatusJsonOfTenThousandServicesIsWholeAndValid) {
  constexpr int kServices = 10000;
  for (int i = 0; i < kServices; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "s%05d", i);
    service(name, "description = \"one of ten thousand services, none of them started\"\ncommand = [\"/bin/true\"]\n");
  }
  service("default", "type = \"target\"\n");
  Launch launch = keel_launch(Placement::Subreaper, {"--role=system"});
  launch.set_env = {{"KEEL_CONFIG_DIR", dir_.path()}, {"KEEL_RUN_DIR", dir_.path() + "/run"}, {"KEEL_CGROUP_ROOT", "none"}};
  KeelRun keel(launch);
  ASSERT_TRUE(seen(keel, Stream::Err, [](const std::string& l) { return l.find("reached target default") != std::string::npos; },
                   60s));
  Ctl status = ctl({"status", "--json"});
  ASSERT_EQ(status.code, 0) << status.err;
  EXPECT_GT(status.out.size(), std::size_t{1024} * 1024) << "larger than one reply frame";
  const std::string file = dir_.path() + "/status.json";
  std::ofstream(file) << status.out;
  Outcome parsed = run_through(program_launch(
      Placement::Subreaper, "/usr/bin/env",
      {"python3", "-c", "import json,sys; d=json.load(open(sys.argv[1])); print(sum(1 for s in d if s['name'].startswith('s')))",
       file}));
  EXPECT_EQ(parsed.code, 0) << parsed.err;
  EXPECT_EQ(parsed.out, "10000\n") << parsed.err;
  keel.signal(SIGTERM);
  (void)keel.wait_exit(60s);
}

}  // namespace
}  // namespace keel::systest
