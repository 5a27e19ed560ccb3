// Tests of the QEMU boot runner (src/image/qemu.hpp): the command line, the
// console watcher (patterns in order, panic, restart) fed by hand, the
// process handling against stand-in programs (sh scripts in place of QEMU),
// and real boots of the Debian kernel unpacked by scripts/fetch-kernel.sh
// under software emulation, with an initramfs made by the host's cpio from
// a static busybox (no keel-image involved).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "image/diagnostic.hpp"
#include "image/qemu.hpp"
#include "test_util.hpp"

namespace keel::image {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A scratch directory, keel-qemu-XXXXXX.
struct TempDir : testutil::TempDir {
  TempDir() : testutil::TempDir("keel-qemu-") {}
};

bool has_children() {
  siginfo_t info{};
  return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid != 0;
}

// Running (a zombie waiting for its new parent to reap it counts as dead).
bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return false;
  const auto paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] != 'Z' && text[paren + 2] != 'X';
}

TEST(ImageQemu, CommandLineIsExact) {
  BootOptions options;
  options.kernel = "/k/vmlinuz";
  options.initrd = "/out/image.cpio.gz";
  const std::vector<std::string> tcg = {"qemu-system-x86_64",
                                        "-nodefaults",
                                        "-display",
                                        "none",
                                        "-no-reboot",
                                        "-accel",
                                        "tcg",
                                        "-cpu",
                                        "qemu64",
                                        "-m",
                                        "512M",
                                        "-serial",
                                        "stdio",
                                        "-kernel",
                                        "/k/vmlinuz",
                                        "-initrd",
                                        "/out/image.cpio.gz",
                                        "-append",
                                        "console=ttyS0 panic=-1"};
  EXPECT_EQ(qemu_command(options, false), tcg);

  options.append = "quiet keel.debug=1";
  options.disks = {"/d/root.ext4", "/d/with,comma.img"};
  options.memory = "1G";
  options.cpu = "max";
  const std::vector<std::string> kvm = {"qemu-system-x86_64",
                                        "-nodefaults",
                                        "-display",
                                        "none",
                                        "-no-reboot",
                                        "-accel",
                                        "kvm",
                                        "-cpu",
                                        "max",
                                        "-m",
                                        "1G",
                                        "-serial",
                                        "stdio",
                                        "-kernel",
                                        "/k/vmlinuz",
                                        "-initrd",
                                        "/out/image.cpio.gz",
                                        "-append",
                                        "console=ttyS0 panic=-1 quiet keel.debug=1",
                                        "-drive",
                                        "file=/d/root.ext4,format=raw,if=virtio",
                                        "-drive",
                                        "file=/d/with,,comma.img,format=raw,if=virtio"};
  EXPECT_EQ(qemu_command(options, true), kvm);
}

