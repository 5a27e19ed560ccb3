// keel as the machine's PID 1, booted for real (issue 5, section 5): one
// test per behaviour, each building a small image (the host's static
// busybox, keel) with keel-image's library and booting it in QEMU (TCG, the
// cached vmlinux, -cpu qemu64, loglevel=4), with the serial console lines
// expected in order. Nothing is timed on the host: each boot is bounded by
// BootOptions.timeout, and durations are read from keel's own time stamps.
//
//   - the early mounts, read from /proc/mounts by the main program;
//   - a bad keel.toml: its errors with line and key, the boot goes on;
//   - the rescue target (`single`), keel.target=NAME, the emergency shell;
//   - launcher mode: the main program's exit status, then power-off;
//   - the hand-off (keel.exec=), and a hand-off that fails;
//   - each signal's action, the [signals] table, reboot/poweroff/halt;
//   - a service that ignores SIGTERM, killed after its stop_timeout;
//   - rng-ready with a starved RNG (qemu64 has no RDRAND; no virtio-rng);
//   - the random seed on an ext4 disk, replaced at every boot.
//
// A halted guest does not end QEMU (only a power-off does, and a reboot
// under -no-reboot), so the halt tests run QEMU themselves with keel-image's
// qemu_command and ConsoleWatcher and stop it once "reboot: System halted"
// is on the console.
//
// Needs the kernel cache (scripts/fetch-kernel.sh), QEMU, a static busybox
// at /bin/busybox and a static keel; the rng test needs Debian's python3,
// the seed test e2fsprogs; each is skipped without.
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
#include <optional>
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
using boottest::keel_toml;
using boottest::main_program;
using boottest::service;

// The time stamp of the first console line that matches `pattern`
// ("[    1.234567] keel: ..."), or nullopt.
std::optional<double> stamp_of(const std::string& console, const std::string& pattern) {
  const std::regex line_re("\\[\\s*([0-9]+\\.[0-9]+)\\] .*" + pattern);
  std::smatch m;
  if (!std::regex_search(console, m, line_re)) return std::nullopt;
  return std::stod(m[1]);
}

class SystemBoot : public boottest::QemuBoot {
 protected:
  SystemBoot() : QemuBoot("keel-sysboot-") {}
};

// 1. The early mounts, in the order keel makes them.
TEST_F(SystemBoot, EarlyMountsAreThere) {
  const fs::path image =
      build(main_program("/bin/busybox awk '$2 ~ /^\\/(proc|sys|dev|dev\\/pts|dev\\/shm|run|sys\\/fs\\/cgroup)$/ "
                         "{ print \"MOUNT\", $1, $2, $3 }' /proc/mounts"));
  const BootResult r = run(options(image, {"MOUNT \\S+ /proc proc", "MOUNT \\S+ /sys sysfs", "MOUNT \\S+ /dev devtmpfs",
                                           "MOUNT \\S+ /dev/pts devpts", "MOUNT \\S+ /dev/shm tmpfs",
                                           "MOUNT \\S+ /run tmpfs", "MOUNT \\S+ /sys/fs/cgroup cgroup2",
                                           "keel: main: pid [0-9]+ exited with status 0", "reboot: Power down"}));
  EXPECT_TRUE(r.passed()) << shown(r);
}

// 2. A bad keel.toml: each error with its line and key; the good keys and
// the services still work.
TEST_F(SystemBoot, BadKeelTomlStillBoots) {
  const fs::path image = build(keel_toml("hostname = \"box\"\nshutdown_grace = \"five\"\nno_such_key = 1\n") +
                               service("svc",
                                       "stdout = \"console\"\ncommand = [\"/bin/busybox\", \"sh\", \"-c\", "
                                       "\"echo SVC-UP; exec /bin/busybox sleep 600\"]\n") +
                               main_program("echo MAIN-UP $(/bin/busybox hostname)"));
  const BootResult r = run(options(
      image, {"keel\\.toml:[23]: (shutdown_grace|no_such_key): ", "keel\\.toml:[23]: (shutdown_grace|no_such_key): ",
              "keel: hostname box", "MAIN-UP box", "power-off requested", "reboot: Power down"}));
  EXPECT_TRUE(r.passed()) << shown(r);
  EXPECT_TRUE(std::regex_search(console_, std::regex("keel\\.toml:2: shutdown_grace: expected a number"))) << console_;
  EXPECT_TRUE(std::regex_search(console_, std::regex("keel\\.toml:3: no_such_key: unknown key"))) << console_;
  EXPECT_NE(console_.find("SVC-UP"), std::string::npos) << console_;
}

