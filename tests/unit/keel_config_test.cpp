// keel.toml and the kernel command line: what the system role reads before
// any service starts. Every error names file, line and key; a bad value
// keeps its default.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <string>

#include "system/keel_config.hpp"
#include "system/kernel_cmdline.hpp"
#include "test_util.hpp"

namespace keel {
namespace {

TEST(KeelConfig, EveryKeyReadsItsValue) {
  KeelConfigResult r = parse_keel_config(R"(hostname = "device-7"
target = "kiosk"
exec = ["/usr/bin/python3", "/app/main.py"]
seed_dir = "/data/seed"
rescue_shell = ["/bin/busybox", "sh"]
shutdown_grace = 2.5

[signals]
SIGTERM = "poweroff"
SIGINT = "ignore"
SIGUSR1 = "reboot"
SIGUSR2 = "halt"
SIGPWR = "poweroff"

[[mount]]
what = "/dev/vda"
where = "/data"
type = "ext4"
options = "noatime,nosuid,data=ordered"

[[mount]]
what = "tmpfs"
where = "/tmp"
type = "tmpfs"
options = "size=16M,mode=1777"
)",
                                         "keel.toml");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].text();
  const KeelConfig& c = r.config;
  EXPECT_EQ(c.hostname, "device-7");
  EXPECT_EQ(c.target, "kiosk");
  EXPECT_EQ(c.exec, (std::vector<std::string>{"/usr/bin/python3", "/app/main.py"}));
  EXPECT_EQ(c.seed_dir, "/data/seed");
  EXPECT_EQ(c.rescue_shell, (std::vector<std::string>{"/bin/busybox", "sh"}));
  EXPECT_EQ(c.shutdown_grace_ns, 2'500'000'000);
  EXPECT_EQ(c.signals.term, SignalAction::Poweroff);
  EXPECT_EQ(c.signals.intr, SignalAction::Ignore);
  EXPECT_EQ(c.signals.usr1, SignalAction::Reboot);
  EXPECT_EQ(c.signals.usr2, SignalAction::Halt);
  ASSERT_EQ(c.mounts.size(), 2U);
  EXPECT_EQ(c.mounts[0].what, "/dev/vda");
  EXPECT_EQ(c.mounts[0].where, "/data");
  EXPECT_EQ(c.mounts[0].flags, static_cast<unsigned long>(MS_NOATIME | MS_NOSUID));
  EXPECT_EQ(c.mounts[0].data, "data=ordered");
  EXPECT_EQ(c.mounts[0].line, 15);
  EXPECT_EQ(c.mounts[1].data, "size=16M,mode=1777");
}

TEST(KeelConfig, DefaultsWithoutAFile) {
  KeelConfigResult r = load_keel_config("/nonexistent/keel.toml");
  EXPECT_FALSE(r.found);
  EXPECT_TRUE(r.errors.empty());
  // Unset: reboot as the machine's init, power-off in a container (system_init.cpp).
  EXPECT_FALSE(r.config.signals.term.has_value());
  EXPECT_FALSE(r.config.signals.intr.has_value());
  EXPECT_EQ(r.config.signals.usr1, SignalAction::Halt);
  EXPECT_EQ(r.config.signals.usr2, SignalAction::Poweroff);
  EXPECT_EQ(r.config.seed_dir, "/var/lib/keel/seed");
  EXPECT_EQ(r.config.rescue_shell, std::vector<std::string>{"/bin/sh"});
  EXPECT_TRUE(r.config.exec.empty());
  EXPECT_EQ(r.config.shutdown_timeout_ns, 90'000'000'000);
  EXPECT_FALSE(r.config.container_sync);
}

TEST(KeelConfig, ShutdownTimeoutAndContainerSync) {
  KeelConfigResult r = parse_keel_config("shutdown_timeout = 30\ncontainer_sync = true\n", "keel.toml");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].text();
  EXPECT_EQ(r.config.shutdown_timeout_ns, 30'000'000'000);
  EXPECT_TRUE(r.config.container_sync);

  KeelConfigResult half = parse_keel_config("shutdown_timeout = 0.5\n", "keel.toml");
  ASSERT_TRUE(half.errors.empty());
  EXPECT_EQ(half.config.shutdown_timeout_ns, 500'000'000);

  // Bad values keep their defaults, each error with its line and key.
  KeelConfigResult bad = parse_keel_config("shutdown_timeout = 0\ncontainer_sync = \"yes\"\n", "/etc/keel/keel.toml");
  ASSERT_EQ(bad.errors.size(), 2U);
  EXPECT_EQ(bad.errors[0].text(), "/etc/keel/keel.toml:1: shutdown_timeout: must be more than 0 seconds");
  EXPECT_NE(bad.errors[1].text().find("/etc/keel/keel.toml:2: container_sync: expected a boolean"), std::string::npos)
      << bad.errors[1].text();
  EXPECT_EQ(bad.config.shutdown_timeout_ns, 90'000'000'000);
  EXPECT_FALSE(bad.config.container_sync);

  KeelConfigResult year = parse_keel_config("shutdown_timeout = 31536001\n", "keel.toml");
  ASSERT_EQ(year.errors.size(), 1U);
  EXPECT_EQ(year.errors[0].text(),
            "keel.toml:1: shutdown_timeout: must be from 0 to 31536000 seconds (one year), not 31536001");
}

TEST(KeelConfig, ErrorsNameLineAndKeyAndKeepDefaults) {
  KeelConfigResult r = parse_keel_config(R"(hostnme = "x"
exec = "relative/prog"
shutdown_grace = "soon"

[signals]
SIGTERM = "explode"
SIGHUP = "reboot"

[[mount]]
what = "/dev/vdb"
type = "ext4"

[[mount]]
what = "/dev/vdc"
where = "data"
type = "ext4"
)",
                                         "/etc/keel/keel.toml");
  std::vector<std::string> texts;
  for (const auto& e : r.errors) texts.push_back(e.text());
  auto has = [&](const std::string& needle) {
    for (const auto& t : texts) {
      if (t.find(needle) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("/etc/keel/keel.toml:1: hostnme: unknown key; did you mean 'hostname'?")) << ::testing::PrintToString(texts);
  EXPECT_TRUE(has("keel.toml:2: exec: must start with an absolute program path"));
  EXPECT_TRUE(has("keel.toml:3: shutdown_grace: expected a number of seconds"));
  EXPECT_TRUE(has("keel.toml:6: signals.SIGTERM: expected one of reboot, poweroff, halt, ignore"));
  EXPECT_TRUE(has("keel.toml:7: signals.SIGHUP: unknown key"));
  EXPECT_TRUE(has("keel.toml:9: mount.where: missing"));
  EXPECT_TRUE(has("keel.toml:13: mount.where: must be an absolute path"));
  EXPECT_FALSE(r.config.signals.term.has_value());
  EXPECT_TRUE(r.config.exec.empty());
  EXPECT_TRUE(r.config.mounts.empty());
  EXPECT_EQ(r.config.shutdown_grace_ns, 5'000'000'000);
}

TEST(KeelConfig, SyntaxErrorHasItsLine) {
  KeelConfigResult r = parse_keel_config("hostname = \"a\"\n[signals\n", "keel.toml");
  ASSERT_EQ(r.errors.size(), 1U);
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_NE(r.errors[0].message.find("syntax error"), std::string::npos);
}

TEST(KeelConfig, ShutdownGraceIsCappedAtOneYear) {
  KeelConfigResult r = parse_keel_config("hostname = \"a\"\nshutdown_grace = 9223372036\n", "keel.toml");
  ASSERT_EQ(r.errors.size(), 1U);
  EXPECT_EQ(r.errors[0].text(),
            "keel.toml:2: shutdown_grace: must be from 0 to 31536000 seconds (one year), not 9223372036");
  KeelConfigResult ok = parse_keel_config("shutdown_grace = 31536000\n", "keel.toml");
  EXPECT_TRUE(ok.errors.empty());
  EXPECT_EQ(ok.config.shutdown_grace_ns, 31'536'000LL * 1'000'000'000);
}

TEST(KeelConfig, MountOptionsSplitIntoFlagsAndData) {
  unsigned long flags = 0;
  std::string data;
  split_mount_options("ro,noexec,,defaults,mode=0755,rw,uid=5", flags, data);
  EXPECT_EQ(flags, static_cast<unsigned long>(MS_NOEXEC));  // rw undid ro
  EXPECT_EQ(data, "mode=0755,uid=5");
}

TEST(KernelCmdline, TheWordsKeelActsOn) {
  KernelCmdline c = parse_kernel_cmdline(
      "BOOT_IMAGE=/vmlinuz root=/dev/vda console=ttyS0 keel.target=kiosk keel.debug quiet "
      "keel.exec=/usr/bin/python3 splash\n");
  EXPECT_EQ(c.target, "kiosk");
  EXPECT_EQ(c.exec, "/usr/bin/python3");
  EXPECT_TRUE(c.debug);
  EXPECT_TRUE(c.quiet);
  EXPECT_FALSE(c.rescue);
}

TEST(KernelCmdline, SingleOrRescueMeansTheRescueTarget) {
  for (const char* line : {"single", "rescue", "ro keel.rescue", "S", "keel.target=x single"}) {
    KernelCmdline c = parse_kernel_cmdline(line);
    EXPECT_TRUE(c.rescue) << line;
    EXPECT_EQ(c.target, "rescue") << line;
  }
  EXPECT_FALSE(parse_kernel_cmdline("singleuser rescued").rescue);
}

TEST(KernelCmdline, QuotesGroupAValue) {
  KernelCmdline c = parse_kernel_cmdline("a=\"x y\" keel.exec=\"/opt/my app/run\" b");
  EXPECT_EQ(c.exec, "/opt/my app/run");
}

// ---- issue 14b: keel.toml's python_hash_seed, the default of every service's key.
TEST(KeelConfig, PythonHashSeedDefaultsToTrueAndReadsABoolean) {
  EXPECT_TRUE(parse_keel_config("", "keel.toml").config.python_hash_seed);
  KeelConfigResult off = parse_keel_config("python_hash_seed = false\n", "keel.toml");
  EXPECT_TRUE(off.errors.empty());
  EXPECT_FALSE(off.config.python_hash_seed);
  KeelConfigResult bad = parse_keel_config("python_hash_seed = \"no\"\n", "keel.toml");
  ASSERT_EQ(bad.errors.size(), 1U);
  EXPECT_NE(bad.errors[0].text().find("keel.toml:1: python_hash_seed"), std::string::npos) << bad.errors[0].text();
  EXPECT_TRUE(bad.config.python_hash_seed);
}

}  // namespace
}  // namespace keel
