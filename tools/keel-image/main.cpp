// keel-image — builds bootable initramfs images without root, lists them,
// shows an ELF program's library closure, and boots images in QEMU.
//
//   keel-image build SPEC [-o OUT] [--sbom FILE] [--report] [--import-times LOG]
//   keel-image ls IMAGE
//   keel-image ldd FILE [--sysroot DIR]
//   keel-image boot IMAGE|DISK [--initramfs F] [--kernel K] [--append ARGS] [--disk FILE]... [--expect REGEX]...
//                         [--timeout S] [--mem M] [--qemu-arg ARG]... [--chart SVG] [--events FILE]
//                         [--input FILE|- [--input-after REGEX]] [--cpu M] [--smp N] [--icount]
//                         [--accel auto|kvm|tcg|probe] [--monitor | --monitor-socket PATH]
//                         [--expect-reboot]
//
// Exit status: 0 success, 1 an ImageError (printed as "FILE:LINE: error:
// MESSAGE"), 2 a usage error (one line on stderr); a boot that did not end
// as expected: 3 to 9, one per outcome (kBootHelp, BootResult::exit_code).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/version.hpp"
#include "image/boot_events.hpp"
#include "image/builder.hpp"
#include "image/diagnostic.hpp"
#include "image/elf.hpp"
#include "image/listing.hpp"
#include "image/progress.hpp"
#include "image/python_report.hpp"
#include "image/qemu.hpp"
#include "image/terminal_guard.hpp"
#include "image/spec.hpp"

namespace fs = std::filesystem;
using namespace keel::image;

