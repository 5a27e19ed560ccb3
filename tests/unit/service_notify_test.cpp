// Readiness channels: the sd_notify message parser, a real datagram socket
// on the event loop, and the s6-style notification pipe.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/event_loop.hpp"
#include "service/notify.hpp"
#include "test_util.hpp"

namespace keel::service {
namespace {

struct Recorder final : NotifyTarget {
  void notify_ready() noexcept override { events.push_back("ready"); }
  void notify_status(std::string_view s) noexcept override { events.push_back("status " + std::string(s)); }
  void notify_stopping() noexcept override { events.push_back("stopping"); }
  void notify_main_pid(pid_t pid) noexcept override { events.push_back("mainpid " + std::to_string(pid)); }
  std::vector<std::string> events;
};

TEST(ServiceNotify, ParsesTheAssignmentsItActsOnAndIgnoresTheRest) {
  Recorder r;
  parse_notify_message("STATUS=warming up\nWATCHDOG=1\nMAINPID=4242\nREADY=1\nERRNO=5\nSTOPPING=1", r);
  EXPECT_EQ(r.events, (std::vector<std::string>{"status warming up", "mainpid 4242", "ready", "stopping"}));
}

TEST(ServiceNotify, RejectsMalformedValues) {
  Recorder r;
  parse_notify_message("READY=0\nREADY=11\nMAINPID=\nMAINPID=12x\nMAINPID=-3\nMAINPID=0\nMAINPID=99999999999\n\n\n", r);
  EXPECT_TRUE(r.events.empty());
  parse_notify_message("", r);
  parse_notify_message(std::string_view("READY=1\0junk", 12), r);
  EXPECT_EQ(r.events.size(), 0U);  // "READY=1\0junk" is one line that is not READY=1
}

TEST(ServiceNotify, DatagramsOnTheSocketReachTheTarget) {
  testutil::TempDir dir;
  EventLoop loop;
  ASSERT_TRUE(loop.init());
  Recorder r;
  NotifySocket sock;
  std::string path = (dir.path() / "notify").string();
  ASSERT_TRUE(sock.open(loop, path.c_str(), r));
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  for (const char* m : {"STATUS=one", "READY=1"}) {
    ASSERT_GE(::sendto(fd, m, std::strlen(m), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  testutil::Watchdog dog(2000, 2000);
  while (r.events.size() < 2 && !dog.expired()) ASSERT_TRUE(loop.run_once());
  EXPECT_EQ(r.events, (std::vector<std::string>{"status one", "ready"}));
  ::close(fd);
  sock.close();
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "the socket file is removed on close";
}

TEST(ServiceNotify, PipeIsReadyAtTheFirstNewlineAndClosesItself) {
  EventLoop loop;
  ASSERT_TRUE(loop.init());
  Recorder r;
  ReadyPipe pipe;
  ASSERT_TRUE(pipe.open(loop, r));
  int w = ::dup(pipe.write_fd());
  pipe.close_write_end();
  ASSERT_EQ(::write(w, "partial", 7), 7);
  testutil::Watchdog dog(2000, 2000);
  ASSERT_TRUE(loop.run_once());
  EXPECT_TRUE(r.events.empty());
  ASSERT_EQ(::write(w, "\n", 1), 1);
  while (r.events.empty() && !dog.expired()) ASSERT_TRUE(loop.run_once());
  EXPECT_EQ(r.events, (std::vector<std::string>{"ready"}));
  ::close(w);
}

TEST(ServiceNotify, PipeClosedWithoutANewlineIsNotReady) {
  EventLoop loop;
  ASSERT_TRUE(loop.init());
  Recorder r;
  ReadyPipe pipe;
  ASSERT_TRUE(pipe.open(loop, r));
  pipe.close_write_end();  // the service died without writing
  testutil::Watchdog dog(2000, 2000);
  ASSERT_TRUE(loop.run_once());
  EXPECT_TRUE(r.events.empty());
}

}  // namespace
}  // namespace keel::service
