// keel's own output without waiting (core/log_output.hpp, core/log_flusher.hpp):
// the backlog keeps whole lines in order, a partly written line's tail goes
// first, what does not fit is dropped whole and counted, and the count is
// said before the next line that gets through. Then the real devices: a pipe
// nobody reads, a socket, a terminal stopped by Ctrl-S, each written through
// keel's own descriptor while the one it was given stays blocking.
#include "core/log_output.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/event_loop.hpp"
#include "core/log.hpp"
#include "core/log_flusher.hpp"
#include "test_util.hpp"
#include "throwaway_uid.hpp"

namespace keel {
namespace {

using log::LineBacklog;
using log::OutputMode;
using log::OutputSink;
using testutil::run_in_child;

// A device that takes `budget` bytes, then says EAGAIN (or `error`).
struct FakeDevice {
  std::string taken;
  std::size_t budget = SIZE_MAX;
  int error = EAGAIN;
  std::vector<std::size_t> calls;  // the length of each write asked for

  static ssize_t write(void* context, const char* data, std::size_t len) noexcept {
    auto* self = static_cast<FakeDevice*>(context);
    self->calls.push_back(len);
    if (self->budget == 0) {
      errno = self->error;
      return -1;
    }
    std::size_t n = std::min(len, self->budget);
    self->taken.append(data, n);
    self->budget -= n;
    return static_cast<ssize_t>(n);
  }
};

std::string notice(std::uint64_t n) {
  return "keel: " + std::to_string(n) + (n == 1 ? " line" : " lines") +
         " of keel's own output lost (the console or log was not accepting output)\n";
}

TEST(LineBacklog, HoldsWholeLinesInOrderUpToItsCapacity) {
  char storage[16];
  LineBacklog b(storage, sizeof storage);
  EXPECT_TRUE(b.empty());
  EXPECT_TRUE(b.push("one\n"));
  EXPECT_TRUE(b.push("two\n"));
  EXPECT_FALSE(b.push("three-and-more\n")) << "does not fit: nothing of it is kept";
  EXPECT_EQ(b.pending(), "one\ntwo\n");
  EXPECT_TRUE(b.push("6chars\n"));
  EXPECT_EQ(b.room(), 1U);
  b.consume(2);  // "on" written: the tail "e\n" stays first
  EXPECT_EQ(b.pending(), "e\ntwo\n6chars\n");
  EXPECT_EQ(b.discard(), 3U) << "a partly written line counts as a line";
  EXPECT_TRUE(b.empty());
}

TEST(OutputSink, WritesThroughWhileTheDeviceTakesEverything) {
  char storage[64];
  OutputSink sink(storage, sizeof storage);
  FakeDevice dev;
  sink.attach_test(&FakeDevice::write, &dev);
  sink.write("a\n");
  sink.write("b\n");
  EXPECT_EQ(dev.taken, "a\nb\n");
  EXPECT_FALSE(sink.backlogged());
  EXPECT_EQ(sink.lost(), 0U);
}

TEST(OutputSink, KeepsWhatTheDeviceRefusesAndFlushesItInOrder) {
  char storage[64];
  OutputSink sink(storage, sizeof storage);
  FakeDevice dev;
  dev.budget = 0;
  sink.attach_test(&FakeDevice::write, &dev);
  sink.write("first\n");
  sink.write("second\n");
  EXPECT_TRUE(sink.backlogged());
  EXPECT_EQ(dev.taken, "");
  dev.budget = SIZE_MAX;
  sink.flush();
  EXPECT_EQ(dev.taken, "first\nsecond\n");
  EXPECT_FALSE(sink.backlogged());
  sink.write("third\n");
  EXPECT_EQ(dev.taken, "first\nsecond\nthird\n");
  EXPECT_EQ(sink.lost(), 0U);
}

TEST(OutputSink, ThePartlyWrittenLinesTailGoesFirst) {
  char storage[64];
  OutputSink sink(storage, sizeof storage);
  FakeDevice dev;
  dev.budget = 4;  // a terminal with room for four bytes
  sink.attach_test(&FakeDevice::write, &dev);
  sink.write("abcdefgh\n");
  EXPECT_EQ(dev.taken, "abcd");
  EXPECT_EQ(sink.backlog_bytes(), 5U);
  sink.write("next\n");  // queued behind the tail, never written before it
  EXPECT_EQ(dev.taken, "abcd");
  dev.budget = 3;
  sink.flush();
  EXPECT_EQ(dev.taken, "abcdefg");
  dev.budget = SIZE_MAX;
  sink.flush();
  EXPECT_EQ(dev.taken, "abcdefgh\nnext\n");
  EXPECT_EQ(sink.lost(), 0U);
}

TEST(OutputSink, DropsWholeLinesCountsThemAndSaysSoWhenItDrains) {
  char storage[128];
  OutputSink sink(storage, sizeof storage);
  FakeDevice dev;
  dev.budget = 0;
  sink.attach_test(&FakeDevice::write, &dev);
  std::string kept;
  for (int i = 10; i < 40; ++i) {  // 8 bytes each: 16 fit, 14 do not
    std::string line = "line " + std::to_string(i) + "\n";
    sink.write(line);
    if (i < 26) kept += line;
  }
  EXPECT_EQ(sink.lost(), 14U);
  EXPECT_EQ(sink.unreported(), 14U);
  dev.budget = SIZE_MAX;
  sink.flush();
  // What was kept, whole and in order, then the count.
  EXPECT_EQ(dev.taken, kept + notice(14));
  EXPECT_EQ(sink.unreported(), 0U);
  EXPECT_EQ(sink.lost(), 14U) << "the total stays";
  sink.write("after\n");
  EXPECT_EQ(dev.taken, kept + notice(14) + "after\n");
}

TEST(OutputSink, TheCountPrecedesTheNextLineThatGetsIn) {
  char storage[155];
  OutputSink sink(storage, sizeof storage);
  FakeDevice dev;
  dev.budget = 0;
  sink.attach_test(&FakeDevice::write, &dev);
  std::string big(150, 'x');
  sink.write(big + "\n");
  sink.write("dropped\n");  // no room behind the big one
  EXPECT_EQ(sink.lost(), 1U);
  // The big line went (partly), room came back: the next line comes in
  // behind the count, which needs room for both.
  dev.budget = 100;
  sink.flush();
  sink.write("kept\n");
  EXPECT_EQ(sink.unreported(), 0U);
  dev.budget = SIZE_MAX;
  sink.flush();
  EXPECT_EQ(dev.taken, big + "\n" + notice(1) + "kept\n");
}

TEST(OutputSink, ADeviceThatHasGoneLosesItsBacklogCounted) {
  char storage[256];
  OutputSink sink(storage, sizeof storage);
  FakeDevice dev;
  dev.budget = 0;
  sink.attach_test(&FakeDevice::write, &dev);
  sink.write("a\n");
  sink.write("b\n");
  dev.error = EPIPE;  // the reader went away
  sink.flush();
  EXPECT_FALSE(sink.backlogged());
  EXPECT_EQ(sink.lost(), 2U);
  sink.write("c\n");  // behind the count of 2, and lost with it: the count is not a lost line
  EXPECT_EQ(sink.lost(), 3U);
  EXPECT_EQ(sink.unreported(), 3U);
  // It comes back (a new reader): the count first.
  dev.budget = SIZE_MAX;
  sink.write("d\n");
  EXPECT_EQ(dev.taken, notice(3) + "d\n");
}

TEST(OutputSink, FlushesWholeLinesAtMostPipeBufAtATime) {
  // A pipe takes a write of PIPE_BUF bytes or less whole or not at all, so
  // another writer (a service on the same console pipe) cannot land inside
  // one of keel's lines.
  static char storage[4 * PIPE_BUF];
  OutputSink sink(storage, sizeof storage);
  FakeDevice dev;
  dev.budget = 0;
  sink.attach_test(&FakeDevice::write, &dev);
  std::string line(99, 'y');
  line += '\n';
  for (int i = 0; i < 100; ++i) sink.write(line);  // 10,000 bytes
  dev.budget = SIZE_MAX;
  dev.calls.clear();
  sink.flush();
  EXPECT_EQ(dev.taken.size(), 10'000U);
  ASSERT_FALSE(dev.calls.empty());
  for (std::size_t len : dev.calls) {
    EXPECT_LE(len, static_cast<std::size_t>(PIPE_BUF));
    EXPECT_EQ(len % 100, 0U) << "whole lines only";
  }
}

// ------------------------------------------------------------ real devices

// Writes lines to `sink` until it drops one; fails (by timing out in the
// child) if any write waits. Returns how many it wrote.
int fill_until_lost(OutputSink& sink) {
  std::string line(63, 'z');
  line += '\n';
  int n = 0;
  while (sink.lost() == 0 && n < 100'000) {
    sink.write(line);
    ++n;
  }
  return n;
}

TEST(OutputSinkDevice, APipeNobodyReadsNeverBlocksAndTheGivenFdStaysBlocking) {
  std::string failure = run_in_child([]() -> std::string {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return "pipe2";
    static char storage[4096];
    OutputSink sink(storage, sizeof storage);
    sink.attach(p[1]);
    if (sink.mode() != OutputMode::Own) return "not written through a descriptor of its own";
    if ((::fcntl(p[1], F_GETFL) & O_NONBLOCK) != 0) return "the shared fd was made non-blocking";
    fill_until_lost(sink);  // 64 KiB of pipe, then the 4 KiB backlog: never waits
    if (!sink.backlogged()) return "nothing held back";
    // The reader drains; the backlog follows, then the count.
    std::string got;
    char buf[65536];
    ::fcntl(p[0], F_SETFL, O_NONBLOCK);
    for (int round = 0; round < 1000 && (sink.backlogged() || got.find("lost") == std::string::npos); ++round) {
      ssize_t n = ::read(p[0], buf, sizeof buf);
      if (n > 0) got.append(buf, static_cast<std::size_t>(n));
      sink.flush();
    }
    ssize_t n = ::read(p[0], buf, sizeof buf);
    if (n > 0) got.append(buf, static_cast<std::size_t>(n));
    if (got.find(notice(sink.lost())) == std::string::npos) return "no count after the drain";
    if (got.back() != '\n') return "ends inside a line";
    sink.detach();
    return "";
  });
  EXPECT_EQ(failure, "");
}

// `docker run --user`: keel is not the pipe's owner, so it cannot open it
// again; a pipe then takes RWF_NOWAIT writes, still without waiting and
// without touching the shared O_NONBLOCK.
TEST(OutputSinkDevice, AnotherUsersPipeIsWrittenWithoutWaitingToo) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to become another user";
  uid_t uid = keel::testing::throwaway_uid();
  std::string failure = run_in_child([uid]() -> std::string {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return "pipe2";  // root's, mode 0600
    if (::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0) return "setresuid";
    static char storage[4096];
    OutputSink sink(storage, sizeof storage);
    sink.attach(p[1]);
    if (sink.mode() != OutputMode::Guarded) return "reopened another user's pipe?";
    fill_until_lost(sink);  // hangs here (the child is killed) if a write waits
    if ((::fcntl(p[1], F_GETFL) & O_NONBLOCK) != 0) return "the shared fd was made non-blocking";
    std::string got;
    char buf[65536];
    ::fcntl(p[0], F_SETFL, O_NONBLOCK);
    for (int round = 0; round < 1000 && (sink.backlogged() || got.find("lost (") == std::string::npos); ++round) {
      ssize_t n = ::read(p[0], buf, sizeof buf);
      if (n > 0) got.append(buf, static_cast<std::size_t>(n));
      sink.flush();
    }
    for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
    if (got.find(notice(sink.lost())) == std::string::npos) return "no count after the drain";
    return "";
  });
  EXPECT_EQ(failure, "");
}

TEST(OutputSinkDevice, ASocketIsSentToWithoutWaiting) {
  std::string failure = run_in_child([]() -> std::string {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return "socketpair";
    static char storage[4096];
    OutputSink sink(storage, sizeof storage);
    sink.attach(sv[0]);
    if (sink.mode() != OutputMode::Socket) return "not a socket";
    fill_until_lost(sink);
    if ((::fcntl(sv[0], F_GETFL) & O_NONBLOCK) != 0) return "the shared fd was made non-blocking";
    return "";
  });
  EXPECT_EQ(failure, "");
}

TEST(OutputSinkDevice, ATerminalStoppedByCtrlSHoldsLinesUntilCtrlQ) {
  std::string failure = run_in_child([]() -> std::string {
    int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) return "posix_openpt";
    int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) return "open the pty";
    // What Ctrl-S does to a terminal with IXON, done at once (a typed ^S
    // goes through the line discipline's work queue first).
    if (::tcflow(slave, TCOOFF) != 0) return "tcflow(TCOOFF)";
    static char storage[4096];
    OutputSink sink(storage, sizeof storage);
    sink.attach(slave);
    if (sink.mode() != OutputMode::Own) return "not written through a descriptor of its own";
    // A stopped terminal takes nothing: the first line is already held.
    sink.write("while stopped\n");
    if (!sink.backlogged()) return "a stopped terminal took a line";
    fill_until_lost(sink);
    if ((::fcntl(slave, F_GETFL) & O_NONBLOCK) != 0) return "the shared fd was made non-blocking";
    if (::tcflow(slave, TCOON) != 0) return "tcflow(TCOON)";  // Ctrl-Q
    std::string got;
    char buf[4096];
    ::fcntl(master, F_SETFL, O_NONBLOCK);
    for (int round = 0; round < 10'000 && (sink.backlogged() || got.find("lost") == std::string::npos); ++round) {
      sink.flush();
      ssize_t n = ::read(master, buf, sizeof buf);
      if (n > 0) got.append(buf, static_cast<std::size_t>(n));
    }
    if (got.rfind("while stopped\r\n", 0) != 0) return "the first line did not come first: " + got.substr(0, 40);
    if (got.find("lost (the console") == std::string::npos) return "no count";
    sink.detach();
    return "";
  });
  EXPECT_EQ(failure, "");
}

