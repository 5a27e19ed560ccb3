// Unit tests for service/cgroup and service/tree_tracker: a service's whole
// process tree, double-forked daemons included, found and killed.
//
// Cgroup tests work in a scratch directory made inside the host's cgroup2
// mount (found in /proc/self/mountinfo; skipped with a message when there
// is none or it is not writable). Services are started through the exec
// plan, so the child moves itself into its cgroup before exec, as in
// keel. The tree tracker tests use no cgroup: a shell whose grandchild
// calls setsid() is found from /proc/PID/stat and the ids the tracker
// remembers (tree_tracker.hpp's rules), never from its environment.
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

// A process as /proc/PID/stat shows it, for the tests' own checks.
struct Proc {
  pid_t pid = 0;
  std::string comm;
  pid_t ppid = 0;
  pid_t sid = 0;
};

std::vector<Proc> processes() {
  std::vector<Proc> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string file = entry.path().filename().string();
    if (file.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = slurp(entry.path() / "stat");
    std::size_t open = stat.find('(');
    std::size_t close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    Proc p;
    p.pid = std::atoi(file.c_str());
    p.comm = stat.substr(open + 1, close - open - 1);
    std::istringstream rest(stat.substr(close + 2));
    std::string state;
    pid_t pgrp = 0;
    rest >> state >> p.ppid >> pgrp >> p.sid;
    if (state != "Z") out.push_back(p);
  }
  return out;
}

// A service started as keel starts one (its own session and group), with
// this process as its subreaper.
Result<pid_t> start_service(const std::string& script) {
  static ServiceConfig c;
  c.name = "tracker";
  c.command = {"/bin/sh", "-c", script};
  c.stdout_ = {StreamKind::Null, {}};
  c.stderr_ = {StreamKind::Null, {}};
  ExecInputs in;
  in.config = &c;
  ExecPlan plan;
  std::string error;
  if (!build_exec_plan(in, plan, error)) return Error{0, "build_exec_plan"};
  return spawn_service(plan);
}

// The escaped daemon of "(setsid sleep N &)": a sleep that leads its own
// session and has been re-parented to us (its subshell has exited).
pid_t escaped_orphan(pid_t service) {
  pid_t escaped = -1;
  wait_for([&] {
    for (const Proc& p : processes()) {
      if (p.comm == "sleep" && p.ppid == ::getpid() && p.sid == p.pid && p.pid != service) escaped = p.pid;
    }
    return escaped > 0;
  });
  return escaped;
}

TEST(TreeTracker, DoubleForkedSetsidDaemonIsFoundWhenItsServiceRunsAlone) {
  // keel is a subreaper (or PID 1): the escaped grandchild is re-parented
  // to it. The test does the same in a child of its own, so the flag does
  // not leak into other tests. Nothing links the orphan to the service
  // any more (its subshell is gone before the first walk): rule 3 finds
  // it, as no other service runs.
  std::string result = testutil::run_in_child([]() -> std::string {
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return "PR_SET_CHILD_SUBREAPER failed";
    auto r = start_service("(setsid sleep 100 &); exec sleep 100");
    if (!r.ok()) return r.error().context;
    pid_t pid = r.value();
    ServiceTracker t;
    t.begin_run(pid);
    pid_t escaped = escaped_orphan(pid);
    if (escaped < 0) return "the setsid grandchild did not appear";
    if (in_tree(t, escaped)) return "the orphan may speak for the service (rule 3 is for stops only)";
    if (!tree_alive(t, true)) return "tree_alive is false";
    int signalled = signal_tree(t, true, SIGKILL);
    if (signalled < 2) return "signalled " + std::to_string(signalled) + ", expected 2";
    for (int status = 0; ::wait(&status) > 0;) {
    }
    if (tree_alive(t, true)) return "pid " + std::to_string(escaped) + " survived";
    return "";
  });
  EXPECT_EQ(result, "");
}

