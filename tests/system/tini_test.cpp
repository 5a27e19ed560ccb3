// tini_test.cpp — keel's tini personality, driven from outside.
//
// Every scenario runs the real keel binary under the name `tini` (a symlink
// in a temp dir; `keel --compat=tini` and `tini-static` once each). The
// Tini.* tests always run. The TiniParity.* tests run the same scenario
// with the real /usr/bin/tini (Debian's 0.19.0) and check that keel matches
// it: the same exit code and the same lines on the same streams once pids
// and version strings are normalised. They skip when the real tool is not
// installed.
//
// The personality symlinks, the run-to-the-end wrapper, order-independent
// line waits, the probe's lines and the signal barrier (SIGRTMIN straight to
// a probe process, to prove a signal did NOT arrive) are in harness.hpp;
// local here are the launch with tini's variables unset and output
// normalisation.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "harness.hpp"

namespace keel::systest {
namespace {

constexpr const char* kRealTini = "/usr/bin/tini";
constexpr const char* kRealTiniStatic = "/usr/bin/tini-static";

std::string keel_tini() { return keel_symlink("tini"); }
std::string keel_tini_static() { return keel_symlink("tini-static"); }

std::string base_name(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// A launch of `tool` with a clean tini environment (the variables tini reads
// are unset unless a test sets them).
Launch tini_launch(const std::string& tool, std::vector<std::string> args) {
  Launch l;
  l.program = tool;
  l.args = std::move(args);
  l.unset_env = {"TINI_SUBREAPER", "TINI_KILL_PROCESS_GROUP", "TINI_VERBOSITY", "POSIXLY_CORRECT"};
  return l;
}

// Pids and version strings out, the tool's path as its base name.
std::string normalize(std::string text, const std::string& tool) {
  replace_all(text, tool, base_name(tool));
  static const std::pair<std::regex, std::string> rules[] = {
      {std::regex(R"(tini \(\d+\))"), "tini (PID)"},
      {std::regex(R"(pid '\d+')"), "pid 'N'"},
      {std::regex(R"(pid: '\d+')"), "pid: 'N'"},
      {std::regex(R"(pid=\d+)"), "pid=N"},
      {std::regex(R"( - keel \d+\.\d+\.\d+)"), ""},
  };
  for (const auto& [re, with] : rules) text = std::regex_replace(text, re, with);
  return text;
}

class TiniParity : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!installed(kRealTini)) {
      GTEST_SKIP() << kRealTini << " is not installed (apt-get install tini): parity half skipped; "
                   << "the Tini.* tests still check keel on its own";
    }
  }
};

const char kWarning[] =
    "Tini is not running as PID 1 and isn't registered as a child subreaper.\n"
    "Zombie processes will not be re-parented to Tini, so zombie reaping won't work.\n"
    "To fix the problem, use the -s option or set the environment variable TINI_SUBREAPER to register Tini as a "
    "child subreaper, or run Tini as PID 1.\n";

// ======================================================== subreaper, -w

// With -s, orphans of the child re-parent to tini (not PID 1 here) and are
// reaped: no zombie under it, nothing re-parented past it to the test.
void check_subreaper_reaps_orphans(const std::string& tool) {
  KeelRun r(tini_launch(tool, {"-s", "--", kProbe, "orphans", "5", "--wait"}));
  ASSERT_TRUE(r.find_line(Stream::Out, "done 5"));
  pid_t k = r.keel_pid();
  EXPECT_TRUE(poll_until([&] { return count_zombies(k) == 0 && descendants(k).size() == 1; }, 5s))
      << tool << " left zombies or orphans below it";
  EXPECT_TRUE(leftover_processes().empty()) << "orphans escaped " << tool << " to the test process";
  EXPECT_EQ(r.text(Stream::Err), "");
  r.close_stdin();
  EXPECT_EQ(r.wait_exit(), 0);
}

TEST(Tini, SubreaperFlagReapsOrphans) {
  check_subreaper_reaps_orphans(keel_tini());
  // Control: without -s (and not PID 1) the same orphans pass tini by and
  // land on the test process, so the check above can fail.
  KeelRun r(tini_launch(keel_tini(), {"--", kProbe, "orphans", "3", "--wait"}));
  ASSERT_TRUE(r.find_line(Stream::Out, "done 3"));
  EXPECT_TRUE(poll_until([] { return leftover_processes().size() == 3; }, 5s));
  EXPECT_EQ(reap_leftovers(), 3);
  r.close_stdin();
  EXPECT_EQ(r.wait_exit(), 0);
}

TEST_F(TiniParity, SubreaperFlagReapsOrphans) { check_subreaper_reaps_orphans(kRealTini); }

