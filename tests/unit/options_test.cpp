// Unit tests for cinit/options: parse_command_line for native keel and the
// tini and dumb-init personalities, the environment variables they read,
// their messages, streams and exit codes, and the system-init argv[0] rule.
#include "cinit/options.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "core/version.hpp"

namespace keel {
namespace {

constexpr std::int64_t kSec = 1'000'000'000;

// Parses in its constructor and keeps the argv strings alive (the program
// vector points into them), so it is neither copied nor moved.
class Cmd {
 public:
  Cmd(std::initializer_list<const char*> words, std::map<std::string, std::string> env = {}, int self_pid = 4242)
      : env_(std::move(env)) {
    storage_.reserve(words.size());
    for (const char* w : words) storage_.emplace_back(w);
    for (auto& s : storage_) argv_.push_back(s.data());
    argv_.push_back(nullptr);
    EnvLookup lookup = [this](const char* name) -> const char* {
      ++lookups_;
      auto it = env_.find(name);
      return it == env_.end() ? nullptr : it->second.c_str();
    };
    cl = parse_command_line(static_cast<int>(storage_.size()), argv_.data(), lookup, self_pid);
  }
  Cmd(const Cmd&) = delete;
  Cmd& operator=(const Cmd&) = delete;

  [[nodiscard]] const ContainerOptions& o() const { return cl.options; }
  [[nodiscard]] char* arg(std::size_t i) const { return argv_[i]; }
  [[nodiscard]] std::vector<std::string> program() const {
    std::vector<std::string> out;
    for (char* p : cl.options.program) {
      if (p != nullptr) out.emplace_back(p);
    }
    return out;
  }
  [[nodiscard]] bool program_terminated() const {
    return !cl.options.program.empty() && cl.options.program.back() == nullptr;
  }

  CommandLine cl;

