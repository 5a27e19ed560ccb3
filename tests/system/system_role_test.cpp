// The system role's first duties, driven from outside: keel started as
// `init` runs CONFIG_DIR/main, loads CONFIG_DIR/modules.load, and when the
// main program exits powers off — which, as PID 1 of a PID namespace (a
// container), is an exit with the main program's status, ending the
// namespace; no VM is needed here. (Booting a real kernel, where power-off
// is reboot(2), is keel-image's boot test; container_stop_test.cpp has
// docker stop and the reboot request.)
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <csignal>
#include <fstream>
#include <string>

#include "harness.hpp"

namespace keel::systest {
namespace {

// A config dir with an executable `main` script.
void write_main(const TempDir& dir, const std::string& body) {
  std::string path = dir.path() + "/main";
  std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
  ASSERT_EQ(::chmod(path.c_str(), 0755), 0);
}

Launch system_launch(Placement placement, const TempDir& config, std::vector<std::string> words) {
  Launch l = program_launch(placement, keel_symlink("init"), std::move(words));
  l.set_env.emplace_back("KEEL_CONFIG_DIR", config.path());
  // Never the host's /run/keel, never the host's cgroups.
  l.set_env.emplace_back("KEEL_RUN_DIR", config.path() + "/run");
  l.set_env.emplace_back("KEEL_CGROUP_ROOT", "none");
  return l;
}

TEST(SystemRole, MainProgramRunsAndItsExitPowersOffTheNamespace) {
  if (!namespaces_available()) GTEST_SKIP() << "unshare --pid is not available here";
  TempDir config;
  write_main(config, "echo \"main: pid $$\"\nexit 3");
  KeelRun k(system_launch(Placement::Namespace, config, {"splash", "nomodeset"}));
  // The kernel words are not programs; the main program runs instead.
  EXPECT_TRUE(k.find_line(Stream::Out, "main: pid "));
  auto code = k.wait_exit();
  ASSERT_TRUE(code);
  // A container's power-off is keel's exit, with the main program's status
  // (no reboot(2), which would end it as "killed by SIGINT").
  EXPECT_EQ(*code, 3) << k.text(Stream::Err);
  std::string err = k.text(Stream::Err);
  auto exited = err.find("exited with status 3");
  auto power = err.find("power-off of a container: keel exits with status 3");
  EXPECT_NE(exited, std::string::npos) << err;
  EXPECT_NE(power, std::string::npos) << err;
  EXPECT_LT(exited, power) << "power-off must come after the main program's exit:\n" << err;
  EXPECT_EQ(err.find("cannot run"), std::string::npos) << err;
}

TEST(SystemRole, NotPid1ItRefusesToPowerOffAndExitsWithTheStatus) {
  TempDir config;
  write_main(config, "exit 5");
  KeelRun k(system_launch(Placement::Subreaper, config, {}));
  EXPECT_EQ(k.wait_exit(), 5);
  EXPECT_NE(k.text(Stream::Err).find("power-off refused: keel is not PID 1"), std::string::npos)
      << k.text(Stream::Err);
}

TEST(SystemRole, ListedModulesAreLoadedInOrderAndAFailureDoesNotStopTheBoot) {
  if (!namespaces_available()) GTEST_SKIP() << "unshare --pid is not available here";
  TempDir config;
  write_main(config, "echo main-ran");
  std::ofstream(config.path() + "/modules.load") << "# dependencies first\n\n"
                                                 << config.path() << "/missing-a.ko\n"
                                                 << config.path() << "/missing-b.ko\n";
  KeelRun k(system_launch(Placement::Namespace, config, {}));
  EXPECT_TRUE(k.find_line(Stream::Out, "main-ran"));
  k.wait_exit();
  std::string err = k.text(Stream::Err);
  auto a = err.find("missing-a.ko: No such file or directory");
  auto b = err.find("missing-b.ko: No such file or directory");
  ASSERT_NE(a, std::string::npos) << err;
  ASSERT_NE(b, std::string::npos) << err;
  EXPECT_LT(a, b) << "modules load in the listed order";
  EXPECT_NE(err.find("modules: 0 loaded, 2 failed"), std::string::npos) << err;
}

TEST(SystemRole, AMainThatCannotRunStillPowersOff) {
  if (!namespaces_available()) GTEST_SKIP() << "unshare --pid is not available here";
  TempDir config;
  std::ofstream(config.path() + "/main") << "not executable\n";  // mode 0644
  KeelRun k(system_launch(Placement::Namespace, config, {}));
  EXPECT_EQ(k.wait_exit(), 1) << k.text(Stream::Err);  // a failed main: status 1
  EXPECT_NE(k.text(Stream::Err).find("main: failed: cannot start: execve failed: Permission denied"),
            std::string::npos)
      << k.text(Stream::Err);
}

}  // namespace
}  // namespace keel::systest
