// Unit tests for issue 13's log streams: stdout and stderr kept apart end to
// end in service/service_log (two pipes, each line "STAMP STREAM TEXT"), the
// console copy's stderr mark, and service/container_output (log_output =
// "prefixed" | "json", KEEL_LOG_OUTPUT, keel.toml and the codec).
//
// Every wait on the loop runs under a Watchdog (test_util.hpp): a lost line
// fails a test instead of hanging it. No timing is asserted.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <functional>
#include <regex>
#include <string>
#include <vector>

#include "core/log.hpp"
#include "service/container_output.hpp"
#include "service/service_log.hpp"
#include "system/config_codec.hpp"
#include "system/keel_config.hpp"
#include "test_util.hpp"

namespace keel {
namespace {

using service::ContainerOutput;
using service::LogConfig;
using service::LogFollower;
using service::LogOutput;
using service::LogStream;
using service::ServiceLog;
using testutil::slurp;
using testutil::TempDir;
using testutil::Watchdog;

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
    ASSERT_GT(n, 0) << std::strerror(errno);
    off += static_cast<std::size_t>(n);
  }
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    out.push_back(text.substr(start, nl - start));
  }
  if (start < text.size()) out.push_back(text.substr(start) + "<no newline>");
  return out;
}

// "STAMP STREAM TEXT" -> "STREAM TEXT", checking the stamp's form.
std::string without_stamp(const std::string& line) {
  static const std::regex re(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ((stdout|stderr|keel) .*)$)");
  std::smatch m;
  if (!std::regex_match(line, m, re)) return "<not I1: " + line + ">";
  return m[1];
}

std::vector<std::string> tail_of(const ServiceLog& log) {
  std::string out;
  log.tail(0, out);
  std::vector<std::string> got;
  for (const std::string& l : lines_of(out)) got.push_back(without_stamp(l));
  return got;
}

// Only the lines of one stream, in the order kept.
std::vector<std::string> only(const std::vector<std::string>& lines, const std::string& stream) {
  std::vector<std::string> out;
  for (const std::string& l : lines) {
    if (l.rfind(stream + " ", 0) == 0) out.push_back(l);
  }
  return out;
}

LogConfig config(const std::string& file = "") {
  LogConfig c;
  c.ring_bytes = 256 * 1024;
  c.file = file;
  c.max_size = 1 << 20;
  c.keep = 1;
  return c;
}

struct Collect final : LogFollower {
  std::vector<std::string> lines;
  void on_log_line(std::string_view stamped) noexcept override {
    lines.push_back(without_stamp(std::string(stamped.substr(0, stamped.size() - 1))));
  }
};

class LogStreams : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(loop.init().ok()); }
  EventLoop loop;
};

// Each stream has its own pipe; every line in the ring, the file and a
// follower carries its stream, and each stream keeps its own order.
TEST_F(LogStreams, EachLineCarriesItsStreamInTheRingTheFileAndToFollowers) {
  TempDir dir;
  const std::string file = dir.str() + "/svc.log";
  ServiceLog log("svc", config(file));
  ASSERT_TRUE(log.open(loop).ok());
  const int out = log.write_fd(LogStream::Stdout);
  const int err = log.write_fd(LogStream::Stderr);
  ASSERT_GE(out, 0);
  ASSERT_GE(err, 0);
  ASSERT_NE(out, err);
  Collect follower;
  ASSERT_TRUE(log.add_follower(follower));
  std::string out_text;
  std::string err_text;
  std::vector<std::string> want_out;
  std::vector<std::string> want_err;
  for (int i = 0; i < 200; ++i) {
    out_text += "out " + std::to_string(i) + "\n";
    want_out.push_back("stdout out " + std::to_string(i));
    if (i % 3 == 0) {
      err_text += "err " + std::to_string(i) + "\n";
      want_err.push_back("stderr err " + std::to_string(i));
    }
  }
  write_all(out, out_text);
  write_all(err, err_text);
  const std::uint64_t total = want_out.size() + want_err.size();
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == total; }));
  log.close();

  const std::vector<std::string> ring = tail_of(log);
  EXPECT_EQ(only(ring, "stdout"), want_out);
  EXPECT_EQ(only(ring, "stderr"), want_err);
  EXPECT_EQ(ring.size(), total);
  EXPECT_EQ(only(follower.lines, "stdout"), want_out);
  EXPECT_EQ(only(follower.lines, "stderr"), want_err);
  std::vector<std::string> in_file;
  for (const std::string& l : lines_of(slurp(file))) in_file.push_back(without_stamp(l));
  EXPECT_EQ(only(in_file, "stdout"), want_out);
  EXPECT_EQ(only(in_file, "stderr"), want_err);
  EXPECT_EQ(in_file.size(), total);
}

