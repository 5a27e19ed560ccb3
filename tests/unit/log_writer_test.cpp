// Unit tests for the log writer's pieces: the record format
// (service/log_record), PID 1's queue (service/log_queue), the drop count a
// ServiceLog carries to its sink (service/service_log + log_sink), the
// marker a ServiceFile writes in place of lost lines, the writer process
// itself (service/log_writer, forked in-process) and PID 1's link to it
// (service/log_writer_link, running the real keel binary).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>
#include <vector>

#include "core/event_loop.hpp"
#include "service/log_queue.hpp"
#include "service/log_record.hpp"
#include "service/log_sink.hpp"
#include "service/log_writer.hpp"
#include "service/log_writer_link.hpp"
#include "service/service_log.hpp"
#include "test_util.hpp"

namespace keel {
namespace {

using service::LogRecord;
using service::RecordQueue;
using testutil::slurp;
using testutil::TempDir;
using testutil::Watchdog;
namespace log_record = service::log_record;

constexpr std::string_view kStamp = "2026-12-06T10:00:00.000Z";

std::string stamped(const std::string& text) { return std::string(kStamp) + " stdout " + text + "\n"; }

LogRecord line_record(std::uint32_t service, std::string_view path, std::string_view line,
                      std::uint64_t dropped = 0) {
  LogRecord r;
  r.kind = LogRecord::Kind::Line;
  r.service = service;
  r.dropped = dropped;
  r.max_size = 1 << 20;
  r.keep = 3;
  r.path = path;
  r.line = line;
  return r;
}

std::string encoded(const LogRecord& r) {
  std::string out(log_record::kMaxRecord, '\0');
  out.resize(log_record::encode(r, out.data(), out.size()));
  return out;
}

// ---------------------------------------------------------------- format

TEST(LogRecordTest, ARecordDecodesToWhatWasEncoded) {
  const std::string line = stamped("hello");
  LogRecord in = line_record(7, "/var/log/x.log", line, 12);
  std::string bytes = encoded(in);
  ASSERT_EQ(bytes.size(), log_record::kHeaderBytes + 14 + line.size());
  LogRecord out;
  ASSERT_EQ(log_record::decode(bytes.data(), bytes.size(), out), nullptr);
  EXPECT_EQ(out.kind, LogRecord::Kind::Line);
  EXPECT_EQ(out.service, 7U);
  EXPECT_EQ(out.dropped, 12U);
  EXPECT_EQ(out.max_size, 1U << 20);
  EXPECT_EQ(out.keep, 3);
  EXPECT_EQ(out.path, "/var/log/x.log");
  EXPECT_EQ(out.line, line);

  LogRecord close = in;
  close.kind = LogRecord::Kind::Close;
  close.line = {};
  bytes = encoded(close);
  const char* why = log_record::decode(bytes.data(), bytes.size(), out);
  ASSERT_EQ(why, nullptr) << why;
  EXPECT_EQ(out.kind, LogRecord::Kind::Close);
  EXPECT_TRUE(out.line.empty());
}

TEST(LogRecordTest, MalformedRecordsAreRejectedWithAReason) {
  const std::string line = stamped("hello");
  const std::string good = encoded(line_record(1, "/x.log", line));
  LogRecord out;
  auto bad = [&](std::string bytes) { return log_record::decode(bytes.data(), bytes.size(), out) != nullptr; };
  EXPECT_TRUE(bad(good.substr(0, 10)));              // shorter than a header
  EXPECT_TRUE(bad(good.substr(0, good.size() - 1)));  // cut
  EXPECT_TRUE(bad(good + "x"));                       // a byte too many
  std::string magic = good;
  magic[0] ^= 1;
  EXPECT_TRUE(bad(magic));
  std::string kind = good;
  kind[4] = 9;
  EXPECT_TRUE(bad(kind));
  EXPECT_TRUE(bad(encoded(line_record(1, "relative.log", line))));
  EXPECT_TRUE(bad(encoded(line_record(1, std::string("/a\0b", 4), line))));
  EXPECT_TRUE(bad(encoded(line_record(1, "/x.log", std::string(kStamp) + " no newline"))));
  EXPECT_TRUE(bad(encoded(line_record(1, "/x.log", stamped("two") + stamped("lines")))));
  EXPECT_TRUE(bad(encoded(line_record(1, "/x.log", "short\n"))));
  LogRecord close = line_record(1, "/x.log", line);
  close.kind = LogRecord::Kind::Close;
  EXPECT_TRUE(bad(encoded(close)));  // a close with a line
  // Out-of-bounds fields are refused at encode too (nothing to send).
  LogRecord keep = line_record(1, "/x.log", line);
  keep.keep = log_record::kMaxKeep + 1;
  char buf[log_record::kMaxRecord];
  EXPECT_EQ(log_record::encode(keep, buf, sizeof buf), 0U);
  EXPECT_EQ(log_record::encode(line_record(1, "", line), buf, sizeof buf), 0U);
  EXPECT_EQ(log_record::decode(good.data(), good.size(), out), nullptr);
}

// ---------------------------------------------------------------- queue

// A send function with a script: accept `accept` records, then answer
// `then` (-EAGAIN, -EIO, or a byte count), recording what was accepted.
struct FakeSocket {
  int accept = 1 << 30;
  ssize_t then = -EAGAIN;
  std::vector<std::string> got;
  static ssize_t send(void* self, const iovec* pieces, int count) noexcept {
    auto* s = static_cast<FakeSocket*>(self);
    std::size_t len = 0;
    for (int i = 0; i < count; ++i) len += pieces[i].iov_len;
    if (s->accept <= 0) return s->then;
    --s->accept;
    std::string r;
    for (int i = 0; i < count; ++i) r.append(static_cast<const char*>(pieces[i].iov_base), pieces[i].iov_len);
    s->got.push_back(r);
    return static_cast<ssize_t>(len);
  }
};

TEST(RecordQueueTest, APushIsWholeOrNothing) {
  RecordQueue q;
  EXPECT_FALSE(q.push("abc", 3));  // no buffer yet
  q.reserve(64);
  const std::string r(28, 'r');    // 4 + 28 = 32 bytes each: two fit
  EXPECT_TRUE(q.push(r.data(), r.size()));
  EXPECT_TRUE(q.push(r.data(), r.size()));
  EXPECT_FALSE(q.push("x", 1));
  EXPECT_EQ(q.records(), 2U);
  EXPECT_EQ(q.bytes(), 64U);
}

TEST(RecordQueueTest, ARefusedSendKeepsTheRecordAtTheHeadAndTheOrder) {
  RecordQueue q;
  q.reserve(4096);
  for (int i = 0; i < 5; ++i) {
    std::string r = "record " + std::to_string(i);
    ASSERT_TRUE(q.push(r.data(), r.size()));
  }
  FakeSocket sock;
  sock.accept = 2;
  RecordQueue::FlushResult f = q.flush(&FakeSocket::send, &sock);
  EXPECT_EQ(f.sent, 2U);
  EXPECT_TRUE(f.blocked);
  EXPECT_EQ(q.records(), 3U);
  sock.accept = 100;
  f = q.flush(&FakeSocket::send, &sock);
  EXPECT_EQ(f.sent, 3U);
  EXPECT_FALSE(f.blocked);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(sock.got, (std::vector<std::string>{"record 0", "record 1", "record 2", "record 3", "record 4"}));
}

TEST(RecordQueueTest, ARecordThatWrapsAroundTheEndIsSentWhole) {
  RecordQueue q;
  q.reserve(100);
  FakeSocket sock;
  std::vector<std::string> sent;
  // Records of 4 + 29 bytes: the ring's end falls inside one of them
  // again and again as the queue fills and drains.
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 2; ++i) {
      std::string r = std::string(26, static_cast<char>('a' + (round + i) % 26)) + std::to_string(100 + round);
      ASSERT_TRUE(q.push(r.data(), r.size())) << round;
      sent.push_back(r);
    }
    sock.accept = round % 2 == 0 ? 1 : 3;  // leave one behind now and then
    (void)q.flush(&FakeSocket::send, &sock);
  }
  sock.accept = 100;
  (void)q.flush(&FakeSocket::send, &sock);
  EXPECT_EQ(sock.got, sent);
}

