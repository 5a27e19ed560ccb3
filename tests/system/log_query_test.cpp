// [log] max_age and compress (a quiet service's file rotates by age, on the
// log writer's timer, and FILE.1 becomes FILE.1.gz), and `keelctl log`'s
// filters over the rotated files and keel's ring (control/log_query.hpp):
// lines the ring no longer holds come from the (compressed) files, no line
// is shown twice, and --match, --stderr, --since/--until and -n select.
// The rotated file seeded by the test holds I1 lines (`STAMP STREAM TEXT`)
// and an old one without the stream word, at fixed stamps; a .zst file
// (keel writes none: gzip only) is named on stderr and skipped.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"

namespace keel::systest {
namespace {

namespace fs = std::filesystem;

struct Ctl {
  int code = -1;
  std::string out;
  std::string err;
};

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class LogQueryTest : public ::testing::TestWithParam<Placement> {
 protected:
  void SetUp() override {
    if (GetParam() == Placement::Namespace && !namespaces_available()) {
      GTEST_SKIP() << "unshare --pid is not available here";
    }
    fs::create_directories(dir_.path() + "/services");
  }
  [[nodiscard]] std::string path(const std::string& rel) const { return dir_.path() + "/" + rel; }

  std::unique_ptr<KeelRun> start() const {
    Launch l = keel_launch(GetParam(), {"--role=system"});
    l.set_env = {{"KEEL_CONFIG_DIR", dir_.path()}, {"KEEL_RUN_DIR", dir_.path() + "/run"}, {"KEEL_CGROUP_ROOT", "none"}};
    return std::make_unique<KeelRun>(l);
  }

  Ctl ctl(std::vector<std::string> args) const {
    std::vector<std::string> argv{"10", keel_binary(), "ctl", "--socket", dir_.path() + "/run/control.sock"};
    argv.insert(argv.end(), args.begin(), args.end());
    Outcome o = run_through(program_launch(Placement::Subreaper, "/usr/bin/timeout", argv));
    return Ctl{o.code.value_or(-1), o.out, o.err};
  }

  TempDir dir_;
};

TEST_P(LogQueryTest, AQuietFileRotatesByAgeIsCompressedAndKeelctlFiltersFilesAndRing) {
  const std::string file = path("aged.log");
  // A rotated file from before: I1 lines and an old line, long ago.
  std::ofstream(file + ".2") << "2026-01-01T10:00:00.000Z stdout seeded out 1\n"
                                "2026-01-01T10:00:01.000Z stderr seeded err 1\n"
                                "2026-01-01T11:00:00.000Z seeded old format\n";
  // Another tool's zstd file, older still: keelctl cannot read it.
  std::ofstream(file + ".5.zst") << std::string("\x28\xb5\x2f\xfd", 4) << "not for keelctl";
  const std::string go = path("go");
  const std::string script = path("aged.sh");
  // 40 lines of about 45 bytes: more than the 1 KiB ring holds, so the
  // first ones are only in the files.
  std::ofstream(script) << "#!/bin/sh\n"
                           "i=1; while [ $i -le 40 ]; do echo \"early $i\"; i=$((i+1)); done\n"
                           "while [ ! -e " + go + " ]; do sleep 0.05; done\n"
                           "echo 'late 1'\nexec sleep 600\n";
  ::chmod(script.c_str(), 0755);
  std::ofstream(path("services/aged.toml"))
      << "command = [\"" + script + "\"]\n[log]\nfile = \"" + file +
             "\"\nring_size = 1024\nmax_age = \"2s\"\ncompress = \"gzip\"\n";
  auto k = start();
  ASSERT_TRUE(poll_until([&] { return ctl({"status"}).code == 0; }, 10s, 20ms));

  // The service is quiet after its 40 lines: only the writer's timer can
  // rotate its file, and the child compresses FILE.1.
  ASSERT_TRUE(poll_until([&] { return ::access((file + ".1.gz").c_str(), F_OK) == 0; }, 20s, 50ms))
      << "no " << file << ".1.gz";
  EXPECT_NE(::access((file + ".1").c_str(), F_OK), 0) << "the uncompressed FILE.1 is removed";
  EXPECT_EQ(::access((file + ".3").c_str(), F_OK), 0) << "FILE.2 shifted to FILE.3";
  struct stat st{};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0) << "a fresh FILE after the rotation";
  Outcome gz = run_through(program_launch(Placement::Subreaper, "/bin/gzip", {"-dc", file + ".1.gz"}));
  EXPECT_EQ(gz.code, 0);
  EXPECT_EQ(count(gz.out, " early "), 40U) << gz.out;

