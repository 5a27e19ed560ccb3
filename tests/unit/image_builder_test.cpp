// The image builder (src/image/builder.hpp) end to end: specs written to a
// temporary directory, built, and checked with the cpio reader, with GNU
// `cpio -itv`, unpacked on the host, built twice for reproducibility, as a
// directory, with the errors a build can find, and one real boot in QEMU.
//
// Needs /bin/busybox from busybox-static (a static ELF) and /usr/bin/env
// (a dynamic one, for the library closure). The boot test needs the
// project's kernel cache (scripts/fetch-kernel.sh) and is skipped without.
#include <gtest/gtest.h>
#include <poll.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "image/builder.hpp"
#include "image/cpio.hpp"
#include "image/diagnostic.hpp"
#include "image/elf.hpp"
#include "image/listing.hpp"
#include "image/progress.hpp"
#include "image/qemu.hpp"
#include "test_util.hpp"

namespace keel::image {
namespace {

namespace fs = std::filesystem;

using testutil::run;
using testutil::slurp;
using testutil::write_file;

// A scratch directory, keel-builder-XXXXXX.
struct TempDir : testutil::TempDir {
  TempDir() : testutil::TempDir("keel-builder-") {}
};

// One space between fields, for comparing `cpio -itv` lines.
std::string squeeze(const std::string& line) {
  std::string out;
  for (char c : line) {
    if (c == ' ' && !out.empty() && out.back() == ' ') continue;
    out += c;
  }
  return out;
}

// The spec of most tests: busybox (static), env (dynamic: the closure),
// files, a symlink, a hard link, a device, a user, a directory owned by it.
std::string full_spec(const std::string& compression) {
  return R"([output]
compression = ")" + compression + R"("

[boot]
cmdline = "quiet loglevel=3"

[[program]]
source = "/bin/busybox"
path = "/bin/busybox"

[[program]]
source = "/usr/bin/env"
path = "/usr/bin/env"

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

[[file]]
path = "/etc/hostname"
content = "demo\n"
mode = "0600"
owner = "www"
)";
}

class BuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::is_regular_file("/bin/busybox") || !read_elf("/bin/busybox").is_static()) {
      GTEST_SKIP() << "needs a static /bin/busybox: apt-get install busybox-static";
    }
    write_file(dir_.path() / "motd", "hello from keel-image\n");
  }

  BuildResult build(const std::string& spec_text, const std::string& out_name, const std::string& spec_name = "spec.toml") {
    const fs::path spec = dir_.path() / spec_name;
    write_file(spec, spec_text);
    BuildOptions options;
    options.output = dir_.path() / out_name;
    options.mtime = 0;
    options.log = &log_;
    return build_image(spec, options);
  }

  // "FILE:LINE: error: MESSAGE" of the build's ImageError ("" when it built).
  std::string build_error(const std::string& spec_text) {
    try {
      build(spec_text, "err.cpio", "bad.toml");
    } catch (const ImageError& e) {
      return e.describe();
    }
    return "";
  }

  std::map<std::string, CpioEntry> entries(const std::string& archive) {
    std::map<std::string, CpioEntry> by_name;
    for (const CpioEntry& e : read_cpio(archive).entries) by_name[e.name] = e;
    return by_name;
  }

  TempDir dir_;
  std::ostringstream log_;
};

