// keel's disk-root stage booted for real (issue 14, section 1): a stage
// initramfs made by keel-image (keel, BusyBox, e2fsck, the modules
// virtio_blk, ext4 and erofs) finds the root on a virtio disk by LABEL= or
// UUID=, checks and mounts it and a data partition, switches into it and
// execs keel, which boots the disk root as PID 1. Each boot is bounded by
// BootOptions.timeout; nothing is timed.
//
//   - an ext4 root (keel-image's ext4 output, labelled with tune2fs) and an
//     ext4 data partition: keel is PID 1 of the disk root, its service runs,
//     what boot 1 wrote to /data and to the root is there in boot 2, and
//     e2fsck -fn finds both image files clean after each power-off;
//   - an erofs root (keel-image's dir output, mkfs.erofs -U: erofs-utils
//     1.5 has no -L) found by UUID=, read-only, with the data partition and
//     a tmpfs on /tmp;
//   - a data partition e2fsck -p leaves errors on (exit 4): mounted
//     read-only, the boot goes on;
//   - init= missing from the disk root: the initramfs boots, the disks
//     are left clean;
//   - root=LABEL=missing with keel.root_timeout=2: the console names the
//     device and the initramfs's own boot goes on.
//
// Needs the kernel cache (scripts/fetch-kernel.sh), QEMU, a static busybox
// at /bin/busybox, a static keel, e2fsprogs and erofs-utils.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "../unit/test_util.hpp"
#include "boot_util.hpp"
#include "image/builder.hpp"
#include "image/elf.hpp"
#include "image/qemu.hpp"

namespace keel::image {
namespace {

namespace fs = std::filesystem;

using boottest::file_entry;
using boottest::main_program;

constexpr const char* kE2fsck = "/sbin/e2fsck";
constexpr const char* kErofsUuid = "6b65656c-0000-4000-8000-726f6f742121";

// What the disk root runs: a service that says it is up, and a main program
// that reports where it runs, counts its boots on /data (and on the root
// when it is writable), then exits (keel powers off).
std::string root_payload(bool writable_root) {
  std::string script =
      "B=/bin/busybox\n"
      "for i in $($B seq 100); do [ -e /run/svc-up ] && break; $B sleep 0.1; done\n"
      "echo ROOT-FS $($B stat -f -c %t /) PID1-EXE $($B readlink /proc/1/exe)\n"
      "echo INITRAMFS-GONE $($B ls / | $B grep -c keel-root)\n"
      "echo DATA-BOOTS-BEFORE $($B cat /data/boots 2>/dev/null | $B wc -l)\n"
      "echo DATA-WRITABLE $($B touch /data/probe 2>/dev/null && echo yes || echo no)\n"
      "echo boot >> /data/boots\n"
      "echo TMP $($B stat -f -c %t /tmp)\n";
  if (writable_root) {
    script +=
        "echo ROOT-BOOTS-BEFORE $($B cat /var/root-boots 2>/dev/null | $B wc -l)\n"
        "echo boot >> /var/root-boots\n";
  }
  return file_entry("/etc/keel/services/svc.toml",
                    "stdout = \"console\"\ncommand = [\"/bin/busybox\", \"sh\", \"-c\", "
                    "\"/bin/busybox touch /run/svc-up; echo SVC-UP-IN-DISK-ROOT; exec /bin/busybox sleep 600\"]\n") +
         "\n[[dir]]\npath = \"/data\"\n" + main_program(script);
}

class DiskRootBoot : public boottest::QemuBoot {
 protected:
  DiskRootBoot() : QemuBoot("keel-diskroot-boot-", true) {}

  void SetUp() override {
    QemuBoot::SetUp();
    if (IsSkipped()) return;
    for (const char* tool : {"mke2fs", "tune2fs", "e2fsck", "debugfs", "mkfs.erofs"}) {
      if (!testutil::have(tool)) GTEST_SKIP() << tool << " is not installed";
    }
  }

