// keel.events=console on a real machine (docs/events.md): keel as the
// machine's PID 1 in QEMU (TCG, the cached kernel), an image built with
// keel-image's library (the host's static busybox, keel), and the serial
// console read for the `keel-event: {json}` lines `keel-image boot --chart`
// reads: keel-start, the boot steps, rng-ready, target-reached, then the
// shutdown's steps, in order. Nothing is timed on the host: the boot is
// bounded by BootOptions.timeout. The fixture is system_boot_test.cpp's,
// reduced to what this test needs.
//
// Needs the kernel cache (scripts/fetch-kernel.sh), QEMU, a static busybox
// at /bin/busybox and a static keel; skipped without, as the other boot tests.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <iostream>
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

class EventsBoot : public ::testing::Test {
 protected:
  void SetUp() override {
    kernel_ = boottest::cached_kernel();
    if (kernel_.empty()) GTEST_SKIP() << "no kernel cache: run scripts/fetch-kernel.sh";
    if (!testutil::have("qemu-system-x86_64")) GTEST_SKIP() << "qemu-system-x86_64 is not installed";
    if (!fs::exists(kBusybox) || !read_elf(kBusybox).is_static()) GTEST_SKIP() << "needs a static " << kBusybox;
    if (!read_elf(KEEL_BINARY).is_static()) GTEST_SKIP() << KEEL_BINARY << " is not static (a sanitizer build)";
  }

  fs::path build(const std::string& body) {
    const fs::path spec = dir_.path() / "spec.toml";
    testutil::write_file(spec, std::string("[output]\ncompression = \"gzip\"\n\n[boot]\ncmdline = \"loglevel=4\"\n\n"
                                           "[keel]\nbinary = \"") +
                                   KEEL_BINARY + "\"\n\n[[program]]\nsource = \"" + kBusybox +
                                   "\"\npath = \"/bin/busybox\"\n\n[[symlink]]\npath = \"/bin/sh\"\ntarget = "
                                   "\"busybox\"\n" +
                                   body);
    BuildOptions options;
    options.output = dir_.path() / "image.cpio.gz";
    options.mtime = 0;
    std::ostringstream notes;
    options.log = &notes;
    return build_image(spec, options).output;
  }

  fs::path kernel_;
  testutil::TempDir dir_{"keel-eventsboot-"};
};

TEST_F(EventsBoot, KeelEventsOnTheConsoleFromKeelStartToTheEnd) {
  // A service, and a main program that waits for it and ends the boot
  // (its exit powers the machine off).
  const fs::path image =
      build(file_entry("/etc/keel/services/web.toml", "command = [\"/bin/busybox\", \"sleep\", \"600\"]\n") +
            file_entry("/etc/keel/main", "#!/bin/sh\n/bin/busybox sleep 1\nexit 0\n", "0755"));
  BootOptions o;
  o.kernel = kernel_;
  o.initrd = image;
  o.append = "loglevel=4 keel.events=console";
  o.accel = Accel::Tcg;
  o.timeout = std::chrono::seconds(90);
  o.keep_lines = 200;
  const std::string e = R"(keel-event: \{"seq":[0-9]+,"mono_us":[0-9]+,"time":"[-0-9T:.]+Z","event":)";
  o.expect = {e + R"("keel-start"\})",
              e + R"("boot-step","step":"mounts","duration_us":[0-9]+\})",
              e + R"("boot-step","step":"config","duration_us":[0-9]+\})",
              e + R"("boot-step","step":"modules","duration_us":[0-9]+\})",
              e + R"("starting","service":"web","pid":[0-9]+,"after":\[\]\})",
              e + R"("target-reached","target":"default"\})",
              e + R"("shutdown","reason":"poweroff"\})",
              e + R"("shutdown-step","step":"services-stopped"\})",
              e + R"("shutdown-step","step":"kill-remaining"\})",
              e + R"("shutdown-step","step":"sync"\})",
              e + R"("shutdown-step","step":"unmount"\})",
              e + R"("shutdown-step","step":"final"\})",
              "reboot: Power down"};
  std::ostringstream console, log;
  const BootResult r = boot(o, console, log);
  std::string text = console.str();
  std::erase(text, '\r');
  EXPECT_TRUE(r.passed()) << r.message << "\nconsole:\n" << text;
  // rng-ready comes when the kernel says so: with qemu64 (no RDRAND) and
  // no virtio-rng it may come only after this short boot, so it is not
  // asserted here (the system tests see it where the RNG is ready).
  // keel-start is the first event, and mono_us is the kernel's time to init.
  std::size_t first = text.find("keel-event: ");
  ASSERT_NE(first, std::string::npos);
  const std::string head = R"(keel-event: {"seq":1,"mono_us":)";
  EXPECT_EQ(text.compare(first, head.size(), head), 0) << text.substr(first, 200);
  EXPECT_NE(text.find(R"("event":"keel-start")", first), std::string::npos);
}

}  // namespace
}  // namespace keel::image
