// The hardware watchdog (issue 12, part 3), for real: keel as the machine's
// PID 1 in QEMU with an emulated Intel 6300ESB (`-device i6300esb`) and the
// kernel's i6300esb module bundled by keel-image's [modules] (with its
// dependency, the watchdog core). QEMU runs with -no-reboot, so a reset of
// the machine ends QEMU: a reset by the device is QEMU exiting by itself
// with no kernel "reboot:" line before it (a power-off prints "reboot:
// Power down", a reboot the kernel asked for "reboot: Restarting system",
// a panic its "Kernel panic" line; the device resets without a word).
//
//   - healthy: the machine stays up 20 s with a 5 s timeout, then powers
//     off cleanly;
//   - a critical service kept unhealthy: keel's "not petting" line, then a
//     reset, with no orderly shutdown on the console;
//   - a clean power-off with the watchdog armed: the orderly shutdown, the
//     magic close (the kernel's "watchdog did not stop!" never appears),
//     and QEMU ends by the power-off;
//   - a hung shutdown: reset after the watchdog's shutdown_timeout.
//
// TCG, the cached vmlinux, -cpu qemu64, as tests/boot/system_boot_test.cpp;
// nothing is timed on the host, each boot is bounded by its timeout.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
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

constexpr const char* kBusybox = "/bin/busybox";

std::string file_entry(const std::string& path, const std::string& content, const char* mode = nullptr) {
  std::string out = "\n[[file]]\npath = \"" + path + "\"\n";
  if (mode != nullptr) out += std::string("mode = \"") + mode + "\"\n";
  return out + "content = '''\n" + content + "'''\n";
}

std::string main_program(const std::string& script) {
  return file_entry("/etc/keel/main", "#!/bin/sh\n" + script + "\n", "0755");
}

std::string service(const std::string& name, const std::string& toml) {
  return file_entry("/etc/keel/services/" + name + ".toml", toml);
}

std::string keel_toml(const std::string& toml) { return file_entry("/etc/keel/keel.toml", toml); }

class HwWatchdogBoot : public ::testing::Test {
 protected:
  void SetUp() override {
    kernel_ = boottest::cached_kernel();
    if (kernel_.empty()) GTEST_SKIP() << "no kernel cache: run scripts/fetch-kernel.sh";
    modules_ = boottest::cached_modules();
    if (modules_.empty()) GTEST_SKIP() << "no kernel modules in the cache";
    if (!testutil::have("qemu-system-x86_64")) GTEST_SKIP() << "qemu-system-x86_64 is not installed";
    if (!fs::exists(kBusybox) || !read_elf(kBusybox).is_static()) GTEST_SKIP() << "needs a static " << kBusybox;
    if (!read_elf(KEEL_BINARY).is_static()) GTEST_SKIP() << KEEL_BINARY << " is not static (a sanitizer build)";
  }

  // keel, busybox, the i6300esb module, and `body`.
  fs::path build(const std::string& body) {
    const fs::path spec = dir_.path() / "spec.toml";
    testutil::write_file(spec, std::string("[output]\ncompression = \"gzip\"\n\n[boot]\ncmdline = \"loglevel=4\"\n\n"
                                           "[keel]\nbinary = \"") +
                                   KEEL_BINARY + "\"\n\n[[program]]\nsource = \"" + kBusybox +
                                   "\"\npath = \"/bin/busybox\"\n\n[[symlink]]\npath = \"/bin/sh\"\ntarget = "
                                   "\"busybox\"\n\n[modules]\nnames = [\"i6300esb\"]\ntree = \"" +
                                   modules_.string() + "\"\n" + body);
    BuildOptions options;
    options.output = dir_.path() / ("image" + std::to_string(++images_) + ".cpio.gz");
    options.mtime = 0;
    std::ostringstream notes;
    options.log = &notes;
    return build_image(spec, options).output;
  }

  BootOptions options(const fs::path& image, std::vector<std::string> expect) {
    BootOptions o;
    o.kernel = kernel_;
    o.initrd = image;
    o.append = "loglevel=4";
    o.accel = Accel::Tcg;
    o.timeout = std::chrono::seconds(120);
    o.keep_lines = 60;
    o.expect = std::move(expect);
    o.extra_args = {"-device", "i6300esb", "-watchdog-action", "reset"};
    return o;
  }

  BootResult run(const BootOptions& o) {
    std::ostringstream console, log;
    BootResult result = boot(o, console, log);
    console_ = console.str();
    std::erase(console_, '\r');
    std::cerr << ::testing::UnitTest::GetInstance()->current_test_info()->name() << ": " << to_string(result.status)
              << ", " << result.elapsed.count() << " ms\n";
    if (std::getenv("KEEL_SHOW_CONSOLE") != nullptr) std::cerr << console_;
    return result;
  }

  [[nodiscard]] bool shows(const std::string& pattern) const {
    return std::regex_search(console_, std::regex(pattern));
  }
  [[nodiscard]] std::string shown(const BootResult& r) const { return r.message + "\nconsole:\n" + console_; }

  // QEMU ended by itself with no power-off, reboot or panic from the
  // kernel: under -no-reboot that is a reset of the machine by the device.
  void expect_reset_by_the_device(const BootResult& r) const {
    EXPECT_TRUE(r.passed()) << shown(r);  // every pattern, and QEMU exited 0 by itself
    EXPECT_FALSE(shows("reboot: ")) << console_;
    EXPECT_FALSE(shows("Kernel panic")) << console_;
  }

  fs::path kernel_;
  fs::path modules_;
  testutil::TempDir dir_{"keel-hwdogboot-"};
  int images_ = 0;
  std::string console_;
};

