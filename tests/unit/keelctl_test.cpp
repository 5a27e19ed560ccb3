// Unit tests for keelctl's command line (control/keelctl): each subcommand
// becomes the right Request, bad command lines are usage errors (exit 2)
// with a message, --help works everywhere, and the socket path comes from
// --socket, then $KEEL_CONTROL_SOCKET, then the default.
#include "control/keelctl.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "control/server.hpp"

namespace keel::control {
namespace {

KeelctlCommand parse(const std::vector<std::string>& args, const char* env = nullptr) {
  return parse_keelctl("keelctl", args, env);
}

TEST(Keelctl, StatusAllAndOne) {
  KeelctlCommand c = parse({"status"});
  EXPECT_EQ(c.exit_code, -1) << c.message;
  EXPECT_EQ(c.request.verb, Verb::Status);
  EXPECT_TRUE(c.request.args.empty());
  EXPECT_EQ(c.request.flags, 0U);
  c = parse({"status", "web", "--json"});
  EXPECT_EQ(c.exit_code, -1) << c.message;
  EXPECT_EQ(c.request.args, std::vector<std::string>{"web"});
  EXPECT_EQ(c.request.flags, static_cast<std::uint32_t>(kFlagJson));
  EXPECT_EQ(c.reply_timeout_ms, kReplyTimeoutMs);
}

TEST(Keelctl, ServiceVerbs) {
  struct {
    const char* name;
    Verb verb;
  } cases[] = {{"start", Verb::Start}, {"stop", Verb::Stop}, {"restart", Verb::Restart}};
  for (const auto& k : cases) {
    KeelctlCommand c = parse({k.name, "db"});
    EXPECT_EQ(c.exit_code, -1) << c.message;
    EXPECT_EQ(c.request.verb, k.verb);
    EXPECT_EQ(c.request.args, std::vector<std::string>{"db"});
    EXPECT_EQ(parse({k.name}).exit_code, kUsageExit);
    EXPECT_EQ(parse({k.name, "a", "b"}).exit_code, kUsageExit);
  }
}

TEST(Keelctl, SystemVerbsTakeNoArguments) {
  struct {
    const char* name;
    Verb verb;
  } cases[] = {{"poweroff", Verb::Poweroff}, {"reboot", Verb::Reboot}, {"halt", Verb::Halt}};
  for (const auto& k : cases) {
    KeelctlCommand c = parse({k.name});
    EXPECT_EQ(c.exit_code, -1) << c.message;
    EXPECT_EQ(c.request.verb, k.verb);
    EXPECT_EQ(parse({k.name, "now"}).exit_code, kUsageExit);
  }
}

TEST(Keelctl, ReloadTakesAnOptionalService) {
  KeelctlCommand all = parse({"reload"});
  EXPECT_EQ(all.exit_code, -1) << all.message;
  EXPECT_EQ(all.request.verb, Verb::Reload);
  EXPECT_TRUE(all.request.args.empty());
  KeelctlCommand one = parse({"reload", "web"});
  EXPECT_EQ(one.exit_code, -1) << one.message;
  EXPECT_EQ(one.request.args, (std::vector<std::string>{"web"}));
  EXPECT_EQ(one.reply_timeout_ms, -1);  // keel bounds the wait by the service's timeouts
  EXPECT_EQ(parse({"reload", "web", "db"}).exit_code, kUsageExit);
}

TEST(Keelctl, Signal) {
  KeelctlCommand c = parse({"signal", "web", "HUP"});
  EXPECT_EQ(c.exit_code, -1) << c.message;
  EXPECT_EQ(c.request.verb, Verb::Signal);
  EXPECT_EQ(c.request.args, (std::vector<std::string>{"web", "HUP"}));
  EXPECT_EQ(parse({"signal", "web", "SIGUSR1"}).exit_code, -1);
  EXPECT_EQ(parse({"signal", "web", "9"}).exit_code, -1);
  c = parse({"signal", "web", "NOPE"});
  EXPECT_EQ(c.exit_code, kUsageExit);
  EXPECT_NE(c.message.find("unknown signal 'NOPE'"), std::string::npos) << c.message;
  c = parse({"signal", "web"});
  EXPECT_EQ(c.exit_code, kUsageExit);
  EXPECT_NE(c.message.find("missing SIGNAL"), std::string::npos) << c.message;
}

TEST(Keelctl, Log) {
  KeelctlCommand c = parse({"log", "web"});
  EXPECT_EQ(c.exit_code, -1) << c.message;
  EXPECT_EQ(c.request.verb, Verb::Log);
  EXPECT_EQ(c.request.lines, 0U);
  EXPECT_EQ(c.reply_timeout_ms, kReplyTimeoutMs);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"log", "web", "-f", "-n", "20"}, {"log", "-n20", "--follow", "web"}, {"log", "web", "--lines=20", "-f"}}) {
    c = parse(args);
    EXPECT_EQ(c.exit_code, -1) << c.message;
    EXPECT_EQ(c.request.args, std::vector<std::string>{"web"});
    EXPECT_EQ(c.request.lines, 20U);
    EXPECT_EQ(c.request.flags, static_cast<std::uint32_t>(kFlagFollow));
    EXPECT_EQ(c.reply_timeout_ms, -1) << "log -f waits as long as it follows";
  }
  EXPECT_EQ(parse({"log", "web", "-n", "x"}).exit_code, kUsageExit);
  EXPECT_EQ(parse({"log", "web", "-n"}).exit_code, kUsageExit);
  EXPECT_EQ(parse({"log", "web", "-n", "99999999999"}).exit_code, kUsageExit);
  EXPECT_EQ(parse({"log", "web", "--json"}).exit_code, kUsageExit) << "--json is status's";
}