TEST(TreeTracker, AnUnlinkedOrphanIsLeftAloneWhileAnotherServiceRuns) {
  // The documented escape: with another service running, the orphan could
  // be either's, and it is neither's.
  std::string result = testutil::run_in_child([]() -> std::string {
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return "PR_SET_CHILD_SUBREAPER failed";
    auto r = start_service("(setsid sleep 100 &); exec sleep 100");
    if (!r.ok()) return r.error().context;
    pid_t pid = r.value();
    ServiceTracker t;
    t.begin_run(pid);
    pid_t escaped = escaped_orphan(pid);
    if (escaped < 0) return "the setsid grandchild did not appear";
    int signalled = signal_tree(t, false, SIGKILL);
    if (signalled != 1) return "signalled " + std::to_string(signalled) + ", expected only the main process";
    ::waitpid(pid, nullptr, 0);
    if (tree_alive(t, false)) return "still alive after its main process";
    bool orphan_lives = ::kill(escaped, 0) == 0;
    ::kill(escaped, SIGKILL);
    for (int status = 0; ::wait(&status) > 0;) {
    }
    return orphan_lives ? "" : "the orphan was signalled";
  });
  EXPECT_EQ(result, "");
}

TEST(TreeTracker, ADaemonSeenOnceIsFoundAfterItsParentHasGone) {
  // A daemon (setsid, then a child of its own) seen by one walk is
  // remembered by its pid: once it is gone, its orphan, whose session
  // bears that number, is still the service's, with other services
  // running (no rule 3).
  std::string result = testutil::run_in_child([]() -> std::string {
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return "PR_SET_CHILD_SUBREAPER failed";
    auto r = start_service("setsid sh -c 'sleep 101 & exec sleep 102' & wait; exec sleep 100");
    if (!r.ok()) return r.error().context;
    pid_t pid = r.value();
    ServiceTracker t;
    t.begin_run(pid);
    pid_t daemon = -1;
    pid_t orphan = -1;
    wait_for([&] {
      for (const Proc& p : processes()) {
        if (p.ppid == pid && p.sid == p.pid) daemon = p.pid;
      }
      for (const Proc& p : processes()) {
        if (daemon > 0 && p.ppid == daemon && p.comm == "sleep") orphan = p.pid;
      }
      return orphan > 0;
    });
    if (orphan < 0) return "the daemon's child did not appear";
    if (!in_tree(t, orphan)) return "the daemon's child is not in the tree";
    if (!tree_alive(t, false)) return "tree_alive is false";  // a walk: learns the daemon
    // The service's shell reaps it: no trace of it is left in /proc.
    ::kill(daemon, SIGKILL);
    if (!wait_for([&] {
          bool reparented = false;
          for (const Proc& p : processes()) {
            if (p.pid == orphan) reparented = p.ppid == ::getpid();
          }
          return reparented && ::access(("/proc/" + std::to_string(daemon)).c_str(), F_OK) != 0;
        })) {
      return "the daemon's child was not re-parented to us, or the daemon not reaped";
    }
    if (!in_tree(t, orphan)) return "the orphan is not in the tree once its parent has gone";
    int signalled = signal_tree(t, false, SIGKILL);
    if (signalled < 2) return "signalled " + std::to_string(signalled) + ", expected 2";
    for (int status = 0; ::wait(&status) > 0;) {
    }
    if (tree_alive(t, false)) return "something survived";
    return "";
  });
  EXPECT_EQ(result, "");
}

TEST(TreeTracker, AProcessOutsideKeelsTreeIsNotItsBusiness) {
  // Another keel on the same machine, or a pid remembered for a service
  // and since reused outside keel's tree: a process that does not descend
  // from keel is left alone, even with a known id.
  std::string result = testutil::run_in_child([&]() -> std::string {
    pid_t other = ::fork();
    if (other == 0) {
      ::setsid();
      char* argv[] = {const_cast<char*>("/bin/sleep"), const_cast<char*>("100"), nullptr};
      ::execv("/bin/sleep", argv);
      ::_exit(127);
    }
    // Now a sibling process (not its ancestor) asks, knowing its id.
    int p[2];
    if (::pipe(p) != 0) return "pipe";
    pid_t asker = ::fork();
    if (asker == 0) {
      ::close(p[0]);
      wait_for([&] { return ::getsid(other) == other; });
      ServiceTracker t;
      t.begin_run(other);
      char c = tree_alive(t, true) || in_tree(t, other) || signal_tree(t, true, SIGKILL) != 0 ? 'y' : 'n';
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
    bool alive = ::kill(other, 0) == 0;
    ::kill(other, SIGKILL);
    ::waitpid(other, nullptr, 0);
    if (!alive) return "the foreign process was killed";
    return c == 'n' ? "" : std::string("a foreign process counted as the service's: ") + c;
  });
  EXPECT_EQ(result, "");
}

}  // namespace
}  // namespace keel::service
