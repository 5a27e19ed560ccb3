// Unit tests for service/service_log (with log_ring and log_file behind it)
// and for core/log's /dev/kmsg copy: in-process, with a real EventLoop and
// real pipes, files and child processes.
//
// Every wait on the loop runs under a Watchdog (test_util.hpp), so a lost
// line makes a test fail instead of hang; no test asserts a timing. Tests
// that change process-wide state (a mount namespace for a tiny tmpfs or a
// stand-in /dev/kmsg) run in a forked child (run_in_child).
#include "service/service_log.hpp"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <functional>
#include <regex>
#include <string>
#include <vector>

#include "core/log.hpp"
#include "test_util.hpp"

namespace keel {
namespace {

using service::LogConfig;
using service::LogFollower;
using service::ServiceLog;
using testutil::run_in_child;
using testutil::slurp;
using testutil::TempDir;
using testutil::Watchdog;

constexpr std::size_t kStampLen = limits::kServiceLogStamp;
constexpr std::size_t kKiB = 1024;

bool run_until(EventLoop& loop, const std::function<bool()>& done, int timeout_ms = 3000) {
  Watchdog dog(timeout_ms);
  while (!done() && !Watchdog::expired()) {
    Status s = loop.run_once();
    if (!s) return false;
  }
  return done();
}

void write_all(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    ASSERT_GT(n, 0) << std::strerror(errno);
    off += static_cast<std::size_t>(n);
  }
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) {
      out.push_back(text.substr(start) + "<no newline>");
      break;
    }
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

bool stamped(const std::string& line) {
  static const std::regex re(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (stdout|stderr|keel) .*)");
  return std::regex_match(line, re);
}

// The line without its "STAMP STREAM " prefix.
std::string text_of(const std::string& line) {
  std::size_t space = line.size() > kStampLen ? line.find(' ', kStampLen + 1) : std::string::npos;
  return space == std::string::npos ? "" : line.substr(space + 1);
}

std::vector<std::string> tail_texts(const ServiceLog& log, std::size_t n = 0) {
  std::string out;
  log.tail(n, out);
  std::vector<std::string> texts;
  for (const std::string& line : split_lines(out)) {
    EXPECT_TRUE(stamped(line)) << line;
    texts.push_back(text_of(line));
  }
  return texts;
}

std::string now_stamp() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  ::gmtime_r(&ts.tv_sec, &t);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                t.tm_hour, t.tm_min, t.tm_sec, static_cast<int>(ts.tv_nsec / 1'000'000));
  return buf;
}

LogConfig config(std::size_t ring_bytes = 64 * kKiB, const std::string& file = "", std::uint64_t max_size = 1 << 20,
                 int keep = 3) {
  LogConfig c;
  c.ring_bytes = ring_bytes;
  c.file = file;
  c.max_size = max_size;
  c.keep = keep;
  return c;
}

std::string numbered_lines(int from, int to) {
  std::string out;
  char buf[32];
  for (int i = from; i < to; ++i) {
    std::snprintf(buf, sizeof buf, "line %05d\n", i);
    out += buf;
  }
  return out;
}

class ServiceLogTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(loop.init().ok()); }
  EventLoop loop;
};

TEST_F(ServiceLogTest, OpenMakesACloseOnExecPipeWithANonBlockingReadEnd) {
  ServiceLog log("svc", config());
  EXPECT_EQ(log.write_fd(service::LogStream::Stdout), -1);
  ASSERT_TRUE(log.open(loop).ok());
  int w = log.write_fd(service::LogStream::Stdout);
  ASSERT_GE(w, 0);
  EXPECT_TRUE(::fcntl(w, F_GETFD) & FD_CLOEXEC);
  EXPECT_FALSE(::fcntl(w, F_GETFL) & O_NONBLOCK) << "a service sees an ordinary, blocking pipe";
  EXPECT_GE(::fcntl(w, F_GETPIPE_SZ), 64 * static_cast<int>(kKiB));
  if (::geteuid() == 0) {
    EXPECT_EQ(::fcntl(w, F_GETPIPE_SZ), limits::kServiceLogPipeBytes) << "root may always grow it";
  }
  log.close();
  EXPECT_EQ(log.write_fd(service::LogStream::Stdout), -1);
  EXPECT_LT(::fcntl(w, F_GETFD), 0) << "close() closes the write end";
}

