// The disk root's device lookup and command line (system/block_device.hpp,
// system/switch_root.hpp): the I1 words parsed, hostile ones refused; real
// ext4 and erofs image files (mke2fs -L/-U, mkfs.erofs -U, as files: no
// mount) identified by their superblocks; a fake /sys/class/block and /dev
// searched by LABEL=, UUID= and PARTLABEL=; fsck's exit statuses mapped;
// PARTUUID= read from the GPT of a real keel-image disk (format = "disk")
// and of corrupted copies of it (system/gpt.hpp).
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "image/builder.hpp"
#include "system/block_device.hpp"
#include "system/gpt.hpp"
#include "service/event_record.hpp"
#include "system/switch_root.hpp"
#include "test_util.hpp"

namespace keel {
namespace {

namespace fs = std::filesystem;

constexpr const char* kUuid = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";

TEST(DiskRootSpec, ParsesEachForm) {
  auto p = parse_device_spec("/dev/vda");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->key, DeviceKey::Path);
  EXPECT_EQ(p->value, "/dev/vda");
  p = parse_device_spec("LABEL=keel-root");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->key, DeviceKey::Label);
  EXPECT_EQ(p->value, "keel-root");
  p = parse_device_spec("PARTLABEL=keel-data");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->key, DeviceKey::PartLabel);
  EXPECT_EQ(p->value, "keel-data");
  // Any case, dashes anywhere: compared in the canonical form.
  p = parse_device_spec("UUID=1B4E28BA2FA111D2883F0016D3CCA427");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->key, DeviceKey::Uuid);
  EXPECT_EQ(p->value, kUuid);
  EXPECT_EQ(describe(*p), std::string("UUID=") + kUuid);
  p = parse_device_spec("PARTUUID=1B4E28BA-2FA1-11D2-883F-0016D3CCA427");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->key, DeviceKey::PartUuid);
  EXPECT_EQ(p->value, kUuid);
  EXPECT_EQ(describe(*p), std::string("PARTUUID=") + kUuid);
}

TEST(DiskRootSpec, RefusesHostileValues) {
  for (const char* bad : {"", "vda", "LABEL=", "PARTLABEL=", "UUID=", "UUID=xyz", "UUID=1b4e28ba-2fa1-11d2-883f",
                          "PARTUUID=", "PARTUUID=0a0b0c0d-01", "PARTUUID=zz4e28ba-2fa1-11d2-883f-0016d3cca427",
                          "UUID=1b4e28ba-2fa1-11d2-883f-0016d3cca427aa", "/dev/../etc/shadow", "/dev/..", "LABEL=a\nb",
                          "LABEL=\x1b[2J"}) {
    EXPECT_FALSE(parse_device_spec(bad)) << bad;
  }
  EXPECT_FALSE(parse_device_spec("LABEL=" + std::string(300, 'x')));
}

TEST(DiskRootCmdline, NoRootNoStage) {
  const DiskRootPlan p = parse_disk_root("console=ttyS0 quiet init=/bin/sh");
  EXPECT_FALSE(p.wanted);
}

TEST(DiskRootCmdline, ReadsEveryWord) {
  const DiskRootPlan p = parse_disk_root(
      "console=ttyS0 root=LABEL=keel-root rootfstype=ext4 rootflags=noatime ro keel.root_timeout=7 init=/bin/keel "
      "keel.data=LABEL=keel-data:/data keel.tmpfs=/var,/tmp keel.fsck=skip");
  EXPECT_TRUE(p.wanted);
  EXPECT_EQ(p.error, "");
  EXPECT_EQ(p.root.key, DeviceKey::Label);
  EXPECT_EQ(p.root.value, "keel-root");
  ASSERT_TRUE(p.fstype);
  EXPECT_EQ(*p.fstype, FsType::Ext4);
  EXPECT_EQ(p.flags, "noatime");
  EXPECT_TRUE(p.read_only);
  EXPECT_EQ(p.timeout_s, 7);
  EXPECT_EQ(p.init, "/bin/keel");
  ASSERT_TRUE(p.data);
  EXPECT_EQ(p.data->value, "keel-data");
  EXPECT_EQ(p.data_mountpoint, "/data");
  EXPECT_EQ(p.tmpfs, (std::vector<std::string>{"/var", "/tmp"}));
  EXPECT_FALSE(p.fsck);
}

