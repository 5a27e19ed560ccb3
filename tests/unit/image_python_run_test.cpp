// The [python] section's interpreter RUN in the image it builds (issue 14):
// the spec is written as a plain directory tree ([output] format = "dir")
// and the interpreter started in it with chroot (as root; otherwise in a
// user namespace, `unshare -r chroot`), so what is asserted is what the
// interpreter does with exactly the files keel-image put there.
//
// Needs Debian's /usr/bin/python3 (3.11; skipped without).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "image/builder.hpp"
#include "image/python_report.hpp"
#include "image/spec.hpp"
#include "test_util.hpp"

namespace keel::image {
namespace {

namespace fs = std::filesystem;

using testutil::quoted;
using testutil::write_file;

constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kStdlib = "/usr/lib/python3.11";

class PythonRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kPython) || !fs::is_directory(fs::path(kStdlib) / "lib-dynload")) {
      GTEST_SKIP() << "needs Debian's python3.11 at " << kPython;
    }
  }

  // Builds `python_section` (scripts relative to the temp dir) as a tree.
  fs::path build_tree(const std::string& python_section) {
    const fs::path root = dir_.path() / "root";
    const fs::path spec = dir_.path() / "spec.toml";
    write_file(spec, "[output]\nformat = \"dir\"\npath = \"" + root.string() + "\"\n\n" + python_section);
    (void)build_image(spec);
    return root;
  }

  // Runs COMMAND (a shell word list) chrooted into root; stdout returned,
  // stderr in `err`, the exit status in `rc`.
  std::string run_in(const fs::path& root, const std::string& command, std::string& err, int& rc) {
    const fs::path err_file = dir_.path() / "stderr";
    const std::string chroot = ::geteuid() == 0 ? "chroot " : "unshare -r chroot ";
    const std::string out = testutil::run(
        "env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin " + chroot + quoted(root) + " " + command + " 2>" + quoted(err_file), rc);
    err = testutil::slurp(err_file);
    return out;
  }

  testutil::TempDir dir_{"keel-python-run-"};
};

// A script that imports no extension module: nothing from lib-dynload is
// traced, yet the interpreter must start silently. CPython's getpath takes
// the lib-dynload DIRECTORY as the landmark of exec_prefix; without it every
// start printed "Could not find platform dependent libraries <exec_prefix>".
TEST_F(PythonRunTest, InterpreterWithoutExtensionModulesStartsSilently) {
  write_file(dir_.path() / "hello.py", "import sys\nprint('HELLO', sys.exec_prefix)\n");
  const fs::path root = build_tree("[python]\nscripts = [{ source = \"hello.py\", path = \"/opt/hello.py\" }]\n");
  ASSERT_TRUE(fs::is_directory(root / "usr/lib/python3.11/lib-dynload"));
  EXPECT_TRUE(fs::is_empty(root / "usr/lib/python3.11/lib-dynload"));
  for (const char* flags : {"-I", "-I -S", ""}) {
    std::string err;
    int rc = 0;
    const std::string out = run_in(root, std::string(kPython) + " " + flags + " /opt/hello.py", err, rc);
    EXPECT_EQ(rc, 0) << flags << ": " << err;
    EXPECT_EQ(out, "HELLO /usr\n") << flags;
    EXPECT_EQ(err, "") << flags;
  }
}

// A class body runs when its module is imported: email.message's `class
// Message` imports email.iterators there. The trace used to leave every
// nested code object out, so `import http.server` (http.client, then
// email.message) failed in the image with ModuleNotFoundError.
TEST_F(PythonRunTest, ImportsInAClassBodyAreTraced) {
  write_file(dir_.path() / "web.py", "import json, http.server\nprint('WEB-IMPORTS-OK')\n");
  const fs::path root = build_tree("[python]\nscripts = [{ source = \"web.py\", path = \"/opt/web.py\" }]\n");
  EXPECT_TRUE(fs::exists(root / "usr/lib/python3.11/email/iterators.pyc"));
  std::string err;
  int rc = 0;
  const std::string out = run_in(root, std::string(kPython) + " -sP /opt/web.py", err, rc);
  EXPECT_EQ(rc, 0) << err;
  EXPECT_EQ(out, "WEB-IMPORTS-OK\n");
  EXPECT_EQ(err, "");
}

