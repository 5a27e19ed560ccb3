// The end of the shutdown sequence (src/system/shutdown.hpp) and the
// reboot/poweroff/halt commands (src/system/power_command.hpp), for real:
// each scenario runs as PID 1 of a fresh PID namespace with its own mount
// namespace, so kill(-1) reaches only the scenario's processes, the mounts
// are private tmpfs, and reboot(2) ends the namespace (SIGINT for power-off
// and halt, SIGHUP for reboot) — which the test sees as how its PID 1 died.
//
// Needs root (CLONE_NEWPID, CLONE_NEWNS, mount, CAP_SYS_BOOT); skipped
// without.
#include "system/shutdown.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/log.hpp"
#include "stuck_fuse.hpp"
#include "system/power_command.hpp"
#include "test_util.hpp"

namespace keel {
namespace {

namespace fs = std::filesystem;

bool can_unshare() {
  return testutil::in_child([] { return ::unshare(CLONE_NEWPID | CLONE_NEWNS) == 0 ? 0 : 1; }) == 0;
}

// Runs `body` as PID 1 of a new PID + mount namespace (mounts private).
// Returns how that PID 1 ended: its exit status, or 100+N when killed by
// signal N (reboot(2) in a PID namespace: SIGINT power-off/halt, SIGHUP
// reboot); -1 on timeout.
int as_namespace_init(const std::function<int()>& body, int timeout_ms = 30000) {
  return testutil::in_child(
      [&] {
        if (::unshare(CLONE_NEWPID | CLONE_NEWNS) != 0) return 90;
        pid_t init = ::fork();
        if (init < 0) return 91;
        if (init == 0) {
          // If the test gives up on us (in_child kills our parent), the
          // whole namespace goes.
          ::prctl(PR_SET_PDEATHSIG, SIGKILL);
          if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(92);
          ::_exit(body());
        }
        int status = 0;
        while (::waitpid(init, &status, 0) < 0 && errno == EINTR) {
        }
        return WIFSIGNALED(status) ? 100 + WTERMSIG(status) : WEXITSTATUS(status);
      },
      timeout_ms);
}

class ShutdownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || !can_unshare()) GTEST_SKIP() << "needs root for PID and mount namespaces";
    mnt_ = dir_.path() / "mnt";
    fs::create_directories(mnt_);
    log_path_ = dir_.path() / "log";
  }

  // In the namespace: keel's messages go to the log file, Info and up.
  void log_to_file() const {
    int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    log::set_fd(fd);
    log::set_verbosity(static_cast<int>(log::Level::Info));
  }

  [[nodiscard]] std::vector<std::string> log_lines() const {
    std::vector<std::string> out;
    std::string text = testutil::slurp(log_path_);
    std::size_t at = 0;
    while (at < text.size()) {
      std::size_t nl = text.find('\n', at);
      if (nl == std::string::npos) nl = text.size();
      out.push_back(text.substr(at, nl - at));
      at = nl + 1;
    }
    return out;
  }

  // The index of the first line at or after `from` containing `needle`, or -1.
  [[nodiscard]] static int find(const std::vector<std::string>& lines, const std::string& needle, int from = 0) {
    for (int i = from; i < static_cast<int>(lines.size()); ++i) {
      if (lines[static_cast<std::size_t>(i)].find(needle) != std::string::npos) return i;
    }
    return -1;
  }

  [[nodiscard]] std::string dump() const { return "log:\n" + testutil::slurp(log_path_); }

  testutil::TempDir dir_{"keel-shutdown-"};
  fs::path mnt_;
  fs::path log_path_;
};

int g_hook_fd = -1;

// The seed-refresh stand-in: it must run after every process is gone.
void hook(void* context) {
  const bool no_children = ::waitpid(-1, nullptr, WNOHANG) < 0 && errno == ECHILD;
  log::write_line(g_hook_fd, "HOOK context=%s children=%s", static_cast<const char*>(context),
                  no_children ? "none" : "some");
}

