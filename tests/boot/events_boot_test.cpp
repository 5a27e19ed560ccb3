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

using boottest::main_program;
using boottest::service;

class EventsBoot : public boottest::QemuBoot {
 protected:
  EventsBoot() : QemuBoot("keel-eventsboot-") {}
};

TEST_F(EventsBoot, KeelEventsOnTheConsoleFromKeelStartToTheEnd) {
  // A service, and a main program that waits for it and ends the boot
  // (its exit powers the machine off).
  const fs::path image = build(service("web", "command = [\"/bin/busybox\", \"sleep\", \"600\"]\n") +
                               main_program("/bin/busybox sleep 1\nexit 0"));
  const std::string e = R"(keel-event: \{"seq":[0-9]+,"mono_us":[0-9]+,"time":"[-0-9T:.]+Z","event":)";
  BootOptions o = options(
      image,
      {e + R"("keel-start"\})", e + R"("boot-step","step":"mounts","duration_us":[0-9]+\})",
       e + R"("boot-step","step":"config","duration_us":[0-9]+\})",
       e + R"("boot-step","step":"modules","duration_us":[0-9]+\})",
       e + R"("starting","service":"web","pid":[0-9]+,"after":\[\]\})", e + R"("target-reached","target":"default"\})",
       e + R"("shutdown","reason":"poweroff"\})", e + R"("shutdown-step","step":"services-stopped"\})",
       e + R"("shutdown-step","step":"kill-remaining"\})", e + R"("shutdown-step","step":"sync"\})",
       e + R"("shutdown-step","step":"unmount"\})", e + R"("shutdown-step","step":"final"\})", "reboot: Power down"},
      "keel.events=console");
  o.keep_lines = 200;
  const BootResult r = run(o);
  const std::string& text = console_;
  EXPECT_TRUE(r.passed()) << shown(r);
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
