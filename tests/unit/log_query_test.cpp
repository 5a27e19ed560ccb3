// Unit tests for control/log_query (`keelctl log`'s filters and merge) and
// service/log_compress (the rotated files it reads back).
#include "control/log_query.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "service/log_compress.hpp"

namespace lq = keel::control::log_query;
using keel::service::Compression;

namespace {

constexpr std::int64_t kT0 = 1'796'551'200'000;  // 2026-12-06T10:00:00.000Z

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += s + "\n";
  return out;
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/keel-logquery-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { (void)std::system(("rm -rf " + path).c_str()); }
};

void write_file(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST(LogQuery, ParsesStamps) {
  EXPECT_EQ(lq::parse_stamp("2026-12-06T10:00:00.000Z"), kT0);
  EXPECT_EQ(lq::parse_stamp("2026-12-06T10:00:01.250Z"), kT0 + 1250);
  EXPECT_EQ(lq::parse_stamp("1970-01-01T00:00:00.000Z"), 0);
  EXPECT_FALSE(lq::parse_stamp("2026-12-06T10:00:00Z"));
  EXPECT_FALSE(lq::parse_stamp("2026-02-30T10:00:00.000Z"));
  EXPECT_FALSE(lq::parse_stamp("hello"));
}

TEST(LogQuery, ParsesI1LinesAndOldOnes) {
  lq::Line l = lq::parse_line("2026-12-06T10:00:00.123Z stderr connection refused");
  EXPECT_TRUE(l.stamped);
  EXPECT_EQ(l.ms, kT0 + 123);
  EXPECT_EQ(l.stream, lq::Stream::Stderr);
  EXPECT_EQ(l.text, "connection refused");
  l = lq::parse_line("2026-12-06T10:00:00.123Z stdout ");
  EXPECT_EQ(l.stream, lq::Stream::Stdout);
  EXPECT_EQ(l.text, "");
  l = lq::parse_line("2026-12-06T10:00:00.123Z stderr");
  EXPECT_EQ(l.stream, lq::Stream::Stderr);
  l = lq::parse_line("2026-12-06T10:00:00.123Z keel [keel: 3 lines lost]");
  EXPECT_EQ(l.stream, lq::Stream::Keel);
  // Old format: no stream word -> stdout, all of the rest is text.
  l = lq::parse_line("2026-12-06T10:00:00.123Z stderrish text");
  EXPECT_EQ(l.stream, lq::Stream::Stdout);
  EXPECT_EQ(l.text, "stderrish text");
  l = lq::parse_line("no stamp here");
  EXPECT_FALSE(l.stamped);
  EXPECT_EQ(l.text, "no stamp here");
}

TEST(LogQuery, ParsesTimes) {
  const std::int64_t now = kT0 + 3'600'000 + 5;  // 11:00:00.005
  EXPECT_EQ(lq::parse_time("2026-12-06T10:00:00Z", now), kT0);
  EXPECT_EQ(lq::parse_time("2026-12-06 10:00", now), kT0);
  EXPECT_EQ(lq::parse_time("2026-12-06T10:00:00.5", now), kT0 + 500);
  EXPECT_EQ(lq::parse_time("2026-12-06", now), kT0 - std::int64_t{10} * 3'600'000);
  EXPECT_EQ(lq::parse_time("2026-12-06T12:00:00+02:00", now), kT0);
  EXPECT_EQ(lq::parse_time("2026-12-06T08:30-0130", now), kT0);
  EXPECT_EQ(lq::parse_time("-10m", now), now - 600'000);
  EXPECT_EQ(lq::parse_time("-2h", now), now - 7'200'000);
  EXPECT_EQ(lq::parse_time("-1d", now), now - 86'400'000);
  EXPECT_EQ(lq::parse_time("-30s", now), now - 30'000);
  EXPECT_EQ(lq::parse_time("now", now), now);
  EXPECT_EQ(lq::parse_time("today", now), kT0 - std::int64_t{10} * 3'600'000);
  EXPECT_EQ(lq::parse_time("yesterday", now), kT0 - std::int64_t{34} * 3'600'000);
  for (const char* bad : {"", "-", "-10", "-10x", "10m", "2026-13-01", "2026-12-06T25:00", "2026-12-06 10",
                          "2026-12-06T10:00:00.Z", "tomorrow", "2026-12-06T10:00:00Zjunk"}) {
    EXPECT_FALSE(lq::parse_time(bad, now)) << bad;
  }
}

TEST(LogQuery, FiltersByTimeStreamAndRegex) {
  const std::vector<std::string> lines = {
      "2026-12-06T09:59:59.999Z stdout before",
      "2026-12-06T10:00:00.000Z stderr error: disk full",
      "2026-12-06T10:00:00.000Z stdout ok 1",
      "  a continuation without a stamp",
      "2026-12-06T10:30:00.000Z keel [keel: 2 lines lost]",
      "2026-12-06T11:00:00.000Z old format error line",
  };
  lq::Filter f;
  f.since = kT0;
  f.until = kT0 + 3'600'000;
  EXPECT_EQ(join(lq::select(lines, lq::Matcher(f), 0)),
            "2026-12-06T10:00:00.000Z stderr error: disk full\n"
            "2026-12-06T10:00:00.000Z stdout ok 1\n"
            "  a continuation without a stamp\n"
            "2026-12-06T10:30:00.000Z keel [keel: 2 lines lost]\n");
  lq::Filter e;
  e.only_stderr = true;
  EXPECT_EQ(join(lq::select(lines, lq::Matcher(e), 0)), "2026-12-06T10:00:00.000Z stderr error: disk full\n");
  lq::Filter o;
  o.only_stdout = true;
  EXPECT_EQ(lq::select(lines, lq::Matcher(o), 0).size(), 4U);  // the old line counts as stdout
  lq::Filter m;
  m.match = "^(error|old).*(full|line)$";
  EXPECT_EQ(join(lq::select(lines, lq::Matcher(m), 0)),
            "2026-12-06T10:00:00.000Z stderr error: disk full\n"
            "2026-12-06T11:00:00.000Z old format error line\n");
  // The regex sees TEXT only: not the stamp, not the stream word.
  m.match = "stderr|2026";
  EXPECT_TRUE(lq::select(lines, lq::Matcher(m), 0).empty());
  // -n after filtering.
  lq::Filter none;
  EXPECT_EQ(join(lq::select(lines, lq::Matcher(none), 2)),
            "2026-12-06T10:30:00.000Z keel [keel: 2 lines lost]\n2026-12-06T11:00:00.000Z old format error line\n");
  lq::Filter bad;
  bad.match = "(unclosed";
  EXPECT_THROW(lq::Matcher{bad}, std::runtime_error);
}

TEST(LogQuery, MatchRefusesPatternsRegcompWouldExpandToGigabytes) {
  // glibc copies a group once per interval count and per '+': found by
  // keelctl_fuzz, where "((a{255}){255}){255}" ran regcomp out of memory and
  // "d+*++++++++++++" ran it for minutes; stacked '*' '+' '?' are compiled
  // as the one operator they mean.
  for (const char* huge : {"((a{255}){255}){255}", "(x{1000}){1000}", "((((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+",
                           "(a*){2000}", "(a*)\\1"}) {
    lq::Filter f;
    f.match = huge;
    EXPECT_THROW(lq::Matcher{f}, std::runtime_error) << huge;
  }
  lq::Filter deep;
  deep.match = std::string(200, '(') + "a" + std::string(200, ')');
  EXPECT_THROW(lq::Matcher{deep}, std::runtime_error);
  // What people search logs with still compiles.
  for (const char* fine : {"error|warn", "[0-9]{1,3}(\\.[0-9]{1,3}){3}", "^(GET|POST) /api/.*( 5[0-9]{2})$", "a{500}", "(a*b*c*){300}",
                           "[]a]{2}", "[[:digit:]]+x*y?", "d+*++++++++++++",
                           "a**b****$c*****************d******e**f**********************"}) {
    lq::Filter f;
    f.match = fine;
    EXPECT_NO_THROW(lq::Matcher{f}) << fine;
  }
  // The rewrite keeps each pattern's meaning.
  std::vector<std::string> lines = {"2026-12-06T10:00:00.000Z stdout xaay", "2026-12-06T10:00:01.000Z stdout xy"};
  lq::Filter plus;
  plus.match = "^xa++y$";
  EXPECT_EQ(lq::select(lines, lq::Matcher(plus), 0).size(), 1U);
  lq::Filter star;
  star.match = "^xa+?*y$";
  EXPECT_EQ(lq::select(lines, lq::Matcher(star), 0).size(), 2U);
  lq::Filter opt;
  opt.match = "^x(aa)??y$";
  EXPECT_EQ(lq::select(lines, lq::Matcher(opt), 0).size(), 2U);
}

TEST(LogQuery, MergeTakesFromFilesOnlyWhatTheRingLacks) {
  // The ring starts in the middle of the .001 millisecond: it kept the last
  // two of its three lines; the file lags (lacks the ring's newest line).
  const std::vector<std::string> file = {
      "2026-12-06T10:00:00.000Z stdout a", "2026-12-06T10:00:00.001Z stdout b1", "2026-12-06T10:00:00.001Z stdout b2",
      "2026-12-06T10:00:00.001Z stdout b3", "2026-12-06T10:00:00.002Z stdout c"};
  const std::vector<std::string> ring = {"2026-12-06T10:00:00.001Z stdout b2", "2026-12-06T10:00:00.001Z stdout b3",
                                         "2026-12-06T10:00:00.002Z stdout c", "2026-12-06T10:00:00.003Z stdout d"};
  EXPECT_EQ(join(lq::merge_history(file, ring)),
            "2026-12-06T10:00:00.000Z stdout a\n2026-12-06T10:00:00.001Z stdout b1\n"
            "2026-12-06T10:00:00.001Z stdout b2\n2026-12-06T10:00:00.001Z stdout b3\n"
            "2026-12-06T10:00:00.002Z stdout c\n2026-12-06T10:00:00.003Z stdout d\n");
  EXPECT_EQ(lq::merge_history(file, {}), file);
  EXPECT_EQ(lq::merge_history({}, ring), ring);
}

TEST(LogQuery, FollowSkipsWhatTheHistoryShowed) {
  lq::Filter f;
  lq::Matcher m(f);
  lq::FollowFilter live(m, kT0 + 1, 1);
  // The resent ring: two lines at the last stamp, one of them already shown.
  std::string out = live.feed("2026-12-06T10:00:00.000Z stdout old\n2026-12-06T10:00:00.001Z stdout shown\n");
  out += live.feed("2026-12-06T10:00:00.001Z stdout new same ms\n2026-12-06T10:00:00.002Z stdout newer\n");
  EXPECT_EQ(out, "2026-12-06T10:00:00.001Z stdout new same ms\n2026-12-06T10:00:00.002Z stdout newer\n");
  lq::Filter e;
  e.only_stderr = true;
  lq::Matcher me(e);
  lq::FollowFilter live2(me, std::nullopt, 0);
  EXPECT_EQ(live2.feed("2026-12-06T10:00:00.000Z stdout x\n2026-12-06T10:00:00.000Z stderr y\n"),
            "2026-12-06T10:00:00.000Z stderr y\n");
}

TEST(LogQuery, ReadsRotatedCompressedAndOldFilesOldestFirst) {
  TempDir d;
  const std::string file = d.path + "/svc.log";
  write_file(file + ".3", "2026-12-06T10:00:00.000Z one\n");  // old format, plain
  write_file(file + ".2", "2026-12-06T10:00:01.000Z stdout two\n");
  write_file(file + ".1", "2026-12-06T10:00:02.000Z stderr three\n");
  write_file(file, "2026-12-06T10:00:03.000Z stdout four\n");
  int dir = ::open(d.path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dir, 0);
  ASSERT_TRUE(keel::service::compress_file(dir, "svc.log.2", Compression::Gzip));
  ASSERT_TRUE(keel::service::compress_file(dir, "svc.log.1", Compression::Gzip));
  ::close(dir);
  EXPECT_NE(::access((file + ".2.gz").c_str(), F_OK), -1);
  EXPECT_NE(::access((file + ".1.gz").c_str(), F_OK), -1);
  EXPECT_EQ(::access((file + ".1").c_str(), F_OK), -1) << "the uncompressed file is removed";
  std::vector<std::string> warnings;
  EXPECT_EQ(join(lq::read_log_files(file, warnings)),
            "2026-12-06T10:00:00.000Z one\n2026-12-06T10:00:01.000Z stdout two\n"
            "2026-12-06T10:00:02.000Z stderr three\n2026-12-06T10:00:03.000Z stdout four\n");
  EXPECT_TRUE(warnings.empty());
  // A corrupt one is named and skipped; the others are still read.
  write_file(file + ".2.gz", "not gzip at all");
  std::vector<std::string> lines = lq::read_log_files(file, warnings);
  EXPECT_EQ(lines.size(), 3U);
  ASSERT_EQ(warnings.size(), 1U);
  EXPECT_NE(warnings[0].find(file + ".2.gz"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("skipped"), std::string::npos) << warnings[0];
  // A .zst (another tool's: keel writes none) is named as skipped, with
  // what to use instead; it is listed among the rotated files in order.
  write_file(file + ".4.zst", std::string("\x28\xb5\x2f\xfd", 4) + "frame");
  EXPECT_EQ(lq::log_files(file).front(), file + ".4.zst");
  warnings.clear();
  lines = lq::read_log_files(file, warnings);
  EXPECT_EQ(lines.size(), 3U);
  ASSERT_EQ(warnings.size(), 2U);
  EXPECT_EQ(warnings[0], file + ".4.zst: compressed with zstd: not readable by keelctl; use zstdcat (skipped)");
  EXPECT_NE(warnings[1].find(file + ".2.gz"), std::string::npos) << warnings[1];
}

TEST(LogCompress, NamesAreGzipOnly) {
  EXPECT_STREQ(keel::service::compression_suffix(Compression::Gzip), ".gz");
  EXPECT_STREQ(keel::service::compression_suffix(Compression::None), "");
  EXPECT_EQ(keel::service::compression_of_name("a.log.1.gz"), Compression::Gzip);
  EXPECT_EQ(keel::service::compression_of_name("a.log.1.zst"), Compression::None) << "keel reads no zstd";
  EXPECT_EQ(keel::service::compression_of_name("a.log.1"), Compression::None);
}

TEST(LogCompress, RoundTripsGzip) {
  TempDir d;
  std::string data;
  for (int i = 0; i < 20000; ++i) data += "2026-12-06T10:00:00.000Z stdout line " + std::to_string(i) + "\n";
  for (Compression c : {Compression::Gzip}) {
    write_file(d.path + "/f.1", data);
    int dir = ::open(d.path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    ASSERT_TRUE(keel::service::compress_file(dir, "f.1", c));
    ::close(dir);
    const std::string packed = read_file(d.path + "/f.1" + keel::service::compression_suffix(c));
    EXPECT_LT(packed.size(), data.size() / 4);
    EXPECT_EQ(keel::service::decompress(packed, c, data.size()), data);
    EXPECT_THROW((void)keel::service::decompress(packed, c, data.size() - 1), std::runtime_error) << "the bound";
    EXPECT_THROW((void)keel::service::decompress(packed.substr(0, packed.size() / 2), c, data.size()),
                 std::runtime_error)
        << "truncated";
  }
}

TEST(LogCompress, RefusesLinksAndLeavesTheFileOnFailure) {
  TempDir d;
  write_file(d.path + "/target", "secret\n");
  ASSERT_EQ(::symlink((d.path + "/target").c_str(), (d.path + "/f.1").c_str()), 0);
  int dir = ::open(d.path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  EXPECT_FALSE(keel::service::compress_file(dir, "f.1", Compression::Gzip));
  ::unlink((d.path + "/f.1").c_str());
  // A hard link planted at the temporary name is removed, not written through.
  write_file(d.path + "/f.1", "data\n");
  ASSERT_EQ(::link((d.path + "/target").c_str(), (d.path + "/f.1.gz.tmp").c_str()), 0);
  EXPECT_TRUE(keel::service::compress_file(dir, "f.1", Compression::Gzip));
  EXPECT_EQ(read_file(d.path + "/target"), "secret\n");
  // A hard-linked source is refused and left as it is.
  ASSERT_EQ(::link((d.path + "/target").c_str(), (d.path + "/g.1").c_str()), 0);
  EXPECT_FALSE(keel::service::compress_file(dir, "g.1", Compression::Gzip));
  EXPECT_EQ(read_file(d.path + "/g.1"), "secret\n");
  // A forged value (2 was zstd in a draft) is refused, the file left as it is.
  write_file(d.path + "/h.1", "data\n");
  EXPECT_FALSE(keel::service::compress_file(dir, "h.1", static_cast<Compression>(2)));
  EXPECT_EQ(read_file(d.path + "/h.1"), "data\n");
  ::close(dir);
}

TEST(LogQuery, LogFileFromStatusJson) {
  EXPECT_EQ(lq::log_file_from_status_json("[\n  {\"name\": \"a\", \"log_file\": \"/var/log/a\\\"b.log\", \"x\": 1}\n]\n"),
            "/var/log/a\"b.log");
  EXPECT_EQ(lq::log_file_from_status_json("[{\"log_file\": \"\"}]"), "");
  EXPECT_EQ(lq::log_file_from_status_json("[{\"name\": \"a\"}]"), "");
}