TEST_F(ShutdownTest, EndsProcessesThenUnmountsInReverseOrderAndPowersOff) {
  const std::string m = mnt_.string();
  int how = as_namespace_init([&] {
    log_to_file();
    g_hook_fd = log::fd();
    for (const char* sub : {"", "/a", "/a/b with space", "/c", "/d"}) {
      ::mkdir((m + sub).c_str(), 0755);
      if (::mount("tmpfs", (m + sub).c_str(), "tmpfs", 0, "size=1m") != 0) return 10;
    }
    // /c is held open for writing by PID 1 (cannot even go read-only), /d
    // for reading (read-only, then detached).
    if (::open((m + "/c/w").c_str(), O_WRONLY | O_CREAT, 0644) < 0) return 11;
    ::close(::open((m + "/d/r").c_str(), O_WRONLY | O_CREAT, 0644));
    if (::open((m + "/d/r").c_str(), O_RDONLY) < 0) return 12;

    int p[2];
    if (::pipe(p) != 0) return 13;
    // A plain process, a stopped one (needs the SIGCONT to see its
    // SIGTERM), and an orphan whose parent exited.
    if (::fork() == 0) {
      (void)::write(p[1], "a", 1);
      for (;;) ::pause();
    }
    pid_t stopped = ::fork();
    if (stopped == 0) {
      (void)::write(p[1], "b", 1);
      ::raise(SIGSTOP);
      for (;;) ::pause();
    }
    if (::fork() == 0) {
      if (::fork() == 0) {
        (void)::write(p[1], "c", 1);
        for (;;) ::pause();
      }
      ::_exit(0);
    }
    char buf[3];
    for (std::size_t got = 0; got < 3;) {
      ssize_t n = ::read(p[0], buf, 3 - got);
      if (n <= 0) return 14;
      got += static_cast<std::size_t>(n);
    }
    int status = 0;
    if (::waitpid(stopped, &status, WUNTRACED) != stopped || !WIFSTOPPED(status)) return 15;

    ShutdownOptions options;
    options.namespace_init = true;
    options.grace_ns = 20'000'000'000;  // the grace ends when the last one is gone, not after 20 s
    options.before_sync = hook;
    options.context = const_cast<char*>("seed");
    options.subtree = m.c_str();
    finish_shutdown(PowerAction::PowerOff, options);
    return 3;  // reboot(2) returned
  });
  ASSERT_EQ(how, 100 + SIGINT) << dump();

  const auto lines = log_lines();
  int term = find(lines, "SIGTERM to the remaining processes");
  ASSERT_GE(term, 0) << dump();
  EXPECT_EQ(find(lines, "grace period"), -1) << dump();
  int none = find(lines, "no process left (4 reaped)", term);  // three children and the orphan
  ASSERT_GT(none, term) << dump();
  // "shutdown +1234.5 ms: ...": well inside the 20 s grace period.
  const std::string& line = lines[static_cast<std::size_t>(none)];
  double ms = std::stod(line.substr(line.find('+') + 1));
  EXPECT_LT(ms, 10000.0) << line;
  int hook_line = find(lines, "HOOK context=seed children=none", none);
  ASSERT_GT(hook_line, none) << dump();
  int synced = find(lines, "synced", hook_line);
  ASSERT_GT(synced, hook_line) << dump();
  int ab = find(lines, "unmounted " + m + "/a/b with space (tmpfs tmpfs)", synced);
  int a = find(lines, "unmounted " + m + "/a (tmpfs", synced);
  int d = find(lines, m + "/d (tmpfs tmpfs) busy: remounted read-only, detached", synced);
  int c = find(lines, m + "/c (tmpfs tmpfs) busy and not remountable read-only (Device or resource busy): detached",
                synced);
  int top = find(lines, "unmounted " + m + " (tmpfs", synced);
  EXPECT_GT(ab, synced) << dump();
  EXPECT_GT(a, ab) << dump();  // a child before its parent
  EXPECT_GT(d, a) << dump();
  EXPECT_GT(c, d) << dump();
  EXPECT_GT(top, c) << dump();  // once its busy children were detached, the top one unmounts cleanly
  EXPECT_GT(find(lines, "filesystems: 3 unmounted, 1 read-only, 1 only detached, 0 failed", top), top) << dump();
  EXPECT_GT(find(lines, "syncing filesystems, then power-off (shutdown +", top), top) << dump();
}