TEST(DiskRootCmdline, Defaults) {
  const DiskRootPlan p = parse_disk_root("root=/dev/vda");
  EXPECT_TRUE(p.wanted);
  EXPECT_EQ(p.error, "");
  EXPECT_EQ(p.timeout_s, 30);
  EXPECT_EQ(p.init, "/sbin/init");
  EXPECT_FALSE(p.read_only);
  EXPECT_TRUE(p.fsck);
  EXPECT_FALSE(p.data);
  EXPECT_FALSE(p.fstype);
  // The last of ro / rw wins, as for the kernel.
  EXPECT_FALSE(parse_disk_root("root=/dev/vda ro rw").read_only);
  // A data path device: split at the last ":/".
  const DiskRootPlan d = parse_disk_root("root=/dev/vda keel.data=/dev/vdb:/srv/data");
  ASSERT_TRUE(d.data);
  EXPECT_EQ(d.data->value, "/dev/vdb");
  EXPECT_EQ(d.data_mountpoint, "/srv/data");
  // A huge timeout is cut to the limit.
  EXPECT_EQ(parse_disk_root("root=/dev/vda keel.root_timeout=999999999").timeout_s, 3600);
}

TEST(DiskRootCmdline, RefusesHostileWords) {
  for (const char* bad :
       {"root=vda", "root=LABEL=", "root=/dev/vda rootfstype=btrfs", "root=/dev/vda keel.root_timeout=-1",
        "root=/dev/vda keel.root_timeout=1e9", "root=/dev/vda keel.root_timeout=", "root=/dev/vda init=sbin/init",
        "root=/dev/vda init=/../x", "root=/dev/vda keel.data=LABEL=x", "root=/dev/vda keel.data=LABEL=x:/a/../b",
        "root=/dev/vda keel.data=:/data", "root=/dev/vda keel.tmpfs=var", "root=/dev/vda keel.tmpfs=/",
        "root=/dev/vda keel.fsck=yes", "root=/dev/vda keel.tmpfs=/a//b"}) {
    const DiskRootPlan p = parse_disk_root(bad);
    EXPECT_TRUE(p.wanted) << bad;
    EXPECT_NE(p.error, "") << bad;
  }
  // Quotes group as the kernel groups them; unbalanced ones end at the end.
  EXPECT_EQ(parse_disk_root("root=\"LABEL=my root\"").root.value, "my root");
  EXPECT_TRUE(parse_disk_root("root=\"LABEL=x").wanted);
}

// KEEL_STAGE_ROOT: what the stage hands the disk root's keel across its
// exec. Only an environment variable, so every hostile form is refused,
// and the variable is gone afterwards either way.
class StepCollector final : public service::EventFollower {
 public:
  void on_event(std::string_view line) noexcept override { lines.emplace_back(line); }
  std::vector<std::string> lines;
};

TEST(DiskRootStep, OnlyAWellFormedStageStepIsRecorded) {
  StepCollector seen;
  ASSERT_TRUE(service::event_record().add_follower(seen));
  const std::string huge_device = "/dev/" + std::string(5000, 'a');
  for (const std::string& hostile :
       {std::string(""), std::string("1 2 3"), std::string("1 2 3 dev/vda"), std::string("2 1 3 /dev/vda"),
        std::string("-1 2 3 /dev/vda"), std::string("1 2 99999999999999999999 /dev/vda"),
        std::string("9223372036854775808 9223372036854775808 1 /dev/vda"), std::string("1  2 3 /dev/vda"),
        std::string("1 2 3 /dev/vda\n{\"event\":\"forged\"}"), std::string("1 2 3 /dev/\x7f"),
        std::string("x 2 3 /dev/vda"), "1 2 3 " + huge_device}) {
    ::setenv("KEEL_STAGE_ROOT", hostile.c_str(), 1);
    record_disk_root_step();
    EXPECT_EQ(std::getenv("KEEL_STAGE_ROOT"), nullptr) << hostile;
  }
  EXPECT_TRUE(seen.lines.empty()) << seen.lines.front();

  ::setenv("KEEL_STAGE_ROOT", "1000000 3000000 1765000000000000000 /dev/vda1", 1);
  record_disk_root_step();
  EXPECT_EQ(std::getenv("KEEL_STAGE_ROOT"), nullptr);
  record_disk_root_step();  // gone: nothing more
  service::event_record().remove_follower(seen);
  ASSERT_EQ(seen.lines.size(), 1U);
  EXPECT_NE(seen.lines[0].find(R"("event":"boot-step","step":"root","device":"/dev/vda1","duration_us":2000})"),
            std::string::npos)
      << seen.lines[0];
}

