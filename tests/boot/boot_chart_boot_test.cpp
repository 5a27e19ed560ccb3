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

constexpr const char* kBusybox = "/bin/busybox";

std::string file_entry(const std::string& path, const std::string& content, const char* mode = nullptr) {
  std::string out = "\n[[file]]\npath = \"" + path + "\"\n";
  if (mode != nullptr) out += std::string("mode = \"") + mode + "\"\n";
  return out + "content = '''\n" + content + "'''\n";
}

std::string service(const std::string& name, const std::string& toml) {
  return file_entry("/etc/keel/services/" + name + ".toml", toml);
}

TEST(BootChartBoot, ChartOfARealBoot) {
  const fs::path kernel = boottest::cached_kernel();
  if (kernel.empty()) GTEST_SKIP() << "no kernel cache: run scripts/fetch-kernel.sh";
  if (!testutil::have("qemu-system-x86_64")) GTEST_SKIP() << "qemu-system-x86_64 is not installed";
  if (!fs::exists(kBusybox) || !read_elf(kBusybox).is_static()) GTEST_SKIP() << "needs a static " << kBusybox;
  if (!read_elf(KEEL_BINARY).is_static()) GTEST_SKIP() << KEEL_BINARY << " is not static (a sanitizer build)";

  testutil::TempDir dir;
  const fs::path spec = dir.path() / "spec.toml";
  const std::string sh = "command = [\"/bin/busybox\", \"sh\", \"-c\", ";
  testutil::write_file(
      spec, std::string("[output]\ncompression = \"gzip\"\n\n[boot]\ncmdline = \"loglevel=4\"\n\n[keel]\nbinary = \"") +
                KEEL_BINARY + "\"\n\n[[program]]\nsource = \"" + kBusybox +
                "\"\npath = \"/bin/busybox\"\n\n[[symlink]]\npath = \"/bin/sh\"\ntarget = \"busybox\"\n" +
                service("base", sh + "\"exec /bin/busybox sleep 600\"]\n") +
                service("setup", "type = \"oneshot\"\nafter = [\"base\"]\n" + sh + "\"/bin/busybox sleep 0.2\"]\n") +
                service("app", "requires = [\"base\", \"setup\"]\nafter = [\"base\", \"setup\"]\n" + sh +
                                   "\"/bin/busybox sleep 0.3; /sbin/poweroff; exec /bin/busybox sleep 600\"]\n"));
  BuildOptions build;
  build.output = dir.path() / "image.cpio.gz";
  build.mtime = 0;
  std::ostringstream notes;
  build.log = &notes;
  const fs::path image = build_image(spec, build).output;

  BootOptions o;
  o.kernel = kernel;
  o.initrd = image;
  o.append = std::string("loglevel=4 ") + kEventsCmdline;  // what --chart adds
  o.accel = Accel::Tcg;
  o.timeout = std::chrono::seconds(120);
  o.keep_lines = 60;
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
  const std::size_t events = write_boot_analysis(collector, dir.path() / "boot.svg", dir.path() / "boot.events", report);
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
  std::ifstream svg_file(dir.path() / "boot.svg");
  std::stringstream svg;
  svg << svg_file.rdbuf();
  for (const char* name : {">base<", ">setup<", ">app<", ">kernel<"}) {
    EXPECT_NE(svg.str().find(name), std::string::npos) << name;
  }
  // The lead keeps the chart of a real boot as the docs' example.
  if (const char* keep = std::getenv("KEEL_KEEP_BOOT_CHART")) fs::copy_file(dir.path() / "boot.svg", keep, fs::copy_options::overwrite_existing);
  std::cerr << report.str();
}

}  // namespace
}  // namespace keel::image