// 3. `single`: the rescue shell and nothing else.
TEST_F(SystemBoot, RescueTargetStartsOnlyTheShell) {
  const fs::path image =
      build(keel_toml("rescue_shell = [\"/bin/busybox\", \"sh\", \"-c\", \"echo RESCUE-SHELL; /sbin/poweroff\"]\n") +
            service("svc",
                    "stdout = \"console\"\ncommand = [\"/bin/busybox\", \"sh\", \"-c\", "
                    "\"echo SVC-RAN; exec /bin/busybox sleep 600\"]\n") +
            main_program("echo MAIN-RAN"));
  const BootResult r = run(options(image,
                                   {"keel: (warning: )?rescue target: a shell on the console", "keel: rescue: started",
                                    "RESCUE-SHELL", "power-off requested", "reboot: Power down"},
                                   "single"));
  EXPECT_TRUE(r.passed()) << shown(r);
  EXPECT_EQ(console_.find("MAIN-RAN"), std::string::npos) << console_;
  EXPECT_EQ(console_.find("keel: main: started"), std::string::npos) << console_;
  EXPECT_EQ(console_.find("SVC-RAN"), std::string::npos) << console_;
}

// 4. keel.target=NAME beats the default target.
TEST_F(SystemBoot, KernelCommandLinePicksTheTarget) {
  const fs::path image =
      build(service("default", "type = \"target\"\nrequires = [\"two\"]\n") +
            service("picked", "type = \"target\"\nrequires = [\"one\"]\n") +
            service("one",
                    "stdout = \"console\"\nrestart = \"never\"\ncommand = [\"/bin/busybox\", \"sh\", \"-c\", "
                    "\"echo ONE-RAN; /sbin/keelctl wait picked --ready --timeout 60 >/dev/null; "
                    "/sbin/poweroff; exec /bin/busybox sleep 600\"]\n") +
            service("two",
                    "stdout = \"console\"\ncommand = [\"/bin/busybox\", \"sh\", \"-c\", "
                    "\"echo TWO-RAN; /sbin/poweroff; exec /bin/busybox sleep 600\"]\n") +
            main_program("echo MAIN-RAN"));
  const BootResult r = run(
      options(image, {"keel: one: started", "reached target picked in", "power-off requested", "reboot: Power down"},
              "keel.target=picked"));
  EXPECT_TRUE(r.passed()) << shown(r);
  EXPECT_NE(console_.find("ONE-RAN"), std::string::npos) << console_;
  EXPECT_EQ(console_.find("TWO-RAN"), std::string::npos) << console_;
  EXPECT_EQ(console_.find("keel: two: started"), std::string::npos) << console_;
  EXPECT_EQ(console_.find("MAIN-RAN"), std::string::npos) << console_;
}

// 5. The start target fails: the emergency shell.
TEST_F(SystemBoot, FailedTargetStartsTheEmergencyShell) {
  const fs::path image =
      build(keel_toml("rescue_shell = [\"/bin/busybox\", \"sh\", \"-c\", \"echo EMERGENCY; /sbin/poweroff\"]\n") +
            service("default", "type = \"target\"\nrequires = [\"broken\"]\n") +
            service("broken", "type = \"oneshot\"\nrestart = \"never\"\ncommand = [\"/bin/busybox\", \"false\"]\n"));
  const BootResult r =
      run(options(image, {"keel: broken: pid [0-9]+ exited with status 1", "keel: (error: )?broken: failed",
                          "keel: (error: )?could not reach target default", "keel: (error: )?target default failed: ",
                          "keel: (warning: )?starting the emergency shell on the console", "keel: emergency: started",
                          "EMERGENCY", "power-off requested", "reboot: Power down"}));
  EXPECT_TRUE(r.passed()) << shown(r);
}

