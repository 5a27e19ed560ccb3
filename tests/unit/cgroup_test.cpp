// Unit tests for service/cgroup and service/tree_tracker: a service's whole
// process tree, double-forked daemons included, found and killed.
//
// Cgroup tests work in a scratch directory made inside the host's cgroup2
// mount (found in /proc/self/mountinfo; skipped with a message when there
// is none or it is not writable). Services are started through the exec
// plan, so the child moves itself into its cgroup before exec, as in
// keel. The tree tracker test uses no cgroup: a shell whose grandchild
// calls setsid() is found by its KEEL_SERVICE environment.
#include "service/cgroup.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "service/exec_plan.hpp"
#include "service/tree_tracker.hpp"
#include "test_util.hpp"

namespace keel::service {
namespace {

using testutil::slurp;

bool wait_for(const std::function<bool()>& condition, int timeout_ms = 5000) {
  std::int64_t deadline = monotonic_ns() + timeout_ms * testutil::kMs;
  while (monotonic_ns() < deadline) {
    if (condition()) return true;
    ::usleep(5000);
  }
  return condition();
}

// The first cgroup2 mount point in /proc/self/mountinfo, or "".
std::string cgroup2_mount() {
  std::istringstream in(slurp("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    std::size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream after(line.substr(dash + 3));
    std::string fstype;
    after >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream fields(line);
    std::string id;
    std::string parent;
    std::string dev;
    std::string root;
    std::string mount_point;
    fields >> id >> parent >> dev >> root >> mount_point;
    return mount_point;
  }
  return "";
}

std::vector<pid_t> procs_of(const std::string& dir) {
  std::istringstream in(slurp(dir + "/cgroup.procs"));
  std::vector<pid_t> out;
  for (pid_t p = 0; in >> p;) out.push_back(p);
  return out;
}

class CgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string mount = cgroup2_mount();
    if (mount.empty()) GTEST_SKIP() << "no cgroup2 mount in /proc/self/mountinfo";
    std::string pattern = mount + "/keel-test-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      GTEST_SKIP() << "cgroup2 mount " << mount << " is not writable: " << std::strerror(errno);
    }
    root_ = pattern;
    Status s = manager_.init(root_.c_str());
    ASSERT_TRUE(s.ok()) << s.error().context << ": " << s.error().message();
  }
  void TearDown() override {
    if (root_.empty()) return;
    // Children of the scratch root first; a populated one is a test bug,
    // and rmdir then fails visibly.
    for (const std::string& name : made_) {
      std::string dir = root_ + "/" + name;
      if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) ADD_FAILURE() << "rmdir " << dir << ": " << std::strerror(errno);
    }
    EXPECT_EQ(::rmdir(root_.c_str()), 0) << root_ << ": " << std::strerror(errno);
  }

  ServiceCgroup make(const std::string& name, const CgroupLimits& limits = {}) {
    made_.push_back(name);
    auto r = manager_.create(name, limits);
    EXPECT_TRUE(r.ok()) << r.error().context << ": " << r.error().message();
    return r.ok() ? std::move(r.value()) : ServiceCgroup{};
  }

  // Starts `command` through an exec plan, moved into `cg`.
  pid_t start(const ServiceCgroup& cg, std::vector<std::string> command) {
    ServiceConfig c;
    c.name = "cg-test";
    c.command = std::move(command);
    c.stdout_ = {StreamKind::Null, {}};
    c.stderr_ = {StreamKind::Null, {}};
    ExecInputs in;
    in.config = &c;
    in.cgroup_procs_fd = cg.procs_fd;
    std::string error;
    plan_ = ExecPlan{};
    if (!build_exec_plan(in, plan_, error)) {
      ADD_FAILURE() << error;
      return -1;
    }
    auto r = spawn_service(plan_);
    EXPECT_TRUE(r.ok()) << r.error().context << ": " << r.error().message();
    return r.ok() ? r.value() : -1;
  }

  std::string root_;
  std::vector<std::string> made_;
  CgroupManager manager_;
  ExecPlan plan_;
};

