// Unit tests for cinit/argparse: the getopt_long-compatible scanner and its
// messages. Besides fixed expectations, a differential test runs glibc's own
// getopt_long (in a forked child, since its state is global) on the same
// argv and compares the options, operands and error messages.
#include "cinit/argparse.hpp"

#include <getopt.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

namespace keel::cli {
namespace {

// Built field by field so the test does not depend on OptionSpec's member order.
OptionSpec spec(char short_name, const char* long_name, bool takes_argument, int id) {
  OptionSpec s{};
  s.short_name = short_name;
  s.long_name = long_name;
  s.takes_argument = takes_argument;
  s.id = id;
  return s;
}

enum Id { kSub = 1, kGroup, kGrace, kRewrite, kVerbose, kRole, kHelp, kVersion };

const std::vector<OptionSpec>& specs() {
  static const std::vector<OptionSpec> s = {
      spec('s', "subreaper", false, kSub),  spec('g', "group", false, kGroup),   spec('t', "grace", true, kGrace),
      spec('r', "rewrite", true, kRewrite), spec('v', "verbose", false, kVerbose), spec('\0', "role", true, kRole),
      spec('h', "help", false, kHelp),      spec('V', "version", false, kVersion),
  };
  return s;
}

// Owns the strings of an argv; argv()[0] is the program name.
class Argv {
 public:
  Argv(std::initializer_list<const char*> words) {
    for (const char* w : words) storage_.emplace_back(w);
    for (auto& s : storage_) ptrs_.push_back(s.data());
    ptrs_.push_back(nullptr);
  }
  [[nodiscard]] int argc() const { return static_cast<int>(ptrs_.size()) - 1; }
  [[nodiscard]] char** argv() { return ptrs_.data(); }

 private:
  std::vector<std::string> storage_;
  std::vector<char*> ptrs_;
};

ParsedArgv parse(Argv& a, Ordering ordering = Ordering::StopAtFirstOperand) {
  return parse_argv(a.argc(), a.argv(), specs(), ordering);
}

std::vector<std::string> operands(const ParsedArgv& p) {
  std::vector<std::string> out;
  for (char* o : p.operands) out.emplace_back(o);
  return out;
}

std::vector<std::string> option_strings(const ParsedArgv& p) {
  std::vector<std::string> out;
  for (const auto& o : p.options) {
    out.push_back(std::to_string(o.id) + (o.argument != nullptr ? "=" + std::string(o.argument) : ""));
  }
  return out;
}

using Strings = std::vector<std::string>;

// ------------------------------------------------------------ scanning

TEST(ArgparseShort, SingleFlags) {
  Argv a{"prog", "-s", "-g", "cmd"};
  auto p = parse(a);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"1", "2"}));
  EXPECT_EQ(operands(p), (Strings{"cmd"}));
}

TEST(ArgparseShort, Cluster) {
  Argv a{"prog", "-sg", "cmd"};
  auto p = parse(a);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"1", "2"}));
  EXPECT_EQ(operands(p), (Strings{"cmd"}));
}

TEST(ArgparseShort, RepeatedFlagIsReportedEachTime) {
  Argv a{"prog", "-vvv", "-v", "cmd"};
  auto p = parse(a);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"5", "5", "5", "5"}));
}

TEST(ArgparseShort, AttachedArgument) {
  Argv a{"prog", "-t5", "cmd"};
  auto p = parse(a);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"3=5"}));
  EXPECT_EQ(operands(p), (Strings{"cmd"}));
}

TEST(ArgparseShort, SeparateArgument) {
  Argv a{"prog", "-t", "5", "cmd"};
  auto p = parse(a);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"3=5"}));
  EXPECT_EQ(operands(p), (Strings{"cmd"}));
}

TEST(ArgparseShort, ClusterEndingInOptionWithAttachedArgument) {
  Argv a{"prog", "-sgt0.5", "cmd"};
  auto p = parse(a);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"1", "2", "3=0.5"}));
  EXPECT_EQ(operands(p), (Strings{"cmd"}));
}

TEST(ArgparseShort, ClusterEndingInOptionWithSeparateArgument) {
  Argv a{"prog", "-st", "7", "cmd"};
  auto p = parse(a);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"1", "3=7"}));
  EXPECT_EQ(operands(p), (Strings{"cmd"}));
}

TEST(ArgparseShort, ArgumentTakesTheRestOfTheClusterEvenIfItLooksLikeFlags) {
  Argv a{"prog", "-tsg", "cmd"};
  auto p = parse(a);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"3=sg"}));
}

