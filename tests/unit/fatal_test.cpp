// fatal_test.cpp — a fatal error in keel as PID 1 freezes it rather than
// ending it (core/fatal.hpp). The PID 1 is that of a fresh PID namespace:
// when it exits, the kernel kills the namespace, as it panics for the
// machine's init.
#include "core/fatal.hpp"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>

#include "test_util.hpp"

namespace keel {
namespace {

using testutil::kMs;

// PID 1 of a new PID namespace: a grandchild leaves an orphan that ends
// 300 ms later; then `crash` runs. Returns the PID 1's pid (as seen here),
// the read end of its stderr, and its parent (a helper that waits for it).
//
// Made by unshare(CLONE_NEWPID) in a forked helper and a plain fork()
// there, not by a raw clone(CLONE_NEWPID): after a raw clone glibc's
// thread descriptor still names the parent's thread, and AddressSanitizer
// (which asks pthread for the stack at abort()) fails in the child.
// `full_stderr`: the pipe is filled before the crash (nobody reads it), as
// a console held by XOFF or a log pipe nobody reads.
// `orphan_gone`, when given: the read end of a pipe whose only writer is
// the orphan, so EOF there says it has ended (and must now be reaped).
template <typename Crash>
pid_t start_pid1(int& err_read, pid_t& helper, Crash crash, bool full_stderr = false, int* orphan_gone = nullptr) {
  int p[2];
  int q[2];
  int g[2];
  if (::pipe2(p, O_CLOEXEC) != 0 || ::pipe2(q, O_CLOEXEC) != 0 || ::pipe2(g, O_CLOEXEC) != 0) return -1;
  helper = ::fork();
  if (helper < 0) return -1;
  if (helper == 0) {
    if (::unshare(CLONE_NEWPID) != 0) ::_exit(97);
    pid_t pid1 = ::fork();
    if (pid1 == 0) {
      ::dup2(p[1], 2);
      if (::getpid() != 1) ::_exit(99);
      fatal::set_pid1(true);
      fatal::install_crash_handlers();
      pid_t middle = ::fork();
      if (middle == 0) {
        if (::fork() == 0) {
          timespec t{0, 300 * kMs};
          ::nanosleep(&t, nullptr);
          ::_exit(0);  // an orphan by now: PID 1 must reap it
        }
        ::close(g[1]);
        ::_exit(0);
      }
      ::close(g[1]);
      if (full_stderr) {
        // Through a descriptor of its own: fd 2 itself stays blocking.
        int own = ::open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        static char fill[4096];
        while (own >= 0 && ::write(own, fill, sizeof fill) > 0) {
        }
        if (own >= 0) ::close(own);
      }
      crash();
      ::_exit(98);  // not reached: the crash never returns
    }
    ::close(g[1]);
    (void)!::write(q[1], &pid1, sizeof pid1);
    int status = 0;
    ::waitpid(pid1, &status, 0);
    ::_exit(0);
  }
  ::close(p[1]);
  ::close(q[1]);
  ::close(g[1]);
  if (orphan_gone != nullptr) {
    *orphan_gone = g[0];
  } else {
    ::close(g[0]);
  }
  pid_t pid = -1;
  if (::read(q[0], &pid, sizeof pid) != static_cast<ssize_t>(sizeof pid)) pid = -1;
  ::close(q[0]);
  err_read = p[0];
  return pid;
}

// 'Z' (a zombie, or ended), or its state letter from /proc/PID/stat.
char state_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all;
  std::getline(in, all);
  std::size_t close = all.rfind(')');
  return close == std::string::npos || close + 2 >= all.size() ? 'Z' : all[close + 2];
}

std::string read_for(int fd, const std::string& want, int timeout_ms) {
  std::string text;
  std::int64_t deadline = monotonic_ns() + timeout_ms * kMs;
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  while (text.find(want) == std::string::npos && monotonic_ns() < deadline) {
    char buf[512];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      text.append(buf, static_cast<std::size_t>(n));
    } else {
      ::usleep(10'000);
    }
  }
  return text;
}

// Its children, from /proc: empty once every orphan is reaped.
std::string children_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void expect_frozen_and_reaping(pid_t pid, pid_t helper, int err, const char* why) {
  ASSERT_GT(pid, 0) << "unshare(CLONE_NEWPID) + fork: " << std::strerror(errno);
  std::string text = read_for(err, "frozen", 5000);
  EXPECT_NE(text.find(std::string("keel: fatal: ") + why), std::string::npos) << text;
  EXPECT_NE(text.find("frozen"), std::string::npos) << text;
  // Alive, and its orphan reaped (a zombie would stay on the list).
  std::int64_t deadline = monotonic_ns() + 5000 * kMs;
  while (!children_of(pid).empty() && monotonic_ns() < deadline) ::usleep(10'000);
  EXPECT_EQ(children_of(pid), "") << "PID 1 did not reap its orphan";
  EXPECT_NE(state_of(pid), 'Z') << "PID 1 ended";
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(helper, &status, 0);
  ::close(err);
}

TEST(Fatal, AbortAsPid1FreezesAndKeepsReaping) {
  int err = -1;
  pid_t helper = -1;
  pid_t pid = start_pid1(err, helper, [] { std::abort(); });
  expect_frozen_and_reaping(pid, helper, err, "SIGABRT");
}

TEST(Fatal, SegfaultAsPid1FreezesAndKeepsReaping) {
  int err = -1;
  pid_t helper = -1;
  pid_t pid = start_pid1(err, helper, [] { ::raise(SIGSEGV); });
  expect_frozen_and_reaping(pid, helper, err, "SIGSEGV");
}

TEST(Fatal, DieAsPid1FreezesAndKeepsReaping) {
  int err = -1;
  pid_t helper = -1;
  pid_t pid = start_pid1(err, helper, [] { fatal::die("std::terminate called"); });
  expect_frozen_and_reaping(pid, helper, err, "std::terminate called");
}

// The message cannot be written (a pipe nobody reads, full): it is
// dropped, and the frozen PID 1 still reaps. A blocking write of the
// message would wait forever before the reaping loop.
TEST(Fatal, AStderrThatTakesNothingDoesNotStopTheFrozenPid1FromReaping) {
  int err = -1;
  pid_t helper = -1;
  int gone = -1;
  pid_t pid = start_pid1(err, helper, [] { ::raise(SIGSEGV); }, true, &gone);
  ASSERT_GT(pid, 0) << "unshare(CLONE_NEWPID) + fork: " << std::strerror(errno);
  // The pipe is full (PID 1 fills it before it crashes), then the orphan
  // ends: from then on only PID 1's reaping can empty its list of children.
  std::int64_t deadline = monotonic_ns() + 5000 * kMs;
  int queued = 0;
  while ((::ioctl(err, FIONREAD, &queued) != 0 || queued < 60 * 1024) && monotonic_ns() < deadline) ::usleep(10'000);
  EXPECT_GE(queued, 60 * 1024) << "the pipe was not filled";
  pollfd eof{gone, POLLIN, 0};
  EXPECT_EQ(::poll(&eof, 1, 5000), 1) << "the orphan did not end";
  ::close(gone);
  deadline = monotonic_ns() + 5000 * kMs;
  while (!children_of(pid).empty() && monotonic_ns() < deadline) ::usleep(10'000);
  EXPECT_EQ(children_of(pid), "") << "PID 1 did not reap its orphan";
  EXPECT_NE(state_of(pid), 'Z') << "PID 1 ended";
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(helper, &status, 0);
  ::close(err);
}

TEST(Fatal, DieWhenNotPid1Aborts) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 2);
    fatal::install_crash_handlers();
    fatal::die("a test");
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGABRT);
}

}  // namespace
}  // namespace keel
