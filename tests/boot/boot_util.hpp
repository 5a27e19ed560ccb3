// boot_util.hpp — what the QEMU boot tests share: the cached kernel and its
// modules (scripts/fetch-kernel.sh fills the cache), the pieces of an image
// spec, and QemuBoot, a fixture that builds images with keel-image's library
// and boots them (TCG, loglevel=4) with the console kept for assertions.
//
//   class SystemBoot : public boottest::QemuBoot {
//    protected:
//     SystemBoot() : QemuBoot("keel-sysboot-") {}
//   };
//   TEST_F(SystemBoot, X) {
//     const fs::path image = build(main_program("echo HI"));
//     const BootResult r = run(options(image, {"HI", "reboot: Power down"}));
//     EXPECT_TRUE(r.passed()) << shown(r);
//   }
#pragma once

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
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "../unit/test_util.hpp"
#include "image/builder.hpp"
#include "image/elf.hpp"
#include "image/qemu.hpp"

namespace keel::boottest {

// The cached kernel: the PVH vmlinux first (QEMU enters it directly, with no
// decompression), else the vmlinuz; empty when there is no cache.
inline std::filesystem::path cached_kernel() {
  namespace fs = std::filesystem;
  const fs::path cache = testutil::kernel_cache("boot");
  if (cache.empty()) return {};
  for (const std::string prefix : {"vmlinux-", "vmlinuz-"}) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(cache / "boot", ec)) {
      if (entry.path().filename().string().starts_with(prefix)) return entry.path();
    }
  }
  return {};
}

// The cached kernel's module tree (lib/modules/VERSION), or empty.
inline std::filesystem::path cached_modules() {
  namespace fs = std::filesystem;
  const fs::path cache = testutil::kernel_cache("lib/modules");
  std::error_code ec;
  if (cache.empty() || !fs::is_directory(cache / "lib/modules", ec)) return {};
  for (const auto& entry : fs::directory_iterator(cache / "lib/modules", ec)) return entry.path();
  return {};
}

// The host's busybox the images run (it must be static).
inline constexpr const char* kBusybox = "/bin/busybox";

// ------------------------------------------------------------ spec text

// A [[file]] entry; the content as a TOML literal string (no escapes).
inline std::string file_entry(const std::string& path, const std::string& content, const char* mode = nullptr) {
  std::string out = "\n[[file]]\npath = \"" + path + "\"\n";
  if (mode != nullptr) out += std::string("mode = \"") + mode + "\"\n";
  return out + "content = '''\n" + content + "'''\n";
}

// CONFIG_DIR/main, a busybox shell script.
inline std::string main_program(const std::string& script) {
  return file_entry("/etc/keel/main", "#!/bin/sh\n" + script + "\n", "0755");
}

// CONFIG_DIR/services/NAME.toml.
inline std::string service(const std::string& name, const std::string& toml) {
  return file_entry("/etc/keel/services/" + name + ".toml", toml);
}

inline std::string keel_toml(const std::string& toml) { return file_entry("/etc/keel/keel.toml", toml); }

// The keel under test, busybox as /bin/busybox and /bin/sh: what every
// boot test's image holds, whatever its [output] (another keel and busybox
// for another architecture).
inline std::string keel_and_busybox(const std::string& keel = KEEL_BINARY, const std::string& busybox = kBusybox) {
  return "\n[keel]\nbinary = \"" + keel + "\"\n\n[[program]]\nsource = \"" + busybox +
         "\"\npath = \"/bin/busybox\"\n\n[[symlink]]\npath = \"/bin/sh\"\ntarget = \"busybox\"\n";
}

// The head of a spec: a gzip cpio with `cmdline` as its [boot] cmdline,
// then keel_and_busybox().
inline std::string busybox_spec(const std::string& cmdline = "loglevel=4") {
  return "[output]\ncompression = \"gzip\"\n\n[boot]\ncmdline = \"" + cmdline + "\"\n" + keel_and_busybox();
}