// Only the streams asked for get a pipe: stdout = "null", stderr = "log"
// costs one pipe, and its lines are stderr's.
TEST_F(LogStreams, OnlyTheCapturedStreamGetsAPipe) {
  ServiceLog log("svc", config());
  ASSERT_TRUE(log.open(loop, false, true).ok());
  EXPECT_EQ(log.write_fd(LogStream::Stdout), -1);
  ASSERT_GE(log.write_fd(LogStream::Stderr), 0);
  write_all(log.write_fd(LogStream::Stderr), "oops\n");
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 1; }));
  EXPECT_EQ(tail_of(log), std::vector<std::string>{"stderr oops"});
}

// The fd economy: keel gives up its write ends; each read end closes at its
// own EOF; a writer that lingers on one stream keeps only that pipe, and
// the next run rejoins it (its order kept) and gets a fresh pipe for the
// other.
TEST_F(LogStreams, EachPipeClosesAtItsOwnEofAndALingeringWriterIsRejoined) {
  ServiceLog log("svc", config());
  ASSERT_TRUE(log.open(loop).ok());
  const int out_copy = ::fcntl(log.write_fd(LogStream::Stdout), F_DUPFD_CLOEXEC, 0);  // the run's
  const int err_copy = ::fcntl(log.write_fd(LogStream::Stderr), F_DUPFD_CLOEXEC, 0);  // a grandchild's
  log.release_write_end();
  EXPECT_EQ(log.write_fd(LogStream::Stdout), -1);
  EXPECT_EQ(log.write_fd(LogStream::Stderr), -1);
  write_all(out_copy, "last words\n");
  ::close(out_copy);  // the run ends: stdout's pipe reaches EOF
  write_all(err_copy, "still here\n");
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 2; }));
  // stdout's read end is closed at its EOF; stderr's stays for its writer.
  ASSERT_TRUE(run_until(loop, [&] { return log.read_fds() == 1; }));
  EXPECT_TRUE(log.pipe_open());
  ASSERT_TRUE(log.open(loop).ok());  // the next run
  write_all(log.write_fd(LogStream::Stderr), "new run\n");
  write_all(err_copy, "grandchild again\n");
  write_all(log.write_fd(LogStream::Stdout), "fresh\n");
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 5; }));
  const std::vector<std::string> ring = tail_of(log);
  EXPECT_EQ(only(ring, "stderr"), (std::vector<std::string>{"stderr still here", "stderr new run", "stderr grandchild again"}));
  EXPECT_EQ(only(ring, "stdout"), (std::vector<std::string>{"stdout last words", "stdout fresh"}));
  ::close(err_copy);
  log.release_write_end();
  ASSERT_TRUE(run_until(loop, [&] { return log.read_fds() == 0; })) << "both pipes close once every writer is gone";
}

// [log] console = true: "[web] TEXT" for stdout, "[web!] TEXT" for stderr.
TEST_F(LogStreams, TheConsoleCopyMarksStderrLines) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  const int old_fd = log::fd();
  log::set_fd(p[1]);
  LogConfig c = config();
  c.console = true;
  ServiceLog web("web", c);
  ASSERT_TRUE(web.open(loop).ok());
  write_all(web.write_fd(LogStream::Stdout), "hello\n");
  ASSERT_TRUE(run_until(loop, [&] { return web.lines_total() == 1; }));
  write_all(web.write_fd(LogStream::Stderr), "oops\n");
  const bool got = run_until(loop, [&] { return web.lines_total() == 2; });
  log::set_fd(old_fd);
  ASSERT_TRUE(got);
  char buf[256] = {};
  ssize_t n = ::read(p[0], buf, sizeof buf - 1);
  ::close(p[0]);
  ::close(p[1]);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<std::size_t>(n)), "[web] hello\n[web!] oops\n");
}

