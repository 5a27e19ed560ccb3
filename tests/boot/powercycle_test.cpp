// The power-cycle integrity proof (issue 5, section 4): an image whose
// services write and fsync numbered records on an ext4 disk, booted again
// and again on the same disk file, each boot ended by a power-off request.
// After every boot the host checks, without mounting anything:
//   - `e2fsck -fn DISK` finds the filesystem clean, and dumpe2fs shows it
//     was cleanly unmounted (state "clean", no journal to recover);
//   - /records (read with `debugfs -R 'cat /records'`) is 1, 2, 3, ... with
//     no gap and no torn line, and holds every number the console showed as
//     "synced N" (the writer prints that only after fsync returned);
//   - the records of this boot continue from the last boot's.
// keel loads virtio_pci, virtio_blk and ext4 (with crc32c) from [modules];
// a oneshot service mounts /dev/vda on /data (until keel.toml has a mount
// table); the writer service requires it; the main program waits for the
// writer, lets it write for a moment and exits, which powers off: keel
// stops the services, and the shutdown sequence unmounts /data.
//
// KEEL_POWERCYCLES=N sets the number of cycles (default 10; bench/powercycle
// runs more). Each boot is TCG with the cached PVH vmlinux, as the other
// boot tests. Needs the kernel cache (scripts/fetch-kernel.sh), QEMU,
// e2fsprogs and a static keel; skipped without.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
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

using boottest::cached_kernel;
using boottest::cached_modules;

int cycles_wanted() {
  const char* env = std::getenv("KEEL_POWERCYCLES");
  const int n = env != nullptr ? std::atoi(env) : 0;
  return n > 0 ? n : 10;
}

std::string spec_text(const fs::path& modules) {
  return std::string(R"SPEC([output]
compression = "gzip"

[boot]
cmdline = "loglevel=4"

[keel]
binary = ")SPEC") + KEEL_BINARY + R"SPEC("

[modules]
names = ["virtio_pci", "virtio_blk", "crc32c_generic", "ext4"]
tree = ")SPEC" + modules.string() + R"SPEC("

[[program]]
source = "/bin/busybox"
path = "/bin/busybox"

[[program]]
source = ")SPEC" + KEEL_POWERCYCLE_WRITER + R"SPEC("
path = "/bin/writer"

[[dir]]
path = "/data"

[[file]]
path = "/etc/keel/services/data.toml"
content = """
type = "oneshot"
stdout = "console"
stderr = "console"
command = ["/bin/busybox", "sh", "-c", "i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do /bin/busybox usleep 20000; i=$((i+1)); done; /bin/busybox mount -t ext4 /dev/vda /data && echo DATA-MOUNTED"]
"""

[[file]]
path = "/etc/keel/services/writer.toml"
content = """
requires = ["data"]
after = ["data"]
stdout = "console"
stderr = "console"
command = ["/bin/writer", "/data/records", "20"]
"""

[[file]]
path = "/etc/keel/main"
mode = "0755"
content = "#!/bin/busybox sh\n/sbin/keelctl wait writer --ready --timeout 60 >/dev/null && /bin/busybox sleep 1\necho MAIN-DONE\n"
)SPEC";
}

struct Records {
  long last = 0;           // the last record
  std::string problem;     // "" when 1..last with nothing else
};

Records read_records(const fs::path& disk) {
  int rc = 0;
  const std::string text = testutil::run("debugfs -R 'cat /records' " + testutil::quoted(disk) + " 2>/dev/null", rc);
  Records r;
  if (rc != 0) {
    r.problem = "debugfs failed";
    return r;
  }
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line != std::to_string(r.last + 1)) {
      r.problem = "after record " + std::to_string(r.last) + " comes '" + line + "'";
      return r;
    }
    ++r.last;
  }
  if (!text.empty() && text.back() != '\n') r.problem = "the file ends with a torn record";
  return r;
}

