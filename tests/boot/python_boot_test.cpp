// Python programs started by keel, booted for real (issue 14, section 5):
// QEMU (TCG, -cpu qemu64: no RDRAND, no virtio-rng, so the kernel's RNG is
// starved for about a second), an image with keel, busybox and a [python]
// section.
//
//   - the hash seed: a Python main program's first line comes before the
//     kernel's "random: crng init done" (keel hands it PYTHONHASHSEED; the
//     interpreter used to wait for the RNG in its start-up), ordered on the
//     kernel's own log, not timed; a Python service gets a fresh seed at
//     each start, a PYTHONHASHSEED its file sets is kept, and
//     python_hash_seed = false leaves the interpreter to draw its own;
//   - python3-systemd's notify: a service of type "notify" that calls
//     `systemd.daemon.notify("READY=1")` is ready by it, unchanged.
//
// Needs the kernel cache (scripts/fetch-kernel.sh), QEMU, a static busybox,
// a static keel and Debian's python3.11 (python3-systemd for the notify
// test); each is skipped without.
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <regex>
#include <set>
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

using boottest::file_entry;
using boottest::service;

// Every capture of `pattern`'s first group, in console order.
std::vector<std::string> captures(const std::string& console, const std::string& pattern) {
  std::vector<std::string> out;
  const std::regex re(pattern);
  for (auto it = std::sregex_iterator(console.begin(), console.end(), re); it != std::sregex_iterator(); ++it) {
    out.push_back((*it)[1].str());
  }
  return out;
}

class PythonBoot : public boottest::QemuBoot {
 protected:
  PythonBoot() : QemuBoot("keel-python-boot-") {}

  void SetUp() override {
    QemuBoot::SetUp();
    if (IsSkipped()) return;
    if (!fs::exists("/usr/bin/python3") || !fs::is_directory("/usr/lib/python3.11/lib-dynload")) {
      GTEST_SKIP() << "needs Debian's python3.11";
    }
  }

  // -cpu qemu64: no hardware RNG, so the kernel's RNG is not ready early.
  BootResult boot_qemu64(const fs::path& image, std::vector<std::string> expect) {
    BootOptions o = options(image, std::move(expect), "", std::chrono::seconds(120));
    o.cpu = "qemu64";
    o.keep_lines = 80;
    return run(o);
  }
};

// The main program writes a mark to /dev/kmsg right after its first line
// (and a file the opt-out service's gate waits for),
// then reads the kernel's log (non-blocking) until "crng init done" is in
// it, and prints which came first: the kernel's sequence numbers order
// them, whatever the machine's speed. Each service appends its
// PYTHONHASHSEED to the console; the main program waits (bounded) for
// their files in /run before it ends the boot.
TEST_F(PythonBoot, PythonGetsAHashSeedAndDoesNotWaitForTheRng) {
  testutil::write_file(dir_.path() / "main.py", R"PY(#!/usr/bin/python3 -sP
print("PY-MAIN-FIRST", flush=True)
with open("/dev/kmsg", "w") as k:
    k.write("PY-MAIN-KMSG\n")
import os, time
open("/run/py-main-marked", "w").close()
print("PY-MAIN-SEED", os.environ.get("PYTHONHASHSEED", "none"), flush=True)
deadline = time.monotonic() + 90
order = None
while order is None and time.monotonic() < deadline:
    fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    seq = {}
    while True:
        try:
            rec = os.read(fd, 8192).decode(errors="replace")
        except BlockingIOError:
            break
        except BrokenPipeError:
            continue
        head, _, text = rec.partition(";")
        for mark in ("PY-MAIN-KMSG", "crng init done"):
            if mark in text and mark not in seq:
                seq[mark] = int(head.split(",")[1])
    os.close(fd)
    if len(seq) == 2:
        order = "main-first" if seq["PY-MAIN-KMSG"] < seq["crng init done"] else "crng-first"
    else:
        time.sleep(0.2)
print("PY-MAIN-ORDER", order, flush=True)
while time.monotonic() < deadline:
    done = os.listdir("/run/pyseed") if os.path.isdir("/run/pyseed") else []
    if {"fresh.3", "kept", "optout"} <= set(done):
        break
    time.sleep(0.2)
print("PY-MAIN-DONE", flush=True)
)PY");
  testutil::write_file(dir_.path() / "seed.py", R"PY(import os, sys, time
name = sys.argv[1]
os.makedirs("/run/pyseed", exist_ok=True)
n = 1
while os.path.exists("/run/pyseed/%s.%d" % (name, n)):
    n += 1
print("PY-SEED", name, os.environ.get("PYTHONHASHSEED", "none"), flush=True)
open("/run/pyseed/%s.%d" % (name, n), "w").close()
if name != "fresh":
    open("/run/pyseed/" + name, "w").close()
if name == "fresh" and n < 3:
    sys.exit(1)
time.sleep(600)
)PY");
  auto py_service = [](const std::string& name, const std::string& extra) {
    return service(name, "stdout = \"console\"\nrestart = \"on-failure\"\nrestart_delay = 0.05\n" + extra +
                             "command = [\"/usr/bin/python3\", \"-s\", \"/opt/seed.py\", \"" + name + "\"]\n");
  };
  const fs::path image = build(
      "\n[python]\nscripts = [{ source = \"main.py\", path = \"/etc/keel/main\" }, { source = \"seed.py\", path = "
      "\"/opt/seed.py\" }]\n" +
      py_service("fresh", "") + py_service("kept", "environment = { PYTHONHASHSEED = \"4242\" }\n") +
      // The opt-out service's interpreter waits for the RNG (it reads
      // /dev/urandom, which runs the kernel's jitter collector and so ends
      // the wait for everyone): it starts only after the main program's
      // mark, through a oneshot gate (itself Python, so given a seed).
      py_service("optout", "python_hash_seed = false\nrequires = [\"gate\"]\n") +
      service("gate", "type = \"oneshot\"\ncommand = [\"/usr/bin/python3\", \"-sS\", \"-c\", \"import os, time\\n"
                      "for _ in range(900):\\n    if os.path.exists('/run/py-main-marked'): break\\n"
                      "    time.sleep(0.1)\"]\n"));
  const BootResult r =
      boot_qemu64(image, {"PY-MAIN-FIRST", "PY-MAIN-SEED [0-9]+", "PY-MAIN-ORDER main-first", "PY-MAIN-DONE",
                  "reboot: Power down"});
  ASSERT_TRUE(r.passed()) << shown(r);
  const std::vector<std::string> fresh = captures(console_, "PY-SEED fresh ([0-9a-z]+)");
  ASSERT_GE(fresh.size(), 3u) << console_;
  for (const std::string& s : fresh) EXPECT_NE(s, "none");
  EXPECT_EQ(std::set<std::string>(fresh.begin(), fresh.end()).size(), fresh.size()) << "a seed was reused\n"
                                                                                         << console_;
  EXPECT_EQ(captures(console_, "PY-SEED kept ([0-9a-z]+)"), std::vector<std::string>{"4242"}) << console_;
  EXPECT_EQ(captures(console_, "PY-SEED optout ([0-9a-z]+)"), std::vector<std::string>{"none"}) << console_;
}