TEST_F(ServiceLogTest, LinesAppearInTailStampedAndInOrder) {
  ServiceLog log("svc", config());
  ASSERT_TRUE(log.open(loop).ok());
  std::string before = now_stamp();
  write_all(log.write_fd(service::LogStream::Stdout), "one\ntwo\n\nthree\n");
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 4; }));
  std::string after = now_stamp();
  std::string out;
  log.tail(0, out);
  std::vector<std::string> lines = split_lines(out);
  ASSERT_EQ(lines.size(), 4U) << out;
  for (const std::string& line : lines) {
    ASSERT_TRUE(stamped(line)) << line;
    // ISO-8601 UTC stamps of one width sort as text: read between the two.
    EXPECT_GE(line.substr(0, kStampLen), before);
    EXPECT_LE(line.substr(0, kStampLen), after);
  }
  EXPECT_EQ(tail_texts(log), (std::vector<std::string>{"one", "two", "", "three"}));
  EXPECT_EQ(tail_texts(log, 2), (std::vector<std::string>{"", "three"}));
  EXPECT_EQ(tail_texts(log, 10).size(), 4U);
  EXPECT_EQ(log.dropped_lines(), 0U);
}

TEST_F(ServiceLogTest, PartialLinesAcrossWritesAreJoined) {
  ServiceLog log("svc", config());
  ASSERT_TRUE(log.open(loop).ok());
  write_all(log.write_fd(service::LogStream::Stdout), "hel");
  {
    Watchdog dog(2000);
    ASSERT_TRUE(loop.run_once().ok());  // the data is there: one turn reads it
  }
  EXPECT_EQ(log.lines_total(), 0U) << "a line without its newline is held";
  write_all(log.write_fd(service::LogStream::Stdout), "lo wor");
  write_all(log.write_fd(service::LogStream::Stdout), "ld\nnext");
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 1; }));
  EXPECT_EQ(tail_texts(log), (std::vector<std::string>{"hello world"}));
  // flush(): what is in the pipe is read, and the held line completed.
  write_all(log.write_fd(service::LogStream::Stdout), " part");
  log.flush();
  EXPECT_EQ(tail_texts(log), (std::vector<std::string>{"hello world", "next part"}));
  write_all(log.write_fd(service::LogStream::Stdout), "fresh\n");
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 3; }));
  EXPECT_EQ(tail_texts(log).back(), "fresh");
}

TEST_F(ServiceLogTest, ALongLineIsCutMarkedAndCounted) {
  ServiceLog log("svc", config());
  ASSERT_TRUE(log.open(loop).ok());
  const std::size_t max = limits::kServiceLogLineMax;
  std::string exact(max, 'e');
  write_all(log.write_fd(service::LogStream::Stdout), exact + "\n");
  write_all(log.write_fd(service::LogStream::Stdout), std::string(3 * max + 17, 'x'));
  write_all(log.write_fd(service::LogStream::Stdout), std::string(100, 'y') + "\nafter\n");
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 3; }));
  std::vector<std::string> texts = tail_texts(log);
  ASSERT_EQ(texts.size(), 3U);
  EXPECT_EQ(texts[0], exact) << "a line of exactly the limit is whole";
  EXPECT_EQ(texts[1], std::string(max, 'x') + std::string(ServiceLog::kCutMarker));
  EXPECT_EQ(texts[2], "after") << "the cut line's rest is discarded up to its newline";
  EXPECT_EQ(log.dropped_lines(), 1U);
}

