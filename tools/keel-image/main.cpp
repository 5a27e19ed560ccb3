// keel-image — builds bootable initramfs images without root, lists them,
// shows an ELF program's library closure, and boots images in QEMU.
//
//   keel-image build SPEC [-o OUT] [--report] [--import-times LOG]
//   keel-image ls IMAGE
//   keel-image ldd FILE [--sysroot DIR]
//   keel-image boot IMAGE [--kernel K] [--append ARGS] [--disk FILE]... [--expect REGEX]...
//                         [--timeout S] [--mem M] [--qemu-arg ARG]... [--chart SVG] [--events FILE]
//
// Exit status: 0 success, 1 an ImageError (printed as "FILE:LINE: error:
// MESSAGE") or a failed boot, 2 a usage error (one line on stderr).
#include <unistd.h>

#include <algorithm>
#include <chrono>
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
    "  build SPEC [-o OUT]     build the image a spec describes (docs/image-spec.md)\n"
    "  ls IMAGE                list an image's entries (cpio; gzip, zstd or none)\n"
    "  ldd FILE [--sysroot D]  show the shared libraries an ELF program needs, read from the files\n"
    "  boot IMAGE [OPTIONS]    boot an image in qemu-system-x86_64 on the serial console\n"
    "\n"
    "  keel-image COMMAND --help   help for one command\n"
    "  keel-image --version        print the version\n"
    "\n"
    "Exit status: 0 success, 1 an error (FILE:LINE: error: MESSAGE) or a failed boot, 2 a usage error.\n";

constexpr std::string_view kBuildHelp =
    "usage: keel-image build SPEC [-o OUT] [--report] [--import-times LOG]\n"
    "\n"
    "Builds the image SPEC describes (a TOML file; see docs/image-spec.md).\n"
    "\n"
    "  -o, --output OUT     write the image to OUT (default: [output] path in the spec)\n"
    "  --report             also print, on stdout, what the [python] section adds: bytes by\n"
    "                       part (interpreter, libraries, stdlib .pyc, extension modules,\n"
    "                       scripts), by package and by module, largest first\n"
    "  --import-times LOG   with the report, the import time of each module, read from LOG:\n"
    "                       the console of a boot whose Python program ran with\n"
    "                       PYTHONPROFILEIMPORTTIME=1 (or -X importtime), e.g. saved by\n"
    "                       keel-image boot IMAGE > LOG; slowest (cumulative) first\n"
    "\n"
    "The output is reproducible: entries sorted, owners from the spec only, every mtime\n"
    "$SOURCE_DATE_EPOCH (or 0), no timestamps in the compressed stream. On a terminal a\n"
    "progress line is shown; a summary line is always printed on stderr.\n";

constexpr std::string_view kLsHelp =
    "usage: keel-image ls IMAGE\n"
    "\n"
    "Lists the entries of a cpio image (compressed with gzip or zstd, or not), one per line:\n"
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
    "Boots IMAGE (an initramfs) in qemu-system-x86_64 with the serial console on this\n"
    "terminal, -no-reboot and panic=-1; KVM only when a probe shows it really runs a guest.\n"
    "Succeeds when every --expect pattern appeared, in order, and the guest powered off.\n"
    "\n"
    "  --kernel K      the kernel (default: build/kernel-cache/current/boot/vmlinux-*, then\n"
    "                  vmlinuz-*, under $KEEL_KERNEL_CACHE (instead of build/kernel-cache)\n"
    "                  or the current directory; scripts/fetch-kernel.sh fills the cache)\n"
    "  --append ARGS   kernel arguments after \"console=ttyS0 panic=-1\" (default: the image's\n"
    "                  /etc/keel/cmdline, written from the spec's [boot] cmdline)\n"
    "  --disk FILE     a raw disk image, attached as virtio (repeatable)\n"
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
    "                  keelctl analyze --input FILE)\n";

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
  // those that take none (recorded with an empty value).
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
        if (!value && std::find(flags.begin(), flags.end(), name) != flags.end()) {
          options_.emplace_back(name, "");
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
};

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ImageError(file.string(), 0, "cannot read file");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

int cmd_build(Args& args) {
  args.parse({"-o", "--output", "--import-times"}, {"--report"});
  BuildOptions options;
  const std::string spec = args.one("SPEC");
  if (auto out = args.last({"-o", "--output"})) options.output = *out;
  options.log = &std::cerr;
  options.progress_fd = STDERR_FILENO;
  const auto import_log = args.last({"--import-times"});
  if (!args.last({"--report"}) && !import_log) {
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
  if (text.empty() || *end != '\0' || !(s > 0) || s > 86400) {
    throw UsageError{"--timeout needs a number of seconds, not '" + text + "'"};
  }
  return std::chrono::milliseconds(static_cast<long long>(s * 1000));
}

int cmd_boot(Args& args) {
  args.parse({"--kernel", "--append", "--disk", "--expect", "--timeout", "--mem", "--qemu-arg", "--chart", "--events"});
  BootOptions options;
  options.initrd = args.one("IMAGE");
  options.kernel = args.last({"--kernel"}) ? fs::path(*args.last({"--kernel"})) : default_kernel();
  for (const std::string& d : args.all({"--disk"})) options.disks.emplace_back(d);
  options.expect = args.all({"--expect"});
  if (auto t = args.last({"--timeout"})) options.timeout = parse_seconds(*t);
  if (auto m = args.last({"--mem"})) options.memory = *m;
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
