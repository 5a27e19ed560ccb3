// keel-image's disk-root outputs (src/image/erofs.hpp, src/image/disk.hpp):
// erofs images (owners, modes, set-id bits, device numbers and the label
// read back from the image; fsck.erofs; two builds byte-identical; built by
// a throwaway uid with the same bytes), GPT disk images (sfdisk reads the
// layout and names; each partition, cut out with dd, passes fsck.erofs or
// e2fsck -fn and has its label; reproducible; different roots get different
// GUIDs) and the I1 words the stage gets.
//
// Needs mkfs.erofs, fsck.erofs, dump.erofs (erofs-utils), fakeroot, sfdisk
// (fdisk), mke2fs, debugfs, e2fsck (e2fsprogs), blkid and /bin/busybox
// (dev.sh's TEST_PACKAGES).
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <sstream>
#include <string>

#include "../common/throwaway_uid.hpp"
#include "image/builder.hpp"
#include "image/diagnostic.hpp"
#include "image/disk.hpp"
#include "image/listing.hpp"
#include "image/progress.hpp"
#include "image/spec.hpp"
#include "image/stage_initramfs.hpp"
#include "system/keel_config.hpp"
#include "test_util.hpp"

namespace keel::image {
namespace {

namespace fs = std::filesystem;

using testutil::quoted;
using testutil::run;
using testutil::slurp;
using testutil::write_file;

struct TempDir : testutil::TempDir {
  TempDir() : testutil::TempDir("keel-disk-test-") {}
};

// A program, a hard link, a set-uid file owned by a user, a read-only
// directory, a block device; the default layout adds /dev/console, ...
std::string contents() {
  return R"(
[[program]]
source = "/bin/busybox"
path = "/bin/busybox"

[[hardlink]]
path = "/sbin/ash"
target = "/bin/busybox"

[[device]]
path = "/dev/vda"
type = "block"
major = 254
minor = 3
mode = "0660"
group = 6

[[user]]
name = "www"
uid = 33

[[file]]
path = "/etc/motd"
content = "welcome\n"
mode = "04750"
owner = "www"
group = 7

[[dir]]
path = "/ro"
mode = "0555"
)";
}

class DiskImageTest : public ::testing::Test {
 protected:
  BuildResult build(const std::string& spec_text, const std::string& out_name, std::uint32_t mtime = 0) {
    const fs::path spec = dir_.path() / "spec.toml";
    write_file(spec, spec_text);
    BuildOptions options;
    options.output = dir_.path() / out_name;
    options.mtime = mtime;
    options.log = &log_;
    return build_image(spec, options);
  }

  // dump.erofs --path=PATH: "Uid: U   Gid: G  Access: 0MODE/..." and the NID.
  static std::string dump(const fs::path& image, const std::string& path) {
    return run("dump.erofs --path=" + path + " " + quoted(image) + " 2>&1");
  }

  // The raw compact inode of a NID (metadata starts at block 0 here):
  // i_mode (with the type and set-id bits) and i_u (the device number).
  static std::pair<std::uint32_t, std::uint32_t> raw_inode(const fs::path& image, const std::string& dumped) {
    const auto at = dumped.find("NID: ");
    if (at == std::string::npos) return {0, 0};
    const std::uint64_t nid = std::stoull(dumped.substr(at + 5));
    const std::string bytes = slurp(image);
    const std::size_t o = nid * 32;
    if (o + 32 > bytes.size()) return {0, 0};
    auto le = [&](std::size_t p, int n) {
      std::uint32_t v = 0;
      for (int i = n - 1; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(bytes[p + static_cast<std::size_t>(i)]);
      return v;
    };
    return {le(o + 4, 2), le(o + 16, 4)};
  }

  // Whether the erofs superblock's checksum (sb_csum: crc32c, seed ~0, no
  // final inversion, over the superblock's block from offset 1024 with the
  // checksum field zeroed) matches: the kernel refuses to mount otherwise,
  // and fsck.erofs 1.5 does not check it.
  static bool superblock_checksum_ok(const fs::path& image) {
    std::string block = slurp(image).substr(1024, 4096 - 1024);
    std::uint32_t stored = 0;
    for (int i = 3; i >= 0; --i) stored = stored << 8 | static_cast<unsigned char>(block[4 + static_cast<std::size_t>(i)]);
    block.replace(4, 4, std::string(4, '\0'));
    std::uint32_t crc = 0xffffffffU;
    for (const char c : block) {
      crc ^= static_cast<unsigned char>(c);
      for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82f63b78U & (0U - (crc & 1U)));
    }
    return crc == stored;
  }

