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
        "env -i PATH=/usr/bin:/bin " + chroot + quoted(root) + " " + command + " 2>" + quoted(err_file), rc);
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

}  // namespace
}  // namespace keel::image