namespace {

constexpr std::string_view kToolHelp =
    "usage: keel-image COMMAND [ARGS]\n"
    "\n"
    "Builds bootable initramfs images without root, and boots them in QEMU.\n"
    "\n"
    "commands:\n"
    "  build SPEC [-o OUT]     build the image a spec describes (docs/image-spec.md);\n"
    "          [--sbom FILE]   --sbom: and its SPDX 2.3 JSON SBOM\n"
    "  ls IMAGE                list an image's entries (cpio; gzip, zstd, xz or none)\n"
    "  ldd FILE [--sysroot D]  show the shared libraries an ELF program needs, read from the files\n"
    "  boot IMAGE [OPTIONS]    boot an image (or a disk image through its stage initramfs) in\n"
    "                          qemu-system-x86_64 on the serial console\n"
    "\n"
    "  keel-image COMMAND --help   help for one command\n"
    "  keel-image --version        print the version\n"
    "\n"
    "Exit status: 0 success, 1 an error (FILE:LINE: error: MESSAGE), 2 a usage error;\n"
    "boot: 3 to 9 for a boot that did not end as expected (keel-image boot --help).\n";

constexpr std::string_view kBuildHelp =
    "usage: keel-image build SPEC [-o OUT] [--sbom FILE] [--report] [--import-times LOG]\n"
    "\n"
    "Builds the image SPEC describes (a TOML file; see docs/image-spec.md).\n"
    "\n"
    "  -o, --output OUT   write the image to OUT (default: [output] path in the spec)\n"
    "  --sbom FILE        also write an SBOM of the image to FILE (default: [output] sbom\n"
    "                     in the spec, else none): an SPDX 2.3 JSON document listing\n"
    "                     every regular file with its SHA-1 and SHA-256 and its origin\n"
    "                     (the Debian package and version that owns the host file, keel\n"
    "                     built from source, or the spec line that added it), the Debian\n"
    "                     packages with their versions, purls and DEP-5 licences, and\n"
    "                     the relationships; reproducible like the image\n"
    "  --report             also print, on stdout, what the [python] section adds: bytes by\n"
    "                       part (interpreter, libraries, stdlib .pyc, extension modules,\n"
    "                       scripts), by package and by module, largest first\n"
    "  --import-times LOG   with the report, the import time of each module, read from LOG:\n"
    "                       the console of a boot whose Python program ran with\n"
    "                       PYTHONPROFILEIMPORTTIME=1 (or -X importtime), e.g. saved by\n"
    "                       keel-image boot IMAGE > LOG; slowest (cumulative) first\n"
    "\n"
    "[output] format = \"oci\" writes an OCI image layout directory (skopeo oci:OUT:TAG,\n"
    "umoci --image OUT:TAG), \"docker-archive\" a tar for docker load / podman load; their\n"
    "config (entrypoint, cmd, env, ports, ...) comes from the spec's [oci] table.\n"
    "\n"
    "The output is reproducible: entries sorted, owners from the spec only, every mtime\n"
    "$SOURCE_DATE_EPOCH (or 0), no timestamps in the compressed stream. On a terminal a\n"
    "progress line is shown; a summary line is always printed on stderr.\n"
    "\n"
    "[output] format: \"cpio\" (default), \"dir\", \"ext4\", \"erofs\" or \"disk\" (a GPT disk: a root\n"
    "partition, ext4 or erofs, and an optional ext4 data partition; see [disk]). With [keel],\n"
    "ext4, erofs and disk outputs also get OUT.initramfs ([output] initramfs), the stage that\n"
    "mounts the root and switches into it: `keel-image boot OUT` boots the pair.\n";

constexpr std::string_view kLsHelp =
    "usage: keel-image ls IMAGE\n"
    "\n"
    "Lists the entries of a cpio image (compressed with gzip, zstd or xz, or not), one per line:\n"
    "MODE NLINK UID GID SIZE|MAJOR,MINOR DATE TIME NAME[ -> TARGET] (times in UTC).\n";

constexpr std::string_view kLddHelp =
    "usage: keel-image ldd FILE [--sysroot DIR]\n"
    "\n"
    "Prints the shared-library closure of an ELF program as keel-image build copies it,\n"
    "found by reading the ELF files (never by running them), with each library's size.\n"
    "\n"
    "  --sysroot DIR   resolve everything inside DIR as \"/\" (default /); FILE is a path in it\n";

constexpr std::string_view kBootHelp =
    "usage: keel-image boot IMAGE [OPTIONS]\n"
    "\n"
    "Boots IMAGE (an initramfs, or a disk image with its stage initramfs) in qemu-system-x86_64 with the serial console on this\n"
    "terminal, -no-reboot and panic=-1; KVM only when a probe shows it really runs a guest.\n"
    "An arm64 kernel (--kernel; scripts/cross-aarch64.sh caches Debian's) boots in qemu-system-aarch64\n"
    "instead (-M virt, -cpu cortex-a57, console=ttyAMA0, TCG): for an image of keel built for arm64.\n"
    "Succeeds when every --expect pattern appeared, in order, and the guest powered off.\n"
    "\n"
    "  --kernel K      the kernel (default: build/kernel-cache/current/boot/vmlinux-*, then\n"
    "                  vmlinuz-*, under $KEEL_KERNEL_CACHE (instead of build/kernel-cache)\n"
    "                  or the current directory; scripts/fetch-kernel.sh fills the cache)\n"
    "  --append ARGS   kernel arguments after \"console=ttyS0 panic=-1\" (default: the image's\n"
    "                  /etc/keel/cmdline, written from the spec's [boot] cmdline)\n"
    "  --disk FILE     a raw disk image, attached as virtio (repeatable)\n"
    "  --initramfs F   when IMAGE is a disk image (ext4, erofs or disk output, not a cpio):\n"
    "                  the initramfs that boots it (default IMAGE.initramfs, written by\n"
    "                  keel-image build); IMAGE is attached as the first virtio disk\n"
    "  --expect REGEX  a console line pattern (ECMAScript regex; repeatable, in order)\n"
    "  --timeout S     seconds before the boot fails (default 60)\n"
    "  --mem M         guest memory (default 512M)\n"
    "  --qemu-arg ARG  one more word for QEMU's command line, after the others (repeatable,\n"
    "                  in order): --qemu-arg -device --qemu-arg i6300esb adds a watchdog\n"
    "  --chart FILE    boot analysis: add keel.events=console to the kernel command line,\n"
    "                  collect keel's `keel-event: {json}` console lines, and when QEMU has\n"
    "                  exited write the boot's SVG timeline to FILE (as keelctl analyze\n"
    "                  plot) and print the startup summary and the slowest services\n"
    "  --events FILE   the same collection; the raw event lines are saved to FILE (for\n"
    "                  keelctl analyze --input FILE)\n"
    "\n"
    "The console (docs/keel-image-boot.md):\n"
    "  on a terminal   interactive (the rescue shell works): Ctrl-A X quits, Ctrl-C goes\n"
    "                  to the guest, no timeout unless --timeout; the terminal is restored\n"
    "                  however the boot ends\n"
    "  --input FILE    feed the console from FILE (\"-\": from stdin, a pipe or a file)\n"
    "                  instead; without a terminal and without --input it gets no input\n"
    "  --input-after REGEX  hold the input back until the console shows REGEX (a prompt:\n"
    "                  \"/ # \"); bytes sent before the guest opens its console are lost\n"
    "  --timeout 0     no timeout\n"
    "\n"
    "The machine:\n"
    "  --cpu MODEL     QEMU's -cpu (default qemu64: no RDRAND, as a slow device)\n"
    "  --smp N         N virtual CPUs (default 1)\n"
    "  --icount        -icount shift=0,sleep=off: guest time counts instructions and\n"
    "                  skips idle time, so guest time stamps repeat (as bench/ uses)\n"
    "  --accel A       auto (default; $KEEL_IMAGE_ACCEL=kvm|tcg when set), kvm, tcg, or\n"
    "                  probe: forget a remembered KVM failure and probe again. A failed\n"
    "                  KVM probe or boot is remembered in KERNEL_DIR/.kvm-failed\n"
    "  --monitor       QEMU's monitor: on a terminal Ctrl-A C switches to it and back;\n"
    "                  else on a unix socket whose path is printed\n"
    "  --monitor-socket PATH  the monitor on the unix socket PATH (socat - UNIX-CONNECT:PATH)\n"
    "\n"
    "How it should end:\n"
    "  --expect-reboot the guest is to reboot (QEMU still stops there), not power off\n"
    "\n"
    "Exit status:\n"
    "  0  the expected end (power-off, or reboot with --expect-reboot), every pattern seen\n"
    "  1  an error (FILE:LINE: error: MESSAGE)      2  a usage error\n"
    "  3  the guest rebooted                        4  it powered off (--expect-reboot)\n"
    "  5  kernel panic                              6  timeout (QEMU killed)\n"
    "  7  the guest ended before every --expect pattern appeared\n"
    "  8  QEMU failed (non-zero status, or did not start)\n"
    "  9  quit with Ctrl-A X\n";

struct UsageError {
  std::string message;
};

// A command's arguments: positional words and --options (with "--opt=value"
// or "--opt value"), checked against what the command knows.
class Args {
 public:
  Args(std::string command, std::vector<std::string> args) : command_(std::move(command)), args_(std::move(args)) {}

