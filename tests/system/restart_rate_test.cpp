// restart_rate_test.cpp — crash-looping services cannot saturate keel
// (limits.hpp: kRestartMinIntervalNs, kRestartBurst, kRestartWindowNs).
//
// Services that exit at once, restart = "always", restart_delay = 0: keel
// used to restart each one as fast as it could fork, so PID 1 spent all the
// CPU it could get on them. Now each is started at most once a second and at
// most 5 times within 10 s. Asserted as bounds, not timings: the restart
// counts keel reports (at most 5 per service per started 10 s of keel's
// life, whatever the machine's load), keel's own CPU time (utime + stime
// from /proc/PID/stat) under half of the wall time, and `keelctl status`
// answering within a bound.
//
// 20 services, not hundreds: without cgroups (none here to delegate) each
// start costs keel about 5 ms on a loaded 2-core machine (the clone, and a
// /proc walk per exit to find the service's leftovers), so 200 services
// at one start a second each would be all the CPU such a machine gives keel,
// limits or not; 20 keep the limited keel well inside it while the
// unlimited one still spins (old code: thousands of restarts).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "harness.hpp"

namespace keel::systest {
namespace {

// keel's CPU time so far (user + system), in seconds.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);  // one line
  // Fields after "(comm)": state is field 3, utime 14, stime 15.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

TEST(RestartRate, ZeroDelayCrashLoopsDoNotSaturateKeel) {
  if (!namespaces_available()) GTEST_SKIP() << "unshare --pid is not available here";
  constexpr int kServices = 20;
  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/services");
  for (int i = 0; i < kServices; ++i) {
    std::ofstream(dir.path() + "/services/crash" + std::to_string(i) + ".toml")
        << "restart = \"always\"\nrestart_delay = 0\nrestart_delay_max = 0\ncommand = [\"/bin/false\"]\n";
  }
  const std::string socket = dir.path() + "/run/control.sock";
  auto ctl = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{"ctl", "--socket", socket};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_through(program_launch(Placement::Subreaper, keel_binary(), argv));
  };
  // As PID 1 of a namespace, without cgroups (a fork is all a start costs).
  Launch l = keel_launch(Placement::Namespace, {"--role=system"});
  l.set_env = {{"KEEL_CONFIG_DIR", dir.path()}, {"KEEL_RUN_DIR", dir.path() + "/run"}, {"KEEL_CGROUP_ROOT", "none"}};
  KeelRun k(l);
  const auto t0 = Clock::now();
  const pid_t pid = k.keel_pid();
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(poll_until([&] { return ctl({"status"}).code == 0; }, 10s, 20ms));

  // Watch until 8 s after the start (3 s at least, on a slow machine).
  // Reading keel's output meanwhile (find_line pumps it until its deadline):
  // keel's stderr is a pipe to this test, and a full pipe would stall keel
  // for reasons that are not this test's.
  const auto watch_until = std::max(t0 + 8s, Clock::now() + 3s);
  (void)k.find_line(Stream::Err, "no such line: only pumping output",
                    std::chrono::duration_cast<Duration>(watch_until - Clock::now()));
  // keel's CPU over its whole life (start-up included).
  const double cpu = cpu_seconds(pid);
  const double window = std::chrono::duration<double>(Clock::now() - t0).count();

  // keelctl answers promptly however busy the services keep keel. keelctl
  // runs alongside while keel's output is read, so keel never waits on it.
  const auto asked = Clock::now();
  KeelRun status_run(program_launch(Placement::Subreaper, keel_binary(), {"ctl", "--socket", socket, "status", "--json"}));
  std::optional<int> status_code;
  while (!status_code && Clock::now() - asked < 20s) {
    (void)k.find_line(Stream::Err, "no such line: only pumping output", 20ms);
    status_code = status_run.try_wait_exit(20ms);
  }
  const auto answered_in = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - asked);
  ASSERT_EQ(status_code, 0) << "keelctl status: no answer within " << answered_in.count() << " ms";
  EXPECT_LT(answered_in, 5s);
  // Keel's whole life so far: no service can have been started more than 5
  // times in each 10 s of it, however slowly keel got through its work.
  const double life = std::chrono::duration<double>(Clock::now() - t0).count();
  const long allowed = 5 * (static_cast<long>(life / 10) + 1);
  const std::string status = status_run.text(Stream::Out);

  const std::regex restarts("\"restarts\": ([0-9]+)");
  long total = 0;
  long most = 0;
  int services = 0;
  for (auto it = std::sregex_iterator(status.begin(), status.end(), restarts); it != std::sregex_iterator();
       ++it) {
    const long n = std::stol((*it)[1]);
    total += n;
    most = std::max(most, n);
    ++services;
  }
  EXPECT_GE(services, kServices);
  EXPECT_LE(most, allowed) << "a service was restarted more than 5 times per 10 s (" << life << " s in all)";
  EXPECT_GE(most, 1) << "the services were not restarted at all";
  // A few fork+execs a second in all: a small part of a CPU. Unbounded,
  // keel spins on them.
  EXPECT_LT(cpu, 0.5 * window) << "keel used " << cpu << " s of CPU in " << window << " s; " << total
                               << " restarts in all";
  std::cerr << "restart_rate: keel CPU " << cpu << " s in " << window << " s, " << total << " restarts in "
            << life << " s (most " << most << ", allowed " << allowed << "), status in " << answered_in.count()
            << " ms\n";
  k.signal(SIGTERM);
  EXPECT_TRUE(k.wait_exit(60s));
}

}  // namespace
}  // namespace keel::systest