TEST(RecordQueueTest, ASendThatFailsForGoodOrTakesPartOfARecordDropsItAndCountsIt) {
  RecordQueue q;
  q.reserve(4096);
  for (const char* r : {"first", "second", "third"}) ASSERT_TRUE(q.push(r, std::strlen(r)));
  FakeSocket sock;
  sock.accept = 1;
  sock.then = 2;  // a partial send: never taken for a sent record
  RecordQueue::FlushResult f = q.flush(&FakeSocket::send, &sock);
  EXPECT_EQ(f.sent, 1U);
  EXPECT_EQ(f.failed, 2U);
  EXPECT_EQ(f.last_error, EPROTO);
  EXPECT_TRUE(q.empty());
}

// ---------------------------------------------------------------- ServiceLog -> sink

// A sink that refuses lines while `full`, and records what it accepted.
struct FakeSink final : service::LogSink {
  bool full = false;
  std::vector<LogRecord> got;
  std::vector<std::string> lines;  // the views' bytes, copied
  bool deliver(const LogRecord& r) noexcept override {
    if (full) return false;
    got.push_back(r);
    lines.emplace_back(r.line);
    got.back().line = {};
    got.back().path = {};
    return true;
  }
};

bool run_until(EventLoop& loop, const std::function<bool()>& done, int timeout_ms = 3000) {
  Watchdog dog(timeout_ms);
  while (!done() && !Watchdog::expired()) {
    if (!loop.run_once()) return false;
  }
  return done();
}