TEST_F(BuilderTest, ArchiveHasLayoutProgramsClosureAndSpecEntries) {
  const BuildResult result = build(full_spec("none"), "img.cpio");
  const std::string archive = slurp(result.output);
  EXPECT_EQ(result.compressed, archive.size());  // the file's size, here uncompressed
  EXPECT_EQ(result.bytes, archive.size());
  const CpioArchive parsed = read_cpio(archive);
  EXPECT_EQ(result.entries, parsed.entries.size());
  EXPECT_NE(log_.str().find("wrote " + result.output.string() + ": " + std::to_string(result.entries) + " entries"),
            std::string::npos)
      << log_.str();

  // Sorted, each once, parents before children.
  std::vector<std::string> names;
  for (const CpioEntry& e : parsed.entries) names.push_back(e.name);
  // (a hard-link group is written where its last name sorts)
  std::set<std::string> seen;
  for (const std::string& n : names) {
    EXPECT_TRUE(seen.insert(n).second) << n << " twice";
    const auto slash = n.rfind('/');
    if (slash != std::string::npos) {
      EXPECT_TRUE(seen.count(n.substr(0, slash))) << n << " before its parent";
    }
  }

  auto by = entries(archive);
  auto expect = [&](const std::string& name, std::uint32_t mode, std::uint32_t uid = 0, std::uint32_t gid = 0) {
    ASSERT_TRUE(by.count(name)) << name;
    EXPECT_EQ(by[name].mode, mode) << name;
    EXPECT_EQ(by[name].uid, uid) << name;
    EXPECT_EQ(by[name].gid, gid) << name;
    EXPECT_EQ(by[name].mtime, 0u) << name;
  };
  // Default layout.
  for (const char* d : {"bin", "sbin", "usr/bin", "usr/sbin", "lib", "dev", "proc", "sys", "run", "etc", "var"}) {
    expect(d, 040755);
  }
  expect("tmp", 041777);
  expect("root", 040700);
  expect("dev/console", 020600);
  EXPECT_EQ(by["dev/console"].rdev_major, 5u);
  EXPECT_EQ(by["dev/console"].rdev_minor, 1u);
  expect("dev/null", 020666);
  EXPECT_EQ(by["dev/null"].rdev_minor, 3u);
  expect("dev/urandom", 020666);
  EXPECT_EQ(by["dev/urandom"].rdev_minor, 9u);
  expect("dev/kmsg", 020644);
  EXPECT_EQ(by["dev/kmsg"].rdev_minor, 11u);
  // The spec's entries.
  expect("bin/busybox", 0100755);
  expect("sbin/ash", 0100755);
  EXPECT_EQ(by["bin/busybox"].ino, by["sbin/ash"].ino);
  EXPECT_EQ(by["bin/busybox"].nlink, 2u);
  EXPECT_EQ(by["bin/busybox"].size + by["sbin/ash"].size, fs::file_size("/bin/busybox"));  // data once
  expect("bin/sh", 0120777);
  EXPECT_EQ(by["bin/sh"].symlink_target, "busybox");
  expect("dev/vda", 060660, 0, 6);
  EXPECT_EQ(by["dev/vda"].rdev_major, 254u);
  expect("var/www", 040750, 33, 0);
  expect("etc/motd", 0100644);
  EXPECT_EQ(entry_data(archive, by["etc/motd"]), "hello from keel-image\n");
  expect("etc/hostname", 0100600, 33, 0);
  EXPECT_EQ(entry_data(archive, by["etc/hostname"]), "demo\n");
  expect("etc/passwd", 0100644);
  EXPECT_EQ(entry_data(archive, by["etc/passwd"]), "root:x:0:0::/root:/bin/sh\nwww:x:33:33::/var/www:/bin/sh\n");
  expect("etc/group", 0100644);
  EXPECT_EQ(entry_data(archive, by["etc/group"]), "root:x:0:\n");
  EXPECT_EQ(entry_data(archive, by["etc/keel/cmdline"]), "quiet loglevel=3\n");

  // The closure of /usr/bin/env: each library once at its canonical path,
  // every other lookup path a relative symlink that resolves to it.
  const Closure closure = elf_closure("/usr/bin/env");
  ASSERT_FALSE(closure.libraries.empty());
  for (const ResolvedLibrary& lib : closure.libraries) {
    expect(lib.canonical.substr(1), 0100755);
    EXPECT_EQ(by[lib.canonical.substr(1)].size, lib.size) << lib.canonical;
    for (const std::string& p : lib.image_paths) {
      if (p == lib.canonical) continue;
      expect(p.substr(1), 0120777);
      EXPECT_EQ((fs::path(p).parent_path() / by[p.substr(1)].symlink_target).lexically_normal().string(),
                lib.canonical)
          << p;
    }
  }
}

TEST_F(BuilderTest, GnuCpioListsExactModesOwnersDevicesAndLinks) {
  const BuildResult result = build(full_spec("none"), "img.cpio");
  const std::string listing = run("cpio -itv --numeric-uid-gid --quiet < '" + result.output.string() + "' 2>&1");
  std::set<std::string> lines;
  std::istringstream in(listing);
  for (std::string line; std::getline(in, line);) lines.insert(squeeze(line));
  for (const std::string& want : {
           std::string("crw------- 1 0 0 5, 1 Jan 1 1970 dev/console"),
           std::string("crw-rw-rw- 1 0 0 1, 3 Jan 1 1970 dev/null"),
           std::string("crw-rw-rw- 1 0 0 1, 9 Jan 1 1970 dev/urandom"),
           std::string("crw-r--r-- 1 0 0 1, 11 Jan 1 1970 dev/kmsg"),
           std::string("brw-rw---- 1 0 6 254, 0 Jan 1 1970 dev/vda"),
           std::string("drwxrwxrwt 2 0 0 0 Jan 1 1970 tmp"),
           std::string("drwx------ 2 0 0 0 Jan 1 1970 root"),
           std::string("drwxr-x--- 2 33 0 0 Jan 1 1970 var/www"),
           std::string("lrwxrwxrwx 1 0 0 7 Jan 1 1970 bin/sh -> busybox"),
           std::string("-rw------- 1 33 0 5 Jan 1 1970 etc/hostname"),
           // A hard-link group: the data goes with the last name only.
           std::string("-rwxr-xr-x 2 0 0 0 Jan 1 1970 bin/busybox"),
           std::string("-rwxr-xr-x 2 0 0 ") + std::to_string(fs::file_size("/bin/busybox")) + " Jan 1 1970 sbin/ash",
       }) {
    EXPECT_TRUE(lines.count(want)) << "missing: " << want << "\nin:\n" << listing;
  }
  // keel-image ls agrees on the count.
  EXPECT_EQ(list_image(slurp(result.output)).size(), result.entries);
}