// -w: one "Reaped zombie process with pid=N" warning on stderr per orphan
// reaped, N being the orphan's pid; none for the main child.
void check_warn_on_reap(const std::string& tool) {
  KeelRun r(tini_launch(tool, {"-s", "-w", "--", kProbe, "orphans", "3", "--wait"}));
  ASSERT_TRUE(r.find_line(Stream::Out, "done 3"));
  pid_t k = r.keel_pid();
  std::regex re("\\[WARN  tini \\(" + std::to_string(k) + "\\)\\] Reaped zombie process with pid=(\\d+)");
  for (int i = 0; i < 3; ++i) {
    auto line = r.find_line(Stream::Err, [&](const std::string& l) { return std::regex_match(l, re); });
    ASSERT_TRUE(line) << "warning " << i + 1 << " of 3 missing; stderr:\n" << r.text(Stream::Err);
  }
  r.close_stdin();
  EXPECT_EQ(r.wait_exit(), 0);
  EXPECT_EQ(count_lines(r.text(Stream::Err)), 3) << r.text(Stream::Err);  // not for the main child
  EXPECT_FALSE(contains(r.text(Stream::Out), "Reaped"));
}

TEST(Tini, WarnOnReapFlag) { check_warn_on_reap(keel_tini()); }
TEST_F(TiniParity, WarnOnReapFlag) { check_warn_on_reap(kRealTini); }

// ===================================================== the PID 1 warning

TEST(Tini, WarnsWhenNeitherPid1NorSubreaper) {
  auto o = run_through(tini_launch(keel_tini(), {"--", kProbe, "exit", "0"}));
  EXPECT_EQ(o.code, 0);
  EXPECT_EQ(o.err, "[WARN  tini (" + std::to_string(o.pid) + ")] " + kWarning);
  EXPECT_FALSE(contains(o.out, "Tini is not running"));
}

TEST(Tini, NoWarningWithSubreaperFlagOrVariableOrAsPid1) {
  const std::string needle = "Tini is not running as PID 1 and isn't registered as a child subreaper";
  auto flag = run_through(tini_launch(keel_tini(), {"-s", "--", kProbe, "exit", "0"}));
  EXPECT_EQ(flag.code, 0);
  EXPECT_FALSE(contains(flag.err, needle)) << flag.err;
  for (const char* value : {"", "1", "0"}) {  // set at all, whatever the value
    auto l = tini_launch(keel_tini(), {"--", kProbe, "exit", "0"});
    l.set_env = {{"TINI_SUBREAPER", value}};
    auto env = run_through(l);
    EXPECT_EQ(env.code, 0);
    EXPECT_FALSE(contains(env.err, needle)) << "TINI_SUBREAPER='" << value << "': " << env.err;
  }
  if (namespaces_available()) {
    auto l = tini_launch(keel_tini(), {"--", kProbe, "exit", "0"});
    l.placement = Placement::Namespace;
    auto pid1 = run_through(l);
    EXPECT_EQ(pid1.code, 0);
    EXPECT_FALSE(contains(pid1.err, needle)) << "as PID 1: " << pid1.err;
  }
}

TEST_F(TiniParity, WarningText) {
  for (const char* env : {static_cast<const char*>(nullptr), "", "1"}) {
    auto lk = tini_launch(keel_tini(), {"--", kProbe, "exit", "0"});
    auto lr = tini_launch(kRealTini, {"--", kProbe, "exit", "0"});
    if (env != nullptr) lk.set_env = lr.set_env = {{"TINI_SUBREAPER", env}};
    auto k = run_through(lk);
    auto t = run_through(lr);
    EXPECT_EQ(k.code, t.code);
    EXPECT_EQ(normalize(k.err, keel_tini()), normalize(t.err, kRealTini))
        << "TINI_SUBREAPER=" << (env != nullptr ? env : "(unset)");
  }
}

// =================================================== -g, process groups

// Signals sent to tini reach the child's whole group (`probe signals
// --child`: the child and its own child, same group) or only the child.
void check_group_delivery(const std::string& tool, const std::vector<std::string>& flags,
                          const std::vector<std::pair<std::string, std::string>>& env, bool expect_group) {
  std::vector<std::string> args = flags;
  for (const char* a : {"-s", "--", kProbe, "signals", "--child"}) args.emplace_back(a);
  auto l = tini_launch(tool, args);
  l.set_env = env;
  KeelRun r(l);
  auto rd = wait_ready(r);
  ASSERT_TRUE(rd);
  ASSERT_TRUE(r.signal(SIGUSR1));
  EXPECT_TRUE(saw(r, Stream::Out, got(SIGUSR1, rd->pid))) << "the main child did not get SIGUSR1";
  ASSERT_TRUE(barrier(r, rd->child));
  EXPECT_EQ(any_line(r, Stream::Out, got(SIGUSR1, rd->child)), expect_group)
      << tool << (expect_group ? ": the group member did not get SIGUSR1" : ": SIGUSR1 went to the whole group");
  r.close_stdin();
  EXPECT_EQ(r.wait_exit(), 0);
}