// 6. Launcher mode: the main program's status on the console, then the
// shutdown and the power-off.
TEST_F(SystemBoot, MainProgramStatusThenPowerOff) {
  const fs::path image = build(main_program("echo MAIN-RUNS\nexit 7"));
  const BootResult r = run(options(
      image,
      {"keel: main: started \\(pid [0-9]+\\)", "MAIN-RUNS", "keel: main: pid [0-9]+ exited with status 7",
       "keel: power-off requested", "keel: shutdown \\+[0-9.]+ ms: every service is stopped",
       "keel: shutdown \\+[0-9.]+ ms: synced", "keel: syncing filesystems, then power-off", "reboot: Power down"}));
  EXPECT_TRUE(r.passed()) << shown(r);
}

// 7. The hand-off: the program is PID 1.
TEST_F(SystemBoot, HandOffMakesTheProgramPid1) {
  const fs::path image = build(file_entry("/sbin/hello", "#!/bin/sh\necho HELLO pid $$\n/sbin/poweroff -f\n", "0755") +
                               main_program("echo MAIN-RAN"));
  const BootResult r =
      run(options(image, {"keel: handing PID 1 over to /sbin/hello", "HELLO pid 1", "reboot: Power down"},
                  "keel.exec=/sbin/hello"));
  EXPECT_TRUE(r.passed()) << shown(r);
  EXPECT_EQ(console_.find("MAIN-RAN"), std::string::npos) << console_;
}

TEST_F(SystemBoot, FailedHandOffBootsTheServices) {
  const fs::path image = build(main_program("echo MAIN-RAN"));
  const BootResult r =
      run(options(image,
                  {"keel: handing PID 1 over to /nonexistent",
                   "keel: (error: )?hand-off to /nonexistent failed: No such file or directory; keel stays "
                   "PID 1 and starts the services",
                   "keel: main: started", "MAIN-RAN", "reboot: Power down"},
                  "keel.exec=/nonexistent"));
  EXPECT_TRUE(r.passed()) << shown(r);
}

// 8. Each signal's action, and reboot / poweroff / halt.
TEST_F(SystemBoot, SigUsr1Halts) {
  const fs::path image = build(main_program("/bin/busybox kill -USR1 1\nexec /bin/busybox sleep 600"));
  const BootResult r =
      run_until_halted(options(image, {"keel: halt requested", "keel: syncing filesystems, then halt"}));
  EXPECT_TRUE(r.passed()) << shown(r);
}

TEST_F(SystemBoot, SigUsr2PowersOff) {
  const fs::path image = build(main_program("/bin/busybox kill -USR2 1\nexec /bin/busybox sleep 600"));
  const BootResult r = run(
      options(image, {"keel: power-off requested", "keel: syncing filesystems, then power-off", "reboot: Power down"}));
  EXPECT_TRUE(r.passed()) << shown(r);
}

// A reboot under -no-reboot ends QEMU too; keel-image calls that a failed
// boot ("the guest restarted"), so the result's fields are checked.
TEST_F(SystemBoot, SigTermReboots) {
  const fs::path image = build(main_program("/bin/busybox kill -TERM 1\nexec /bin/busybox sleep 600"));
  const BootResult r = run(options(
      image, {"keel: reboot requested", "keel: syncing filesystems, then reboot", "reboot: Restarting system"}));
  EXPECT_EQ(r.status, BootStatus::Restarted) << shown(r);
  EXPECT_EQ(r.matched, 3u) << shown(r);
}

TEST_F(SystemBoot, SigIntRebootsByDefault) {
  const fs::path image = build(main_program("/bin/busybox kill -INT 1\nexec /bin/busybox sleep 600"));
  const BootResult r = run(options(
      image, {"keel: reboot requested", "keel: syncing filesystems, then reboot", "reboot: Restarting system"}));
  EXPECT_EQ(r.status, BootStatus::Restarted) << shown(r);
  EXPECT_EQ(r.matched, 3u) << shown(r);
}

