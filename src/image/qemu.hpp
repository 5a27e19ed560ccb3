// qemu.hpp — `keel-image boot`: boot a kernel and an initramfs in
// qemu-system-x86_64 with the serial console captured, and judge the boot.
//
//   BootOptions options;
//   options.kernel = "build/kernel-cache/current/boot/vmlinuz-6.1.0-56-amd64";
//   options.initrd = "out/minimal.cpio.gz";
//   options.expect = {"keel .* started", "reboot: Power down"};
//   BootResult result = boot(options, std::cout, std::cerr);
//   return result.exit_code();
//
// The command line (qemu_command, printed before it runs):
//   qemu-system-x86_64 -nodefaults -display none -no-reboot -accel tcg|kvm
//     -cpu qemu64 -m 512M -serial stdio -kernel K -initrd I
//     -append "console=ttyS0 panic=-1 <append>" [-drive file=D,format=raw,if=virtio]...
//     [extra_args...]
// An arm64 kernel (an Image: "ARM\x64" at byte 56, as Debian's
// linux-image-arm64 ships it) boots in qemu-system-aarch64 instead, on the
// `virt` machine, -cpu cortex-a57 unless one is given, the console on
// ttyAMA0, always under TCG (KVM here runs x86_64 only).
// stdin is /dev/null (or see ConsoleInput); stdout and stderr (QEMU's own errors) are one pipe,
// streamed to `console` as they come and watched line by line.
//
// A boot passes when every --expect pattern was seen, in order, and QEMU
// exited with status 0 (under -no-reboot, after the guest powered off). It
// fails on: the timeout (QEMU is killed), a kernel panic ("Kernel panic -
// not syncing"; QEMU is killed after a short grace to show the rest of the
// trace), the guest restarting instead of powering off (a reboot the guest
// asked for: "reboot: Restarting system"; a reset by an emulated watchdog
// prints nothing, and QEMU exits 0 under -no-reboot: tests that expect one
// assert on the console themselves), QEMU exiting with
// patterns unmatched or with a non-zero status. The message names the first
// unmatched pattern and carries the last console lines.
//
// KVM: Accel::Auto uses KVM only when a probe shows that KVM really runs a
// guest — a 512-byte boot sector that writes "KVMOK" to the serial port and
// leaves through isa-debug-exit, bounded by a timeout (on some machines
// /dev/kvm opens but a guest hangs) — and the result is cached for the
// process. KEEL_IMAGE_ACCEL=tcg|kvm in the environment skips the probe.
//
// Process handling: QEMU runs in a process group of its own with
// PR_SET_PDEATHSIG=SIGKILL; it is killed (the group, SIGKILL) and reaped on
// every path out of boot(), exceptions included.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace keel::image {

enum class Accel { Auto, Kvm, Tcg };

// Where the guest's console input comes from (the boot loop, issue 14):
//   Null      stdin is /dev/null (tests, scripts; the default of the library)
//   Terminal  this process's terminal, interactive: QEMU reads it in raw mode
//             through a mux (`-chardev stdio,mux=on,signal=off`), so Ctrl-C
//             goes to the guest and Ctrl-A X quits; the terminal's modes and
//             file flags are restored on every way out (terminal_guard.hpp)
//   Stream    bytes read from input_fd (a file or a pipe), copied into
//             QEMU's stdin, held back until input_after shows on the console
enum class ConsoleInput { Null, Terminal, Stream };

// QEMU's monitor (--monitor): none; on the console's mux (Terminal input
// only: Ctrl-A C switches between the guest's console and the monitor); or
// on a unix socket (`socat - UNIX-CONNECT:PATH`, or QEMU's own
// `-monitor unix:` clients).
enum class Monitor { None, Console, Socket };

struct BootOptions {
  std::string qemu = "qemu-system-x86_64";
  std::filesystem::path kernel;
  std::filesystem::path initrd;
  std::string append;                        // after "console=ttyS0 panic=-1"
  std::vector<std::filesystem::path> disks;  // raw images, virtio
  std::vector<std::string> expect;           // ECMAScript regexes, in order
  std::chrono::milliseconds timeout = std::chrono::seconds(60);  // 0: none
  std::string memory = "512M";
  std::string cpu = "qemu64";
  Accel accel = Accel::Auto;
  std::size_t keep_lines = 20;  // console lines kept for the failure message
  // Appended to QEMU's command line as they are, after everything else
  // (`--qemu-arg`): a device such as "-device", "i6300esb" for the
  // hardware-watchdog tests.
  std::vector<std::string> extra_args;

  // ---- the boot loop for people ----
  ConsoleInput input = ConsoleInput::Null;
  int input_fd = -1;        // Stream: read until EOF (not closed by boot())
  std::string input_after;  // Stream: ECMAScript regex on the console output; "" = at once
  unsigned smp = 0;          // virtual CPUs (-smp N); 0: QEMU's default, one
  bool icount = false;       // -icount shift=0,sleep=off: deterministic guest time, as bench/ uses
  Monitor monitor = Monitor::None;
  std::filesystem::path monitor_socket;  // Monitor::Socket: the unix socket QEMU listens on
  // KVM, decided with Accel::Auto: the device opened first, the probe's
  // bound, and where a KVM that failed (a real boot, or the probe) is
  // remembered; empty: next to the kernel (build/kernel-cache/current/boot).
  std::filesystem::path kvm_device = "/dev/kvm";
  std::chrono::milliseconds probe_timeout = std::chrono::seconds(6);
  std::filesystem::path kvm_marker;
  bool forget_kvm_failure = false;  // --accel probe: delete the marker, probe again
  // The guest is to reboot, not power off (-no-reboot stays: QEMU ends at
  // the reboot). A reset with no "reboot: Restarting system" line (a
  // hardware watchdog's) counts as a reboot; "reboot: Power down" fails.
  bool expect_reboot = false;
};