TEST_F(ServiceLogTest, TheRingWrapsAndKeepsTheNewestLines) {
  ServiceLog log("svc", config(8192));
  ASSERT_TRUE(log.open(loop).ok());
  const int total = 2000;
  write_all(log.write_fd(service::LogStream::Stdout), numbered_lines(0, total));
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == total; }));
  std::vector<std::string> texts = tail_texts(log);
  ASSERT_GT(texts.size(), 10U);
  ASSERT_LT(texts.size(), static_cast<std::size_t>(total));
  // Each record: 2-byte header + stamp + " stdout " + "line NNNNN" = 44 bytes.
  EXPECT_LE(texts.size() * 44, 8192U);
  EXPECT_GT(texts.size() * 44, 8192U - 2 * 44) << "the ring is used to the full";
  int first = total - static_cast<int>(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    char want[32];
    std::snprintf(want, sizeof want, "line %05d", first + static_cast<int>(i));
    ASSERT_EQ(texts[i], want);
  }
  EXPECT_EQ(log.dropped_lines(), 0U) << "a ring overwriting its oldest lines is not a drop";

  // A reload to a smaller ring keeps the newest lines that fit, a larger one
  // keeps them all.
  log.reconfigure(config(5000));
  std::vector<std::string> smaller = tail_texts(log);
  ASSERT_FALSE(smaller.empty());
  EXPECT_LT(smaller.size(), texts.size());
  EXPECT_EQ(smaller.back(), texts.back());
  log.reconfigure(config(1 << 20));
  EXPECT_EQ(tail_texts(log), smaller);
  write_all(log.write_fd(service::LogStream::Stdout), "more\n");
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == total + 1; }));
  EXPECT_EQ(tail_texts(log).size(), smaller.size() + 1);
}

// Lines of every FILE* in order (oldest file first).
std::vector<std::string> file_texts(const std::string& path, int keep) {
  std::vector<std::string> texts;
  for (int i = keep; i >= 0; --i) {
    std::string name = i == 0 ? path : path + "." + std::to_string(i);
    for (const std::string& line : split_lines(slurp(name))) {
      EXPECT_TRUE(stamped(line)) << name << ": " << line;
      texts.push_back(text_of(line));
    }
  }
  return texts;
}

TEST_F(ServiceLogTest, NoRingWhenRingBytesIsZeroTheFileStillGetsEachLine) {
  TempDir dir;
  ServiceLog log("svc", config(0, dir.str() + "/svc.log"));
  ASSERT_TRUE(log.open(loop).ok());
  write_all(log.write_fd(service::LogStream::Stdout), "a\nb\n");
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 2; }));
  EXPECT_TRUE(tail_texts(log).empty());
  EXPECT_EQ(file_texts(dir.str() + "/svc.log", 0), (std::vector<std::string>{"a", "b"}));
}

TEST_F(ServiceLogTest, APathThatIsNotARegularFileIsNeverRotated) {
  // The device itself (a link to it would be refused: log_file.hpp).
  const std::string path = "/dev/null";
  ServiceLog log("svc", config(64 * kKiB, path, 100, 2));
  ASSERT_TRUE(log.open(loop).ok());
  write_all(log.write_fd(service::LogStream::Stdout), numbered_lines(0, 50));
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 50; }));
  EXPECT_EQ(log.dropped_lines(), 0U);
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "the device is still there";
  EXPECT_FALSE(std::filesystem::exists(path + ".1"));
}

