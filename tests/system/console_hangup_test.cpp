// console_hangup_test.cpp — an interactive shell on the console ends
// promptly at power-off (issue 14, section 4).
//
// A service whose stdin is the console (`stdin = "console"`, the console
// made its controlling terminal) is sent SIGHUP before its stop signal,
// as a terminal hang-up would be: `sh -i` ignores SIGTERM, so without the
// SIGHUP it would wait out its whole stop_timeout and end by SIGKILL.
// Here keel is PID 1 of a fresh PID namespace in the system role, its
// console (fds 0 and 1, which console streams use) a pty the test holds
// the master of; the service is `/bin/sh -i` (dash on Debian) with a long
// stop_timeout. The test checks the shell ignores SIGTERM (the premise),
// asks for a power-off (SIGTERM to keel, a container's power-off), and
// asserts the order of what keel reports: the shell killed by SIGHUP,
// never by SIGKILL, and keel's exit after it. Every wait is bounded; with
// the SIGHUP step removed the shell dies by SIGKILL after its
// stop_timeout and the assertion on SIGHUP fails.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <string>

#include "harness.hpp"
#include "pty.hpp"

namespace keel::systest {
namespace {

TEST(ConsoleHangup, AnInteractiveShellOnTheConsoleEndsBySighupAtPowerOff) {
  if (!namespaces_available()) GTEST_SKIP() << "unshare --pid is not available here";
  Pty pty;
  ASSERT_TRUE(pty.ok()) << "no pty";
  TempDir config;
  ASSERT_EQ(::mkdir((config.path() + "/services").c_str(), 0755), 0);
  // A stop_timeout far beyond the test's bound on the shell's end: only
  // SIGHUP can end it in time.
  std::ofstream(config.path() + "/services/shell.toml")
      << "command = [\"/bin/sh\", \"-i\"]\nstdin = \"console\"\nstdout = \"console\"\nstderr = \"console\"\n"
         "stop_timeout = 40\n";
  // keel as PID 1 of the namespace, under the name init (the system
  // role), with fds 0 and 1 on the pty: its console. The pty is not the
  // runner's controlling terminal, so the shell's session can take it.
  Launch l = program_launch(Placement::Namespace, "/bin/sh",
                            {"-c", "exec \"$0\" <>\"$1\" >&0", keel_symlink("init"), pty.slave()});
  l.set_env.emplace_back("KEEL_CONFIG_DIR", config.path());
  l.set_env.emplace_back("KEEL_RUN_DIR", config.path() + "/run");
  l.set_env.emplace_back("KEEL_CGROUP_ROOT", "none");
  KeelRun k(l);
  ASSERT_TRUE(k.started());

  // The shell is up and interactive, and ignores SIGTERM (the premise):
  // its SigIgn, then a marker the typed line's echo cannot contain.
  EXPECT_TRUE(pty.type("grep SigIgn /proc/$$/status; echo SHELL-$((6*7))\n"));
  ASSERT_TRUE(pty.read_until("SHELL-42", 20s)) << "terminal:\n" << pty.output() << "\nkeel:\n" << k.text(Stream::Err);
  const std::size_t at = pty.output().find("SigIgn:");
  ASSERT_NE(at, std::string::npos) << pty.output();
  const std::uint64_t ignored = std::strtoull(pty.output().c_str() + at + 7, nullptr, 16);
  ASSERT_NE(ignored & sig_bit(SIGTERM), 0U) << "the interactive shell does not ignore SIGTERM:\n" << pty.output();

  // Power-off: keel stops the shell (SIGHUP, then SIGTERM) and exits.
  ASSERT_TRUE(k.signal(SIGTERM));
  const std::optional<int> code = k.wait_exit(30s);
  ASSERT_TRUE(code) << k.text(Stream::Err);
  const std::string err = k.text(Stream::Err);
  const std::size_t hup = err.find("killed by SIGHUP");
  EXPECT_NE(hup, std::string::npos) << err;
  EXPECT_EQ(err.find("killed by SIGKILL"), std::string::npos) << err;
  if (hup != std::string::npos) {
    const std::size_t start = err.rfind('\n', hup);
    const std::string line = err.substr(start == std::string::npos ? 0 : start + 1, hup - (start + 1));
    EXPECT_NE(line.find("shell: pid"), std::string::npos) << "the SIGHUP line is not the shell's:\n" << err;
  }
  // keel's end comes after the shell's.
  const std::size_t power = err.find("power-off of a container");
  EXPECT_NE(power, std::string::npos) << err;
  EXPECT_LT(hup, power) << err;
}

}  // namespace
}  // namespace keel::systest