// An arm64 Image ("ARM\x64" at byte 56 of its header) boots in
// qemu-system-aarch64 on the virt machine, console on ttyAMA0, never KVM;
// a CPU or QEMU given explicitly is kept.
TEST(ImageQemu, AnArm64KernelBootsInQemuSystemAarch64) {
  testutil::TempDir dir;
  std::string header(64, '\0');
  header.replace(56, 4, "ARM\x64");
  testutil::write_file(dir.path() / "Image", header);
  testutil::write_file(dir.path() / "bzImage", std::string(64, 'x'));
  EXPECT_TRUE(is_arm64_kernel(dir.path() / "Image"));
  EXPECT_FALSE(is_arm64_kernel(dir.path() / "bzImage"));
  EXPECT_FALSE(is_arm64_kernel(dir.path() / "absent"));
  testutil::write_file(dir.path() / "short", "ARM");
  EXPECT_FALSE(is_arm64_kernel(dir.path() / "short"));
  ASSERT_EQ(::mkfifo((dir.path() / "fifo").c_str(), 0600), 0);
  EXPECT_FALSE(is_arm64_kernel(dir.path() / "fifo"));  // not opened: no writer is waited for

  BootOptions options;
  options.kernel = dir.path() / "Image";
  options.initrd = "/out/image.cpio.gz";
  const std::vector<std::string> arm = {"qemu-system-aarch64",
                                        "-nodefaults",
                                        "-display",
                                        "none",
                                        "-no-reboot",
                                        "-accel",
                                        "tcg",
                                        "-cpu",
                                        "cortex-a57",
                                        "-m",
                                        "512M",
                                        "-M",
                                        "virt",
                                        "-serial",
                                        "stdio",
                                        "-kernel",
                                        (dir.path() / "Image").string(),
                                        "-initrd",
                                        "/out/image.cpio.gz",
                                        "-append",
                                        "console=ttyAMA0 panic=-1"};
  EXPECT_EQ(qemu_command(options, true), arm);  // KVM asked for: still TCG
  options.cpu = "max";
  options.qemu = "/opt/qemu/bin/qemu-system-aarch64";
  const std::vector<std::string> own = qemu_command(options, false);
  EXPECT_EQ(own[0], "/opt/qemu/bin/qemu-system-aarch64");
  EXPECT_EQ(own[8], "max");
}

// --qemu-arg: appended as they are, in order, after everything else.
TEST(ImageQemu, ExtraArgumentsComeLastAsTheyAre) {
  BootOptions options;
  options.kernel = "/k/vmlinuz";
  options.extra_args = {"-device", "i6300esb", "-watchdog-action", "reset"};
  const std::vector<std::string> argv = qemu_command(options, false);
  ASSERT_GE(argv.size(), 4u);
  const std::vector<std::string> tail(argv.end() - 4, argv.end());
  EXPECT_EQ(tail, options.extra_args);
  EXPECT_EQ(argv[argv.size() - 6], "-append");
}

// An interactive console: the serial port on a stdio mux, Ctrl-C to the guest.
TEST(ImageQemu, TerminalConsoleIsAMuxWithoutSignals) {
  BootOptions options;
  options.kernel = "/k/vmlinuz";
  options.input = ConsoleInput::Terminal;
  const std::vector<std::string> argv = qemu_command(options, false);
  const auto at = std::find(argv.begin(), argv.end(), "-chardev");
  ASSERT_NE(at, argv.end());
  EXPECT_EQ(std::vector<std::string>(at, at + 4),
            (std::vector<std::string>{"-chardev", "stdio,id=console,mux=on,signal=off", "-serial", "chardev:console"}));
  EXPECT_EQ(std::find(argv.begin(), argv.end(), "stdio"), argv.end());  // no plain -serial stdio
  options.input = ConsoleInput::Stream;
  const std::vector<std::string> stream = qemu_command(options, false);
  EXPECT_EQ(std::find(stream.begin(), stream.end(), "-chardev"), stream.end());
  EXPECT_NE(std::find(stream.begin(), stream.end(), "stdio"), stream.end());
}

// --smp, --icount and the monitor (a socket; the console's mux), before
// -kernel; nothing of them by default (CommandLineIsExact).
TEST(ImageQemu, SmpIcountAndMonitorOnTheCommandLine) {
  BootOptions options;
  options.kernel = "/k/vmlinuz";
  options.cpu = "Haswell";
  options.smp = 2;
  options.icount = true;
  options.monitor = Monitor::Socket;
  options.monitor_socket = "/run/m.sock";
  const std::vector<std::string> argv = qemu_command(options, false);
  const std::vector<std::string> expected = {"qemu-system-x86_64",
                                             "-nodefaults",
                                             "-display",
                                             "none",
                                             "-no-reboot",
                                             "-accel",
                                             "tcg",
                                             "-cpu",
                                             "Haswell",
                                             "-m",
                                             "512M",
                                             "-serial",
                                             "stdio",
                                             "-monitor",
                                             "unix:/run/m.sock,server=on,wait=off",
                                             "-smp",
                                             "2",
                                             "-icount",
                                             "shift=0,sleep=off",
                                             "-kernel",
                                             "/k/vmlinuz",
                                             "-append",
                                             "console=ttyS0 panic=-1"};
  EXPECT_EQ(argv, expected);
  options.input = ConsoleInput::Terminal;
  options.monitor = Monitor::Console;
  const std::vector<std::string> mux = qemu_command(options, false);
  const auto at = std::find(mux.begin(), mux.end(), "-mon");
  ASSERT_NE(at, mux.end());
  EXPECT_EQ(*(at + 1), "chardev=console,mode=readline");
  EXPECT_EQ(std::find(mux.begin(), mux.end(), "-monitor"), mux.end());
}