TEST_F(ShutdownTest, SigkillAfterTheGracePeriodThenReboot) {
  int how = as_namespace_init([&] {
    log_to_file();
    int p[2];
    if (::pipe(p) != 0) return 13;
    if (::fork() == 0) {
      ::signal(SIGTERM, SIG_IGN);
      (void)::write(p[1], "a", 1);
      for (;;) ::pause();
    }
    char c = 0;
    if (::read(p[0], &c, 1) != 1) return 14;
    ShutdownOptions options;
    options.namespace_init = true;
    options.grace_ns = 300'000'000;
    options.subtree = "/nonexistent-keel-subtree";  // no filesystem work
    finish_shutdown(PowerAction::Reboot, options);
    return 3;
  });
  ASSERT_EQ(how, 100 + SIGHUP) << dump();
  const auto lines = log_lines();
  int over = find(lines, "grace period of 300 ms over: SIGKILL to what is left");
  ASSERT_GE(over, 0) << dump();
  EXPECT_GT(find(lines, "no process left (1 reaped)", over), over) << dump();
  EXPECT_GT(find(lines, "filesystems: 0 unmounted", over), over) << dump();
  EXPECT_GT(find(lines, "syncing filesystems, then reboot", over), over) << dump();
}

TEST_F(ShutdownTest, AnUnmountThatHangsIsGivenUpAndTheRestIsUnmounted) {
  // The mount table as the shutdown reads it: a filesystem behind a FUSE
  // mount whose daemon (this test) never answers, so the path lookup of
  // every call on it hangs — a dead NFS server, for the shutdown — and a
  // healthy tmpfs mounted before it (so handled after it).
  const std::string m = mnt_.string();
  const std::string dead = (dir_.path() / "fuse").string();
  const std::string info = (dir_.path() / "mountinfo").string();
  testutil::write_file(info, "36 25 0:40 / " + m + " rw - tmpfs tmpfs rw\n" + "37 25 0:41 / " + dead +
                                 "/data rw - ext4 /dev/keel-test-dead rw\n");
  const std::string subtree = dir_.path().string();
  int rc = testutil::in_child(
      [&] {
        if (::unshare(CLONE_NEWNS) != 0) return 90;
        if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 91;
        sigset_t chld;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        ::sigprocmask(SIG_BLOCK, &chld, nullptr);  // before the server thread starts: it inherits the mask
        log_to_file();
        if (::mount("tmpfs", m.c_str(), "tmpfs", 0, "size=1m") != 0) return 92;
        testutil::StuckFuse stuck(dead);
        if (!stuck.error().empty()) return 93;
        ShutdownOptions options;
        options.subtree = subtree.c_str();
        options.mountinfo = info.c_str();
        options.mount_call_ns = 300'000'000;
        const UnmountSummary s = unmount_filesystems(options);
        // The children left in the kernel go on once the connection is
        // aborted; reap them.
        stuck.release();
        while (::waitpid(-1, nullptr, 0) > 0) {
        }
        if (s.unmounted != 1) return 10;
        if (s.timed_out != 1) return 11;
        if (s.failed != 1) return 12;
        return 0;
      },
      60'000);
  ASSERT_EQ(rc, 0) << dump();
  const auto lines = log_lines();
  const int left = find(lines, dead +
                                   "/data (ext4 /dev/keel-test-dead): neither the unmount nor the detach returned "
                                   "in time: left mounted");
  ASSERT_GE(left, 0) << dump();
  EXPECT_GT(find(lines, "unmounted " + m + " (tmpfs tmpfs)", left), left) << dump();  // and the step went on
}

TEST_F(ShutdownTest, RefusedWhenNotPid1) {
  // In a PID namespace, so that a broken check could only hit the scenario.
  int how = as_namespace_init([&] {
    log_to_file();
    pid_t pid = ::fork();
    if (pid == 0) {
      finish_shutdown(PowerAction::PowerOff, ShutdownOptions{});
      ::_exit(7);  // returned: refused
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 50;
  });
  EXPECT_EQ(how, 7) << dump();
  EXPECT_GE(find(log_lines(), "power-off refused: keel is not PID 1"), 0) << dump();
}

TEST(ShutdownMountinfo, ParsesEscapesAndOptionalFields) {
  char text[] =
      "22 1 0:21 / / rw,relatime - rootfs rootfs rw\n"
      "25 22 0:5 / /proc rw,nosuid shared:2 - proc proc rw\n"
      "40 22 254:0 /sub /mnt/with\\040space rw master:1 shared:7 - ext4 /dev/vda rw\n"
      "bad line\n"
      "41 40 0:40 / /mnt/back\\134slash rw - fuse.sshfs a@b:/ rw";
  MountEntry entries[8];
  std::size_t n = parse_mountinfo(text, std::strlen(text), entries, 8);
  ASSERT_EQ(n, 4u);
  EXPECT_STREQ(entries[0].target, "/");
  EXPECT_STREQ(entries[0].type, "rootfs");
  EXPECT_STREQ(entries[1].target, "/proc");
  EXPECT_STREQ(entries[2].target, "/mnt/with space");
  EXPECT_STREQ(entries[2].type, "ext4");
  EXPECT_STREQ(entries[2].source, "/dev/vda");
  EXPECT_TRUE(entries[2].bind_of_subdir);
  EXPECT_FALSE(entries[1].bind_of_subdir);
  EXPECT_STREQ(entries[3].target, "/mnt/back\\slash");
  EXPECT_STREQ(entries[3].type, "fuse.sshfs");
  // The bound is kept.
  char again[] = "1 0 0:1 / / rw - ext4 /dev/sda rw\n2 1 0:2 / /x rw - ext4 /dev/sdb rw\n";
  EXPECT_EQ(parse_mountinfo(again, std::strlen(again), entries, 1), 1u);
}

TEST(ShutdownMountinfo, VirtualFilesystemsStayMounted) {
  for (const char* v : {"proc", "sysfs", "devtmpfs", "devpts", "tmpfs", "cgroup2", "rootfs", "ramfs"})
    EXPECT_TRUE(is_virtual_filesystem(v)) << v;
  for (const char* real : {"ext4", "xfs", "vfat", "nfs4", "overlay", "fuse.sshfs", "btrfs", "9p"})
    EXPECT_FALSE(is_virtual_filesystem(real)) << real;
}

// ---- reboot / poweroff / halt ----------------------------------------------

int run_command(std::vector<std::string> args) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return run_power_command(static_cast<int>(args.size()), argv.data());
}

TEST(PowerCommand, NamesHelpAndUsageErrors) {
  EXPECT_TRUE(is_power_command("/sbin/reboot"));
  EXPECT_TRUE(is_power_command("poweroff"));
  EXPECT_TRUE(is_power_command("halt"));
  EXPECT_FALSE(is_power_command("keel"));
  EXPECT_FALSE(is_power_command("rebooted"));
  // Each in a child: stdout/stderr are the child's, and nothing can reach
  // PID 1 by mistake (every case here stops at parsing).
  EXPECT_EQ(testutil::in_child([] { return run_command({"poweroff", "--help"}); }), 0);
  EXPECT_EQ(testutil::in_child([] { return run_command({"reboot", "-x"}); }), 2);
  EXPECT_EQ(testutil::in_child([] { return run_command({"halt", "--nope"}); }), 2);
  EXPECT_EQ(testutil::in_child([] { return run_command({"halt", "now"}); }), 2);
  EXPECT_EQ(testutil::in_child([] { return run_command({"reboot", "-n"}); }), 2);  // -n needs -f
}

class PowerCommandNs : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || !can_unshare()) GTEST_SKIP() << "needs root for a PID namespace";
  }
};