TEST_F(ServiceLogTest, TheFileRotatesAtMaxSizeKeepingExactlyKeepOldFiles) {
  TempDir dir;
  const std::string path = dir.str() + "/svc.log";
  const std::uint64_t max_size = 1000;
  const int keep = 2;
  ServiceLog log("svc", config(64 * kKiB, path, max_size, keep));
  ASSERT_TRUE(log.open(loop).ok());
  const int total = 300;  // 43 bytes a line: about 13 files' worth
  for (int i = 0; i < total; i += 25) write_all(log.write_fd(service::LogStream::Stdout), numbered_lines(i, i + 25));
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == total; }));
  EXPECT_EQ(log.dropped_lines(), 0U);

  for (int i = 1; i <= keep; ++i) EXPECT_TRUE(std::filesystem::exists(path + "." + std::to_string(i))) << i;
  EXPECT_FALSE(std::filesystem::exists(path + "." + std::to_string(keep + 1)));
  for (int i = 0; i <= keep; ++i) {
    std::string name = i == 0 ? path : path + "." + std::to_string(i);
    EXPECT_LE(std::filesystem::file_size(name), max_size) << name;
    if (i > 0) {
      EXPECT_GT(std::filesystem::file_size(name), max_size - 43) << name << " was filled before rotating";
    }
  }
  // Across the files: the newest lines, consecutive, none lost or doubled.
  std::vector<std::string> texts = file_texts(path, keep);
  ASSERT_GT(texts.size(), 45U);
  int first = total - static_cast<int>(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    char want[32];
    std::snprintf(want, sizeof want, "line %05d", first + static_cast<int>(i));
    ASSERT_EQ(texts[i], want) << "at " << i;
  }
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640U);
}

TEST_F(ServiceLogTest, KeepZeroTruncatesInPlace) {
  TempDir dir;
  const std::string path = dir.str() + "/svc.log";
  ServiceLog log("svc", config(64 * kKiB, path, 500, 0));
  ASSERT_TRUE(log.open(loop).ok());
  write_all(log.write_fd(service::LogStream::Stdout), numbered_lines(0, 100));
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 100; }));
  EXPECT_FALSE(std::filesystem::exists(path + ".1"));
  EXPECT_LE(std::filesystem::file_size(path), 500U);
  std::vector<std::string> texts = file_texts(path, 0);
  ASSERT_FALSE(texts.empty());
  EXPECT_EQ(texts.back(), "line 00099");
  EXPECT_EQ(log.dropped_lines(), 0U);
}

TEST_F(ServiceLogTest, AReloadSwitchesTheFile) {
  TempDir dir;
  ServiceLog log("svc", config(64 * kKiB, dir.str() + "/a.log"));
  ASSERT_TRUE(log.open(loop).ok());
  write_all(log.write_fd(service::LogStream::Stdout), "to a\n");
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 1; }));
  log.reconfigure(config(64 * kKiB, dir.str() + "/b.log"));
  write_all(log.write_fd(service::LogStream::Stdout), "to b\n");
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 2; }));
  EXPECT_EQ(file_texts(dir.str() + "/a.log", 0), (std::vector<std::string>{"to a"}));
  EXPECT_EQ(file_texts(dir.str() + "/b.log", 0), (std::vector<std::string>{"to b"}));
  EXPECT_EQ(tail_texts(log), (std::vector<std::string>{"to a", "to b"}));
}

TEST_F(ServiceLogTest, AFileWriteErrorDropsTheLineAndCountsItTheRingKeepsIt) {
  TempDir dir;
  const std::string path = "/dev/full";  // every write: ENOSPC
  ServiceLog log("svc", config(64 * kKiB, path));
  ASSERT_TRUE(log.open(loop).ok());
  write_all(log.write_fd(service::LogStream::Stdout), "a\nb\nc\n");
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 3; }));
  EXPECT_EQ(log.dropped_lines(), 3U);
  EXPECT_EQ(tail_texts(log), (std::vector<std::string>{"a", "b", "c"}));
  // A missing directory is an open failure: dropped and counted as well.
  log.reconfigure(config(64 * kKiB, dir.str() + "/missing/x.log"));
  write_all(log.write_fd(service::LogStream::Stdout), "d\n");
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 4; }));
  EXPECT_EQ(log.dropped_lines(), 4U);
}