  // The stage: keel, BusyBox, e2fsck and the modules; its own main program
  // runs only when keel stays in the initramfs.
  // `e2fsck`: the entry that puts /sbin/e2fsck there (the real one by default).
  fs::path stage_initramfs(const std::string& e2fsck = std::string("\n[[program]]\nsource = \"") + kE2fsck +
                                                       "\"\npath = \"/sbin/e2fsck\"\n") {
    return build_as("stage.cpio.gz", "[output]\ncompression = \"gzip\"\n",
                 e2fsck +
                     "\n[modules]\nnames = [\"virtio_pci\", \"virtio_blk\", \"crc32c_generic\", \"ext4\", "
                     "\"erofs\"]\ntree = \"" +
                     modules_.string() + "\"\n" + main_program("echo INITRAMFS-MAIN-RUNS"));
  }

  fs::path data_disk() {
    fs::path disk = dir_.path() / "data.ext4";
    int rc = 0;
    const std::string out =
        testutil::run("mke2fs -q -F -t ext4 -L keel-data " + testutil::quoted(disk) + " 16M 2>&1", rc);
    EXPECT_EQ(rc, 0) << out;
    return disk;
  }

  static void expect_clean(const fs::path& image) {
    int rc = 0;
    const std::string out = testutil::run("e2fsck -fn " + testutil::quoted(image) + " 2>&1", rc);
    EXPECT_EQ(rc, 0) << image << ":\n" << out;
  }

  // An ext4 root labelled keel-root, with no stage initramfs of its own.
  fs::path labelled_root(const std::string& extra = {}) {
    fs::path root = build_as("root.ext4", "[output]\nformat = \"ext4\"\nsize = \"32M\"\ninitramfs = false\n",
                          root_payload(true) + extra);
    int rc = 0;
    const std::string labelled = testutil::run("tune2fs -L keel-root " + testutil::quoted(root) + " 2>&1", rc);
    EXPECT_EQ(rc, 0) << labelled;
    return root;
  }

