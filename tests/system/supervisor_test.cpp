// The supervisor, driven from outside: the real keel binary in the system
// role, as PID 1 of a fresh PID namespace and as a plain subreaper, with
// service files in a temporary folder and keelctl (the same binary) talking
// to its control socket. Each test asserts the order of keel's own events
// (its "NAME: started / ready / done / stopping / stopped" lines), never
// sleeps for a result, and is bounded by the harness's deadlines.
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
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

// ------------------------------------------------------------ fixtures

// Index of the first stderr line that is the event; -1 if none.
int index_of(KeelRun& k, const std::string& service, const std::string& what) {
  const auto& lines = k.lines(Stream::Err);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (is_event(lines[i], service, what)) return static_cast<int>(i);
  }
  return -1;
}

// Processes whose command line contains `needle` (a test's unique marker).
std::vector<pid_t> processes_with(const std::string& needle) {
  std::vector<pid_t> out;
  for (const ProcEntry& p : proc_table()) {
    std::string cmd = read_file("/proc/" + std::to_string(p.pid) + "/cmdline");
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    if (cmd.find(needle) != std::string::npos) out.push_back(p.pid);
  }
  return out;
}

class SupervisorTest : public ::testing::TestWithParam<Placement> {
 protected:
  void SetUp() override {
    if (GetParam() == Placement::Namespace && !namespaces_available()) {
      GTEST_SKIP() << "unshare --pid is not available here";
    }
  }
};

// ------------------------------------------------------------ start-up