TEST(DiskRootFsck, EachStatusHasItsAction) {
  EXPECT_EQ(fsck_action(0), FsckAction::Mount);
  EXPECT_EQ(fsck_action(1), FsckAction::Mount);
  EXPECT_EQ(fsck_action(2), FsckAction::Reboot);
  EXPECT_EQ(fsck_action(3), FsckAction::Reboot);
  for (int s : {4, 5, 6, 8, 12, 16, 32, 128, -1}) EXPECT_EQ(fsck_action(s), FsckAction::MountReadOnly) << s;
}

TEST(DiskRootSuperblock, ShortOrForeignDataIsUnknown) {
  std::vector<unsigned char> data(kSuperblockBytes, 0);
  EXPECT_EQ(identify_superblock(data.data(), data.size()).type, FsType::Unknown);
  EXPECT_EQ(identify_superblock(data.data(), 1500).type, FsType::Unknown);
  EXPECT_EQ(identify_superblock(nullptr, 0).type, FsType::Unknown);
  // A 16-byte label without its NUL is cut at 16 bytes; bytes are kept as they are.
  data[1024] = 0xE2;
  data[1025] = 0xE1;
  data[1026] = 0xF5;
  data[1027] = 0xE0;
  std::memset(data.data() + 1024 + 64, 'A', 16);
  data[1024 + 48] = 0xAB;
  const FsIdentity id = identify_superblock(data.data(), data.size());
  EXPECT_EQ(id.type, FsType::Erofs);
  EXPECT_EQ(id.label, std::string(16, 'A'));
  EXPECT_EQ(id.uuid, "ab000000-0000-0000-0000-000000000000");
}

class DiskRootImages : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testutil::have("mke2fs")) GTEST_SKIP() << "e2fsprogs is not installed";
    if (!testutil::have("mkfs.erofs")) GTEST_SKIP() << "erofs-utils is not installed";
  }
  fs::path ext4(const std::string& name, const std::string& label, const std::string& uuid) {
    fs::path img = dir_.path() / name;
    int rc = 0;
    const std::string out = testutil::run(
        "mke2fs -q -F -t ext4 -L " + label + " -U " + uuid + " " + testutil::quoted(img) + " 4M 2>&1", rc);
    EXPECT_EQ(rc, 0) << out;
    return img;
  }
  fs::path erofs(const std::string& name, const std::string& uuid) {
    const fs::path tree = dir_.path() / (name + ".d");
    fs::create_directories(tree);
    testutil::write_file(tree / "hello", "hi\n");
    fs::path img = dir_.path() / name;
    int rc = 0;
    const std::string out = testutil::run(
        "mkfs.erofs --quiet -U " + uuid + " " + testutil::quoted(img) + " " + testutil::quoted(tree) + " 2>&1", rc);
    EXPECT_EQ(rc, 0) << out;
    return img;
  }
  testutil::TempDir dir_{"keel-diskroot-"};
};

TEST_F(DiskRootImages, Ext4LabelAndUuid) {
  const fs::path img = ext4("root.ext4", "keel-root", kUuid);
  const FsIdentity id = identify_device(img.c_str());
  EXPECT_EQ(id.type, FsType::Ext4);
  EXPECT_EQ(id.label, "keel-root");
  EXPECT_EQ(id.uuid, kUuid);
}