// [modules]: `names` (TOML array items, quoted) and what they depend on,
// from the module tree `tree`.
inline std::string modules_spec(const std::string& names, const std::filesystem::path& tree) {
  return "\n[modules]\nnames = [" + names + "]\ntree = \"" + tree.string() + "\"\n";
}

// Why a QEMU boot of busybox_spec() cannot run here, or "" when it can: the
// kernel cache (and its modules when `modules`), QEMU, a static busybox and
// a static keel (not in a sanitizer build).
inline std::string boot_unavailable(bool modules = false) {
  namespace fs = std::filesystem;
  if (cached_kernel().empty()) return "no kernel cache: run scripts/fetch-kernel.sh";
  if (modules && cached_modules().empty()) return "no kernel modules in the cache";
  if (!testutil::have("qemu-system-x86_64")) return "qemu-system-x86_64 is not installed";
  if (!fs::exists(kBusybox) || !image::read_elf(kBusybox).is_static()) return std::string("needs a static ") + kBusybox;
  if (!image::read_elf(KEEL_BINARY).is_static()) return std::string(KEEL_BINARY) + " is not static (a sanitizer build)";
  return "";
}

// Builds `spec` (its text), written to DIR/OUTPUT.toml, into DIR/OUTPUT
// (mtime 0); the image's path. Throws ImageError as build_image does.
inline std::filesystem::path build_spec(const std::filesystem::path& dir, const std::string& output,
                                        const std::string& spec) {
  const std::filesystem::path spec_path = dir / (output + ".toml");
  testutil::write_file(spec_path, spec);
  image::BuildOptions options;
  options.output = dir / output;
  options.mtime = 0;
  std::ostringstream notes;
  options.log = &notes;
  return image::build_image(spec_path, options).output;
}

// ------------------------------------------------------------ the fixture

class QemuBoot : public ::testing::Test {
 protected:
  // `tag`: the temp dir's prefix; `modules`: the tests need the cached
  // kernel's modules (modules_).
  explicit QemuBoot(const std::string& tag, bool modules = false) : dir_(tag), modules_needed_(modules) {}

  // Skips when boot_unavailable(). A fixture's own SetUp calls this first
  // and returns when IsSkipped().
  void SetUp() override {
    if (const std::string why = boot_unavailable(modules_needed_); !why.empty()) GTEST_SKIP() << why;
    kernel_ = cached_kernel();
    modules_ = cached_modules();
  }

  // An image of busybox_spec(cmdline) + `body`; each call a new file.
  std::filesystem::path build(const std::string& body, const std::string& cmdline = "loglevel=4") {
    return build_spec(dir_.path(), "image" + std::to_string(++images_) + ".cpio.gz", busybox_spec(cmdline) + body);
  }

  // An image of `head` (its [output], [boot], ...), keel_and_busybox() and
  // `body`, written to OUTPUT in the test's directory (a disk, a tree, ...).
  std::filesystem::path build_as(const std::string& output, const std::string& head, const std::string& body) {
    return build_spec(dir_.path(), output, head + keel_and_busybox() + body);
  }

  // Boot options for `image`: TCG, "loglevel=4 APPEND", the console
  // patterns `expect` in order, bounded by `timeout`.
  [[nodiscard]] image::BootOptions options(const std::filesystem::path& image, std::vector<std::string> expect,
                                           const std::string& append = "",
                                           std::chrono::seconds timeout = std::chrono::seconds(90)) const {
    image::BootOptions o;
    o.kernel = kernel_;
    o.initrd = image;
    o.append = "loglevel=4" + (append.empty() ? "" : " " + append);
    o.accel = image::Accel::Tcg;
    o.timeout = timeout;
    o.keep_lines = 60;
    o.expect = std::move(expect);
    return o;
  }

