// Readiness channels: the sd_notify message parser, a real datagram socket
// on the event loop, and the s6-style notification pipe.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/event_loop.hpp"
#include "service/notify.hpp"
#include "test_util.hpp"
#include "throwaway_uid.hpp"

namespace keel::service {
namespace {

struct Recorder final : NotifyTarget {
  bool notify_sender_allowed(const NotifySender& s) noexcept override {
    senders.push_back(s);
    return allow;
  }
  void notify_ready() noexcept override { events.push_back("ready"); }
  void notify_status(std::string_view s) noexcept override { events.push_back("status " + std::string(s)); }
  void notify_stopping() noexcept override { events.push_back("stopping"); }
  void notify_main_pid(pid_t pid) noexcept override { events.push_back("mainpid " + std::to_string(pid)); }
  void notify_watchdog() noexcept override { events.push_back("watchdog"); }
  void notify_watchdog_trigger() noexcept override { events.push_back("trigger"); }
  void notify_watchdog_usec(std::uint64_t u) noexcept override { events.push_back("wdusec " + std::to_string(u)); }
  void notify_extend_timeout(std::uint64_t u) noexcept override { events.push_back("extend " + std::to_string(u)); }
  void notify_reloading() noexcept override { events.push_back("reloading"); }
  void notify_monotonic_usec(std::uint64_t u) noexcept override { events.push_back("mono " + std::to_string(u)); }
  void notify_errno(int e) noexcept override { events.push_back("errno " + std::to_string(e)); }
  std::vector<std::string> events;
  std::vector<NotifySender> senders;
  bool allow = true;
};

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  return addr;
}

// Send `text` to `path` from a child that runs as uid:uid; the child's
// exit status is 0 when sendto succeeded, else its errno.
int send_as(uid_t uid, const std::string& path, const char* text) {
  pid_t child = ::fork();
  if (child == 0) {
    if (::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0) _exit(100);
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr = unix_address(path);
    _exit(::sendto(fd, text, std::strlen(text), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr) >= 0 ? 0 : errno);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ServiceNotify, ParsesTheAssignmentsItActsOnAndIgnoresTheRest) {
  Recorder r;
  parse_notify_message("STATUS=warming up\nWATCHDOG=1\nMAINPID=4242\nREADY=1\nERRNO=5\nSTOPPING=1\nFDNAME=x\nBARRIER=1",
                       r);
  EXPECT_EQ(r.events, (std::vector<std::string>{"status warming up", "watchdog", "mainpid 4242", "ready", "errno 5",
                                                "stopping"}));
}

TEST(ServiceNotify, ParsesTheWatchdogReloadAndTimeoutKeysInOrder) {
  Recorder r;
  parse_notify_message(
      "RELOADING=1\nMONOTONIC_USEC=18446744073709551615\nWATCHDOG_USEC=2000000\n"
      "EXTEND_TIMEOUT_USEC=0\nEXTEND_TIMEOUT_USEC=31536000000000\nWATCHDOG=trigger\nERRNO=0\n"
      "ERRNO=4095\nREADY=1",
      r);
  EXPECT_EQ(r.events, (std::vector<std::string>{"reloading", "mono 18446744073709551615", "wdusec 2000000", "extend 0",
                                                "extend 31536000000000", "trigger", "errno 0", "errno 4095", "ready"}));
}

TEST(ServiceNotify, RejectsGarbageAndOutOfRangeNumbersForTheNewKeys) {
  Recorder r;
  parse_notify_message(
      "WATCHDOG=0\nWATCHDOG=2\nWATCHDOG=triggered\nRELOADING=0\nWATCHDOG_USEC=0\nWATCHDOG_USEC=\n"
      "WATCHDOG_USEC=-1\nWATCHDOG_USEC=+5\nWATCHDOG_USEC=1e6\nWATCHDOG_USEC=0x10\nWATCHDOG_USEC= 5\n"
      "WATCHDOG_USEC=31536000000001\nEXTEND_TIMEOUT_USEC=99999999999999999999\n"
      "EXTEND_TIMEOUT_USEC=12abc\nMONOTONIC_USEC=18446744073709551616\nMONOTONIC_USEC=x\n"
      "ERRNO=4096\nERRNO=-5\nERRNO=EIO\nERRNO=",
      r);
  EXPECT_TRUE(r.events.empty()) << r.events.front();
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
  ASSERT_TRUE(sock.open(loop, path.c_str(), ::geteuid(), ::getegid(), r));
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr = unix_address(path);
  for (const char* m : {"STATUS=one", "READY=1"}) {
    ASSERT_GE(::sendto(fd, m, std::strlen(m), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  testutil::Watchdog dog(2000, 2000);
  while (r.events.size() < 2 && !dog.expired()) ASSERT_TRUE(loop.run_once());
  EXPECT_EQ(r.events, (std::vector<std::string>{"status one", "ready"}));
  // Each message came with the kernel's word on its sender.
  ASSERT_EQ(r.senders.size(), 2U);
  EXPECT_EQ(r.senders[0].pid, ::getpid());
  EXPECT_EQ(r.senders[0].uid, ::getuid());
  ::close(fd);
  sock.close();
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "the socket file is removed on close";
}

TEST(ServiceNotify, TheSocketBelongsToTheServiceUserAloneAndOthersCannotSend) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as two users";
  testutil::TempDir dir;
  ::chmod(dir.path().c_str(), 0755);  // reachable: the refusal must come from the socket's own mode
  EventLoop loop;
  ASSERT_TRUE(loop.init());
  Recorder r;
  NotifySocket sock;
  uid_t service_uid = keel::testing::throwaway_uid();
  uid_t other_uid = keel::testing::throwaway_uid();
  while (other_uid == service_uid) other_uid = keel::testing::throwaway_uid();
  std::string path = (dir.path() / "notify").string();
  ASSERT_TRUE(sock.open(loop, path.c_str(), service_uid, service_uid, r));
  struct stat st{};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600U);
  EXPECT_EQ(st.st_uid, service_uid);
  EXPECT_EQ(st.st_gid, service_uid);
  // Another user is stopped by the kernel; the service's user gets through
  // and is named by its credentials.
  EXPECT_EQ(send_as(other_uid, path, "READY=1"), EACCES);
  EXPECT_EQ(send_as(service_uid, path, "READY=1"), 0);
  testutil::Watchdog dog(2000, 2000);
  while (r.events.empty() && !dog.expired()) ASSERT_TRUE(loop.run_once());
  EXPECT_EQ(r.events, (std::vector<std::string>{"ready"}));
  ASSERT_EQ(r.senders.size(), 1U);
  EXPECT_EQ(r.senders[0].uid, service_uid);
  EXPECT_GT(r.senders[0].pid, 0);
}

TEST(ServiceNotify, ARefusedSenderIsNotParsedAndPassedFdsAreClosed) {
  testutil::TempDir dir;
  EventLoop loop;
  ASSERT_TRUE(loop.init());
  Recorder r;
  r.allow = false;
  NotifySocket sock;
  std::string path = (dir.path() / "notify").string();
  ASSERT_TRUE(sock.open(loop, path.c_str(), ::geteuid(), ::getegid(), r));
  // systemd's barrier: a message with a pipe's write end; the sender waits
  // for the read end to see EOF, which needs keel to close what it got.
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr = unix_address(path);
  char text[] = "READY=1\nBARRIER=1";
  iovec iov{text, sizeof text - 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_name = &addr;
  msg.msg_namelen = sizeof addr;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &p[1], sizeof(int));
  ASSERT_GE(::sendmsg(fd, &msg, 0), 0);
  ::close(p[1]);
  testutil::Watchdog dog(2000, 2000);
  while (r.senders.empty() && !dog.expired()) ASSERT_TRUE(loop.run_once());
  EXPECT_TRUE(r.events.empty()) << "a refused sender's message is not acted on";
  char b = 0;
  EXPECT_EQ(::read(p[0], &b, 1), 0) << "keel still holds the passed fd";
  ::close(p[0]);
  ::close(fd);
}

// FDSTORE=1 from a sender the target refuses (another uid, a process
// outside the service): nothing is stored and every fd it passed is closed,
// so a foreign process cannot fill keel's fd table through the store.
TEST(ServiceNotify, ARefusedSendersFdStoreIsNotKeptAndItsFdsAreClosed) {
  testutil::TempDir dir;
  EventLoop loop;
  ASSERT_TRUE(loop.init());
  Recorder r;
  r.allow = false;
  NotifySocket sock;
  std::string path = (dir.path() / "notify").string();
  ASSERT_TRUE(sock.open(loop, path.c_str(), ::geteuid(), ::getegid(), r));
  int a[2];
  int b[2];
  ASSERT_EQ(::pipe2(a, O_CLOEXEC | O_NONBLOCK), 0);
  ASSERT_EQ(::pipe2(b, O_CLOEXEC | O_NONBLOCK), 0);
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr = unix_address(path);
  char text[] = "FDSTORE=1\nFDNAME=x";
  iovec iov{text, sizeof text - 1};
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  msghdr msg{};
  msg.msg_name = &addr;
  msg.msg_namelen = sizeof addr;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(2 * sizeof(int));
  const int passed[2] = {a[1], b[1]};
  std::memcpy(CMSG_DATA(c), passed, sizeof passed);
  ASSERT_GE(::sendmsg(fd, &msg, 0), 0);
  ::close(a[1]);
  ::close(b[1]);
  testutil::Watchdog dog(2000, 2000);
  while (r.senders.empty() && !dog.expired()) ASSERT_TRUE(loop.run_once());
  EXPECT_TRUE(r.events.empty()) << "a refused sender's message is not acted on";
  char byte = 0;
  EXPECT_EQ(::read(a[0], &byte, 1), 0) << "keel still holds the first passed fd";
  EXPECT_EQ(::read(b[0], &byte, 1), 0) << "keel still holds the second passed fd";
  ::close(a[0]);
  ::close(b[0]);
  ::close(fd);
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