// SIGINT is read before the main program's SIGCHLD (lower signals first),
// so "ignored" comes before its exit.
TEST_F(SystemBoot, SigIntIgnoredByKeelToml) {
  const fs::path image =
      build(keel_toml("[signals]\nSIGINT = \"ignore\"\n") + main_program("/bin/busybox kill -INT 1\necho AFTER-INT"));
  const BootResult r = run(
      options(image, {"keel: SIGINT received: ignored \\(keel\\.toml\\)", "keel: main: pid [0-9]+ exited with status 0",
                      "keel: power-off requested", "reboot: Power down"}));
  EXPECT_TRUE(r.passed()) << shown(r);
  EXPECT_NE(console_.find("AFTER-INT"), std::string::npos) << console_;
  EXPECT_EQ(console_.find("reboot requested"), std::string::npos) << console_;
}

TEST_F(SystemBoot, RebootCommandAsksPid1) {
  const fs::path image = build(main_program("/sbin/reboot\nexec /bin/busybox sleep 600"));
  const BootResult r = run(options(
      image, {"keel: reboot requested", "keel: syncing filesystems, then reboot", "reboot: Restarting system"}));
  EXPECT_EQ(r.status, BootStatus::Restarted) << shown(r);
  EXPECT_EQ(r.matched, 3u) << shown(r);
}

TEST_F(SystemBoot, PoweroffCommandAsksPid1) {
  const fs::path image = build(main_program("/sbin/poweroff\nexec /bin/busybox sleep 600"));
  const BootResult r = run(
      options(image, {"keel: power-off requested", "keel: syncing filesystems, then power-off", "reboot: Power down"}));
  EXPECT_TRUE(r.passed()) << shown(r);
}

TEST_F(SystemBoot, HaltCommandAsksPid1) {
  const fs::path image = build(main_program("/sbin/halt\nexec /bin/busybox sleep 600"));
  const BootResult r =
      run_until_halted(options(image, {"keel: halt requested", "keel: syncing filesystems, then halt"}));
  EXPECT_TRUE(r.passed()) << shown(r);
}

// 9. A service that ignores SIGTERM is killed after its stop_timeout (1 s),
// well before the defaults (10 s stop_timeout, 5 s grace): read from keel's
// "shutdown +N ms" lines, which count from the request.
TEST_F(SystemBoot, ServiceIgnoringSigTermIsKilledAfterItsTimeout) {
  const fs::path image =
      build(service("stubborn",
                    "stdout = \"console\"\nstop_timeout = 1\ncommand = [\"/bin/busybox\", \"sh\", \"-c\", "
                    "\"trap '' TERM; echo STUBBORN-UP; while :; do /bin/busybox sleep 1; done\"]\n") +
            main_program("/sbin/keelctl wait stubborn --ready --timeout 60 >/dev/null\necho MAIN-DONE"));
  const BootResult r =
      run(options(image, {"STUBBORN-UP|MAIN-DONE", "STUBBORN-UP|MAIN-DONE", "keel: power-off requested",
                          "keel: stubborn: stopping", "keel: stubborn: pid [0-9]+ killed by SIGKILL",
                          "keel: shutdown \\+[0-9.]+ ms: every service is stopped", "reboot: Power down"}));
  ASSERT_TRUE(r.passed()) << shown(r);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(console_, m, std::regex("shutdown \\+([0-9.]+) ms: every service is stopped")));
  const double ms = std::stod(m[1]);
  std::cerr << "stubborn service: every service stopped " << ms << " ms after the request\n";
  EXPECT_GE(ms, 1000.0) << console_;
  EXPECT_LT(ms, 4000.0) << console_;
}