// 1. Healthy: 20 s up with a 5 s timeout (petted every 1.666 s), a
// critical service running all along, then the main program ends and the
// machine powers off.
TEST_F(HwWatchdogBoot, HealthyMachineStaysUpWellPastTheTimeout) {
  const fs::path image =
      build(keel_toml("[watchdog]\ndevice = \"/dev/watchdog\"\ntimeout = 5\nshutdown_timeout = 30\n"
                      "critical_unhealthy = 3\n") +
            service("steady", "critical = true\ncommand = [\"/bin/busybox\", \"sleep\", \"600\"]\n") +
            main_program("/bin/busybox sleep 20\necho UPTIME $(/bin/busybox cut -d. -f1 /proc/uptime)"));
  const BootResult r =
      run(options(image, {"keel: watchdog /dev/watchdog: armed, timeout 5 s \\(asked 5 s\\), petted every 1666 ms",
                          "keel: steady: started", "UPTIME [0-9]+", "keel: power-off requested",
                          "keel: watchdog /dev/watchdog: the shutdown has 30 s before the hardware resets the machine",
                          "reboot: Power down"}));
  ASSERT_TRUE(r.passed()) << shown(r);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(console_, m, std::regex("UPTIME ([0-9]+)"))) << console_;
  EXPECT_GE(std::stoi(m[1]), 20) << "the guest's own clock: 20 s of sleep, 4 timeouts";
  EXPECT_FALSE(shows("not petting")) << console_;
  EXPECT_FALSE(shows("did not stop")) << console_;
}

// 2. A critical service that always fails: after critical_unhealthy (3 s)
// keel stops petting and the device resets the machine within its 5 s;
// the main program would keep the machine up for 600 s. Its restarts come
// at most 1 s apart and each run is "ready" for a moment (simple): the
// loop is unhealthy as a whole, from its first failure.
TEST_F(HwWatchdogBoot, ACriticalServiceKeptUnhealthyGetsTheMachineReset) {
  const fs::path image =
      build(keel_toml("[watchdog]\ndevice = \"/dev/watchdog\"\ntimeout = 5\ncritical_unhealthy = 3\n") +
            service("broken", "critical = true\nrestart_delay_max = 1\ncommand = [\"/bin/busybox\", \"false\"]\n") +
            main_program("echo MAIN-UP\nexec /bin/busybox sleep 600"));
  const BootResult r = run(options(
      image, {"keel: watchdog /dev/watchdog: armed, timeout 5 s", "keel: broken: pid [0-9]+ exited with status 1",
              "keel: (error: )?watchdog /dev/watchdog: critical service broken unhealthy for [0-9]+ s: not petting any "
              "more; the hardware resets the machine within 5 s"}));
  expect_reset_by_the_device(r);
  // No orderly shutdown: nothing asked for one.
  EXPECT_FALSE(shows("requested")) << console_;
  EXPECT_FALSE(shows("keel: shutdown \\+")) << console_;
  EXPECT_FALSE(shows("syncing filesystems")) << console_;
  EXPECT_TRUE(shows("MAIN-UP")) << console_;
}

// 3. A clean power-off with the watchdog armed: the orderly shutdown, the
// device disarmed by magic close right before reboot(2) (the kernel says
// "watchdog did not stop!" when the device is closed without it), and
// QEMU ends by the power-off, not a reset.
TEST_F(HwWatchdogBoot, CleanPowerOffIsNotFollowedByAReset) {
  const fs::path image =
      build(keel_toml("[watchdog]\ndevice = \"/dev/watchdog\"\ntimeout = 5\n") + main_program("echo MAIN-DONE"));
  const BootResult r =
      run(options(image, {"keel: watchdog /dev/watchdog: armed, timeout 5 s", "MAIN-DONE", "keel: power-off requested",
                          "keel: watchdog /dev/watchdog: the shutdown has 120 s before the hardware resets the machine",
                          "keel: shutdown \\+[0-9.]+ ms: every service is stopped",
                          "keel: syncing filesystems, then power-off", "reboot: Power down"}));
  EXPECT_TRUE(r.passed()) << shown(r);
  EXPECT_FALSE(shows("did not stop")) << console_;
  EXPECT_FALSE(shows("not petting")) << console_;
}

// 4. A hung shutdown is still reset: a service that ignores SIGTERM with a
// 600 s stop_timeout holds the shutdown; the watchdog's shutdown_timeout
// (4 s) ends it, long before keel's own bounds would.
TEST_F(HwWatchdogBoot, AHungShutdownIsResetAfterTheShutdownTimeout) {
  const fs::path image =
      build(keel_toml("[watchdog]\ndevice = \"/dev/watchdog\"\ntimeout = 5\nshutdown_timeout = 4\n") +
            service("stubborn",
                    "stop_timeout = 600\nstdout = \"console\"\ncommand = [\"/bin/busybox\", \"sh\", "
                    "\"-c\", \"trap '' TERM; echo STUBBORN-UP; while :; do /bin/busybox sleep 1; done\"]\n") +
            main_program("/sbin/keelctl wait stubborn --ready --timeout 60 >/dev/null\necho MAIN-DONE"));
  const BootResult r =
      run(options(image, {"STUBBORN-UP", "MAIN-DONE", "keel: power-off requested",
                          "keel: watchdog /dev/watchdog: the shutdown has 4 s before the hardware resets the machine",
                          "keel: stubborn: stopping"}));
  expect_reset_by_the_device(r);
  EXPECT_FALSE(shows("every service is stopped")) << console_;
  EXPECT_FALSE(shows("syncing filesystems")) << console_;
}

}  // namespace
}  // namespace keel::image