TEST(ArgparseShort, SeparateArgumentMayLookLikeAnOption) {
  Argv a{"prog", "-t", "-s", "cmd"};
  auto p = parse(a);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"3=-s"}));
  EXPECT_EQ(operands(p), (Strings{"cmd"}));
}

TEST(ArgparseShort, MissingArgument) {
  Argv a{"prog", "-s", "-t"};
  auto p = parse(a);
  ASSERT_TRUE(p.error);
  EXPECT_EQ(p.error->kind, ParseError::Kind::MissingArgument);
  EXPECT_EQ(p.error->option, "t");
  EXPECT_FALSE(p.error->is_long);
}

TEST(ArgparseShort, Unknown) {
  Argv a{"prog", "-x", "cmd"};
  auto p = parse(a);
  ASSERT_TRUE(p.error);
  EXPECT_EQ(p.error->kind, ParseError::Kind::Unknown);
  EXPECT_EQ(p.error->option, "x");
  EXPECT_FALSE(p.error->is_long);
}

TEST(ArgparseShort, UnknownInsideCluster) {
  Argv a{"prog", "-sxg", "cmd"};
  auto p = parse(a);
  ASSERT_TRUE(p.error);
  EXPECT_EQ(p.error->kind, ParseError::Kind::Unknown);
  EXPECT_EQ(p.error->option, "x");
}

TEST(ArgparseLong, EqualsValue) {
  Argv a{"prog", "--grace=5", "cmd"};
  auto p = parse(a);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"3=5"}));
  EXPECT_EQ(operands(p), (Strings{"cmd"}));
}

TEST(ArgparseLong, SeparateValue) {
  Argv a{"prog", "--grace", "5", "cmd"};
  auto p = parse(a);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"3=5"}));
  EXPECT_EQ(operands(p), (Strings{"cmd"}));
}

TEST(ArgparseLong, EmptyEqualsValue) {
  Argv a{"prog", "--grace=", "cmd"};
  auto p = parse(a);
  ASSERT_FALSE(p.error);
  ASSERT_EQ(p.options.size(), 1U);
  ASSERT_NE(p.options[0].argument, nullptr);
  EXPECT_STREQ(p.options[0].argument, "");
}

TEST(ArgparseLong, ValueMayContainEquals) {
  Argv a{"prog", "--rewrite=a=b", "cmd"};
  auto p = parse(a);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"4=a=b"}));
}

TEST(ArgparseLong, LongOnlyOption) {
  Argv a{"prog", "--role=system"};
  auto p = parse(a);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"6=system"}));
  EXPECT_TRUE(p.operands.empty());
}

TEST(ArgparseLong, FlagHasNoArgument) {
  Argv a{"prog", "--subreaper", "cmd"};
  auto p = parse(a);
  ASSERT_FALSE(p.error);
  ASSERT_EQ(p.options.size(), 1U);
  EXPECT_EQ(p.options[0].id, kSub);
  EXPECT_EQ(p.options[0].argument, nullptr);
}

TEST(ArgparseLong, UniquePrefix) {
  Argv a{"prog", "--sub", "--gra=2", "--rew", "X", "--verb", "--ro", "c", "cmd"};
  auto p = parse(a);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"1", "3=2", "4=X", "5", "6=c"}));
  EXPECT_EQ(operands(p), (Strings{"cmd"}));
}

TEST(ArgparseLong, AmbiguousPrefix) {
  Argv a{"prog", "--gr", "cmd"};  // grace, group
  auto p = parse(a);
  ASSERT_TRUE(p.error);
  EXPECT_EQ(p.error->kind, ParseError::Kind::Ambiguous);
  EXPECT_EQ(p.error->option, "gr");
  EXPECT_TRUE(p.error->is_long);
}

TEST(ArgparseLong, AmbiguousPrefixWithValue) {
  Argv a{"prog", "--ver=1", "cmd"};  // verbose, version
  auto p = parse(a);
  ASSERT_TRUE(p.error);
  EXPECT_EQ(p.error->kind, ParseError::Kind::Ambiguous);
}