TEST_P(SupervisorTest, IndependentServicesStartInParallelAndADependentWaitsForThemToBeReady) {
  Supervised s;
  // a and b get ready only after a pause; c requires both.
  for (const char* n : {"a", "b"}) {
    s.service(n, "type = \"notify-fd\"\nnotify_fd = 3\ncommand = [\"/bin/sh\", \"-c\", \"sleep 0.3; echo >&3; exec sleep 600\"]\n");
  }
  s.service("c", "requires = [\"a\", \"b\"]\ncommand = [\"/bin/sleep\", \"600\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(has_event(*k, "c", "ready"));
  int a_started = index_of(*k, "a", "started"), b_started = index_of(*k, "b", "started");
  int a_ready = index_of(*k, "a", "ready"), b_ready = index_of(*k, "b", "ready");
  int c_started = index_of(*k, "c", "started");
  ASSERT_GE(a_started, 0);
  ASSERT_GE(b_started, 0);
  // Parallel: both were started before either was ready.
  EXPECT_LT(std::max(a_started, b_started), std::min(a_ready, b_ready)) << k->text(Stream::Err);
  // Ordered: c only once both are ready.
  EXPECT_GT(c_started, std::max(a_ready, b_ready)) << k->text(Stream::Err);
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

TEST_P(SupervisorTest, OneshotGatesItsDependentsAndAFailedRequirementFailsThemWithTheReason) {
  Supervised s;
  std::string flag = s.path("prepared");
  s.service("prepare", "type = \"oneshot\"\ncommand = [\"/bin/sh\", \"-c\", \"sleep 0.2; touch " + flag + "\"]\n");
  s.service("app", "requires = [\"prepare\"]\ncommand = [\"/bin/sh\", \"-c\", \"test -e " + flag +
                       " && echo saw-flag; exec sleep 600\"]\n");
  s.service("broken", "type = \"oneshot\"\nrestart = \"never\"\ncommand = [\"/bin/sh\", \"-c\", \"exit 4\"]\n");
  s.service("victim", "requires = [\"broken\"]\ncommand = [\"/bin/sleep\", \"600\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(has_event(*k, "app", "ready"));
  EXPECT_LT(index_of(*k, "prepare", "done"), index_of(*k, "app", "started"));
  ASSERT_TRUE(has_event(*k, "victim", "failed: dependency broken failed"));
  EXPECT_EQ(index_of(*k, "victim", "started"), -1);
  ASSERT_TRUE(control_up(s));
  // "ready" comes at the exec; its line may reach keel's ring a little later.
  Ctl log = s.ctl({"log", "app"});
  for (int i = 0; i < 50 && log.out.find(" saw-flag") == std::string::npos; ++i) {
    std::this_thread::sleep_for(100ms);
    log = s.ctl({"log", "app"});
  }
  EXPECT_NE(log.out.find(" saw-flag"), std::string::npos) << log.out << log.err;
  Ctl st = s.ctl({"status", "broken"});
  EXPECT_NE(st.out.find("exited with status 4"), std::string::npos) << st.out;
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

TEST_P(SupervisorTest, SdNotifyReadinessFromARealSystemdNotify) {
  if (!installed("/usr/bin/systemd-notify") && !installed("/bin/systemd-notify")) {
    GTEST_SKIP() << "systemd-notify is not installed (package systemd)";
  }
  Supervised s;
  // systemd-notify is a child of the script, not the main process: keel
  // believes it because the message came through this service's socket.
  s.service("daemon", "type = \"notify\"\ncommand = [\"/bin/sh\", \"-c\", "
                      "\"sleep 0.3; systemd-notify --ready --status=serving; exec sleep 600\"]\n");
  s.service("client", "requires = [\"daemon\"]\ncommand = [\"/bin/sleep\", \"600\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(has_event(*k, "client", "ready")) << k->text(Stream::Err);
  EXPECT_LT(index_of(*k, "daemon", "ready"), index_of(*k, "client", "started"));
  ASSERT_TRUE(control_up(s));
  Ctl st = s.ctl({"status", "daemon"});
  EXPECT_NE(st.out.find("serving"), std::string::npos) << st.out;
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

TEST_P(SupervisorTest, NotReadyWithinTheStartTimeoutIsAFailure) {
  Supervised s;
  s.service("mute", "type = \"notify\"\nstart_timeout = 0.3\nrestart = \"never\"\ncommand = [\"/bin/sleep\", \"600\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(has_event(*k, "mute", "failed: not ready within"));
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

// ------------------------------------------------------------ restarts

TEST_P(SupervisorTest, CrashLoopBacksOffExponentially) {
  Supervised s;
  // Each run lasts over a second, so the start-rate floor (1 s between
  // starts, 5 starts in 10 s: limits.hpp) leaves the back-off as it is for
  // the first 4 restarts.
  s.service("crash", "restart = \"always\"\nrestart_delay = 0.1\nrestart_delay_max = 0.4\n"
                     "command = [\"/bin/sh\", \"-c\", \"sleep 1.1; exit 3\"]\n");
  auto k = s.start(GetParam());
  std::vector<long> delays;
  std::vector<Clock::time_point> started;
  const std::regex backoff("keel: crash: restarting in ([0-9]+) ms \\(failure ([0-9]+)\\)");
  for (int i = 1; i <= 4; ++i) {
    auto line = k->find_line(Stream::Err, [&](const std::string& l) {
      return l.find("keel: crash: restarting in") != std::string::npos;
    });
    ASSERT_TRUE(line) << k->text(Stream::Err);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(*line, m, backoff)) << *line;
    EXPECT_EQ(std::stol(m[2]), i);
    delays.push_back(std::stol(m[1]));
    auto st = k->find_line(Stream::Err, "keel: crash: started");
    ASSERT_TRUE(st);
    started.push_back(Clock::now());
  }
  // Nominal delays 100, 200, 400, 400 ms, less up to a quarter of jitter.
  const long nominal[] = {100, 200, 400, 400};
  for (int i = 0; i < 4; ++i) {
    EXPECT_LE(delays[i], nominal[i]) << i;
    EXPECT_GE(delays[i], nominal[i] * 3 / 4) << i;
  }
  // Measured: restarts are at least the announced delay apart.
  for (int i = 1; i < 4; ++i) {
    auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(started[i] - started[i - 1]).count();
    EXPECT_GE(gap, delays[i] * 9 / 10) << "restart " << i;
  }
  ASSERT_TRUE(control_up(s));
  Ctl st = s.ctl({"status", "crash", "--json"});
  EXPECT_NE(st.out.find("\"last_exit\": \"exited 3\""), std::string::npos) << st.out;
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

// ------------------------------------------------------------ stopping

void double_fork_daemon_is_stopped(Placement placement, const std::string& cgroup) {
  Supervised s;
  std::string marker = "9" + std::to_string(::getpid() % 100000) + (cgroup == "none" ? "1" : "2");
  // The main process starts a daemon that leaves its group and session
  // (setsid) and is orphaned (the subshell exits): only the cgroup, or,
  // without one, tree_tracker.hpp's rule 3 (an orphan keel adopted while
  // this was the only service running) still ties it to the service.
  s.service("forker", "command = [\"/bin/sh\", \"-c\", \"(setsid sleep " + marker +
                          " &) ; exec sleep 600\"]\nstop_timeout = 5\n");
  auto k = s.start(placement, {{"KEEL_CGROUP_ROOT", cgroup}});
  ASSERT_TRUE(has_event(*k, "forker", "ready"));
  if (cgroup != "none") {  // really with cgroups, not the fallback
    EXPECT_NE(k->text(Stream::Err).find("services get cgroups under " + cgroup), std::string::npos)
        << k->text(Stream::Err);
  }
  ASSERT_TRUE(poll_until([&] { return !processes_with("sleep " + marker).empty(); }, 5s));
  ASSERT_TRUE(control_up(s));
  Ctl stop = s.ctl({"stop", "forker"});
  EXPECT_EQ(stop.code, 0) << stop.err;
  ASSERT_TRUE(has_event(*k, "forker", "stopped")) << k->text(Stream::Err);
  EXPECT_TRUE(processes_with("sleep " + marker).empty()) << "the double-forked daemon escaped";
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

TEST_P(SupervisorTest, DoubleForkingDaemonIsStoppedWithoutCgroups) { double_fork_daemon_is_stopped(GetParam(), "none"); }

TEST_P(SupervisorTest, DoubleForkingDaemonIsStoppedWithCgroupKill) {
  std::string root = cgroup2_root(GetParam() == Placement::Namespace ? "ns" : "sr");
  if (root.empty()) GTEST_SKIP() << "no cgroup2 mount here";
  double_fork_daemon_is_stopped(GetParam(), root);
  ::rmdir((root + "/forker").c_str());
  ::rmdir(root.c_str());
}

// strace, wherever the Debian package or a local build put it; "" if absent.
std::string find_strace() {
  for (const char* p : {"/usr/bin/strace", "/bin/strace", "/usr/local/bin/strace"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

// Without cgroups, a stop finds the service's processes from /proc/PID/stat
// alone (service/tree_tracker.hpp): keel, traced by strace (its own pid's
// calls only), opens no /proc/PID/environ, cmdline or mem (whose reads take
// the target's mmap lock, so a process stuck holding it would stall PID 1),
// signals through pidfds, and still stops a double-forked daemon, while
// processes outside the service, one of them carrying the service's
// KEEL_SERVICE mark, live on.
TEST_P(SupervisorTest, StoppingWithoutCgroupsReadsNoOtherProcessMemoryAndSignalsThroughPidfds) {
  std::string strace = find_strace();
  if (strace.empty()) GTEST_SKIP() << "strace is not installed (dev.sh's TEST_PACKAGES has it)";
  Supervised s;
  std::string tag = std::to_string(::getpid() % 100000);
  std::string m_orphan = "71" + tag;   // fork, setsid, fork, the intermediate exits
  std::string m_daemon = "72" + tag;   // setsid, then a child of its own
  std::string m_child = "73" + tag;    // that child
  std::string m_outside = "74" + tag;  // not keel's at all
  s.service("daemon", "command = [\"/bin/sh\", \"-c\", \"setsid sh -c 'sleep " + m_orphan +
                          " & exit'; setsid sh -c 'sleep " + m_child + " & exec sleep " + m_daemon +
                          "' & exec sleep 600\"]\nstop_timeout = 5\n");
  // Unrelated processes outside keel: one in a session of its own that
  // carries the service's mark, one in the test's own session.
  std::vector<pid_t> outside;
  for (bool with_mark : {true, false}) {
    pid_t p = ::fork();
    if (p == 0) {
      if (with_mark) ::setsid();
      char mark[] = "KEEL_SERVICE=daemon";
      char* envp[] = {mark, nullptr};
      std::string arg = m_outside;
      char* argv[] = {const_cast<char*>("/bin/sleep"), arg.data(), nullptr};
      ::execve("/bin/sleep", argv, with_mark ? envp : environ);
      ::_exit(127);
    }
    ASSERT_GT(p, 0);
    outside.push_back(p);
  }
  struct Reap {
    std::vector<pid_t>& pids;
    ~Reap() {
      for (pid_t p : pids) {
        ::kill(p, SIGKILL);
        ::waitpid(p, nullptr, 0);
      }
    }
  } reap{outside};

  std::string trace = s.path("trace");
  std::vector<std::string> args{"-f", "-qq", "-o", trace, "-e", "trace=open,openat,pidfd_open,pidfd_send_signal"};
  if (GetParam() == Placement::Namespace) {
    // strace outside the namespace, so keel itself is its PID 1.
    for (const char* a : {"unshare", "--pid", "--fork", "--mount-proc", "--kill-child"}) args.emplace_back(a);
  }
  args.push_back(keel_binary());
  args.emplace_back("--role=system");
  Launch l = program_launch(Placement::Subreaper, strace, args);
  l.set_env = {{"KEEL_CONFIG_DIR", s.path("")}, {"KEEL_RUN_DIR", s.path("run")}, {"KEEL_CGROUP_ROOT", "none"}};
  KeelRun k(l);
  ASSERT_TRUE(k.started());
  ASSERT_TRUE(has_event(k, "daemon", "ready")) << k.text(Stream::Err);
  for (const std::string& m : {m_orphan, m_daemon, m_child}) {
    ASSERT_TRUE(poll_until([&] { return !processes_with("sleep " + m).empty(); }, 5s)) << m;
  }
  // The intermediate of the first daemon has exited: nothing but keel's
  // memory of the service ties the orphan to it.
  ASSERT_TRUE(poll_until([&] { return processes_with("sleep " + m_orphan + " & exit").empty(); }, 5s));
  // keel's own pid: the shallowest process below strace running keel.
  pid_t keel = -1;
  for (const ProcEntry& p : descendants(k.runner_pid())) {
    if (read_link("/proc/" + std::to_string(p.pid) + "/exe") == keel_binary()) {
      keel = p.pid;
      break;
    }
  }
  ASSERT_GT(keel, 0);
  ASSERT_TRUE(control_up(s));
  Ctl stop = s.ctl({"stop", "daemon"});
  EXPECT_EQ(stop.code, 0) << stop.err;
  ASSERT_TRUE(has_event(k, "daemon", "stopped")) << k.text(Stream::Err);
  for (const std::string& m : {m_orphan, m_daemon, m_child}) {
    EXPECT_TRUE(processes_with("sleep " + m).empty()) << "sleep " << m << " escaped the stop";
  }
  EXPECT_EQ(processes_with("sleep " + m_outside).size(), 2U) << "a process outside the service was stopped";
  ASSERT_EQ(::kill(keel, SIGTERM), 0);
  ASSERT_TRUE(k.wait_exit(30s));  // strace ends when its last tracee does

  // keel's own lines of the trace ("PID call(...)"): its forks are
  // children about to exec a service, and never stall keel.
  std::istringstream in(read_file(trace));
  std::string prefix = std::to_string(keel) + " ";
  std::regex foreign_memory(R"re(open(at)?\(.*"(/proc/)?[0-9]+/(environ|cmdline|mem)")re");
  std::regex stat_read(R"re(openat\(.*"[0-9]+/stat")re");
  std::vector<std::string> bad;
  int stat_reads = 0;
  int pidfd_signals = 0;
  int keel_lines = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) != 0) continue;
    ++keel_lines;
    if (std::regex_search(line, foreign_memory)) bad.push_back(line);
    if (std::regex_search(line, stat_read)) ++stat_reads;
    if (line.find("pidfd_send_signal(") != std::string::npos) ++pidfd_signals;
  }
  ASSERT_GT(keel_lines, 0) << "no line of keel's pid " << keel << " in the trace";
  std::string joined;
  for (const auto& b : bad) joined += "  " + b + "\n";
  EXPECT_TRUE(bad.empty()) << "keel opened another process's memory files:\n" << joined;
  // The check is live: the walk happened, and the signals went by pidfd.
  EXPECT_GT(stat_reads, 0) << "keel read no /proc/PID/stat: no walk was traced";
  EXPECT_GT(pidfd_signals, 0) << "keel sent no signal through a pidfd";
}

TEST_P(SupervisorTest, ServiceIgnoringTheStopSignalIsKilledAfterItsTimeout) {
  Supervised s;
  s.service("stubborn", "stop_timeout = 0.5\ncommand = [\"/bin/sh\", \"-c\", "
                        "\"trap '' TERM; while :; do sleep 0.05; done\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(has_event(*k, "stubborn", "ready"));
  ASSERT_TRUE(control_up(s));
  auto t0 = Clock::now();
  EXPECT_EQ(s.ctl({"stop", "stubborn"}).code, 0);
  ASSERT_TRUE(has_event(*k, "stubborn", "stopped"));
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  EXPECT_GE(took, 450);  // it was not killed before its timeout
  Ctl st = s.ctl({"status", "stubborn"});
  EXPECT_NE(st.out.find("did not stop within 500 ms: killed"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("SIGKILL"), std::string::npos) << st.out;
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

TEST_P(SupervisorTest, ShutdownStopsInReverseDependencyOrder) {
  Supervised s;
  s.service("db", "command = [\"/bin/sleep\", \"600\"]\n");
  s.service("app", "requires = [\"db\"]\ncommand = [\"/bin/sleep\", \"600\"]\n");
  s.service("web", "after = [\"app\"]\ncommand = [\"/bin/sleep\", \"600\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(has_event(*k, "web", "ready"));
  k->signal(SIGTERM);
  auto code = k->wait_exit();
  ASSERT_TRUE(code);
  int web = index_of(*k, "web", "stopped"), app = index_of(*k, "app", "stopping"),
      app_done = index_of(*k, "app", "stopped"), db = index_of(*k, "db", "stopping");
  EXPECT_LT(web, app) << k->text(Stream::Err);
  EXPECT_LT(app_done, db) << k->text(Stream::Err);
  if (GetParam() == Placement::Subreaper) {
    EXPECT_EQ(*code, 0);
  }
}

// ------------------------------------------------------------ privileges

TEST_P(SupervisorTest, PrivilegesAreDroppedAndTheSignalStateIsClean) {
  Supervised s;
  // The stdout file is opened as the service's user (65534): a folder it
  // can reach and write to.
  fs::permissions(s.path(""), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  fs::create_directories(s.path("out"));
  ASSERT_EQ(::chown(s.path("out").c_str(), 65534, 65534), 0);
  std::string out = s.path("out/status.txt");
  s.service("lowly", "type = \"oneshot\"\nuser = 65534\ngroup = 65534\nsupplementary_groups = [4242]\n"
                     "capabilities = [\"CAP_NET_BIND_SERVICE\"]\nno_new_privileges = true\numask = \"027\"\n"
                     "stdout = \"file:" + out + "\"\ncommand = [\"/bin/cat\", \"/proc/self/status\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(has_event(*k, "lowly", "done")) << k->text(Stream::Err);
  std::string status = read_file(out);
  auto field = [&](const std::string& key) {
    std::regex re("(^|\n)" + key + ":\\s*([^\n]*)");
    std::smatch m;
    return std::regex_search(status, m, re) ? std::string(m[2]) : std::string("<none>");
  };
  EXPECT_EQ(field("Uid"), "65534\t65534\t65534\t65534");
  EXPECT_EQ(field("Gid"), "65534\t65534\t65534\t65534");
  EXPECT_NE(field("Groups").find("4242"), std::string::npos) << field("Groups");
  EXPECT_EQ(field("CapAmb"), "0000000000000400");  // bit 10: CAP_NET_BIND_SERVICE
  EXPECT_EQ(field("CapEff"), "0000000000000400");
  EXPECT_EQ(field("CapBnd"), "0000000000000400");
  EXPECT_EQ(field("NoNewPrivs"), "1");
  EXPECT_EQ(field("SigIgn"), "0000000000000000");
  EXPECT_EQ(field("SigBlk"), "0000000000000000");
  EXPECT_EQ(field("SigCgt"), "0000000000000000");
  EXPECT_EQ(field("Umask"), "0027");
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

// ------------------------------------------------------------ logs

TEST_P(SupervisorTest, LogsAreCapturedAndRotatedWithNothingLostAcrossRestarts) {
  Supervised s;
  std::string file = s.path("logs/chatty.log");
  fs::create_directories(s.path("logs"));
  // Each run writes 300 numbered lines (stdout and stderr), then exits
  // 1; it is restarted 3 times; the file rotates every ~8 KiB.
  std::string counter = s.path("runs");
  // The command lives in a script so the TOML stays readable.
  std::string script = s.path("chatty.sh");
  std::ofstream(script) << "#!/bin/sh\n"
                           "n=$(cat " + counter + " 2>/dev/null || echo 0); n=$((n+1)); echo $n > " + counter + "\n"
                           "i=1; while [ $i -le 300 ]; do echo \"run$n line$i\"; [ $((i%50)) -eq 0 ] && echo \"run$n err$i\" >&2; i=$((i+1)); done\n"
                           "[ $n -ge 4 ] && exec sleep 600\nexit 1\n";
  ::chmod(script.c_str(), 0755);
  s.service("chatty", "restart = \"on-failure\"\nrestart_delay = 0.05\ncommand = [\"" + script + "\"]\n"
                      "[log]\nfile = \"" + file + "\"\nmax_size = 8192\nkeep = 50\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(poll_until([&] { return read_file(counter) == "4\n"; }, 10s));
  ASSERT_TRUE(control_up(s));
  // Every line of every run, exactly once, across the live file and the
  // rotated ones.
  std::vector<std::string> all;
  auto collect = [&] {
    all.clear();
    for (int i = 60; i >= 0; --i) {
      std::string p = i == 0 ? file : file + "." + std::to_string(i);
      std::ifstream in(p);
      for (std::string line; std::getline(in, line);) all.push_back(line);
    }
  };
  auto times_seen = [&](int run, int i) {
    std::string needle = " stdout run" + std::to_string(run) + " line" + std::to_string(i);
    return std::count_if(all.begin(), all.end(), [&](const std::string& l) {
      return l.size() >= needle.size() && l.compare(l.size() - needle.size(), needle.size(), needle) == 0;
    });
  };
  auto each_once = [&] {
    for (int run = 1; run <= 4; ++run) {
      for (int i = 1; i <= 300; ++i) {
        if (times_seen(run, i) != 1) return false;
      }
    }
    return true;
  };
  // The log writer (a process of its own) rotates while this test reads
  // the files, so one reading can miss a file renamed under it: read again
  // until a reading is whole, within the bound.
  (void)poll_until([&] {
    collect();
    return each_once();
  }, 10s);
  for (int run = 1; run <= 4; ++run) {
    for (int i = 1; i <= 300; ++i) ASSERT_EQ(times_seen(run, i), 1) << " run" << run << " line" << i;
  }
  // Time-stamped, with the stream: "2026-11-26T12:00:00.123Z stdout run1 line1".
  EXPECT_TRUE(std::regex_match(all.front(), std::regex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z stdout .*")))
      << all.front();
  // The stderr lines, each once, marked as such.
  for (int run = 1; run <= 4; ++run) {
    for (int i = 50; i <= 300; i += 50) {
      std::string needle = " stderr run" + std::to_string(run) + " err" + std::to_string(i);
      EXPECT_EQ(std::count_if(all.begin(), all.end(), [&](const std::string& l) { return l.ends_with(needle); }), 1)
          << needle;
    }
  }
  EXPECT_TRUE(fs::exists(file + ".1"));
  for (int i = 0; i <= 60; ++i) {
    std::string p = i == 0 ? file : file + "." + std::to_string(i);
    if (fs::exists(p)) {
      EXPECT_LE(fs::file_size(p), 8192U) << p;
    }
  }
  // The ring has the tail, stderr included.
  Ctl tail = s.ctl({"log", "chatty", "-n", "5"});
  EXPECT_EQ(std::count(tail.out.begin(), tail.out.end(), '\n'), 5) << tail.out;
  // (Which 5: the two streams are two pipes, so their relative order is
  // the order keel read them in; each stream's own order is exact.)
  EXPECT_NE(tail.out.find("run4 "), std::string::npos) << tail.out;
  Ctl full = s.ctl({"log", "chatty"});
  EXPECT_NE(full.out.find("Z stdout run4 line300\n"), std::string::npos);
  EXPECT_NE(full.out.find("Z stderr run4 err300\n"), std::string::npos) << full.out;
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

// ------------------------------------------------------------ control

TEST_P(SupervisorTest, KeelctlIsRefusedForANonRootUser) {
  Supervised s;
  s.service("x", "command = [\"/bin/sleep\", \"600\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(control_up(s));
  // The socket directory must be reachable for the refusal to come from
  // keel's SO_PEERCRED check rather than from file permissions.
  ::chmod(s.path("").c_str(), 0755);
  ::chmod(s.path("run").c_str(), 0755);
  ::chmod(s.socket().c_str(), 0666);
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::dup2(pipefd[1], 2);
    ::dup2(pipefd[1], 1);
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) _exit(99);
    std::string sock = s.socket();
    execl(keel_binary().c_str(), "keelctl", "--socket", sock.c_str(), "status", static_cast<char*>(nullptr));
    _exit(98);
  }
  ::close(pipefd[1]);
  std::string text;
  char buf[512];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_EQ(shell_code(status), 4) << text;
  EXPECT_NE(text.find("permission denied"), std::string::npos) << text;
  EXPECT_EQ(s.ctl({"status", "x"}).code, 0);  // root still served
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

TEST_P(SupervisorTest, MalformedMessagesGetErrorsAndKeelKeepsServing) {
  Supervised s;
  s.service("x", "command = [\"/bin/sleep\", \"600\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(control_up(s));
  auto send_raw = [&](const std::string& bytes) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, s.socket().c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return std::string("<connect failed>");
    }
    (void)!::write(fd, bytes.data(), bytes.size());
    ::shutdown(fd, SHUT_WR);
    std::string reply;
    char buf[4096];
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) reply.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return reply;
  };
  // Garbage, a huge declared length, and a truncated header: each gets an
  // answer (or a clean close), and keel keeps serving.
  std::string garbage = send_raw("GET / HTTP/1.0\r\n\r\n");
  EXPECT_FALSE(garbage.empty());
  std::string huge("KEEL\x01\x00\x01\x00\xff\xff\xff\x7f", 12);
  EXPECT_FALSE(send_raw(huge).empty());
  (void)send_raw("KE");
  std::string blob(200000, 'x');
  (void)send_raw(blob);
  Ctl st = s.ctl({"status", "x"});
  EXPECT_EQ(st.code, 0) << st.err;
  EXPECT_NE(st.out.find("running"), std::string::npos);
  EXPECT_EQ(s.ctl({"status", "nope"}).code, 3);
  EXPECT_EQ(s.ctl({"signal", "x", "NOTASIGNAL"}).code, 2);
  EXPECT_FALSE(k->exited());
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

TEST_P(SupervisorTest, ReloadAppliesOnlyTheDifferenceAndKeepsTheOldDefinitionOfABadFile) {
  Supervised s;
  // Sleep lengths unique to this run: the processes are looked for by
  // command line, and other tests (this one's other placement) may run at
  // the same time.
  const std::string id = std::to_string(::getpid());
  auto sleeper = [&](int n) { return "1" + id + std::to_string(n); };
  auto sleep_service = [&](int n) { return "command = [\"/bin/sleep\", \"" + sleeper(n) + "\"]\n"; };
  s.service("same", sleep_service(1));
  s.service("changed", sleep_service(2));
  s.service("gone", sleep_service(3));
  s.service("typo", sleep_service(4));
  auto k = s.start(GetParam());
  for (const char* n : {"same", "changed", "gone", "typo"}) ASSERT_TRUE(has_event(*k, n, "ready"));
  ASSERT_TRUE(control_up(s));
  Ctl before = s.ctl({"status", "same", "--json"});
  s.service("changed", sleep_service(12));
  s.remove_service("gone");
  s.service("new", sleep_service(5));
  s.service("typo", "comand = [\"/bin/sleep\", \"" + sleeper(14) + "\"]\n");
  Ctl r = s.ctl({"reload"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("1 added, 1 changed, 1 removed, 1 kept"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("typo.toml:1: comand: unknown key"), std::string::npos) << r.out;
  ASSERT_TRUE(has_event(*k, "new", "ready"));
  ASSERT_TRUE(has_event(*k, "gone", "removed"));
  ASSERT_TRUE(poll_until([&] { return !processes_with("sleep " + sleeper(12)).empty(); }, 5s));
  EXPECT_TRUE(processes_with("sleep " + sleeper(2)).empty());
  EXPECT_TRUE(processes_with("sleep " + sleeper(3)).empty());
  EXPECT_FALSE(processes_with("sleep " + sleeper(4)).empty());  // the old typo definition still runs
  Ctl after = s.ctl({"status", "same", "--json"});
  // Unchanged: same pid, no restart.
  std::regex pid_re("\"pid\": ([0-9]+)");
  std::smatch m1, m2;
  ASSERT_TRUE(std::regex_search(before.out, m1, pid_re));
  ASSERT_TRUE(std::regex_search(after.out, m2, pid_re));
  EXPECT_EQ(m1[1], m2[1]);
  Ctl typo = s.ctl({"status"});
  EXPECT_NE(typo.out.find("comand"), std::string::npos) << typo.out;
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

TEST_P(SupervisorTest, ControlCommandsStartStopRestartSignalAndWait) {
  Supervised s;
  s.service("svc", "type = \"notify-fd\"\nnotify_fd = 4\nrestart = \"never\"\n"
                   "command = [\"/bin/sh\", \"-c\", \"sleep 0.2; echo >&4; exec sleep 600\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(control_up(s));
  Ctl w = s.ctl({"wait", "svc", "--ready", "--timeout", "10"});
  EXPECT_EQ(w.code, 0) << w.err;
  EXPECT_TRUE(has_event(*k, "svc", "ready"));
  EXPECT_EQ(s.ctl({"stop", "svc"}).code, 0);
  ASSERT_TRUE(has_event(*k, "svc", "stopped"));
  Ctl w2 = s.ctl({"wait", "svc", "--ready", "--timeout", "0.3"});
  EXPECT_EQ(w2.code, 5) << w2.out << w2.err;  // timeout
  EXPECT_EQ(s.ctl({"start", "svc"}).code, 0);
  EXPECT_EQ(s.ctl({"wait", "svc", "--ready", "--timeout", "10"}).code, 0);
  EXPECT_EQ(s.ctl({"restart", "svc"}).code, 0);
  EXPECT_EQ(s.ctl({"wait", "svc", "--ready", "--timeout", "10"}).code, 0);
  EXPECT_EQ(s.ctl({"signal", "svc", "TERM"}).code, 0);
  ASSERT_TRUE(poll_until([&] { return s.ctl({"status", "svc"}).out.find("SIGTERM") != std::string::npos; }, 5s));
  Ctl nope = s.ctl({"start", "nosuch"});
  EXPECT_EQ(nope.code, 3);
  EXPECT_NE(nope.err.find("nosuch"), std::string::npos) << nope.err;
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

TEST_P(SupervisorTest, OnExitPoweroffEndsWithTheServiceStatus) {
  Supervised s;
  s.service("app", "restart = \"never\"\non_exit = \"poweroff\"\ncommand = [\"/bin/sh\", \"-c\", \"exit 7\"]\n");
  s.service("helper", "command = [\"/bin/sleep\", \"600\"]\n");
  auto k = s.start(GetParam());
  auto code = k->wait_exit();
  ASSERT_TRUE(code);
  // Both placements exit with it: a container's power-off is an exit, not
  // reboot(2) (which would end the namespace as "killed by SIGINT").
  EXPECT_EQ(*code, 7);
  EXPECT_GE(index_of(*k, "helper", "stopped"), 0) << k->text(Stream::Err);
}

TEST_P(SupervisorTest, ABadFileNeverStopsTheRest) {
  Supervised s;
  s.service("good", "command = [\"/bin/sleep\", \"600\"]\n");
  s.service("syntax", "command = [\"/bin/sleep\"\n");
  s.service("cycle1", "requires = [\"cycle2\"]\ncommand = [\"/bin/sleep\", \"600\"]\n");
  s.service("cycle2", "after = [\"cycle1\"]\ncommand = [\"/bin/sleep\", \"600\"]\n");
  s.service("nouser", "user = \"no-such-user-here\"\ncommand = [\"/bin/sleep\", \"600\"]\n");
  s.service("missing", "command = [\"/no/such/program\"]\nrestart = \"never\"\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(has_event(*k, "good", "ready"));
  ASSERT_TRUE(has_event(*k, "missing", "failed: cannot start"));
  std::string err = k->text(Stream::Err);
  EXPECT_NE(err.find("syntax.toml:"), std::string::npos) << err;
  EXPECT_NE(err.find("dependency cycle: cycle"), std::string::npos) << err;
  EXPECT_NE(err.find("nouser.toml:1: user:"), std::string::npos) << err;
  ASSERT_TRUE(control_up(s));
  Ctl st = s.ctl({"status"});
  for (const char* n : {"good", "syntax", "cycle1", "cycle2", "nouser", "missing"}) {
    EXPECT_NE(st.out.find(n), std::string::npos) << n << "\n" << st.out;
  }
  EXPECT_NE(st.out.find("No such file or directory"), std::string::npos) << st.out;
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

// Issue 14: nothing requires the built-in rng-ready, so it has not run;
// `keelctl wait rng-ready --ready` starts it (the host's RNG is ready: it is
// done at once) instead of waiting forever. A wait for an ordinary service
// that is down starts nothing (its goal is the operator's).
TEST_P(SupervisorTest, WaitingForABuiltInMilestoneStartsIt) {
  Supervised s;
  s.service("svc", "command = [\"/bin/sleep\", \"600\"]\n");
  s.service("idle", "command = [\"/bin/sleep\", \"600\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(control_up(s));
  ASSERT_TRUE(has_event(*k, "svc", "ready"));
  EXPECT_EQ(s.ctl({"stop", "idle"}).code, 0);
  ASSERT_TRUE(has_event(*k, "idle", "stopped"));
  EXPECT_LT(index_of(*k, "rng-ready", "started"), 0) << k->text(Stream::Err);  // nothing asked for it
  Ctl w = s.ctl({"wait", "rng-ready", "--ready", "--timeout", "20"});
  EXPECT_EQ(w.code, 0) << w.out << w.err;
  EXPECT_TRUE(has_event(*k, "rng-ready", "started")) << k->text(Stream::Err);
  Ctl idle = s.ctl({"wait", "idle", "--ready", "--timeout", "0.3"});
  EXPECT_EQ(idle.code, 5) << idle.out << idle.err;  // timeout: not started by the wait
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

INSTANTIATE_TEST_SUITE_P(Placements, SupervisorTest, ::testing::Values(Placement::Subreaper, Placement::Namespace),
                         [](const ::testing::TestParamInfo<Placement>& p) { return std::string(placement_name(p.param)); });

}  // namespace
}  // namespace keel::systest
