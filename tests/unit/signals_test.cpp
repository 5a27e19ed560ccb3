// Unit tests for core/signals: parsing signal names and numbers, and names.
#include "core/signals.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <optional>
#include <string>

namespace keel {
namespace {

TEST(SignalsParse, NameWithoutPrefix) {
  EXPECT_EQ(signals::parse("TERM"), std::optional<int>(SIGTERM));
  EXPECT_EQ(signals::parse("KILL"), std::optional<int>(SIGKILL));
  EXPECT_EQ(signals::parse("HUP"), std::optional<int>(SIGHUP));
  EXPECT_EQ(signals::parse("SYS"), std::optional<int>(SIGSYS));
  EXPECT_EQ(signals::parse("STKFLT"), std::optional<int>(16));
}

TEST(SignalsParse, NameWithPrefix) {
  EXPECT_EQ(signals::parse("SIGTERM"), std::optional<int>(SIGTERM));
  EXPECT_EQ(signals::parse("SIGUSR1"), std::optional<int>(SIGUSR1));
  EXPECT_EQ(signals::parse("SIGWINCH"), std::optional<int>(SIGWINCH));
}

TEST(SignalsParse, CaseInsensitive) {
  EXPECT_EQ(signals::parse("sigterm"), std::optional<int>(SIGTERM));
  EXPECT_EQ(signals::parse("term"), std::optional<int>(SIGTERM));
  EXPECT_EQ(signals::parse("SigTerm"), std::optional<int>(SIGTERM));
  EXPECT_EQ(signals::parse("sigUsr2"), std::optional<int>(SIGUSR2));
}

TEST(SignalsParse, Numbers) {
  EXPECT_EQ(signals::parse("15"), std::optional<int>(15));
  EXPECT_EQ(signals::parse("1"), std::optional<int>(1));
  EXPECT_EQ(signals::parse("31"), std::optional<int>(31));
  EXPECT_EQ(signals::parse("9"), std::optional<int>(9));
  EXPECT_EQ(signals::parse("015"), std::optional<int>(15));
}

TEST(SignalsParse, EveryClassicSignalRoundTripsThroughItsNameAndNumber) {
  for (int signo = 1; signo <= 31; ++signo) {
    const char* n = signals::name(signo);
    ASSERT_EQ(std::strncmp(n, "SIG", 3), 0) << signo;
    EXPECT_EQ(signals::parse(n), std::optional<int>(signo)) << n;
    EXPECT_EQ(signals::parse(n + 3), std::optional<int>(signo)) << n;
    EXPECT_EQ(signals::parse(std::to_string(signo)), std::optional<int>(signo)) << signo;
  }
}

TEST(SignalsParse, ZeroOnlyWithAllowZero) {
  EXPECT_EQ(signals::parse("0"), std::nullopt);
  EXPECT_EQ(signals::parse("0", false), std::nullopt);
  EXPECT_EQ(signals::parse("0", true), std::optional<int>(0));
  // allow_zero does not change anything else.
  EXPECT_EQ(signals::parse("15", true), std::optional<int>(15));
  EXPECT_EQ(signals::parse("TERM", true), std::optional<int>(15));
  EXPECT_EQ(signals::parse("32", true), std::nullopt);
}

TEST(SignalsParse, OutOfRange) {
  EXPECT_EQ(signals::parse("32"), std::nullopt);
  EXPECT_EQ(signals::parse("64"), std::nullopt);
  EXPECT_EQ(signals::parse("100"), std::nullopt);
  EXPECT_EQ(signals::parse("1000"), std::nullopt);
  EXPECT_EQ(signals::parse("99999999999999999999"), std::nullopt);
  EXPECT_EQ(signals::parse("-1"), std::nullopt);
  EXPECT_EQ(signals::parse("-15"), std::nullopt);
}

TEST(SignalsParse, Garbage) {
  EXPECT_EQ(signals::parse(""), std::nullopt);
  EXPECT_EQ(signals::parse("", true), std::nullopt);
  EXPECT_EQ(signals::parse("SIG"), std::nullopt);
  EXPECT_EQ(signals::parse("sig"), std::nullopt);
  EXPECT_EQ(signals::parse("TERMX"), std::nullopt);
  EXPECT_EQ(signals::parse("SIGSIGTERM"), std::nullopt);
  EXPECT_EQ(signals::parse("15x"), std::nullopt);
  EXPECT_EQ(signals::parse("1 5"), std::nullopt);
  EXPECT_EQ(signals::parse(" 15"), std::nullopt);
  EXPECT_EQ(signals::parse("+15"), std::nullopt);
  EXPECT_EQ(signals::parse("TERM "), std::nullopt);
  EXPECT_EQ(signals::parse("SIGRTMIN"), std::nullopt);
  EXPECT_EQ(signals::parse("BOGUS"), std::nullopt);
  // A name followed by a NUL inside the view is not the name.
  EXPECT_EQ(signals::parse(std::string_view("TERM\0", 5)), std::nullopt);
}

TEST(SignalsParse, Aliases) {
  EXPECT_EQ(signals::parse("IOT"), std::optional<int>(SIGABRT));
  EXPECT_EQ(signals::parse("SIGIOT"), std::optional<int>(SIGABRT));
  EXPECT_EQ(signals::parse("CLD"), std::optional<int>(SIGCHLD));
  EXPECT_EQ(signals::parse("sigcld"), std::optional<int>(SIGCHLD));
  EXPECT_EQ(signals::parse("POLL"), std::optional<int>(SIGIO));
  EXPECT_EQ(signals::parse("SIGPOLL"), std::optional<int>(SIGIO));
  EXPECT_EQ(signals::parse("IO"), std::optional<int>(SIGIO));
  EXPECT_EQ(signals::parse("CHLD"), std::optional<int>(SIGCHLD));
  EXPECT_EQ(signals::parse("ABRT"), std::optional<int>(SIGABRT));
}

TEST(SignalsName, KnownNumbers) {
  EXPECT_STREQ(signals::name(SIGTERM), "SIGTERM");
  EXPECT_STREQ(signals::name(1), "SIGHUP");
  EXPECT_STREQ(signals::name(SIGKILL), "SIGKILL");
  EXPECT_STREQ(signals::name(SIGCHLD), "SIGCHLD");
  EXPECT_STREQ(signals::name(16), "SIGSTKFLT");
  EXPECT_STREQ(signals::name(31), "SIGSYS");
  EXPECT_STREQ(signals::name(SIGABRT), "SIGABRT");  // not the IOT alias
  EXPECT_STREQ(signals::name(SIGIO), "SIGIO");      // not the POLL alias
}

TEST(SignalsName, MatchesTheLibcAbbreviation) {
  for (int signo = 1; signo <= 31; ++signo) {
    const char* abbrev = ::sigabbrev_np(signo);
    ASSERT_NE(abbrev, nullptr) << signo;
    if (signo == SIGIO) continue;  // glibc calls 29 "POLL"; keel uses the other name, "IO"
    EXPECT_EQ(std::string("SIG") + abbrev, signals::name(signo)) << signo;
  }
}

// Real-time signals get `kill -l`'s names (keel logs them in the system role).
TEST(SignalsName, RealTimeSignalsAsKillListsThem) {
  EXPECT_STREQ(signals::name(32), "SIG32");
  EXPECT_STREQ(signals::name(33), "SIG33");
  EXPECT_STREQ(signals::name(SIGRTMIN), "SIGRTMIN");
  EXPECT_STREQ(signals::name(SIGRTMIN + 1), "SIGRTMIN+1");
  EXPECT_STREQ(signals::name(49), "SIGRTMIN+15");
  EXPECT_STREQ(signals::name(50), "SIGRTMAX-14");
  EXPECT_STREQ(signals::name(SIGRTMAX), "SIGRTMAX");
}

TEST(SignalsName, OutOfRange) {
  EXPECT_STREQ(signals::name(0), "SIG?");
  EXPECT_STREQ(signals::name(65), "SIG?");
  EXPECT_STREQ(signals::name(-1), "SIG?");
  EXPECT_STREQ(signals::name(1000), "SIG?");
}

TEST(SignalsForwardable, ExcludesUncatchableAndChld) {
  EXPECT_TRUE(signals::forwardable(SIGTERM));
  EXPECT_TRUE(signals::forwardable(SIGHUP));
  EXPECT_TRUE(signals::forwardable(SIGUSR1));
  EXPECT_TRUE(signals::forwardable(SIGSYS));
  EXPECT_FALSE(signals::forwardable(SIGKILL));
  EXPECT_FALSE(signals::forwardable(SIGSTOP));
  EXPECT_FALSE(signals::forwardable(SIGCHLD));
  EXPECT_FALSE(signals::forwardable(0));
  EXPECT_FALSE(signals::forwardable(32));
}

}  // namespace
}  // namespace keel