TEST_F(BuilderTest, InterpreterResolvesInsideTheUnpackedTree) {
  const BuildResult result = build(full_spec("gzip"), "img.cpio.gz");
  const fs::path root = dir_.path() / "unpacked";
  fs::create_directories(root);
  // Device nodes may fail to unpack without root; the rest must not.
  run("cd '" + root.string() + "' && zcat '" + result.output.string() + "' | cpio -id --quiet --no-absolute-filenames 2>/dev/null");
  const ElfInfo env = read_elf("/usr/bin/env");
  ASSERT_FALSE(env.interpreter.empty());
  const fs::path interp = root / env.interpreter.substr(1);
  ASSERT_TRUE(fs::is_symlink(interp) || fs::is_regular_file(interp)) << interp;
  std::error_code ec;
  const fs::path real = fs::canonical(interp, ec);
  ASSERT_FALSE(ec) << interp << ": " << ec.message();
  EXPECT_TRUE(real.string().starts_with(fs::canonical(root).string() + "/")) << real;
  EXPECT_TRUE(fs::is_regular_file(real));
  // Every DT_NEEDED of env resolves in the tree through the default directories.
  for (const std::string& needed : env.needed) {
    EXPECT_TRUE(fs::exists(root / "lib/x86_64-linux-gnu" / needed) || fs::exists(root / "usr/lib/x86_64-linux-gnu" / needed))
        << needed;
  }
  EXPECT_TRUE(fs::is_regular_file(root / "bin/busybox"));
}

TEST_F(BuilderTest, TwoBuildsAreByteIdenticalForEveryCompression) {
  for (const std::string compression : {"gzip", "zstd", "xz", "none"}) {
    const BuildResult a = build(full_spec(compression), "a." + compression);
    const BuildResult b = build(full_spec(compression), "b." + compression);
    const std::string bytes_a = slurp(a.output), bytes_b = slurp(b.output);
    EXPECT_EQ(bytes_a.size(), a.compressed == 0 ? a.bytes : a.compressed) << compression;
    EXPECT_TRUE(bytes_a == bytes_b) << compression << ": the two builds differ";
    if (compression != "none") {
      EXPECT_LT(a.compressed, a.bytes) << compression;
    }
    // What is inside is the same in every compression.
    EXPECT_EQ(list_image(bytes_a), list_image(slurp(build(full_spec("none"), "plain.cpio").output))) << compression;
  }
  EXPECT_EQ(slurp(dir_.path() / "a.gzip").substr(0, 2), "\x1f\x8b");
  EXPECT_EQ(slurp(dir_.path() / "a.zstd").substr(0, 4), "\x28\xb5\x2f\xfd");
  EXPECT_EQ(read_image_file(slurp(dir_.path() / "a.zstd"), "/etc/keel/cmdline"), "quiet loglevel=3\n");
  EXPECT_EQ(slurp(dir_.path() / "a.xz").substr(0, 6), std::string("\xfd\x37zXZ\0", 6));
  EXPECT_EQ(read_image_file(slurp(dir_.path() / "a.xz"), "/etc/keel/cmdline"), "quiet loglevel=3\n");
}

// The spec's level reaches the compressor: another level, other bytes (the
// same content), and each level is reproducible.
TEST_F(BuilderTest, CompressionLevelFromTheSpec) {
  for (const std::string compression : {"gzip", "zstd", "xz"}) {
    std::string spec = full_spec(compression);
    const std::string key = "compression = \"" + compression + "\"";
    spec.replace(spec.find(key), key.size(), key + "\nlevel = 1");
    const BuildResult fast = build(spec, "fast." + compression);
    const BuildResult again = build(spec, "again." + compression);
    const BuildResult best = build(full_spec(compression), "default." + compression);
    EXPECT_EQ(fast.level, 1) << compression;
    EXPECT_EQ(best.level, default_level(parse_compression(compression))) << compression;
    EXPECT_NE(fast.summary().find(compression + " level 1)"), std::string::npos) << fast.summary();
    const std::string fast_bytes = slurp(fast.output);
    EXPECT_TRUE(fast_bytes == slurp(again.output)) << compression << ": two level-1 builds differ";
    EXPECT_FALSE(fast_bytes == slurp(best.output)) << compression << ": level 1 and the default gave the same bytes";
    EXPECT_EQ(list_image(fast_bytes), list_image(slurp(best.output))) << compression;
  }
}