// A real filesystem filling up: a 64 KiB tmpfs in a private mount namespace
// (in a child, so the test process's mounts are untouched). Lines are
// dropped and counted while it is full; once space is freed the file says
// how many it lost, then goes on.
TEST(ServiceLogFullDisk, LinesAreDroppedWhileFullAndTheFileSaysSoAfter) {
  TempDir dir;
  std::string result = run_in_child([&]() -> std::string {
    if (::unshare(CLONE_NEWNS) != 0) return std::string("skip: unshare: ") + std::strerror(errno);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return "mount private failed";
    if (::mount("tmpfs", dir.str().c_str(), "tmpfs", 0, "size=64k") != 0)
      return std::string("skip: mount tmpfs: ") + std::strerror(errno);
    const std::string filler = dir.str() + "/filler";
    {
      // Fill it, then give back one page: room for about a hundred lines.
      int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT, 0600);
      std::string block(4096, 'f');
      off_t size = 0;
      for (ssize_t n = 0; (n = ::write(fd, block.data(), block.size())) > 0;) size += n;
      if (size < 4096 || ::ftruncate(fd, size - 4096) != 0) return "cannot size the filler";
      ::close(fd);
    }
    EventLoop loop;
    if (!loop.init()) return "loop init failed";
    ServiceLog log("svc", config(64 * kKiB, dir.str() + "/svc.log", 1 << 20, 1));
    if (!log.open(loop)) return "open failed";
    write_all(log.write_fd(service::LogStream::Stdout), numbered_lines(0, 200));
    if (!run_until(loop, [&] { return log.lines_total() == 200; })) return "lines not read";
    if (log.dropped_lines() == 0) return "nothing dropped on a full tmpfs";
    if (log.dropped_lines() == 200) return "nothing written: the test should leave room for some lines";
    std::uint64_t dropped = log.dropped_lines();
    ::unlink(filler.c_str());
    write_all(log.write_fd(service::LogStream::Stdout), "after\n");
    if (!run_until(loop, [&] { return log.lines_total() == 201; })) return "line after not read";
    if (log.dropped_lines() != dropped) return "dropped after space was freed";
    std::string text = slurp(dir.str() + "/svc.log");
    std::vector<std::string> lines = split_lines(text);
    if (lines.size() < 2) return "file too short: " + text;
    std::string note = " [keel: " + std::to_string(dropped) + " lines dropped from this file]";
    if (text_of(lines[lines.size() - 2]) != note.substr(1)) return "no drop note, got: " + lines[lines.size() - 2];
    if (text_of(lines.back()) != "after") return "last line: " + lines.back();
    // Written lines plus dropped ones account for every line.
    if (lines.size() - 2 + dropped != 200) return "lines lost without being counted";
    return "";
  });
  if (result.rfind("skip:", 0) == 0) GTEST_SKIP() << result;
  EXPECT_EQ(result, "");
}

TEST_F(ServiceLogTest, ARestartingServiceLosesNoLine) {
  ServiceLog log("svc", config());
  ASSERT_TRUE(log.open(loop).ok());
  const int w = log.write_fd(service::LogStream::Stdout);
  auto run = [&](int from, const std::string& last) {
    pid_t pid = testutil::fork_child([&] {
      if (::dup2(w, 1) < 0 || ::dup2(w, 2) < 0) return 1;
      std::string lines = numbered_lines(from, from + 100);
      std::size_t half = lines.size() / 2;
      if (::write(1, lines.data(), half) != static_cast<ssize_t>(half)) return 2;
      if (::write(2, lines.data() + half, lines.size() - half) != static_cast<ssize_t>(lines.size() - half)) return 3;
      if (::write(1, last.data(), last.size()) != static_cast<ssize_t>(last.size())) return 4;
      return 0;
    });
    ASSERT_GT(pid, 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  };
  // First run ends mid-line; the supervisor flushes when it reaps it. The
  // loop does not turn until both runs are over: the pipe holds it all.
  run(0, "unfinished");
  log.flush();
  run(100, "");
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 201; }));
  std::vector<std::string> texts = tail_texts(log);
  ASSERT_EQ(texts.size(), 201U);
  for (int i = 0; i < 201; ++i) {
    char want[32];
    std::snprintf(want, sizeof want, "line %05d", i < 100 ? i : i - 1);
    ASSERT_EQ(texts[static_cast<std::size_t>(i)], i == 100 ? std::string("unfinished") : std::string(want)) << i;
  }
  EXPECT_EQ(log.dropped_lines(), 0U);
}