  static std::string erofs_spec() { return "[output]\nformat = \"erofs\"\n" + contents(); }

  TempDir dir_;
  std::ostringstream log_;
};

TEST_F(DiskImageTest, ErofsKeepsOwnersModesDevicesAndLinks) {
  const BuildResult result = build(erofs_spec(), "root.erofs");
  EXPECT_EQ(result.format, "erofs");
  EXPECT_FALSE(fs::exists(dir_.path() / "root.erofs.tmp"));
  int rc = 0;
  const std::string fsck = run("fsck.erofs " + quoted(result.output) + " 2>&1", rc);
  EXPECT_EQ(rc, 0) << fsck;

  std::string d = dump(result.output, "/etc/motd");
  EXPECT_NE(d.find("Uid: 33   Gid: 7  Access: 0750"), std::string::npos) << d;
  EXPECT_EQ(raw_inode(result.output, d).first, 0104750u) << d;  // regular file, set-uid kept
  d = dump(result.output, "/dev/vda");
  EXPECT_NE(d.find("block dev"), std::string::npos) << d;
  EXPECT_NE(d.find("Uid: 0   Gid: 6  Access: 0660"), std::string::npos) << d;
  const auto [mode, rdev] = raw_inode(result.output, d);
  EXPECT_EQ(mode, 060660u) << d;
  EXPECT_EQ(rdev, (254u << 8) | 3u) << d;  // new_encode_dev(254, 3)
  d = dump(result.output, "/dev/console");
  EXPECT_NE(d.find("char dev"), std::string::npos) << d;
  EXPECT_EQ(raw_inode(result.output, d).second, (5u << 8) | 1u) << d;
  d = dump(result.output, "/ro");
  EXPECT_NE(d.find("Uid: 0   Gid: 0  Access: 0555"), std::string::npos) << d;
  d = dump(result.output, "/tmp");
  EXPECT_EQ(raw_inode(result.output, d).first, 041777u) << d;
  d = dump(result.output, "/");
  EXPECT_NE(d.find("Uid: 0   Gid: 0  Access: 0755"), std::string::npos) << d;
  d = dump(result.output, "/sbin/ash");  // the hard link: one inode, two links
  EXPECT_NE(d.find("Links: 2"), std::string::npos) << d;
  EXPECT_NE(d.find("Timestamp: 1970-01-01 00:00:00"), std::string::npos) << d;

  const std::string blkid = run("blkid -o export " + quoted(result.output) + " 2>&1");
  EXPECT_NE(blkid.find("LABEL=keel-root\n"), std::string::npos) << blkid;
  EXPECT_NE(blkid.find("TYPE=erofs\n"), std::string::npos) << blkid;
}

TEST_F(DiskImageTest, ErofsBuildsAreByteIdenticalAndTheLabelIsSettable) {
  const BuildResult first = build(erofs_spec(), "one.erofs", 1700000000);
  ::sleep(1);  // a clock that leaks into the image would differ now
  const BuildResult second = build(erofs_spec(), "two.erofs", 1700000000);
  EXPECT_TRUE(slurp(first.output) == slurp(second.output));
  const std::string d = dump(first.output, "/etc/motd");
  EXPECT_NE(d.find("Timestamp: 2023-11-14 22:13:20"), std::string::npos) << d;
  const BuildResult third = build(erofs_spec(), "three.erofs", 0);
  EXPECT_FALSE(slurp(first.output) == slurp(third.output));

  std::string spec = erofs_spec();
  spec.insert(spec.find('\n') + 1, "label = \"appliance\"\n");
  const BuildResult labelled = build(spec, "labelled.erofs");
  const std::string blkid = run("blkid -o export " + quoted(labelled.output) + " 2>&1");
  EXPECT_NE(blkid.find("LABEL=appliance\n"), std::string::npos) << blkid;
  int rc = 0;
  const std::string fsck = run("fsck.erofs " + quoted(labelled.output) + " 2>&1", rc);
  EXPECT_EQ(rc, 0) << fsck;
  EXPECT_TRUE(superblock_checksum_ok(labelled.output));  // recomputed after the label was written
  EXPECT_TRUE(superblock_checksum_ok(first.output));
}

// Run as root here, so this is the test that builds without root: a uid no
// one else uses, no supplementary groups; the bytes are the same.
TEST_F(DiskImageTest, ErofsAndDiskBuildTheSameBytesAsAThrowawayUid) {
  if (::geteuid() != 0) GTEST_SKIP() << "not root: every other test already builds as an ordinary user";
  const std::string disk_spec = "[output]\nformat = \"disk\"\n" + contents() + "\n[disk]\nroot = \"erofs\"\n";
  const BuildResult erofs_root = build(erofs_spec(), "root.erofs");
  const BuildResult disk_root = build(disk_spec, "root.disk");
  const fs::path work = dir_.path() / "user";
  fs::create_directories(work);
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0711), 0);  // the throwaway uid passes through
  const uid_t uid = keel::testing::throwaway_uid();
  ASSERT_EQ(::chown(work.c_str(), uid, uid), 0);
  write_file(work / "erofs.toml", erofs_spec());
  write_file(work / "disk.toml", disk_spec);
  ASSERT_EQ(::chown((work / "erofs.toml").c_str(), uid, uid), 0);
  ASSERT_EQ(::chown((work / "disk.toml").c_str(), uid, uid), 0);
  const int rc = testutil::in_child(
      [&] {
        if (::setgroups(0, nullptr) != 0 || ::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0) {
          return 3;
        }
        ::setenv("TMPDIR", work.c_str(), 1);
        try {
          BuildOptions options;
          options.mtime = 0;
          options.output = work / "user.erofs";
          (void)build_image(work / "erofs.toml", options);
          options.output = work / "user.disk";
          (void)build_image(work / "disk.toml", options);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "%s\n", e.what());
          return 1;
        }
        return 0;
      },
      60000);
  ASSERT_EQ(rc, 0);
  struct stat st {};
  ASSERT_EQ(::stat((work / "user.erofs").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid);
  EXPECT_TRUE(slurp(work / "user.erofs") == slurp(erofs_root.output));
  EXPECT_TRUE(slurp(work / "user.disk") == slurp(disk_root.output));
}

