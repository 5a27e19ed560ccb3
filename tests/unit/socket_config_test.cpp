// [[socket]] in a service file (socket activation): what the loader
// accepts and refuses, and the codec's trip to PID 1.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "service/config.hpp"
#include "system/config_codec.hpp"

namespace keel {
namespace {

using service::ParseResult;
using service::SocketKind;

std::string errors_of(const ParseResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.text() + "\n";
  return out;
}

TEST(SocketConfig, EveryKindWithItsDefaults) {
  ParseResult r = service::parse_service(
      "command = [\"/bin/web\"]\n"
      "[[socket]]\nlisten = \"tcp:127.0.0.1:8000\"\nname = \"http\"\nbacklog = 16\n"
      "[[socket]]\nlisten = \"tcp:[::]:8001\"\n"
      "[[socket]]\nlisten = \"udp:0.0.0.0:5353\"\n"
      "[[socket]]\nlisten = \"unix:/run/web.sock\"\nowner = 0\ngroup = 0\nmode = \"0640\"\n"
      "[[socket]]\nlisten = \"unix-dgram:/run/log.sock\"\nmode = 0o600\n",
      "web", "web.toml");
  ASSERT_TRUE(r.config) << errors_of(r);
  const auto& s = r.config->sockets;
  ASSERT_EQ(s.size(), 5U);
  EXPECT_EQ(s[0].kind, SocketKind::Tcp);
  EXPECT_EQ(s[0].address, "127.0.0.1");
  EXPECT_EQ(s[0].port, 8000);
  EXPECT_EQ(s[0].name, "http");
  EXPECT_EQ(s[0].backlog, 16);
  EXPECT_EQ(s[0].line, 2);
  EXPECT_EQ(s[1].address, "::");
  EXPECT_EQ(s[1].name, "web");  // the service's name by default
  EXPECT_EQ(s[1].backlog, 128);
  EXPECT_EQ(s[2].kind, SocketKind::Udp);
  EXPECT_EQ(s[3].kind, SocketKind::Unix);
  EXPECT_EQ(s[3].address, "/run/web.sock");
  EXPECT_TRUE(s[3].set_owner && s[3].set_group);
  EXPECT_EQ(s[3].mode, 0640U);
  EXPECT_EQ(s[4].kind, SocketKind::UnixDgram);
  EXPECT_FALSE(s[4].set_owner);
  EXPECT_EQ(s[4].mode, 0600U);
}

TEST(SocketConfig, BadSocketsAreRefusedWithTheirLine) {
  ParseResult r = service::parse_service(
      "command = [\"/bin/web\"]\n"
      "[[socket]]\nlisten = \"tcp:localhost:80\"\n"                 // 3: a name, not an address
      "[[socket]]\nlisten = \"tcp:::1:80\"\n"                       // 5: IPv6 without brackets
      "[[socket]]\nlisten = \"sctp:1.2.3.4:80\"\n"                  // 7
      "[[socket]]\nlisten = \"unix:run/x\"\n"                       // 9: relative
      "[[socket]]\nlisten = \"tcp:1.2.3.4:80\"\nmode = \"0600\"\n"  // 12: mode on tcp
      "[[socket]]\nlisten = \"unix:/run/a\"\nname = \"a:b\"\n"      // 15: ':' splits LISTEN_FDNAMES
      "[[socket]]\nlisten = \"tcp:1.2.3.4:0\"\n",                   // 17: port 0
      "web", "web.toml");
  EXPECT_FALSE(r.config);
  const std::string e = errors_of(r);
  for (const char* at : {"web.toml:3: socket[0].listen", "web.toml:5: socket[1].listen", "web.toml:7: socket[2].listen",
                         "web.toml:9: socket[3].listen", "web.toml:12: socket[4].mode", "web.toml:15: socket[5].name",
                         "web.toml:17: socket[6].listen"}) {
    EXPECT_NE(e.find(at), std::string::npos) << at << "\n" << e;
  }
}

TEST(SocketConfig, ANotifyFdOnASocketsFdIsRefused) {
  ParseResult r = service::parse_service(
      "type = \"notify-fd\"\nnotify_fd = 4\ncommand = [\"/bin/web\"]\n"
      "[[socket]]\nlisten = \"tcp:127.0.0.1:80\"\n[[socket]]\nlisten = \"udp:127.0.0.1:80\"\n",
      "web", "web.toml");
  EXPECT_FALSE(r.config);
  EXPECT_NE(
      errors_of(r).find("web.toml:2: notify_fd: fd 4 is one of the sockets' (3 to 4): set notify_fd to 5 or more"),
      std::string::npos)
      << errors_of(r);
  r = service::parse_service(
      "type = \"notify-fd\"\nnotify_fd = 5\ncommand = [\"/bin/web\"]\n"
      "[[socket]]\nlisten = \"tcp:127.0.0.1:80\"\n[[socket]]\nlisten = \"udp:127.0.0.1:80\"\n",
      "web", "web.toml");
  EXPECT_TRUE(r.config) << errors_of(r);
}

TEST(SocketConfig, TooManySocketsAreRefused) {
  std::string text = "command = [\"/bin/web\"]\n";
  for (int i = 0; i < 33; ++i) text += "[[socket]]\nlisten = \"tcp:127.0.0.1:" + std::to_string(9000 + i) + "\"\n";
  ParseResult r = service::parse_service(text, "web", "web.toml");
  EXPECT_FALSE(r.config);
  EXPECT_NE(errors_of(r).find("at most 32 sockets per service"), std::string::npos) << errors_of(r);
}

TEST(SocketConfig, SocketsSurviveTheCodecAndForgedOnesAreRefused) {
  ParseResult r = service::parse_service(
      "command = [\"/bin/web\"]\n[[socket]]\nlisten = \"unix:/run/web.sock\"\nname = \"ctl\"\nowner = 7\ngroup = 8\n"
      "mode = \"0604\"\nbacklog = 9\n[[socket]]\nlisten = \"tcp:[::1]:8000\"\n",
      "web", "web.toml");
  ASSERT_TRUE(r.config) << errors_of(r);
  Loaded in;
  in.services.emplace().services.push_back(*r.config);
  const std::string bytes = encode_loaded(in);
  Loaded out;
  std::string problem;
  ASSERT_TRUE(decode_loaded(bytes, out, problem)) << problem;
  ASSERT_TRUE(out.services);
  ASSERT_EQ(out.services->services.size(), 1U);
  EXPECT_EQ(out.services->services[0].sockets, r.config->sockets);
  // A mode past 0777 (the first socket's, 4 bytes before its line) is refused.
  std::string forged = bytes;
  const std::size_t mode_at = forged.find(std::string("\x84\x01\0\0", 4));
  ASSERT_NE(mode_at, std::string::npos);
  forged[mode_at + 1] = '\x10';
  EXPECT_FALSE(decode_loaded(forged, out, problem));
  EXPECT_NE(problem.find("bad socket"), std::string::npos) << problem;
}

// start = "on-connection": parsed, carried to PID 1, refused with its line
// on a service without a [[socket]] (by the parser and by the decoder).
TEST(SocketConfig, StartOnConnectionNeedsASocketAndSurvivesTheCodec) {
  ParseResult r = service::parse_service(
      "command = [\"/bin/web\"]\nstart = \"on-connection\"\n[[socket]]\nlisten = \"tcp:127.0.0.1:8000\"\n", "web",
      "web.toml");
  ASSERT_TRUE(r.config) << errors_of(r);
  EXPECT_TRUE(r.config->start_on_connection);
  Loaded in;
  in.services.emplace().services.push_back(*r.config);
  Loaded out;
  std::string problem;
  ASSERT_TRUE(decode_loaded(encode_loaded(in), out, problem)) << problem;
  ASSERT_TRUE(out.services);
  EXPECT_TRUE(out.services->services.at(0).start_on_connection);

  r = service::parse_service("command = [\"/bin/web\"]\nstart = \"immediately\"\n", "web", "web.toml");
  ASSERT_TRUE(r.config) << errors_of(r);
  EXPECT_FALSE(r.config->start_on_connection);
  r = service::parse_service("command = [\"/bin/web\"]\n", "web", "web.toml");
  ASSERT_TRUE(r.config) << errors_of(r);
  EXPECT_FALSE(r.config->start_on_connection);

  r = service::parse_service("command = [\"/bin/web\"]\n\nstart = \"on-connection\"\n", "web", "web.toml");
  EXPECT_FALSE(r.config);
  EXPECT_NE(errors_of(r).find("web.toml:3: start: \"on-connection\" needs a [[socket]] to watch"), std::string::npos)
      << errors_of(r);
  r = service::parse_service("command = [\"/bin/web\"]\nstart = \"lazily\"\n", "web", "web.toml");
  EXPECT_FALSE(r.config);
  EXPECT_NE(errors_of(r).find("web.toml:2: start"), std::string::npos) << errors_of(r);

  // A forged encoding: on connection, with no socket to watch.
  r = service::parse_service("command = [\"/bin/web\"]\n", "web", "web.toml");
  ASSERT_TRUE(r.config) << errors_of(r);
  r.config->start_on_connection = true;
  Loaded forged;
  forged.services.emplace().services.push_back(*r.config);
  EXPECT_FALSE(decode_loaded(encode_loaded(forged), out, problem));
  EXPECT_NE(problem.find("start on connection without a socket"), std::string::npos) << problem;
}

TEST(SocketConfig, TwoServicesOnOneAddressAreRefusedWithTheSecondFilesLine) {
  char dir[] = "/tmp/keel-sockcfg-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string d = dir;
  std::ofstream(d + "/a.toml") << "command = [\"/bin/a\"]\n[[socket]]\nlisten = \"tcp:127.0.0.1:8000\"\n";
  std::ofstream(d + "/b.toml") << "command = [\"/bin/b\"]\n[[socket]]\nlisten = \"udp:127.0.0.1:8000\"\n"
                                  "[[socket]]\nlisten = \"tcp:127.0.0.1:8000\"\n";
  std::ofstream(d + "/c.toml") << "command = [\"/bin/c\"]\n[[socket]]\nlisten = \"udp:127.0.0.1:8000\"\n";
  service::LoadResult r = service::load_service_dir(d);
  std::filesystem::remove_all(d);
  ASSERT_EQ(r.services.size(), 2U);
  EXPECT_EQ(r.services[0].name, "a");
  EXPECT_EQ(r.services[1].name, "c");  // b is refused, so c's udp socket is its own
  ASSERT_EQ(r.errors.size(), 1U);
  EXPECT_EQ(r.errors[0].text(), d + "/b.toml:4: socket: 'tcp:127.0.0.1:8000': the address of a socket of service 'a'");
}

}  // namespace
}  // namespace keel
