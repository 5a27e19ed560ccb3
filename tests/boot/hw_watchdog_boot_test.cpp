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
//   - a hung shutdown: reset after the watchdog's shutdown_timeout;
//   - a halt: the halted machine is still halted well after the
//     shutdown_timeout (a halted guest does not end QEMU; this test ends it).
//
// TCG, the cached vmlinux, -cpu qemu64, as tests/boot/system_boot_test.cpp;
// nothing is timed on the host, each boot is bounded by its timeout.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

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

using boottest::keel_toml;
using boottest::main_program;
using boottest::service;

class HwWatchdogBoot : public boottest::QemuBoot {
 protected:
  HwWatchdogBoot() : QemuBoot("keel-hwdogboot-", /*modules=*/true) {}

  // keel, busybox, the i6300esb module, and `body`.
  fs::path build(const std::string& body) {
    return QemuBoot::build(boottest::modules_spec("\"i6300esb\"", modules_) + body);
  }

  // With the emulated i6300esb, which resets the machine when it fires.
  BootOptions options(const fs::path& image, std::vector<std::string> expect) const {
    BootOptions o = QemuBoot::options(image, std::move(expect), "", std::chrono::seconds(120));
    o.extra_args = {"-device", "i6300esb", "-watchdog-action", "reset"};
    return o;
  }

  // QEMU ended by itself with no power-off, reboot or panic from the
  // kernel: under -no-reboot that is a reset of the machine by the device.
  void expect_reset_by_the_device(const BootResult& r) const {
    EXPECT_TRUE(r.passed()) << shown(r);  // every pattern, and QEMU exited 0 by itself
    EXPECT_FALSE(shows("reboot: ")) << console_;
    EXPECT_FALSE(shows("Kernel panic")) << console_;
  }
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
// the main program would keep the machine up for 600 s. Each run is
// "ready" (simple) for 2 s, then fails; restarts come at most 1 s later
// (fewer than keel's burst of 5 starts in 10 s, so no restart-rate delay
// stretches the back-off): no single pause reaches 3 s, and only the loop
// as a whole, unhealthy from its first failure, gets the machine reset.
TEST_F(HwWatchdogBoot, ACriticalServiceKeptUnhealthyGetsTheMachineReset) {
  const fs::path image =
      build(keel_toml("[watchdog]\ndevice = \"/dev/watchdog\"\ntimeout = 5\ncritical_unhealthy = 3\n") +
            service("broken",
                    "critical = true\nrestart_delay_max = 1\ncommand = [\"/bin/busybox\", \"sh\", \"-c\", "
                    "\"/bin/busybox sleep 2; exit 1\"]\n") +
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

// 5. A halt with the watchdog armed: the halted machine is not reset:
// QEMU is still running 10 s after the halt, with a watchdog
// shutdown_timeout of 3 s. keel disarms the device by magic close right
// before reboot(2); on this kernel the i6300esb is stopped at the halt even
// without it (seen: this test passes with keel's magic close removed; the
// watchdog core stops a device whose driver asks for it at reboot(2)), so
// this guards the outcome, not the magic close itself, which matters for
// drivers that do not ask.
TEST_F(HwWatchdogBoot, AHaltedMachineStaysHalted) {
  const fs::path image =
      build(keel_toml("[watchdog]\ndevice = \"/dev/watchdog\"\ntimeout = 5\nshutdown_timeout = 3\n") +
            main_program("/bin/busybox kill -USR1 1\nexec /bin/busybox sleep 600"));
  BootOptions o = options(image, {"keel: watchdog /dev/watchdog: armed, timeout 5 s", "keel: halt requested",
                                  "keel: watchdog /dev/watchdog: the shutdown has 3 s before the hardware resets the "
                                  "machine",
                                  "keel: syncing filesystems, then halt"});
  bool ended = false;
  const BootResult r = run_until_halted(o, std::chrono::seconds(10), ended);
  ASSERT_TRUE(r.passed()) << shown(r);  // the halt came
  EXPECT_FALSE(ended) << "QEMU ended after the halt: the device reset the halted machine\n" << console_;
}

}  // namespace
}  // namespace keel::image