TEST(ImagePowercycle, SyncedRecordsSurviveEveryPowerOffAndTheDiskIsClean) {
  const fs::path kernel = cached_kernel();
  const fs::path modules = cached_modules();
  if (kernel.empty() || modules.empty()) GTEST_SKIP() << "no kernel cache: run scripts/fetch-kernel.sh";
  if (!testutil::have("qemu-system-x86_64")) GTEST_SKIP() << "qemu-system-x86_64 is not installed";
  for (const char* tool : {"mke2fs", "e2fsck", "debugfs", "dumpe2fs"}) {
    if (!testutil::have(tool)) GTEST_SKIP() << tool << " is not installed (e2fsprogs)";
  }
  if (!read_elf(KEEL_BINARY).is_static()) GTEST_SKIP() << KEEL_BINARY << " is not static (a sanitizer build)";

  testutil::TempDir dir("keel-powercycle-");
  const fs::path spec = dir.path() / "powercycle.toml";
  testutil::write_file(spec, spec_text(modules));
  BuildOptions build_options;
  build_options.output = dir.path() / "powercycle.cpio.gz";
  build_options.mtime = 0;
  const BuildResult image = build_image(spec, build_options);

  const fs::path disk = dir.path() / "disk.ext4";
  int rc = 0;
  const std::string made = testutil::run("mke2fs -q -F -t ext4 " + testutil::quoted(disk) + " 64M 2>&1", rc);
  ASSERT_EQ(rc, 0) << made;

  const int cycles = cycles_wanted();
  const std::regex synced_re("synced ([0-9]+)");
  long previous = 0;  // the last record on the disk before this boot
  int failures = 0;
  for (int cycle = 1; cycle <= cycles; ++cycle) {
    BootOptions options;
    options.kernel = kernel;
    options.initrd = image.output;
    options.append = "loglevel=4";
    options.disks = {disk};
    options.accel = Accel::Tcg;
    options.timeout = std::chrono::seconds(120);
    options.keep_lines = 40;
    options.expect = {"DATA-MOUNTED", "synced [0-9]+", "MAIN-DONE", "keel: writer: stopped",
                      "keel: .*unmounted /data \\(ext4 /dev/vda\\)", "reboot: Power down"};
    std::ostringstream console, log;
    const BootResult result = boot(options, console, log);

    std::vector<std::string> problems;
    if (!result.passed()) problems.push_back("boot: " + result.message);
    long first_synced = 0, last_synced = 0;
    std::istringstream lines(console.str());
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      std::smatch m;
      if (std::regex_search(line, m, synced_re)) {
        last_synced = std::stol(m[1]);
        if (first_synced == 0) first_synced = last_synced;
      }
    }
    if (first_synced != 0 && first_synced != previous + 1) {
      problems.push_back("the writer started at " + std::to_string(first_synced) + ", not " +
                         std::to_string(previous + 1));
    }

    const std::string fsck = testutil::run("e2fsck -fn " + testutil::quoted(disk) + " 2>&1", rc);
    if (rc != 0) problems.push_back("e2fsck -fn: status " + std::to_string(rc) + ":\n" + fsck);
    const std::string header = testutil::run("dumpe2fs -h " + testutil::quoted(disk) + " 2>/dev/null", rc);
    if (header.find("Filesystem state:         clean\n") == std::string::npos) {
      const std::size_t at = header.find("Filesystem state:");
      problems.push_back("not cleanly unmounted: " + (at == std::string::npos ? header : header.substr(at, 60)));
    }
    if (header.find("needs_recovery") != std::string::npos) problems.push_back("the journal needs recovery");

    const Records records = read_records(disk);
    if (!records.problem.empty()) problems.push_back("/records: " + records.problem);
    if (records.last < last_synced) {
      problems.push_back("the console showed 'synced " + std::to_string(last_synced) + "' but /records ends at " +
                         std::to_string(records.last));
    }
    std::cerr << "powercycle " << cycle << "/" << cycles << ": synced " << first_synced << ".." << last_synced
              << ", on disk 1.." << records.last << ", " << result.elapsed.count() << " ms: "
              << (problems.empty() ? "ok" : "FAILED") << "\n";
    if (!problems.empty()) {
      ++failures;
      std::string all;
      for (const std::string& p : problems) all += "  " + p + "\n";
      ADD_FAILURE() << "cycle " << cycle << ":\n" << all << "console:\n" << console.str();
      // A disk that is broken or was not cleanly unmounted spoils the next
      // cycles' verdicts: repair it (e2fsck -p, on the host) and go on, so a
      // long run counts failures rather than stopping at the first.
      (void)testutil::run("e2fsck -fy " + testutil::quoted(disk) + " >/dev/null 2>&1", rc);
    }
    previous = read_records(disk).last;
  }
  std::cerr << "powercycle: " << cycles << " cycles, " << failures << " failed\n";
}

}  // namespace
}  // namespace keel::image