// Without -f: PID 1 gets BusyBox init's signal for the command.
TEST_F(PowerCommandNs, AsksPid1WithBusyBoxSignals) {
  struct Case {
    const char* name;
    int signo;
  };
  for (Case c : {Case{"reboot", SIGTERM}, Case{"poweroff", SIGUSR2}, Case{"halt", SIGUSR1}}) {
    int how = as_namespace_init([&] {
      sigset_t set;
      sigemptyset(&set);
      for (int s : {SIGTERM, SIGUSR1, SIGUSR2}) sigaddset(&set, s);
      ::sigprocmask(SIG_BLOCK, &set, nullptr);  // blocked: delivered to a namespace's init
      pid_t pid = ::fork();
      if (pid == 0) ::_exit(run_command({std::string("/sbin/") + c.name}));
      int status = 0;
      ::waitpid(pid, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 20;
      const timespec timeout{5, 0};
      return ::sigtimedwait(&set, nullptr, &timeout);
    });
    EXPECT_EQ(how, c.signo) << c.name;
  }
}

// With -f: reboot(2) at once, from any process; in a PID namespace it ends
// the namespace the way the action says.
TEST_F(PowerCommandNs, ForceCallsRebootDirectly) {
  struct Case {
    const char* name;
    int ended_by;
  };
  for (Case c : {Case{"reboot", SIGHUP}, Case{"poweroff", SIGINT}, Case{"halt", SIGINT}}) {
    int how = as_namespace_init([&] {
      pid_t pid = ::fork();
      if (pid == 0) ::_exit(run_command({c.name, "-f"}));
      for (;;) ::pause();  // ended by the kernel
      return 0;
    });
    EXPECT_EQ(how, 100 + c.ended_by) << c.name;
  }
}

}  // namespace
}  // namespace keel
