// The rest of sd_notify, with real clients (python3-systemd's
// systemd.daemon.notify and systemd-notify, both from Debian): the software
// watchdog (WATCHDOG=1, WATCHDOG_USEC=, WATCHDOG=trigger, WATCHDOG_PID),
// EXTEND_TIMEOUT_USEC, the RELOADING=1 / READY=1 cycle behind `keelctl
// reload SERVICE`, STOPPING=1 and ERRNO= (docs/services.md, "Watchdog and
// reload" and "sd_notify: what keel acts on"). keel runs in the system role,
// as PID 1 of a fresh PID namespace and as a subreaper.
//
// No assertion is about time: each service counts what it did (pings,
// reloads) and writes it to a file from its SIGABRT handler or its reload
// code, so a test checks the order of events, bounded by generous waits.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "supervised.hpp"

namespace keel::systest {
namespace {

namespace fs = std::filesystem;

// Debian's interpreter: python3-systemd is installed for it (a pyenv
// python3 earlier in PATH would not have it).
constexpr const char* kPython = "/usr/bin/python3";
// SIGABRT would dump core into the service's directory ("/") where
// core_pattern is a plain file name: not from a test.
const std::string kNoCore = "[rlimits]\ncore = 0\n";

// A python program using systemd.daemon in the folder; its path. OUT is
// the folder, for the files it writes (put(name, text), atomically).
std::string python(const Supervised& s, const std::string& name, const std::string& body) {
  std::string p = s.path(name + ".py");
  std::ofstream(p) << "import os, signal, sys, time\nfrom systemd import daemon\nOUT = '" << s.dir()
                   << "'\ndef put(name, text):\n    with open(OUT + '/' + name + '.tmp', 'w') as f: f.write(text)\n"
                      "    os.rename(OUT + '/' + name + '.tmp', OUT + '/' + name)\n"
                   << body;
  return p;
}

// The python side of a watched service: its environment written at start,
// a SIGABRT handler that records how many pings were sent and dies of the
// signal (exit status 134 as a shell says it), `pings` pings every
// `interval` seconds, then silence.
std::string pinger(int pings, double interval) {
  std::ostringstream py;
  py << "count = 0\n"
        "put('env-%d' % os.getpid(), '%s %s %d' % (os.environ.get('WATCHDOG_USEC'), os.environ.get('WATCHDOG_PID'), "
        "os.getpid()))\n"
        "def on_abort(signo, frame):\n"
        "    put('aborted', str(count))\n"
        "    signal.signal(signal.SIGABRT, signal.SIG_DFL)\n"
        "    os.kill(os.getpid(), signal.SIGABRT)\n"
        "signal.signal(signal.SIGABRT, on_abort)\n"
        "daemon.notify('READY=1')\n"
        // The restarted run pings for good.
        "while os.path.exists(OUT + '/aborted'):\n    daemon.notify('WATCHDOG=1')\n    time.sleep(0.5)\n"
     << "for i in range(" << pings << "):\n    daemon.notify('WATCHDOG=1')\n    count += 1\n    time.sleep(" << interval
     << ")\n"
     << "put('silent', str(count))\ntime.sleep(600)\n";
  return py.str();
}

class NotifyMoreTest : public ::testing::TestWithParam<Placement> {
 protected:
  void SetUp() override {
    if (GetParam() == Placement::Namespace && !namespaces_available()) {
      GTEST_SKIP() << "unshare --pid is not available here";
    }
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (keel in the system role)";
  }
};

TEST_P(NotifyMoreTest, APingingServiceStaysUpAndASilentOneGetsSIGABRTThenARestart) {
  Supervised s;
  // 10 pings 0.5 s apart: 5 s, well past the period of 2 s.
  std::string py = python(s, "dog", pinger(10, 0.5));
  s.service("dog", std::string("type = \"notify\"\nwatchdog = 2\nrestart = \"always\"\nrestart_delay = 0.1\n"
                               "stop_timeout = 5\ncommand = [\"") +
                       kPython + "\", \"" + py + "\"]\n" + kNoCore);
  auto k = s.start(GetParam());
  ASSERT_TRUE(event(*k, "dog", "watchdog timeout")) << k->text(Stream::Err);
  ASSERT_TRUE(poll_until([&] { return count_events(*k, "dog", "started") >= 2; }, 20s, 20ms)) << k->text(Stream::Err);
  // Every ping was sent before the timeout: the pings kept it up.
  EXPECT_EQ(s.read("aborted"), "10");
  EXPECT_EQ(s.read("silent"), "10");
  EXPECT_TRUE(seen(*k, Stream::Err, [](const std::string& l) {
    return l.find("killed by SIGABRT") != std::string::npos;
  })) << k->text(Stream::Err);
  // WATCHDOG_USEC and WATCHDOG_PID, the latter the service's own pid.
  std::string env;
  for (const auto& e : fs::directory_iterator(s.path(""))) {
    if (e.path().filename().string().rfind("env-", 0) == 0) env = s.read(e.path().filename().string());
  }
  std::istringstream words(env);
  std::string usec, wpid, pid;
  words >> usec >> wpid >> pid;
  EXPECT_EQ(usec, "2000000") << env;
  EXPECT_EQ(wpid, pid) << env;
  EXPECT_EQ(detail(s, "dog", "restarts"), "1");
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

TEST_P(NotifyMoreTest, WatchdogUsecChangesTheDeadlineAndTriggerActsAtOnce) {
  Supervised s;
  // The period goes from 3 s to 6 s; pings 4.5 s apart keep it up only
  // under the new one; then systemd-notify WATCHDOG=trigger.
  std::string py = python(s, "dog",
                          "count = 0\n"
                          "def on_abort(signo, frame):\n"
                          "    put('aborted', str(count))\n"
                          "    signal.signal(signal.SIGABRT, signal.SIG_DFL)\n"
                          "    os.kill(os.getpid(), signal.SIGABRT)\n"
                          "signal.signal(signal.SIGABRT, on_abort)\n"
                          "daemon.notify('READY=1\\nWATCHDOG_USEC=6000000')\n"
                          "for i in range(2):\n"
                          "    time.sleep(4.5)\n"
                          "    daemon.notify('WATCHDOG=1')\n"
                          "    count += 1\n"
                          "os.system('systemd-notify WATCHDOG=trigger')\n"
                          "time.sleep(600)\n");
  s.service("dog", std::string("type = \"notify\"\nwatchdog = 3\nrestart = \"never\"\n"
                               "command = [\"") +
                       kPython + "\", \"" + py + "\"]\n" + kNoCore);
  auto k = s.start(GetParam());
  ASSERT_TRUE(event(*k, "dog", "watchdog period is now 6000 ms")) << k->text(Stream::Err);
  auto line = event(*k, "dog", "watchdog timeout");
  ASSERT_TRUE(line) << k->text(Stream::Err);
  EXPECT_NE(line->find("WATCHDOG=trigger"), std::string::npos) << *line;
  ASSERT_TRUE(event(*k, "dog", "failed")) << k->text(Stream::Err);
  EXPECT_EQ(s.read("aborted"), "2");
  EXPECT_EQ(count_events(*k, "dog", "watchdog timeout"), 1);
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

TEST_P(NotifyMoreTest, ExtendTimeoutKeepsASlowStarterAliveAndOneThatStopsExtendingIsKilled) {
  Supervised s;
  // start_timeout 1 s; 8 extensions of 1 s, 0.4 s apart (3.2 s), then ready.
  std::string slow =
      python(s, "slow",
             "for i in range(8):\n    daemon.notify('EXTEND_TIMEOUT_USEC=1000000')\n    time.sleep(0.4)\n"
             "put('slow-ready', 'yes')\ndaemon.notify('READY=1')\ntime.sleep(600)\n");
  // One extension, then silence: killed at its end.
  std::string stuck = python(s, "stuck", "daemon.notify('EXTEND_TIMEOUT_USEC=1500000')\ntime.sleep(600)\n");
  s.service("slow", std::string("type = \"notify\"\nstart_timeout = 1\nrestart = \"never\"\ncommand = [\"") + kPython +
                        "\", \"" + slow + "\"]\n");
  s.service("stuck", std::string("type = \"notify\"\nstart_timeout = 1\nrestart = \"never\"\ncommand = [\"") + kPython +
                         "\", \"" + stuck + "\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(event(*k, "slow", "ready")) << k->text(Stream::Err);
  EXPECT_EQ(s.read("slow-ready"), "yes");
  ASSERT_TRUE(event(*k, "stuck", "failed: not ready within")) << k->text(Stream::Err);
  EXPECT_EQ(count_events(*k, "slow", "failed"), 0) << k->text(Stream::Err);
  EXPECT_EQ(detail(s, "slow", "state"), "running");
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

TEST_P(NotifyMoreTest, ExtendTimeoutPushesTheStopTimeoutBackBeforeSIGKILL) {
  Supervised s;
  // stop_timeout 1 s; on SIGTERM it asks for 1 s more, four times, 0.5 s
  // apart (2 s in all), then exits 0: never SIGKILLed.
  std::string py = python(s, "flusher",
                          "term = False\n"
                          "def on_term(signo, frame):\n    global term\n    term = True\n"
                          "signal.signal(signal.SIGTERM, on_term)\n"
                          "daemon.notify('READY=1')\n"
                          "while not term: time.sleep(0.05)\n"
                          "for i in range(4):\n"
                          "    daemon.notify('EXTEND_TIMEOUT_USEC=1000000')\n"
                          "    time.sleep(0.5)\n"
                          "put('flushed', 'yes')\n"
                          "sys.exit(0)\n");
  s.service("flusher",
            std::string("type = \"notify\"\nstop_timeout = 1\ncommand = [\"") + kPython + "\", \"" + py + "\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(event(*k, "flusher", "ready")) << k->text(Stream::Err);
  EXPECT_EQ(s.ctl({"stop", "flusher"}).code, 0);
  ASSERT_TRUE(event(*k, "flusher", "stopped")) << k->text(Stream::Err);
  EXPECT_EQ(s.read("flushed"), "yes");
  EXPECT_TRUE(event(*k, "flusher", "pid")) << k->text(Stream::Err);
  EXPECT_EQ(detail(s, "flusher", "last exit"), "exited 0") << k->text(Stream::Err);
  EXPECT_EQ(count_events(*k, "flusher", "failed"), 0) << k->text(Stream::Err);
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

TEST_P(NotifyMoreTest, KeelctlReloadWaitsForTheReloadCycleOrRestarts) {
  Supervised s;
  std::string py = python(s, "web",
                          "reloads = 0\nwant = False\n"
                          "def on_hup(signo, frame):\n    global want\n    want = True\n"
                          "signal.signal(signal.SIGHUP, on_hup)\n"
                          "daemon.notify('READY=1')\n"
                          "while True:\n"
                          "    time.sleep(0.05)\n"
                          "    if not want: continue\n"
                          "    want = False\n"
                          "    daemon.notify('RELOADING=1\\nMONOTONIC_USEC=%d' % (time.monotonic_ns() // 1000))\n"
                          "    put('reloading', str(reloads + 1))\n"
                          "    time.sleep(0.5)\n"
                          "    reloads += 1\n"
                          "    put('reloads', str(reloads))\n"
                          "    daemon.notify('READY=1')\n");
  s.service("web", std::string("type = \"notify\"\nreload_signal = \"SIGHUP\"\nstart_timeout = 30\ncommand = [\"") +
                       kPython + "\", \"" + py + "\"]\n");
  s.service("plain", "command = [\"/bin/sleep\", \"600\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(event(*k, "web", "ready")) << k->text(Stream::Err);
  ASSERT_TRUE(event(*k, "plain", "ready")) << k->text(Stream::Err);
  Ctl r = s.ctl({"reload", "web"});
  EXPECT_EQ(r.code, 0) << r.out << r.err << k->text(Stream::Err);
  EXPECT_EQ(r.out, "web: reloaded\n");
  // Answered after the cycle's READY=1, which the service sends after
  // writing its count.
  EXPECT_EQ(s.read("reloads"), "1");
  EXPECT_TRUE(event(*k, "web", "reloading")) << k->text(Stream::Err);
  EXPECT_EQ(detail(s, "web", "state"), "running");
  EXPECT_EQ(count_events(*k, "web", "started"), 1);
  // Without reload_signal: a restart, answered once it is ready again.
  Ctl p = s.ctl({"reload", "plain"});
  EXPECT_EQ(p.code, 0) << p.out << p.err;
  EXPECT_EQ(p.out, "plain has no reload_signal: restarted\n");
  EXPECT_EQ(count_events(*k, "plain", "started"), 2) << k->text(Stream::Err);
  EXPECT_EQ(s.ctl({"reload", "nosuch"}).code, 3);
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

TEST_P(NotifyMoreTest, ReloadOfAPlainDaemonIsTheSignalAndASilentNotifyServiceTimesOut) {
  Supervised s;
  // A simple service: the signal is the whole reload (it counts its HUPs).
  std::string plain = python(s, "plain",
                             "hups = 0\n"
                             "def on_hup(signo, frame):\n    global hups\n    hups += 1\n    put('hups', str(hups))\n"
                             "signal.signal(signal.SIGHUP, on_hup)\n"
                             "put('plain-up', 'yes')\n"
                             "while True: time.sleep(0.05)\n");
  // A notify service that takes the signal and never reports a cycle.
  std::string mute = python(s, "mute",
                            "signal.signal(signal.SIGUSR1, lambda signo, frame: put('usr1', 'yes'))\n"
                            "daemon.notify('READY=1')\n"
                            "while True: time.sleep(0.05)\n");
  s.service("plain", std::string("reload_signal = 1\ncommand = [\"") + kPython + "\", \"" + plain + "\"]\n");
  s.service("mute", std::string("type = \"notify\"\nreload_signal = \"USR1\"\nstart_timeout = 1\ncommand = [\"") +
                        kPython + "\", \"" + mute + "\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(event(*k, "mute", "ready")) << k->text(Stream::Err);
  ASSERT_TRUE(poll_until([&] { return s.read("plain-up") == "yes"; }, 20s, 20ms));
  Ctl p = s.ctl({"reload", "plain"});
  EXPECT_EQ(p.code, 0) << p.out << p.err;
  EXPECT_EQ(p.out, "plain: sent SIGHUP\n");
  EXPECT_TRUE(poll_until([&] { return s.read("hups") == "1"; }, 10s, 20ms));
  Ctl m = s.ctl({"reload", "mute"});
  EXPECT_EQ(m.code, 5) << m.out << m.err;  // timed out
  EXPECT_NE(m.err.find("timed out waiting for mute's reload"), std::string::npos) << m.out << m.err;
  EXPECT_EQ(s.read("usr1"), "yes");
  EXPECT_EQ(detail(s, "mute", "state"), "reloading");  // until it says READY=1
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

TEST_P(NotifyMoreTest, StoppingAndErrnoAreShownAndACleanExitAfterStoppingIsNoFailure) {
  Supervised s;
  std::string py = python(s, "quitter",
                          "daemon.notify('READY=1')\n"
                          "daemon.notify('ERRNO=5')\n"
                          "os.system('systemd-notify STOPPING=1')\n"
                          "put('stopping-sent', 'yes')\n"
                          "while not os.path.exists(OUT + '/go'): time.sleep(0.05)\n"
                          "sys.exit(0)\n");
  s.service("quitter", std::string("type = \"notify\"\nrestart = \"on-failure\"\ncommand = [\"") + kPython + "\", \"" +
                           py + "\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(event(*k, "quitter", "says it is stopping")) << k->text(Stream::Err);
  EXPECT_EQ(detail(s, "quitter", "state"), "stopping");
  EXPECT_EQ(detail(s, "quitter", "errno"), "5 (Input/output error)");
  Ctl json = s.ctl({"status", "quitter", "--json"});
  EXPECT_NE(json.out.find("\"errno\": 5, \"errno_text\": \"Input/output error\""), std::string::npos) << json.out;
  std::ofstream(s.path("go")) << "go";
  ASSERT_TRUE(event(*k, "quitter", "done")) << k->text(Stream::Err);
  EXPECT_EQ(detail(s, "quitter", "state"), "done");
  EXPECT_EQ(detail(s, "quitter", "restarts"), "0");
  EXPECT_EQ(detail(s, "quitter", "errno"), "5 (Input/output error)");  // kept after the run
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

INSTANTIATE_TEST_SUITE_P(Placements, NotifyMoreTest, ::testing::Values(Placement::Subreaper, Placement::Namespace),
                         [](const ::testing::TestParamInfo<Placement>& p) { return placement_name(p.param); });

}  // namespace
}  // namespace keel::systest