 private:
  std::map<std::string, std::string> env_;
  std::vector<std::string> storage_;
  std::vector<char*> argv_;
  int lookups_ = 0;
};

using Strings = std::vector<std::string>;
using Action = CommandLine::Action;

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void expect_no_rewrites(const ContainerOptions& o) {
  for (std::size_t i = 0; i < o.rewrite.size(); ++i) EXPECT_EQ(o.rewrite[i], -1) << "signal " << i;
}
void expect_no_exit_remaps(const ContainerOptions& o) {
  for (std::size_t i = 0; i < o.exit_zero.size(); ++i) EXPECT_FALSE(o.exit_zero[i]) << "code " << i;
}

// A usage error of native keel: exit 2, one "keel: ..." line on stderr.
void expect_native_usage_error(const Cmd& c, const std::string& message) {
  EXPECT_EQ(c.cl.action, Action::Exit);
  EXPECT_EQ(c.cl.exit_code, 2);
  EXPECT_EQ(c.cl.exit_code, kExitUsage);
  EXPECT_EQ(c.cl.out, "");
  EXPECT_EQ(c.cl.err, "keel: " + message + " (see 'keel --help')\n");
}

// ================================================================ native

TEST(NativeOptions, Defaults) {
  Cmd c({"keel", "echo", "hi"}, {}, 4242);
  ASSERT_EQ(c.cl.action, Action::Run) << c.cl.err;
  EXPECT_EQ(c.cl.exit_code, 0);
  EXPECT_EQ(c.cl.out, "");
  EXPECT_EQ(c.cl.err, "");
  const auto& o = c.o();
  EXPECT_EQ(o.personality, Personality::Keel);
  EXPECT_EQ(o.role, Role::Subreaper);
  EXPECT_TRUE(o.register_subreaper);
  EXPECT_EQ(o.session, Session::NewProcessGroup);
  EXPECT_TRUE(o.take_terminal);
  EXPECT_FALSE(o.inherit_signal_state);
  EXPECT_FALSE(o.signal_group);
  expect_no_rewrites(o);
  EXPECT_FALSE(o.stop_self_on_tty_signals);
  EXPECT_TRUE(o.forward_tty_and_fault_signals);
  expect_no_exit_remaps(o);
  EXPECT_TRUE(o.whole_tree_stop);
  EXPECT_EQ(o.grace_ns, 5 * kSec);
  EXPECT_FALSE(o.term_group_on_exit);
  EXPECT_EQ(o.parent_death_signal, 0);
  EXPECT_EQ(o.verbosity, 1);
  EXPECT_FALSE(o.warn_on_reap);
  EXPECT_EQ(o.argv0, "keel");
  EXPECT_EQ(c.program(), (Strings{"echo", "hi"}));
  EXPECT_TRUE(c.program_terminated());
}

TEST(NativeOptions, Pid1DefaultsToContainer) {
  Cmd c({"keel", "echo"}, {}, 1);
  ASSERT_EQ(c.cl.action, Action::Run);
  EXPECT_EQ(c.o().role, Role::Container);
  EXPECT_FALSE(c.o().register_subreaper);
}

// "PID 1 of its namespace" is the pid main() read, in every personality and
// whatever role the command line asks for (core/role.hpp).
TEST(NativeOptions, NamespaceInitIsThePidNeverTheRole) {
  for (int pid : {1, 4242}) {
    for (std::initializer_list<const char*> words :
         {std::initializer_list<const char*>{"keel", "echo"}, {"keel", "--role=container", "echo"},
          {"keel", "--role=subreaper", "echo"}, {"keel", "--role=system"}, {"/sbin/init", "quiet"},
          {"tini", "echo"}, {"tini", "-s", "echo"}, {"dumb-init", "echo"}, {"keel", "--compat=tini", "echo"}}) {
      Cmd c(words, {}, pid);
      EXPECT_EQ(c.o().namespace_init, pid == 1) << *words.begin() << " " << words.size() << " pid " << pid;
    }
  }
}

TEST(NativeOptions, SubreaperFlagForcesSubreaperEvenAsPid1) {
  for (const char* flag : {"-s", "--subreaper", "--sub"}) {
    Cmd c({"keel", flag, "echo"}, {}, 1);
    ASSERT_EQ(c.cl.action, Action::Run) << flag;
    EXPECT_EQ(c.o().role, Role::Subreaper) << flag;
    EXPECT_TRUE(c.o().register_subreaper) << flag;
  }
}

TEST(NativeOptions, ExplicitRole) {
  {
    Cmd c({"keel", "--role=container", "echo"}, {}, 4242);
    ASSERT_EQ(c.cl.action, Action::Run);
    EXPECT_EQ(c.o().role, Role::Container);
    EXPECT_FALSE(c.o().register_subreaper);
  }
  {
    Cmd c({"keel", "--role", "subreaper", "echo"}, {}, 1);
    ASSERT_EQ(c.cl.action, Action::Run);
    EXPECT_EQ(c.o().role, Role::Subreaper);
    EXPECT_TRUE(c.o().register_subreaper);
  }
  {
    // --role wins over the default -s implies; -s still registers.
    Cmd c({"keel", "-s", "--role=container", "echo"}, {}, 1);
    ASSERT_EQ(c.cl.action, Action::Run);
    EXPECT_EQ(c.o().role, Role::Container);
    EXPECT_TRUE(c.o().register_subreaper);
  }
}

TEST(NativeOptions, RoleSystemRunsTheSystemInit) {
  for (int pid : {1, 4242}) {
    Cmd c({"keel", "--role=system"}, {}, pid);
    EXPECT_EQ(c.cl.action, Action::RunSystem);
    EXPECT_EQ(c.o().role, Role::System);
    EXPECT_EQ(c.cl.err, "");
  }
  Cmd c({"keel", "--role", "system", "ignored", "words"}, {}, 1);
  EXPECT_EQ(c.cl.action, Action::RunSystem);
}

TEST(NativeOptions, BadRole) {
  Cmd c({"keel", "--role=bogus", "echo"});
  expect_native_usage_error(c, "bad --role 'bogus': expected container, subreaper or system");
}

TEST(NativeOptions, ProcessGroupSignalling) {
  for (const char* flag : {"-g", "--pgroup"}) {
    Cmd c({"keel", flag, "echo"});
    ASSERT_EQ(c.cl.action, Action::Run);
    EXPECT_TRUE(c.o().signal_group) << flag;
  }
}

TEST(NativeOptions, Rewrite) {
  Cmd c({"keel", "-r", "TERM:INT", "--rewrite=USR1:0", "-r", "SIGHUP:sigquit", "-r28:10", "--rewrite", "2:15",
         "echo"});
  ASSERT_EQ(c.cl.action, Action::Run) << c.cl.err;
  const auto& r = c.o().rewrite;
  EXPECT_EQ(r[15], 2);
  EXPECT_EQ(r[10], 0);
  EXPECT_EQ(r[1], 3);
  EXPECT_EQ(r[28], 10);
  EXPECT_EQ(r[2], 15);
  int changed = 0;
  for (int v : r) changed += v != -1;
  EXPECT_EQ(changed, 5);
}

TEST(NativeOptions, LaterRewriteOfTheSameSignalWins) {
  Cmd c({"keel", "-r", "TERM:INT", "-r", "TERM:QUIT", "echo"});
  ASSERT_EQ(c.cl.action, Action::Run);
  EXPECT_EQ(c.o().rewrite[15], 3);
}

TEST(NativeOptions, BadRewrite) {
  for (const char* bad : {"TERM", "TERM:", ":INT", "0:TERM", "TERM:32", "32:1", "FOO:INT", "TERM:INT:x", ""}) {
    Cmd c({"keel", "-r", bad, "echo"});
    expect_native_usage_error(c, std::string("bad --rewrite '") + bad +
                                     "': expected FROM:TO with signal names or numbers 1-31 (TO may be 0 to drop)");
  }
}

TEST(NativeOptions, RemapExit) {
  Cmd c({"keel", "-e", "3", "--remap-exit=255", "-e0", "--remap-exit", "143", "echo"});
  ASSERT_EQ(c.cl.action, Action::Run) << c.cl.err;
  const auto& z = c.o().exit_zero;
  int set = 0;
  for (bool b : z) set += b;
  EXPECT_EQ(set, 4);
  EXPECT_TRUE(z[3]);
  EXPECT_TRUE(z[255]);
  EXPECT_TRUE(z[0]);
  EXPECT_TRUE(z[143]);
}

TEST(NativeOptions, RemapExitRange) {
  for (const char* good : {"0", "1", "007", "255"}) {
    Cmd c({"keel", "-e", good, "echo"});
    EXPECT_EQ(c.cl.action, Action::Run) << good << ": " << c.cl.err;
  }
  for (const char* bad : {"256", "-1", "1000", "abc", "", "1.5", " 1", "0x10", "0255"}) {
    Cmd c({"keel", "-e", bad, "echo"});
    expect_native_usage_error(c, std::string("bad --remap-exit '") + bad + "': expected 0-255");
  }
}

TEST(NativeOptions, ParentDeathSignal) {
  struct Case {
    const char* arg;
    int want;
  };
  for (const Case& k : {Case{"KILL", 9}, Case{"SIGTERM", 15}, Case{"9", 9}, Case{"sighup", 1}}) {
    Cmd c({"keel", "-p", k.arg, "echo"});
    ASSERT_EQ(c.cl.action, Action::Run) << k.arg;
    EXPECT_EQ(c.o().parent_death_signal, k.want) << k.arg;
  }
  Cmd l({"keel", "--pdeathsig=USR1", "echo"});
  EXPECT_EQ(l.o().parent_death_signal, 10);
  for (const char* bad : {"0", "32", "BOGUS", ""}) {
    Cmd c({"keel", "-p", bad, "echo"});
    expect_native_usage_error(c, std::string("bad --pdeathsig '") + bad + "': not a signal name or number 1-31");
  }
}

TEST(NativeOptions, Grace) {
  struct Case {
    const char* arg;
    std::int64_t want;
  };
  for (const Case& k : {Case{"5", 5 * kSec}, Case{"0.5", kSec / 2}, Case{"0", 0}, Case{"10", 10 * kSec},
                        Case{"1.25", kSec + kSec / 4}, Case{".5", kSec / 2}, Case{"2.", 2 * kSec},
                        Case{"0.000000001", 1}, Case{"86400", 86400 * kSec}, Case{"007", 7 * kSec}}) {
    Cmd c({"keel", "-t", k.arg, "echo"});
    ASSERT_EQ(c.cl.action, Action::Run) << k.arg << ": " << c.cl.err;
    EXPECT_EQ(c.o().grace_ns, k.want) << k.arg;
  }
  Cmd attached({"keel", "-t0.25", "echo"});
  EXPECT_EQ(attached.o().grace_ns, kSec / 4);
  Cmd lng({"keel", "--grace=3", "echo"});
  EXPECT_EQ(lng.o().grace_ns, 3 * kSec);
}

TEST(NativeOptions, BadGrace) {
  for (const char* bad : {"abc", "-1", "1e3", "", ".", "1.2.3", "5s", " 5", "+5", "86401", "99999999999999999999999",
                          "inf", "nan", "0x10"}) {
    Cmd c({"keel", "-t", bad, "echo"});
    expect_native_usage_error(c, std::string("bad --grace '") + bad +
                                     "': expected seconds, e.g. 5 or 0.5 (at most 86400)");
  }
}

// The message promises "at most 86400"; a fraction above it slips through.
TEST(NativeOptions, GraceAboveOneDayWithAFractionIsRejected) {
  Cmd c({"keel", "-t", "86400.5", "echo"});
  expect_native_usage_error(c, "bad --grace '86400.5': expected seconds, e.g. 5 or 0.5 (at most 86400)");
}

TEST(NativeOptions, Verbosity) {
  struct Case {
    std::initializer_list<const char*> words;
    int want;
  };
  const Case cases[] = {
      {{"keel", "echo"}, 1},
      {{"keel", "-v", "echo"}, 2},
      {{"keel", "-vv", "echo"}, 3},
      {{"keel", "-v", "--verbose", "-v", "echo"}, 4},
      {{"keel", "-q", "echo"}, 0},
      {{"keel", "--quiet", "echo"}, 0},
      {{"keel", "-vq", "echo"}, 0},
      {{"keel", "-qv", "echo"}, 1},
  };
  for (const auto& k : cases) {
    Cmd c(k.words);
    ASSERT_EQ(c.cl.action, Action::Run);
    EXPECT_EQ(c.o().verbosity, k.want) << *(k.words.begin() + 1);
  }
}

TEST(NativeOptions, OptionsStopAtTheProgram) {
  Cmd c({"keel", "-g", "ls", "-l", "-v", "--", "-s"});
  ASSERT_EQ(c.cl.action, Action::Run);
  EXPECT_TRUE(c.o().signal_group);
  EXPECT_EQ(c.o().verbosity, 1);
  EXPECT_EQ(c.program(), (Strings{"ls", "-l", "-v", "--", "-s"}));
}

TEST(NativeOptions, DoubleDashEndsOptions) {
  Cmd c({"keel", "-v", "--", "-s", "x"});
  ASSERT_EQ(c.cl.action, Action::Run);
  EXPECT_EQ(c.o().verbosity, 2);
  EXPECT_EQ(c.program(), (Strings{"-s", "x"}));
}

TEST(NativeOptions, ProgramVectorKeepsOrderAndPointersAndIsTerminated) {
  Cmd c({"keel", "-s", "prog", "a", "", "b c", "-d"});
  ASSERT_EQ(c.cl.action, Action::Run);
  const auto& p = c.o().program;
  ASSERT_EQ(p.size(), 6U);
  EXPECT_EQ(p[0], c.arg(2));
  EXPECT_EQ(p[1], c.arg(3));
  EXPECT_EQ(p[2], c.arg(4));
  EXPECT_EQ(p[3], c.arg(5));
  EXPECT_EQ(p[4], c.arg(6));
  EXPECT_EQ(p[5], nullptr);
  EXPECT_EQ(c.program(), (Strings{"prog", "a", "", "b c", "-d"}));
}

TEST(NativeOptions, LoneDashIsTheProgram) {
  Cmd c({"keel", "-", "x"});
  ASSERT_EQ(c.cl.action, Action::Run);
  EXPECT_EQ(c.program(), (Strings{"-", "x"}));
}

TEST(NativeOptions, Help) {
  for (const char* flag : {"-h", "--help", "--he"}) {
    Cmd c({"keel", flag});
    EXPECT_EQ(c.cl.action, Action::Exit) << flag;
    EXPECT_EQ(c.cl.exit_code, 0);
    EXPECT_EQ(c.cl.err, "");
    EXPECT_TRUE(starts_with(c.cl.out, "Usage: keel [OPTIONS] [--] PROGRAM [ARGS...]\n")) << c.cl.out;
    EXPECT_TRUE(ends_with(c.cl.out, "\n"));
  }
  // Even with a program after it.
  Cmd c({"keel", "-s", "-h", "echo"});
  EXPECT_EQ(c.cl.action, Action::Exit);
  EXPECT_EQ(c.cl.exit_code, 0);
  EXPECT_FALSE(c.cl.out.empty());
}

TEST(NativeOptions, HelpAfterTheProgramIsTheProgramsOption) {
  Cmd c({"keel", "echo", "-h"});
  ASSERT_EQ(c.cl.action, Action::Run);
  EXPECT_EQ(c.program(), (Strings{"echo", "-h"}));
}

TEST(NativeOptions, Version) {
  for (const char* flag : {"-V", "--version"}) {
    Cmd c({"keel", flag});
    EXPECT_EQ(c.cl.action, Action::Exit);
    EXPECT_EQ(c.cl.exit_code, 0);
    EXPECT_EQ(c.cl.out, std::string("keel ") + kVersion + "\n");
    EXPECT_EQ(c.cl.err, "");
  }
}

TEST(NativeOptions, UsageErrors) {
  struct Case {
    std::initializer_list<const char*> words;
    const char* message;
  };
  const Case cases[] = {
      {{"keel", "-x", "echo"}, "unknown option '-x'"},
      {{"keel", "--bogus", "echo"}, "unknown option '--bogus'"},
      {{"keel", "-t"}, "option '-t' needs a value"},
      {{"keel", "--grace"}, "option '--grace' needs a value"},
      {{"keel", "--help=yes"}, "option '--help' takes no value"},
      {{"keel", "--re=1", "echo"}, "option '--re' is ambiguous"},  // rewrite, remap-exit
      {{"keel", "--ver", "echo"}, "option '--ver' is ambiguous"},  // verbose, version
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.message);
    Cmd c(k.words);
    expect_native_usage_error(c, k.message);
  }
}

TEST(NativeOptions, NoProgram) {
  for (auto words : {std::initializer_list<const char*>{"keel"}, {"keel", "--"}, {"keel", "-s", "-v"}}) {
    Cmd c(words);
    expect_native_usage_error(c, "no PROGRAM to run");
  }
}

TEST(NativeOptions, EmptyArgvIsAUsageError) {
  Cmd c({});
  expect_native_usage_error(c, "no PROGRAM to run");
}

TEST(NativeOptions, OtherNamesAreNative) {
  for (const char* name : {"/usr/local/bin/keel", "keel-static", "./keel", "initx", "my-init", "tini2"}) {
    Cmd c({name, "echo"});
    ASSERT_EQ(c.cl.action, Action::Run) << name;
    EXPECT_EQ(c.o().personality, Personality::Keel) << name;
    EXPECT_EQ(c.o().argv0, "keel");
  }
}

TEST(NativeOptions, ExitCodeConstants) {
  EXPECT_EQ(kExitUsage, 2);
  EXPECT_EQ(kExitInternal, 1);
}

// ================================================================ compat

TEST(CompatOption, Tini) {
  Cmd c({"keel", "--compat=tini", "-s", "-g", "echo", "-v", "hi"});
  ASSERT_EQ(c.cl.action, Action::Run) << c.cl.err;
  EXPECT_EQ(c.o().personality, Personality::Tini);
  EXPECT_EQ(c.o().argv0, "tini");
  EXPECT_TRUE(c.o().register_subreaper);
  EXPECT_TRUE(c.o().signal_group);
  EXPECT_EQ(c.o().verbosity, 2);  // tini permutes: -v is tini's
  EXPECT_EQ(c.program(), (Strings{"echo", "hi"}));
  EXPECT_TRUE(c.program_terminated());
}

TEST(CompatOption, TiniVersionAndErrors) {
  {
    Cmd c({"/usr/bin/keel", "--compat=tini", "--version"});
    EXPECT_EQ(c.cl.action, Action::Exit);
    EXPECT_EQ(c.cl.exit_code, 0);
    EXPECT_EQ(c.cl.out, std::string("tini version 0.19.0 - keel ") + kVersion + "\n");
  }
  {
    Cmd c({"keel", "--compat=tini", "-x", "echo"});
    EXPECT_EQ(c.cl.exit_code, 1);
    EXPECT_TRUE(starts_with(c.cl.err, "tini: invalid option -- 'x'\n")) << c.cl.err;
  }
  {
    Cmd c({"keel", "--compat=tini"});
    EXPECT_EQ(c.cl.action, Action::Exit);
    EXPECT_EQ(c.cl.exit_code, 1);
    EXPECT_TRUE(starts_with(c.cl.err, "tini (tini version")) << c.cl.err;
  }
}

TEST(CompatOption, DumbInit) {
  Cmd c({"keel", "--compat=dumb-init", "-c", "echo", "-v"});
  ASSERT_EQ(c.cl.action, Action::Run) << c.cl.err;
  EXPECT_EQ(c.o().personality, Personality::DumbInit);
  EXPECT_EQ(c.o().argv0, "dumb-init");
  EXPECT_EQ(c.o().session, Session::Inherit);
  EXPECT_EQ(c.o().verbosity, 0);  // stops at the program
  EXPECT_EQ(c.program(), (Strings{"echo", "-v"}));
}

TEST(CompatOption, DumbInitErrorUsesItsName) {
  Cmd c({"keel", "--compat=dumb-init", "-x", "echo"});
  EXPECT_EQ(c.cl.exit_code, 1);
  EXPECT_EQ(c.cl.err, "dumb-init: invalid option -- 'x'\n");
}

TEST(CompatOption, Bogus) {
  Cmd c({"keel", "--compat=bogus", "echo"});
  expect_native_usage_error(c, "bad --compat 'bogus': expected tini or dumb-init");
  Cmd e({"keel", "--compat=", "echo"});
  expect_native_usage_error(e, "bad --compat '': expected tini or dumb-init");
}

TEST(CompatOption, MustComeFirst) {
  Cmd c({"keel", "-v", "--compat=tini", "echo"});
  EXPECT_EQ(c.cl.action, Action::Exit);
  EXPECT_EQ(c.cl.exit_code, 2);
  EXPECT_TRUE(starts_with(c.cl.err, "keel: ")) << c.cl.err;
  // And after the program it is the program's argument.
  Cmd p({"keel", "echo", "--compat=tini"});
  ASSERT_EQ(p.cl.action, Action::Run);
  EXPECT_EQ(p.program(), (Strings{"echo", "--compat=tini"}));
}

// ================================================================ tini

TEST(TiniOptions, Defaults) {
  Cmd c({"tini", "--", "echo", "hi"}, {}, 1);
  ASSERT_EQ(c.cl.action, Action::Run) << c.cl.err;
  EXPECT_EQ(c.cl.exit_code, 0);
  EXPECT_EQ(c.cl.out, "");
  EXPECT_EQ(c.cl.err, "");
  const auto& o = c.o();
  EXPECT_EQ(o.personality, Personality::Tini);
  EXPECT_EQ(o.role, Role::Container);
  EXPECT_FALSE(o.register_subreaper);
  EXPECT_EQ(o.session, Session::NewProcessGroup);
  EXPECT_TRUE(o.take_terminal);
  EXPECT_TRUE(o.inherit_signal_state);
  EXPECT_FALSE(o.signal_group);
  expect_no_rewrites(o);
  EXPECT_FALSE(o.stop_self_on_tty_signals);
  EXPECT_FALSE(o.forward_tty_and_fault_signals);
  expect_no_exit_remaps(o);
  EXPECT_FALSE(o.whole_tree_stop);
  EXPECT_FALSE(o.term_group_on_exit);
  EXPECT_EQ(o.parent_death_signal, 0);
  EXPECT_EQ(o.verbosity, 1);
  EXPECT_FALSE(o.warn_on_reap);
  EXPECT_EQ(o.argv0, "tini");
  EXPECT_EQ(c.program(), (Strings{"echo", "hi"}));
  EXPECT_TRUE(c.program_terminated());
}

TEST(TiniOptions, NamesThatSelectTini) {
  struct Case {
    const char* argv0;
    const char* name;
  };
  for (const Case& k : {Case{"tini", "tini"}, Case{"/usr/bin/tini", "tini"}, Case{"/sbin/tini", "tini"},
                        Case{"tini-static", "tini-static"}, Case{"/usr/local/bin/tini-static", "tini-static"}}) {
    Cmd c({k.argv0, "echo"});
    ASSERT_EQ(c.cl.action, Action::Run) << k.argv0;
    EXPECT_EQ(c.o().personality, Personality::Tini) << k.argv0;
    EXPECT_EQ(c.o().argv0, k.name);
  }
}

TEST(TiniOptions, EveryOption) {
  Cmd c({"tini", "-s", "-p", "SIGKILL", "-v", "-w", "-g", "-e", "143", "-e", "0", "--", "prog"});
  ASSERT_EQ(c.cl.action, Action::Run) << c.cl.err;
  const auto& o = c.o();
  EXPECT_TRUE(o.register_subreaper);
  EXPECT_EQ(o.role, Role::Subreaper);
  EXPECT_EQ(o.parent_death_signal, 9);
  EXPECT_EQ(o.verbosity, 2);
  EXPECT_TRUE(o.warn_on_reap);
  EXPECT_TRUE(o.signal_group);
  EXPECT_TRUE(o.exit_zero[143]);
  EXPECT_TRUE(o.exit_zero[0]);
  int set = 0;
  for (bool b : o.exit_zero) set += b;
  EXPECT_EQ(set, 2);
  EXPECT_EQ(c.program(), (Strings{"prog"}));
}

TEST(TiniOptions, ClusteredAndAttached) {
  Cmd c({"tini", "-svvv", "-pSIGTERM", "-e3", "prog"});
  ASSERT_EQ(c.cl.action, Action::Run) << c.cl.err;
  EXPECT_TRUE(c.o().register_subreaper);
  EXPECT_EQ(c.o().verbosity, 4);
  EXPECT_EQ(c.o().parent_death_signal, 15);
  EXPECT_TRUE(c.o().exit_zero[3]);
}

TEST(TiniOptions, OptionsAfterTheProgramAreTinis) {
  Cmd c({"tini", "-s", "echo", "-v", "hi"});
  ASSERT_EQ(c.cl.action, Action::Run);
  EXPECT_EQ(c.o().verbosity, 2);
  EXPECT_EQ(c.program(), (Strings{"echo", "hi"}));
}

// With POSIXLY_CORRECT set, tini's getopt stops at the first operand: the
// program's own options stay its own (`tini -e 1 sh -c 'exit 0'`).
TEST(TiniOptions, PosixlyCorrectStopsAtTheProgram) {
  for (const char* value : {"1", ""}) {  // set at all
    Cmd c({"tini", "-e", "1", "sh", "-c", "exit 0"}, {{"POSIXLY_CORRECT", value}});
    ASSERT_EQ(c.cl.action, Action::Run) << c.cl.err;
    EXPECT_TRUE(c.o().exit_zero[1]);
    EXPECT_EQ(c.program(), (Strings{"sh", "-c", "exit 0"}));
    Cmd v({"tini", "-s", "echo", "-v", "hi"}, {{"POSIXLY_CORRECT", value}});
    ASSERT_EQ(v.cl.action, Action::Run);
    EXPECT_EQ(v.o().verbosity, 1);
    EXPECT_EQ(v.program(), (Strings{"echo", "-v", "hi"}));
  }
  // Unset: permuted, so -c is tini's and unknown.
  Cmd permuted({"tini", "-e", "1", "sh", "-c", "exit 0"});
  EXPECT_EQ(permuted.cl.action, Action::Exit);
  EXPECT_EQ(permuted.cl.exit_code, 1);
}

TEST(TiniOptions, DoubleDashProtectsTheProgramsOptions) {
  Cmd c({"tini", "-s", "echo", "--", "-v", "hi"});
  ASSERT_EQ(c.cl.action, Action::Run);
  EXPECT_EQ(c.o().verbosity, 1);
  EXPECT_EQ(c.program(), (Strings{"echo", "-v", "hi"}));
}

TEST(TiniOptions, Help) {
  Cmd c({"tini", "-h"});
  EXPECT_EQ(c.cl.action, Action::Exit);
  EXPECT_EQ(c.cl.exit_code, 0);
  EXPECT_EQ(c.cl.err, "");
  EXPECT_TRUE(starts_with(c.cl.out, std::string("tini (tini version 0.19.0 - keel ") + kVersion + ")\n"))
      << c.cl.out;
  EXPECT_NE(c.cl.out.find("Usage: tini [OPTIONS] PROGRAM -- [ARGS] | --version\n"), std::string::npos);
  EXPECT_NE(c.cl.out.find("TINI_SUBREAPER"), std::string::npos);
  // The name in the usage is the base name of argv[0].
  Cmd s({"/usr/local/bin/tini-static", "-h"});
  EXPECT_NE(s.cl.out.find("Usage: tini-static [OPTIONS]"), std::string::npos) << s.cl.out;
}

TEST(TiniOptions, License) {
  Cmd c({"tini", "-l"});
  EXPECT_EQ(c.cl.action, Action::Exit);
  EXPECT_EQ(c.cl.exit_code, 0);
  EXPECT_EQ(c.cl.err, "");
  EXPECT_NE(c.cl.out.find("MIT License"), std::string::npos);
}

TEST(TiniOptions, VersionOnlyAsTheOnlyArgument) {
  Cmd c({"tini", "--version"});
  EXPECT_EQ(c.cl.action, Action::Exit);
  EXPECT_EQ(c.cl.exit_code, 0);
  EXPECT_EQ(c.cl.out, std::string("tini version 0.19.0 - keel ") + kVersion + "\n");
  EXPECT_EQ(c.cl.err, "");

  Cmd with_program({"tini", "--version", "echo"});
  EXPECT_EQ(with_program.cl.action, Action::Exit);
  EXPECT_EQ(with_program.cl.exit_code, 1);
  EXPECT_EQ(with_program.cl.out, "");
  // tini has no long options: getopt reads "--version" as the short option '-'.
  EXPECT_TRUE(starts_with(with_program.cl.err, "tini: invalid option -- '-'\n")) << with_program.cl.err;

  Cmd with_option({"tini", "-s", "--version"});
  EXPECT_EQ(with_option.cl.exit_code, 1);
  EXPECT_TRUE(starts_with(with_option.cl.err, "tini: invalid option -- '-'\n"));

  Cmd as_program_arg({"tini", "--", "echo", "--version"});
  ASSERT_EQ(as_program_arg.cl.action, Action::Run);
  EXPECT_EQ(as_program_arg.program(), (Strings{"echo", "--version"}));
}

TEST(TiniOptions, NoProgramPrintsUsageToStderr) {
  for (auto words : {std::initializer_list<const char*>{"tini"}, {"tini", "--"}, {"tini", "-s", "-v"}}) {
    Cmd c(words);
    EXPECT_EQ(c.cl.action, Action::Exit);
    EXPECT_EQ(c.cl.exit_code, 1);
    EXPECT_EQ(c.cl.out, "");
    EXPECT_TRUE(starts_with(c.cl.err, "tini (tini version")) << c.cl.err;
    EXPECT_NE(c.cl.err.find("Usage: tini [OPTIONS] PROGRAM -- [ARGS] | --version\n"), std::string::npos);
  }
}

TEST(TiniOptions, BadOptionPrintsGetoptMessageThenUsage) {
  Cmd c({"tini", "-x", "echo"});
  EXPECT_EQ(c.cl.action, Action::Exit);
  EXPECT_EQ(c.cl.exit_code, 1);
  EXPECT_EQ(c.cl.out, "");
  EXPECT_TRUE(starts_with(c.cl.err, "tini: invalid option -- 'x'\ntini (tini version")) << c.cl.err;

  // getopt uses argv[0] as given; the usage uses the base name.
  Cmd full({"/usr/bin/tini", "-x", "echo"});
  EXPECT_TRUE(starts_with(full.cl.err, "/usr/bin/tini: invalid option -- 'x'\ntini (tini version")) << full.cl.err;

  Cmd missing({"tini", "echo", "-p"});
  EXPECT_EQ(missing.cl.exit_code, 1);
  EXPECT_TRUE(starts_with(missing.cl.err, "tini: option requires an argument -- 'p'\n")) << missing.cl.err;

  Cmd after({"tini", "echo", "-x"});  // permuted: still tini's
  EXPECT_EQ(after.cl.exit_code, 1);
  EXPECT_TRUE(starts_with(after.cl.err, "tini: invalid option -- 'x'\n"));
}

TEST(TiniOptions, BadValues) {
  {
    Cmd c({"tini", "-p", "BOGUS", "echo"}, {}, 1);
    EXPECT_EQ(c.cl.action, Action::Exit);
    EXPECT_EQ(c.cl.exit_code, 1);
    EXPECT_EQ(c.cl.out, "");
    EXPECT_EQ(c.cl.err, "[FATAL tini (1)] Not a valid option for -p: BOGUS\n");
  }
  for (const char* bad : {"256", "-1", "abc", ""}) {
    Cmd c({"tini", "-e", bad, "echo"}, {}, 77);
    EXPECT_EQ(c.cl.exit_code, 1) << bad;
    EXPECT_EQ(c.cl.err, std::string("[FATAL tini (77)] Not a valid option for -e: ") + bad + "\n");
  }
  for (const char* good : {"0", "255"}) {
    Cmd c({"tini", "-e", good, "echo"});
    EXPECT_EQ(c.cl.action, Action::Run) << good;
  }
}

// tini handles each option as getopt returns it: -h prints the help and
// exits 0 before getopt ever reaches a later bad option.
TEST(TiniOptions, HelpBeforeABadOptionWins) {
  Cmd c({"tini", "-h", "-x"});
  EXPECT_EQ(c.cl.exit_code, 0) << c.cl.err;
  EXPECT_NE(c.cl.out.find("Usage: tini"), std::string::npos);
  EXPECT_EQ(c.cl.err, "");
}

TEST(TiniOptions, EnvironmentSubreaper) {
  for (const char* value : {"1", "", "0"}) {  // set at all
    Cmd c({"tini", "echo"}, {{"TINI_SUBREAPER", value}}, 1);
    ASSERT_EQ(c.cl.action, Action::Run);
    EXPECT_TRUE(c.o().register_subreaper) << "'" << value << "'";
    EXPECT_EQ(c.o().role, Role::Subreaper);
  }
  Cmd unset({"tini", "echo"}, {}, 1);
  EXPECT_FALSE(unset.o().register_subreaper);
}

TEST(TiniOptions, EnvironmentKillProcessGroup) {
  Cmd c({"tini", "echo"}, {{"TINI_KILL_PROCESS_GROUP", ""}});
  ASSERT_EQ(c.cl.action, Action::Run);
  EXPECT_TRUE(c.o().signal_group);
}

TEST(TiniOptions, EnvironmentVerbosity) {
  Cmd c({"tini", "echo"}, {{"TINI_VERBOSITY", "3"}});
  ASSERT_EQ(c.cl.action, Action::Run);
  EXPECT_EQ(c.o().verbosity, 3);
  Cmd zero({"tini", "echo"}, {{"TINI_VERBOSITY", "0"}});
  EXPECT_EQ(zero.o().verbosity, 0);
}

// Sets an environment variable for its lifetime, then puts back the old value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = ::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (had_) {
      ::setenv(name_.c_str(), old_.c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::string old_;
  bool had_ = false;
};

TEST(TiniOptions, ReadsTheGivenEnvironmentNotTheProcesses) {
  ScopedEnv a("TINI_SUBREAPER", "1");
  ScopedEnv b("TINI_KILL_PROCESS_GROUP", "1");
  ScopedEnv v("TINI_VERBOSITY", "3");
  Cmd c({"tini", "echo"}, {}, 1);
  ASSERT_EQ(c.cl.action, Action::Run);
  EXPECT_FALSE(c.o().register_subreaper);
  EXPECT_FALSE(c.o().signal_group);
  EXPECT_EQ(c.o().verbosity, 1);
}

TEST(TiniOptions, DumbInitVariablesAreIgnored) {
  Cmd c({"tini", "echo"}, {{"DUMB_INIT_SETSID", "0"}, {"DUMB_INIT_DEBUG", "1"}});
  ASSERT_EQ(c.cl.action, Action::Run);
  EXPECT_EQ(c.o().session, Session::NewProcessGroup);
  EXPECT_EQ(c.o().verbosity, 1);
}

// ================================================================ dumb-init

TEST(DumbInitOptions, Defaults) {
  Cmd c({"dumb-init", "echo", "hi"}, {}, 1);
  ASSERT_EQ(c.cl.action, Action::Run) << c.cl.err;
  EXPECT_EQ(c.cl.exit_code, 0);
  EXPECT_EQ(c.cl.out, "");
  EXPECT_EQ(c.cl.err, "");
  const auto& o = c.o();
  EXPECT_EQ(o.personality, Personality::DumbInit);
  EXPECT_EQ(o.role, Role::Container);
  EXPECT_FALSE(o.register_subreaper);
  EXPECT_EQ(o.session, Session::NewSession);
  EXPECT_TRUE(o.take_terminal);
  EXPECT_FALSE(o.inherit_signal_state);
  EXPECT_TRUE(o.signal_group);
  EXPECT_TRUE(o.stop_self_on_tty_signals);
  EXPECT_TRUE(o.forward_tty_and_fault_signals);
  expect_no_exit_remaps(o);
  EXPECT_FALSE(o.whole_tree_stop);
  EXPECT_TRUE(o.term_group_on_exit);
  EXPECT_EQ(o.parent_death_signal, 0);
  EXPECT_EQ(o.verbosity, 0);
  EXPECT_EQ(o.argv0, "dumb-init");
  EXPECT_EQ(c.program(), (Strings{"echo", "hi"}));
  EXPECT_TRUE(c.program_terminated());
  // setsid mode: the terminal's stop signals become SIGSTOP, nothing else.
  for (int s = 0; s < static_cast<int>(o.rewrite.size()); ++s) {
    int want = (s == 20 || s == 21 || s == 22) ? 19 : -1;
    EXPECT_EQ(o.rewrite[static_cast<std::size_t>(s)], want) << "signal " << s;
  }
}

TEST(DumbInitOptions, Argv0IsKeptAsGiven) {
  Cmd c({"/usr/bin/dumb-init", "echo"});
  ASSERT_EQ(c.cl.action, Action::Run);
  EXPECT_EQ(c.o().personality, Personality::DumbInit);
  EXPECT_EQ(c.o().argv0, "/usr/bin/dumb-init");
}

TEST(DumbInitOptions, SingleChild) {
  for (const char* flag : {"-c", "--single-child", "--single"}) {
    Cmd c({"dumb-init", flag, "echo"});
    ASSERT_EQ(c.cl.action, Action::Run) << flag;
    EXPECT_EQ(c.o().session, Session::Inherit);
    EXPECT_FALSE(c.o().take_terminal);
    EXPECT_FALSE(c.o().signal_group);
    // dumb-init stops itself after a terminal stop signal in both modes.
    EXPECT_TRUE(c.o().stop_self_on_tty_signals);
    expect_no_rewrites(c.o());
  }
}

TEST(DumbInitOptions, Rewrite) {
  Cmd c({"dumb-init", "-r", "15:2", "--rewrite=1:0", "--rewrite", "10:12", "-r3:9", "echo"});
  ASSERT_EQ(c.cl.action, Action::Run) << c.cl.err;
  const auto& r = c.o().rewrite;
  EXPECT_EQ(r[15], 2);
  EXPECT_EQ(r[1], 0);
  EXPECT_EQ(r[10], 12);
  EXPECT_EQ(r[3], 9);
  EXPECT_EQ(r[20], 19);
}

TEST(DumbInitOptions, ExplicitTtyRewriteIsNotOverridden) {
  Cmd c({"dumb-init", "-r", "20:15", "-r", "21:0", "echo"});
  ASSERT_EQ(c.cl.action, Action::Run);
  EXPECT_EQ(c.o().rewrite[20], 15);
  EXPECT_EQ(c.o().rewrite[21], 0);
  EXPECT_EQ(c.o().rewrite[22], 19);
}

TEST(DumbInitOptions, SingleChildKeepsExplicitRewrites) {
  Cmd c({"dumb-init", "-c", "-r", "20:15", "echo"});
  ASSERT_EQ(c.cl.action, Action::Run);
  EXPECT_EQ(c.o().rewrite[20], 15);
  EXPECT_EQ(c.o().rewrite[21], -1);
  EXPECT_EQ(c.o().rewrite[22], -1);
}

TEST(DumbInitOptions, BadRewrite) {
  for (const char* bad : {"15", "0:1", "32:1", "1:32", "x:y", ":"}) {
    Cmd c({"dumb-init", "-r", bad, "echo"});
    EXPECT_EQ(c.cl.action, Action::Exit) << bad;
    EXPECT_EQ(c.cl.exit_code, 1);
    EXPECT_EQ(c.cl.out, "");
    EXPECT_EQ(c.cl.err,
              "Usage: -r option takes <signum>:<signum>, where <signum> is between 1 and 31.\n"
              "This option can be specified multiple times.\n"
              "Use --help for full usage.\n");
  }
}

TEST(DumbInitOptions, Verbose) {
  for (const char* flag : {"-v", "--verbose"}) {
    Cmd c({"dumb-init", flag, "echo"});
    ASSERT_EQ(c.cl.action, Action::Run);
    EXPECT_EQ(c.o().verbosity, 1) << flag;
  }
}

TEST(DumbInitOptions, OptionsStopAtTheProgram) {
  Cmd c({"dumb-init", "echo", "-v", "-c"});
  ASSERT_EQ(c.cl.action, Action::Run);
  EXPECT_EQ(c.o().verbosity, 0);
  EXPECT_EQ(c.o().session, Session::NewSession);
  EXPECT_EQ(c.program(), (Strings{"echo", "-v", "-c"}));
  Cmd dd({"dumb-init", "--", "-v"});
  ASSERT_EQ(dd.cl.action, Action::Run);
  EXPECT_EQ(dd.program(), (Strings{"-v"}));
}

TEST(DumbInitOptions, EnvironmentSetsidZero) {
  Cmd c({"dumb-init", "echo"}, {{"DUMB_INIT_SETSID", "0"}});
  ASSERT_EQ(c.cl.action, Action::Run);
  EXPECT_EQ(c.o().session, Session::Inherit);
  EXPECT_FALSE(c.o().signal_group);
  EXPECT_FALSE(c.o().take_terminal);
  EXPECT_TRUE(c.o().stop_self_on_tty_signals);
  EXPECT_TRUE(c.o().setsid_off_from_environment);
  expect_no_rewrites(c.o());
  for (const char* other : {"1", "", "no", "00"}) {
    Cmd k({"dumb-init", "echo"}, {{"DUMB_INIT_SETSID", other}});
    EXPECT_EQ(k.o().session, Session::NewSession) << "'" << other << "'";
    EXPECT_TRUE(k.o().signal_group);
  }
}

TEST(DumbInitOptions, EnvironmentDebug) {
  Cmd c({"dumb-init", "echo"}, {{"DUMB_INIT_DEBUG", "1"}});
  ASSERT_EQ(c.cl.action, Action::Run);
  EXPECT_EQ(c.o().verbosity, 1);
  for (const char* other : {"0", "", "yes", "true", "11"}) {
    Cmd k({"dumb-init", "echo"}, {{"DUMB_INIT_DEBUG", other}});
    EXPECT_EQ(k.o().verbosity, 0) << "'" << other << "'";
  }
}

TEST(DumbInitOptions, TiniVariablesAreIgnored) {
  Cmd c({"dumb-init", "echo"}, {{"TINI_SUBREAPER", "1"}, {"TINI_VERBOSITY", "3"}, {"TINI_KILL_PROCESS_GROUP", "1"}});
  ASSERT_EQ(c.cl.action, Action::Run);
  EXPECT_FALSE(c.o().register_subreaper);
  EXPECT_EQ(c.o().verbosity, 0);
}

TEST(DumbInitOptions, HelpGoesToStderr) {
  for (const char* flag : {"-h", "--help"}) {
    Cmd c({"dumb-init", flag});
    EXPECT_EQ(c.cl.action, Action::Exit);
    EXPECT_EQ(c.cl.exit_code, 0);
    EXPECT_EQ(c.cl.out, "");
    EXPECT_TRUE(starts_with(c.cl.err, std::string("dumb-init v1.2.5 (keel ") + kVersion + ")\n")) << c.cl.err;
    EXPECT_NE(c.cl.err.find("Usage: dumb-init [option] command [[arg] ...]\n"), std::string::npos);
  }
}

TEST(DumbInitOptions, VersionGoesToStderr) {
  for (const char* flag : {"-V", "--version"}) {
    Cmd c({"dumb-init", flag});
    EXPECT_EQ(c.cl.action, Action::Exit);
    EXPECT_EQ(c.cl.exit_code, 0);
    EXPECT_EQ(c.cl.out, "");
    EXPECT_EQ(c.cl.err, std::string("dumb-init v1.2.5 (keel ") + kVersion + ")\n");
  }
}

// dumb-init acts on each option as getopt_long returns it.
TEST(DumbInitOptions, VersionBeforeABadOptionWins) {
  Cmd c({"dumb-init", "-V", "--bogus"});
  EXPECT_EQ(c.cl.exit_code, 0) << c.cl.err;
  EXPECT_EQ(c.cl.err, std::string("dumb-init v1.2.5 (keel ") + kVersion + ")\n");
}

TEST(DumbInitOptions, NoProgram) {
  Cmd c({"dumb-init"});
  EXPECT_EQ(c.cl.action, Action::Exit);
  EXPECT_EQ(c.cl.exit_code, 1);
  EXPECT_EQ(c.cl.out, "");
  EXPECT_EQ(c.cl.err, "Usage: dumb-init [option] program [args]\nTry dumb-init --help for full usage.\n");
  Cmd full({"/usr/bin/dumb-init", "-v"});
  EXPECT_EQ(full.cl.exit_code, 1);
  EXPECT_EQ(full.cl.err,
            "Usage: /usr/bin/dumb-init [option] program [args]\nTry /usr/bin/dumb-init --help for full usage.\n");
}

TEST(DumbInitOptions, BadOptions) {
  struct Case {
    std::initializer_list<const char*> words;
    const char* err;
  };
  const Case cases[] = {
      {{"dumb-init", "-x", "echo"}, "dumb-init: invalid option -- 'x'\n"},
      {{"dumb-init", "--bogus", "echo"}, "dumb-init: unrecognized option '--bogus'\n"},
      {{"dumb-init", "-r"}, "dumb-init: option requires an argument -- 'r'\n"},
      {{"dumb-init", "--rewrite"}, "dumb-init: option '--rewrite' requires an argument\n"},
      {{"dumb-init", "--help=1"}, "dumb-init: option '--help' doesn't allow an argument\n"},
  };
  for (const auto& k : cases) {
    Cmd c(k.words);
    EXPECT_EQ(c.cl.action, Action::Exit) << k.err;
    EXPECT_EQ(c.cl.exit_code, 1) << k.err;
    EXPECT_EQ(c.cl.out, "");
    EXPECT_EQ(c.cl.err, k.err);
  }
}

// ================================================================ system init

TEST(SystemInitArgv0, KernelStartedNamesRunTheSystemInit) {
  for (const char* name : {"init", "/sbin/init", "/init", "/bin/init", "/usr/lib/systemd/../../sbin/init", "linuxrc",
                           "/linuxrc"}) {
    for (auto rest : {std::initializer_list<const char*>{}, {"single"}, {"quiet", "splash"}, {"-s"}, {"--help"},
                      {"-x", "--bogus"}, {"--compat=tini", "echo"}, {"--role=container", "echo"}}) {
      std::vector<const char*> words{name};
      words.insert(words.end(), rest.begin(), rest.end());
      // Cmd takes an initializer_list; rebuild one per size.
      CommandLine cl;
      {
        std::vector<std::string> storage(words.begin(), words.end());
        std::vector<char*> argv;
        for (auto& s : storage) argv.push_back(s.data());
        argv.push_back(nullptr);
        cl = parse_command_line(static_cast<int>(storage.size()), argv.data(),
                                [](const char*) -> const char* { return nullptr; }, 1);
      }
      EXPECT_EQ(cl.action, Action::RunSystem) << name << " +" << rest.size();
      EXPECT_EQ(cl.options.role, Role::System);
      EXPECT_EQ(cl.out, "");
      EXPECT_EQ(cl.err, "");
    }
  }
}

TEST(SystemInitArgv0, ApplicationsNamedLikeInitAreNot) {
  for (const char* name : {"initctl", "init.sh", "keel-init", "/sbin/init2", "linuxrc.old"}) {
    Cmd c({name, "echo"});
    EXPECT_EQ(c.cl.action, Action::Run) << name;
  }
}

// ---- issue 14b: PYTHONHASHSEED for a Python PROGRAM (container_init.cpp).
TEST(NativeOptions, PythonHashSeedIsOnForNativeKeelAndOffByFlagOrEnvironment) {
  EXPECT_TRUE(Cmd({"keel", "python3"}).o().python_hash_seed);
  EXPECT_FALSE(Cmd({"keel", "--no-python-hash-seed", "python3"}).o().python_hash_seed);
  EXPECT_FALSE(Cmd({"keel", "python3"}, {{"KEEL_PYTHON_HASH_SEED", "0"}}).o().python_hash_seed);
  EXPECT_TRUE(Cmd({"keel", "python3"}, {{"KEEL_PYTHON_HASH_SEED", "1"}}).o().python_hash_seed);
  // After the program it is the program's argument, not keel's option.
  const Cmd after({"keel", "python3", "--no-python-hash-seed"});
  EXPECT_TRUE(after.o().python_hash_seed);
  EXPECT_EQ(after.program(), (Strings{"python3", "--no-python-hash-seed"}));
  // The drop-ins pass the environment on unchanged.
  EXPECT_FALSE(Cmd({"tini", "--", "python3"}).o().python_hash_seed);
  EXPECT_FALSE(Cmd({"dumb-init", "python3"}).o().python_hash_seed);
  EXPECT_NE(Cmd({"keel", "--help"}).cl.out.find("--no-python-hash-seed"), std::string::npos);
}

}  // namespace
}  // namespace keel