  // Boots; the console is kept in console_ (and printed to stderr when
  // KEEL_SHOW_CONSOLE is set), the outcome and its duration noted on stderr.
  image::BootResult run(const image::BootOptions& o) {
    std::ostringstream console, log;
    image::BootResult result = image::boot(o, console, log);
    keep_console(console.str(), result);
    return result;
  }

  // For a guest that halts: a halted guest does not end QEMU, so QEMU runs
  // here until every pattern and the kernel's "reboot: System halted" were
  // seen, then `linger` longer (wall time; TCG's virtual clock follows it),
  // and is then killed (its process group). Bounded by o.timeout. `ended`:
  // QEMU ended by itself (under -no-reboot: a reset or a power-off) first.
  image::BootResult run_until_halted(const image::BootOptions& o, std::chrono::milliseconds linger, bool& ended) {
    using Clock = std::chrono::steady_clock;
    image::BootResult result;
    ended = false;
    result.command = image::qemu_command(o, false);
    std::vector<std::string> patterns = o.expect;
    patterns.emplace_back("reboot: System halted");
    image::ConsoleWatcher watcher(patterns, o.keep_lines);
    const auto started = Clock::now();
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) {
      result.message = "pipe failed";
      return result;
    }
    std::vector<char*> argv;
    for (std::string& a : result.command) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      const int null = ::open("/dev/null", O_RDONLY);
      ::dup2(null, 0);
      ::dup2(pipefd[1], 1);
      ::dup2(pipefd[1], 2);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(pipefd[1]);
    std::string console;
    auto deadline = started + o.timeout;
    bool halted = false;
    char buf[4096];
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) break;
      pollfd p{pipefd[0], POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      const ssize_t n = ::read(pipefd[0], buf, sizeof buf);
      if (n <= 0) {
        ended = true;
        break;
      }
      console.append(buf, static_cast<std::size_t>(n));
      watcher.feed(std::string_view(buf, static_cast<std::size_t>(n)));
      if (!halted && watcher.all_matched()) {
        halted = true;
        if (linger.count() <= 0) break;
        deadline = Clock::now() + linger;
      }
    }
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(pipefd[0]);
    watcher.finish();
    result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    result.matched = watcher.matched();
    result.status = watcher.all_matched() ? image::BootStatus::Passed
                    : watcher.panicked()  ? image::BootStatus::Panic
                    : ended               ? image::BootStatus::Unmatched
                                          : image::BootStatus::Timeout;
    if (!result.passed()) result.message = "unmatched: " + watcher.first_unmatched().value_or("?");
    keep_console(std::move(console), result);
    return result;
  }
  // Stopped as soon as the halt was seen.
  image::BootResult run_until_halted(const image::BootOptions& o) {
    bool ended = false;
    return run_until_halted(o, std::chrono::milliseconds(0), ended);
  }

  // The console has a match for `pattern` (a regex).
  [[nodiscard]] bool shows(const std::string& pattern) const {
    return std::regex_search(console_, std::regex(pattern));
  }
  // For a failure message: the outcome, then the console.
  [[nodiscard]] std::string shown(const image::BootResult& r) const { return r.message + "\nconsole:\n" + console_; }

  // NOLINTBEGIN(misc-non-private-member-variables-in-classes): the tests' own state
  std::filesystem::path kernel_;
  std::filesystem::path modules_;  // the cached kernel's modules, or empty
  testutil::TempDir dir_;
  std::string console_;  // of the last boot, without '\r'
                         // NOLINTEND(misc-non-private-member-variables-in-classes)

 private:
  void keep_console(std::string console, const image::BootResult& result) {
    console_ = std::move(console);
    std::erase(console_, '\r');
    std::cerr << ::testing::UnitTest::GetInstance()->current_test_info()->name() << ": "
              << image::to_string(result.status) << ", " << result.elapsed.count() << " ms\n";
    if (std::getenv("KEEL_SHOW_CONSOLE") != nullptr) std::cerr << console_;
  }

  bool modules_needed_ = false;
  int images_ = 0;
};

}  // namespace keel::boottest