// log:: with a LogFlusher on a loop: the pipe is in the loop only while
// there is a backlog, and the loop writes it when the reader drains.
TEST(LogFlusher, TheLoopFlushesTheBacklogWhenTheDeviceTakesOutputAgain) {
  std::string failure = run_in_child([]() -> std::string {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return "pipe2";
    EventLoop loop;
    if (!loop.init()) return "loop";
    LogFlusher flusher;
    flusher.start(loop);
    log::set_fd(p[1]);
    log::set_verbosity(static_cast<int>(log::Level::Info));
    for (int i = 0; log::output_lost() == 0 && i < 100'000; ++i) log::msg(log::Level::Info, "line %d", i);
    if (log::output_lost() == 0) return "nothing lost";
    std::uint64_t lost = log::output_lost();
    ::fcntl(p[0], F_SETFL, O_NONBLOCK);
    std::string got;
    char buf[65536];
    for (int round = 0; round < 1000 && got.find("lost (") == std::string::npos; ++round) {
      ssize_t n = ::read(p[0], buf, sizeof buf);
      if (n > 0) got.append(buf, static_cast<std::size_t>(n));
      if (got.find("lost (") != std::string::npos) break;
      if (!loop.run_once()) return "run_once";  // EPOLLOUT: the pipe has room
    }
    for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
    std::string expect = notice(lost);
    if (got.find(expect) == std::string::npos) return "no count line: " + got.substr(got.size() - 200);
    // Every line whole: the tail after the count is nothing or whole lines.
    if (got.back() != '\n') return "ends inside a line";
    log::set_fd(2);
    return "";
  });
  EXPECT_EQ(failure, "");
}

}  // namespace
}  // namespace keel