// The partitions of a disk image as sfdisk -J reads them: start and size
// in sectors, and the name.
struct Part {
  std::uint64_t start = 0;
  std::uint64_t size = 0;
  std::string name;
  std::string type;
  std::string uuid;
};

std::vector<Part> partitions(const fs::path& disk, std::string& json) {
  json = run("sfdisk -J " + quoted(disk) + " 2>&1");
  std::vector<Part> out;
  for (std::size_t at = json.find("\"start\":"); at != std::string::npos; at = json.find("\"start\":", at + 1)) {
    Part p;
    p.start = std::stoull(json.substr(at + 8));
    const auto size = json.find("\"size\":", at);
    p.size = std::stoull(json.substr(size + 7));
    auto field = [&](const char* key) {
      const auto k = json.find(key, at);
      const auto open = json.find('"', k + std::string(key).size());
      return json.substr(open + 1, json.find('"', open + 1) - open - 1);
    };
    p.type = field("\"type\":");
    p.uuid = field("\"uuid\":");
    p.name = field("\"name\":");
    out.push_back(p);
  }
  return out;
}

fs::path cut(const fs::path& disk, const Part& p, const fs::path& to) {
  (void)run("dd if=" + quoted(disk) + " of=" + quoted(to) + " bs=512 skip=" + std::to_string(p.start) +
            " count=" + std::to_string(p.size) + " status=none");
  return to;
}