TEST(Tini, GroupFlagSignalsTheProcessGroup) { check_group_delivery(keel_tini(), {"-g"}, {}, true); }
TEST(Tini, KillProcessGroupVariableSignalsTheProcessGroup) {
  check_group_delivery(keel_tini(), {}, {{"TINI_KILL_PROCESS_GROUP", ""}}, true);
}
TEST(Tini, WithoutGroupOnlyTheChildIsSignalled) { check_group_delivery(keel_tini(), {}, {}, false); }

TEST_F(TiniParity, GroupDelivery) {
  check_group_delivery(kRealTini, {"-g"}, {}, true);
  check_group_delivery(kRealTini, {}, {{"TINI_KILL_PROCESS_GROUP", ""}}, true);
  check_group_delivery(kRealTini, {}, {}, false);
}

// The child leads its own process group (not tini's), as PID 1 too.
void check_own_process_group(const std::string& tool, Placement placement) {
  auto l = tini_launch(tool, {"-s", "--", kProbe, "status", "--wait"});
  l.placement = placement;
  KeelRun r(l);
  ASSERT_TRUE(r.find_line(Stream::Out, "cwd "));
  pid_t k = r.keel_pid();
  auto lines = r.lines(Stream::Out);
  auto pid = status_value(lines, "pid");
  auto pgid = status_value(lines, "pgid");
  ASSERT_TRUE(pid && pgid);
  EXPECT_EQ(*pgid, *pid) << tool << " (" << placement_name(placement) << ")";
  if (placement == Placement::Subreaper) {
    EXPECT_NE(std::to_string(::getpgid(k)), *pgid);
  }
  r.close_stdin();
  EXPECT_EQ(r.wait_exit(), 0);
}

TEST(Tini, ChildLeadsItsOwnProcessGroup) {
  check_own_process_group(keel_tini(), Placement::Subreaper);
  if (namespaces_available()) check_own_process_group(keel_tini(), Placement::Namespace);
}
TEST_F(TiniParity, ChildLeadsItsOwnProcessGroup) {
  check_own_process_group(kRealTini, Placement::Subreaper);
  if (namespaces_available()) check_own_process_group(kRealTini, Placement::Namespace);
}

// ================================================= signal state, forwarding

// Started with SIGUSR1 ignored and SIGUSR2 blocked, tini's child has
// exactly those: tini passes on its original mask and ignored set.
void check_inherited_signal_state(const std::string& tool) {
  auto l = tini_launch(tool, {"-s", "--", kProbe, "status"});
  l.ignore = {SIGUSR1};
  l.block = {SIGUSR2};
  KeelRun r(l);
  ASSERT_TRUE(r.find_line(Stream::Out, "cwd "));
  auto lines = r.lines(Stream::Out);
  auto ign = status_value(lines, "SigIgn");
  auto blk = status_value(lines, "SigBlk");
  ASSERT_TRUE(ign && blk);
  EXPECT_EQ(std::stoull(*ign, nullptr, 16), sig_bit(SIGUSR1)) << tool << ": SigIgn " << *ign;
  EXPECT_EQ(std::stoull(*blk, nullptr, 16), sig_bit(SIGUSR2)) << tool << ": SigBlk " << *blk;
  EXPECT_EQ(r.wait_exit(), 0);
}

TEST(Tini, ChildInheritsSignalMaskAndIgnoredSignals) { check_inherited_signal_state(keel_tini()); }
TEST_F(TiniParity, ChildInheritsSignalMaskAndIgnoredSignals) { check_inherited_signal_state(kRealTini); }

// SIGTTIN and SIGTTOU sent to tini are not forwarded; SIGUSR1, SIGTERM,
// SIGHUP, SIGINT, SIGUSR2, SIGWINCH are, one by one, in order.
void check_forwarding_set(const std::string& tool) {
  KeelRun r(tini_launch(tool, {"-s", "--", kProbe, "signals"}));
  auto rd = wait_ready(r);
  ASSERT_TRUE(rd);
  ASSERT_TRUE(r.signal(SIGTTIN));
  ASSERT_TRUE(r.signal(SIGTTOU));
  for (int signo : {SIGUSR1, SIGTERM, SIGHUP, SIGINT, SIGUSR2, SIGWINCH}) {
    ASSERT_TRUE(r.signal(signo));
    EXPECT_TRUE(saw(r, Stream::Out, got(signo, rd->pid))) << tool << " did not forward " << strsignal(signo);
  }
  ASSERT_TRUE(barrier(r, rd->pid));
  EXPECT_FALSE(any_line(r, Stream::Out, got(SIGTTIN, rd->pid))) << tool << " forwarded SIGTTIN";
  EXPECT_FALSE(any_line(r, Stream::Out, got(SIGTTOU, rd->pid))) << tool << " forwarded SIGTTOU";
  EXPECT_TRUE(pid_alive(r.keel_pid())) << tool << " did not survive SIGTTIN/SIGTTOU";
  r.close_stdin();
  EXPECT_EQ(r.wait_exit(), 0);
}