  bool help() const {
    return std::any_of(args_.begin(), args_.end(), [](const std::string& a) { return a == "--help" || a == "-h"; });
  }

  // Splits the arguments; `valued` are the options taking a value, `flags`
  // those that take none.
  void parse(const std::vector<std::string>& valued, const std::vector<std::string>& flags = {}) {
    for (std::size_t i = 0; i < args_.size(); ++i) {
      const std::string& a = args_[i];
      if (a == "--") {
        positional_.insert(positional_.end(), args_.begin() + static_cast<std::ptrdiff_t>(i) + 1, args_.end());
        break;
      }
      if (a.size() > 1 && a[0] == '-') {
        std::string name = a;
        std::optional<std::string> value;
        if (const auto eq = a.find('='); eq != std::string::npos && a.starts_with("--")) {
          name = a.substr(0, eq);
          value = a.substr(eq + 1);
        }
        if (std::find(flags.begin(), flags.end(), name) != flags.end()) {
          if (value) throw UsageError{"option '" + name + "' takes no value"};
          flags_.push_back(name);
          continue;
        }
        if (std::find(valued.begin(), valued.end(), name) == valued.end()) {
          throw UsageError{"unknown option '" + name + "'"};
        }
        if (!value) {
          if (i + 1 >= args_.size()) throw UsageError{"option '" + name + "' needs a value"};
          value = args_[++i];
        }
        options_.emplace_back(name, *value);
      } else {
        positional_.push_back(a);
      }
    }
  }