// python3-systemd (Debian's package, from the host) in the image, as a
// Python program brings it: its pure-Python part as a [[tree]], its
// extension module as a [[program]] (so libsystemd and its closure come
// too). The service is of type "notify" and calls
// systemd.daemon.notify("READY=1") a second after its first line: keel
// marks it ready only then, and keelctl shows it running and ready.
TEST_F(PythonBoot, Python3SystemdNotifyMakesAServiceReady) {
  const fs::path pkg = "/usr/lib/python3/dist-packages/systemd";
  const fs::path ext = pkg / "_daemon.cpython-311-x86_64-linux-gnu.so";
  if (!fs::exists(ext)) GTEST_SKIP() << "needs python3-systemd";
  testutil::write_file(dir_.path() / "notifier.py", R"PY(import time
from systemd import daemon
print("NOTIFIER-STARTED", flush=True)
time.sleep(1)
print("NOTIFIER-NOTIFYING", flush=True)
daemon.notify("READY=1")
time.sleep(600)
)PY");
  const fs::path image = build(
      "\n[python]\ninclude = [\"socket\"]\nscripts = [{ source = \"notifier.py\", path = \"/opt/notifier.py\" "
      "}]\n\n[[tree]]\nsource = \"" +
      pkg.string() + "\"\npath = \"" + pkg.string() +
      "\"\nexclude = [\"test\", \"*.so\"]\n\n[[program]]\nsource = \"" + ext.string() + "\"\npath = \"" +
      ext.string() + "\"\n" +
      service("notifier",
              "type = \"notify\"\nstdout = \"console\"\nstderr = \"console\"\nstart_timeout = 60\n"
              "command = [\"/usr/bin/python3\", \"-s\", \"/opt/notifier.py\"]\n") +
      file_entry("/etc/keel/main",
                 "#!/bin/sh\n/sbin/keelctl wait notifier --ready --timeout 60 && echo MAIN-SAW-READY\n"
                 "/sbin/keelctl status notifier | /bin/busybox sed 's/^/STATUS /'\n",
                 "0755"));
  const BootResult r = boot_qemu64(image, {"NOTIFIER-STARTED", "NOTIFIER-NOTIFYING", "keel: notifier: ready",
                                   "MAIN-SAW-READY", "STATUS ready: +yes", "reboot: Power down"});
  ASSERT_TRUE(r.passed()) << shown(r);
}

}  // namespace
}  // namespace keel::image
