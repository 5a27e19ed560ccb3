// The ext4 output of the image builder (src/image/ext4.hpp): specs built
// into ext4 images without a mount, checked with `debugfs -R stat` (owners,
// modes, device numbers, link counts), `e2fsck -fn`, built twice for
// byte-identical output, with the builder's default size, with content too
// large for the size, and (when the tests run as root) as user nobody.
//
// Needs mke2fs, debugfs and e2fsck (e2fsprogs) and /bin/busybox; skipped
// without them.
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <string>

#include "image/builder.hpp"
#include "image/diagnostic.hpp"
#include "image/ext4.hpp"
#include "image/spec.hpp"
#include "test_util.hpp"

namespace keel::image {
namespace {

namespace fs = std::filesystem;

using testutil::quoted;
using testutil::run;
using testutil::slurp;
using testutil::write_file;

struct TempDir : testutil::TempDir {
  TempDir() : testutil::TempDir("keel-ext4-test-") {}
};

// Files, a symlink, a hard link, a user-owned file and directory, a block
// device; the default layout adds /dev/console, /dev/null, ...
std::string ext4_spec(const std::string& output_extra = "") {
  return R"([output]
format = "ext4"
)" + output_extra +
         R"(
[[program]]
source = "/bin/busybox"
path = "/bin/busybox"

[[symlink]]
path = "/bin/sh"
target = "busybox"

[[hardlink]]
path = "/sbin/ash"
target = "/bin/busybox"

[[device]]
path = "/dev/vda"
type = "block"
major = 254
minor = 0
mode = "0660"
group = 6

[[user]]
name = "www"
uid = 33
home = "/var/www"

[[dir]]
path = "/var/www"
mode = "0750"
owner = "www"

[[file]]
path = "/etc/motd"
source = "motd"
mode = "0640"
owner = "www"
group = 7

[[file]]
path = "/etc/hostname"
content = "demo\n"
)";
}

class Ext4Test : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"mke2fs", "debugfs", "e2fsck"}) {
      if (!testutil::have(tool)) GTEST_SKIP() << tool << " (e2fsprogs) is not installed";
    }
    if (!fs::exists("/bin/busybox")) GTEST_SKIP() << "/bin/busybox (busybox-static) is not installed";
    write_file(dir_.path() / "motd", "welcome\n");
  }

  BuildResult build(const std::string& spec_text, const std::string& out_name, std::uint32_t mtime = 0) {
    const fs::path spec = dir_.path() / "spec.toml";
    write_file(spec, spec_text);
    BuildOptions options;
    options.output = dir_.path() / out_name;
    options.mtime = mtime;
    options.log = &log_;
    return build_image(spec, options);
  }

  // `debugfs -R "stat PATH"` of the image.
  static std::string stat(const fs::path& image, const std::string& path) {
    return run("debugfs -R 'stat " + path + "' " + quoted(image) + " 2>&1");
  }

  static bool fsck_clean(const fs::path& image, std::string& out) {
    int rc = 0;
    out = run("e2fsck -fn " + quoted(image) + " 2>&1", rc);
    return rc == 0;
  }

  TempDir dir_;
  std::ostringstream log_;
};

TEST_F(Ext4Test, OwnersModesDevicesAndLinks) {
  const BuildResult result = build(ext4_spec(), "root.ext4");
  EXPECT_EQ(result.format, "ext4");
  EXPECT_EQ(fs::file_size(result.output), ext4_default_size(plan_image(parse_spec_file(dir_.path() / "spec.toml"))));
  EXPECT_FALSE(fs::exists(dir_.path() / "root.ext4.tmp"));
  std::string out;
  EXPECT_TRUE(fsck_clean(result.output, out)) << out;

  std::string s = stat(result.output, "/dev/console");
  EXPECT_NE(s.find("Type: character special    Mode:  0600"), std::string::npos) << s;
  EXPECT_NE(s.find("User:     0   Group:     0"), std::string::npos) << s;
  EXPECT_NE(s.find("Device major/minor number: 05:01"), std::string::npos) << s;
  s = stat(result.output, "/dev/vda");
  EXPECT_NE(s.find("Type: block special    Mode:  0660"), std::string::npos) << s;
  EXPECT_NE(s.find("User:     0   Group:     6"), std::string::npos) << s;
  EXPECT_NE(s.find("Device major/minor number: 254:00"), std::string::npos) << s;

  s = stat(result.output, "/etc/motd");
  EXPECT_NE(s.find("Type: regular    Mode:  0640"), std::string::npos) << s;
  EXPECT_NE(s.find("User:    33   Group:     7"), std::string::npos) << s;
  EXPECT_NE(s.find("mtime: 0x00000000"), std::string::npos) << s;
  EXPECT_EQ(run("debugfs -R 'cat /etc/motd' " + quoted(result.output) + " 2>/dev/null"), "welcome\n");
  EXPECT_EQ(run("debugfs -R 'cat /etc/hostname' " + quoted(result.output) + " 2>/dev/null"), "demo\n");

  s = stat(result.output, "/var/www");
  EXPECT_NE(s.find("Type: directory    Mode:  0750"), std::string::npos) << s;
  EXPECT_NE(s.find("User:    33"), std::string::npos) << s;
  // Everything the building user would own by default is root's.
  s = stat(result.output, "/");
  EXPECT_NE(s.find("User:     0   Group:     0"), std::string::npos) << s;
  s = stat(result.output, "/tmp");
  EXPECT_NE(s.find("Mode:  01777"), std::string::npos) << s;
  EXPECT_NE(s.find("User:     0   Group:     0"), std::string::npos) << s;

  s = stat(result.output, "/bin/sh");
  EXPECT_NE(s.find("Type: symlink"), std::string::npos) << s;
  EXPECT_NE(s.find("Fast link dest: \"busybox\""), std::string::npos) << s;
  // The hard link: one inode, two names.
  const std::string a = stat(result.output, "/bin/busybox");
  const std::string b = stat(result.output, "/sbin/ash");
  EXPECT_NE(a.find("Links: 2"), std::string::npos) << a;
  EXPECT_EQ(a.substr(0, a.find("Type:")), b.substr(0, b.find("Type:")));  // "Inode: N"
  EXPECT_NE(log_.str().find("wrote " + result.output.string() + ": "), std::string::npos) << log_.str();
}