TEST_F(CgroupTest, ChildIsMovedInAndADoubleForkedGrandchildIsKilledToo) {
  ServiceCgroup cg = make("svc");
  ASSERT_GE(cg.procs_fd, 0);
  EXPECT_FALSE(populated(cg));
  // The subshell starts a sleep and exits: the sleep is an orphan,
  // reparented away from us, which only the cgroup still ties to the service.
  pid_t pid = start(cg, {"/bin/sh", "-c", "(sleep 100 &); exec sleep 100"});
  ASSERT_GT(pid, 0);
  std::string cgroup_line = slurp("/proc/" + std::to_string(pid) + "/cgroup");
  std::string leaf = root_.substr(root_.rfind('/')) + "/svc\n";
  EXPECT_NE(cgroup_line.find("0::"), std::string::npos) << cgroup_line;
  EXPECT_NE(cgroup_line.find(leaf), std::string::npos) << cgroup_line << " lacks " << leaf;
  EXPECT_TRUE(populated(cg));
  ASSERT_TRUE(wait_for([&] { return procs_of(root_ + "/svc").size() == 2; })) << "no grandchild appeared";
  pid_t orphan = -1;
  for (pid_t p : procs_of(root_ + "/svc")) {
    if (p != pid) orphan = p;
  }
  EXPECT_NE(::getppid(), orphan);

  Status s = kill_all(cg);
  ASSERT_TRUE(s.ok()) << s.error().context << ": " << s.error().message();
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_TRUE(wait_for([&] { return !populated(cg); })) << "the orphan survived kill_all";
  EXPECT_TRUE(procs_of(root_ + "/svc").empty());

  manager_.remove(cg);
  EXPECT_EQ(cg.dir_fd, -1);
  struct stat st {};
  EXPECT_NE(::stat((root_ + "/svc").c_str(), &st), 0) << "remove() left the directory";
}

TEST_F(CgroupTest, KillEachFallbackKillsTheOrphanToo) {
  ServiceCgroup cg = make("each");
  pid_t pid = start(cg, {"/bin/sh", "-c", "(sleep 100 &); exec sleep 100"});
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(wait_for([&] { return procs_of(root_ + "/each").size() == 2; }));
  Status s = kill_each(cg);
  ASSERT_TRUE(s.ok()) << s.error().context << ": " << s.error().message();
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_TRUE(wait_for([&] { return !populated(cg); })) << "the orphan survived kill_each";
  EXPECT_EQ(slurp(root_ + "/each/cgroup.freeze"), "0\n") << "left frozen";
  manager_.remove(cg);
}

TEST_F(CgroupTest, SignalAllReachesEveryProcess) {
  ServiceCgroup cg = make("sig");
  pid_t pid = start(cg, {"/bin/sh", "-c", "(sleep 100 &); exec sleep 100"});
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(wait_for([&] { return procs_of(root_ + "/sig").size() == 2; }));
  Status s = signal_all(cg, SIGTERM);
  ASSERT_TRUE(s.ok()) << s.error().context;
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
  EXPECT_TRUE(wait_for([&] { return !populated(cg); }));
  manager_.remove(cg);
}

TEST_F(CgroupTest, ExistingEmptyCgroupIsReusedAndAPopulatedOneRefused) {
  ServiceCgroup first = make("again");
  pid_t pid = start(first, {"/bin/sleep", "100"});
  ASSERT_GT(pid, 0);
  auto busy = manager_.create("again", {});
  ASSERT_FALSE(busy.ok());
  EXPECT_STREQ(busy.error().context, "cgroup populated");
  EXPECT_EQ(busy.error().code, EBUSY);
  ASSERT_TRUE(kill_all(first).ok());
  ::waitpid(pid, nullptr, 0);
  ASSERT_TRUE(wait_for([&] { return !populated(first); }));
  auto reused = manager_.create("again", {});
  ASSERT_TRUE(reused.ok()) << reused.error().context;
  EXPECT_GE(reused.value().procs_fd, 0);
  manager_.remove(reused.value());
}

TEST_F(CgroupTest, LimitsAreAppliedOrReported) {
  CgroupLimits limits;
  limits.memory_max = 64ULL << 20;
  limits.pids_max = 50;
  limits.cpu_weight = 200;
  ServiceCgroup cg = make("limited", limits);
  std::string dir = root_ + "/limited";
  const std::string& enabled = manager_.controllers();
  auto check = [&](const char* controller, const char* file, const std::string& want) {
    if (enabled.find(controller) != std::string::npos) {
      EXPECT_EQ(slurp(dir + "/" + file), want + "\n") << file;
    } else {
      EXPECT_NE(cg.warning.find(file), std::string::npos) << "no warning for " << file << ": " << cg.warning;
    }
  };
  check("memory", "memory.max", std::to_string(64ULL << 20));
  check("pids", "pids.max", "50");
  check("cpu", "cpu.weight", "200");
  manager_.remove(cg);
}

TEST_F(CgroupTest, NoLimitsNoWarning) {
  ServiceCgroup cg = make("plain");
  EXPECT_EQ(cg.warning, "");
  manager_.remove(cg);
}

TEST_F(CgroupTest, BadNamesAreRefused) {
  for (const char* name : {"", ".", "..", "a/b"}) {
    auto r = manager_.create(name, {});
    EXPECT_FALSE(r.ok()) << name;
  }
}