TEST(ArgparseLong, ExactMatchWinsOverLongerNames) {
  std::vector<OptionSpec> s = {spec('\0', "verbose", false, 1), spec('\0', "verbose-all", false, 2)};
  Argv a{"prog", "--verbose", "cmd"};
  auto p = parse_argv(a.argc(), a.argv(), s, Ordering::StopAtFirstOperand);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"1"}));
  Argv b{"prog", "--verbose-", "cmd"};
  p = parse_argv(b.argc(), b.argv(), s, Ordering::StopAtFirstOperand);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"2"}));
  Argv c{"prog", "--verb", "cmd"};
  p = parse_argv(c.argc(), c.argv(), s, Ordering::StopAtFirstOperand);
  ASSERT_TRUE(p.error);
  EXPECT_EQ(p.error->kind, ParseError::Kind::Ambiguous);
}

TEST(ArgparseLong, PrefixOfTwoNamesForTheSameOptionIsNotAmbiguous) {
  // getopt_long treats candidates with the same meaning as one.
  std::vector<OptionSpec> s = {spec('\0', "colour", false, 7), spec('\0', "color", false, 7)};
  Argv a{"prog", "--col", "cmd"};
  auto p = parse_argv(a.argc(), a.argv(), s, Ordering::StopAtFirstOperand);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"7"}));
}

TEST(ArgparseLong, Unknown) {
  Argv a{"prog", "--foo", "cmd"};
  auto p = parse(a);
  ASSERT_TRUE(p.error);
  EXPECT_EQ(p.error->kind, ParseError::Kind::Unknown);
  EXPECT_EQ(p.error->option, "foo");
  EXPECT_TRUE(p.error->is_long);
}

TEST(ArgparseLong, MissingArgument) {
  Argv a{"prog", "--grace"};
  auto p = parse(a);
  ASSERT_TRUE(p.error);
  EXPECT_EQ(p.error->kind, ParseError::Kind::MissingArgument);
  EXPECT_EQ(p.error->option, "grace");
  EXPECT_TRUE(p.error->is_long);
}

TEST(ArgparseLong, MissingArgumentNamesTheFullOptionWhenAbbreviated) {
  Argv a{"prog", "--gra"};
  auto p = parse(a);
  ASSERT_TRUE(p.error);
  EXPECT_EQ(p.error->kind, ParseError::Kind::MissingArgument);
  EXPECT_EQ(p.error->option, "grace");
}

TEST(ArgparseLong, UnexpectedArgumentForAFlag) {
  Argv a{"prog", "--subreaper=1", "cmd"};
  auto p = parse(a);
  ASSERT_TRUE(p.error);
  EXPECT_EQ(p.error->kind, ParseError::Kind::UnexpectedArgument);
  EXPECT_EQ(p.error->option, "subreaper");
  EXPECT_TRUE(p.error->is_long);
  Argv b{"prog", "--sub=", "cmd"};
  p = parse(b);
  ASSERT_TRUE(p.error);
  EXPECT_EQ(p.error->kind, ParseError::Kind::UnexpectedArgument);
  EXPECT_EQ(p.error->option, "subreaper");
}

TEST(ArgparseOperands, DoubleDashIsDropped) {
  Argv a{"prog", "-s", "--", "-g", "cmd"};
  auto p = parse(a);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"1"}));
  EXPECT_EQ(operands(p), (Strings{"-g", "cmd"}));
}

TEST(ArgparseOperands, OnlyTheFirstDoubleDashIsDropped) {
  Argv a{"prog", "--", "--", "x"};
  auto p = parse(a);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(operands(p), (Strings{"--", "x"}));
  Argv b{"prog", "echo", "--", "x"};
  p = parse(b);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(operands(p), (Strings{"echo", "--", "x"}));
}

TEST(ArgparseOperands, DoubleDashAloneGivesNoOperands) {
  Argv a{"prog", "-s", "--"};
  auto p = parse(a);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"1"}));
  EXPECT_TRUE(p.operands.empty());
}

TEST(ArgparseOperands, NoArguments) {
  Argv a{"prog"};
  auto p = parse(a);
  EXPECT_FALSE(p.error);
  EXPECT_TRUE(p.options.empty());
  EXPECT_TRUE(p.operands.empty());
}

TEST(ArgparseOperands, LoneDashIsAnOperand) {
  Argv a{"prog", "-", "-s"};
  auto p = parse(a, Ordering::StopAtFirstOperand);
  ASSERT_FALSE(p.error);
  EXPECT_TRUE(p.options.empty());
  EXPECT_EQ(operands(p), (Strings{"-", "-s"}));

  p = parse(a, Ordering::Permute);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"1"}));
  EXPECT_EQ(operands(p), (Strings{"-"}));
}

