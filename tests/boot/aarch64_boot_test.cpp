// keel on arm64, booted for real: keel cross-built by scripts/cross-aarch64.sh
// (Debian's aarch64 compiler, cmake/aarch64-linux-gnu.cmake), Debian's arm64
// kernel and static BusyBox, packed by keel-image and booted by it in
// qemu-system-aarch64 (-M virt, TCG). What is written per architecture in
// keel runs here: the clone trampoline (clone3 into a service's cgroup, and
// the old clone for the configuration loader, which has no cgroup) and the
// raw system calls its children make before their exec.
//
//   - keel is PID 1 with keel.toml read by the loader; a service logs to
//     keel's log and becomes ready; the main program reads the log back
//     with keelctl, reports the architecture, runs keel-cinit (the
//     container init, as a subreaper) and gets its child's status back,
//     and its end powers off.
//
// Needs scripts/cross-aarch64.sh run first (dev.sh check does): the arm64
// keel at BUILD-aarch64/keel, the kernel and BusyBox under the kernel
// cache's arm64/current.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "boot_util.hpp"

namespace keel::image {
namespace {

namespace fs = std::filesystem;
using boottest::file_entry;
using boottest::main_program;
using boottest::service;

class Aarch64Boot : public boottest::QemuBoot {
 protected:
  Aarch64Boot() : QemuBoot("keel-aarch64-boot-") {}

  void SetUp() override {
    QemuBoot::SetUp();
    if (IsSkipped()) return;
    const fs::path arm = kernel_.parent_path().parent_path().parent_path() / "arm64/current";
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(arm / "boot", ec)) {
      if (entry.path().filename().string().starts_with("vmlinuz-")) arm_kernel_ = entry.path();
    }
    arm_busybox_ = arm / "bin/busybox";
    if (arm_kernel_.empty() || !fs::exists(arm_busybox_)) {
      GTEST_SKIP() << "no arm64 kernel and busybox under " << arm << ": run scripts/cross-aarch64.sh";
    }
    for (const std::string& binary : {std::string(KEEL_AARCH64_BINARY), arm_cinit()}) {
      if (!fs::exists(binary)) GTEST_SKIP() << binary << ": run scripts/cross-aarch64.sh";
    }
    if (!testutil::have("qemu-system-aarch64")) GTEST_SKIP() << "qemu-system-aarch64 is not installed (qemu-system-arm)";
  }

  // keel-cinit, built beside keel.
  static std::string arm_cinit() { return (fs::path(KEEL_AARCH64_BINARY).parent_path() / "keel-cinit").string(); }

  fs::path arm_kernel_;
  fs::path arm_busybox_;
};

TEST_F(Aarch64Boot, KeelSupervisesServicesOnArm64) {
  ASSERT_TRUE(is_arm64_kernel(arm_kernel_)) << arm_kernel_;
  const fs::path image = boottest::build_spec(
      dir_.path(), "arm64.cpio.gz",
      "[output]\ncompression = \"gzip\"\n\n[boot]\ncmdline = \"loglevel=4\"\n" +
          boottest::keel_and_busybox(KEEL_AARCH64_BINARY, arm_busybox_.string()) +
          boottest::keel_toml("hostname = \"arm64-box\"\n") + "\n[[program]]\nsource = \"" + arm_cinit() +
          "\"\npath = \"/bin/keel-cinit\"\n" +
          service("hello", "command = [\"/bin/busybox\", \"sh\", \"-c\", \"echo HELLO $(/bin/busybox uname -m); "
                           "exec /bin/busybox sleep 600\"]\n") +
          main_program("B=/bin/busybox\n"
                       "/sbin/keelctl wait hello --ready --timeout 30 >/dev/null || echo HELLO-NOT-READY\n"
                       "for i in $($B seq 100); do /sbin/keelctl log hello | $B grep -q HELLO && break; $B sleep 0.1; done\n"
                       "echo MAIN-READ $(/sbin/keelctl log hello | $B grep -o 'HELLO .*')\n"
                       "echo ARCH $($B uname -m) PID1 $($B readlink /proc/1/exe) HOST $($B hostname)\n"
                       // The container init too (a subreaper here): its child's status comes back.
                       "/bin/keel-cinit -- $B sh -c 'echo CINIT-CHILD; exit 7'; echo CINIT-EXIT $?\n"));
  image::BootOptions o = options(image, {"keel: running as the system's init \\(pid 1\\)", "keel: hello: ready",
                                         "MAIN-READ HELLO aarch64", "ARCH aarch64 PID1 /sbin/keel HOST arm64-box",
                                         "CINIT-CHILD", "CINIT-EXIT 7",
                                         "keel: power-off requested", "reboot: Power down"},
                                 "", std::chrono::seconds(120));
  o.kernel = arm_kernel_;
  const image::BootResult r = run(o);
  EXPECT_TRUE(r.passed()) << shown(r);
  EXPECT_EQ(console_.find("HELLO-NOT-READY"), std::string::npos) << console_;
  EXPECT_EQ(console_.find("configuration loader"), std::string::npos) << "the loader failed:\n" << console_;
}

}  // namespace
}  // namespace keel::image