TEST(CgroupInit, NonCgroupDirectoryIsRefused) {
  testutil::TempDir dir;
  CgroupManager m;
  Status s = m.init(dir.str().c_str());
  ASSERT_FALSE(s.ok());
  EXPECT_STREQ(s.error().context, "not cgroup2");
  EXPECT_FALSE(m.ready());
}

// ------------------------------------------------------------ tree tracker

TEST(TreeTracker, DoubleForkedSetsidDaemonIsFoundByItsEnvironment) {
  // keel is a subreaper (or PID 1): the escaped grandchild is re-parented
  // to it, which is what the tracker relies on. The test does the same in
  // a child of its own, so the flag does not leak into other tests.
  std::string result = testutil::run_in_child([]() -> std::string {
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return "PR_SET_CHILD_SUBREAPER failed";
    std::string name = "tracker-" + std::to_string(::getpid());
    ServiceConfig c;
    c.name = name;
    // The grandchild leaves the group and the session: only KEEL_SERVICE
    // (and its ancestry) still marks it as the service's.
    c.command = {"/bin/sh", "-c", "(setsid sleep 100 &); exec sleep 100"};
    c.stdout_ = {StreamKind::Null, {}};
    c.stderr_ = {StreamKind::Null, {}};
    ExecInputs in;
    in.config = &c;
    in.extra_env = {{"KEEL_SERVICE", name}};
    ExecPlan plan;
    std::string error;
    if (!build_exec_plan(in, plan, error)) return error;
    auto r = spawn_service(plan);
    if (!r.ok()) return r.error().context;
    pid_t pid = r.value();
    pid_t escaped = -1;
    bool appeared = wait_for([&] {
      for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string file = entry.path().filename().string();
        if (file.find_first_not_of("0123456789") != std::string::npos) continue;
        pid_t p = std::atoi(file.c_str());
        if (p == pid) continue;
        std::string env = slurp(entry.path() / "environ");
        if (env.find("KEEL_SERVICE=" + name + '\0') != std::string::npos && ::getsid(p) != pid) escaped = p;
      }
      return escaped > 0;
    });
    if (!appeared) return "the setsid grandchild did not appear";
    if (::getpgid(escaped) == pid) return "the grandchild stayed in the group";
    if (!tree_alive(pid, name)) return "tree_alive(pgid) is false";
    if (!tree_alive(-1, name)) return "not found by environment alone";
    // The main process and the escaped grandchild, and possibly the
    // subshell between them if it has not exited yet.
    int signalled = signal_process_group_and_adopted(pid, name, SIGKILL);
    if (signalled < 2) return "signalled " + std::to_string(signalled) + ", expected 2 or more";
    // Reap all: the main child, the re-parented grandchild (and subshell).
    for (int status = 0; ::wait(&status) > 0;) {
    }
    if (tree_alive(pid, name)) return "pid " + std::to_string(escaped) + " survived";
    if (tree_alive(-1, "no-such-service-anywhere")) return "an unknown service is alive";
    return "";
  });
  EXPECT_EQ(result, "");
}

TEST(TreeTracker, AMarkedProcessOutsideKeelsTreeIsNotItsBusiness) {
  // Another keel on the same machine may run a service of the same name:
  // a process with the mark that does not descend from us is left alone.
  std::string name = "foreign-" + std::to_string(::getpid());
  std::string result = testutil::run_in_child([&]() -> std::string {
    // This child plays the other keel: its own child carries the mark.
    pid_t other = ::fork();
    if (other == 0) {
      std::string mark = "KEEL_SERVICE=" + name;
      char* envp[] = {mark.data(), nullptr};
      char* argv[] = {const_cast<char*>("/bin/sleep"), const_cast<char*>("100"), nullptr};
      ::execve("/bin/sleep", argv, envp);
      ::_exit(127);
    }
    // Now a sibling process (not its ancestor) asks.
    std::string verdict;
    int p[2];
    if (::pipe(p) != 0) return "pipe";
    pid_t asker = ::fork();
    if (asker == 0) {
      ::close(p[0]);
      wait_for([&] {
        std::string env = slurp("/proc/" + std::to_string(other) + "/environ");
        return env.find("KEEL_SERVICE=") != std::string::npos;
      });
      char c = tree_alive(-1, name) ? 'y' : 'n';
      ssize_t w = ::write(p[1], &c, 1);
      (void)w;
      ::_exit(0);
    }
    ::close(p[1]);
    char c = '?';
    ssize_t n = ::read(p[0], &c, 1);
    (void)n;
    ::close(p[0]);
    ::waitpid(asker, nullptr, 0);
    ::kill(other, SIGKILL);
    ::waitpid(other, nullptr, 0);
    return c == 'n' ? "" : std::string("a foreign process counted as the service's: ") + c;
  });
  EXPECT_EQ(result, "");
}

}  // namespace
}  // namespace keel::service
