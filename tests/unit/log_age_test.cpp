// Unit tests for service/log_file's rotation by age and its compression
// jobs (log_file.hpp), and the [log] max_age / compress keys.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "service/config.hpp"
#include "service/log_compress.hpp"
#include "service/log_file.hpp"
#include "service/log_record.hpp"
#include "system/config_codec.hpp"

namespace keel::service {
namespace {

using keel::decode_loaded;
using keel::encode_loaded;
using keel::Loaded;

struct Dir {
  std::string path;
  Dir() {
    char tmpl[] = "/tmp/keel-logage-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~Dir() { (void)std::system(("rm -rf " + path).c_str()); }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool exists(const std::string& p) { return ::access(p.c_str(), F_OK) == 0; }

TEST(LogAge, AFileRotatesOnceItsFirstLineIsOldAndTheTimerSaysWhen) {
  Dir d;
  const std::string file = d.path + "/a.log";
  LogFile f;
  f.configure(file, 1 << 20, 3);
  f.set_age_and_compression(60'000, Compression::None);
  EXPECT_EQ(f.age_deadline(), -1) << "no file, no deadline";
  ASSERT_TRUE(f.write_line("2026-12-06T10:00:00.000Z stdout one\n"));
  const std::int64_t due = f.age_deadline();
  ASSERT_GT(due, 0);
  EXPECT_TRUE(f.rotate_if_old(due - 1));
  EXPECT_FALSE(exists(file + ".1")) << "not yet due";
  ASSERT_TRUE(f.write_line("2026-12-06T10:00:00.000Z stdout two\n"));
  EXPECT_EQ(f.age_deadline(), due) << "the first line's time decides, not the last";
  ASSERT_TRUE(f.rotate_if_old(due));
  EXPECT_EQ(slurp(file + ".1"), "2026-12-06T10:00:00.000Z stdout one\n2026-12-06T10:00:00.000Z stdout two\n");
  EXPECT_EQ(slurp(file), "");
  EXPECT_EQ(f.age_deadline(), -1) << "an empty FILE has no age";
}

TEST(LogAge, AnOldLineAlreadyInTheFileIsReadBackAndRotatesBeforeTheNextLine) {
  Dir d;
  const std::string file = d.path + "/b.log";
  std::ofstream(file) << "2020-01-01T00:00:00.000Z stdout from long ago\n";
  LogFile f;
  f.configure(file, 1 << 20, 3);
  f.set_age_and_compression(3'600'000, Compression::None);
  ASSERT_TRUE(f.write_line("2026-12-06T10:00:00.000Z stdout now\n"));
  EXPECT_EQ(slurp(file + ".1"), "2020-01-01T00:00:00.000Z stdout from long ago\n");
  EXPECT_EQ(slurp(file), "2026-12-06T10:00:00.000Z stdout now\n");
  std::int64_t ms = 0;
  ASSERT_TRUE(log_record::stamp_ms("2020-01-01T00:00:00.000Z", ms));
  EXPECT_EQ(ms, 1'577'836'800'000);
}

TEST(LogAge, CompressionJobsShiftWithTheirSuffixAndHoldRotationWhileTheyRun) {
  Dir d;
  const std::string file = d.path + "/c.log";
  LogFile f;
  f.configure(file, 4096, 3);
  f.set_age_and_compression(0, Compression::Gzip);
  const std::string line(1000, 'x');
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(f.write_line(std::to_string(i) + line + "\n"));  // rotates once
  int dir = -1;
  const char* name = nullptr;
  Compression how = Compression::None;
  ASSERT_TRUE(f.compress_job(dir, name, how));
  EXPECT_STREQ(name, "c.log.1");
  EXPECT_EQ(how, Compression::Gzip);
  EXPECT_FALSE(f.compress_job(dir, name, how)) << "once";
  // While it runs, FILE grows past max_size rather than rotating.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(f.write_line("y" + line + "\n"));
  EXPECT_FALSE(exists(file + ".2"));
  ASSERT_TRUE(compress_file(dir, name, how));
  f.compress_finished();
  EXPECT_TRUE(exists(file + ".1.gz"));
  ASSERT_TRUE(f.write_line("z" + line + "\n"));  // rotates: .1.gz -> .2.gz
  EXPECT_TRUE(exists(file + ".2.gz"));
  EXPECT_TRUE(exists(file + ".1"));
  const std::string gz = slurp(file + ".2.gz");
  const std::string plain = decompress(gz, Compression::Gzip, 1 << 20);
  EXPECT_EQ(plain.substr(0, 1), "0");
  EXPECT_NE(plain.find("\n3" + line), std::string::npos);
}

TEST(LogAge, ConfigKeys) {
  std::vector<ConfigError> errors;
  auto parse = [&](const std::string& log) {
    ParseResult r = parse_service("command = [\"/bin/true\"]\n[log]\nfile = \"/var/log/s.log\"\n" + log, "s", "s.toml");
    errors = r.errors;
    return r.config.value_or(ServiceConfig{});
  };
  EXPECT_EQ(parse("max_age = \"1d\"\n").log.max_age_ns, 86'400'000'000'000);
  EXPECT_EQ(parse("max_age = \"30m\"\n").log.max_age_ns, 1'800'000'000'000);
  EXPECT_EQ(parse("max_age = 90\n").log.max_age_ns, 90'000'000'000);
  EXPECT_TRUE(errors.empty());
  (void)parse("max_age = \"1w\"\n");
  EXPECT_EQ(errors.size(), 1U);
  (void)parse("max_age = \"400d\"\n");
  EXPECT_EQ(errors.size(), 1U);
  EXPECT_EQ(parse("compress = \"gzip\"\n").log.compress, Compression::Gzip);
  EXPECT_TRUE(errors.empty());
  // zstd is refused by name, with why and what to use instead.
  EXPECT_EQ(parse("compress = \"zstd\"\n").log.compress, Compression::None);
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_EQ(errors[0].text(),
            "s.toml:4: log.compress: \"zstd\" is not available for log files (its compressor would add about 650 KB "
            "to keel); use \"gzip\"");
  EXPECT_EQ(parse("").log.compress, Compression::None);
  (void)parse("compress = \"bzip2\"\n");
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_NE(errors[0].text().find("expected one of none, gzip, not"), std::string::npos) << errors[0].text();
}

// The codec carries compress to PID 1 and refuses a value it does not
// know (2 was zstd in an earlier draft: never valid in a release).
TEST(LogAge, CodecCarriesCompressAndRefusesAnUnknownValue) {
  const auto trip = [](std::uint8_t value, Loaded& out) {
    Loaded in;
    ServiceConfig c;
    c.name = "s";
    c.log.compress = static_cast<Compression>(value);
    in.services.emplace().services = {c};
    std::string problem;
    const bool ok = decode_loaded(encode_loaded(in), out, problem);
    EXPECT_EQ(ok, problem.empty()) << problem;
    return ok;
  };
  Loaded out;
  ASSERT_TRUE(trip(static_cast<std::uint8_t>(Compression::Gzip), out));
  ASSERT_TRUE(out.services && out.services->services.size() == 1U);
  EXPECT_EQ(out.services->services[0].log.compress, Compression::Gzip);
  EXPECT_TRUE(trip(0, out));
  EXPECT_FALSE(trip(2, out));
  EXPECT_FALSE(trip(255, out));
}

}  // namespace
}  // namespace keel::service