TEST(ArgparseOperands, OperandsAreTheCallersPointers) {
  Argv a{"prog", "-s", "echo", "hi"};
  auto p = parse(a);
  ASSERT_EQ(p.operands.size(), 2U);
  EXPECT_EQ(p.operands[0], a.argv()[2]);
  EXPECT_EQ(p.operands[1], a.argv()[3]);
  Argv b{"prog", "-t5", "--grace=6", "x"};
  p = parse(b);
  ASSERT_EQ(p.options.size(), 2U);
  EXPECT_EQ(p.options[0].argument, b.argv()[1] + 2);
  EXPECT_EQ(p.options[1].argument, b.argv()[2] + 8);
}

TEST(ArgparseOrdering, StopAtFirstOperandLeavesTheRestToTheProgram) {
  Argv a{"prog", "-s", "echo", "-v", "hi"};
  auto p = parse(a, Ordering::StopAtFirstOperand);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"1"}));
  EXPECT_EQ(operands(p), (Strings{"echo", "-v", "hi"}));
}

TEST(ArgparseOrdering, StopAtFirstOperandIgnoresUnknownOptionsAfterIt) {
  Argv a{"prog", "ls", "-x", "--bogus"};
  auto p = parse(a, Ordering::StopAtFirstOperand);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(operands(p), (Strings{"ls", "-x", "--bogus"}));
}

TEST(ArgparseOrdering, PermuteTakesOptionsAfterOperands) {
  // tini -s echo -v hi: -v is tini's.
  Argv a{"tini", "-s", "echo", "-v", "hi"};
  auto p = parse(a, Ordering::Permute);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"1", "5"}));
  EXPECT_EQ(operands(p), (Strings{"echo", "hi"}));
}

TEST(ArgparseOrdering, PermuteStopsAtDoubleDash) {
  // tini -s echo -- -v hi: echo gets "-v hi".
  Argv a{"tini", "-s", "echo", "--", "-v", "hi"};
  auto p = parse(a, Ordering::Permute);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"1"}));
  EXPECT_EQ(operands(p), (Strings{"echo", "-v", "hi"}));
}

TEST(ArgparseOrdering, PermuteReportsUnknownOptionsAfterOperands) {
  Argv a{"tini", "ls", "-x"};
  auto p = parse(a, Ordering::Permute);
  ASSERT_TRUE(p.error);
  EXPECT_EQ(p.error->kind, ParseError::Kind::Unknown);
  EXPECT_EQ(p.error->option, "x");
}

TEST(ArgparseOrdering, PermuteOptionArgumentIsNotAnOperand) {
  Argv a{"tini", "a", "-t", "b", "c"};
  auto p = parse(a, Ordering::Permute);
  ASSERT_FALSE(p.error);
  EXPECT_EQ(option_strings(p), (Strings{"3=b"}));
  EXPECT_EQ(operands(p), (Strings{"a", "c"}));
}

// ------------------------------------------------------------ messages

TEST(ArgparseMessage, InvalidShortOption) {
  ParseError e{ParseError::Kind::Unknown, "x", false, {}, {}};
  EXPECT_EQ(getopt_message("prog", e), "prog: invalid option -- 'x'");
}

TEST(ArgparseMessage, ShortOptionRequiresArgument) {
  ParseError e{ParseError::Kind::MissingArgument, "p", false, {}, {}};
  EXPECT_EQ(getopt_message("prog", e), "prog: option requires an argument -- 'p'");
}

TEST(ArgparseMessage, UnrecognizedLongOption) {
  ParseError e{ParseError::Kind::Unknown, "foo", true, {}, {}};
  EXPECT_EQ(getopt_message("prog", e), "prog: unrecognized option '--foo'");
}

TEST(ArgparseMessage, LongOptionRequiresArgument) {
  ParseError e{ParseError::Kind::MissingArgument, "grace", true, {}, {}};
  EXPECT_EQ(getopt_message("prog", e), "prog: option '--grace' requires an argument");
}

TEST(ArgparseMessage, LongOptionDoesNotAllowArgument) {
  ParseError e{ParseError::Kind::UnexpectedArgument, "help", true, {}, {}};
  EXPECT_EQ(getopt_message("prog", e), "prog: option '--help' doesn't allow an argument");
}

TEST(ArgparseMessage, ProgramIsPrintedAsGiven) {
  ParseError e{ParseError::Kind::Unknown, "x", false, {}, {}};
  EXPECT_EQ(getopt_message("/usr/bin/tini", e), "/usr/bin/tini: invalid option -- 'x'");
}

