// keel.toml's [watchdog] (issue 12, part 3) outside the machine's init: as
// PID 1 of a PID namespace (a container) and as a subreaper the table is
// ignored with one line, and the device is never opened (here a FIFO,
// which would also be refused, and a plain open of which would block).
// The device itself is tested in QEMU (tests/boot/hw_watchdog_boot_test.cpp).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "harness.hpp"

namespace keel::systest {
namespace {

Launch system_launch(Placement placement, const TempDir& config) {
  Launch l = program_launch(placement, keel_symlink("init"), {});
  l.set_env.emplace_back("KEEL_CONFIG_DIR", config.path());
  l.set_env.emplace_back("KEEL_RUN_DIR", config.path() + "/run");
  l.set_env.emplace_back("KEEL_CGROUP_ROOT", "none");
  return l;
}

void check_ignored(Placement placement) {
  TempDir config;
  const std::string fifo = config.path() + "/watchdog";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::ofstream(config.path() + "/keel.toml") << "[watchdog]\ndevice = \"" << fifo << "\"\ntimeout = 5\n";
  const std::string main = config.path() + "/main";
  std::ofstream(main) << "#!/bin/sh\necho MAIN-RAN\nexit 4\n";
  ASSERT_EQ(::chmod(main.c_str(), 0755), 0);
  KeelRun k(system_launch(placement, config));
  EXPECT_EQ(k.wait_exit(), 4) << k.text(Stream::Err);
  const std::string err = k.text(Stream::Err);
  EXPECT_NE(err.find("keel.toml [watchdog]: ignored: keel is not the machine's init"), std::string::npos) << err;
  EXPECT_EQ(err.find("watchdog " + fifo), std::string::npos) << err;  // never opened, so never refused
  EXPECT_NE(k.text(Stream::Out).find("MAIN-RAN"), std::string::npos) << k.text(Stream::Out);
}

TEST(HwWatchdogRole, IgnoredAsPid1OfAPidNamespace) {
  if (!namespaces_available()) GTEST_SKIP() << "unshare --pid is not available here";
  check_ignored(Placement::Namespace);
}

TEST(HwWatchdogRole, IgnoredAsASubreaper) { check_ignored(Placement::Subreaper); }

}  // namespace
}  // namespace keel::systest
