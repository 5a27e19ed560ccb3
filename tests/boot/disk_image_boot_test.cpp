// Disk roots booted for real (issue 14, section 1): `keel-image build` of a
// `format = "disk"` spec writes a GPT disk image and its stage initramfs,
// and `keel-image boot DISK` boots the pair in QEMU (the CLI itself, so the
// hook that turns a disk into "DISK.initramfs + DISK as /dev/vda" is
// tested too). keel in the initramfs is the stage (interface I1): it loads
// virtio_blk and the root's filesystem module, finds root=LABEL=keel-root,
// mounts it (and the data partition, and the tmpfs mounts), and switches
// into it; keel then runs the disk's own services and main program.
//
//   - an erofs root and an ext4 data partition: a service runs from the
//     read-only root, /var is a tmpfs, and a counter on /data survives
//     into the second boot;
//   - an ext4 root (checked by e2fsck in the stage, mounted read-write):
//     a service runs, and a counter on the root itself survives, and so
//     does the random seed in keel's default seed_dir;
//   - an erofs root with a data partition: keel-image puts seed_dir on the
//     data partition, and the second boot credits the seed the first one
//     saved at its shutdown.
//
// Needs the kernel cache (scripts/fetch-kernel.sh) with its modules, QEMU,
// a static busybox and keel, mkfs.erofs and fakeroot, e2fsprogs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "../unit/test_util.hpp"
#include "boot_util.hpp"
#include "image/builder.hpp"
#include "image/elf.hpp"

namespace keel::image {
namespace {

namespace fs = std::filesystem;

using boottest::file_entry;

// Where /, /data and /var come from, the service's line, then the counter
// in COUNTER (a file on a writable disk) incremented and shown.
std::string main_program(const std::string& counter, const std::string& first = "") {
  return file_entry("/etc/keel/main",
                    "#!/bin/sh\n" + first +
                    "/sbin/keelctl wait hello --ready --timeout 30 >/dev/null\n"
                    // The service's line is in its log (not on the console): shown once it is there.
                    "until /sbin/keelctl log hello | /bin/busybox grep -q SERVICE-FROM-DISK; do /bin/busybox sleep 0.1; done\n"
                    "/sbin/keelctl log hello\n"
                    // The last (topmost) mount on each path, in a fixed order whatever the mount order was.
                    "for m in / /data /var; do /bin/busybox awk -v m=$m '$2 == m { t = $3 } END { print \"MOUNT\", m, t }' "
                    "/proc/mounts; done\n"
                    "n=$(/bin/busybox cat " + counter + " 2>/dev/null || echo 0); n=$((n + 1))\n"
                    "echo $n > " + counter + " && /bin/busybox sync && echo BOOT-COUNT $n\n",
                    "0755");
}

class DiskImageBoot : public boottest::QemuBoot {
 protected:
  DiskImageBoot() : QemuBoot("keel-disk-boot-", true) {}

  // The disk image and its stage initramfs (DISK.initramfs).
  // `main_first`: lines the main program runs first.
  fs::path build_disk(const std::string& disk_table, const std::string& counter, const std::string& main_first = "") {
    const fs::path disk =
        build_as("disk.img", "[output]\nformat = \"disk\"\n\n[boot]\ncmdline = \"loglevel=4\"\n",
                 "\n[modules]\nnames = []\ntree = \"" + modules_.string() + "\"\n\n" + disk_table +
                     file_entry("/etc/keel/services/hello.toml",
                                "command = [\"/bin/busybox\", \"sh\", \"-c\", \"echo SERVICE-FROM-DISK; exec "
                                "/bin/busybox sleep 1000\"]\n") +
                     main_program(counter, main_first));
    EXPECT_TRUE(fs::exists(dir_.path() / "disk.img.initramfs"));
    return disk;
  }

  // `keel-image boot DISK --expect ...`: true when it passed; the console in console_.
  bool boot(const fs::path& disk, const std::vector<std::string>& expect) {
    std::string command = "KEEL_IMAGE_ACCEL=tcg " + testutil::quoted(KEEL_IMAGE_BINARY) + " boot " +
                          testutil::quoted(disk) + " --kernel " + testutil::quoted(kernel_) + " --timeout 150";
    for (const std::string& e : expect) command += " --expect " + testutil::quoted(e);
    int rc = 0;
    console_ = testutil::run(command + " 2>&1", rc);
    return rc == 0;
  }
};

TEST_F(DiskImageBoot, ErofsRootWithADataPartitionThatPersists) {
  const fs::path disk =
      build_disk("[disk]\nroot = \"erofs\"\ndata_size = \"16M\"\ntmpfs = [\"/var\", \"/tmp\"]\n", "/data/boots");
  for (int n = 1; n <= 2; ++n) {
    ASSERT_TRUE(boot(disk, {"SERVICE-FROM-DISK", "MOUNT / erofs", "MOUNT /data ext4", "MOUNT /var tmpfs",
                            "BOOT-COUNT " + std::to_string(n), "reboot: Power down"}))
        << "boot " << n << ":\n"
        << console_;
  }
}

TEST_F(DiskImageBoot, Ext4RootThatPersists) {
  const fs::path disk = build_disk("[disk]\nroot = \"ext4\"\nroot_size = \"32M\"\n", "/var/boots");
  for (int n = 1; n <= 2; ++n) {
    // A writable ext4 root keeps keel's default seed_dir: the second boot finds the first's seed.
    ASSERT_TRUE(boot(disk, {n == 1 ? "keel: random seed: none in /var/lib/keel/seed yet"
                                   : "keel: random seed: [0-9]+ bytes from /var/lib/keel/seed",
                            "SERVICE-FROM-DISK", "MOUNT / ext4", "BOOT-COUNT " + std::to_string(n),
                            "reboot: Power down"}))
        << "boot " << n << ":\n"
        << console_;
  }
}

// The random seed on a read-only root: without the data partition it would
// live on the tmpfs /var and be lost at every power-off. keel-image sets
// seed_dir = "/data/keel/seed" in the image's keel.toml (the spec has
// none); keel creates the directory at the first boot, renews the seed at
// the shutdown once the RNG is ready (the main program waits for
// rng-ready), and the second boot credits it.
TEST_F(DiskImageBoot, ErofsRootKeepsTheRandomSeedOnTheDataPartition) {
  const fs::path disk = build_disk("[disk]\nroot = \"erofs\"\ndata_size = \"16M\"\ntmpfs = [\"/var\", \"/tmp\"]\n",
                              "/data/boots", "/sbin/keelctl wait rng-ready --ready --timeout 60 >/dev/null\n");
  for (int n = 1; n <= 2; ++n) {
    ASSERT_TRUE(boot(disk, {n == 1 ? "keel: random seed: none in /data/keel/seed yet \\(first boot\\); a new one is saved"
                                   : "keel: random seed: [0-9]+ bytes from /data/keel/seed credited",
                            "MOUNT / erofs", "MOUNT /data ext4", "BOOT-COUNT " + std::to_string(n),
                            "keel: random seed: refreshed in /data/keel/seed \\(creditable\\)", "reboot: Power down"}))
        << "boot " << n << ":\n"
        << console_;
    EXPECT_EQ(console_.find("is on a read-only file system"), std::string::npos) << console_;
  }
}

}  // namespace
}  // namespace keel::image