void write_all(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

TEST(ServiceLogSinkTest, LinesTheSinkRefusesAreCountedAndTheNextRecordCarriesTheCount) {
  EventLoop loop;
  ASSERT_TRUE(loop.init().ok());
  service::LogConfig c;
  c.file = "/tmp/never-written.log";
  FakeSink sink;
  service::ServiceLog log("svc", c, &sink);
  ASSERT_TRUE(log.open(loop).ok());
  write_all(log.write_fd(service::LogStream::Stdout), "one\n");
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 1; }));
  sink.full = true;
  write_all(log.write_fd(service::LogStream::Stdout), "two\nthree\nfour\n");
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 4; }));
  EXPECT_EQ(log.dropped_lines(), 3U);
  sink.full = false;
  write_all(log.write_fd(service::LogStream::Stdout), "five\n");
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 5; }));
  ASSERT_EQ(sink.got.size(), 2U);
  EXPECT_EQ(sink.got[0].dropped, 0U);
  EXPECT_EQ(sink.got[1].dropped, 3U);  // the gap, told with the line after it
  EXPECT_EQ(sink.lines[1].substr(limits::kServiceLogStamp + 1), "stdout five\n");
  // The ring lost nothing.
  std::string tail;
  log.tail(0, tail);
  EXPECT_NE(tail.find("three"), std::string::npos);
  // A gap at the very end is told by the close record.
  sink.full = true;
  write_all(log.write_fd(service::LogStream::Stdout), "six\n");
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 6; }));
  sink.full = false;
  log.close();
  ASSERT_EQ(sink.got.size(), 3U);
  EXPECT_EQ(sink.got[2].kind, LogRecord::Kind::Close);
  EXPECT_EQ(sink.got[2].dropped, 1U);
  EXPECT_EQ(log.dropped_lines(), 4U);
}

// ---------------------------------------------------------------- ServiceFile

TEST(ServiceFileTest, LostLinesAreAMarkerInTheirPlace) {
  TempDir dir;
  const std::string path = dir.str() + "/svc.log";
  service::ServiceFile file;
  EXPECT_TRUE(file.apply(line_record(1, path, stamped("seq 1"))));
  EXPECT_TRUE(file.apply(line_record(1, path, stamped("seq 5"), 3)));
  LogRecord close = line_record(1, path, "", 2);
  close.kind = LogRecord::Kind::Close;
  EXPECT_TRUE(file.apply(close));
  std::string text = slurp(path);
  std::string expected = stamped("seq 1") + std::string(kStamp) +
                         " keel [keel: 3 lines lost: log writer not keeping up]\n" + stamped("seq 5");
  ASSERT_EQ(text.substr(0, expected.size()), expected);
  // The close's marker is stamped when it is written.
  EXPECT_NE(text.find("Z keel [keel: 2 lines lost: log writer not keeping up]\n", expected.size()), std::string::npos)
      << text;
}

// ---------------------------------------------------------------- the writer process

// The writer, forked in-process, on one end of a seqpacket pair.
pid_t fork_writer(int fds[2]) {
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(10);
    ::close(fds[0]);  // (a fork without exec keeps close-on-exec fds) else no end of file
    ::dup2(fds[1], 0);
    ::_exit(service::run_log_writer());
  }
  ::close(fds[1]);
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(LogWriterProcessTest, WritesEachServicesFileSkipsMalformedRecordsAndExitsAtEnd) {
  TempDir dir;
  const std::string a = dir.str() + "/a.log";
  const std::string b = dir.str() + "/b.log";
  int fds[2];
  pid_t pid = fork_writer(fds);
  ASSERT_GT(pid, 0);
  auto send = [&](const std::string& bytes) {
    ASSERT_EQ(::send(fds[0], bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  };
  send(encoded(line_record(1, a, stamped("a1"))));
  send(encoded(line_record(2, b, stamped("b1"))));
  send("garbage that is no record at all, and longer than a header of forty bytes");
  send(encoded(line_record(1, a, stamped("a2"), 2)));
  ::close(fds[0]);  // end of file: the writer exits 0 once everything is written
  EXPECT_EQ(wait_exit(pid), 0);
  EXPECT_EQ(slurp(a), stamped("a1") + std::string(kStamp) + " keel [keel: 2 lines lost: log writer not keeping up]\n" +
                          stamped("a2"));
  EXPECT_EQ(slurp(b), stamped("b1"));
}

TEST(LogWriterProcessTest, RefusesAnFd0ThatIsNotItsSocket) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(10);
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::_exit(service::run_log_writer());
  }
  EXPECT_EQ(wait_exit(pid), 2);
}