TEST_F(BuilderTest, DirOutputIsAPlainTree) {
  std::string spec = full_spec("none");
  spec.replace(spec.find("compression = \"none\""), 20, "format = \"dir\"");
  const BuildResult result = build(spec, "tree");
  const fs::path root = result.output;
  EXPECT_EQ(result.format, "dir");
  struct stat st {};
  ASSERT_EQ(::lstat((root / "tmp").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777u);
  ASSERT_EQ(::lstat((root / "root").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(::lstat((root / "etc/hostname").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_mtime, 0);
  EXPECT_EQ(slurp(root / "etc/hostname"), "demo\n");
  EXPECT_EQ(fs::read_symlink(root / "bin/sh"), "busybox");
  ASSERT_EQ(::lstat((root / "bin/busybox").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);  // /sbin/ash
  EXPECT_TRUE(fs::is_regular_file(fs::canonical(root / read_elf("/usr/bin/env").interpreter.substr(1))));
  if (::geteuid() == 0) {
    ASSERT_EQ(::lstat((root / "dev/vda").c_str(), &st), 0);
    EXPECT_TRUE(S_ISBLK(st.st_mode));
    EXPECT_EQ(st.st_gid, 6u);
    ASSERT_EQ(::lstat((root / "var/www").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 33u);
  } else {
    EXPECT_FALSE(fs::exists(root / "dev/vda"));
    EXPECT_EQ(result.skipped_devices, 5u);
    EXPECT_NE(log_.str().find("warning: not running as root: skipped 5 device node(s)"), std::string::npos)
        << log_.str();
  }
  // A second build into the same, now non-empty directory is refused.
  EXPECT_THROW(build(spec, "tree"), ImageError);
}

TEST_F(BuilderTest, ErrorsNameTheSpecLines) {
  const std::string program = "[[program]]\nsource = \"/usr/bin/env\"\npath = \"/usr/bin/env\"\n";  // lines 1-3
  // A library given with other contents: both lines named.
  std::string e = build_error(program + "\n[[file]]\npath = \"/usr/lib/x86_64-linux-gnu/libc.so.6\"\ncontent = \"x\"\n");
  EXPECT_NE(e.find("bad.toml:5: error: /usr/lib/x86_64-linux-gnu/libc.so.6 has two sources with different contents"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("[[file]] at line 5"), std::string::npos) << e;
  EXPECT_NE(e.find("library of [[program]] /usr/bin/env at line 1"), std::string::npos) << e;
  // The same library with the same bytes is fine (and keeps the [[file]]'s mode).
  EXPECT_EQ(build_error(program + "\n[[file]]\npath = \"/usr/lib/x86_64-linux-gnu/libc.so.6\"\nsource = "
                                  "\"/usr/lib/x86_64-linux-gnu/libc.so.6\"\n"),
            "");
  // Something under a symlink.
  e = build_error("[[symlink]]\npath = \"/opt\"\ntarget = \"usr\"\n\n[[file]]\npath = \"/opt/x\"\ncontent = \"\"\n");
  EXPECT_NE(e.find("bad.toml:6: error: /opt/x is inside /opt, which is not a directory"), std::string::npos) << e;
  // ... also when the parent comes from a library's lookup path.
  e = build_error(program + "\n[[symlink]]\npath = \"/lib64\"\ntarget = \"lib\"\n");
  EXPECT_NE(e.find("bad.toml:1: error: cannot place /lib64/ld-linux-x86-64.so.2"), std::string::npos) << e;
  EXPECT_NE(e.find("that is a symlink from [[symlink]] at line 5"), std::string::npos) << e;
  // A tree colliding with a file.
  write_file(dir_.path() / "overlay/etc/motd", "other\n");
  e = build_error("[[tree]]\nsource = \"overlay\"\npath = \"/\"\n\n[[file]]\npath = \"/etc/motd\"\ncontent = \"x\"\n");
  EXPECT_NE(e.find("bad.toml:5: error: /etc/motd has two sources"), std::string::npos) << e;
  // Not a program.
  e = build_error("[[program]]\nsource = \"motd\"\npath = \"/bin/x\"\n");
  EXPECT_NE(e.find("bad.toml:1: error: [[program]] /bin/x"), std::string::npos) << e;
  // A library that cannot be resolved: named, with the directories searched.
  {
    std::string env = slurp("/usr/bin/env");
    for (auto pos = env.find(std::string("libc.so.6\0", 10)); pos != std::string::npos;
         pos = env.find(std::string("libc.so.6\0", 10), pos)) {
      env[pos + 3] = 'q';  // libq.so.6
    }
    write_file(dir_.path() / "needy", env);
    e = build_error("\n[[program]]\nsource = \"needy\"\npath = \"/bin/needy\"\n");
    EXPECT_NE(e.find("bad.toml:2: error: [[program]] /bin/needy: libq.so.6"), std::string::npos) << e;
    EXPECT_NE(e.find("/usr/lib/x86_64-linux-gnu"), std::string::npos) << e;
  }
  // An ext4 image too small for its content: mke2fs's refusal, at [output].
  write_file(dir_.path() / "big", std::string(std::size_t{12} << 20, 'x'));
  e = build_error("[output]\nformat = \"ext4\"\nsize = \"8M\"\n[[file]]\nsource = \"big\"\npath = \"/big\"\n");
  EXPECT_NE(e.find("bad.toml:1: error: mke2fs failed"), std::string::npos) << e;
  // An unknown module.
  fs::create_directories(dir_.path() / "modules/6.1.0-test");
  e = build_error("[modules]\nnames = [\"nosuchmod\"]\ntree = \"modules/6.1.0-test\"\n");
  EXPECT_NE(e.find("bad.toml:1: error: [modules]: "), std::string::npos) << e;
  EXPECT_NE(e.find("nosuchmod"), std::string::npos) << e;
}

TEST_F(BuilderTest, ScriptProgramBringsItsInterpreter) {
  write_file(dir_.path() / "hello.sh", "#!/bin/sh\necho hi\n");
  const BuildResult result = build("[output]\ncompression = \"none\"\n[[program]]\nsource = \"hello.sh\"\npath = \"/usr/bin/hello\"\n", "s.cpio");
  auto by = entries(slurp(result.output));
  ASSERT_TRUE(by.count("usr/bin/hello"));
  ASSERT_TRUE(by.count("bin/sh"));  // the host's /bin/sh, with its closure when dynamic
  const auto canonical = resolve_in_root("/", "/bin/sh");
  ASSERT_TRUE(canonical);
  EXPECT_TRUE(by.count(canonical->substr(1))) << *canonical;
  // An interpreter the spec provides is not taken from the host.
  const BuildResult own = build("[output]\ncompression = \"none\"\n[[program]]\nsource = \"hello.sh\"\npath = \"/usr/bin/hello\"\n\n[[program]]\n"
                                "source = \"/bin/busybox\"\npath = \"/bin/busybox\"\n\n[[symlink]]\npath = \"/bin/sh\"\n"
                                "target = \"busybox\"\n",
                                "s2.cpio");
  auto by2 = entries(slurp(own.output));
  EXPECT_EQ(by2["bin/sh"].symlink_target, "busybox");
  EXPECT_FALSE(by2.count("usr/lib/x86_64-linux-gnu/libc.so.6"));
}

TEST_F(BuilderTest, KeelWithInitLinksAndConfig) {
  write_file(dir_.path() / "keel.d/web.toml", "[service]\n");
  // Any static binary stands in for keel here.
  const BuildResult result = build(R"([output]
compression = "none"

[keel]
binary = "/bin/busybox"
config = ["keel.d/web.toml"]
)",
                                   "k.cpio");
  const std::string archive = slurp(result.output);
  auto by = entries(archive);
  EXPECT_EQ(by["sbin/keel"].mode, 0100755u);
  EXPECT_EQ(by["init"].symlink_target, "sbin/keel");
  EXPECT_EQ(by["sbin/init"].symlink_target, "keel");
  EXPECT_EQ(by["etc/keel/web.toml"].mode, 0100644u);
  EXPECT_EQ(entry_data(archive, by["etc/keel/web.toml"]), "[service]\n");
}

TEST_F(BuilderTest, SourceDateEpochSetsEveryMtime) {
  const fs::path spec = dir_.path() / "e.toml";
  write_file(spec, "[output]\ncompression = \"none\"\n[[file]]\npath = \"/etc/x\"\ncontent = \"x\"\n");
  ::setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
  BuildOptions options;
  options.output = dir_.path() / "e.cpio";
  const BuildResult result = build_image(spec, options);
  ::setenv("SOURCE_DATE_EPOCH", "soon", 1);
  EXPECT_THROW((void)source_date_epoch(), ImageError);
  ::unsetenv("SOURCE_DATE_EPOCH");
  EXPECT_EQ(source_date_epoch(), 0u);
  for (const CpioEntry& e : read_cpio(slurp(result.output)).entries) EXPECT_EQ(e.mtime, 1700000000u) << e.name;
}

fs::path cached_modules() {
  std::vector<fs::path> roots;
  if (const char* env = std::getenv("KEEL_KERNEL_CACHE")) roots.push_back(fs::path(env) / "current");
  for (const fs::path& base : testutil::kernel_cache_bases()) roots.push_back(base / "build/kernel-cache/current");
  for (const fs::path& root : roots) {
    std::error_code ec;
    if (fs::is_directory(root / "lib/modules", ec)) {
      for (const auto& entry : fs::directory_iterator(root / "lib/modules", ec)) return entry.path();
    }
  }
  return {};
}

TEST_F(BuilderTest, ModulesAndTheirLoadOrder) {
  const fs::path tree = cached_modules();
  if (tree.empty()) GTEST_SKIP() << "no kernel cache: run scripts/fetch-kernel.sh";
  const std::string version = tree.filename().string();
  const BuildResult result = build("[output]\ncompression = \"none\"\n[modules]\nnames = [\"ext4\"]\ntree = \"" +
                                       tree.string() + "\"\n",
                                   "m.cpio");
  const std::string archive = slurp(result.output);
  auto by = entries(archive);
  ASSERT_TRUE(by.count("etc/keel/modules.load"));
  const std::string load(entry_data(archive, by["etc/keel/modules.load"]));
  std::vector<std::string> lines;
  std::istringstream in(load);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_GE(lines.size(), 2u) << load;
  EXPECT_EQ(lines.back(), "/lib/modules/" + version + "/kernel/fs/ext4/ext4.ko");
  EXPECT_NE(load.find("/jbd2.ko\n"), std::string::npos) << load;
  EXPECT_LT(load.find("/jbd2.ko\n"), load.find("/ext4.ko\n"));
  for (const std::string& line : lines) {
    ASSERT_TRUE(by.count(line.substr(1))) << line;
    EXPECT_EQ(by[line.substr(1)].mode, 0100644u) << line;
  }
}

TEST_F(BuilderTest, TreeKeepsModesAndHonoursExcludes) {
  write_file(dir_.path() / "overlay/etc/app.conf", "a=1\n");
  write_file(dir_.path() / "overlay/etc/app.conf.orig", "old\n");
  write_file(dir_.path() / "overlay/.git/HEAD", "ref\n");
  write_file(dir_.path() / "overlay/opt/run.sh", "#!/bin/sh\n");
  fs::permissions(dir_.path() / "overlay/opt/run.sh", fs::perms(0750));
  fs::create_symlink("app.conf", dir_.path() / "overlay/etc/current.conf");
  const BuildResult result = build(R"([output]
compression = "none"

[[tree]]
source = "overlay"
path = "/"
exclude = ["*.orig", ".git"]
owner = 33
)",
                                   "t.cpio");
  auto by = entries(slurp(result.output));
  EXPECT_EQ(by["etc/app.conf"].mode, 0100644u);
  EXPECT_EQ(by["etc/app.conf"].uid, 33u);
  EXPECT_EQ(by["opt/run.sh"].mode, 0100750u);
  EXPECT_EQ(by["etc/current.conf"].symlink_target, "app.conf");
  EXPECT_FALSE(by.count("etc/app.conf.orig"));
  EXPECT_FALSE(by.count(".git"));
  EXPECT_FALSE(by.count(".git/HEAD"));
  EXPECT_EQ(by["etc"].uid, 33u);  // the tree's directory wins over the default layout's
}

TEST(BuilderProgress, LiveLineOnATerminalOnly) {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) GTEST_SKIP() << "no pty";
  const int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
  ASSERT_GE(slave, 0);
  {
    Progress progress(slave);
    EXPECT_TRUE(progress.live());
    progress.add(4'500'000);
    progress.add(0, false);  // a directory: not counted as a file
    progress.done();
  }
  // A pty may hand the output over in more than one read.
  std::string shown;
  for (int tries = 0; tries < 100 && shown.find("\r\x1b[K") == std::string::npos; ++tries) {
    pollfd pfd{master, POLLIN, 0};
    if (::poll(&pfd, 1, 20) <= 0) continue;
    char buf[256];
    const ssize_t n = ::read(master, buf, sizeof buf);
    if (n <= 0) break;
    shown.append(buf, static_cast<std::size_t>(n));
  }
  ASSERT_FALSE(shown.empty());
  EXPECT_NE(shown.find("\rbuilding: 1 files, 4.5 MB"), std::string::npos) << shown;
  EXPECT_NE(shown.find("\r\x1b[K"), std::string::npos) << shown;  // erased at the end
  ::close(slave);
  ::close(master);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  EXPECT_FALSE(Progress(pipe_fds[1]).live());
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}

TEST(BuilderHelpers, RelativeLinksAndSummary) {
  EXPECT_EQ(relative_link("/lib64/ld-linux-x86-64.so.2", "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
            "../usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
  EXPECT_EQ(relative_link("/init", "/sbin/keel"), "sbin/keel");
  EXPECT_EQ(relative_link("/sbin/init", "/sbin/keel"), "keel");
  BuildResult r;
  r.output = "out.cpio.gz";
  r.format = "cpio";
  r.compression = "gzip";
  r.entries = 3;
  r.bytes = 1024;
  r.compressed = 100;
  r.level = 6;
  EXPECT_EQ(r.summary(), "wrote out.cpio.gz: 3 entries, 1024 bytes (100 gzip level 6)");
  EXPECT_EQ(human_bytes(4'500'000), "4.5 MB");
  Progress quiet(-1);
  EXPECT_FALSE(quiet.live());
  quiet.add(10);
}

// ---- One real boot --------------------------------------------------------

fs::path cached_kernel() {
  std::vector<fs::path> caches;
  if (const char* env = std::getenv("KEEL_KERNEL_CACHE")) caches.push_back(fs::path(env) / "current/boot");
  for (const fs::path& base : testutil::kernel_cache_bases()) caches.push_back(base / "build/kernel-cache/current/boot");
  for (const fs::path& boot : caches) {
    for (const std::string prefix : {"vmlinux-", "vmlinuz-"}) {
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(boot, ec)) {
        if (entry.path().filename().string().starts_with(prefix)) return entry.path();
      }
    }
  }
  return {};
}

TEST_F(BuilderTest, BuiltImageBootsInQemu) {
  const fs::path kernel = cached_kernel();
  if (kernel.empty()) GTEST_SKIP() << "no kernel cache: run scripts/fetch-kernel.sh";
  if (run("command -v qemu-system-x86_64").empty()) GTEST_SKIP() << "qemu-system-x86_64 is not installed";
  const BuildResult image = build(R"([output]
compression = "gzip"

[[program]]
source = "/bin/busybox"
path = "/bin/busybox"

[[file]]
path = "/init"
mode = "0755"
content = "#!/bin/busybox sh\necho KEEL-IMAGE-BOOT-OK\nbusybox poweroff -f\n"
)",
                                  "boot.cpio.gz");
  BootOptions options;
  options.kernel = kernel;
  options.initrd = image.output;
  options.expect = {"KEEL-IMAGE-BOOT-OK"};
  options.timeout = std::chrono::seconds(60);
  options.accel = Accel::Tcg;  // a few seconds, and the same on every machine
  std::ostringstream console, log;
  const BootResult result = boot(options, console, log);
  EXPECT_TRUE(result.passed()) << result.message << "\n" << log.str() << console.str();
}

// Boot an image built from `spec_text` with the cached kernel under TCG;
// the console must show `expect` in order and the guest must power off.
void expect_boot(BuildResult image, const fs::path& kernel, std::vector<std::string> expect) {
  BootOptions options;
  options.kernel = kernel;
  options.initrd = image.output;
  options.expect = std::move(expect);
  options.timeout = std::chrono::seconds(60);
  options.accel = Accel::Tcg;
  std::ostringstream console, log;
  const BootResult result = boot(options, console, log);
  EXPECT_TRUE(result.passed()) << result.message << "\n" << log.str() << console.str();
}

// The minimal keel image: keel is /init, mounts the early filesystems, runs
// /etc/keel/main, and when it exits syncs and powers the machine off.
// The keel under test goes into the image as one file: only a static one
// runs there (a sanitizer build links keel dynamically).
bool keel_is_static() { return read_elf(KEEL_BINARY).is_static(); }

// That image: keel, a static BusyBox, and /etc/keel/main a BusyBox sh script
// whose lines are `main`, in TOML basic-string escapes (a backslash-n ends a line).
std::string keel_main_spec(const std::string& compression, const std::string& main) {
  return "[output]\ncompression = \"" + compression + "\"\n\n[keel]\nbinary = \"" + KEEL_BINARY +
         "\"\n\n[[program]]\nsource = \"/bin/busybox\"\npath = \"/bin/busybox\"\n\n[[file]]\npath = "
         "\"/etc/keel/main\"\nmode = \"0755\"\ncontent = \"#!/bin/busybox sh\\n" +
         main + "\"\n";
}

TEST_F(BuilderTest, KeelImageBootsToKeelRunsItsMainProgramAndPowersOff) {
  const fs::path kernel = cached_kernel();
  if (kernel.empty()) GTEST_SKIP() << "no kernel cache: run scripts/fetch-kernel.sh";
  if (!keel_is_static()) GTEST_SKIP() << KEEL_BINARY << " is not static (a sanitizer build)";
  const BuildResult image = build(keel_main_spec("zstd", R"(echo KEEL-MAIN-RAN as $$, proc: $(/bin/busybox stat -f -c %T /proc)\nexit 4\n)"),
                                  "keel.cpio.zst");
  expect_boot(image, kernel,
              {"keel: running as the system's init \\(pid 1\\)", "KEEL-MAIN-RAN as [0-9]+, proc: proc", "keel: main: pid [0-9]+ exited with status 4",
               "keel: syncing filesystems, then power-off"});
}

// The kernel's own xz decoder unpacks what keel-image's xz writes: the
// CRC32 check, the x86 filter and the 16 MiB dictionary (compress.cpp).
// A stream the kernel refused would end in "junk in compressed archive"
// and no /init.
TEST_F(BuilderTest, XzImageBootsOnTheKernelsOwnDecoder) {
  const fs::path kernel = cached_kernel();
  if (kernel.empty()) GTEST_SKIP() << "no kernel cache: run scripts/fetch-kernel.sh";
  if (!keel_is_static()) GTEST_SKIP() << KEEL_BINARY << " is not static (a sanitizer build)";
  const BuildResult image =
      build(keel_main_spec("xz", R"(echo XZ-MAIN-RAN $(/bin/busybox md5sum /bin/busybox)\n)"), "keel.cpio.xz");
  ASSERT_EQ(image.compression, "xz");
  int rc = 0;
  const std::string md5 = run("md5sum /bin/busybox", rc).substr(0, 32);
  expect_boot(image, kernel,
              {"keel: running as the system's init \\(pid 1\\)", "XZ-MAIN-RAN " + md5,
               "keel: syncing filesystems, then power-off"});
}

// Services on a real kernel: keel mounts cgroup2, gives each service a
// cgroup with its limits, runs them in dependency order under their user,
// and keelctl (keel under its other name) talks to it; when the main
// program ends, every service is stopped and the machine powers off.
TEST_F(BuilderTest, KeelImageSupervisesServicesInCgroupsWithTheirLimits) {
  const fs::path kernel = cached_kernel();
  if (kernel.empty()) GTEST_SKIP() << "no kernel cache: run scripts/fetch-kernel.sh";
  if (!keel_is_static()) GTEST_SKIP() << KEEL_BINARY << " is not static (a sanitizer build)";
  const BuildResult image = build(std::string(R"SPEC([output]
compression = "zstd"

[keel]
binary = ")SPEC") + KEEL_BINARY + R"SPEC("

[[program]]
source = "/bin/busybox"
path = "/bin/busybox"

[[user]]
name = "daemon"
uid = 1

[[file]]
path = "/etc/keel/services/limited.toml"
content = """
type = "oneshot"
user = "daemon"
stdout = "console"
stderr = "console"
command = ["/bin/busybox", "sh", "-c", "cd /sys/fs/cgroup/keel/limited && echo LIMITS $(/bin/busybox cat /proc/self/cgroup) mem=$(/bin/busybox cat memory.max) pids=$(/bin/busybox cat pids.max) cpu=$(/bin/busybox cat cpu.weight) uid=$(/bin/busybox id -u)"]
[cgroup]
memory_max = "32M"
pids_max = 20
cpu_weight = 50
"""

[[file]]
path = "/etc/keel/services/daemon.toml"
content = """
type = "notify-fd"
requires = ["limited"]
command = ["/bin/busybox", "sh", "-c", "echo >&3; exec /bin/busybox sleep 600"]
"""

[[file]]
path = "/etc/keel/main"
mode = "0755"
content = "#!/bin/busybox sh\n/sbin/keelctl wait daemon --ready --timeout 30 && /sbin/keelctl status daemon --json\n"
)SPEC",
                                  "services.cpio.zst");
  expect_boot(image, kernel,
              {"LIMITS 0::/keel/limited mem=33554432 pids=20 cpu=50 uid=1", "keel: daemon: ready",
               "\"name\": \"daemon\".*\"state\": \"running\"", "keel: daemon: stopped",
               "keel: every service is stopped", "then power-off"});
}

// An image with modules: keel loads the listed closure in order at boot.
TEST_F(BuilderTest, KeelImageLoadsItsModulesAtBoot) {
  const fs::path kernel = cached_kernel();
  const fs::path tree = cached_modules();
  if (kernel.empty() || tree.empty()) GTEST_SKIP() << "no kernel cache: run scripts/fetch-kernel.sh";
  if (!keel_is_static()) GTEST_SKIP() << KEEL_BINARY << " is not static (a sanitizer build)";
  const BuildResult image = build(std::string(R"([output]
compression = "gzip"

[keel]
binary = ")") + KEEL_BINARY + R"("

[modules]
names = ["virtio_rng"]
tree = ")" + tree.string() + R"("

[[program]]
source = "/bin/busybox"
path = "/bin/busybox"

[[file]]
path = "/etc/keel/main"
mode = "0755"
content = "#!/bin/busybox sh\n/bin/busybox grep -o '^virtio_rng ' /proc/modules\n"
)",
                                  "modules.cpio.gz");
  expect_boot(image, kernel,
              {"keel: loaded module /lib/modules/.*/virtio_ring.ko", "keel: loaded module /lib/modules/.*/virtio-rng.ko",
               "keel: modules: [0-9]+ loaded, 0 failed", "^virtio_rng $", "then power-off"});
}

}  // namespace
}  // namespace keel::image