  // `initramfs` with `disks` (vda, vdb, ...), "loglevel=4 APPEND"; the
  // console in console_.
  BootResult boot_disks(const fs::path& initramfs, const std::vector<fs::path>& disks, const std::string& append,
                        std::vector<std::string> expect, bool expect_reboot = false) {
    BootOptions o = options(initramfs, std::move(expect), append, std::chrono::seconds(120));
    o.disks = disks;
    o.keep_lines = 80;
    o.expect_reboot = expect_reboot;
    return run(o);
  }
};

TEST_F(DiskRootBoot, Ext4RootAndDataPersistAcrossBoots) {
  const fs::path stage = stage_initramfs();
  const fs::path root = build_as("root.ext4", "[output]\nformat = \"ext4\"\nsize = \"32M\"\n", root_payload(true));
  int rc = 0;
  const std::string labelled = testutil::run("tune2fs -L keel-root " + testutil::quoted(root) + " 2>&1", rc);
  ASSERT_EQ(rc, 0) << labelled;
  const fs::path data = data_disk();
  for (int n = 0; n < 2; ++n) {
    const std::string before = std::to_string(n);
    const BootResult r =
        boot_disks(stage, {root, data},
            "root=LABEL=keel-root keel.data=LABEL=keel-data:/data keel.tmpfs=/tmp keel.root_timeout=20",
            {"keel: disk root: root=LABEL=keel-root: keel is the initramfs's stage",
             "keel: disk root: checking the root /dev/vda \\(e2fsck -p\\)",
             "keel: disk root: mounted /dev/vda \\(ext4, read-write\\)",
             "keel: disk root: mounted /dev/vdb on /data \\(ext4, read-write\\)",
             "keel: disk root: switched; exec /sbin/init as PID 1 of the disk root",
             "keel: running as the system's init \\(pid 1\\)", "SVC-UP-IN-DISK-ROOT",
             "ROOT-FS ef53 PID1-EXE /sbin/keel", "INITRAMFS-GONE 0", "DATA-BOOTS-BEFORE " + before, "DATA-WRITABLE yes",
             "TMP 1021994", "ROOT-BOOTS-BEFORE " + before, "reboot: Power down"});
    EXPECT_TRUE(r.passed()) << "boot " << n + 1 << ": " << shown(r);
    EXPECT_EQ(console_.find("INITRAMFS-MAIN-RUNS"), std::string::npos) << console_;
    expect_clean(root);
    expect_clean(data);
    if (!r.passed()) break;
  }
}

TEST_F(DiskRootBoot, ErofsRootByUuidWithDataPartition) {
  const fs::path stage = stage_initramfs();
  const fs::path tree = build_as("root.dir", "[output]\nformat = \"dir\"\n", root_payload(false));
  const fs::path root = dir_.path() / "root.erofs";
  int rc = 0;
  const std::string made = testutil::run("mkfs.erofs --quiet -T0 --all-root -U " + std::string(kErofsUuid) + " " +
                                             testutil::quoted(root) + " " + testutil::quoted(tree) + " 2>&1",
                                         rc);
  ASSERT_EQ(rc, 0) << made;
  const fs::path data = data_disk();
  for (int n = 0; n < 2; ++n) {
    const std::string before = std::to_string(n);
    const BootResult r =
        boot_disks(stage, {root, data},
            std::string("root=UUID=") + kErofsUuid + " keel.data=LABEL=keel-data:/data keel.tmpfs=/tmp",
            {"keel: disk root: mounted /dev/vda \\(erofs, read-only\\)",
             "keel: disk root: mounted /dev/vdb on /data \\(ext4, read-write\\)",
             "keel: disk root: switched; exec /sbin/init", "keel: running as the system's init \\(pid 1\\)",
             "SVC-UP-IN-DISK-ROOT", "ROOT-FS e0f5e1e2 PID1-EXE /sbin/keel", "DATA-BOOTS-BEFORE " + before,
             "DATA-WRITABLE yes", "TMP 1021994", "reboot: Power down"});
    EXPECT_TRUE(r.passed()) << "boot " << n + 1 << ": " << shown(r);
    EXPECT_EQ(console_.find("e2fsck -p) on the root"), std::string::npos);
    expect_clean(data);
    if (!r.passed()) break;
  }
}

// e2fsck -p exits 4 on the data partition (two files claim one block: not
// something preen mode fixes): it is mounted read-only, the boot goes on,
// and the console says how to repair it.
TEST_F(DiskRootBoot, DataPartitionWithErrorsLeftIsMountedReadOnly) {
  const fs::path stage = stage_initramfs();
  const fs::path root = build_as("root.ext4", "[output]\nformat = \"ext4\"\nsize = \"32M\"\n", root_payload(true));
  int rc = 0;
  std::string out = testutil::run("tune2fs -L keel-root " + testutil::quoted(root) + " 2>&1", rc);
  ASSERT_EQ(rc, 0) << out;
  // No extents and no 64bit: block[0] is a plain block number to point at.
  const fs::path data = dir_.path() / "bad.ext4";
  const fs::path payload = dir_.path() / "payload";
  testutil::write_file(payload, "payload\n");
  const std::string d = testutil::quoted(data);
  out =
      testutil::run("mke2fs -q -F -t ext4 -O ^extent,^64bit -L keel-data " + d + " 16M 2>&1 && debugfs -w -R 'write " +
                        payload.string() + " a' " + d + " 2>&1 && debugfs -w -R 'write " + payload.string() + " b' " +
                        d + " 2>&1 && debugfs -w -R \"sif b block[0] $(debugfs -R 'bmap a 0' " + d +
                        " 2>/dev/null)\" " + d + " 2>&1 && debugfs -w -R 'ssv state 2' " + d + " 2>&1",
                    rc);
  ASSERT_EQ(rc, 0) << out;
  // Checked on a copy: the boot must find it as it is.
  const std::string copy = testutil::quoted(dir_.path() / "bad.copy");
  (void)testutil::run("cp " + d + " " + copy + " && e2fsck -p " + copy + " >/dev/null 2>&1", rc);
  ASSERT_TRUE(WIFEXITED(rc) && (WEXITSTATUS(rc) & 4) != 0) << "the corruption is not one e2fsck -p leaves: " << rc;
  const BootResult r =
      boot_disks(stage, {root, data}, "root=LABEL=keel-root keel.data=LABEL=keel-data:/data",
          {"keel: disk root: mounted /dev/vda \\(ext4, read-write\\)",
           std::string("keel: error: disk root: e2fsck left errors on the data /dev/vdb \\(status 4\\): ") +
               "mounting it READ-ONLY.*e2fsck -f -y /dev/vdb",
           "keel: disk root: mounted /dev/vdb on /data \\(ext4, read-only\\)",
           "keel: running as the system's init \\(pid 1\\)", "SVC-UP-IN-DISK-ROOT", "DATA-WRITABLE no",
           "ROOT-BOOTS-BEFORE 0", "reboot: Power down"});
  EXPECT_TRUE(r.passed()) << shown(r);
  expect_clean(root);
}

// init= that is not in the disk root: found before anything of the
// initramfs is touched; the root and data mounts are let go (both images
// clean afterwards) and the initramfs boots.
TEST_F(DiskRootBoot, MissingInitStaysInTheInitramfs) {
  const fs::path stage = stage_initramfs();
  const fs::path root = build_as("root.ext4", "[output]\nformat = \"ext4\"\nsize = \"32M\"\n", root_payload(true));
  int rc = 0;
  const std::string labelled = testutil::run("tune2fs -L keel-root " + testutil::quoted(root) + " 2>&1", rc);
  ASSERT_EQ(rc, 0) << labelled;
  const fs::path data = data_disk();
  const BootResult r =
      boot_disks(stage, {root, data}, "root=LABEL=keel-root keel.data=LABEL=keel-data:/data init=/sbin/no-such-init",
          {"keel: disk root: mounted /dev/vdb on /data \\(ext4, read-write\\)",
           "keel: error: disk root: init=/sbin/no-such-init: not an executable file in the disk root "
           "\\(No such file or directory\\).*staying in the initramfs",
           "INITRAMFS-MAIN-RUNS", "reboot: Power down"});
  EXPECT_TRUE(r.passed()) << shown(r);
  EXPECT_EQ(console_.find("SVC-UP-IN-DISK-ROOT"), std::string::npos) << console_;
  expect_clean(root);
  expect_clean(data);
}

TEST_F(DiskRootBoot, MissingRootStaysInTheInitramfs) {
  const fs::path stage = stage_initramfs();
  const BootResult r =
      boot_disks(stage, {}, "root=LABEL=missing keel.root_timeout=2 keel.events=console",
          {"keel: disk root: waiting up to 2 s for the root device LABEL=missing",
           std::string("keel: error: disk root: no root device LABEL=missing after 2 s \\(keel.root_timeout=2\\)") +
               ".*Staying in the initramfs",
           // The step is the initramfs keel's own, with no device.
           "keel-event: .*\"event\":\"boot-step\",\"step\":\"root\",\"device\":\"\",\"duration_us\":[0-9]+",
           "INITRAMFS-MAIN-RUNS", "reboot: Power down"});
  EXPECT_TRUE(r.passed()) << shown(r);
}

// e2fsck -p exits 2 ("reboot needed") only when it changed a filesystem
// mounted on "/" (e2fsprogs sets FSCK_REBOOT only with EXT2_MF_ISROOT, from
// /proc/mounts or stat("/")). The stage checks the root before mounting it,
// from an initramfs "/", so the real e2fsck never says 2 there. The closest
// real case: the stage's /sbin/e2fsck is a script that mounts the device
// read-only, chroots into it and runs the real e2fsck of the disk root on
// it, which then sees its device mounted on "/" (as an init script checking
// a root mounted read-only would). A group descriptor's free-block count
// is wrong and the root was not cleanly unmounted, which preen mode fixes:
// the real e2fsck exits 3 (1 fixed | 2 reboot), keel reboots
// without switching; at the second boot the root is clean and boots.
TEST_F(DiskRootBoot, FsckRebootNeededReboots) {
  const std::string wrapper =
      "#!/bin/sh\n"
      "B=/bin/busybox\n"
      "dev=$2\n"
      "$B mkdir -p /fsck-root\n"
      "$B mount -t ext4 -o ro $dev /fsck-root || exit 8\n"
      "$B mount -o bind /dev /fsck-root/dev && $B mount -t proc proc /fsck-root/proc || exit 8\n"
      "$B chroot /fsck-root /sbin/e2fsck \"$@\"\n"
      "rc=$?\n"
      "echo E2FSCK-AS-ROOT-EXIT $rc\n"
      "$B umount /fsck-root/proc; $B umount /fsck-root/dev; $B umount /fsck-root\n"
      "exit $rc\n";
  const fs::path stage = stage_initramfs(file_entry("/sbin/e2fsck", wrapper, "0755"));
  const fs::path root =
      labelled_root(std::string("\n[[program]]\nsource = \"") + kE2fsck + "\"\npath = \"/sbin/e2fsck\"\n");
  const std::string r_ = testutil::quoted(root);
  int rc = 0;
  const std::string out = testutil::run("debugfs -w -R 'set_bg 0 free_blocks_count 7' " + r_ +
                                            " 2>&1 && debugfs -w -R 'set_bg 0 checksum calc' " + r_ +
                                            " 2>&1 && debugfs -w -R 'ssv state 0' " + r_ + " 2>&1",
                                        rc);
  ASSERT_EQ(rc, 0) << out;
  // Checked on a copy (unmounted: e2fsck says 1 there): preen mode fixes it.
  const std::string copy = testutil::quoted(dir_.path() / "root.copy");
  (void)testutil::run("cp " + r_ + " " + copy + " && e2fsck -p " + copy + " >/dev/null 2>&1", rc);
  ASSERT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 1) << "the damage is not one e2fsck -p fixes: " << rc;

