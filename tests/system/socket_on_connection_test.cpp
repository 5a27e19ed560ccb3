// Start on the first connection (`start = "on-connection"`): the real
// keel in the system role (as PID 1 of a fresh PID namespace and as a
// subreaper) makes the service's sockets and watches them, launches the
// service only when a python3 client connects (or sends a datagram), the
// service serves that very connection, and keel watches again after the
// service exits. Ports 42300-42399 only.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "supervised.hpp"

namespace keel::systest {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPython = "/usr/bin/python3";

int port_for(Placement p, int base) { return base + (p == Placement::Namespace ? 1 : 0); }

class SocketOnConnectionTest : public ::testing::TestWithParam<Placement> {
 protected:
  void SetUp() override {
    if (GetParam() == Placement::Namespace && !namespaces_available()) {
      GTEST_SKIP() << "unshare --pid is not available here";
    }
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (keel binds and chowns its sockets)";
  }
};

// The service: fd 3 from LISTEN_FDS; a line in the "starts" file per
// start; serves one connection (or one datagram) with "hello N" (N: its
// start's number) and exits 0, as a service with an idle timeout would.
constexpr const char* kServer =
    "import os, socket, sys\n"
    "assert os.environ['LISTEN_FDS'] == '1' and int(os.environ['LISTEN_PID']) == os.getpid()\n"
    "with open(sys.argv[1], 'a') as f: f.write('start\\n')\n"
    "n = len(open(sys.argv[1]).read().splitlines())\n"
    "s = socket.socket(fileno=3)\n"
    "if s.type == socket.SOCK_DGRAM:\n"
    "    data, peer = s.recvfrom(4096)\n"
    "    s.sendto(b'hello %d %s' % (n, data), peer)\n"
    "else:\n"
    "    c, _ = s.accept()\n"
    "    c.sendall(b'hello %d\\n' % n)\n"
    "    c.close()\n";

// The client: one connection (or datagram), prints the answer.
constexpr const char* kClient =
    "import socket, sys\n"
    "if sys.argv[1] == 'udp':\n"
    "    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "    c.settimeout(30)\n"
    "    c.sendto(b'ping', ('127.0.0.1', int(sys.argv[2])))\n"
    "    print(c.recvfrom(4096)[0].decode().strip())\n"
    "else:\n"
    "    c = socket.create_connection(('127.0.0.1', int(sys.argv[2])), timeout=30)\n"
    "    data = b''\n"
    "    while True:\n"
    "        b = c.recv(4096)\n"
    "        if not b: break\n"
    "        data += b\n"
    "    print(data.decode().strip())\n";

std::string client(const Supervised& s, const std::string& kind, int port) {
  Outcome o =
      run_through(program_launch(Placement::Subreaper, kPython, {s.path("client.py"), kind, std::to_string(port)}));
  return o.out + o.err;
}

std::size_t starts(const Supervised& s) {
  std::string text = read_file(s.path("starts"));
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// Not launched until the first connection, which it then serves; what
// requires it is started meanwhile; after the service exits, the next
// connection starts it again; keelctl stop stops watching and keeps the
// socket.
TEST_P(SocketOnConnectionTest, TcpStartsOnTheFirstConnectionAndAgainAfterItExits) {
  Supervised s(Supervised::Access::Open, {"sock"});
  const int port = port_for(GetParam(), 42300);
  s.file("server.py", kServer);
  s.file("client.py", kClient);
  s.service("srv", "start = \"on-connection\"\ncommand = [\"" + std::string(kPython) + "\", \"" + s.path("server.py") +
                       "\", \"" + s.path("starts") +
                       "\"]\n[[socket]]\nlisten = \"tcp:127.0.0.1:" + std::to_string(port) + "\"\n");
  s.service("user", "requires = [\"srv\"]\ncommand = [\"/bin/sleep\", \"600\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(event(*k, "srv", "listening")) << k->text(Stream::Err);
  ASSERT_TRUE(control_up(s));
  EXPECT_EQ(detail(s, "srv", "state"), "listening");
  // What requires it counts it as ready.
  EXPECT_TRUE(poll_until([&] { return detail(s, "user", "state") == "running"; }, 10s)) << k->text(Stream::Err);
  EXPECT_FALSE(fs::exists(s.path("starts"))) << k->text(Stream::Err);
  EXPECT_EQ(detail(s, "srv", "state"), "listening");

  EXPECT_EQ(client(s, "tcp", port), "hello 1\n") << k->text(Stream::Err);
  EXPECT_EQ(starts(s), 1U);
  // It exited cleanly: watched again, not restarted at once.
  ASSERT_TRUE(poll_until([&] { return detail(s, "srv", "state") == "listening"; }, 10s)) << k->text(Stream::Err);
  EXPECT_EQ(starts(s), 1U);
  EXPECT_EQ(client(s, "tcp", port), "hello 2\n") << k->text(Stream::Err);
  EXPECT_EQ(starts(s), 2U);
  ASSERT_TRUE(poll_until([&] { return detail(s, "srv", "state") == "listening"; }, 10s)) << k->text(Stream::Err);

  // keelctl stop: not watched any more, the socket still accepts into its
  // backlog.
  Ctl r = s.ctl({"stop", "srv"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  // keelctl stop answers at once; "user" (which requires it) is stopped
  // first, and srv only once user's exit is reaped.
  EXPECT_TRUE(poll_until([&] { return detail(s, "srv", "state") == "stopped"; }, 10s)) << k->text(Stream::Err);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
  // Started again by keelctl: the connection waiting in the backlog
  // launches it at once.
  r = s.ctl({"start", "srv"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  char buf[64] = {};
  EXPECT_GT(::read(fd, buf, sizeof buf - 1), 0) << std::strerror(errno);
  EXPECT_STREQ(buf, "hello 3\n");
  ::close(fd);
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

// A datagram socket: the first datagram starts it, and it gets that very
// datagram.
TEST_P(SocketOnConnectionTest, UdpStartsOnTheFirstDatagram) {
  Supervised s(Supervised::Access::Open, {"sock"});
  const int port = port_for(GetParam(), 42310);
  s.file("server.py", kServer);
  s.file("client.py", kClient);
  s.service("srv", "start = \"on-connection\"\ncommand = [\"" + std::string(kPython) + "\", \"" + s.path("server.py") +
                       "\", \"" + s.path("starts") +
                       "\"]\n[[socket]]\nlisten = \"udp:127.0.0.1:" + std::to_string(port) + "\"\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(event(*k, "srv", "listening")) << k->text(Stream::Err);
  ASSERT_TRUE(control_up(s));
  EXPECT_EQ(detail(s, "srv", "state"), "listening");
  EXPECT_FALSE(fs::exists(s.path("starts")));
  EXPECT_EQ(client(s, "udp", port), "hello 1 ping\n") << k->text(Stream::Err);
  ASSERT_TRUE(poll_until([&] { return detail(s, "srv", "state") == "listening"; }, 10s)) << k->text(Stream::Err);
  EXPECT_EQ(client(s, "udp", port), "hello 2 ping\n") << k->text(Stream::Err);
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

INSTANTIATE_TEST_SUITE_P(Placements, SocketOnConnectionTest,
                         ::testing::Values(Placement::Subreaper, Placement::Namespace),
                         [](const ::testing::TestParamInfo<Placement>& p) { return placement_name(p.param); });

}  // namespace
}  // namespace keel::systest
