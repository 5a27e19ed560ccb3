// The boot loop for people (issue 14, section 4): `keel-image boot` run as
// a person or a script runs it, the real binary booting a real image (the
// host's static busybox, keel) under software emulation.
//
//   - the console fed from a file (--input, --input-after): commands typed
//     into the rescue shell, their output seen;
//   - the console on a terminal (a pseudo-terminal here): the shell is
//     interactive, Ctrl-A X quits, and the terminal's modes come back both
//     after a quit and when keel-image itself is killed.
//
// Needs the kernel cache (scripts/fetch-kernel.sh), QEMU, a static busybox
// and a static keel; skipped without.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "../unit/test_util.hpp"
#include "boot_util.hpp"
#include "image/builder.hpp"
#include "image/elf.hpp"

namespace keel::image {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

using boottest::main_program;

// What a run of keel-image gave: its exit status and all it printed.
struct Outcome {
  int status = -1;  // exit status, 128+N for signal N
  std::string out;  // stdout and stderr together (a terminal's: as the terminal showed it)
};

int exit_status(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return -1;
}

class BootLoop : public boottest::QemuBoot {
 protected:
  BootLoop() : QemuBoot("keel-bootloop-") {}

  std::vector<std::string> boot_argv(const fs::path& image, const std::vector<std::string>& more) const {
    std::vector<std::string> argv = {KEEL_IMAGE_BINARY, "boot", image.string(), "--kernel", kernel_.string()};
    argv.insert(argv.end(), more.begin(), more.end());
    return argv;
  }

  // keel-image with stdin from /dev/null and its output captured; bounded.
  static Outcome run(const std::vector<std::string>& argv, std::chrono::seconds bound = std::chrono::seconds(240)) {
    int out[2];
    EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
    const pid_t pid = fork();
    if (pid == 0) {
      const int null = open("/dev/null", O_RDONLY);
      dup2(null, 0);
      dup2(out[1], 1);
      dup2(out[1], 2);
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      setenv("KEEL_IMAGE_ACCEL", "tcg", 1);
      execv(args[0], args.data());
      _exit(127);
    }
    close(out[1]);
    Outcome r;
    const auto deadline = Clock::now() + bound;
    char buf[4096];
    for (;;) {
      pollfd p{out[0], POLLIN, 0};
      if (Clock::now() >= deadline) break;
      if (poll(&p, 1, 1000) <= 0) continue;
      const ssize_t n = read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      r.out.append(buf, static_cast<std::size_t>(n));
    }
    kill(pid, SIGKILL);  // only when the bound passed; else it has exited
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    close(out[0]);
    r.status = exit_status(wstatus);
    std::erase(r.out, '\r');
    return r;
  }
};

// keel-image on a pseudo-terminal, as a person at a terminal runs it: the
// test types into the master side and reads what the terminal shows.
class Terminal {
 public:
  explicit Terminal(const std::vector<std::string>& argv) {
    pid_ = forkpty(&master_, nullptr, nullptr, nullptr);
    if (pid_ == 0) {
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      setenv("KEEL_IMAGE_ACCEL", "tcg", 1);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;
  ~Terminal() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (master_ >= 0) close(master_);
  }

  // Reads until `pattern` shows in what was read since the last wait_for
  // matched (or the bound passes, or the terminal closes).
  bool wait_for(const std::string& pattern, std::chrono::seconds bound = std::chrono::seconds(180)) {
    const std::regex re(pattern);
    const auto deadline = Clock::now() + bound;
    while (Clock::now() < deadline) {
      std::smatch m;
      if (std::regex_search(seen_.cbegin() + static_cast<std::ptrdiff_t>(from_), seen_.cend(), m, re)) {
        from_ += static_cast<std::size_t>(m.position(0) + m.length(0));
        return true;
      }
      pollfd p{master_, POLLIN, 0};
      if (poll(&p, 1, 1000) <= 0) continue;
      char buf[4096];
      const ssize_t n = read(master_, buf, sizeof buf);
      if (n <= 0) return false;  // EIO: every slave side closed
      seen_.append(buf, static_cast<std::size_t>(n));
    }
    return false;
  }

  void type(const std::string& keys) const { ASSERT_EQ(write(master_, keys.data(), keys.size()), ssize_t(keys.size())); }

  // keel-image's exit status (bounded; -1 if it did not end).
  int wait_exit(std::chrono::seconds bound = std::chrono::seconds(30)) {
    const auto deadline = Clock::now() + bound;
    while (Clock::now() < deadline) {
      wait_for("\\x01never\\x01", std::chrono::seconds(1));  // drain the terminal
      int wstatus = 0;
      if (waitpid(pid_, &wstatus, WNOHANG) == pid_) {
        pid_ = -1;
        return exit_status(wstatus);
      }
    }
    return -1;
  }

  // The terminal's line discipline modes (the master reads the slave's).
  [[nodiscard]] termios modes() const {
    termios t{};
    tcgetattr(master_, &t);
    return t;
  }
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] const std::string& seen() const { return seen_; }