  std::vector<std::string> all(std::initializer_list<std::string_view> names) const {
    std::vector<std::string> out;
    for (const auto& [name, value] : options_) {
      if (std::find(names.begin(), names.end(), name) != names.end()) out.push_back(value);
    }
    return out;
  }
  bool flag(std::string_view name) const { return std::find(flags_.begin(), flags_.end(), name) != flags_.end(); }
  std::optional<std::string> last(std::initializer_list<std::string_view> names) const {
    auto values = all(names);
    if (values.empty()) return std::nullopt;
    return values.back();
  }
  // Exactly one positional argument, named `what` in the message.
  std::string one(const std::string& what) const {
    if (positional_.empty()) throw UsageError{"missing " + what};
    if (positional_.size() > 1) throw UsageError{"unexpected argument '" + positional_[1] + "'"};
    return positional_.front();
  }

 private:
  std::string command_;
  std::vector<std::string> args_;
  std::vector<std::string> positional_;
  std::vector<std::pair<std::string, std::string>> options_;
  std::vector<std::string> flags_;
};

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ImageError(file.string(), 0, "cannot read file");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

int cmd_build(Args& args) {
  args.parse({"-o", "--output", "--sbom", "--import-times"}, {"--report"});
  BuildOptions options;
  const std::string spec = args.one("SPEC");
  if (auto out = args.last({"-o", "--output"})) options.output = *out;
  if (auto sbom = args.last({"--sbom"})) options.sbom = *sbom;
  options.log = &std::cerr;
  options.progress_fd = STDERR_FILENO;
  const auto import_log = args.last({"--import-times"});
  if (!args.flag("--report") && !import_log) {
    build_image(spec, options);
    return 0;
  }
  // --report: the [python] section's sizes from the plan, and with
  // --import-times the import times a boot's console recorded.
  const Spec parsed = parse_spec_file(spec);
  const ImagePlan plan = plan_image(parsed);
  write_image(parsed, plan, options);
  if (!parsed.python) {
    std::cout << "no [python] section: nothing to report\n";
    return 0;
  }
  std::vector<ImportTime> imports;
  if (import_log) {
    imports = parse_import_times(read_file(*import_log));
    if (imports.empty()) {
      throw ImageError(*import_log, 0, "no \"import time:\" lines (boot with -X importtime or PYTHONPROFILEIMPORTTIME=1)");
    }
  }
  for (const std::string& line : python_report(plan, imports)) std::cout << line << "\n";
  return 0;
}

int cmd_ls(Args& args) {
  args.parse({});
  const std::string image = args.one("IMAGE");
  for (const std::string& line : list_image(read_file(image), image)) std::cout << line << "\n";
  return 0;
}

int cmd_ldd(Args& args) {
  args.parse({"--sysroot"});
  const std::string file = args.one("FILE");
  ClosureOptions options;
  if (auto sysroot = args.last({"--sysroot"})) options.sysroot = *sysroot;
  std::string program = file;
  if (options.sysroot != "/" && !program.starts_with('/')) program = "/" + program;
  for (const std::string& line : ldd_lines(elf_closure(program, options))) std::cout << line << "\n";
  return 0;
}

// build/kernel-cache/current/boot/vmlinux-* (boots faster, through PVH),
// else vmlinuz-*; the cache is $KEEL_KERNEL_CACHE or ./build/kernel-cache.
fs::path default_kernel() {
  const char* env = std::getenv("KEEL_KERNEL_CACHE");
  const fs::path boot = fs::path(env != nullptr && *env != '\0' ? env : "build/kernel-cache") / "current" / "boot";
  for (const std::string prefix : {"vmlinux-", "vmlinuz-"}) {
    std::vector<fs::path> found;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(boot, ec)) {
      if (entry.path().filename().string().starts_with(prefix)) found.push_back(entry.path());
    }
    if (!found.empty()) return *std::min_element(found.begin(), found.end());
  }
  throw ImageError("no kernel: give --kernel, or run scripts/fetch-kernel.sh to fill " + boot.string());
}

std::chrono::milliseconds parse_seconds(const std::string& text) {
  char* end = nullptr;
  const double s = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(s >= 0) || s > 86400) {
    throw UsageError{"--timeout needs a number of seconds (0: none), not '" + text + "'"};
  }
  return std::chrono::milliseconds(static_cast<long long>(s * 1000));
}