// ---------------------------------------------------------------- container output

std::string formatted(LogOutput mode, std::size_t width, std::string_view service, LogStream stream,
                      std::string_view text) {
  static char buf[ContainerOutput::kMaxLine];
  std::size_t n =
      ContainerOutput::format(mode, width, service, stream, "2026-12-06T10:00:00.123Z", text, buf, sizeof buf);
  return std::string(buf, n);
}

TEST(ContainerOutputFormat, PrefixedPadsTheNameLikeDockerCompose) {
  EXPECT_EQ(formatted(LogOutput::Prefixed, 6, "web", LogStream::Stdout, "GET /"), "web    | GET /\n");
  EXPECT_EQ(formatted(LogOutput::Prefixed, 6, "worker", LogStream::Stderr, "boom"), "worker | boom\n");
  // A name longer than the width (a service being removed) is not cut.
  EXPECT_EQ(formatted(LogOutput::Prefixed, 2, "web", LogStream::Stdout, "x"), "web | x\n");
  EXPECT_EQ(formatted(LogOutput::None, 6, "web", LogStream::Stdout, "x"), "");
}

TEST(ContainerOutputFormat, JsonHasTimeServiceStreamAndMessage) {
  EXPECT_EQ(formatted(LogOutput::Json, 6, "web", LogStream::Stderr, "refused"),
            R"({"time":"2026-12-06T10:00:00.123Z","service":"web","stream":"stderr","message":"refused"})"
            "\n");
}

// Service text is hostile: quotes, backslashes, control characters (an
// escape sequence, a NUL, a carriage return) and bytes that are not UTF-8
// must make one valid JSON line; valid UTF-8 passes as it is.
TEST(ContainerOutputFormat, JsonEscapesHostileBytes) {
  const std::string text = std::string("a\"b\\c\x1b[2Jd\re") + std::string(1, '\0') + "f\x7f" + "\xff\xc3(" +
                           "\xed\xa0\x80" + "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
  const std::string got = formatted(LogOutput::Json, 0, "web", LogStream::Stdout, text);
  EXPECT_EQ(got,
            R"({"time":"2026-12-06T10:00:00.123Z","service":"web","stream":"stdout","message":)"
            R"("a\"b\\c\u001b[2Jd\u000de\u0000f\u007f\ufffd\ufffd(\ufffd\ufffd\ufffd)"
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}\n");
  EXPECT_EQ(got.find('\n'), got.size() - 1) << "one line";
}

TEST(ContainerOutputFormat, ALongestLineOfEscapesFits) {
  const std::string text(limits::kServiceLogLineMax + ServiceLog::kCutMarker.size(), '\x01');
  const std::string got = formatted(LogOutput::Json, 64, std::string(64, 'n'), LogStream::Stdout, text);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back(), '\n');
}

struct Seen {
  std::vector<std::pair<LogStream, std::string>> lines;
  static void write(void* self, LogStream stream, std::string_view line) noexcept {
    static_cast<Seen*>(self)->lines.emplace_back(stream, std::string(line));
  }
};

// A ServiceLog hands each line to the container output with its stream:
// stdout lines for keel's stdout, stderr lines for keel's stderr.
TEST_F(LogStreams, EveryLineReachesTheContainerOutputWithItsStream) {
  ContainerOutput output;
  output.set_mode(LogOutput::Prefixed);
  output.set_width(6);
  Seen seen;
  output.set_test_writer(&Seen::write, &seen);
  ServiceLog log("web", config(), nullptr, &output);
  ASSERT_TRUE(log.open(loop).ok());
  write_all(log.write_fd(LogStream::Stdout), "GET /\n");
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 1; }));
  write_all(log.write_fd(LogStream::Stderr), "refused\n");
  ASSERT_TRUE(run_until(loop, [&] { return log.lines_total() == 2; }));
  ASSERT_EQ(seen.lines.size(), 2U);
  EXPECT_EQ(seen.lines[0].first, LogStream::Stdout);
  EXPECT_EQ(seen.lines[0].second, "web    | GET /\n");
  EXPECT_EQ(seen.lines[1].first, LogStream::Stderr);
  EXPECT_EQ(seen.lines[1].second, "web    | refused\n");
  // The ring is unchanged by it.
  EXPECT_EQ(tail_of(log), (std::vector<std::string>{"stdout GET /", "stderr refused"}));
}