TEST(ImageQemu, FormatCommandQuotesForTheShell) {
  EXPECT_EQ(format_command({"qemu", "-append", "console=ttyS0 panic=-1", "it's", "-m", "512M", ""}),
            "qemu -append 'console=ttyS0 panic=-1' 'it'\\''s' -m 512M ''");
}

TEST(ImageQemu, PatternsMatchInOrder) {
  ConsoleWatcher watcher({"^first", "second \\d+", "third"});
  EXPECT_EQ(watcher.first_unmatched(), "^first");
  watcher.line("third too early");  // not the next pattern: ignored
  watcher.line("  first not at start");
  EXPECT_EQ(watcher.matched(), 0u);
  watcher.line("first line\r");
  EXPECT_EQ(watcher.matched(), 1u);
  watcher.line("first again");  // already matched
  watcher.line("second x");
  EXPECT_EQ(watcher.first_unmatched(), "second \\d+");
  watcher.line("second 42 third");  // one line satisfies one pattern only
  EXPECT_EQ(watcher.matched(), 2u);
  EXPECT_FALSE(watcher.all_matched());
  watcher.line("and third");
  EXPECT_TRUE(watcher.all_matched());
  EXPECT_EQ(watcher.first_unmatched(), std::nullopt);
  EXPECT_FALSE(watcher.panicked());
}

TEST(ImageQemu, FeedSplitsLinesAcrossChunks) {
  ConsoleWatcher watcher({"^hello world$", "^tail$"}, 3);
  watcher.feed("noise\r\nhel");
  watcher.feed("lo wor");
  EXPECT_EQ(watcher.matched(), 0u);
  watcher.feed("ld\r\nx\ny\nta");
  EXPECT_EQ(watcher.matched(), 1u);
  watcher.feed("il");
  EXPECT_EQ(watcher.matched(), 1u);
  watcher.finish();  // the last line had no newline
  EXPECT_TRUE(watcher.all_matched());
  EXPECT_EQ(std::vector<std::string>(watcher.last_lines().begin(), watcher.last_lines().end()),
            (std::vector<std::string>{"x", "y", "tail"}));
}

TEST(ImageQemu, DetectsPanicRestartAndPowerOff) {
  ConsoleWatcher watcher({});
  EXPECT_TRUE(watcher.all_matched());
  watcher.line("[    1.234567] Run /init as init process");
  EXPECT_FALSE(watcher.panicked());
  watcher.line("[    1.300000] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100");
  EXPECT_TRUE(watcher.panicked());
  EXPECT_NE(watcher.panic_line().find("Attempted to kill init"), std::string::npos);
  watcher.line("[    1.400000] Kernel panic - not syncing: second one");
  EXPECT_NE(watcher.panic_line().find("Attempted to kill init"), std::string::npos);  // the first is kept
  EXPECT_FALSE(watcher.restarted());
  watcher.line("[    1.500000] reboot: Restarting system");
  EXPECT_TRUE(watcher.restarted());
  ConsoleWatcher off({});
  off.line("[    2.000000] reboot: Power down");
  EXPECT_TRUE(off.powered_off());
}

