// Socket activation: the real keel in the system role (as PID 1 of a fresh
// PID namespace and as a subreaper) creating a service's listening
// sockets and passing them as sd_listen_fds() expects, with real clients
// from Debian: gunicorn (it reads LISTEN_FDS and LISTEN_PID itself) and
// python3-systemd's systemd.daemon.listen_fds_with_names(). Ports
// 42200-42299 only.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "supervised.hpp"

namespace keel::systest {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPython = "/usr/bin/python3";

int port_for(Placement p, int base) { return base + (p == Placement::Namespace ? 1 : 0); }

class SocketActivationTest : public ::testing::TestWithParam<Placement> {
 protected:
  void SetUp() override {
    if (GetParam() == Placement::Namespace && !namespaces_available()) {
      GTEST_SKIP() << "unshare --pid is not available here";
    }
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (keel binds and chowns its sockets)";
  }
};

// A client connecting in a loop while gunicorn is restarted again and
// again never sees a refused connection: the socket is keel's and stays
// open, so a connection made between two runs waits in the backlog.
TEST_P(SocketActivationTest, GunicornThroughRestartsRefusesNoConnection) {
  ASSERT_TRUE(installed("/usr/bin/gunicorn")) << "gunicorn (Debian package gunicorn) is needed";
  Supervised s(Supervised::Access::Open, {"sock"});
  const int port = port_for(GetParam(), 42200);
  s.file("app.py",
         "import os\n"
         "def application(environ, start_response):\n"
         "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
         "    return [b'hello from %d\\n' % os.getpid()]\n");
  s.service("web",
            "restart = \"always\"\nrestart_delay = 0.05\nstop_timeout = 10\n"
            "command = [\"/usr/bin/gunicorn\", \"--chdir\", \"" +
                s.path("") + "\", \"--workers\", \"1\", \"--graceful-timeout\", \"1\", \"app:application\"]\n" +
                "[[socket]]\nlisten = \"tcp:127.0.0.1:" + std::to_string(port) + "\"\nname = \"http\"\n");
  // The client: one request per connection for as long as the file
  // "stop" is absent; a line per outcome.
  s.file("client.py",
         "import os, socket, sys, time\n"
         "ok = refused = other = 0\n"
         "deadline = time.time() + 60\n"
         "while not os.path.exists(sys.argv[2]) and time.time() < deadline:\n"
         "    try:\n"
         "        c = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=30)\n"
         "        c.sendall(b'GET / HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n')\n"
         "        data = b''\n"
         "        while True:\n"
         "            b = c.recv(4096)\n"
         "            if not b: break\n"
         "            data += b\n"
         "        c.close()\n"
         "        if b'hello from' in data:\n"
         "            ok += 1\n"
         "            print(data.split(b'hello from ')[1].strip().decode(), flush=True)\n"
         "        else: other += 1\n"
         "    except ConnectionRefusedError:\n"
         "        refused += 1\n"
         "    except OSError as e:\n"
         "        other += 1\n"
         "print('ok=%d refused=%d other=%d' % (ok, refused, other), flush=True)\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(event(*k, "web", "started")) << k->text(Stream::Err);
  ASSERT_TRUE(control_up(s));
  Launch client =
      program_launch(Placement::Subreaper, kPython, {s.path("client.py"), std::to_string(port), s.path("stop")});
  KeelRun c(client);
  // Each restart once the client was served by the run before (the
  // worker's pid in the answer is new), so every restart has a client
  // connecting across it.
  std::set<std::string> servers;
  auto served_by_new_run = [&] {
    for (;;) {
      auto line = c.next_line(Stream::Out, 30s);
      if (!line) return false;
      if (servers.insert(*line).second) return true;
    }
  };
  ASSERT_TRUE(served_by_new_run()) << c.text(Stream::Err) << k->text(Stream::Err);
  for (int i = 0; i < 5; ++i) {
    Ctl r = s.ctl({"restart", "web"});
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    ASSERT_TRUE(served_by_new_run()) << c.text(Stream::Err) << k->text(Stream::Err);
  }
  ASSERT_TRUE(create_file(s.path("stop")));
  std::optional<std::string> result;
  while ((result = c.next_line(Stream::Out, 60s)) && result->rfind("ok=", 0) != 0) {
  }
  ASSERT_TRUE(result) << c.text(Stream::Err);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(*result, m, std::regex("ok=([0-9]+) refused=([0-9]+) other=([0-9]+)"))) << *result;
  EXPECT_GT(std::stoi(m[1]), 0) << *result;
  EXPECT_EQ(std::stoi(m[2]), 0) << *result;
  EXPECT_EQ(std::stoi(m[3]), 0) << *result;
  // Served by six runs of gunicorn (six worker pids), across five restarts.
  EXPECT_GE(servers.size(), 6U) << k->text(Stream::Err);
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

// python3-systemd sees every kind of socket with its name, LISTEN_PID is
// the service's own pid, and the fds are what they claim to be; with a
// child that shares keel's memory and with a forked one.
void check_listen_fds_with_names(Placement placement, bool fork, int port) {
  Supervised s(Supervised::Access::Open, {"sock"});
  s.file("probe.py",
         "import os, socket, sys\n"
         "import systemd.daemon as d\n"
         "pid = os.environ.get('LISTEN_PID')\n"
         "fds = d.listen_fds_with_names(unset_environment=False)\n"
         "out = ['pid=%s own=%d' % (pid, os.getpid())]\n"
         "for fd, name in sorted(fds.items()):\n"
         "    kinds = []\n"
         "    if d.is_socket_inet(fd, socket.AF_INET, socket.SOCK_STREAM, 1, " +
             std::to_string(port) +
             "): kinds.append('tcp-listening')\n"
             "    if d.is_socket_inet(fd, socket.AF_INET, socket.SOCK_DGRAM, -1, " +
             std::to_string(port) +
             "): kinds.append('udp')\n"
             "    if d.is_socket_unix(fd, socket.SOCK_STREAM, 1, sys.argv[2]): kinds.append('unix-listening')\n"
             "    if d.is_socket_unix(fd, socket.SOCK_DGRAM, -1, sys.argv[3]): kinds.append('unix-dgram')\n"
             "    out.append('%d %s %s' % (fd, name, ','.join(kinds)))\n"
             "st = os.stat(sys.argv[2])\n"
             "out.append('mode=%o uid=%d gid=%d' % (st.st_mode & 0o7777, st.st_uid, st.st_gid))\n"
             "open(sys.argv[1] + '.tmp', 'w').write('\\n'.join(out) + '\\n')\n"
             "os.rename(sys.argv[1] + '.tmp', sys.argv[1])\n"
             "import time\n"
             "time.sleep(600)\n");
  const std::string p = std::to_string(port);
  s.service("probe", "command = [\"" + std::string(kPython) + "\", \"" + s.path("probe.py") + "\", \"" + s.path("out") +
                         "\", \"" + s.path("sock/stream.sock") + "\", \"" + s.path("sock/dgram.sock") + "\"]\n" +
                         "[[socket]]\nlisten = \"tcp:127.0.0.1:" + p +
                         "\"\nname = \"web\"\nbacklog = 16\n"
                         "[[socket]]\nlisten = \"udp:127.0.0.1:" +
                         p +
                         "\"\nname = \"dns\"\n"
                         "[[socket]]\nlisten = \"unix:" +
                         s.path("sock/stream.sock") +
                         "\"\nname = \"ctl\"\nowner = 0\ngroup = 0\nmode = \"0640\"\n"
                         "[[socket]]\nlisten = \"unix-dgram:" +
                         s.path("sock/dgram.sock") + "\"\n");
  auto k =
      s.start(placement, fork ? Env{{"KEEL_SPAWN_FORK", "1"}} : Env{});  // the fork fallback (ASan builds, old kernels)
  ASSERT_TRUE(event(*k, "probe", "started")) << k->text(Stream::Err);
  ASSERT_TRUE(poll_until([&] { return fs::exists(s.path("out")); }, 20s)) << k->text(Stream::Err);
  const std::vector<std::string> lines = split_lines(read_file(s.path("out")));
  ASSERT_EQ(lines.size(), 6U) << read_file(s.path("out"));
  ASSERT_TRUE(control_up(s));
  // LISTEN_PID is the service's own pid (as keel knows it, and as it sees itself).
  const std::string main_pid = detail(s, "probe", "pid");
  EXPECT_EQ(lines[0], "pid=" + main_pid + " own=" + main_pid);
  EXPECT_EQ(lines[1], "3 web tcp-listening");
  EXPECT_EQ(lines[2], "4 dns udp");
  EXPECT_EQ(lines[3], "5 ctl unix-listening");
  EXPECT_EQ(lines[4], "6 probe unix-dgram");  // the service's name by default
  EXPECT_EQ(lines[5], "mode=640 uid=0 gid=0");
  // keelctl status names them, as configured, and says keel holds them.
  EXPECT_EQ(detail(s, "probe", "sockets"), "tcp:127.0.0.1:" + p + " (web), udp:127.0.0.1:" + p + " (dns), unix:" +
                                               s.path("sock/stream.sock") + " (ctl), unix-dgram:" +
                                               s.path("sock/dgram.sock") + " (probe); open");
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

TEST_P(SocketActivationTest, ListenFdsWithNamesSeesEveryKind) {
  check_listen_fds_with_names(GetParam(), false, port_for(GetParam(), 42210));
}

TEST_P(SocketActivationTest, ListenFdsWithNamesSeesEveryKindInAForkedChild) {
  check_listen_fds_with_names(GetParam(), true, port_for(GetParam(), 42220));
}

// Whatever someone planted at a unix socket path stays: the service
// fails with the reason, and keel goes on.
TEST_P(SocketActivationTest, APlantedLinkFifoOrFileAtASocketPathIsRefused) {
  Supervised s(Supervised::Access::Open, {"sock"});
  ASSERT_TRUE(create_file(s.path("secret")));
  ASSERT_EQ(::symlink(s.path("secret").c_str(), s.path("sock/link.sock").c_str()), 0);
  ASSERT_EQ(::mkfifo(s.path("sock/fifo.sock").c_str(), 0600), 0);
  ASSERT_TRUE(create_file(s.path("sock/file.sock")));
  for (const char* name : {"link", "fifo", "file"}) {
    s.service(name, "restart = \"never\"\ncommand = [\"/bin/sleep\", \"600\"]\n[[socket]]\nlisten = \"unix:" +
                        s.path(std::string("sock/") + name + ".sock") + "\"\n");
  }
  s.service("other", "command = [\"/bin/sleep\", \"600\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(event(*k, "link", "")) << k->text(Stream::Err);
  ASSERT_TRUE(control_up(s));
  ASSERT_TRUE(poll_until([&] { return detail(s, "file", "state") == "failed"; }, 10s)) << k->text(Stream::Err);
  EXPECT_EQ(detail(s, "link", "state"), "failed");
  EXPECT_EQ(detail(s, "fifo", "state"), "failed");
  EXPECT_EQ(detail(s, "other", "state"), "running");
  const std::string err = k->text(Stream::Err);
  EXPECT_NE(err.find("link.sock: the path is a symbolic link, not a socket: refusing to replace it"), std::string::npos)
      << err;
  EXPECT_NE(err.find("fifo.sock: the path is a FIFO, not a socket: refusing to replace it"), std::string::npos) << err;
  EXPECT_NE(err.find("file.sock: the path is a regular file, not a socket: refusing to replace it"), std::string::npos)
      << err;
  struct stat st {};
  ASSERT_EQ(::lstat(s.path("sock/link.sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  ASSERT_EQ(::lstat(s.path("secret").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  ASSERT_EQ(::lstat(s.path("sock/fifo.sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

// 0, or connect's errno, for a unix stream socket at `path`.
int connect_unix(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  const int r = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
  const int err = r == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

// The path's inode and birth (its mtime in ns): a socket bound anew can
// reuse the inode number of the one just closed.
std::string identity(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return {};
  return std::to_string(st.st_ino) + "@" + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

// A reload that changes something else keeps the socket (the same inode
// at the path, connections accepted into the backlog); one that changes
// the [[socket]] makes it anew; removing the service closes it.
TEST_P(SocketActivationTest, AReloadKeepsAnUnchangedSocketAndRemovalClosesIt) {
  Supervised s(Supervised::Access::Open, {"sock"});
  const std::string path = s.path("sock/r.sock");
  const std::string sock = "[[socket]]\nlisten = \"unix:" + path + "\"\n";
  s.service("r", "description = \"one\"\ncommand = [\"/bin/sleep\", \"600\"]\n" + sock);
  auto k = s.start(GetParam());
  ASSERT_TRUE(event(*k, "r", "started")) << k->text(Stream::Err);
  ASSERT_TRUE(control_up(s));
  const std::string first = identity(path);
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(connect_unix(path), 0);
  const std::string pid1 = detail(s, "r", "pid");
  s.service("r", "description = \"two\"\ncommand = [\"/bin/sleep\", \"600\"]\n" + sock);
  Ctl r = s.ctl({"reload"});
  EXPECT_NE(r.out.find("r: changed"), std::string::npos) << r.out << r.err;
  ASSERT_TRUE(poll_until([&] { return detail(s, "r", "state") == "running" && detail(s, "r", "pid") != pid1; }, 10s))
      << k->text(Stream::Err);
  EXPECT_EQ(identity(path), first);
  EXPECT_EQ(connect_unix(path), 0);
  s.service("r", "description = \"two\"\ncommand = [\"/bin/sleep\", \"600\"]\n" + sock + "backlog = 5\n");
  r = s.ctl({"reload"});
  EXPECT_NE(r.out.find("r: changed"), std::string::npos) << r.out << r.err;
  ASSERT_TRUE(poll_until([&] { return identity(path) != first && !identity(path).empty(); }, 10s))
      << k->text(Stream::Err);
  EXPECT_TRUE(poll_until([&] { return detail(s, "r", "state") == "running"; }, 10s)) << k->text(Stream::Err);
  EXPECT_EQ(connect_unix(path), 0);
  ASSERT_TRUE(fs::remove(s.path("services/r.toml")));
  r = s.ctl({"reload"});
  EXPECT_NE(r.out.find("r: removed"), std::string::npos) << r.out << r.err;
  EXPECT_TRUE(poll_until([&] { return connect_unix(path) == ECONNREFUSED; }, 10s)) << k->text(Stream::Err);
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

INSTANTIATE_TEST_SUITE_P(Placements, SocketActivationTest,
                         ::testing::Values(Placement::Subreaper, Placement::Namespace),
                         [](const ::testing::TestParamInfo<Placement>& p) { return placement_name(p.param); });

}  // namespace
}  // namespace keel::systest