TEST(Tini, ForwardsSignalsButNotTtinTtou) { check_forwarding_set(keel_tini()); }
TEST_F(TiniParity, ForwardsSignalsButNotTtinTtou) { check_forwarding_set(kRealTini); }

// The fault signals are tini's own: sent to tini as PID 1 of a namespace
// (where a signal with the default action is dropped), none reaches the
// child; the SIGUSR1 sent after them is the first thing the child gets.
void check_fault_signals_not_forwarded(const std::string& tool) {
  auto l = tini_launch(tool, {"--", kProbe, "signals"});
  l.placement = Placement::Namespace;
  KeelRun r(l);
  auto rd = wait_ready(r);
  ASSERT_TRUE(rd);
  for (int signo : {SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP, SIGSYS}) ASSERT_TRUE(r.signal(signo));
  ASSERT_TRUE(r.signal(SIGUSR1));
  auto first = r.find_line(Stream::Out, "got ");
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, got(SIGUSR1, rd->pid)) << tool << " forwarded a fault signal";
  r.close_stdin();
  EXPECT_EQ(r.wait_exit(), 0);
}

TEST(Tini, FaultSignalsAreNotForwarded) {
  if (!namespaces_available()) GTEST_SKIP() << "unshare --pid is not available here";
  check_fault_signals_not_forwarded(keel_tini());
}
TEST_F(TiniParity, FaultSignalsAreNotForwarded) {
  if (!namespaces_available()) GTEST_SKIP() << "unshare --pid is not available here";
  check_fault_signals_not_forwarded(kRealTini);
}

// ============================================================ exit codes

void check_exit_codes(const std::string& tool) {
  struct Case {
    std::vector<std::string> args;
    int expected;
  };
  const std::vector<Case> cases = {
      {{"-s", "--", kProbe, "exit", "7"}, 7},
      {{"-s", "--", kProbe, "die", "10"}, 128 + SIGUSR1},
      {{"-s", "--", kProbe, "die", "15"}, 128 + SIGTERM},
      {{"-s", "--", kProbe, "die", "9"}, 128 + SIGKILL},
      {{"-s", "-e", "3", "-e", "4", "--", kProbe, "exit", "4"}, 0},
      {{"-s", "-e", "3", "-e", "4", "--", kProbe, "exit", "3"}, 0},
      {{"-s", "-e", "3", "-e", "4", "--", kProbe, "exit", "5"}, 5},
      {{"-s", "-e", "143", "--", kProbe, "die", "15"}, 0},
      {{"-s", "-e", "0", "-e", "255", "--", kProbe, "exit", "255"}, 0},
  };
  std::vector<Launch> launches;
  for (const auto& c : cases) launches.push_back(tini_launch(tool, c.args));
  auto codes = run_all(launches);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(codes[i], cases[i].expected) << tool << joined(cases[i].args);
  }
}

TEST(Tini, ExitCodesSignalsAndRemapping) { check_exit_codes(keel_tini()); }
TEST_F(TiniParity, ExitCodesSignalsAndRemapping) { check_exit_codes(kRealTini); }

// ================================================================== -p

TEST(Tini, PdeathsigSigkillIsAccepted) {
  auto o = run_through(tini_launch(keel_tini(), {"-s", "-p", "SIGKILL", "--", kProbe, "exit", "4"}));
  EXPECT_EQ(o.code, 4);
  EXPECT_EQ(o.err, "");
}

// tini -p SIGKILL under a shell; the shell is killed; tini gets SIGKILL.
void check_pdeathsig_kills(const std::string& tool) {
  Launch l;
  l.program = "/bin/sh";
  l.unset_env = {"TINI_SUBREAPER", "TINI_KILL_PROCESS_GROUP", "TINI_VERBOSITY", "POSIXLY_CORRECT"};
  l.args = {"-c", "exec 3<&0; \"$0\" -s -p SIGKILL -- \"$1\" signals <&3 & echo tool $!; exec 3<&-; wait",
            tool, kProbe};
  KeelRun sh(l);
  auto line = seen(sh, Stream::Out, [](const std::string& text) { return starts_with(text, "tool "); });
  ASSERT_TRUE(line);
  pid_t tool_pid = std::stoi(words(*line)[1]);
  ASSERT_TRUE(wait_ready(sh));
  ASSERT_EQ(::kill(sh.runner_pid(), SIGKILL), 0);
  EXPECT_TRUE(poll_until([&] { return !pid_alive(tool_pid); }, 5s)) << tool << " outlived its parent with -p SIGKILL";
  // It was re-parented to the test process (a subreaper): its status tells.
  int status = 0;
  if (::waitpid(tool_pid, &status, 0) == tool_pid) {
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "wait status " << status;
  } else {
    ADD_FAILURE() << "could not reap " << tool << ": " << std::strerror(errno);
  }
  sh.close_stdin();  // the orphaned probe exits
  EXPECT_EQ(sh.wait_exit(), 128 + SIGKILL);
}

