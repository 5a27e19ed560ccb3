// fd_store_max in a service file (sd_notify's fd store): what the loader
// accepts and refuses, and the codec's trip to PID 1.
#include <gtest/gtest.h>

#include <string>

#include "service/config.hpp"
#include "system/config_codec.hpp"

namespace keel {
namespace {

using service::ParseResult;

std::string errors_of(const ParseResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.text() + "\n";
  return out;
}

TEST(FdStoreConfig, OffByDefaultAndSetByTheKey) {
  ParseResult off = service::parse_service("command = [\"/bin/web\"]\n", "web", "web.toml");
  ASSERT_TRUE(off.config) << errors_of(off);
  EXPECT_EQ(off.config->fd_store_max, 0U);
  ParseResult on = service::parse_service("command = [\"/bin/web\"]\nfd_store_max = 4\n", "web", "web.toml");
  ASSERT_TRUE(on.config) << errors_of(on);
  EXPECT_EQ(on.config->fd_store_max, 4U);
}

TEST(FdStoreConfig, OutOfRangeAndWrongTypesAreRefused) {
  for (const char* bad : {"fd_store_max = -1\n", "fd_store_max = 33\n", "fd_store_max = \"4\"\n"}) {
    ParseResult r = service::parse_service(std::string("command = [\"/bin/web\"]\n") + bad, "web", "web.toml");
    EXPECT_FALSE(r.config) << bad;
    EXPECT_NE(errors_of(r).find("fd_store_max"), std::string::npos) << errors_of(r);
  }
  ParseResult oneshot =
      service::parse_service("type = \"oneshot\"\ncommand = [\"/bin/web\"]\nfd_store_max = 1\n", "web", "web.toml");
  EXPECT_FALSE(oneshot.config);
  EXPECT_NE(errors_of(oneshot).find("no fd store"), std::string::npos) << errors_of(oneshot);
}

// Sockets and stored fds share the child's fds 3 .. 34.
TEST(FdStoreConfig, SocketsAndStoredFdsTogetherAreBounded) {
  const std::string two_sockets =
      "[[socket]]\nlisten = \"tcp:127.0.0.1:9000\"\n[[socket]]\nlisten = \"tcp:127.0.0.1:9001\"\n";
  ParseResult ok =
      service::parse_service("command = [\"/bin/web\"]\nfd_store_max = 30\n" + two_sockets, "web", "web.toml");
  EXPECT_TRUE(ok.config) << errors_of(ok);
  ParseResult r =
      service::parse_service("command = [\"/bin/web\"]\nfd_store_max = 31\n" + two_sockets, "web", "web.toml");
  EXPECT_FALSE(r.config);
  EXPECT_NE(errors_of(r).find("at most 30 with 2 sockets"), std::string::npos) << errors_of(r);
}

TEST(FdStoreConfig, SurvivesTheCodecAndAForgedOneIsRefused) {
  ParseResult r = service::parse_service("command = [\"/bin/web\"]\nfd_store_max = 7\n", "web", "web.toml");
  ASSERT_TRUE(r.config) << errors_of(r);
  Loaded in;
  in.services.emplace().services.push_back(*r.config);
  Loaded out;
  std::string problem;
  ASSERT_TRUE(decode_loaded(encode_loaded(in), out, problem)) << problem;
  ASSERT_TRUE(out.services);
  ASSERT_EQ(out.services->services.size(), 1U);
  EXPECT_EQ(out.services->services[0].fd_store_max, 7U);
  // The encoder writes what it is given; the decoder trusts nothing.
  in.services->services[0].fd_store_max = 33;
  EXPECT_FALSE(decode_loaded(encode_loaded(in), out, problem));
  EXPECT_NE(problem.find("fd_store_max"), std::string::npos) << problem;
}

}  // namespace
}  // namespace keel