// 10. rng-ready with a starved RNG: a plain service starts at once, the
// Python service that requires rng-ready after it. Each writes a line to
// /dev/kmsg, so dmesg (printed at the end by the main program) orders them
// exactly against the kernel's "random: crng init done" (a notice: not on a
// loglevel=4 console), on the kernel's clock.
TEST_F(SystemBoot, RngReadyWaitsOnlyForWhatAsksForIt) {
  if (!fs::exists("/usr/bin/python3") || !fs::is_directory("/usr/lib/python3.11/lib-dynload")) {
    GTEST_SKIP() << "needs Debian's python3.11";
  }
  testutil::write_file(dir_.path() / "rng.py",
                       "#!/usr/bin/python3 -I\nimport os\nprint('PY-RANDOM', os.urandom(4).hex(), flush=True)\n"
                       "with open('/dev/kmsg', 'w') as k:\n    k.write('PY-KMSG\\n')\n");
  const fs::path image =
      build("\n[python]\nscripts = [{ source = \"rng.py\", path = \"/opt/rng.py\" }]\n" +
            service("plain",
                    "stdout = \"console\"\ncommand = [\"/bin/busybox\", \"sh\", \"-c\", "
                    "\"echo PLAIN-UP; echo PLAIN-KMSG >/dev/kmsg; exec /bin/busybox sleep 600\"]\n") +
            service("py",
                    "type = \"oneshot\"\nrequires = [\"rng-ready\"]\nstdout = \"console\"\ncommand = "
                    "[\"/usr/bin/python3\", \"-I\", \"/opt/rng.py\"]\n") +
            main_program("/sbin/keelctl wait py --ready --timeout 60 >/dev/null\n"
                         "/bin/busybox dmesg | /bin/busybox grep -E 'crng init|PLAIN-KMSG|PY-KMSG|keel: rng-ready: ' | "
                         "/bin/busybox sed 's/^/DMESG /'"));
  const BootResult r =
      run(options(image, {"keel: plain: ready", "keel: rng-ready: done", "PY-RANDOM [0-9a-f]{8}", "DMESG .*PLAIN-KMSG",
                          "DMESG .*random: crng init done", "DMESG .*PY-KMSG", "reboot: Power down"}));
  ASSERT_TRUE(r.passed()) << shown(r);
  // The kernel's clock, from dmesg.
  const std::optional<double> plain = stamp_of(console_, "PLAIN-KMSG");
  const std::optional<double> crng = stamp_of(console_, "random: crng init done");
  const std::optional<double> python = stamp_of(console_, "PY-KMSG");
  ASSERT_TRUE(plain && crng && python) << console_;
  // keel's own stamps: how long rng-ready took.
  const std::optional<double> rng_started = stamp_of(console_, "keel: rng-ready: started");
  const std::optional<double> rng_done = stamp_of(console_, "keel: rng-ready: done");
  ASSERT_TRUE(rng_started && rng_done) << console_;
  std::cerr << "starved RNG: plain service up at " << *plain << " s, kernel crng init done at " << *crng
            << " s, Python's urandom at " << *python << " s (dmesg); rng-ready started at " << *rng_started
            << " s, done at " << *rng_done << " s: " << (*rng_done - *rng_started) << " s (keel's stamps)\n";
}