TEST(ImageQemu, BadPatternIsAnImageError) { EXPECT_THROW(ConsoleWatcher({"ok", "(unclosed"}), ImageError); }

// boot() against stand-ins for QEMU: a script that ignores its arguments
// and behaves like a guest, to test the outcomes and the process handling
// without a kernel.
class FakeQemu {
 public:
  explicit FakeQemu(const std::string& body) {
    script_ = dir_.path() / "fake-qemu";
    std::ofstream(script_) << "#!/bin/sh\n" << body << "\n";
    fs::permissions(script_, fs::perms::owner_all);
    std::ofstream(dir_.path() / "vmlinuz") << "kernel";
    std::ofstream(dir_.path() / "initrd") << "initrd";
  }
  [[nodiscard]] BootOptions options(std::vector<std::string> expect, milliseconds timeout = seconds(10)) const {
    BootOptions o;
    o.qemu = script_.string();
    o.kernel = dir_.path() / "vmlinuz";
    o.initrd = dir_.path() / "initrd";
    o.expect = std::move(expect);
    o.timeout = timeout;
    o.accel = Accel::Tcg;
    return o;
  }
  [[nodiscard]] const fs::path& dir() const { return dir_.path(); }

 private:
  TempDir dir_;
  fs::path script_;
};

BootResult run(const BootOptions& options, std::string* console_text = nullptr) {
  std::ostringstream console;
  std::ostringstream log;
  BootResult result = boot(options, console, log);
  EXPECT_NE(log.str().find("running: " + format_command(result.command)), std::string::npos) << log.str();
  if (console_text) *console_text = console.str();
  return result;
}

TEST(ImageQemuProcess, PassesWhenAllMatchedAndPoweredOff) {
  FakeQemu qemu("printf 'booting\\r\\nkeel: started\\r\\n'; echo 'reboot: Power down'; exit 0");
  std::string console;
  const BootResult result = run(qemu.options({"booting", "keel: started"}), &console);
  EXPECT_EQ(result.status, BootStatus::Passed) << result.message;
  EXPECT_EQ(result.exit_code(), 0);
  EXPECT_EQ(result.matched, 2u);
  EXPECT_EQ(result.qemu_status, 0);
  EXPECT_EQ(result.message, "");
  EXPECT_NE(console.find("keel: started"), std::string::npos);  // streamed as is
  EXPECT_FALSE(has_children());
}

TEST(ImageQemuProcess, UnmatchedPatternNamesItAndTheLastLines) {
  FakeQemu qemu("for i in $(seq 1 30); do echo \"line $i\"; done; exit 0");
  const BootResult result = run(qemu.options({"line 3$", "never seen", "line 30"}));
  EXPECT_EQ(result.status, BootStatus::Unmatched);
  EXPECT_EQ(result.exit_code(), 7);
  EXPECT_EQ(result.matched, 1u);
  EXPECT_NE(result.message.find("first unmatched pattern (2 of 3): never seen"), std::string::npos) << result.message;
  EXPECT_NE(result.message.find("  | line 30\n"), std::string::npos) << result.message;
  EXPECT_NE(result.message.find("  | line 11\n"), std::string::npos) << result.message;
  EXPECT_EQ(result.message.find("  | line 10\n"), std::string::npos) << result.message;  // 20 lines kept
  EXPECT_EQ(result.last_lines.size(), 20u);
}

