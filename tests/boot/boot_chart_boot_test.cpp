// keel-image boot --chart on a real boot (issue 13, section 3): an image
// with three services ordered by `after`, booted in QEMU with
// keel.events=console on the kernel command line (added as keel-image's
// --chart does), the console teed into the event collector, and the chart
// and raw lines written when QEMU has exited. Asserts that keel wrote its
// events on the console, that they parse without a malformed line, that
// the services' start order and `after` lists are in them, and that the
// chart holds every service. Needs the keel side of the event stream
// (`keel.events=console`): it fails without it, by design.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "../unit/test_util.hpp"
#include "analyze/boot_analysis.hpp"
#include "analyze/event_record.hpp"
#include "boot_util.hpp"
#include "image/boot_events.hpp"
#include "image/builder.hpp"
#include "image/elf.hpp"
#include "image/qemu.hpp"

namespace keel::image {
namespace {

namespace fs = std::filesystem;

using boottest::service;

class BootChartBoot : public boottest::QemuBoot {
 protected:
  BootChartBoot() : QemuBoot("keel-test-") {}
};

TEST_F(BootChartBoot, ChartOfARealBoot) {
  const std::string sh = "command = [\"/bin/busybox\", \"sh\", \"-c\", ";
  const fs::path image =
      build(service("base", sh + "\"exec /bin/busybox sleep 600\"]\n") +
            service("setup", "type = \"oneshot\"\nafter = [\"base\"]\n" + sh + "\"/bin/busybox sleep 0.2\"]\n") +
            service("app", "requires = [\"base\", \"setup\"]\nafter = [\"base\", \"setup\"]\n" + sh +
                               "\"/bin/busybox sleep 0.3; /sbin/poweroff; exec /bin/busybox sleep 600\"]\n"));

  BootOptions o = options(image, {}, kEventsCmdline, std::chrono::seconds(120));  // what --chart adds
  o.expect = {"keel-event: .*\"event\":\"keel-start\"", "keel-event: .*\"event\":\"ready\",\"service\":\"app\"|"
              "keel-event: .*\"event\":\"started\",\"service\":\"app\"",
              "reboot: Power down"};
  std::ostringstream console;
  std::ostringstream log;
  analyze::ConsoleEventCollector collector;
  ConsoleTee tee(console, collector);
  const BootResult r = boot(o, tee, log);
  collector.finish();
  EXPECT_TRUE(r.passed()) << r.message << "\n" << console.str();

  std::ostringstream report;
  const std::size_t events =
      write_boot_analysis(collector, dir_.path() / "boot.svg", dir_.path() / "boot.events", report);
  EXPECT_GT(events, 5U) << console.str();
  const analyze::EventRecord record = analyze::parse_event_lines(collector.lines());
  EXPECT_EQ(record.malformed, 0U) << collector.lines();
  const analyze::BootAnalysis boot_analysis = analyze::analyze_boot(record);
  EXPECT_GT(boot_analysis.keel_start_us, 0);
  EXPECT_TRUE(analyze::has_kernel_phase(boot_analysis));
  const analyze::ServiceTimeline* base = boot_analysis.service("base");
  const analyze::ServiceTimeline* setup = boot_analysis.service("setup");
  const analyze::ServiceTimeline* app = boot_analysis.service("app");
  ASSERT_NE(base, nullptr) << collector.lines();
  ASSERT_NE(setup, nullptr) << collector.lines();
  ASSERT_NE(app, nullptr) << collector.lines();
  EXPECT_EQ(app->after, (std::vector<std::string>{"base", "setup"}));
  EXPECT_LE(setup->done_us, app->starting_us);  // app waited for the oneshot
  EXPECT_GE(setup->done_us, 0);
  std::ifstream svg_file(dir_.path() / "boot.svg");
  std::stringstream svg;
  svg << svg_file.rdbuf();
  for (const char* name : {">base<", ">setup<", ">app<", ">kernel<"}) {
    EXPECT_NE(svg.str().find(name), std::string::npos) << name;
  }
  // The lead keeps the chart of a real boot as the docs' example.
  if (const char* keep = std::getenv("KEEL_KEEP_BOOT_CHART"))
    fs::copy_file(dir_.path() / "boot.svg", keep, fs::copy_options::overwrite_existing);
  std::cerr << report.str();
}

}  // namespace
}  // namespace keel::image