struct Collector final : LogFollower {
  void on_log_line(std::string_view line) noexcept override {
    lines.emplace_back(line);
    if (action) action();
  }
  std::vector<std::string> lines;
  std::function<void()> action;
};

TEST_F(ServiceLogTest, FollowersReceiveEachLineAsTailShowsIt) {
  ServiceLog log("svc", config());
  ASSERT_TRUE(log.open(loop).ok());
  Collector a;
  Collector b;
  ASSERT_TRUE(log.add_follower(a));
  ASSERT_TRUE(log.add_follower(b));
  EXPECT_FALSE(log.add_follower(a)) << "already following";
  write_all(log.write_fd(service::LogStream::Stdout), "x\ny\n");
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 2; }));
  std::string tail;
  log.tail(0, tail);
  EXPECT_EQ(a.lines.size(), 2U);
  EXPECT_EQ(a.lines[0] + a.lines[1], tail);
  EXPECT_EQ(b.lines, a.lines);

  // A follower may leave from inside its callback; the others still get
  // the line.
  b.action = [&] { log.remove_follower(b); };
  log.remove_follower(a);
  write_all(log.write_fd(service::LogStream::Stdout), "z\nw\n");
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 4; }));
  EXPECT_EQ(a.lines.size(), 2U);
  EXPECT_EQ(b.lines.size(), 3U);
  EXPECT_EQ(text_of(b.lines.back()), "z\n");

  std::vector<Collector> many(limits::kServiceLogFollowers + 1);
  for (std::size_t i = 0; i < limits::kServiceLogFollowers; ++i) EXPECT_TRUE(log.add_follower(many[i]));
  EXPECT_FALSE(log.add_follower(many.back())) << "at most kServiceLogFollowers";
}

TEST_F(ServiceLogTest, ConsoleMirroringPrefixesTheName) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  int old_fd = log::fd();
  log::set_fd(p[1]);
  LogConfig c = config();
  c.console = true;
  ServiceLog web("web", c);
  ASSERT_TRUE(web.open(loop).ok());
  write_all(web.write_fd(service::LogStream::Stdout), "hello\n");
  bool got = run_until(loop, [&] { return web.lines_total() == 1; });
  log::set_fd(old_fd);
  ASSERT_TRUE(got);
  char buf[256] = {};
  ssize_t n = ::read(p[0], buf, sizeof buf - 1);
  ::close(p[0]);
  ::close(p[1]);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<std::size_t>(n)), "[web] hello\n");
}

// core/log's kmsg copy, against a stand-in /dev/kmsg: a file bind-mounted
// over it in a private mount namespace (a child), so the host's kernel log
// is never written.
// Runs `lines` through log::msg with /dev/kmsg and /proc/sys/kernel/printk
// replaced (bind mounts in a private mount namespace, in a child), the
// console log level set to `console_loglevel`; what kmsg received.
std::string kmsg_after(int console_loglevel) {
  TempDir dir;
  return run_in_child([&]() -> std::string {
    if (::access("/dev/kmsg", F_OK) != 0) return "skip: no /dev/kmsg to stand in for";
    if (::unshare(CLONE_NEWNS) != 0) return std::string("skip: unshare: ") + std::strerror(errno);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return "mount private failed";
    const std::string fake = dir.str() + "/kmsg";
    const std::string printk = dir.str() + "/printk";
    testutil::write_file(fake, "");
    testutil::write_file(printk, std::to_string(console_loglevel) + "\t4\t1\t7\n");
    if (::mount(fake.c_str(), "/dev/kmsg", nullptr, MS_BIND, nullptr) != 0 ||
        ::mount(printk.c_str(), "/proc/sys/kernel/printk", nullptr, MS_BIND, nullptr) != 0) {
      return std::string("skip: bind mount: ") + std::strerror(errno);
    }
    int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    log::set_fd(devnull);
    log::set_verbosity(static_cast<int>(log::Level::Info));
    log::msg(log::Level::Error, "before %d", 0);  // kmsg off: not copied
    log::set_kmsg(true);
    if (!log::kmsg()) return "set_kmsg(true) did not open it";
    log::msg(log::Level::Error, "boom %d", 1);
    log::msg(log::Level::Warn, "careful");
    log::msg(log::Level::Info, "hello");
    log::msg(log::Level::Debug, "not shown at this verbosity");
    log::set_kmsg(false);
    log::msg(log::Level::Error, "after");
    return "got: [" + slurp(fake) + "]";
  });
}