 private:
  int master_ = -1;
  pid_t pid_ = -1;
  std::string seen_;
  std::size_t from_ = 0;
};

bool cooked(const termios& t) { return (t.c_lflag & ICANON) != 0 && (t.c_lflag & ECHO) != 0 && (t.c_lflag & ISIG) != 0; }

// --input FILE with --input-after: the commands reach the rescue shell once
// its prompt shows; their output is on the console; `poweroff` ends the boot.
TEST_F(BootLoop, InputFileDrivesTheRescueShell) {
  const fs::path image = build("", "loglevel=4 single");
  const fs::path input = dir_.path() / "commands";
  testutil::write_file(input, "echo KEEL-$((6*7))\ncat /proc/cmdline\npoweroff\n");
  const Outcome r = run(boot_argv(image, {"--input", input.string(), "--input-after", "/ # ", "--expect", "^KEEL-42$",
                                      "--expect", "console=ttyS0 panic=-1 loglevel=4 single", "--expect",
                                      "reboot: Power down", "--timeout", "200"}));
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("keel-image: boot passed (3 pattern(s) matched"), std::string::npos) << r.out;
  // The interactive shell ignores SIGTERM; keel hangs it up first (SIGHUP),
  // so `poweroff` does not wait out its stop_timeout and kill it.
  EXPECT_TRUE(std::regex_search(r.out, std::regex("keel: rescue: (pid [0-9]+ )?(killed by SIGHUP|stopped)"))) << r.out;
  EXPECT_EQ(r.out.find("killed by SIGKILL"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("did not stop within"), std::string::npos) << r.out;
}

// The same commands from keel-image's own stdin (--input -).
TEST_F(BootLoop, InputFromStdin) {
  const fs::path image = build("", "loglevel=4 single");
  const fs::path input = dir_.path() / "commands";
  testutil::write_file(input, "echo KEEL-$((6*7))\npoweroff\n");
  std::vector<std::string> argv =
      boot_argv(image, {"--input", "-", "--input-after", "/ # ", "--expect", "^KEEL-42$", "--timeout", "200"});
  const std::string command = "exec < '" + input.string() + "'; exec " + [&] {
    std::string line;
    for (const std::string& a : argv) line += "'" + a + "' ";
    return line;
  }();
  const Outcome r = run({"/bin/sh", "-c", command});
  EXPECT_EQ(r.status, 0) << r.out;
}

// On a terminal: the shell is interactive, Ctrl-A X quits QEMU, keel-image
// says so (its own status), and the terminal is cooked again.
TEST_F(BootLoop, TerminalIsInteractiveAndCtrlAXQuits) {
  const fs::path image = build("", "loglevel=4 single");
  Terminal term(boot_argv(image, {}));
  ASSERT_TRUE(term.wait_for("/ # ")) << term.seen();
  EXPECT_FALSE(cooked(term.modes()));  // QEMU took it raw
  term.type("echo KEEL-$((6*7))\r");
  ASSERT_TRUE(term.wait_for("KEEL-42\r")) << term.seen();
  term.type("\x01x");
  ASSERT_TRUE(term.wait_for("QEMU: Terminated")) << term.seen();
  const int status = term.wait_exit();
  EXPECT_NE(term.seen().find("quit (Ctrl-A X)"), std::string::npos) << term.seen();
  EXPECT_EQ(status, 9) << term.seen();
  EXPECT_TRUE(cooked(term.modes()));
}

// keel-image killed (SIGTERM) while QEMU holds the terminal raw: the
// terminal comes back cooked, QEMU goes with keel-image.
TEST_F(BootLoop, TerminalIsRestoredWhenKeelImageIsKilled) {
  const fs::path image = build("", "loglevel=4 single");
  Terminal term(boot_argv(image, {}));
  ASSERT_TRUE(term.wait_for("/ # ")) << term.seen();
  EXPECT_FALSE(cooked(term.modes()));
  kill(term.pid(), SIGTERM);
  EXPECT_EQ(term.wait_exit(), 128 + SIGTERM) << term.seen();
  EXPECT_TRUE(cooked(term.modes()));
}

// --smp 2 --cpu qemu64: the guest sees two CPUs of that model; --icount
// (one CPU: with -smp 2 under -icount the guest printed nothing within 200
// s here) boots the same image to the end.
TEST_F(BootLoop, SmpCpuAndIcountReachTheGuest) {
  const fs::path image =
      build(main_program("echo NPROC=$(/bin/busybox nproc)\n"
                         "/bin/busybox grep -m1 'model name' /proc/cpuinfo\n"));
  const Outcome r = run(boot_argv(image, {"--smp", "2", "--cpu", "qemu64", "--expect", "^NPROC=2$", "--expect",
                                          "model name\\s*: QEMU Virtual CPU", "--timeout", "200"}));
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("-cpu qemu64 -m 512M -serial stdio -smp 2 -kernel"), std::string::npos) << r.out;
  const Outcome icount = run(boot_argv(image, {"--icount", "--expect", "^NPROC=1$", "--timeout", "200"}));
  EXPECT_EQ(icount.status, 0) << icount.out;
  EXPECT_NE(icount.out.find("-serial stdio -icount shift=0,sleep=off -kernel"), std::string::npos) << icount.out;
}