TEST(Tini, PdeathsigKillsTiniWhenItsParentDies) { check_pdeathsig_kills(keel_tini()); }
TEST_F(TiniParity, PdeathsigKillsTiniWhenItsParentDies) { check_pdeathsig_kills(kRealTini); }

// ============================================================ fatal errors

TEST(Tini, InvalidPdeathsigIsFatal) {
  auto o = run_through(tini_launch(keel_tini(), {"-s", "-p", "FOO", "--", kProbe, "exit", "0"}));
  EXPECT_EQ(o.code, 1);
  EXPECT_EQ(o.err, "[FATAL tini (" + std::to_string(o.pid) + ")] Not a valid option for -p: FOO\n");
  EXPECT_EQ(o.out, "");
}

TEST(Tini, ExitCodeOutOfRangeIsFatal) {
  auto o = run_through(tini_launch(keel_tini(), {"-s", "-e", "256", "--", kProbe, "exit", "0"}));
  EXPECT_EQ(o.code, 1);
  EXPECT_EQ(o.err, "[FATAL tini (" + std::to_string(o.pid) + ")] Not a valid option for -e: 256\n");
  EXPECT_EQ(o.out, "");
}

// 127 when the program is not found, 126 when it is not executable.
TEST(Tini, ExecFailures) {
  TempDir dir;
  std::string plain = dir.path() + "/plain-file";
  ASSERT_TRUE(create_file(plain));
  struct Case {
    std::string program;
    int code;
    std::string reason;
  };
  for (const Case& c : {Case{"keel-no-such-program", 127, "No such file or directory"},
                        Case{dir.path() + "/missing", 127, "No such file or directory"},
                        Case{plain, 126, "Permission denied"}, Case{dir.path(), 126, "Permission denied"}}) {
    auto o = run_through(tini_launch(keel_tini(), {"-s", "--", c.program}));
    EXPECT_EQ(o.code, c.code) << c.program;
    // (tini prints this from the forked child, so the pid is not pinned)
    EXPECT_EQ(normalize(o.err, keel_tini()), "[FATAL tini (PID)] exec " + c.program + " failed: " + c.reason + "\n");
  }
}

TEST_F(TiniParity, FatalErrors) {
  TempDir dir;
  std::string plain = dir.path() + "/plain-file";
  ASSERT_TRUE(create_file(plain));
  const std::vector<std::vector<std::string>> cases = {
      {"-s", "-p", "FOO", "--", kProbe, "exit", "0"},
      {"-s", "-p", "SIGKILL", "--", kProbe, "exit", "0"},
      {"-s", "-e", "256", "--", kProbe, "exit", "0"},
      {"-s", "-e", "-1", "--", kProbe, "exit", "0"},
      {"-s", "-e", "3x", "--", kProbe, "exit", "0"},
      {"-s", "--", "keel-no-such-program"},
      {"-s", "--", dir.path() + "/missing"},
      {"-s", "--", plain},
      {"-s", "--", dir.path()},
  };
  for (const auto& args : cases) {
    auto k = run_through(tini_launch(keel_tini(), args));
    auto t = run_through(tini_launch(kRealTini, args));
    std::string cmd = joined(args);
    EXPECT_EQ(k.code, t.code) << "tini" << cmd;
    EXPECT_EQ(normalize(k.err, keel_tini()), normalize(t.err, kRealTini)) << "tini" << cmd;
    EXPECT_EQ(normalize(k.out, keel_tini()), normalize(t.out, kRealTini)) << "tini" << cmd;
  }
}

// ============================================================= verbosity