TEST(ImageQemuProcess, TimeoutKillsQemuAndItsGroup) {
  // The stand-in starts a grandchild in its group, then hangs.
  FakeQemu qemu("sleep 300 & echo \"grandchild $!\"; echo up; exec sleep 300");
  const auto start = std::chrono::steady_clock::now();
  std::string console;
  const BootResult result = run(qemu.options({"up", "never"}, milliseconds(700)), &console);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(result.status, BootStatus::Timeout);
  EXPECT_LT(took, seconds(5));
  EXPECT_EQ(result.qemu_status, 128 + SIGKILL);
  EXPECT_NE(result.message.find("timed out after 0.7"), std::string::npos) << result.message;
  EXPECT_NE(result.message.find("never"), std::string::npos) << result.message;
  EXPECT_FALSE(has_children());
  // The grandchild died with the group.
  const auto at = console.find("grandchild ");
  ASSERT_NE(at, std::string::npos);
  const pid_t grandchild = std::stoi(console.substr(at + 11));
  bool gone = false;
  for (int i = 0; i < 300 && !(gone = !alive(grandchild)); ++i) usleep(10000);
  EXPECT_TRUE(gone) << "grandchild " << grandchild << " survived";
}

TEST(ImageQemuProcess, TimeoutAfterAllMatchedSaysNoPowerOff) {
  FakeQemu qemu("echo ready; exec sleep 300");
  const BootResult result = run(qemu.options({"ready"}, milliseconds(500)));
  EXPECT_EQ(result.status, BootStatus::Timeout);
  EXPECT_NE(result.message.find("every pattern matched but the guest did not power off"), std::string::npos)
      << result.message;
}

TEST(ImageQemuProcess, PanicFailsEvenWhenQemuExitsZero) {
  FakeQemu qemu("echo 'Kernel panic - not syncing: Attempted to kill init!'; echo 'trace'; exit 0");
  const BootResult result = run(qemu.options({}));
  EXPECT_EQ(result.status, BootStatus::Panic);
  EXPECT_NE(result.message.find("kernel panic: Kernel panic - not syncing: Attempted to kill init!"), std::string::npos)
      << result.message;
  EXPECT_NE(result.message.find("  | trace"), std::string::npos) << result.message;
}

TEST(ImageQemuProcess, PanicWithAHangingQemuIsKilledAfterAGrace) {
  FakeQemu qemu("echo 'Kernel panic - not syncing: VFS: Unable to mount root fs'; exec sleep 300");
  const auto start = std::chrono::steady_clock::now();
  const BootResult result = run(qemu.options({"x"}, seconds(60)));
  EXPECT_EQ(result.status, BootStatus::Panic);
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(10));
  EXPECT_FALSE(has_children());
}

TEST(ImageQemuProcess, RestartAndQemuErrorsFail) {
  FakeQemu restart("echo 'reboot: Restarting system'; exit 0");
  EXPECT_EQ(run(restart.options({})).status, BootStatus::Restarted);
  FakeQemu error("echo 'qemu-system-x86_64: -drive file=x: Could not open' >&2; exit 1");
  const BootResult failed = run(error.options({}));
  EXPECT_EQ(failed.status, BootStatus::QemuFailed);
  EXPECT_EQ(failed.qemu_status, 1);
  EXPECT_NE(failed.message.find("Could not open"), std::string::npos) << failed.message;  // stderr captured
}