TEST(Keelctl, Wait) {
  KeelctlCommand c = parse({"wait", "web", "--ready", "--timeout", "2.5"});
  EXPECT_EQ(c.exit_code, -1) << c.message;
  EXPECT_EQ(c.request.verb, Verb::Wait);
  EXPECT_EQ(c.request.flags, static_cast<std::uint32_t>(kFlagReady));
  EXPECT_EQ(c.request.timeout_ms, 2500U);
  EXPECT_EQ(c.reply_timeout_ms, 2500 + kWaitSlackMs);
  c = parse({"wait", "--ready", "web"});
  EXPECT_EQ(c.request.timeout_ms, 0U);
  EXPECT_EQ(c.reply_timeout_ms, -1);
  EXPECT_EQ(parse({"wait", "web", "--ready", "--timeout=0.0001"}).request.timeout_ms, 1U);
  c = parse({"wait", "web"});
  EXPECT_EQ(c.exit_code, kUsageExit);
  EXPECT_NE(c.message.find("--ready"), std::string::npos);
  EXPECT_EQ(parse({"wait", "web", "--ready", "--timeout", "soon"}).exit_code, kUsageExit);
  EXPECT_EQ(parse({"wait", "web", "--ready", "--timeout", "-1"}).exit_code, kUsageExit);
  EXPECT_EQ(parse({"wait", "web", "--ready", "--timeout", "1e3"}).exit_code, kUsageExit);
}

TEST(Keelctl, SocketPathPrecedence) {
  EXPECT_EQ(parse({"status"}).socket_path, kDefaultSocketPath);
  EXPECT_EQ(parse({"status"}, "/tmp/env.sock").socket_path, "/tmp/env.sock");
  EXPECT_EQ(parse({"status"}, "").socket_path, kDefaultSocketPath);
  EXPECT_EQ(parse({"--socket", "/tmp/opt.sock", "status"}, "/tmp/env.sock").socket_path, "/tmp/opt.sock");
  EXPECT_EQ(parse({"status", "--socket=/tmp/opt.sock"}, "/tmp/env.sock").socket_path, "/tmp/opt.sock");
  EXPECT_EQ(parse({"status", "--socket"}).exit_code, kUsageExit);
}

TEST(Keelctl, HelpEverywhere) {
  KeelctlCommand c = parse({"--help"});
  EXPECT_EQ(c.exit_code, 0);
  for (const char* sub : {"status", "start", "stop", "restart", "signal", "log", "wait", "reload", "poweroff",
                          "reboot", "halt"}) {
    EXPECT_NE(c.message.find(std::string("  ") + sub + " "), std::string::npos) << sub << "\n" << c.message;
    KeelctlCommand h = parse({sub, "--help"});
    EXPECT_EQ(h.exit_code, 0) << sub;
    EXPECT_EQ(h.message.rfind(std::string("Usage: keelctl ") + sub, 0), 0U) << h.message;
  }
  EXPECT_NE(parse({"wait", "-h"}).message.find("--timeout S"), std::string::npos);
}

TEST(Keelctl, UsageErrors) {
  KeelctlCommand c = parse({});
  EXPECT_EQ(c.exit_code, kUsageExit);
  EXPECT_NE(c.message.find("no command"), std::string::npos);
  c = parse({"frobnicate"});
  EXPECT_EQ(c.exit_code, kUsageExit);
  EXPECT_EQ(c.message, "keelctl: unknown command 'frobnicate'\nTry 'keelctl --help' for more information.");
  c = parse({"status", "--bogus"});
  EXPECT_EQ(c.exit_code, kUsageExit);
  EXPECT_EQ(c.message, "keelctl: unknown option '--bogus'\nTry 'keelctl status --help' for more information.");
  EXPECT_EQ(parse({"--bogus", "status"}).exit_code, kUsageExit);
  EXPECT_EQ(parse({"status", std::string(5000, 'x')}).exit_code, kUsageExit);
  // "--" ends the options: a service may start with a dash.
  c = parse({"start", "--", "-odd"});
  EXPECT_EQ(c.exit_code, -1) << c.message;
  EXPECT_EQ(c.request.args, std::vector<std::string>{"-odd"});
}

TEST(Keelctl, ProgramName) {
  EXPECT_TRUE(is_keelctl_name("keelctl"));
  EXPECT_TRUE(is_keelctl_name("/usr/bin/keelctl"));
  EXPECT_FALSE(is_keelctl_name("keel"));
  EXPECT_FALSE(is_keelctl_name("/sbin/keelctl2"));
  EXPECT_FALSE(is_keelctl_name(nullptr));
  KeelctlCommand c = parse_keelctl("keel ctl", {"nope"}, nullptr);
  EXPECT_EQ(c.message.rfind("keel ctl: ", 0), 0U);
}

}  // namespace
}  // namespace keel::control