TEST_F(Ext4Test, TwoBuildsAreByteIdentical) {
  const BuildResult first = build(ext4_spec(), "one.ext4", 1700000000);
  ::sleep(1);  // a clock that leaks into the image would differ now
  const BuildResult second = build(ext4_spec(), "two.ext4", 1700000000);
  EXPECT_TRUE(slurp(first.output) == slurp(second.output));
  const std::string s = run("dumpe2fs -h " + quoted(first.output) + " 2>/dev/null");
  EXPECT_NE(s.find("Last write time:          Tue Nov 14 22:13:20 2023"), std::string::npos) << s;
  std::string out;
  EXPECT_TRUE(fsck_clean(first.output, out)) << out;
  // Another time: another image (times and UUID).
  const BuildResult third = build(ext4_spec(), "three.ext4", 0);
  EXPECT_FALSE(slurp(first.output) == slurp(third.output));
}

TEST_F(Ext4Test, SizeFromTheSpec) {
  const BuildResult result = build(ext4_spec("size = \"24M\"\n"), "sized.ext4");
  EXPECT_EQ(fs::file_size(result.output), 24u * 1024 * 1024);
  std::string out;
  EXPECT_TRUE(fsck_clean(result.output, out)) << out;
  // A longer file left at the output path does not leave its tail behind.
  write_file(dir_.path() / "sized.ext4.tmp", std::string(30 * 1024 * 1024, 'x'));
  const BuildResult again = build(ext4_spec("size = \"24M\"\n"), "sized.ext4");
  EXPECT_EQ(fs::file_size(again.output), 24u * 1024 * 1024);
}

TEST_F(Ext4Test, DefaultSizeIsAtLeast8MiBAndFitsTheContent) {
  EXPECT_EQ(ext4_default_size(ImagePlan{}), 8u * 1024 * 1024);
  write_file(dir_.path() / "big", std::string(40 * 1024 * 1024, 'b'));
  const BuildResult result = build(ext4_spec() + "\n[[file]]\npath = \"/big\"\nsource = \"big\"\n", "big.ext4");
  EXPECT_GE(fs::file_size(result.output), 48u * 1024 * 1024);
  std::string out;
  EXPECT_TRUE(fsck_clean(result.output, out)) << out;
}

TEST_F(Ext4Test, ContentLargerThanTheSizeIsAnError) {
  write_file(dir_.path() / "big", std::string(12 * 1024 * 1024, 'b'));
  try {
    build(ext4_spec("size = \"8M\"\n") + "\n[[file]]\npath = \"/big\"\nsource = \"big\"\n", "small.ext4");
    FAIL() << "built";
  } catch (const ImageError& e) {
    const std::string d = e.describe();
    EXPECT_NE(d.find("spec.toml:1: error: mke2fs failed"), std::string::npos) << d;
  }
  EXPECT_FALSE(fs::exists(dir_.path() / "small.ext4"));
  EXPECT_FALSE(fs::exists(dir_.path() / "small.ext4.tmp"));
}

TEST_F(Ext4Test, BuildsAsAnOrdinaryUser) {
  if (::geteuid() != 0) {
    // Already not root: the other tests were that build.
    GTEST_SKIP() << "not root: the other tests already build as an ordinary user";
  }
  const BuildResult as_root = build(ext4_spec(), "root.ext4");
  const fs::path out = dir_.path() / "nobody.ext4";
  ASSERT_EQ(::chown(dir_.path().c_str(), 65534, 65534), 0);
  const int rc = testutil::in_child(
      [&] {
        if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
            ::setresuid(65534, 65534, 65534) != 0) {
          return 3;
        }
        try {
          BuildOptions options;
          options.output = out;
          options.mtime = 0;
          (void)build_image(dir_.path() / "spec.toml", options);
        } catch (...) {
          return 1;
        }
        return 0;
      },
      20000);
  ASSERT_EQ(rc, 0);
  struct stat st {};
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_TRUE(slurp(out) == slurp(as_root.output));  // owners and devices do not depend on who builds
}

}  // namespace
}  // namespace keel::image