// ---------------------------------------------------------------- keel.toml, KEEL_LOG_OUTPUT, the codec

TEST(LogOutputConfig, KeelTomlTakesTheThreeValuesAndRefusesOthers) {
  EXPECT_EQ(parse_keel_config("", "keel.toml").config.log_output, LogOutput::None);
  EXPECT_EQ(parse_keel_config("log_output = \"prefixed\"\n", "keel.toml").config.log_output, LogOutput::Prefixed);
  EXPECT_EQ(parse_keel_config("log_output = \"json\"\n", "keel.toml").config.log_output, LogOutput::Json);
  KeelConfigResult bad = parse_keel_config("log_output = \"yaml\"\n", "keel.toml");
  EXPECT_EQ(bad.config.log_output, LogOutput::None);
  ASSERT_EQ(bad.errors.size(), 1U);
  EXPECT_NE(bad.errors[0].text().find("keel.toml:1: log_output"), std::string::npos) << bad.errors[0].text();
}

TEST(LogOutputConfig, TheEnvironmentWinsWhenValidAndIsNamedWhenNot) {
  KeelConfigResult r = parse_keel_config("log_output = \"json\"\n", "keel.toml");
  apply_log_output_env(r, nullptr);
  EXPECT_EQ(r.config.log_output, LogOutput::Json);
  apply_log_output_env(r, "");
  EXPECT_EQ(r.config.log_output, LogOutput::Json);
  apply_log_output_env(r, "prefixed");
  EXPECT_EQ(r.config.log_output, LogOutput::Prefixed);
  EXPECT_TRUE(r.errors.empty());
  apply_log_output_env(r, "loud");
  EXPECT_EQ(r.config.log_output, LogOutput::Prefixed) << "an invalid value is ignored";
  ASSERT_EQ(r.errors.size(), 1U);
  const std::string text = r.errors[0].text();
  EXPECT_NE(text.find("KEEL_LOG_OUTPUT"), std::string::npos) << text;
  EXPECT_NE(text.find("loud"), std::string::npos) << text;
  EXPECT_NE(text.find("\"none\", \"prefixed\" or \"json\""), std::string::npos) << text;
}

TEST(LogOutputConfig, LoadKeelConfigReadsTheEnvironmentWithOrWithoutAFile) {
  TempDir dir;
  ::setenv("KEEL_LOG_OUTPUT", "json", 1);
  KeelConfigResult none = load_keel_config(dir.str() + "/missing.toml");
  ::unsetenv("KEEL_LOG_OUTPUT");
  EXPECT_FALSE(none.found);
  EXPECT_EQ(none.config.log_output, LogOutput::Json);
}

TEST(LogOutputConfig, TheCodecCarriesItAndRefusesAnUnknownValue) {
  for (LogOutput mode : {LogOutput::None, LogOutput::Prefixed, LogOutput::Json}) {
    Loaded in;
    in.keel.emplace().config.log_output = mode;
    Loaded out;
    std::string problem;
    ASSERT_TRUE(decode_loaded(encode_loaded(in), out, problem)) << problem;
    ASSERT_TRUE(out.keel);
    EXPECT_EQ(out.keel->config.log_output, mode);
  }
  Loaded in;
  in.keel.emplace().config.log_output = LogOutput::Json;
  std::string bytes = encode_loaded(in);
  // The keel.toml part ends the message when there are no services: the
  // mode, then python_hash_seed (true), then the "no services" flag.
  ASSERT_EQ(bytes[bytes.size() - 2], 1);
  ASSERT_EQ(bytes[bytes.size() - 3], static_cast<char>(LogOutput::Json));
  bytes[bytes.size() - 3] = 7;
  Loaded out;
  std::string problem;
  EXPECT_FALSE(decode_loaded(bytes, out, problem));
}

}  // namespace
}  // namespace keel