// -v (verbosity 2): INFO lines on stdout, none on stderr.
TEST(Tini, VerboseInfoLinesOnStdout) {
  for (bool by_env : {false, true}) {
    auto l = tini_launch(keel_tini(), {"-s", "--", kProbe, "exit", "3"});
    if (by_env) {
      l.set_env = {{"TINI_VERBOSITY", "3"}};
    } else {
      l.args.insert(l.args.begin(), "-v");
    }
    auto o = run_through(l);
    std::string prefix = "[INFO  tini (" + std::to_string(o.pid) + ")] ";
    EXPECT_EQ(o.code, 3);
    std::string spawned = prefix + "Spawned child process '" + kProbe + "' with pid '";
    auto lines = split_lines(o.out);
    EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [&](const std::string& line) {
      return line.rfind(spawned, 0) == 0 && line.size() > spawned.size() + 1 && line.back() == '\'' &&
             line.find_first_not_of("0123456789", spawned.size()) == line.size() - 1;
    })) << (by_env ? "TINI_VERBOSITY=3" : "-v") << ", stdout:\n"
        << o.out;
    EXPECT_TRUE(contains(o.out, prefix + "Main child exited normally (with status '3')\n")) << o.out;
    EXPECT_FALSE(contains(o.err, "INFO")) << o.err;
    if (by_env) {
      EXPECT_TRUE(contains(o.out, "[DEBUG tini (" + std::to_string(o.pid) + ")] Reaped child with pid: '")) << o.out;
    } else {
      EXPECT_FALSE(contains(o.out, "DEBUG")) << o.out;
    }
  }
  // Killed by a signal: the other wording.
  auto o = run_through(tini_launch(keel_tini(), {"-s", "-v", "--", kProbe, "die", "10"}));
  EXPECT_EQ(o.code, 138);
  EXPECT_TRUE(contains(o.out, "Main child exited with signal (with signal 'User defined signal 1')\n")) << o.out;
}

// Same lines, same streams, same order as tini at each verbosity.
void compare_verbose(const std::vector<std::string>& flags, const std::vector<std::pair<std::string, std::string>>& env,
                     const std::vector<std::string>& program) {
  std::vector<std::string> args = flags;
  args.insert(args.end(), program.begin(), program.end());
  auto lk = tini_launch(keel_tini(), args);
  auto lr = tini_launch(kRealTini, args);
  lk.set_env = lr.set_env = env;
  auto k = run_through(lk);
  auto t = run_through(lr);
  std::string what;
  for (const auto& a : flags) what += a + " ";
  for (const auto& [n, v] : env) what += n + "=" + v + " ";
  EXPECT_EQ(k.code, t.code) << what;
  EXPECT_EQ(split_lines(normalize(k.out, keel_tini())), split_lines(normalize(t.out, kRealTini))) << what << "(stdout)";
  EXPECT_EQ(split_lines(normalize(k.err, keel_tini())), split_lines(normalize(t.err, kRealTini))) << what << "(stderr)";
}

TEST_F(TiniParity, VerboseOutput) {
  const std::vector<std::string> exit3 = {"--", kProbe, "exit", "3"};
  const std::vector<std::string> die10 = {"--", kProbe, "die", "10"};
  compare_verbose({"-s"}, {}, exit3);
  compare_verbose({"-s", "-v"}, {}, exit3);
  compare_verbose({"-s", "-v"}, {}, die10);
  compare_verbose({"-s", "-vv"}, {}, exit3);
  compare_verbose({"-s", "-v", "-v"}, {}, die10);
  compare_verbose({"-s"}, {{"TINI_VERBOSITY", "3"}}, exit3);
  compare_verbose({"-s"}, {{"TINI_VERBOSITY", "0"}}, exit3);
  compare_verbose({}, {{"TINI_VERBOSITY", "0"}}, exit3);  // no PID 1 warning at 0
}

// -vvv (verbosity 4) adds TRACE lines.
TEST_F(TiniParity, TraceOutput) {
  compare_verbose({"-s", "-vvv"}, {}, {"--", kProbe, "exit", "3"});
  compare_verbose({"-vvv"}, {}, {"--", kProbe, "exit", "3"});
}

// ============================================================ usage, help

std::string expected_usage_head(const std::string& name) {
  return name + " (tini version 0.19.0 - keel ";
}

TEST(Tini, HelpGoesToStdout) {
  auto o = run_through(tini_launch(keel_tini(), {"-h"}));
  EXPECT_EQ(o.code, 0);
  EXPECT_EQ(o.err, "");
  EXPECT_EQ(o.out.rfind(expected_usage_head("tini"), 0), 0u) << o.out;
  EXPECT_TRUE(contains(o.out, "\nUsage: tini [OPTIONS] PROGRAM -- [ARGS] | --version\n")) << o.out;
  EXPECT_TRUE(contains(o.out, "  TINI_KILL_PROCESS_GROUP: Send signals to the child's process group.\n")) << o.out;
}

TEST(Tini, NoProgramPrintsUsageOnStderr) {
  auto help = run_through(tini_launch(keel_tini(), {"-h"}));
  for (const std::vector<std::string>& args : {std::vector<std::string>{}, {"-s"}, {"-s", "--"}}) {
    auto o = run_through(tini_launch(keel_tini(), args));
    EXPECT_EQ(o.code, 1);
    EXPECT_EQ(o.out, "");
    EXPECT_EQ(o.err, help.out);  // the same usage text, on stderr
  }
}