  std::ofstream(go) << "go\n";
  ASSERT_TRUE(poll_until([&] { return ctl({"log", "aged", "-n", "1"}).out.find("late 1") != std::string::npos; }, 10s));
  // The ring lost the first lines, the files have them: each line once.
  Ctl all = ctl({"log", "aged"});
  ASSERT_EQ(all.code, 0) << all.out;
  EXPECT_EQ(count(all.out, " early "), 40U) << all.out;
  EXPECT_EQ(count(all.out, "early 1\n"), 1U) << all.out;
  EXPECT_EQ(count(all.out, "late 1\n"), 1U) << all.out;
  EXPECT_LT(all.out.find("seeded out 1"), all.out.find("early 1\n"));
  EXPECT_LT(all.out.find("early 40\n"), all.out.find("late 1\n"));
  EXPECT_NE(all.err.find(file + ".5.zst: compressed with zstd: not readable by keelctl; use zstdcat (skipped)"),
            std::string::npos)
      << all.err;
  EXPECT_EQ(::access((file + ".5.zst").c_str(), F_OK), 0) << "keel's rotation leaves another tool's file alone";
  Ctl ring_only = ctl({"log", "aged", "--match", "^early 1$"});
  EXPECT_EQ(ring_only.code, 0);
  EXPECT_EQ(count(ring_only.out, "\n"), 1U) << ring_only.out;
  EXPECT_NE(ring_only.out.find(" early 1\n"), std::string::npos) << "from the compressed file: " << ring_only.out;

  Ctl m = ctl({"log", "aged", "--match", "^early (2|3)$"});
  EXPECT_EQ(m.out.find(" early 2\n") != std::string::npos && m.out.find(" early 3\n") != std::string::npos &&
                count(m.out, "\n") == 2,
            true)
      << m.out;
  Ctl err = ctl({"log", "aged", "--stderr"});
  EXPECT_EQ(err.out, "2026-01-01T10:00:01.000Z stderr seeded err 1\n");
  Ctl window = ctl({"log", "aged", "--since", "2026-01-01T10:00:01Z", "--until", "2026-01-01 12:00"});
  EXPECT_EQ(window.out,
            "2026-01-01T10:00:01.000Z stderr seeded err 1\n2026-01-01T11:00:00.000Z seeded old format\n");
  Ctl last = ctl({"log", "aged", "--stdout", "--match", "early", "-n", "2"});
  EXPECT_EQ(count(last.out, "\n"), 2U) << last.out;
  EXPECT_NE(last.out.find("early 39\n"), std::string::npos) << last.out;
  EXPECT_NE(last.out.find("early 40\n"), std::string::npos) << last.out;
  Ctl recent = ctl({"log", "aged", "--since", "-1h"});
  EXPECT_EQ(recent.out.find("seeded"), std::string::npos) << recent.out;
  EXPECT_NE(recent.out.find("late 1"), std::string::npos) << recent.out;
  Ctl bad = ctl({"log", "aged", "--since", "tomorrow"});
  EXPECT_EQ(bad.code, 2);
}

INSTANTIATE_TEST_SUITE_P(Placements, LogQueryTest, ::testing::Values(Placement::Subreaper, Placement::Namespace),
                         [](const ::testing::TestParamInfo<Placement>& p) { return std::string(placement_name(p.param)); });

}  // namespace
}  // namespace keel::systest
