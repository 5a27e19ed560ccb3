// [[socket]] in a service file (socket activation): what the loader
// accepts and refuses, and the codec's trip to PID 1.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "service/config.hpp"
#include "system/config_codec.hpp"
#include "test_util.hpp"

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

// A socket's owner and group are resolved by the rule of a service's user
// and group (docs/services.md): a numeric id not in the file stands for
// itself, with a file and without one; a name needs the file; a file that is
// there but cannot be read is an error, for a number too. Each case is
// checked against `user = ...` / `group = ...` in the same conditions.
TEST(SocketConfig, OwnerAndGroupFollowTheServiceUserRule) {
  namespace fs = std::filesystem;
  const testutil::TempDir temp("keel-socket-owner-");
  const fs::path& dir = temp.path();
  std::ofstream(dir / "passwd") << "web:x:1000:1000::/:/bin/sh\n";
  std::ofstream(dir / "group") << "www:x:33:\n";
  fs::create_directory(dir / "unreadable");
  const service::UserDbPaths files{(dir / "passwd").string(), (dir / "group").string()};
  const service::UserDbPaths none{(dir / "no-passwd").string(), (dir / "no-group").string()};
  const service::UserDbPaths unreadable{(dir / "unreadable").string(), (dir / "unreadable").string()};
  const std::string cmd = "command = [\"/bin/web\"]\n";
  auto on_socket = [&](const std::string& key, const std::string& value, const service::UserDbPaths& db) {
    return service::parse_service(cmd + "[[socket]]\nlisten = \"unix:/run/web.sock\"\n" + key + " = " + value + "\n",
                                  "web", "web.toml", db);
  };
  auto service_key = [&](const std::string& key, const std::string& value, const service::UserDbPaths& db) {
    return service::parse_service(cmd + key + " = " + value + "\n", "web", "web.toml", db);
  };
  struct Case {
    const char* key;  // the service's key; the socket's is "owner" for "user"
    std::string value;
    const service::UserDbPaths* db;
    bool accepted;
    std::uint32_t id;
    const char* error;  // in the refusal
  } cases[] = {
      {"user", "\"web\"", &files, true, 1000, ""},
      {"group", "\"www\"", &files, true, 33, ""},
      {"user", "4242", &files, true, 4242, ""},
      {"group", "\"4343\"", &files, true, 4343, ""},
      {"user", "4242", &none, true, 4242, ""},
      {"group", "4343", &none, true, 4343, ""},
      {"user", "\"nobody-here\"", &files, false, 0, "unknown user 'nobody-here'"},
      {"group", "\"staff\"", &files, false, 0, "unknown group 'staff'"},
      {"user", "\"web\"", &none, false, 0, "cannot read"},
      {"group", "\"www\"", &none, false, 0, "cannot read"},
      {"user", "4242", &unreadable, false, 0, "cannot read"},
      {"group", "4343", &unreadable, false, 0, "cannot read"},
      {"user", "4294967295", &files, false, 0, "invalid user"},
  };
  for (const Case& c : cases) {
    const std::string key = c.key;
    const std::string socket_key = key == "user" ? "owner" : "group";
    const std::string what = key + " = " + c.value + " (" + c.db->passwd + ")";
    ParseResult as_service = service_key(key, c.value, *c.db);
    ParseResult as_socket = on_socket(socket_key, c.value, *c.db);
    ASSERT_EQ(as_service.config.has_value(), c.accepted) << what << "\n" << errors_of(as_service);
    ASSERT_EQ(as_socket.config.has_value(), c.accepted) << what << "\n" << errors_of(as_socket);
    if (c.accepted) {
      const service::SocketConfig& s = as_socket.config->sockets.at(0);
      EXPECT_EQ(key == "user" ? as_service.config->uid : as_service.config->gid, c.id) << what;
      EXPECT_EQ(key == "user" ? s.uid : s.gid, c.id) << what;
      EXPECT_TRUE(key == "user" ? s.set_owner : s.set_group) << what;
    } else {
      EXPECT_NE(errors_of(as_service).find(c.error), std::string::npos) << what << "\n" << errors_of(as_service);
      EXPECT_NE(errors_of(as_socket).find("socket[0]." + socket_key + ": " + c.error), std::string::npos)
          << what << "\n"
          << errors_of(as_socket);
    }
  }
  // mode is read as umask is: octal only (a decimal 660 would be 0o1224).
  ParseResult decimal = on_socket("mode", "660", files);
  EXPECT_FALSE(decimal.config.has_value());
  EXPECT_NE(errors_of(decimal).find("socket[0].mode: expected a string of octal digits like \"0660\" or an octal "
                                    "integer like 0o660 (660 is decimal; write \"660\")"),
            std::string::npos)
      << errors_of(decimal);
  ParseResult zero = on_socket("mode", "0", files);
  ASSERT_TRUE(zero.config.has_value()) << errors_of(zero);
  EXPECT_EQ(zero.config->sockets.at(0).mode, 0U);
  ParseResult umask = service_key("umask", "0", files);
  ASSERT_TRUE(umask.config.has_value()) << errors_of(umask);
  EXPECT_EQ(umask.config->umask.value_or(0777), 0U);
}

}  // namespace
}  // namespace keel