// `-X importtime` lines as a console shows them (a time stamp or a
// service prefix before them, \r\n endings), the header skipped.
TEST(PythonReport, ParsesImportTimeLines) {
  const std::string console =
      "[    1.9] keel: main: started (pid 81)\r\n"
      "import time: self [us] | cumulative | imported package\r\n"
      "import time:       120 |        120 |   _io\r\n"
      "web: import time:      1471 |      24130 | json\n"
      "import time:      1188 |      22257 |   json.decoder\n"
      "import time:      1697 |      19381 |     re\n"
      "import time: garbage | x | y\n"
      "import time:        10 |         10 | encodings.utf_8";
  const std::vector<ImportTime> t = parse_import_times(console);
  ASSERT_EQ(t.size(), 5u);
  EXPECT_EQ(t[0].module, "_io");
  EXPECT_EQ(t[0].depth, 1);
  EXPECT_EQ(t[1].module, "json");
  EXPECT_EQ(t[1].depth, 0);
  EXPECT_EQ(t[1].self_us, 1471u);
  EXPECT_EQ(t[1].cumulative_us, 24130u);
  EXPECT_EQ(t[2].module, "json.decoder");
  EXPECT_EQ(t[2].depth, 1);
  EXPECT_EQ(t[3].module, "re");
  EXPECT_EQ(t[3].depth, 2);
  EXPECT_EQ(t[4].module, "encodings.utf_8");
}

// The report from the plan: the parts add up to the total, json's package
// line sums its modules' .pyc, the slowest import comes first.
TEST_F(PythonRunTest, ReportGivesSizesByPartPackageAndModuleAndImportTimes) {
  write_file(dir_.path() / "main.py", "import json\nprint(1)\n");
  const fs::path spec = dir_.path() / "spec.toml";
  write_file(spec, "[python]\nscripts = [{ source = \"main.py\", path = \"/opt/main.py\" }]\n");
  const ImagePlan plan = plan_image(parse_spec_file(spec));
  const std::vector<std::string> lines = python_report(
      plan, parse_import_times("import time:  1471 |  24130 | json\nimport time:  1188 |  22257 |   json.decoder\n"
                               "import time:  300 |  300 | site\n"));
  std::string all;
  for (const std::string& l : lines) all += l + "\n";
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(lines[0].starts_with("[python] report: ")) << all;
  for (const char* part : {"  interpreter (1 files)", "  libraries (", "  stdlib .pyc (", "  scripts (1 files)"}) {
    EXPECT_NE(all.find(part), std::string::npos) << part << "\n" << all;
  }
  std::uint64_t json_bytes = 0;
  for (const ImageEntry& e : plan.entries) {
    if (e.origin.starts_with("[python] json") && e.content) json_bytes += e.content->size();
  }
  ASSERT_GT(json_bytes, 0u);
  std::string digits = std::to_string(json_bytes);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<std::size_t>(i), ",");
  EXPECT_NE(all.find(digits + "  json (4 files)"), std::string::npos) << all;
  const std::size_t times = all.find("import time by module (3 imports, 24,430 us in the top-level ones");
  ASSERT_NE(times, std::string::npos) << all;
  const std::size_t json_line = all.find("  json\n", times);
  const std::size_t decoder_line = all.find("json.decoder", times);
  const std::size_t site_line = all.find("site", times);
  EXPECT_LT(json_line, decoder_line) << all;
  EXPECT_LT(decoder_line, site_line) << all;
}

}  // namespace
}  // namespace keel::image