TEST(Tini, BadOptionPrintsGetoptMessageAndUsage) {
  auto help = run_through(tini_launch(keel_tini(), {"-h"}));
  auto o = run_through(tini_launch(keel_tini(), {"-x", "--", kProbe, "exit", "0"}));
  EXPECT_EQ(o.code, 1);
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(o.err, keel_tini() + ": invalid option -- 'x'\n" + help.out);
  auto missing = run_through(tini_launch(keel_tini(), {"-s", "-p"}));
  EXPECT_EQ(missing.code, 1);
  EXPECT_EQ(missing.err, keel_tini() + ": option requires an argument -- 'p'\n" + help.out);
}

// tini has no long options: getopt reads "--foo" as the option '-' (and
// "--version" is special only as the sole argument).
TEST(Tini, LongOptionIsAnInvalidShortOption) {
  auto help = run_through(tini_launch(keel_tini(), {"-h"}));
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--foo", kProbe, "exit", "0"}, {"--version", "-s", kProbe, "exit", "0"}}) {
    auto o = run_through(tini_launch(keel_tini(), args));
    EXPECT_EQ(o.code, 1) << args[0];
    EXPECT_EQ(o.err, keel_tini() + ": invalid option -- '-'\n" + help.out) << args[0];
  }
}

TEST(Tini, VersionAloneOnStdout) {
  auto o = run_through(tini_launch(keel_tini(), {"--version"}));
  EXPECT_EQ(o.code, 0);
  EXPECT_EQ(o.err, "");
  EXPECT_TRUE(std::regex_match(o.out, std::regex(R"(tini version 0\.19\.0 - keel \d+\.\d+\.\d+\n)"))) << o.out;
}

TEST(Tini, LicenseExitsZero) {
  auto o = run_through(tini_launch(keel_tini(), {"-l"}));
  EXPECT_EQ(o.code, 0);
  EXPECT_TRUE(contains(o.out, "MIT")) << o.out;
  EXPECT_EQ(o.err, "");
}

TEST_F(TiniParity, HelpUsageVersionTexts) {
  const std::vector<std::vector<std::string>> cases = {
      {"-h"}, {}, {"-s"}, {"-x", kProbe, "exit", "0"}, {"-s", "-p"}, {"-s", "-e"},
      {"--version"}, {"--foo", kProbe, "exit", "0"}, {"--version", "-s", kProbe, "exit", "0"},
  };
  for (const auto& args : cases) {
    auto k = run_through(tini_launch(keel_tini(), args));
    auto t = run_through(tini_launch(kRealTini, args));
    std::string cmd = joined(args);
    EXPECT_EQ(k.code, t.code) << "tini" << cmd;
    EXPECT_EQ(normalize(k.out, keel_tini()), normalize(t.out, kRealTini)) << "tini" << cmd << " (stdout)";
    EXPECT_EQ(normalize(k.err, keel_tini()), normalize(t.err, kRealTini)) << "tini" << cmd << " (stderr)";
  }
  // -l: both print a license on stdout and exit 0 (the text differs: documented).
  auto k = run_through(tini_launch(keel_tini(), {"-l"}));
  auto t = run_through(tini_launch(kRealTini, {"-l"}));
  EXPECT_EQ(k.code, t.code);
  EXPECT_FALSE(k.out.empty());
  EXPECT_FALSE(t.out.empty());
}

// ========================================================== option order

// Options are permuted: `tini -s probe args -v` gives -v to tini; after
// `--` it goes to the program.
void check_permutation(const std::string& tool) {
  auto dashed = run_through(tini_launch(tool, {"-s", "--", kProbe, "args", "-v"}));
  EXPECT_EQ(dashed.code, 0);
  EXPECT_TRUE(contains(dashed.out, "argc 3\n")) << dashed.out;
  EXPECT_TRUE(contains(dashed.out, "arg 2 -v\n")) << dashed.out;
  EXPECT_FALSE(contains(dashed.out, "[INFO")) << dashed.out;

  auto permuted = run_through(tini_launch(tool, {"-s", kProbe, "args", "-v"}));
  EXPECT_EQ(permuted.code, 0);
  EXPECT_TRUE(contains(permuted.out, "argc 2\n")) << permuted.out;
  EXPECT_FALSE(contains(permuted.out, "arg 2 ")) << permuted.out;
  EXPECT_TRUE(contains(permuted.out, "[INFO  tini (")) << "-v after the program was not taken by " << tool;

  // `--` after the program: tini drops the first one only.
  auto late = run_through(tini_launch(tool, {"-s", kProbe, "args", "--", "-v"}));
  EXPECT_TRUE(contains(late.out, "argc 3\n")) << late.out;
  EXPECT_TRUE(contains(late.out, "arg 2 -v\n")) << late.out;
}

TEST(Tini, OptionsArePermutedUntilDoubleDash) { check_permutation(keel_tini()); }
TEST_F(TiniParity, OptionsArePermutedUntilDoubleDash) { check_permutation(kRealTini); }