TEST_F(DiskImageTest, DiskWithAnErofsRootAndADataPartition) {
  const std::string spec = "[output]\nformat = \"disk\"\n" + contents() +
                           "\n[disk]\nroot = \"erofs\"\ndata_size = \"16M\"\ndata_mount = \"/srv/data\"\n"
                           "tmpfs = [\"/var\", \"/tmp\", \"/run/x\"]\n";
  const BuildResult result = build(spec, "one.disk", 1700000000);
  EXPECT_EQ(result.format, "disk");
  int rc = 0;
  const std::string verify = run("sfdisk --verify " + quoted(result.output) + " 2>&1", rc);
  EXPECT_EQ(rc, 0) << verify;
  EXPECT_NE(verify.find("No errors detected"), std::string::npos) << verify;
  std::string json;
  const std::vector<Part> parts = partitions(result.output, json);
  ASSERT_EQ(parts.size(), 2u) << json;
  EXPECT_NE(json.find("\"label\": \"gpt\""), std::string::npos) << json;
  EXPECT_EQ(parts[0].name, "keel-root");
  EXPECT_EQ(parts[0].type, "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709");
  EXPECT_EQ(parts[0].start, 2048u);
  EXPECT_EQ(parts[1].name, "keel-data");
  EXPECT_EQ(parts[1].type, "0FC63DAF-8483-4772-8E79-3D69D8477DE4");
  EXPECT_EQ(parts[1].size, 16u * 2048);
  EXPECT_EQ(parts[1].start % 2048, 0u);
  EXPECT_NE(parts[0].uuid, parts[1].uuid);

  const fs::path root = cut(result.output, parts[0], dir_.path() / "p1");
  std::string out = run("fsck.erofs " + quoted(root) + " 2>&1", rc);
  EXPECT_EQ(rc, 0) << out;
  out = run("blkid -o export " + quoted(root));
  EXPECT_NE(out.find("LABEL=keel-root\n"), std::string::npos) << out;
  // The mount points the stage needs exist in the read-only root.
  EXPECT_NE(dump(root, "/srv/data").find("Access: 0755"), std::string::npos);
  EXPECT_NE(dump(root, "/run/x").find("Access: 0755"), std::string::npos);
  EXPECT_NE(dump(root, "/etc/motd").find("Uid: 33   Gid: 7"), std::string::npos);

  const fs::path data = cut(result.output, parts[1], dir_.path() / "p2");
  out = run("e2fsck -fn " + quoted(data) + " 2>&1", rc);
  EXPECT_EQ(rc, 0) << out;
  out = run("blkid -o export " + quoted(data));
  EXPECT_NE(out.find("LABEL=keel-data\n"), std::string::npos) << out;
  EXPECT_NE(out.find("TYPE=ext4\n"), std::string::npos) << out;

  ::sleep(1);
  const BuildResult again = build(spec, "two.disk", 1700000000);
  EXPECT_TRUE(slurp(result.output) == slurp(again.output));

  // The stage's words (I1).
  const std::vector<std::string> words = stage_cmdline_words(parse_spec_file(dir_.path() / "spec.toml"));
  const std::vector<std::string> want = {"root=LABEL=keel-root", "rootfstype=erofs", "keel.data=LABEL=keel-data:/srv/data",
                                         "keel.tmpfs=/var,/tmp,/run/x"};
  EXPECT_EQ(words, want);
}

TEST_F(DiskImageTest, DiskWithAnExt4Root) {
  const std::string spec = "[output]\nformat = \"disk\"\nlabel = \"sys\"\n" + contents() +
                           "\n[disk]\nroot = \"ext4\"\nroot_size = \"24M\"\n";
  const BuildResult result = build(spec, "ext4.disk");
  std::string json;
  const std::vector<Part> parts = partitions(result.output, json);
  ASSERT_EQ(parts.size(), 1u) << json;
  EXPECT_EQ(parts[0].name, "keel-root");
  EXPECT_EQ(parts[0].size, 24u * 2048);
  const fs::path root = cut(result.output, parts[0], dir_.path() / "p1");
  int rc = 0;
  std::string out = run("e2fsck -fn " + quoted(root) + " 2>&1", rc);
  EXPECT_EQ(rc, 0) << out;
  out = run("blkid -o export " + quoted(root));
  EXPECT_NE(out.find("LABEL=sys\n"), std::string::npos) << out;
  out = run("debugfs -R 'stat /etc/motd' " + quoted(root) + " 2>&1");
  EXPECT_NE(out.find("User:    33   Group:     7"), std::string::npos) << out;
  const std::vector<std::string> words = stage_cmdline_words(parse_spec_file(dir_.path() / "spec.toml"));
  EXPECT_EQ(words, (std::vector<std::string>{"root=LABEL=sys", "rootfstype=ext4"}));

  // Another root type: other GUIDs.
  const BuildResult erofs = build("[output]\nformat = \"disk\"\n" + contents() + "\n[disk]\nroot = \"erofs\"\n",
                                  "erofs.disk");
  std::string json2;
  const std::vector<Part> other = partitions(erofs.output, json2);
  ASSERT_EQ(other.size(), 1u) << json2;
  EXPECT_NE(other[0].uuid, parts[0].uuid);
}