TEST_F(DiskRootImages, ErofsUuid) {
  const fs::path img = erofs("root.erofs", "0a0b0c0d-0000-4000-8000-00000000beef");
  const FsIdentity id = identify_device(img.c_str());
  EXPECT_EQ(id.type, FsType::Erofs);
  EXPECT_EQ(id.uuid, "0a0b0c0d-0000-4000-8000-00000000beef");
  EXPECT_EQ(id.label, "");
  EXPECT_EQ(identify_device((dir_.path() / "missing").c_str()).type, FsType::Unknown);
}

// A fake /sys/class/block and /dev holding the image files as their nodes.
TEST_F(DiskRootImages, FindsByLabelUuidPartlabelAndPath) {
  const fs::path sys = dir_.path() / "sys";
  const fs::path dev = dir_.path() / "dev";
  fs::create_directories(dev);
  fs::copy_file(ext4("a", "keel-root", kUuid), dev / "vda");
  fs::copy_file(erofs("b", "0a0b0c0d-0000-4000-8000-00000000beef"), dev / "vdb1");
  fs::create_directories(sys / "vda");
  testutil::write_file(sys / "vda" / "uevent", "MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n");
  fs::create_directories(sys / "vdb1");
  testutil::write_file(sys / "vdb1" / "uevent", "MAJOR=254\nDEVNAME=vdb1\nDEVTYPE=partition\nPARTNAME=keel-data\n");
  // Hostile entries: a DEVNAME leading out of DEV, no DEVNAME, no uevent.
  fs::create_directories(sys / "evil");
  testutil::write_file(sys / "evil" / "uevent", "DEVNAME=../a\nPARTNAME=keel-root\n");
  fs::create_directories(sys / "none");
  testutil::write_file(sys / "none" / "uevent", "PARTNAME=keel-root\n");
  fs::create_directories(sys / "empty");
  const BlockDirs dirs{sys.string(), dev.string()};
  EXPECT_EQ(find_block_device(*parse_device_spec("LABEL=keel-root"), dirs), (dev / "vda").string());
  EXPECT_EQ(find_block_device(*parse_device_spec(std::string("UUID=") + kUuid), dirs), (dev / "vda").string());
  EXPECT_EQ(find_block_device(*parse_device_spec("UUID=0A0B0C0D00004000800000000000BEEF"), dirs),
            (dev / "vdb1").string());
  EXPECT_EQ(find_block_device(*parse_device_spec("PARTLABEL=keel-data"), dirs), (dev / "vdb1").string());
  EXPECT_EQ(find_block_device(*parse_device_spec("PARTLABEL=keel-root"), dirs), "");
  EXPECT_EQ(find_block_device(*parse_device_spec("LABEL=missing"), dirs), "");
  EXPECT_EQ(find_block_device(*parse_device_spec((dev / "vda").string()), dirs), (dev / "vda").string());
  EXPECT_EQ(find_block_device(*parse_device_spec((dev / "vdz").string()), dirs), "");
  // The bounded wait gives up (and a device that appears during it is found).
  EXPECT_EQ(wait_for_block_device(*parse_device_spec("LABEL=missing"), 100, dirs), "");
  EXPECT_EQ(wait_for_block_device(*parse_device_spec("LABEL=keel-root"), 100, dirs), (dev / "vda").string());
}

TEST(DiskRootUevent, Parses) {
  const Uevent ev = parse_uevent("MAJOR=8\nDEVNAME=sda2\nPARTN=2\nPARTNAME=keel-root\n");
  EXPECT_EQ(ev.devname, "sda2");
  EXPECT_EQ(ev.partname, "keel-root");
  EXPECT_EQ(parse_uevent("DEVNAME").devname, "");
  EXPECT_EQ(parse_uevent("").partname, "");
  const Uevent disk = parse_uevent("MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n");
  EXPECT_EQ(disk.devtype, "disk");
  EXPECT_EQ(disk.partn, "");
  EXPECT_EQ(ev.partn, "2");
}

// ---- PARTUUID=: the GPT of a disk keel-image wrote.

// A copy of `from` with `patch` applied to its bytes.
template <typename Patch>
fs::path patched(const fs::path& from, const fs::path& to, Patch patch) {
  std::string bytes = testutil::slurp(from);
  patch(bytes);
  testutil::write_file(to, bytes);
  return to;
}

