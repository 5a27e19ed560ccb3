// The hardware watchdog (issue 12, part 3): keel.toml's [watchdog] and the
// services' `critical` key through parser and codec; the device path
// refused, without blocking, when it is not a watchdog (real file-system
// objects: a regular file, a FIFO, a directory, a symbolic link to a FIFO,
// /dev/null); and the pet schedule on a real event loop with a fake device
// (no real watchdog here: arming one would reset the host). The real
// device is tested in QEMU (tests/boot/hw_watchdog_boot_test.cpp).
#include "system/hw_watchdog.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "core/event_loop.hpp"
#include "service/config.hpp"
#include "system/config_codec.hpp"
#include "system/keel_config.hpp"
#include "test_util.hpp"

namespace keel {
namespace {

using testutil::kMs;

constexpr std::int64_t kS = 1'000'000'000;

std::string errors_of(const KeelConfigResult& r) {
  std::string all;
  for (const auto& e : r.errors) all += e.text() + "\n";
  return all;
}

TEST(WatchdogConfig, EveryKeyReadsItsValue) {
  KeelConfigResult r = parse_keel_config(R"([watchdog]
device = "/dev/watchdog0"
timeout = 10
pet_interval = 2.5
shutdown_timeout = 0
critical_unhealthy = 3
)",
                                         "keel.toml");
  ASSERT_TRUE(r.errors.empty()) << errors_of(r);
  const WatchdogConfig& w = r.config.watchdog;
  EXPECT_EQ(w.device, "/dev/watchdog0");
  EXPECT_EQ(w.timeout_s, 10);
  EXPECT_EQ(w.pet_interval_ns, 2'500 * kMs);
  EXPECT_EQ(w.shutdown_timeout_s, 0);
  EXPECT_EQ(w.critical_unhealthy_ns, 3 * kS);
}

TEST(WatchdogConfig, AbsentTableIsOffAndDefaultsAreDocumented) {
  KeelConfigResult none = parse_keel_config("hostname = \"x\"\n", "keel.toml");
  ASSERT_TRUE(none.errors.empty()) << errors_of(none);
  EXPECT_TRUE(none.config.watchdog.device.empty());
  KeelConfigResult r = parse_keel_config("[watchdog]\ndevice = \"/dev/watchdog\"\n", "keel.toml");
  ASSERT_TRUE(r.errors.empty()) << errors_of(r);
  EXPECT_EQ(r.config.watchdog.device, "/dev/watchdog");
  EXPECT_EQ(r.config.watchdog.timeout_s, 30);
  EXPECT_EQ(r.config.watchdog.pet_interval_ns, 0);  // a third of the driver's timeout
  EXPECT_EQ(r.config.watchdog.shutdown_timeout_s, 120);
  EXPECT_EQ(r.config.watchdog.critical_unhealthy_ns, 60 * kS);
}

TEST(WatchdogConfig, ErrorsNameLineAndKey) {
  struct Case {
    const char* text;
    const char* expected;  // in the single error's text
  };
  const Case cases[] = {
      {"[watchdog]\ntimeout = 5\n", "keel.toml:1: watchdog.device: missing"},
      {"[watchdog]\ndevice = \"dev/watchdog\"\n", "keel.toml:2: watchdog.device: must be an absolute path"},
      {"[watchdog]\ndevice = \"/dev/watchdog\"\ntimeout = 0\n",
       "keel.toml:3: watchdog.timeout: must be from 1 to 3600"},
      {"[watchdog]\ndevice = \"/dev/watchdog\"\ntimeout = 5\npet_interval = 5\n",
       "keel.toml:4: watchdog.pet_interval: must be more than 0 and less than the timeout (5 s)"},
      {"[watchdog]\ndevice = \"/dev/watchdog\"\nshutdown_timeout = -1\n",
       "keel.toml:3: watchdog.shutdown_timeout: must be from 0 to 3600"},
      {"[watchdog]\ndevice = \"/dev/watchdog\"\ncritical = 3\n", "keel.toml:3: watchdog.critical: unknown key"},
      {"watchdog = \"/dev/watchdog\"\n", "keel.toml:1: watchdog: expected a table"},
  };
  for (const Case& c : cases) {
    KeelConfigResult r = parse_keel_config(c.text, "keel.toml");
    ASSERT_EQ(r.errors.size(), 1u) << c.text << errors_of(r);
    EXPECT_NE(r.errors[0].text().find(c.expected), std::string::npos) << c.text << errors_of(r);
  }
  // A bad key keeps its default; the table still counts.
  KeelConfigResult r = parse_keel_config("[watchdog]\ndevice = \"/dev/watchdog\"\ntimeout = 0\n", "keel.toml");
  EXPECT_EQ(r.config.watchdog.device, "/dev/watchdog");
  EXPECT_EQ(r.config.watchdog.timeout_s, 30);
}

TEST(WatchdogConfig, CriticalServiceKey) {
  service::UserDbPaths users;
  service::ParseResult yes =
      service::parse_service("command = [\"/bin/true\"]\ncritical = true\n", "svc", "svc.toml", users);
  ASSERT_TRUE(yes.config.has_value()) << (yes.errors.empty() ? "" : yes.errors[0].text());
  EXPECT_TRUE(yes.config->critical);
  service::ParseResult no = service::parse_service("command = [\"/bin/true\"]\n", "svc", "svc.toml", users);
  ASSERT_TRUE(no.config.has_value());
  EXPECT_FALSE(no.config->critical);
  service::ParseResult bad =
      service::parse_service("command = [\"/bin/true\"]\ncritical = \"yes\"\n", "svc", "svc.toml", users);
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_NE(bad.errors[0].text().find("svc.toml:2: critical: expected a boolean"), std::string::npos)
      << bad.errors[0].text();
}

Loaded watchdog_loaded() {
  Loaded l;
  WatchdogConfig& w = l.keel.emplace().config.watchdog;
  w.device = "/dev/watchdog1";
  w.timeout_s = 7;
  w.pet_interval_ns = 1'500 * kMs;
  w.shutdown_timeout_s = 0;
  w.critical_unhealthy_ns = 4 * kS;
  service::ServiceConfig c;
  c.name = "db";
  c.critical = true;
  l.services.emplace().services = {c};
  return l;
}

TEST(WatchdogConfig, TheCodecCarriesEveryKey) {
  Loaded out;
  std::string problem;
  ASSERT_TRUE(decode_loaded(encode_loaded(watchdog_loaded()), out, problem)) << problem;
  const WatchdogConfig& w = out.keel->config.watchdog;
  EXPECT_EQ(w.device, "/dev/watchdog1");
  EXPECT_EQ(w.timeout_s, 7);
  EXPECT_EQ(w.pet_interval_ns, 1'500 * kMs);
  EXPECT_EQ(w.shutdown_timeout_s, 0);
  EXPECT_EQ(w.critical_unhealthy_ns, 4 * kS);
  ASSERT_EQ(out.services->services.size(), 1u);
  EXPECT_TRUE(out.services->services[0].critical);
}

// PID 1 arms timers and the device from these: values the parser never
// gives are refused, not trusted.
TEST(WatchdogConfig, TheDecoderRefusesWhatTheParserNeverGives) {
  auto refused = [](auto change) {
    Loaded l = watchdog_loaded();
    change(l.keel->config.watchdog);
    Loaded out;
    std::string problem;
    EXPECT_FALSE(decode_loaded(encode_loaded(l), out, problem));
    return problem;
  };
  EXPECT_NE(refused([](WatchdogConfig& w) { w.timeout_s = 0; }).find("bad watchdog settings"), std::string::npos);
  EXPECT_NE(refused([](WatchdogConfig& w) { w.pet_interval_ns = 7 * kS; }).find("bad watchdog"), std::string::npos);
  EXPECT_NE(refused([](WatchdogConfig& w) { w.critical_unhealthy_ns = -1; }).find("bad watchdog"), std::string::npos);
  EXPECT_NE(refused([](WatchdogConfig& w) { w.device = "watchdog"; }).find("bad watchdog"), std::string::npos);
}

// ---- the device path

// open_watchdog_device in a child bounded in time: a FIFO opened for
// writing the plain way would wait for a reader forever.
std::string open_outcome(const std::string& path) {
  int code = testutil::in_child([&] {
    Result<int> fd = open_watchdog_device(path.c_str());
    if (fd) return 0;
    if (fd.error().code == ENODEV) {
      const std::string what = fd.error().context;
      if (what == "a regular file") return 10;
      if (what == "a FIFO") return 11;
      if (what == "a directory") return 12;
      if (what == "a socket") return 13;
      return 19;
    }
    if (fd.error().code == ENOTTY) return 20;
    if (fd.error().code == ENOENT) return 30;
    return 40;
  });
  switch (code) {
    case 0: return "opened";
    case 10: return "regular file";
    case 11: return "FIFO";
    case 12: return "directory";
    case 20: return "not a watchdog";
    case 30: return "missing";
    case -1: return "blocked";
    default: return "code " + std::to_string(code);
  }
}

TEST(WatchdogDevice, WhatIsNotAWatchdogIsRefusedWithoutBlocking) {
  testutil::TempDir dir("keel-hwdog-");
  const std::string file = (dir.path() / "file").string();
  testutil::write_file(file, "not a device\n");
  const std::string fifo = (dir.path() / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  const std::string link = (dir.path() / "link").string();
  ASSERT_EQ(::symlink(fifo.c_str(), link.c_str()), 0);
  EXPECT_EQ(open_outcome(file), "regular file");
  EXPECT_EQ(open_outcome(fifo), "FIFO");
  EXPECT_EQ(open_outcome(link), "FIFO");  // followed, and what it leads to is checked
  EXPECT_EQ(open_outcome(dir.path().string()), "directory");
  EXPECT_EQ(open_outcome((dir.path() / "absent").string()), "missing");
  // A character device, but not a watchdog: the driver does not know the ioctl.
  EXPECT_EQ(open_outcome("/dev/null"), "not a watchdog");
  // Nothing was written into the regular file.
  EXPECT_EQ(testutil::slurp(file), "not a device\n");
}

// ---- the pet schedule, with a fake device on a real event loop

struct FakeDevice final : WatchdogDevice {
  int set_timeout(int seconds) noexcept override {
    events.push_back("set " + std::to_string(seconds));
    timeout = seconds - seconds % round_to;  // a driver that rounds down to its tick
    return 0;
  }
  int get_timeout(int& seconds) noexcept override {
    events.emplace_back("get");
    seconds = timeout;
    return 0;
  }
  int keepalive() noexcept override {
    events.emplace_back("pet");
    ++pets;
    return 0;
  }
  void magic_close() noexcept override { events.emplace_back("magic close"); }
  std::vector<std::string> events;
  int timeout = 0;
  int round_to = 1;
  int pets = 0;
};

struct FakeHealth final : HwWatchdog::Health {
  std::int64_t critical_unhealthy_since_ns(const char** name) noexcept override {
    ++asked;
    if (since != 0) *name = "db";
    return since;
  }
  std::int64_t since = 0;
  int asked = 0;
};

class WatchdogSchedule : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(loop_.init()); }

  // Runs the loop until `done` (bounded: a schedule that stalls fails).
  template <typename F>
  bool run_until(F done) {
    const std::int64_t deadline = monotonic_ns() + 5 * kS;
    while (!done()) {
      if (monotonic_ns() > deadline) return false;
      if (!loop_.run_once()) return false;
    }
    return true;
  }

  static WatchdogConfig config(std::int64_t pet_ns) {
    WatchdogConfig c;
    c.device = "/dev/fake";
    c.timeout_s = 10;
    c.pet_interval_ns = pet_ns;
    c.shutdown_timeout_s = 120;
    c.critical_unhealthy_ns = 3 * kS;
    return c;
  }

  EventLoop loop_;
  FakeDevice dev_;
  FakeHealth health_;
};

TEST_F(WatchdogSchedule, SetsTheTimeoutReadsItBackAndPetsFromTheLoop) {
  dev_.round_to = 4;  // 10 s becomes 8 s, as drivers round
  HwWatchdog wd(loop_);
  ASSERT_TRUE(wd.start_on(dev_, config(20 * kMs), health_));
  EXPECT_EQ(wd.timeout_s(), 8);
  EXPECT_TRUE(wd.petting());
  ASSERT_TRUE(run_until([&] { return dev_.pets >= 4; }));
  const std::vector<std::string> expected = {"set 10", "get", "pet", "pet", "pet", "pet"};
  EXPECT_EQ(dev_.events, expected);
  // Each pet after the first asked about the critical services first.
  EXPECT_EQ(health_.asked, 3);
}

TEST_F(WatchdogSchedule, DefaultIntervalIsAThirdOfTheTimeoutTheDriverTook) {
  dev_.round_to = 3;  // 10 s becomes 9 s
  HwWatchdog wd(loop_);
  ASSERT_TRUE(wd.start_on(dev_, config(0), health_));
  EXPECT_EQ(wd.pet_interval_ns(), 3 * kS);
}

TEST_F(WatchdogSchedule, ACriticalServiceUnhealthyTooLongStopsThePetsForGood) {
  HwWatchdog wd(loop_);
  ASSERT_TRUE(wd.start_on(dev_, config(20 * kMs), health_));
  ASSERT_TRUE(run_until([&] { return dev_.pets >= 2; }));
  // Unhealthy, but not for long enough yet: petting goes on.
  health_.since = monotonic_ns();
  const int before = dev_.pets;
  ASSERT_TRUE(run_until([&] { return dev_.pets >= before + 2; }));
  // Unhealthy for longer than critical_unhealthy: the next tick does not pet.
  health_.since = monotonic_ns() - 4 * kS;
  const int asked = health_.asked;
  const int pets = dev_.pets;
  ASSERT_TRUE(run_until([&] { return health_.asked > asked; }));
  EXPECT_EQ(dev_.pets, pets);
  EXPECT_FALSE(wd.petting());  // no timer left: the hardware resets the machine
  EXPECT_TRUE(wd.open());      // and the device is not disarmed
  // The shutdown that may follow does not pet either.
  wd.shutdown_begins();
  EXPECT_EQ(dev_.pets, pets);
}

// A start that is not late yet reports a time in the future: still healthy.
TEST_F(WatchdogSchedule, AnUnhealthySinceInTheFutureKeepsPetting) {
  HwWatchdog wd(loop_);
  ASSERT_TRUE(wd.start_on(dev_, config(20 * kMs), health_));
  health_.since = monotonic_ns() + 60 * kS;
  ASSERT_TRUE(run_until([&] { return dev_.pets >= 3; }));
  EXPECT_TRUE(wd.petting());
}

TEST_F(WatchdogSchedule, ShutdownSetsItsTimeoutPetsOnceAndStops) {
  HwWatchdog wd(loop_);
  ASSERT_TRUE(wd.start_on(dev_, config(20 * kMs), health_));
  dev_.events.clear();
  wd.shutdown_begins();
  const std::vector<std::string> expected = {"set 120", "get", "pet"};
  EXPECT_EQ(dev_.events, expected);
  EXPECT_FALSE(wd.petting());
  EXPECT_EQ(wd.timeout_s(), 120);
  EXPECT_TRUE(wd.open());  // armed until reboot(2) (disarm() for a power-off)
  wd.disarm();
  EXPECT_EQ(dev_.events.back(), "magic close");
  EXPECT_FALSE(wd.open());
}

TEST_F(WatchdogSchedule, ShutdownTimeoutZeroDisarmsAtOnce) {
  HwWatchdog wd(loop_);
  WatchdogConfig c = config(20 * kMs);
  c.shutdown_timeout_s = 0;
  ASSERT_TRUE(wd.start_on(dev_, c, health_));
  dev_.events.clear();
  wd.shutdown_begins();
  const std::vector<std::string> expected = {"magic close"};
  EXPECT_EQ(dev_.events, expected);
  EXPECT_FALSE(wd.open());
  EXPECT_FALSE(wd.petting());
}

}  // namespace
}  // namespace keel