// ---------------------------------------------------------------- PID 1's link

// Timer ticks so a loop waiting for a child's exit wakes up to check it.
struct Ticker final : TimerHandler {
  explicit Ticker(EventLoop& loop) : timer(loop, *this) { timer.arm_after(5'000'000); }
  void on_timer() noexcept override { timer.arm_after(5'000'000); }
  Timer timer;
};

// Reap the link's writer (the supervisor's reap path does it in keel).
void reap(service::LogWriterLink& link) {
  int status = 0;
  pid_t pid = link.pid();
  if (pid > 0 && ::waitpid(pid, &status, WNOHANG) == pid) (void)link.on_child_exit(pid, status);
}

TEST(LogWriterLinkTest, FinishSendsEverythingQueuedAndWaitsForTheWriter) {
  TempDir dir;
  EventLoop loop;
  ASSERT_TRUE(loop.init().ok());
  Ticker ticker(loop);
  service::LogWriterLink link(loop, KEEL_BINARY);
  const std::string path = dir.str() + "/svc.log";
  // More than the socket holds at once: the rest waits in the queue.
  constexpr int kLines = 3000;
  std::string expected;
  for (int i = 1; i <= kLines; ++i) {
    std::string line = stamped("line " + std::to_string(i));
    ASSERT_TRUE(link.deliver(line_record(1, path, line))) << i;
    expected += line;
  }
  EXPECT_GT(link.pid(), 0);
  bool done = false;
  link.finish([](void* d) { *static_cast<bool*>(d) = true; }, &done);
  ASSERT_TRUE(run_until(loop, [&] {
    reap(link);
    return done;
  }, 10000));
  EXPECT_EQ(link.pid(), -1);
  EXPECT_EQ(slurp(path), expected);
  // After the finish nothing is taken.
  EXPECT_FALSE(link.deliver(line_record(1, path, stamped("late"))));
}

TEST(LogWriterLinkTest, WhatTheQueueHoldsWhileTheWriterIsStoppedIsSentOnceItRuns) {
  TempDir dir;
  EventLoop loop;
  ASSERT_TRUE(loop.init().ok());
  Ticker ticker(loop);
  service::LogWriterLink link(loop, KEEL_BINARY);
  const std::string path = dir.str() + "/svc.log";
  ASSERT_TRUE(link.deliver(line_record(1, path, stamped("line 0"))));
  ASSERT_GT(link.pid(), 0);
  ASSERT_EQ(::kill(link.pid(), SIGSTOP), 0);
  // The socket fills, then the queue, then lines are refused.
  std::string expected = stamped("line 0");
  int accepted = 1;
  for (int i = 1; i < 100000; ++i) {
    std::string line = stamped("line " + std::to_string(i));
    if (!link.deliver(line_record(1, path, line))) break;
    expected += line;
    ++accepted;
  }
  EXPECT_LT(accepted, 100000);
  ASSERT_EQ(::kill(link.pid(), SIGCONT), 0);
  ASSERT_TRUE(run_until(loop, [&] { return slurp(path).size() == expected.size(); }, 10000))
      << accepted << " accepted, file has " << slurp(path).size() << " of " << expected.size() << " bytes";
  EXPECT_EQ(slurp(path), expected);
  bool done = false;
  link.finish([](void* d) { *static_cast<bool*>(d) = true; }, &done);
  ASSERT_TRUE(run_until(loop, [&] {
    reap(link);
    return done;
  }, 10000));
}

TEST(LogWriterLinkTest, AWriterThatCannotStartIsReportedAndLinesAreRefusedOnceTheQueueIsFull) {
  EventLoop loop;
  ASSERT_TRUE(loop.init().ok());
  service::LogWriterLink link(loop, "/nonexistent/keel");
  const std::string line = stamped(std::string(200, 'x'));
  int accepted = 0;
  while (link.deliver(line_record(1, "/tmp/x.log", line)) && accepted < 100000) ++accepted;
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, 100000);
  ASSERT_NE(link.problem(), nullptr);
  EXPECT_NE(std::string(link.problem()).find("cannot start"), std::string::npos) << link.problem();
  bool done = false;
  link.finish([](void* d) { *static_cast<bool*>(d) = true; }, &done);
  EXPECT_TRUE(done);  // at once: there is no writer to wait for
}

}  // namespace
}  // namespace keel