void put32(std::string& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
}
void put64(std::string& b, std::size_t at, std::uint64_t v) {
  put32(b, at, static_cast<std::uint32_t>(v));
  put32(b, at + 4, static_cast<std::uint32_t>(v >> 32));
}
// The primary header's CRC32 made right again (zlib's, not keel's).
void fix_header_crc(std::string& b) {
  put32(b, 512 + 16, 0);
  put32(b, 512 + 16, static_cast<std::uint32_t>(::crc32(0L, reinterpret_cast<const Bytef*>(b.data() + 512), 92)));
}

class DiskRootGpt : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testutil::have("mke2fs")) GTEST_SKIP() << "e2fsprogs is not installed";
    if (!testutil::have("sfdisk")) GTEST_SKIP() << "fdisk (sfdisk) is not installed";
    const fs::path spec = dir_.path() / "disk.toml";
    testutil::write_file(spec,
                         "[output]\nformat = \"disk\"\ninitramfs = false\n\n[disk]\nroot = \"ext4\"\n"
                         "root_size = \"8M\"\ndata_size = \"8M\"\n\n[[file]]\npath = \"/etc/hello\"\n"
                         "content = \"hi\\n\"\n");
    image::BuildOptions options;
    options.output = dir_.path() / "disk.img";
    options.mtime = 0;
    options.log = &log_;
    disk_ = image::build_image(spec, options).output;
    // The GUIDs as sfdisk reads them (upper case), not as keel wrote them.
    for (int n = 1; n <= 2; ++n) {
      int rc = 0;
      std::string out = testutil::run("sfdisk --part-uuid " + testutil::quoted(disk_) + " " + std::to_string(n), rc);
      ASSERT_EQ(rc, 0) << out;
      while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
      guids_.push_back(out);
    }
  }
  std::ostringstream log_;
  testutil::TempDir dir_{"keel-diskroot-gpt-"};
  fs::path disk_;
  std::vector<std::string> guids_;
};

TEST_F(DiskRootGpt, FindsEachPartitionByItsGuidInAnyCase) {
  ASSERT_EQ(guids_.size(), 2u);
  EXPECT_EQ(gpt_crc32(reinterpret_cast<const unsigned char*>("123456789"), 9), 0xCBF43926U);
  for (int n = 1; n <= 2; ++n) {
    const std::string& upper = guids_[static_cast<std::size_t>(n - 1)];
    const GptMatch m = gpt_find_partition(disk_.c_str(), upper);
    EXPECT_EQ(m.partition, n) << upper << ": " << m.error;
    EXPECT_EQ(m.error, "");
    const auto spec = parse_device_spec("PARTUUID=" + upper);
    ASSERT_TRUE(spec);
    EXPECT_EQ(gpt_find_partition(disk_.c_str(), spec->value).partition, n);
    // keel-image said it at build time, in lower case.
    std::string lower = spec->value;
    EXPECT_NE(log_.str().find("PARTUUID=" + lower), std::string::npos) << log_.str();
  }
  const GptMatch none = gpt_find_partition(disk_.c_str(), kUuid);
  EXPECT_EQ(none.partition, 0);
  EXPECT_EQ(none.error, "");
}