// Stream input: held back until the console shows --input-after, then
// copied to QEMU's stdin; its end is QEMU's end of input.
TEST(ImageQemuProcess, StreamInputWaitsForItsPatternThenFeedsQemu) {
  FakeQemu qemu(
      "echo 'booting'; sleep 0.3; printf 'login: '; read a; echo \"got [$a]\"; read b; echo \"got [$b]\";"
      " if read c; then echo \"more [$c]\"; else echo 'input ended'; fi; exit 0");
  const fs::path input = qemu.dir() / "input";
  std::ofstream(input) << "first\nsecond\n";
  const int fd = open(input.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  BootOptions options = qemu.options({"^login: got \\[first\\]$", "^got \\[second\\]$", "^input ended$"});
  options.input = ConsoleInput::Stream;
  options.input_fd = fd;
  options.input_after = "login: $";
  std::string console;
  const BootResult result = run(options, &console);
  close(fd);
  EXPECT_EQ(result.status, BootStatus::Passed) << result.message << console;
  // A pattern that never shows: nothing is sent, the read waits, the boot times out.
  const int fd2 = open(input.c_str(), O_RDONLY | O_CLOEXEC);
  options.input_fd = fd2;
  options.input_after = "never shown";
  options.timeout = milliseconds(1500);
  const BootResult held = run(options, &console);
  close(fd2);
  EXPECT_EQ(held.status, BootStatus::Timeout) << held.message;
  EXPECT_EQ(console.find("got ["), std::string::npos) << console;
  EXPECT_FALSE(has_children());
}

int count_lines(const fs::path& file) {
  std::ifstream in(file);
  int n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

// A failed KVM probe is remembered next to the kernel: the next boot does
// not probe (no time lost); --accel probe forgets and probes again. The
// stand-in hangs under -accel kvm, as KVM does on some machines.
TEST(ImageQemuProcess, FailedKvmProbeIsRememberedAndForgotten) {
  FakeQemu qemu(
      "case \"$*\" in *'-accel kvm'*) echo probed >> \"$(dirname \"$0\")/probes\"; exec sleep 300;; esac\n"
      "echo 'reboot: Power down'; exit 0");
  const fs::path probes = qemu.dir() / "probes";
  BootOptions options = qemu.options({});
  options.accel = Accel::Auto;
  options.kvm_device = qemu.dir() / "vmlinuz";  // opens: the probe runs
  options.probe_timeout = milliseconds(500);
  ::unsetenv("KEEL_IMAGE_ACCEL");
  std::ostringstream log;
  EXPECT_EQ(decide_accel(options, log), Accel::Tcg);
  EXPECT_NE(log.str().find("did not finish within 500 ms"), std::string::npos) << log.str();
  ASSERT_TRUE(fs::exists(kvm_marker(options)));
  EXPECT_EQ(kvm_marker(options), qemu.dir() / ".kvm-failed");
  const BootResult again = run(options);  // a whole boot: no probe
  EXPECT_EQ(again.status, BootStatus::Passed) << again.message;
  EXPECT_FALSE(again.kvm);
  EXPECT_EQ(count_lines(probes), 1);
  std::ostringstream forget;
  options.forget_kvm_failure = true;
  EXPECT_EQ(decide_accel(options, forget), Accel::Tcg);
  EXPECT_NE(forget.str().find("forgot that KVM failed here"), std::string::npos) << forget.str();
  EXPECT_EQ(count_lines(probes), 2);
  EXPECT_TRUE(fs::exists(kvm_marker(options)));  // failed again: remembered again
  // --accel tcg|kvm never probes.
  options.forget_kvm_failure = false;
  options.accel = Accel::Kvm;
  EXPECT_EQ(decide_accel(options, forget), Accel::Kvm);
  EXPECT_FALSE(has_children());
}

// Each outcome its own exit status (keel-image boot's, documented in --help).
TEST(ImageQemuProcess, ExitStatusPerOutcome) {
  FakeQemu off("echo up; echo 'reboot: Power down'; exit 0");
  FakeQemu restart("echo up; echo 'reboot: Restarting system'; exit 0");
  FakeQemu reset("echo up; exit 0");  // a watchdog's reset prints nothing
  FakeQemu panic("echo 'Kernel panic - not syncing: sysrq triggered crash'; exit 0");
  FakeQemu hang("echo up; exec sleep 300");
  FakeQemu broken("echo 'qemu-system-x86_64: -bogus: invalid option' >&2; exit 1");
  FakeQemu quit("echo up; printf 'QEMU: Terminated\\n\\r'; exit 0");
  EXPECT_EQ(run(off.options({"up"})).exit_code(), 0);
  EXPECT_EQ(run(restart.options({"up"})).exit_code(), 3);
  EXPECT_EQ(run(panic.options({})).exit_code(), 5);
  EXPECT_EQ(run(hang.options({"up"}, milliseconds(400))).exit_code(), 6);
  EXPECT_EQ(run(off.options({"up", "never"})).exit_code(), 7);
  EXPECT_EQ(run(broken.options({})).exit_code(), 8);
  EXPECT_EQ(run(quit.options({})).exit_code(), 9);
  BootOptions expect_reboot = restart.options({"up"});
  expect_reboot.expect_reboot = true;
  EXPECT_EQ(run(expect_reboot).exit_code(), 0);
  expect_reboot = reset.options({"up"});
  expect_reboot.expect_reboot = true;
  EXPECT_EQ(run(expect_reboot).exit_code(), 0);
  expect_reboot = off.options({"up"});
  expect_reboot.expect_reboot = true;
  const BootResult powered_off = run(expect_reboot);
  EXPECT_EQ(powered_off.status, BootStatus::PoweredOff);
  EXPECT_EQ(powered_off.exit_code(), 4);
  expect_reboot = restart.options({"up", "never"});
  expect_reboot.expect_reboot = true;
  EXPECT_EQ(run(expect_reboot).exit_code(), 7);
}

TEST(ImageQemuProcess, MissingQemuOrKernel) {
  FakeQemu qemu("exit 0");
  BootOptions options = qemu.options({});
  options.qemu = "/nonexistent/qemu-system-x86_64";
  const BootResult result = run(options);
  EXPECT_EQ(result.status, BootStatus::QemuFailed);
  EXPECT_EQ(result.qemu_status, 127);
  EXPECT_NE(result.message.find("cannot run /nonexistent/qemu-system-x86_64"), std::string::npos) << result.message;
  options.kernel = qemu.dir() / "nokernel";
  std::ostringstream sink;
  EXPECT_THROW(boot(options, sink, sink), ImageError);
  EXPECT_FALSE(has_children());
}

// ---- Real QEMU, the Debian kernel --------------------------------------

// The kernel unpacked by scripts/fetch-kernel.sh, with its boot/.
fs::path kernel_cache() { return testutil::kernel_cache("boot"); }

// boot/vmlinuz-* (Debian's bzImage) or boot/vmlinux-* (the uncompressed
// ELF kernel fetch-kernel.sh takes out of it, booted through PVH).
fs::path cached_kernel(const std::string& prefix) {
  const fs::path cache = kernel_cache();
  if (cache.empty()) return {};
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(cache / "boot", ec)) {
    if (entry.path().filename().string().rfind(prefix, 0) == 0) return entry.path();
  }
  return {};
}

bool have_program(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

// An initramfs made with the host's tools: a static busybox and an /init
// script, dev/console made with mknod, packed by `cpio -o -H newc`.
fs::path make_busybox_initramfs(const fs::path& dir, const std::string& init_body) {
  const fs::path root = dir / "root";
  fs::create_directories(root / "bin");
  fs::create_directories(root / "dev");
  fs::create_directories(root / "proc");
  fs::copy_file("/bin/busybox", root / "bin/busybox");
  fs::permissions(root / "bin/busybox", fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                            fs::perms::others_read | fs::perms::others_exec);
  std::ofstream(root / "init") << "#!/bin/busybox sh\n" << init_body << "\n";
  fs::permissions(root / "init", fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                     fs::perms::others_read | fs::perms::others_exec);
  if (mknod((root / "dev/console").c_str(), S_IFCHR | 0600, makedev(5, 1)) != 0) return {};
  const fs::path image = dir / "initramfs.cpio";
  const std::string cmd = "cd '" + root.string() + "' && find . | cpio -o -H newc --quiet > '" + image.string() + "'";
  if (std::system(cmd.c_str()) != 0) return {};
  return image;
}

class ImageQemuBoot : public ::testing::Test {
 protected:
  void SetUp() override {
    kernel_ = cached_kernel("vmlinuz-");
    vmlinux_ = cached_kernel("vmlinux-");
    if (vmlinux_.empty()) vmlinux_ = kernel_;
    if (kernel_.empty())
      GTEST_SKIP() << "no cached kernel: run scripts/fetch-kernel.sh (unpacks Debian's linux-image into "
                      "build/kernel-cache/)";
    if (!have_program("qemu-system-x86_64"))
      GTEST_SKIP() << "no qemu-system-x86_64: apt-get install --no-install-recommends qemu-system-x86";
    if (!fs::exists("/bin/busybox") || !have_program("cpio"))
      GTEST_SKIP() << "no /bin/busybox or cpio: apt-get install busybox-static cpio";
    if (geteuid() != 0) GTEST_SKIP() << "mknod of dev/console needs root";
  }
  fs::path kernel_;   // the bzImage
  fs::path vmlinux_;  // the uncompressed kernel (faster under TCG), else the bzImage
  TempDir dir_;
};

TEST_F(ImageQemuBoot, BusyboxInitPrintsAndPowersOff) {
  const fs::path image =
      make_busybox_initramfs(dir_.path(), "echo KEEL-BOOT-MARKER-$((6*7))\n/bin/busybox poweroff -f\n");
  ASSERT_FALSE(image.empty());
  BootOptions options;
  options.kernel = vmlinux_;
  options.initrd = image;
  options.append = "quiet";
  options.expect = {"^KEEL-BOOT-MARKER-42$", "reboot: Power down"};
  options.timeout = seconds(60);
  options.accel = Accel::Tcg;
  std::ostringstream console;
  std::ostringstream log;
  const BootResult result = boot(options, console, log);
  EXPECT_EQ(result.status, BootStatus::Passed) << result.message << "\n" << log.str();
  EXPECT_FALSE(result.kvm);
  EXPECT_EQ(result.qemu_status, 0);
  std::cerr << "[ boot of " << options.kernel.filename().string() << " took " << result.elapsed.count()
            << " ms under TCG ]\n";
  EXPECT_FALSE(has_children());
}

TEST_F(ImageQemuBoot, InitThatExitsPanics) {
  const fs::path image = make_busybox_initramfs(dir_.path(), "echo bye\nexit 3\n");
  ASSERT_FALSE(image.empty());
  BootOptions options;
  options.kernel = kernel_;
  options.initrd = image;
  options.append = "quiet";
  options.expect = {"^bye$", "never printed"};
  options.timeout = seconds(60);
  options.accel = Accel::Tcg;
  std::ostringstream sink;
  const BootResult result = boot(options, sink, sink);
  EXPECT_EQ(result.status, BootStatus::Panic) << result.message;
  std::cerr << "[ boot of " << options.kernel.filename().string() << " took " << result.elapsed.count()
            << " ms under TCG ]\n";
  EXPECT_EQ(result.matched, 1u);
  EXPECT_NE(result.message.find("Attempted to kill init"), std::string::npos) << result.message;
  EXPECT_NE(result.message.find("first unmatched pattern (2 of 2): never printed"), std::string::npos)
      << result.message;
  EXPECT_FALSE(has_children());
}

// The KVM probe's guest works (checked under TCG), and the KVM probe is
// bounded whatever KVM does on this machine.
TEST(ImageQemuProbe, ProbeGuestRunsUnderTcgAndKvmProbeIsBounded) {
  if (!have_program("qemu-system-x86_64"))
    GTEST_SKIP() << "no qemu-system-x86_64: apt-get install --no-install-recommends qemu-system-x86";
  const KvmProbe tcg = probe_accel("qemu-system-x86_64", "tcg", seconds(20));
  EXPECT_TRUE(tcg.usable) << tcg.reason;
  const auto start = std::chrono::steady_clock::now();
  const KvmProbe kvm = probe_accel("qemu-system-x86_64", "kvm", seconds(3));
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(8));
  std::cerr << "[ KVM probe: " << (kvm.usable ? "usable" : "unusable") << ": " << kvm.reason << ", "
            << kvm.elapsed.count() << " ms ]\n";
  EXPECT_FALSE(has_children());
}

}  // namespace
}  // namespace keel::image