// Whether IMAGE is an initramfs (a cpio, gzip, zstd, xz or lz4 stream), not
// a disk image (ext4, erofs, GPT) that boots through its stage initramfs.
bool is_initramfs(const fs::path& image) {
  std::ifstream in(image, std::ios::binary);
  std::string head(6, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  if (in.gcount() < 6) return true;  // let boot() report a bad image
  for (const std::string_view magic : {std::string_view("0707"), std::string_view("\x1f\x8b"),
                                       std::string_view("\x28\xb5\x2f\xfd"), std::string_view("\xfd" "7zXZ"),
                                       std::string_view("\x02\x21\x4c\x18"), std::string_view("\x04\x22\x4d\x18")}) {
    if (head.starts_with(magic)) return true;
  }
  return false;
}

// The console's input: --input FILE (or - for our stdin) feeds it, for tests
// and scripts; else our stdin when it is the terminal we run in the
// foreground of (interactive, no timeout unless --timeout); else nothing.
// The returned descriptor (a file we opened) stays open for the boot.
std::optional<int> choose_input(const Args& args, BootOptions& options) {
  const auto input = args.last({"--input"});
  if (auto after = args.last({"--input-after"})) {
    if (!input) throw UsageError{"--input-after needs --input"};
    options.input_after = *after;
  }
  if (input) {
    options.input = ConsoleInput::Stream;
    if (*input == "-") {
      options.input_fd = STDIN_FILENO;
      return std::nullopt;
    }
    const int fd = open(input->c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw ImageError(*input, 0, std::string("cannot open the console input: ") + std::strerror(errno));
    options.input_fd = fd;
    return fd;
  }
  if (is_foreground_terminal(STDIN_FILENO)) {
    options.input = ConsoleInput::Terminal;
    options.timeout = std::chrono::milliseconds(0);
  }
  return std::nullopt;
}

int cmd_boot(Args& args) {
  args.parse({"--kernel", "--append", "--disk", "--expect", "--timeout", "--mem", "--qemu-arg", "--chart", "--events",
              "--initramfs", "--input", "--input-after", "--cpu", "--smp", "--accel", "--monitor-socket"},
             {"--monitor", "--icount", "--expect-reboot"});
  BootOptions options;
  options.initrd = args.one("IMAGE");
  options.kernel = args.last({"--kernel"}) ? fs::path(*args.last({"--kernel"})) : default_kernel();
  // A disk image (issue 14, I2): its stage initramfs boots it, attached as the first virtio disk.
  if (!is_initramfs(options.initrd)) {
    options.disks.push_back(options.initrd);
    if (auto initramfs = args.last({"--initramfs"})) {
      options.initrd = *initramfs;
    } else {
      options.initrd += ".initramfs";
    }
  } else if (args.last({"--initramfs"})) {
    throw UsageError{"--initramfs applies only to a disk image (IMAGE is an initramfs)"};
  }
  for (const std::string& d : args.all({"--disk"})) options.disks.emplace_back(d);
  options.expect = args.all({"--expect"});
  const std::optional<int> opened = choose_input(args, options);
  struct CloseInput {
    std::optional<int> fd;
    ~CloseInput() {
      if (fd) close(*fd);
    }
  } close_input{opened};
  if (auto t = args.last({"--timeout"})) options.timeout = parse_seconds(*t);
  if (auto m = args.last({"--mem"})) options.memory = *m;
  if (auto cpu = args.last({"--cpu"})) options.cpu = *cpu;
  if (auto smp = args.last({"--smp"})) {
    char* end = nullptr;
    const unsigned long n = std::strtoul(smp->c_str(), &end, 10);
    if (smp->empty() || *end != '\0' || n < 1 || n > 255) throw UsageError{"--smp needs 1 to 255 CPUs, not '" + *smp + "'"};
    options.smp = static_cast<unsigned>(n);
  }
  options.icount = args.flag("--icount");
  options.expect_reboot = args.flag("--expect-reboot");
  if (auto accel = args.last({"--accel"})) {
    if (*accel == "kvm") {
      options.accel = Accel::Kvm;
    } else if (*accel == "tcg") {
      options.accel = Accel::Tcg;
    } else if (*accel == "auto") {
      options.accel = Accel::Auto;
    } else if (*accel == "probe") {
      options.accel = Accel::Auto;
      options.forget_kvm_failure = true;
    } else {
      throw UsageError{"--accel takes kvm, tcg, auto or probe, not '" + *accel + "'"};
    }
  }
  if (auto socket = args.last({"--monitor-socket"})) {
    options.monitor = Monitor::Socket;
    options.monitor_socket = *socket;
  } else if (args.flag("--monitor")) {
    if (options.input == ConsoleInput::Terminal) {
      options.monitor = Monitor::Console;
    } else {
      // No terminal to share: a socket of our own, named on stderr.
      const char* runtime = std::getenv("XDG_RUNTIME_DIR");
      const fs::path dir = runtime != nullptr && *runtime != '\0' ? fs::path(runtime) : fs::temp_directory_path();
      options.monitor = Monitor::Socket;
      options.monitor_socket = dir / ("keel-image-monitor-" + std::to_string(getpid()) + ".sock");
    }
  }
  if (options.monitor == Monitor::Socket) {
    std::cerr << "keel-image: QEMU monitor on " << options.monitor_socket.string() << " (socat - UNIX-CONNECT:"
              << options.monitor_socket.string() << ")\n";
  } else if (options.monitor == Monitor::Console) {
    std::cerr << "keel-image: QEMU monitor: Ctrl-A C switches between the console and the monitor\n";
  }
  if (options.input == ConsoleInput::Terminal) std::cerr << "keel-image: interactive console: Ctrl-A X quits\n";
  options.extra_args = args.all({"--qemu-arg"});
  if (auto a = args.last({"--append"})) {
    options.append = *a;
  } else if (auto cmdline = read_image_file(read_file(options.initrd), "/etc/keel/cmdline", options.initrd.string())) {
    std::string text = *cmdline;
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    options.append = text;
  }
  const fs::path chart = args.last({"--chart"}).value_or("");
  const fs::path events = args.last({"--events"}).value_or("");
  const bool collect = !chart.empty() || !events.empty();
  if (collect) options.append += std::string(options.append.empty() ? "" : " ") + keel::image::kEventsCmdline;
  keel::analyze::ConsoleEventCollector collector;
  keel::image::ConsoleTee tee(std::cout, collector);
  const BootResult result = boot(options, collect ? static_cast<std::ostream&>(tee) : std::cout, std::cerr);
  std::cout.flush();
  if (collect) {
    collector.finish();
    (void)keel::image::write_boot_analysis(collector, chart, events, std::cerr);
  }
  if (result.passed()) {
    std::cerr << "keel-image: boot passed (" << result.matched << " pattern(s) matched, " << result.elapsed.count()
              << " ms, " << (result.kvm ? "kvm" : "tcg") << ")\n";
  } else {
    std::cerr << "keel-image: boot failed: " << to_string(result.status) << ": " << result.message << "\n";
  }
  return result.exit_code();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  if (words.empty()) {
    std::cerr << "keel-image: missing command (see keel-image --help)\n";
    return 2;
  }
  const std::string command = words.front();
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kToolHelp;
    return 0;
  }
  if (command == "--version") {
    std::cout << "keel-image " << keel::kVersion << "\n";
    return 0;
  }
  Args args(command, std::vector<std::string>(words.begin() + 1, words.end()));
  try {
    if (command == "build") {
      if (args.help()) return std::cout << kBuildHelp, 0;
      return cmd_build(args);
    }
    if (command == "ls") {
      if (args.help()) return std::cout << kLsHelp, 0;
      return cmd_ls(args);
    }
    if (command == "ldd") {
      if (args.help()) return std::cout << kLddHelp, 0;
      return cmd_ldd(args);
    }
    if (command == "boot") {
      if (args.help()) return std::cout << kBootHelp, 0;
      return cmd_boot(args);
    }
    std::cerr << "keel-image: unknown command '" << command << "' (see keel-image --help)\n";
    return 2;
  } catch (const UsageError& e) {
    std::cerr << "keel-image " << command << ": " << e.message << " (see keel-image " << command << " --help)\n";
    return 2;
  } catch (const ImageError& e) {
    std::cerr << e.describe() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "keel-image: error: " << e.what() << "\n";
    return 1;
  }
}