// The argv that boot() runs, with the accelerator decided (kvm or tcg).
std::vector<std::string> qemu_command(const BootOptions& options, bool kvm);

// Whether `kernel` is an arm64 Image (its header's magic); false for
// anything else, a file that cannot be read included.
[[nodiscard]] bool is_arm64_kernel(const std::filesystem::path& kernel);

// argv as one line a shell would run as is (words quoted where needed).
std::string format_command(const std::vector<std::string>& argv);

// Watches the console: splits output into lines, matches the expected
// patterns in order (std::regex_search on each line; one line satisfies at
// most one pattern, so a pattern given twice needs two lines), spots a
// kernel panic and a restart, and keeps the last lines.
class ConsoleWatcher {
 public:
  // Throws ImageError for a pattern that is not a valid regex.
  explicit ConsoleWatcher(const std::vector<std::string>& patterns, std::size_t keep_lines = 20);

  void feed(std::string_view output);  // any chunk: lines are completed across calls
  void finish();                       // the output ended: a last partial line counts
  void line(std::string_view text);    // one complete line (without its newline)

  [[nodiscard]] std::size_t matched() const noexcept { return next_; }
  [[nodiscard]] bool all_matched() const noexcept { return next_ == patterns_.size(); }
  // The first pattern not seen yet, or nullopt when all were.
  [[nodiscard]] std::optional<std::string> first_unmatched() const;
  [[nodiscard]] bool panicked() const noexcept { return !panic_line_.empty(); }
  [[nodiscard]] const std::string& panic_line() const noexcept { return panic_line_; }
  [[nodiscard]] bool restarted() const noexcept { return restarted_; }      // "reboot: Restarting system"
  [[nodiscard]] bool powered_off() const noexcept { return powered_off_; }  // "reboot: Power down"
  [[nodiscard]] bool quit() const noexcept { return quit_; }  // "QEMU: Terminated" (Ctrl-A X on the mux)
  [[nodiscard]] const std::deque<std::string>& last_lines() const noexcept { return last_; }

 private:
  std::vector<std::string> sources_;
  std::vector<std::regex> patterns_;
  std::size_t next_ = 0;
  std::size_t keep_;
  std::string partial_;
  std::string panic_line_;
  bool restarted_ = false;
  bool powered_off_ = false;
  bool quit_ = false;
  std::deque<std::string> last_;
};

struct KvmProbe {
  bool usable = false;
  std::string reason;  // why not, or "a guest ran under KVM"
  std::chrono::milliseconds elapsed{0};
};

// Boots the probe boot sector with `-accel <accel>` ("kvm"; "tcg" checks
// the probe itself), bounded by `timeout`. Not cached.
KvmProbe probe_accel(const std::string& qemu, const std::string& accel,
                     std::chrono::milliseconds timeout = std::chrono::seconds(6));

// probe_accel(qemu, "kvm"), done once per process (/dev/kvm absent or not
// openable: no probe at all).
const KvmProbe& kvm_probe(const std::string& qemu = "qemu-system-x86_64");

// The file that remembers a failed KVM (options.kvm_marker, else
// KERNEL_DIR/.kvm-failed).
std::filesystem::path kvm_marker(const BootOptions& options);

// The accelerator boot() uses (Kvm or Tcg), with what it says about the
// choice on `log`: options.accel; with Auto, KEEL_IMAGE_ACCEL=kvm|tcg; else
// TCG when the marker says KVM failed here before; else the probe (when
// options.kvm_device opens), whose failure is written to the marker so the
// next boot does not probe again.
Accel decide_accel(const BootOptions& options, std::ostream& log);

enum class BootStatus { Passed, Timeout, Panic, Restarted, Unmatched, QemuFailed, NotStarted, Quit, PoweredOff };

struct BootResult {
  BootStatus status = BootStatus::NotStarted;
  std::vector<std::string> command;  // what ran
  bool kvm = false;
  int qemu_status = -1;     // exit status, 128+N when killed by signal N, -1 if not reaped normally
  std::size_t matched = 0;  // patterns matched
  std::string message;      // "" when passed; else what failed, the pattern, the last lines
  std::vector<std::string> last_lines;
  std::chrono::milliseconds elapsed{0};

  [[nodiscard]] bool passed() const noexcept { return status == BootStatus::Passed; }
  // keel-image boot's exit status, one per outcome (1 and 2 are keel-image's
  // errors and usage errors): 0 passed, 3 the guest rebooted, 4 it powered
  // off where a reboot was expected, 5 kernel panic, 6 timeout, 7 a pattern
  // not seen, 8 QEMU failed (or did not start), 9 quit with Ctrl-A X.
  [[nodiscard]] int exit_code() const noexcept;
};

const char* to_string(BootStatus status);

// Runs the boot. Console output goes to `console` as it comes; the command
// line and the KVM decision go to `log`. Throws ImageError for a bad option
// (missing kernel or initrd, bad regex); every boot outcome is a result.
BootResult boot(const BootOptions& options, std::ostream& console, std::ostream& log);

}  // namespace keel::image