// 11. The seed on an ext4 disk mounted by keel.toml's [[mount]]: a new one
// at every boot (and at shutdown), and the second boot feeds the first's.
TEST_F(SystemBoot, SeedFileIsReplacedAtEveryBoot) {
  const fs::path modules = boottest::cached_modules();
  if (modules.empty()) GTEST_SKIP() << "no kernel modules in the cache";
  for (const char* tool : {"mke2fs", "debugfs"}) {
    if (!testutil::have(tool)) GTEST_SKIP() << tool << " is not installed (e2fsprogs)";
  }
  const fs::path image =
      build("\n[modules]\nnames = [\"virtio_pci\", \"virtio_blk\", \"crc32c_generic\", \"ext4\"]\ntree = \"" +
            modules.string() + "\"\n" +
            keel_toml("seed_dir = \"/data/seed\"\n\n[[mount]]\nwhat = \"/dev/vda\"\nwhere = \"/data\"\n"
                      "type = \"ext4\"\n") +
            main_program("/bin/busybox ls /data/seed | /bin/busybox sed 's/^/SEED-FILE /'"));
  const fs::path disk = dir_.path() / "disk.ext4";
  int rc = 0;
  const std::string made = testutil::run("mke2fs -q -F -t ext4 " + testutil::quoted(disk) + " 16M 2>&1", rc);
  ASSERT_EQ(rc, 0) << made;

  // The seed file on the disk: its name and bytes.
  auto read_seed = [&]() -> std::pair<std::string, std::string> {
    std::pair<std::string, std::string> found;
    for (const char* name : {"seed.credit", "seed.no-credit"}) {
      int status = 0;
      const std::string listed = testutil::run(
          "debugfs -R 'stat /seed/" + std::string(name) + "' " + testutil::quoted(disk) + " 2>&1", status);
      if (listed.find("Inode:") == std::string::npos) continue;
      EXPECT_TRUE(found.first.empty()) << "two seed files: " << found.first << " and " << name;
      found.first = name;
      found.second = testutil::run(
          "debugfs -R 'cat /seed/" + std::string(name) + "' " + testutil::quoted(disk) + " 2>/dev/null", status);
    }
    return found;
  };

  std::vector<std::string> seeds;
  for (int n = 1; n <= 2; ++n) {
    BootOptions o =
        options(image, {"keel: mounted /dev/vda on /data \\(ext4\\)",
                        n == 1 ? "keel: random seed: none in /data/seed yet \\(first boot\\); a new one is saved"
                               : "keel: random seed: [0-9]+ bytes from /data/seed (credited|mixed in without credit); "
                                 "new seed saved",
                        "SEED-FILE seed\\.", "keel: random seed: refreshed in /data/seed",
                        "keel: shutdown \\+[0-9.]+ ms: unmounted /data", "reboot: Power down"});
    o.disks = {disk};
    const BootResult r = run(o);
    ASSERT_TRUE(r.passed()) << "boot " << n << ": " << shown(r);
    const auto [name, bytes] = read_seed();
    ASSERT_FALSE(name.empty()) << "boot " << n << ": no seed file on the disk\n" << console_;
    EXPECT_GE(bytes.size(), 32u) << name;
    std::cerr << "boot " << n << ": " << name << ", " << bytes.size() << " bytes\n";
    for (const std::string& earlier : seeds) EXPECT_NE(earlier, bytes) << "a seed was reused";
    seeds.push_back(bytes);
  }
}

// 12. A frozen log filesystem (issue 10, section 3): /data is ext4 on
// /dev/vda, frozen by the main program with fsfreeze while a service logs
// 1,000 numbered lines to a file there. While it is frozen, keelctl
// answers, a crashing service is restarted and an orphan is reaped (keel's
// log writer, not PID 1, waits on the filesystem); after the thaw every
// line is in the file, in order, with no loss marker.
TEST_F(SystemBoot, AFrozenLogFilesystemStallsNeitherKeelctlNorRestartsNorReaping) {
  const fs::path modules = boottest::cached_modules();
  if (modules.empty()) GTEST_SKIP() << "no kernel modules in the cache";
  if (!testutil::have("mke2fs")) GTEST_SKIP() << "mke2fs is not installed (e2fsprogs)";
  const std::string bb = "/bin/busybox ";
  const fs::path image = build(
      "\n[modules]\nnames = [\"virtio_pci\", \"virtio_blk\", \"crc32c_generic\", \"ext4\"]\ntree = \"" +
      modules.string() + "\"\n" +
      keel_toml("[[mount]]\nwhat = \"/dev/vda\"\nwhere = \"/data\"\ntype = \"ext4\"\n") +
      // Starts logging once the main program has frozen /data.
      service("chatty",
              "command = [\"/bin/busybox\", \"sh\", \"-c\", \"while [ ! -e /run/frozen ]; do /bin/busybox sleep "
              "0.1; done; i=1; while [ $i -le 1000 ]; do echo line$i; i=$((i+1)); done; exec /bin/busybox sleep "
              "1000\"]\n[log]\nfile = \"/data/chatty.log\"\n") +
      service("crasher",
              "restart = \"always\"\nrestart_delay = 0.2\ncommand = [\"/bin/busybox\", \"sh\", \"-c\", \"while [ ! -e "
              "/run/frozen ]; do /bin/busybox sleep 0.1; done; exit 1\"]\n") +
      main_program(bb + "fsfreeze --freeze /data && echo LOG-FS-FROZEN\n" + bb + "touch /run/frozen\n" + bb +
                   "sleep 3\n"
                   "for n in 1 2 3; do /sbin/keelctl status > /dev/null && echo KEELCTL-ANSWERS-$n; " +
                   bb + "sleep 0.3; done\n"
                   "(" + bb + "sleep 0.2 &)\n" + bb +
                   "sleep 1\n"
                   "echo ZOMBIES $(" + bb + "ps -o stat | " + bb + "grep -c '^Z')\n" + bb +
                   "fsfreeze --unfreeze /data && echo LOG-FS-THAWED\n"
                   "i=0; while [ $i -lt 100 ] && ! " + bb + "grep -q 'line1000$' /data/chatty.log 2>/dev/null; do " +
                   bb + "sleep 0.1; i=$((i+1)); done\n"
                   "echo LOG-LINES $(" + bb + "wc -l < /data/chatty.log) IN-ORDER $(" + bb +
                   "sed 's/.* line//' /data/chatty.log | " + bb + "awk '$1 != NR { bad = 1 } END { print bad ? \"no\" : \"yes\" }')"
                   " MARKERS $(" + bb + "grep -c 'keel: .* lines lost' /data/chatty.log)"));
  const fs::path disk = dir_.path() / "disk.ext4";
  int rc = 0;
  const std::string made = testutil::run("mke2fs -q -F -t ext4 " + testutil::quoted(disk) + " 16M 2>&1", rc);
  ASSERT_EQ(rc, 0) << made;
  BootOptions o = options(image, {"keel: mounted /dev/vda on /data \\(ext4\\)", "LOG-FS-FROZEN",
                                  "keel: crasher: restarting in", "keel: crasher: restarting in", "KEELCTL-ANSWERS-3",
                                  "ZOMBIES 0", "LOG-FS-THAWED", "LOG-LINES 1000 IN-ORDER yes MARKERS 0",
                                  "reboot: Power down"});
  o.disks = {disk};
  const BootResult r = run(o);
  ASSERT_TRUE(r.passed()) << shown(r);
}