// With POSIXLY_CORRECT set, getopt stops at the first non-option: the
// program's options are its own, with or without `--`.
void check_posixly_correct(const std::string& tool) {
  Launch sh = tini_launch(tool, {"-s", "-e", "1", "sh", "-c", "exit 1"});
  sh.set_env = {{"POSIXLY_CORRECT", "1"}};
  auto o = run_through(sh);
  EXPECT_EQ(o.code, 0) << tool << " did not run sh -c 'exit 1' with -e 1\n" << o.err;
  EXPECT_EQ(o.err, "");

  Launch probe = tini_launch(tool, {"-s", kProbe, "args", "-v"});
  probe.set_env = {{"POSIXLY_CORRECT", ""}};  // set at all
  auto p = run_through(probe);
  EXPECT_EQ(p.code, 0);
  EXPECT_TRUE(contains(p.out, "argc 3\n")) << p.out;
  EXPECT_TRUE(contains(p.out, "arg 2 -v\n")) << p.out;
  EXPECT_FALSE(contains(p.out, "[INFO")) << "-v after the program was taken by " << tool;
}

TEST(Tini, PosixlyCorrectStopsAtTheFirstNonOption) { check_posixly_correct(keel_tini()); }
TEST_F(TiniParity, PosixlyCorrectStopsAtTheFirstNonOption) { check_posixly_correct(kRealTini); }

// ======================================================= other spellings

TEST(Tini, CompatOptionSpelling) {
  auto l = tini_launch(keel_binary(), {"--compat=tini", "-s", "-g", "--", kProbe, "signals", "--child"});
  KeelRun r(l);
  auto rd = wait_ready(r);
  ASSERT_TRUE(rd);
  ASSERT_TRUE(r.signal(SIGUSR1));
  EXPECT_TRUE(saw(r, Stream::Out, got(SIGUSR1, rd->pid)));
  EXPECT_TRUE(saw(r, Stream::Out, got(SIGUSR1, rd->child)));
  r.close_stdin();
  EXPECT_EQ(r.wait_exit(), 0);
  EXPECT_EQ(r.text(Stream::Err), "");

  auto code = run_through(tini_launch(keel_binary(), {"--compat=tini", "-s", "-e", "5", "--", kProbe, "exit", "5"}));
  EXPECT_EQ(code.code, 0);
  auto fatal = run_through(tini_launch(keel_binary(), {"--compat=tini", "-s", "-p", "FOO", kProbe, "exit", "0"}));
  EXPECT_EQ(fatal.code, 1);
  EXPECT_EQ(fatal.err, "[FATAL tini (" + std::to_string(fatal.pid) + ")] Not a valid option for -p: FOO\n");
  auto version = run_through(tini_launch(keel_binary(), {"--compat=tini", "--version"}));
  EXPECT_EQ(version.code, 0);
  EXPECT_EQ(version.out.rfind("tini version 0.19.0 - keel ", 0), 0u) << version.out;
  auto warn = run_through(tini_launch(keel_binary(), {"--compat=tini", kProbe, "exit", "0"}));
  EXPECT_TRUE(contains(warn.err, "Tini is not running as PID 1")) << warn.err;
}

TEST(Tini, TiniStaticName) {
  auto help = run_through(tini_launch(keel_tini_static(), {"-h"}));
  EXPECT_EQ(help.code, 0);
  EXPECT_EQ(help.out.rfind(expected_usage_head("tini-static"), 0), 0u) << help.out;
  EXPECT_TRUE(contains(help.out, "\nUsage: tini-static [OPTIONS] PROGRAM -- [ARGS] | --version\n")) << help.out;
  auto run = run_through(tini_launch(keel_tini_static(), {"-s", "-v", "--", kProbe, "exit", "2"}));
  EXPECT_EQ(run.code, 2);
  EXPECT_TRUE(contains(run.out, "[INFO  tini (")) << run.out;  // messages still say "tini"
}

TEST_F(TiniParity, TiniStaticName) {
  if (!installed(kRealTiniStatic)) GTEST_SKIP() << kRealTiniStatic << " is not installed";
  for (const std::vector<std::string>& args : {std::vector<std::string>{"-h"}, {}, {"-s", "-v", "--", kProbe, "exit", "2"}}) {
    auto k = run_through(tini_launch(keel_tini_static(), args));
    auto t = run_through(tini_launch(kRealTiniStatic, args));
    EXPECT_EQ(k.code, t.code);
    EXPECT_EQ(normalize(k.out, keel_tini_static()), normalize(t.out, kRealTiniStatic));
    EXPECT_EQ(normalize(k.err, keel_tini_static()), normalize(t.err, kRealTiniStatic));
  }
}

}  // namespace
}  // namespace keel::systest
