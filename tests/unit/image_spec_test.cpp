// The image spec parser: a full spec read into the expected struct, the
// defaults, source and path handling, and every error a bad spec can get,
// each at its exact line. Every test writes its spec and host files into a
// temporary directory of its own.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "image/diagnostic.hpp"
#include "image/spec.hpp"

namespace keel::image {
namespace {

namespace fs = std::filesystem;

class SpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "keel-spec-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // A host file under the temp dir (parents created).
  fs::path touch(const std::string& rel, const std::string& text = "x") {
    fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p;
  }
  fs::path mkdir(const std::string& rel) {
    fs::create_directories(dir_ / rel);
    return dir_ / rel;
  }

  fs::path write_spec(const std::string& text) { return touch("spec.toml", text); }

  Spec parse(const std::string& text) { return parse_spec_file(write_spec(text)); }

  // Parses `text` expecting an ImageError at `line` whose message has `fragment`.
  void expect_error(const std::string& text, int line, const std::string& fragment) {
    fs::path spec = write_spec(text);
    try {
      parse_spec_file(spec);
      ADD_FAILURE() << "no error; expected line " << line << ": " << fragment;
    } catch (const ImageError& e) {
      EXPECT_EQ(e.where(), spec.string());
      EXPECT_EQ(e.line(), line) << e.describe();
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
          << "message: " << e.what() << "\nexpected to contain: " << fragment;
    }
  }