// Controllers only for limits: a boot whose services set none leaves keel's
// cgroup root without controllers (a service's mkdir then instantiates
// none); a service with memory_max and pids_max added by a reload gets
// memory and pids enabled, and its limits written, when it starts.
TEST_F(SystemBoot, CgroupControllersAreEnabledOnlyWhenALimitNeedsThem) {
  const std::string bb = "/bin/busybox ";
  const std::string root = "/sys/fs/cgroup/keel";
  const fs::path image =
      build(service("plain", "command = [\"/bin/busybox\", \"sleep\", \"1000\"]\n") +
            main_program("i=0; while [ $i -lt 100 ] && [ ! -d " + root + "/plain ]; do " + bb +
                         "sleep 0.1; i=$((i+1)); done\n"
                         "echo AT-BOOT SUBTREE=\"<$(" +
                         bb + "cat " + root + "/cgroup.subtree_control)>\" PLAIN=\"<$(" + bb + "cat " + root +
                         "/plain/cgroup.controllers)>\"\n"
                         "printf 'command = [\"/bin/busybox\", \"sleep\", \"1000\"]\\n[cgroup]\\nmemory_max = "
                         "\"32M\"\\npids_max = 20\\n' > /etc/keel/services/limited.toml\n"
                         "/sbin/keelctl reload > /dev/null && /sbin/keelctl start limited > /dev/null\n"
                         "i=0; while [ $i -lt 100 ] && [ ! -e " +
                         root + "/limited/memory.max ]; do " + bb +
                         "sleep 0.1; i=$((i+1)); done\n"
                         "echo AFTER-RELOAD SUBTREE=\"<$(" +
                         bb + "cat " + root +
                         "/cgroup.subtree_control)>\" "
                         "MEMORY-MAX=\"<$(" +
                         bb + "cat " + root + "/limited/memory.max)>\" PIDS-MAX=\"<$(" + bb + "cat " + root +
                         "/limited/pids.max)>\"\n"));
  const BootResult r = run(options(
      image, {"AT-BOOT SUBTREE=<> PLAIN=<>", "keel: limited: cgroup controllers enabled for its limits: memory pids",
              "AFTER-RELOAD SUBTREE=<memory pids> MEMORY-MAX=<33554432> PIDS-MAX=<20>", "reboot: Power down"}));
  ASSERT_TRUE(r.passed()) << shown(r);
}

}  // namespace
}  // namespace keel::image