TEST_F(DiskImageTest, Ext4OutputIsLabelledKeelRoot) {
  const BuildResult result = build("[output]\nformat = \"ext4\"\n" + contents(), "root.ext4");
  const std::string out = run("blkid -o export " + quoted(result.output));
  EXPECT_NE(out.find("LABEL=keel-root\n"), std::string::npos) << out;
}

TEST_F(DiskImageTest, SpecErrorsNameTheirLine) {
  auto error_of = [&](const std::string& text) {
    try {
      (void)parse_spec(text, dir_.path() / "spec.toml");
    } catch (const ImageError& e) {
      return e.describe();
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of("[output]\nformat = \"cpio\"\n\n[disk]\ntmpfs = [\"/var\"]\n").find("spec.toml:4: error: [disk] applies only"),
            std::string::npos);
  EXPECT_NE(error_of("[output]\nformat = \"erofs\"\n[disk]\ndata_size = \"16M\"\n")
                .find("spec.toml:4: error: data_size in [disk] applies only to format = \"disk\""),
            std::string::npos);
  EXPECT_NE(error_of("[output]\nformat = \"disk\"\n[disk]\nroot = \"xfs\"\n").find("spec.toml:4: error: root in [disk] must be"),
            std::string::npos);
  EXPECT_NE(error_of("[output]\nformat = \"disk\"\nlabel = \"a label\"\n").find("spec.toml:3: error: label in [output]"),
            std::string::npos);
  EXPECT_NE(error_of("[output]\nformat = \"cpio\"\ninitramfs = \"x\"\n").find("spec.toml:3: error: initramfs applies only"),
            std::string::npos);
  EXPECT_NE(error_of("[output]\nformat = \"disk\"\n[disk]\ntmpfs = [\"var\"]\n").find("spec.toml:4: error:"),
            std::string::npos);
}

// The stage initramfs next to a disk root: keel with its init links, the
// root's modules in load order, e2fsck only when ext4 is used, and the I1
// words before the spec's [boot] cmdline; reproducible; its path settable
// or none; asking for it without [keel] is an error.
class StageInitramfsTest : public DiskImageTest {
 protected:
  void SetUp() override {
    modules_ = testutil::kernel_cache("lib/modules");
    if (modules_.empty()) GTEST_SKIP() << "no kernel cache (scripts/fetch-kernel.sh): no modules for the stage";
    for (const auto& entry : fs::directory_iterator(modules_ / "lib/modules")) modules_ = entry.path();
  }

  std::string spec(const std::string& format, const std::string& extra) const {
    return "[output]\nformat = \"" + format + "\"\n" + extra +
           "\n[boot]\ncmdline = \"loglevel=4 quiet\"\n\n[keel]\nbinary = \"/bin/busybox\"\n\n[modules]\nnames = []\n"
           "tree = \"" + modules_.string() + "\"\n";
  }

  static std::string listing(const fs::path& image) {
    std::string out;
    for (const std::string& line : list_image(slurp(image), image.string())) out += line + "\n";
    return out;
  }

  fs::path modules_;
};

TEST_F(StageInitramfsTest, ErofsDiskWithData) {
  const BuildResult result = build(spec("disk", "") + "\n[disk]\nroot = \"erofs\"\ndata_size = \"8M\"\ntmpfs = [\"/var\"]\n",
                                   "a.disk", 1700000000);
  const fs::path initramfs = dir_.path() / "a.disk.initramfs";
  ASSERT_TRUE(fs::exists(initramfs)) << log_.str();
  const std::string image = slurp(initramfs);
  EXPECT_EQ(image.substr(0, 4), std::string("\x28\xb5\x2f\xfd", 4));  // zstd
  const auto cmdline = read_image_file(image, "/etc/keel/cmdline", initramfs.string());
  ASSERT_TRUE(cmdline);
  EXPECT_EQ(*cmdline,
            "root=LABEL=keel-root rootfstype=erofs keel.data=LABEL=keel-data:/data keel.tmpfs=/var loglevel=4 quiet\n");
  const auto load = read_image_file(image, "/etc/keel/modules.load", initramfs.string());
  ASSERT_TRUE(load);
  // Dependencies first; ext4 for the data partition, erofs for the root.
  EXPECT_LT(load->find("/virtio_pci.ko"), load->find("/virtio_blk.ko")) << *load;
  EXPECT_LT(load->find("/jbd2.ko"), load->find("/ext4.ko")) << *load;
  EXPECT_NE(load->find("/crc32c_generic.ko"), std::string::npos) << *load;
  EXPECT_NE(load->find("/erofs.ko"), std::string::npos) << *load;
  const std::string ls = listing(initramfs);
  EXPECT_NE(ls.find(" sbin/keel\n"), std::string::npos) << ls;
  EXPECT_NE(ls.find(" init -> sbin/keel\n"), std::string::npos) << ls;
  EXPECT_NE(ls.find(" sbin/e2fsck\n"), std::string::npos) << ls;
  EXPECT_NE(ls.find("libext2fs.so.2"), std::string::npos) << ls;  // e2fsck's closure
  EXPECT_EQ(ls.find("etc/keel/services"), std::string::npos) << ls;
  EXPECT_EQ(ls.find("sbin/keelctl"), std::string::npos) << ls;
  ::sleep(1);
  (void)build(spec("disk", "") + "\n[disk]\nroot = \"erofs\"\ndata_size = \"8M\"\ntmpfs = [\"/var\"]\n", "b.disk",
              1700000000);
  EXPECT_TRUE(slurp(initramfs) == slurp(dir_.path() / "b.disk.initramfs"));
}

TEST_F(StageInitramfsTest, ErofsAloneHasNoE2fsckAndTheInitramfsPathIsSettable) {
  (void)build(spec("erofs", "initramfs = \"stage.cpio.zst\"\n"), "root.erofs");
  EXPECT_FALSE(fs::exists(dir_.path() / "root.erofs.initramfs"));
  const fs::path initramfs = dir_.path() / "stage.cpio.zst";
  ASSERT_TRUE(fs::exists(initramfs)) << log_.str();
  const std::string ls = listing(initramfs);
  EXPECT_EQ(ls.find("e2fsck"), std::string::npos) << ls;
  EXPECT_EQ(ls.find("ext4.ko"), std::string::npos) << ls;
  EXPECT_NE(ls.find("erofs.ko"), std::string::npos) << ls;
  const auto cmdline = read_image_file(slurp(initramfs), "/etc/keel/cmdline", initramfs.string());
  ASSERT_TRUE(cmdline);
  EXPECT_EQ(*cmdline, "root=LABEL=keel-root rootfstype=erofs loglevel=4 quiet\n");
}

TEST_F(StageInitramfsTest, NoneWhenAskedOrWithoutKeel) {
  (void)build(spec("ext4", "initramfs = false\n"), "off.ext4");
  EXPECT_FALSE(fs::exists(dir_.path() / "off.ext4.initramfs"));
  (void)build("[output]\nformat = \"ext4\"\n" + contents(), "plain.ext4");
  EXPECT_FALSE(fs::exists(dir_.path() / "plain.ext4.initramfs"));
  EXPECT_NE(log_.str().find("no stage initramfs: the spec has no [keel]"), std::string::npos) << log_.str();
  try {
    (void)build("[output]\nformat = \"ext4\"\ninitramfs = \"x.cpio\"\n" + contents(), "asked.ext4");
    FAIL() << "built";
  } catch (const ImageError& e) {
    EXPECT_NE(e.describe().find("spec.toml:3: error: the stage initramfs needs keel"), std::string::npos)
        << e.describe();
  }
  EXPECT_FALSE(fs::exists(dir_.path() / "asked.ext4"));  // the failed build left no root behind
}

// The GPT writer itself: the header CRCs as sfdisk checks them are covered
// above; here the protective MBR and the backup header's place.
TEST(GptTest, ProtectiveMbrAndBackupHeader) {
  const GptBytes gpt = make_gpt("00112233-4455-6677-8899-aabbccddeeff",
                                {GptPartition{"keel-root", "0fc63daf-8483-4772-8e79-3d69d8477de4",
                                              "00000000-0000-4000-8000-000000000001", 2048, 2048}},
                                6144);
  ASSERT_EQ(gpt.head.size(), 34u * 512);
  ASSERT_EQ(gpt.tail.size(), 33u * 512);
  EXPECT_EQ(static_cast<unsigned char>(gpt.head[446 + 4]), 0xeeu);
  EXPECT_EQ(static_cast<unsigned char>(gpt.head[510]), 0x55u);
  EXPECT_EQ(static_cast<unsigned char>(gpt.head[511]), 0xaau);
  EXPECT_EQ(gpt.head.substr(512, 8), "EFI PART");
  EXPECT_EQ(gpt.tail.substr(std::size_t{32} * 512, 8), "EFI PART");
  // The disk GUID, mixed-endian: 33 22 11 00 55 44 77 66 88 99 ...
  EXPECT_EQ(static_cast<unsigned char>(gpt.head[512 + 56]), 0x33u);
  EXPECT_EQ(static_cast<unsigned char>(gpt.head[512 + 56 + 8]), 0x88u);
  // The name, UTF-16LE.
  EXPECT_EQ(gpt.head.substr(1024 + 56, 4), std::string("k\0e\0", 4));
}

// ---- The random seed on the data partition.
// An ext4 root whose /var is a tmpfs does not keep keel's default seed_dir:
// with a data partition, the image's keel.toml gets seed_dir under
// data_mount (a new file, or a first line before the spec's own keys),
// unless the spec's keel.toml sets seed_dir; a root that keeps the default
// is left alone.
TEST_F(DiskImageTest, SeedDirGoesOnTheDataPartitionWhenTheRootDoesNotKeepIt) {
  auto keel_toml_in = [&](const std::string& disk_table, const std::string& config, const std::string& name) {
    std::string keel = "\n[keel]\nbinary = \"" + std::string(KEEL_BINARY) + "\"\n";
    if (!config.empty()) {
      write_file(dir_.path() / "keel.toml", config);
      keel += "config = [\"keel.toml\"]\n";
    }
    const BuildResult result = build("[output]\nformat = \"disk\"\ninitramfs = false\n" + contents() + keel +
                                         "\n[disk]\nroot = \"ext4\"\n" + disk_table,
                                     name);
    std::string json;
    const std::vector<Part> parts = partitions(result.output, json);
    EXPECT_FALSE(parts.empty()) << json;
    if (parts.empty()) return std::string();
    const fs::path root = cut(result.output, parts[0], dir_.path() / (name + ".p1"));
    return run("debugfs -R 'cat /etc/keel/keel.toml' " + quoted(root) + " 2>/dev/null");
  };
  const std::string line = "seed_dir = \"/srv/keel/seed\"  # keel-image: the random seed on the data partition\n";
  const std::string data = "data_size = \"8M\"\ndata_mount = \"/srv\"\ntmpfs = [\"/var\"]\n";

  // No keel.toml in the spec: one with that line.
  EXPECT_EQ(keel_toml_in(data, "", "a.disk"), line);
  EXPECT_NE(log_.str().find("the random seed is kept on the data partition"), std::string::npos) << log_.str();

  // The spec's keel.toml: the line first, every line of it after.
  const std::string own = "hostname = \"box\"\n\n[signals]\nSIGINT = \"ignore\"\n";
  const std::string got = keel_toml_in(data, own, "b.disk");
  EXPECT_EQ(got, line + own);
  const KeelConfigResult parsed = parse_keel_config(got, "keel.toml");
  EXPECT_TRUE(parsed.errors.empty()) << parsed.errors[0].text();
  EXPECT_EQ(parsed.config.seed_dir, "/srv/keel/seed");
  EXPECT_EQ(parsed.config.hostname, "box");

  // The spec sets seed_dir (here: no seed): left alone.
  const std::string none = "seed_dir = \"\"\n";
  EXPECT_EQ(keel_toml_in(data, none, "c.disk"), none);

  // A root that keeps the default (/var on the ext4 root): no keel.toml made.
  EXPECT_EQ(keel_toml_in("data_size = \"8M\"\n", "", "d.disk"), "");
  // No data partition where the seed would be lost: a note says so.
  log_.str("");
  (void)keel_toml_in("tmpfs = [\"/var\"]\n", "", "e.disk");
  EXPECT_NE(log_.str().find("the random seed does not persist"), std::string::npos) << log_.str();
}

}  // namespace
}  // namespace keel::image