// The exit statuses, each from a real boot: the guest powers off (0; 4
// with --expect-reboot), reboots (3; 0 with --expect-reboot), panics (5),
// or hangs past the timeout (6).
TEST_F(BootLoop, PowerOffIsZeroUnlessARebootIsExpected) {
  const fs::path image = build(main_program("echo MAIN-RAN"));
  const Outcome r = run(boot_argv(image, {"--expect", "^MAIN-RAN$", "--timeout", "200"}));
  EXPECT_EQ(r.status, 0) << r.out;
  const Outcome wrong = run(boot_argv(image, {"--expect-reboot", "--timeout", "200"}));
  EXPECT_EQ(wrong.status, 4) << wrong.out;
  EXPECT_NE(wrong.out.find("powered off instead of rebooting"), std::string::npos) << wrong.out;
}

TEST_F(BootLoop, RebootIsThreeUnlessExpected) {
  const fs::path image = build(main_program("echo MAIN-RAN; /sbin/keelctl reboot; /bin/busybox sleep 600"));
  const Outcome r = run(boot_argv(image, {"--expect", "^MAIN-RAN$", "--timeout", "200"}));
  EXPECT_EQ(r.status, 3) << r.out;
  const Outcome expected = run(boot_argv(image, {"--expect-reboot", "--expect", "^MAIN-RAN$", "--timeout", "200"}));
  EXPECT_EQ(expected.status, 0) << expected.out;
  EXPECT_NE(expected.out.find("reboot: Restarting system"), std::string::npos) << expected.out;
}

TEST_F(BootLoop, PanicIsFive) {
  const fs::path image = build(main_program("echo c > /proc/sysrq-trigger; /bin/busybox sleep 600"));
  const Outcome r = run(boot_argv(image, {"--timeout", "200"}));
  EXPECT_EQ(r.status, 5) << r.out;
  EXPECT_NE(r.out.find("kernel panic: "), std::string::npos) << r.out;
}

TEST_F(BootLoop, TimeoutIsSix) {
  const fs::path image = build(main_program("echo MAIN-RAN; exec /bin/busybox sleep 600"));
  const Outcome r = run(boot_argv(image, {"--expect", "^MAIN-RAN$", "--timeout", "30"}));
  EXPECT_EQ(r.status, 6) << r.out;
  EXPECT_NE(r.out.find("every pattern matched but the guest did not power off"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace keel::image