  fs::path dir_;
};

TEST_F(SpecTest, FullSpecParsesIntoTheStruct) {
  touch("bin/busybox");
  touch("etc/motd", "hi");
  touch("tree/a.txt");
  touch("build/keel");
  touch("keel.d/web.toml");
  touch("app/main.py");
  touch("py/python3");
  mkdir("kmods/6.1.0-test");
  Spec s = parse(R"(# a demo image
[output]
format = "cpio"
compression = "zstd"
path = "out/demo.cpio.zst"

[boot]
cmdline = "console=ttyS0 panic=-1"

[[user]]
name = "www"
uid = 33
gid = 33
home = "/var/www"
shell = "/sbin/nologin"

[[group]]
name = "www"
gid = 33
members = ["www"]

[[file]]
source = "etc/motd"
path = "/etc/motd"
mode = "0600"
owner = "www"
group = "www"

[[file]]
content = "demo\n"
path = "/etc//hostname"
mode = 0o640
owner = 1000
group = "2000"

[[dir]]
path = "/var/www/"
mode = "0750"
owner = "www"

[[symlink]]
path = "/bin/sh"
target = "busybox"

[[hardlink]]
path = "/bin/ash"
target = "/bin/busybox"

[[device]]
path = "/dev/vda"
type = "block"
major = 254
minor = 0
mode = "0660"
group = "www"

[[tree]]
source = "tree"
path = "/usr/share/demo"
exclude = ["*.o", ".git"]

[[program]]
source = "bin/busybox"
path = "/bin/busybox"

[modules]
names = ["virtio_blk", "ext4"]
tree = "kmods/6.1.0-test"

[keel]
binary = "build/keel"
config = ["keel.d/web.toml"]

[python]
interpreter = "py/python3"
path = "/usr/bin/python3"
scripts = [{ source = "app/main.py", path = "/opt/app/main.py" }]
include = ["json"]
exclude = ["tkinter"]
optional = ["ssl"]
)");
  EXPECT_EQ(s.dir, dir_);
  EXPECT_EQ(s.output.format, OutputFormat::cpio);
  EXPECT_EQ(s.output.compression, Compression::Zstd);
  EXPECT_EQ(s.output.path, dir_ / "out/demo.cpio.zst");
  EXPECT_EQ(s.output.line, 2);
  EXPECT_EQ(s.boot.cmdline, "console=ttyS0 panic=-1");

  ASSERT_EQ(s.users.size(), 2u);  // implicit root first
  EXPECT_EQ(s.users[0].name, "root");
  EXPECT_EQ(s.users[0].line, 0);
  EXPECT_EQ(s.users[1].name, "www");
  EXPECT_EQ(s.users[1].uid, 33u);
  EXPECT_EQ(s.users[1].gid, 33u);
  EXPECT_EQ(s.users[1].home, "/var/www");
  EXPECT_EQ(s.users[1].shell, "/sbin/nologin");
  EXPECT_EQ(s.users[1].line, 10);
  ASSERT_EQ(s.groups.size(), 2u);
  EXPECT_EQ(s.groups[1].name, "www");
  EXPECT_EQ(s.groups[1].members, std::vector<std::string>{"www"});

  ASSERT_EQ(s.files.size(), 2u);
  EXPECT_EQ(s.files[0].source, dir_ / "etc/motd");
  EXPECT_EQ(s.files[0].path, "/etc/motd");
  EXPECT_EQ(s.files[0].mode, 0600u);
  EXPECT_EQ(s.files[0].owner, (Ownership{33, 33}));
  EXPECT_EQ(s.files[0].line, 22);
  EXPECT_FALSE(s.files[0].content.has_value());
  EXPECT_TRUE(s.files[1].source.empty());
  EXPECT_EQ(s.files[1].content, "demo\n");
  EXPECT_EQ(s.files[1].path, "/etc/hostname");
  EXPECT_EQ(s.files[1].mode, 0640u);
  EXPECT_EQ(s.files[1].owner, (Ownership{1000, 2000}));

  ASSERT_EQ(s.dirs.size(), 1u);
  EXPECT_EQ(s.dirs[0].path, "/var/www");
  EXPECT_EQ(s.dirs[0].mode, 0750u);
  EXPECT_EQ(s.dirs[0].owner, (Ownership{33, 0}));
  ASSERT_EQ(s.symlinks.size(), 1u);
  EXPECT_EQ(s.symlinks[0].path, "/bin/sh");
  EXPECT_EQ(s.symlinks[0].target, "busybox");
  ASSERT_EQ(s.hardlinks.size(), 1u);
  EXPECT_EQ(s.hardlinks[0].target, "/bin/busybox");
  ASSERT_EQ(s.devices.size(), 1u);
  EXPECT_EQ(s.devices[0].type, DeviceType::block);
  EXPECT_EQ(s.devices[0].major, 254u);
  EXPECT_EQ(s.devices[0].minor, 0u);
  EXPECT_EQ(s.devices[0].mode, 0660u);
  EXPECT_EQ(s.devices[0].owner, (Ownership{0, 33}));
  ASSERT_EQ(s.trees.size(), 1u);
  EXPECT_EQ(s.trees[0].source, dir_ / "tree");
  EXPECT_EQ(s.trees[0].path, "/usr/share/demo");
  EXPECT_EQ(s.trees[0].exclude, (std::vector<std::string>{"*.o", ".git"}));
  ASSERT_EQ(s.programs.size(), 1u);
  EXPECT_EQ(s.programs[0].source, dir_ / "bin/busybox");
  EXPECT_EQ(s.programs[0].mode, 0755u);

  ASSERT_TRUE(s.modules.has_value());
  EXPECT_EQ(s.modules->names, (std::vector<std::string>{"virtio_blk", "ext4"}));
  EXPECT_EQ(s.modules->tree, dir_ / "kmods/6.1.0-test");
  EXPECT_EQ(s.modules->kernel, "6.1.0-test");

  ASSERT_TRUE(s.keel.has_value());
  EXPECT_EQ(s.keel->binary, dir_ / "build/keel");
  EXPECT_EQ(s.keel->path, "/sbin/keel");
  EXPECT_EQ(s.keel->init_links, (std::vector<std::string>{"/init", "/sbin/init"}));
  ASSERT_EQ(s.keel->config.size(), 1u);
  EXPECT_EQ(s.keel->config[0].source, dir_ / "keel.d/web.toml");
  EXPECT_EQ(s.keel->config[0].path, "/etc/keel/web.toml");

  ASSERT_TRUE(s.python.has_value());
  EXPECT_EQ(s.python->interpreter, dir_ / "py/python3");
  ASSERT_EQ(s.python->scripts.size(), 1u);
  EXPECT_EQ(s.python->scripts[0].source, dir_ / "app/main.py");
  EXPECT_EQ(s.python->scripts[0].path, "/opt/app/main.py");
  EXPECT_EQ(s.python->include, std::vector<std::string>{"json"});
  EXPECT_EQ(s.python->exclude, std::vector<std::string>{"tkinter"});
  EXPECT_EQ(s.python->optional, std::vector<std::string>{"ssl"});
}

TEST_F(SpecTest, Defaults) {
  touch("f");
  touch("p");
  touch("keel");
  Spec s = parse(R"(
[[file]]
source = "f"
path = "/f"
[[dir]]
path = "/d"
[[program]]
source = "p"
path = "/p"
[[device]]
path = "/dev/null"
type = "char"
major = 1
minor = 3
[[symlink]]
path = "/l"
target = "/f"
[keel]
binary = "keel"
)");
  EXPECT_EQ(s.output.format, OutputFormat::cpio);
  EXPECT_EQ(s.output.compression, Compression::Gzip);
  EXPECT_TRUE(s.output.path.empty());
  EXPECT_EQ(s.files[0].mode, 0644u);
  EXPECT_EQ(s.files[0].owner, (Ownership{0, 0}));
  EXPECT_EQ(s.dirs[0].mode, 0755u);
  EXPECT_EQ(s.programs[0].mode, 0755u);
  EXPECT_EQ(s.devices[0].mode, 0600u);
  EXPECT_EQ(s.devices[0].type, DeviceType::character);
  EXPECT_EQ(s.symlinks[0].owner, (Ownership{0, 0}));
  ASSERT_EQ(s.users.size(), 1u);
  EXPECT_EQ(s.users[0].name, "root");
  EXPECT_EQ(s.users[0].home, "/root");
  ASSERT_EQ(s.groups.size(), 1u);
  EXPECT_EQ(s.groups[0].name, "root");
  EXPECT_EQ(s.keel->path, "/sbin/keel");
  EXPECT_EQ(s.keel->config_dir, "/etc/keel");
  EXPECT_FALSE(s.modules.has_value());
  EXPECT_FALSE(s.python.has_value());
}

TEST_F(SpecTest, EmptySpecIsValid) {
  Spec s = parse("");
  EXPECT_TRUE(s.files.empty());
  EXPECT_EQ(s.users.size(), 1u);
}

TEST_F(SpecTest, NonCpioFormatsDefaultToNoCompression) {
  Spec s = parse("[output]\nformat = \"ext4\"\nsize = \"64M\"\n");
  EXPECT_EQ(s.output.format, OutputFormat::ext4);
  EXPECT_EQ(s.output.compression, Compression::None);
  EXPECT_EQ(s.output.size, 64u << 20);
  EXPECT_EQ(parse("[output]\nformat = \"ext4\"\nsize = 1048576\n").output.size, 1048576u);
  EXPECT_EQ(parse("[output]\nformat = \"dir\"\n").output.format, OutputFormat::dir);
}

TEST_F(SpecTest, AlternativeForms) {
  touch("py");
  touch("main.py");
  touch("k");
  mkdir("mods/6.1.0-x");
  Spec s = parse(R"([python]
interpreter = "py"
[[python.scripts]]
source = "main.py"
path = "/opt/main.py"
[keel]
binary = "k"
path = "/init"
init_links = []
config_dir = "/"
[modules]
names = ["e1000"]
tree = "mods/6.1.0-x"
kernel = "6.1.0-override"
)");
  ASSERT_EQ(s.python->scripts.size(), 1u);
  EXPECT_EQ(s.python->scripts[0].path, "/opt/main.py");
  EXPECT_EQ(s.python->scripts[0].line, 3);
  EXPECT_EQ(s.keel->path, "/init");
  EXPECT_TRUE(s.keel->init_links.empty());
  EXPECT_EQ(s.modules->kernel, "6.1.0-override");
  EXPECT_EQ(s.modules->tree, dir_ / "mods/6.1.0-x");
}

TEST_F(SpecTest, RelativeSourcesResolveAgainstTheSpecDirectory) {
  touch("sub/x");
  fs::path abs = touch("elsewhere/y");
  mkdir("sub/inner");
  std::string text =
      "[[file]]\nsource = \"sub/inner/../x\"\npath = \"/x\"\n"
      "[[file]]\nsource = \"" +
      abs.string() + "\"\npath = \"/y\"\n";
  // Through parse_spec with the spec named in another directory than the
  // process's working directory: sources follow the spec, not the cwd.
  Spec s = parse_spec(text, dir_ / "spec.toml");
  EXPECT_EQ(s.files[0].source, dir_ / "sub/x");
  EXPECT_EQ(s.files[1].source, abs);
  // A spec in a subdirectory resolves against that subdirectory.
  touch("sub/z");
  Spec s2 = parse_spec("[[file]]\nsource = \"z\"\npath = \"/z\"\n", dir_ / "sub" / "spec.toml");
  EXPECT_EQ(s2.files[0].source, dir_ / "sub/z");
}

TEST_F(SpecTest, ImagePathsAreNormalised) {
  EXPECT_EQ(normalize_image_path("/usr//bin/./x/../y/"), "/usr/bin/y");
  EXPECT_EQ(normalize_image_path("/"), "/");
  EXPECT_EQ(normalize_image_path("/a/.."), "/");
  EXPECT_EQ(normalize_image_path("/.."), std::nullopt);
  EXPECT_EQ(normalize_image_path("/a/../../etc"), std::nullopt);
  EXPECT_EQ(normalize_image_path("etc"), std::nullopt);
  EXPECT_EQ(normalize_image_path(""), std::nullopt);
  Spec s = parse("[[dir]]\npath = \"/var//lib/./x/../y/\"\n");
  EXPECT_EQ(s.dirs[0].path, "/var/lib/y");
}

// ------------------------------------------------------------------ errors

TEST_F(SpecTest, SyntaxErrorHasTomlsMessageAndLine) {
  expect_error("[output]\nformat = \"cpio\"\nsize = \n", 3, "TOML syntax error at column");
  expect_error("[[file]]\npath = \"/a\"\npath = \"/b\"\n", 3, "TOML syntax error");
}

TEST_F(SpecTest, UnknownKeySuggestsTheClosest) {
  touch("a");
  expect_error("\n[[file]]\nsrouce = \"a\"\npath = \"/a\"\n", 3,
               "unknown key 'srouce' in [[file]]; did you mean 'source'?");
  expect_error("[output]\nformat = \"cpio\"\ncolour = \"red\"\n", 3, "unknown key 'colour' in [output]");
  expect_error("[outptu]\nformat = \"cpio\"\n", 1, "unknown key 'outptu' in the top level; did you mean 'output'?");
}

TEST_F(SpecTest, UnknownKeyWithoutCloseMatchHasNoSuggestion) {
  fs::path spec = write_spec("[boot]\nxyzzy = 1\n");
  try {
    parse_spec_file(spec);
    FAIL();
  } catch (const ImageError& e) {
    EXPECT_EQ(e.line(), 2);
    EXPECT_EQ(std::string(e.what()), "unknown key 'xyzzy' in [boot]");
  }
}

TEST_F(SpecTest, WrongTypes) {
  expect_error("[[dir]]\npath = \"/d\"\nmode = true\n", 3,
               "mode in [[dir]] must be a string like \"0644\" or an octal integer");
  expect_error("[[dir]]\npath = \"/d\"\nmode = 755\n", 3, "755 is decimal");
  expect_error("[[dir]]\npath = \"/d\"\nmode = \"0899\"\n", 3, "must be a string like \"0644\"");
  expect_error("[[dir]]\npath = \"/d\"\nmode = \"017777\"\n", 3, "must be a string like \"0644\"");
  expect_error("[[dir]]\npath = 5\n", 2, "'path' in [[dir]] must be a string");
  expect_error("[boot]\ncmdline = [\"a\"]\n", 2, "'cmdline' in [boot] must be a string");
  expect_error("[[tree]]\nsource = \".\"\npath = \"/\"\nexclude = \"*.o\"\n", 4,
               "'exclude' in [[tree]] must be a list of non-empty strings");
  expect_error("[file]\npath = \"/a\"\n", 1, "'file' must be an array of tables: write [[file]]");
  expect_error("\n[[output]]\nformat = \"cpio\"\n", 2, "'output' must be a table: write [output]");
}

TEST_F(SpecTest, MissingRequiredKeyIsReportedAtItsTable) {
  touch("p");
  expect_error("[output]\n\n[[program]]\nsource = \"p\"\n", 3, "[[program]] needs 'path'");
  expect_error("[[device]]\npath = \"/dev/x\"\ntype = \"char\"\nmajor = 1\n", 1, "[[device]] needs 'minor'");
  expect_error("[[file]]\npath = \"/x\"\n", 1, "[[file]] needs 'source' (a host file) or 'content'");
  expect_error("[[user]]\nname = \"a\"\n", 1, "[[user]] needs 'uid'");
}

TEST_F(SpecTest, MissingSourceNamesTheResolvedPath) {
  expect_error("\n\n[[program]]\nsource = \"bin/nope\"\npath = \"/bin/nope\"\n", 4,
               "source 'bin/nope' in [[program]] does not exist (resolved to " + (dir_ / "bin/nope").string() + ")");
  mkdir("adir");
  expect_error("[[file]]\nsource = \"adir\"\npath = \"/x\"\n", 2, "is not a regular file");
  touch("afile");
  expect_error("[[tree]]\nsource = \"afile\"\npath = \"/x\"\n", 2, "is not a directory");
}

TEST_F(SpecTest, ImagePathMustBeAbsoluteAndStayInside) {
  expect_error("[[dir]]\npath = \"etc\"\n", 2, "'path' in [[dir]] must be an absolute image path");
  expect_error("\n[[symlink]]\npath = \"/../etc\"\ntarget = \"x\"\n", 3, "path escapes the image root");
  expect_error("[[symlink]]\npath = \"/a/../../etc\"\ntarget = \"x\"\n", 2, "path escapes the image root");
  expect_error("[[symlink]]\npath = \"/\"\ntarget = \"x\"\n", 2, "cannot be the image root");
}

TEST_F(SpecTest, PathGivenTwice) {
  touch("passwd");
  const std::string text =
      "[output]\nformat = \"cpio\"\n\n"  // 1-3
      "[[file]]\nsource = \"passwd\"\n"  // 4-5
      "path = \"/etc/passwd\"\n\n"       // 6-7
      "[[dir]]\npath = \"/etc\"\n\n"     // 8-10
      "[[file]]\ncontent = \"x\"\n"      // 11-12
      "path = \"/etc/./passwd\"\n";      // 13
  expect_error(text, 13, "/etc/passwd is given twice: line 6 and line 13");
  // [[user]] entries generate /etc/passwd: a [[file]] for it clashes.
  expect_error("[[file]]\ncontent = \"x\"\npath = \"/etc/passwd\"\n[[user]]\nname = \"a\"\nuid = 1\n", 4,
               "/etc/passwd is given twice: line 3 and line 4");
  expect_error("[[dir]]\npath = \"/x\"\n[[symlink]]\npath = \"/x/\"\ntarget = \"y\"\n", 4,
               "/x is given twice: line 2 and line 4");
}

TEST_F(SpecTest, NothingUnderANonDirectory) {
  expect_error("[[symlink]]\npath = \"/a\"\ntarget = \"b\"\n[[dir]]\npath = \"/a/b\"\n", 5,
               "/a/b is inside /a, which is not a directory (line 2)");
}

TEST_F(SpecTest, UnknownOwnerOrGroup) {
  expect_error("[[dir]]\npath = \"/d\"\nowner = \"nobody\"\n", 3,
               "unknown owner 'nobody' in [[dir]]: declare it with [[user]] or give a numeric uid");
  expect_error("[[dir]]\npath = \"/d\"\ngroup = \"wheel\"\n", 3, "unknown group 'wheel' in [[dir]]");
  expect_error("[[dir]]\npath = \"/d\"\nowner = -1\n", 3, "'owner' in [[dir]] must be an integer from 0 to 4294967294");
  expect_error("[[group]]\nname = \"g\"\ngid = 5\nmembers = [\"ghost\"]\n", 4, "unknown user 'ghost' in members");
  // Declared names and the implicit root resolve.
  Spec s = parse("[[user]]\nname = \"app\"\nuid = 100\n[[dir]]\npath = \"/d\"\nowner = \"app\"\ngroup = \"root\"\n");
  EXPECT_EQ(s.dirs[0].owner, (Ownership{100, 0}));
  expect_error("[[user]]\nname = \"a\"\nuid = 1\n[[user]]\nname = \"a\"\nuid = 2\n", 5,
               "user 'a' is given twice: line 2 and line 5");
}

TEST_F(SpecTest, BadDeviceNumbers) {
  const std::string head = "[[device]]\npath = \"/dev/x\"\ntype = \"char\"\n";
  expect_error(head + "major = 5000\nminor = 1\n", 4, "'major' in [[device]] must be an integer from 0 to 4095");
  expect_error(head + "major = 1\nminor = -1\n", 5, "'minor' in [[device]] must be an integer from 0 to 1048575");
  expect_error(head + "major = \"1\"\nminor = 1\n", 4, "'major' in [[device]] must be an integer");
  expect_error("[[device]]\npath = \"/dev/x\"\ntype = \"pipe\"\nmajor = 1\nminor = 1\n", 3,
               "unknown device type 'pipe'");
}

TEST_F(SpecTest, BadOutput) {
  expect_error("[output]\nformat = \"squashfs\"\n", 2, "unknown output format 'squashfs'");
  expect_error("[output]\nformat = \"cpio\"\ncompression = \"lz4\"\n", 3, "unknown compression 'lz4'");
  expect_error("[output]\nformat = \"erofs\"\ncompression = \"xz\"\n", 3,
               "compression applies only to format = \"cpio\"");
  expect_error("[output]\nformat = \"ext4\"\ncompression = \"gzip\"\n", 3,
               "compression applies only to format = \"cpio\"");
  expect_error("[output]\nsize = \"64M\"\n", 2, "size applies only to format = \"ext4\"");
  expect_error("[output]\nformat = \"ext4\"\nsize = \"64X\"\n", 3, "size in [output] must be a number of bytes");
}

TEST_F(SpecTest, CompressionLevel) {
  EXPECT_EQ(parse("[output]\ncompression = \"zstd\"\n").output.level, 0);  // 0: the compressor's default
  EXPECT_EQ(parse("[output]\ncompression = \"zstd\"\nlevel = 3\n").output.level, 3);
  EXPECT_EQ(parse("[output]\ncompression = \"zstd\"\nlevel = 22\n").output.level, 22);
  EXPECT_EQ(parse("[output]\nlevel = 1\n").output.level, 1);  // gzip, the default for cpio
  EXPECT_EQ(parse("[output]\ncompression = \"gzip\"\nlevel = 9\n").output.level, 9);
  EXPECT_EQ(parse("[output]\ncompression = \"xz\"\n").output.compression, Compression::Xz);
  EXPECT_EQ(parse("[output]\ncompression = \"xz\"\nlevel = 9\n").output.level, 9);
}

TEST_F(SpecTest, BadCompressionLevel) {
  expect_error("[output]\ncompression = \"zstd\"\nlevel = 23\n", 3,
               "'level' in [output] must be an integer from 1 to 22 for zstd");
  expect_error("[output]\ncompression = \"zstd\"\nlevel = 0\n", 3,
               "'level' in [output] must be an integer from 1 to 22 for zstd");
  expect_error("[output]\ncompression = \"zstd\"\nlevel = -5\n", 3, "must be an integer from 1 to 22");
  expect_error("[output]\n\ncompression = \"gzip\"\nlevel = 10\n", 4,
               "'level' in [output] must be an integer from 1 to 9 for gzip");
  expect_error("[output]\nlevel = 12\n", 2, "must be an integer from 1 to 9 for gzip");
  expect_error("[output]\ncompression = \"xz\"\nlevel = 10\n", 3,
               "'level' in [output] must be an integer from 1 to 9 for xz");
  expect_error("[output]\ncompression = \"zstd\"\nlevel = \"19\"\n", 3, "'level' in [output] must be an integer");
  expect_error("[output]\ncompression = \"none\"\nlevel = 3\n", 3,
               "level applies only to compression = \"gzip\", \"zstd\" or \"xz\"");
  expect_error("[output]\nformat = \"ext4\"\nlevel = 3\n", 3, "level applies only to compression");
}

TEST_F(SpecTest, BadModulesKeelAndPython) {
  expect_error("[modules]\nnames = [\"a\"]\n", 1, "[modules] needs 'kernel' (a kernel version) or 'tree'");
  expect_error("[modules]\nnames = [\"a\"]\nkernel = \"0.0.0-keel-test-none\"\n", 3,
               "no module tree for kernel '0.0.0-keel-test-none'");
  expect_error("[keel]\nbinary = \"nokeel\"\n", 2, "binary 'nokeel' in [keel] does not exist");
  touch("py");
  expect_error("[python]\ninterpreter = \"py\"\noptional = [\"ssl\", \"tk\"]\n", 3,
               "unknown optional Python part 'tk'");
  touch("k");
  // keel claims /init and /sbin/init by default.
  expect_error("[keel]\nbinary = \"k\"\n[[symlink]]\npath = \"/init\"\ntarget = \"x\"\n", 4, "/init is given twice");
}

}  // namespace
}  // namespace keel::image