TEST_F(DiskRootGpt, HostileTablesAreErrors) {
  const std::string guid = guids_.at(0);
  struct Case {
    const char* name;
    void (*patch)(std::string&);
    const char* error;
  };
  const Case cases[] = {
      {"no signature", [](std::string& b) { b[512] = 'X'; }, "no GPT header at LBA 1"},
      {"header CRC", [](std::string& b) { b[512 + 56] ^= 1; }, "the GPT header's CRC32 is wrong"},
      {"entries CRC", [](std::string& b) { b[1024 + 16] ^= 1; }, "the GPT entries' CRC32 is wrong"},
      {"huge count",
       [](std::string& b) {
         put32(b, 512 + 80, 0xFFFFFFFFU);
         fix_header_crc(b);
       },
       "the GPT has 4294967295 entries (1 to 1024)"},
      {"no entries",
       [](std::string& b) {
         put32(b, 512 + 80, 0);
         fix_header_crc(b);
       },
       "the GPT has 0 entries (1 to 1024)"},
      {"entry size 256",
       [](std::string& b) {
         put32(b, 512 + 84, 256);
         fix_header_crc(b);
       },
       "the GPT's entry size is 256, not 128"},
      {"header size",
       [](std::string& b) {
         put32(b, 512 + 12, 4000);
         fix_header_crc(b);
       },
       "the GPT header's size is 4000"},
      {"entries past the end",
       [](std::string& b) {
         put64(b, 512 + 72, std::uint64_t{1} << 40);
         fix_header_crc(b);
       },
       "the GPT's entries cannot be read"},
      {"entries at LBA 1",
       [](std::string& b) {
         put64(b, 512 + 72, 1);
         fix_header_crc(b);
       },
       "the GPT's entries are at LBA 1"},
      {"header elsewhere",
       [](std::string& b) {
         put64(b, 512 + 24, 7);
         fix_header_crc(b);
       },
       "the GPT header at LBA 1 does not say it is there"},
      {"cut after the header", [](std::string& b) { b.resize(1024 + 100); }, "the GPT's entries cannot be read"},
      {"cut inside the header", [](std::string& b) { b.resize(600); }, "no GPT header at LBA 1"},
      {"empty", [](std::string& b) { b.clear(); }, "no GPT header at LBA 1"},
  };
  for (const Case& c : cases) {
    const fs::path bad = patched(disk_, dir_.path() / "bad.img", c.patch);
    const GptMatch m = gpt_find_partition(bad.c_str(), guid);
    EXPECT_EQ(m.partition, 0) << c.name;
    EXPECT_EQ(m.error, c.error) << c.name;
  }
  EXPECT_NE(gpt_find_partition((dir_.path() / "missing").c_str(), guid).error, "");
}

// A fake /sys/class/block (disks with their partitions under them, as
// sysfs has them) and /dev holding the real disk image.
TEST_F(DiskRootGpt, FindsThePartitionUnderTheDiskWhoseGptHasTheGuid) {
  const fs::path sys = dir_.path() / "sys";
  const fs::path dev = dir_.path() / "dev";
  fs::create_directories(dev);
  // vda: a corrupted copy; vdb: the good disk. Both have partitions 1 and 2.
  (void)patched(disk_, dev / "vda", [](std::string& b) { b[1024 + 16] ^= 1; });
  fs::copy_file(disk_, dev / "vdb");
  for (const char* d : {"vda", "vdb"}) {
    fs::create_directories(sys / d);
    testutil::write_file(sys / d / "uevent", std::string("MAJOR=254\nDEVNAME=") + d + "\nDEVTYPE=disk\n");
    for (int n = 1; n <= 2; ++n) {
      const std::string part = d + std::to_string(n);
      fs::create_directories(sys / d / part);
      fs::create_directories(sys / part);
      testutil::write_file(sys / part / "uevent",
                           "DEVNAME=" + part + "\nDEVTYPE=partition\nPARTN=" + std::to_string(n) + "\n");
      testutil::write_file(dev / part, "");
    }
  }
  const BlockDirs dirs{sys.string(), dev.string()};
  std::string why;
  EXPECT_EQ(find_block_device(*parse_device_spec("PARTUUID=" + guids_.at(0)), dirs, &why), (dev / "vdb1").string());
  EXPECT_EQ(find_block_device(*parse_device_spec("PARTUUID=" + guids_.at(1)), dirs, &why), (dev / "vdb2").string());
  EXPECT_EQ(find_block_device(*parse_device_spec(std::string("PARTUUID=") + kUuid), dirs, &why), "");
  EXPECT_EQ(why, (dev / "vda").string() + ": the GPT entries' CRC32 is wrong");
  // Only vda left, corrupted: never found, the wait gives up and says why.
  fs::remove_all(sys / "vdb");
  why.clear();
  EXPECT_EQ(wait_for_block_device(*parse_device_spec("PARTUUID=" + guids_.at(0)), 100, dirs, &why), "");
  EXPECT_EQ(why, (dev / "vda").string() + ": the GPT entries' CRC32 is wrong");
}

}  // namespace
}  // namespace keel