TEST(ServiceLogKmsg, MsgLinesAreCopiedWithTheirSyslogLevel) {
  // Console log level 1: the kernel echoes nothing, so every line is copied.
  std::string result = kmsg_after(1);
  if (result.rfind("skip:", 0) == 0) GTEST_SKIP() << result;
  EXPECT_EQ(result, "got: [<3>keel: error: boom 1\n<4>keel: warning: careful\n<6>keel: hello\n]");
}

TEST(ServiceLogKmsg, LinesTheKernelWouldEchoOnTheConsoleAreNotCopied) {
  // loglevel=4 ("quiet"-like): errors (3) would be printed by the kernel on
  // the console where keel already wrote them; warnings and info are not.
  std::string result = kmsg_after(4);
  if (result.rfind("skip:", 0) == 0) GTEST_SKIP() << result;
  EXPECT_EQ(result, "got: [<4>keel: warning: careful\n<6>keel: hello\n]");
}

// Once the run has its copy of the write end, keel holds only the read end;
// when the last writer is gone the pipe closes after its last line (no fd
// held for a service with no process); a run started while an old writer
// lingers joins the same pipe.
TEST_F(ServiceLogTest, ThePipeClosesWhenTheLastWriterGoesAndANewRunRejoinsALingeringOne) {
  ServiceLog log("svc", config());
  ASSERT_TRUE(log.open(loop).ok());
  int run1 = ::fcntl(log.write_fd(service::LogStream::Stdout), F_DUPFD_CLOEXEC, 0);  // the run's copy
  log.release_write_end();
  EXPECT_EQ(log.write_fd(service::LogStream::Stdout), -1);
  write_all(run1, "last words\n");
  ::close(run1);  // the run ends
  ASSERT_TRUE(run_until(loop, [&] { return !log.pipe_open(); }));
  EXPECT_EQ(tail_texts(log), (std::vector<std::string>{"last words"}));

  // A new run gets a new pipe; a grandchild keeps it after the run.
  ASSERT_TRUE(log.open(loop).ok());
  int grandchild = ::fcntl(log.write_fd(service::LogStream::Stdout), F_DUPFD_CLOEXEC, 0);
  log.release_write_end();
  // The next run, while the grandchild still writes: the same pipe.
  ASSERT_TRUE(log.open(loop).ok());
  ASSERT_GE(log.write_fd(service::LogStream::Stdout), 0);
  int run3 = ::fcntl(log.write_fd(service::LogStream::Stdout), F_DUPFD_CLOEXEC, 0);
  log.release_write_end();
  write_all(grandchild, "from the grandchild\n");
  write_all(run3, "from the third run\n");
  ::close(grandchild);
  EXPECT_TRUE(run_until(loop, [&] { return log.lines_total() == 3; }));
  EXPECT_TRUE(log.pipe_open()) << "the third run still holds it";
  ::close(run3);
  ASSERT_TRUE(run_until(loop, [&] { return !log.pipe_open(); }));
  EXPECT_EQ(tail_texts(log),
            (std::vector<std::string>{"last words", "from the grandchild", "from the third run"}));
}

}  // namespace
}  // namespace keel