TEST(ArgparseMessage, FromParsedErrors) {
  struct Case {
    std::initializer_list<const char*> words;
    const char* message;
  };
  const Case cases[] = {
      {{"prog", "-x"}, "prog: invalid option -- 'x'"},
      {{"prog", "-t"}, "prog: option requires an argument -- 't'"},
      {{"prog", "--foo"}, "prog: unrecognized option '--foo'"},
      {{"prog", "--grace"}, "prog: option '--grace' requires an argument"},
      {{"prog", "--help=yes"}, "prog: option '--help' doesn't allow an argument"},
  };
  for (const auto& c : cases) {
    Argv a(c.words);
    auto p = parse(a);
    ASSERT_TRUE(p.error) << c.message;
    EXPECT_EQ(getopt_message("prog", *p.error), c.message);
  }
}

// GNU getopt quotes what was written after "--", value included:
// `prog --foo=bar` prints "prog: unrecognized option '--foo=bar'".
TEST(ArgparseMessage, UnrecognizedLongOptionWithValueIsQuotedWhole) {
  Argv a{"prog", "--foo=bar"};
  auto p = parse(a);
  ASSERT_TRUE(p.error);
  EXPECT_EQ(getopt_message("prog", *p.error), "prog: unrecognized option '--foo=bar'");
}

// glibc lists the candidates of an ambiguous abbreviation.
TEST(ArgparseMessage, AmbiguousOptionListsPossibilities) {
  Argv a{"prog", "--gr"};
  auto p = parse(a);
  ASSERT_TRUE(p.error);
  std::string m = getopt_message("prog", *p.error);
  EXPECT_EQ(m.rfind("prog: option '--gr' is ambiguous", 0), 0U) << m;
  // In option-table order, as glibc prints them.
  EXPECT_EQ(m, "prog: option '--gr' is ambiguous; possibilities: '--group' '--grace'");
}

// ------------------------------------------------- differential vs glibc

// Run glibc getopt_long on `words` in a child and serialise what it saw:
// "opt ID[=ARG]" lines, then either the message glibc printed or
// "operand X" lines. `posixly_correct`: run it with POSIXLY_CORRECT set.
std::string glibc_trace(const std::vector<std::string>& words, Ordering ordering, bool posixly_correct = false) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    ::alarm(5);
    ::close(fds[0]);
    ::dup2(fds[1], STDERR_FILENO);
    if (posixly_correct) {
      ::setenv("POSIXLY_CORRECT", "1", 1);
    } else {
      ::unsetenv("POSIXLY_CORRECT");
    }
    std::vector<std::string> storage(words);
    std::vector<char*> argv;
    for (auto& w : storage) argv.push_back(w.data());
    argv.push_back(nullptr);
    std::string optstring = ordering == Ordering::StopAtFirstOperand ? "+" : "";
    std::vector<option> longopts;
    for (const auto& s : specs()) {
      if (s.short_name != '\0') {
        optstring += s.short_name;
        if (s.takes_argument) optstring += ':';
      }
      if (s.long_name != nullptr) {
        longopts.push_back(option{s.long_name, s.takes_argument ? required_argument : no_argument, nullptr, 256 + s.id});
      }
    }
    longopts.push_back(option{nullptr, 0, nullptr, 0});
    std::string out;
    int argc = static_cast<int>(storage.size());
    for (;;) {
      int c = ::getopt_long(argc, argv.data(), optstring.c_str(), longopts.data(), nullptr);
      if (c == -1) break;
      if (c == '?') _exit(0);  // glibc printed its message to the pipe
      int id = c;
      if (c < 256) {
        for (const auto& s : specs()) {
          if (s.short_name == c) id = 256 + s.id;
        }
      }
      out = "opt " + std::to_string(id - 256) + (optarg != nullptr ? "=" + std::string(optarg) : "") + "\n";
      ssize_t w = ::write(fds[1], out.data(), out.size());
      (void)w;
    }
    for (int i = optind; i < argc; ++i) {
      out = std::string("operand ") + argv[static_cast<std::size_t>(i)] + "\n";
      ssize_t w = ::write(fds[1], out.data(), out.size());
      (void)w;
    }
    _exit(0);
  }
  ::close(fds[1]);
  std::string result;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return result;
}