  const std::string append = "root=LABEL=keel-root keel.root_timeout=20";
  const BootResult first =
      boot_disks(stage, {root}, append,
          {"keel: disk root: checking the root /dev/vda \\(e2fsck -p\\)", "E2FSCK-AS-ROOT-EXIT 3",
           "keel: error: disk root: e2fsck fixed the root /dev/vda and asks for a reboot \\(status 3\\): rebooting",
           "reboot: Restarting system"},
          true);
  EXPECT_TRUE(first.passed()) << shown(first);
  EXPECT_EQ(console_.find("switched;"), std::string::npos) << console_;
  EXPECT_EQ(console_.find("INITRAMFS-MAIN-RUNS"), std::string::npos) << console_;
  expect_clean(root);
  const BootResult second = boot_disks(stage, {root}, append,
                                {"E2FSCK-AS-ROOT-EXIT 0", "keel: disk root: mounted /dev/vda \\(ext4, read-write\\)",
                                 "keel: running as the system's init \\(pid 1\\)", "SVC-UP-IN-DISK-ROOT",
                                 "ROOT-BOOTS-BEFORE 0", "reboot: Power down"});
  EXPECT_TRUE(second.passed()) << shown(second);
  expect_clean(root);
}

// The data partition's wait is bounded by keel.root_timeout too: the root
// was mounted, the data device never comes, the root is let go (clean
// afterwards) and the initramfs boots.
TEST_F(DiskRootBoot, MissingDataDeviceStaysInTheInitramfs) {
  const fs::path stage = stage_initramfs();
  const fs::path root = labelled_root();
  const BootResult r =
      boot_disks(stage, {root}, "root=LABEL=keel-root keel.data=LABEL=nope:/data keel.root_timeout=2",
          {"keel: disk root: mounted /dev/vda \\(ext4, read-write\\)",
           "keel: disk root: waiting up to 2 s for the data device LABEL=nope",
           std::string("keel: error: disk root: no data device LABEL=nope after 2 s \\(keel.root_timeout=2\\)") +
               ".*Staying in the initramfs",
           "INITRAMFS-MAIN-RUNS", "reboot: Power down"});
  EXPECT_TRUE(r.passed()) << shown(r);
  EXPECT_EQ(console_.find("SVC-UP-IN-DISK-ROOT"), std::string::npos) << console_;
  expect_clean(root);
}

// PARTLABEL= on the GPT keel-image writes (format = "disk"): the kernel
// reads the table, its uevents name the partitions, the stage finds both.
TEST_F(DiskRootBoot, PartlabelOnAKeelImageDisk) {
  const fs::path stage = stage_initramfs();
  const fs::path disk = build_as("disk.img",
                              "[output]\nformat = \"disk\"\ninitramfs = false\n\n[disk]\nroot = \"ext4\"\nroot_size = "
                              "\"32M\"\ndata_size = \"16M\"\n",
                              root_payload(true));
  for (int n = 0; n < 2; ++n) {
    const std::string before = std::to_string(n);
    const BootResult r =
        boot_disks(stage, {disk}, "root=PARTLABEL=keel-root keel.data=PARTLABEL=keel-data:/data keel.root_timeout=20",
            {"keel: disk root: waiting up to 20 s for the root device PARTLABEL=keel-root",
             "keel: disk root: mounted /dev/vda1 \\(ext4, read-write\\)",
             "keel: disk root: mounted /dev/vda2 on /data \\(ext4, read-write\\)",
             "keel: running as the system's init \\(pid 1\\)", "SVC-UP-IN-DISK-ROOT", "DATA-BOOTS-BEFORE " + before,
             "DATA-WRITABLE yes", "ROOT-BOOTS-BEFORE " + before, "reboot: Power down"});
    EXPECT_TRUE(r.passed()) << "boot " << n + 1 << ": " << shown(r);
    if (!r.passed()) break;
  }
}

// init= is an executable file the kernel cannot run (no ELF, no "#!"):
// found by init_in_root, execve fails with ENOEXEC after the initramfs is
// gone, and keel execs its own (deleted) binary through /proc/self/exe,
// which boots the disk root as its init.
TEST_F(DiskRootBoot, InitThatCannotRunFallsBackToKeelItself) {
  const fs::path stage = stage_initramfs();
  const fs::path root = labelled_root(file_entry("/sbin/not-a-program", "just text\n", "0755"));
  const std::string fallback =
      "keel: warning: disk root: exec /sbin/not-a-program failed \\(Exec format error\\): exec keel's own binary "
      "\\(/proc/self/exe\\) instead";
  const BootResult r =
      boot_disks(stage, {root}, "root=LABEL=keel-root init=/sbin/not-a-program",
          {"keel: disk root: switched; exec /sbin/not-a-program as PID 1 of the disk root", fallback,
           "keel: running as the system's init \\(pid 1\\)", "SVC-UP-IN-DISK-ROOT",
           "ROOT-FS ef53 PID1-EXE /sbin/keel \\(deleted\\)", "INITRAMFS-GONE 0", "reboot: Power down"});
  EXPECT_TRUE(r.passed()) << shown(r);
  EXPECT_EQ(console_.find("INITRAMFS-MAIN-RUNS"), std::string::npos) << console_;
  expect_clean(root);
}

// PARTUUID= (the kernel's uevent has none: keel reads the disk's GPT) for
// the root and the data partition, the GUIDs as sfdisk reads them (upper
// case). keel.events=console: the disk root's keel records the stage's
// "root" boot step, passed across the exec, after its keel-start.
TEST_F(DiskRootBoot, PartuuidOnAKeelImageDiskWithTheRootStep) {
  if (!testutil::have("sfdisk")) GTEST_SKIP() << "sfdisk is not installed";
  const fs::path stage = stage_initramfs();
  const fs::path disk = build_as("disk.img",
                              "[output]\nformat = \"disk\"\ninitramfs = false\n\n[disk]\nroot = \"ext4\"\nroot_size = "
                              "\"32M\"\ndata_size = \"16M\"\n",
                              root_payload(true));
  std::vector<std::string> guids;
  for (int n = 1; n <= 2; ++n) {
    int rc = 0;
    std::string out = testutil::run("sfdisk --part-uuid " + testutil::quoted(disk) + " " + std::to_string(n), rc);
    ASSERT_EQ(rc, 0) << out;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    guids.push_back(out);
  }
  const BootResult r =
      boot_disks(stage, {disk},
          "root=PARTUUID=" + guids[0] + " keel.data=PARTUUID=" + guids[1] +
              ":/data keel.root_timeout=20 keel.events=console",
          {"keel: disk root: mounted /dev/vda1 \\(ext4, read-write\\)",
           "keel: disk root: mounted /dev/vda2 on /data \\(ext4, read-write\\)",
           "keel: disk root: switched; exec /sbin/init", "keel-event: .*\"event\":\"keel-start\"",
           "keel-event: .*\"event\":\"boot-step\",\"step\":\"root\",\"device\":\"/dev/vda1\",\"duration_us\":[0-9]+",
           "keel: running as the system's init \\(pid 1\\)", "SVC-UP-IN-DISK-ROOT", "DATA-WRITABLE yes",
           "reboot: Power down"});
  EXPECT_TRUE(r.passed()) << shown(r);
  // Recorded once, by the disk root's keel: the initramfs's keel did not.
  std::size_t steps = 0;
  for (std::size_t at = console_.find("\"step\":\"root\""); at != std::string::npos;
       at = console_.find("\"step\":\"root\"", at + 1)) {
    ++steps;
  }
  EXPECT_EQ(steps, 1u) << console_;
  EXPECT_EQ(console_.find("KEEL_STAGE_ROOT"), std::string::npos) << console_;
}

}  // namespace
}  // namespace keel::image