std::string keel_trace(const std::vector<std::string>& words, Ordering ordering) {
  std::vector<std::string> storage(words);
  std::vector<char*> argv;
  for (auto& w : storage) argv.push_back(w.data());
  argv.push_back(nullptr);
  auto p = parse_argv(static_cast<int>(storage.size()), argv.data(), specs(), ordering);
  std::string out;
  for (const auto& o : p.options) {
    out += "opt " + std::to_string(o.id) + (o.argument != nullptr ? "=" + std::string(o.argument) : "") + "\n";
  }
  if (p.error) {
    out += getopt_message(argv[0], *p.error) + "\n";
  } else {
    for (char* o : p.operands) out += std::string("operand ") + o + "\n";
  }
  return out;
}

const std::vector<std::vector<std::string>>& differential_cases() {
  static const std::vector<std::vector<std::string>> cases = {
      {"prog"},
      {"prog", "-s", "cmd", "-v", "x"},
      {"prog", "-sg", "cmd"},
      {"prog", "-t5", "cmd"},
      {"prog", "-t", "5", "cmd"},
      {"prog", "-st", "5", "cmd", "-t", "6"},
      {"prog", "-t", "-s", "cmd"},
      {"prog", "--grace=5", "cmd"},
      {"prog", "--grace", "5", "cmd"},
      {"prog", "--grace=", "cmd"},
      {"prog", "--gra=1", "--sub", "--rew", "a:b", "cmd"},
      {"prog", "--role", "system"},
      {"prog", "-s", "--", "-g", "cmd"},
      {"prog", "--", "--", "x"},
      {"prog", "cmd", "--", "-v", "x"},
      {"prog", "-s", "echo", "--", "-v", "hi"},
      {"prog", "-", "-s"},
      {"prog", "a", "-t", "b", "c"},
      {"prog", "-x"},
      {"prog", "-sxg"},
      {"prog", "cmd", "-x"},
      {"prog", "-t"},
      {"prog", "-s", "-t"},
      {"prog", "--foo"},
      {"prog", "--grace"},
      {"prog", "--gra"},
      {"prog", "--help=1"},
      {"prog", "--sub=", "cmd"},
      {"/usr/bin/prog", "-x"},
      {"prog", "-s-"},
      {"prog", "---foo"},
      {"prog", "-s", "-", "-g"},
      {"prog", "-vt", "--", "x"},
      {"prog", "--rewrite", "--", "x"},
      {"prog", "--help", "--", "--help"},
      {"prog", "x", "--", "--", "y"},
      {"prog", "-V", "--verbose", "--version"},
  };
  return cases;
}

// Where keel's messages diverge from glibc's (see the message tests above).
const std::vector<std::vector<std::string>>& divergent_cases() {
  static const std::vector<std::vector<std::string>> cases = {
      {"prog", "--foo=bar"},
      {"prog", "--gr"},
      {"prog", "--ver=1"},
  };
  return cases;
}

std::string describe(const std::vector<std::string>& words) {
  std::string s;
  for (const auto& w : words) s += "'" + w + "' ";
  return s;
}

TEST(ArgparseVsGlibc, StopAtFirstOperand) {
  for (const auto& words : differential_cases()) {
    EXPECT_EQ(keel_trace(words, Ordering::StopAtFirstOperand), glibc_trace(words, Ordering::StopAtFirstOperand))
        << describe(words);
  }
}

TEST(ArgparseVsGlibc, Permute) {
  for (const auto& words : differential_cases()) {
    EXPECT_EQ(keel_trace(words, Ordering::Permute), glibc_trace(words, Ordering::Permute)) << describe(words);
  }
}

// GNU getopt without a '+' stops at the first operand when POSIXLY_CORRECT
// is set (tini's case): keel's StopAtFirstOperand is that ordering too.
TEST(ArgparseVsGlibc, PosixlyCorrectIsStopAtFirstOperand) {
  for (const auto& words : differential_cases()) {
    EXPECT_EQ(keel_trace(words, Ordering::StopAtFirstOperand),
              glibc_trace(words, Ordering::Permute, /*posixly_correct=*/true))
        << describe(words);
  }
}

TEST(ArgparseVsGlibc, UnknownWithValueAndAmbiguousMessages) {
  for (const auto& words : divergent_cases()) {
    EXPECT_EQ(keel_trace(words, Ordering::Permute), glibc_trace(words, Ordering::Permute)) << describe(words);
  }
}

}  // namespace
}  // namespace keel::cli
