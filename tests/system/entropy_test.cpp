// keel never blocks on the kernel's RNG: the real binary in the system role,
// with services, run under `strace -f`, as PID 1 of a fresh PID namespace
// (strace outside it: `strace -f unshare --pid --fork ... keel`) and as a
// subreaper (`strace -f keel`). The trace is then read process by process:
// a pid runs keel's code from its execve of the keel binary (or its fork
// from a pid that does) until it execs something else, and for those pids
//
//   * every getrandom() carries GRND_NONBLOCK or GRND_INSECURE (a blocking
//     one, flags 0 or GRND_RANDOM alone, would stall a starved boot);
//   * /dev/random, if opened at all (the rng-ready watch opens it to poll),
//     is never read, and neither is /dev/urandom (on Linux 5.18+ a read
//     before the RNG is ready waits for the kernel's jitter entropy).
//
// So that the check cannot pass by missing things, services do exactly what
// keel must not: a Python service calls os.urandom (a blocking getrandom,
// flags 0, in Python 3.11) and a shell service reads /dev/random. The test
// asserts the trace saw both, attributed to those services' pids, not to
// keel's.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"

namespace keel::systest {
namespace {

std::string find_strace() {
  for (const char* p : {"/usr/bin/strace", "/bin/strace", "/usr/local/bin/strace"}) {
    if (installed(p)) return p;
  }
  return "";
}

// One syscall from the trace, its "<unfinished ...>" and "<... resumed>"
// halves joined: pid, name, the text between the parentheses, the result.
struct Call {
  pid_t pid = 0;
  std::string name;
  std::string args;
  std::string result;  // what follows " = " ("0", "3", "-1 EAGAIN (...)")
  std::string line;    // as strace wrote it (the first half, for a split one)
};

std::vector<Call> parse_trace(const std::string& text) {
  std::vector<Call> calls;
  std::map<pid_t, Call> pending;  // unfinished calls, by pid
  for (const std::string& raw : split_lines(text)) {
    std::istringstream in(raw);
    pid_t pid = 0;
    if (!(in >> pid)) continue;
    std::string rest = raw.substr(raw.find_first_not_of(' ', raw.find(' ')));
    if (starts_with(rest, "+++") || starts_with(rest, "---")) continue;  // exits, signals
    Call call;
    std::string tail;
    if (starts_with(rest, "<... ")) {
      auto it = pending.find(pid);
      if (it == pending.end()) continue;
      call = it->second;
      pending.erase(it);
      auto resumed = rest.find(" resumed>");
      if (resumed == std::string::npos) continue;
      tail = rest.substr(resumed + 9);
    } else {
      auto paren = rest.find('(');
      if (paren == std::string::npos) continue;
      call.pid = pid;
      call.name = rest.substr(0, paren);
      call.line = raw;
      tail = rest.substr(paren + 1);
    }
    auto unfinished = tail.find(" <unfinished ...>");
    if (unfinished != std::string::npos) {
      call.args += tail.substr(0, unfinished);
      pending[pid] = call;
      continue;
    }
    // The result follows the last " = " (strace pads a resumed call's
    // ")" with spaces); the arguments end at the last ")" before it.
    auto eq = tail.rfind(" = ");
    if (eq == std::string::npos) continue;
    auto close = tail.rfind(')', eq);
    if (close == std::string::npos) continue;
    call.args += tail.substr(0, close);
    call.result = tail.substr(eq + 3);
    calls.push_back(call);
  }
  return calls;
}

// The first argument when it is a quoted string (a path).
std::string first_string(const std::string& args) {
  auto open = args.find('"');
  if (open == std::string::npos) return "";
  auto close = args.find('"', open + 1);
  return close == std::string::npos ? "" : args.substr(open + 1, close - open - 1);
}

// What the trace says about keel and about everyone else.
struct Findings {
  std::vector<std::string> keel_blocking_getrandom;  // keel's getrandom without NONBLOCK/INSECURE
  std::vector<std::string> keel_dev_random_reads;    // keel reading an fd it opened on /dev/random
  std::vector<std::string> keel_urandom_reads;       // keel reading /dev/urandom (see below)
  std::vector<std::string> keel_getrandom;           // every getrandom of keel's, for the report
  std::vector<std::string> keel_dev_random_opens;
  int keel_pids = 0;
  int rng_wait_helpers = 0;  // `keel --rng-wait` processes (the rng-ready service)
  int other_blocking_getrandom = 0;  // the services' (Python's os.urandom)
  int other_dev_random_reads = 0;    // the services' (head /dev/random)
};

Findings analyse(const std::vector<Call>& calls, const std::string& keel_path) {
  Findings f;
  std::map<pid_t, bool> is_keel;                    // the image each pid runs now
  std::map<pid_t, std::set<std::string>> random_fds;   // fds open on /dev/random, by pid
  std::map<pid_t, std::set<std::string>> urandom_fds;  // fds open on /dev/urandom, by pid
  std::set<pid_t> seen_keel;
  for (const Call& c : calls) {
    bool keel = is_keel.count(c.pid) != 0 && is_keel[c.pid];
    if (c.name == "execve" || c.name == "execveat") {
      if (c.result == "0") {
        // The rng-ready helper (`keel --rng-wait`, exec'd as /proc/self/exe)
        // is a program of its own whose job is to wait for the RNG: not
        // keel's PID-1 code, whatever binary it is.
        bool helper = contains(c.args, "--rng-wait");
        is_keel[c.pid] = first_string(c.args) == keel_path && !helper;
        if (helper) ++f.rng_wait_helpers;
        random_fds.erase(c.pid);
        urandom_fds.erase(c.pid);
        if (is_keel[c.pid] && seen_keel.insert(c.pid).second) ++f.keel_pids;
      }
      continue;
    }
    if (c.name == "clone" || c.name == "clone3" || c.name == "fork" || c.name == "vfork") {
      // A child runs its parent's code (keel's spawn path, before its
      // execve) with its parent's fds.
      pid_t child = std::atoi(c.result.c_str());
      if (child > 0) {
        is_keel[child] = keel;
        random_fds[child] = random_fds[c.pid];
        urandom_fds[child] = urandom_fds[c.pid];
        if (keel && seen_keel.insert(child).second) ++f.keel_pids;
      }
      continue;
    }
    if (c.name == "getrandom") {
      auto comma = c.args.rfind(", ");
      std::string flags = comma == std::string::npos ? "" : c.args.substr(comma + 2);
      bool safe = contains(flags, "GRND_NONBLOCK") || contains(flags, "GRND_INSECURE") || flags == "0x4" ||
                  flags == "0x1" || flags == "0x5";
      if (keel) {
        f.keel_getrandom.push_back(c.line);
        if (!safe) f.keel_blocking_getrandom.push_back(c.line);
      } else if (!safe) {
        ++f.other_blocking_getrandom;
      }
      continue;
    }
    if (c.name == "open" || c.name == "openat") {
      std::string path = first_string(c.args);
      bool ok = !starts_with(c.result, "-") && c.result != "?";
      if (path == "/dev/urandom" && ok) urandom_fds[c.pid].insert(std::to_string(std::atoi(c.result.c_str())));
      if (path != "/dev/random") continue;
      if (keel) f.keel_dev_random_opens.push_back(c.line);
      if (ok) random_fds[c.pid].insert(std::to_string(std::atoi(c.result.c_str())));
      continue;
    }
    if (c.name == "read") {
      std::string fd = c.args.substr(0, c.args.find(','));
      if (keel && urandom_fds[c.pid].count(fd) != 0) f.keel_urandom_reads.push_back(c.line);
      if (random_fds[c.pid].count(fd) == 0) continue;
      if (keel) {
        f.keel_dev_random_reads.push_back(c.line);
      } else {
        ++f.other_dev_random_reads;
      }
    }
  }
  return f;
}

std::string joined_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += "  " + l + "\n";
  return out;
}

class EntropyTest : public ::testing::TestWithParam<Placement> {
 protected:
  void SetUp() override {
    strace_ = find_strace();
    if (strace_.empty()) GTEST_SKIP() << "strace is not installed (dev.sh's TEST_PACKAGES should have it)";
    if (GetParam() == Placement::Namespace && !namespaces_available()) {
      GTEST_SKIP() << "unshare --pid is not available here";
    }
    if (!installed("/usr/bin/python3")) GTEST_SKIP() << "python3 is needed for the blocking-getrandom service";
  }
  std::string strace_;
};

bool keel_event(KeelRun& k, const std::string& service, const std::string& what) {
  return seen(k, Stream::Err, [&](const std::string& l) { return starts_with(l, "keel: " + service + ": " + what); },
              20s)
      .has_value();
}

TEST_P(EntropyTest, KeelNeverBlocksOnTheKernelRngAndNeverReadsDevRandom) {
  TempDir dir;
  std::string services = dir.path() + "/services";
  ASSERT_EQ(::mkdir(services.c_str(), 0755), 0);
  auto service = [&](const std::string& name, const std::string& toml) {
    std::ofstream(services + "/" + name + ".toml") << toml;
  };
  // What keel must never do itself, done by services (ready once done).
  service("urandom-py",
          "type = \"notify-fd\"\nnotify_fd = 3\ncommand = [\"/usr/bin/python3\", \"-c\", "
          "\"import os, time; os.urandom(16); os.write(3, b'\\\\n'); time.sleep(600)\"]\n");
  service("devrandom-sh",
          "type = \"notify-fd\"\nnotify_fd = 3\ncommand = [\"/bin/sh\", \"-c\", "
          "\"head -c 8 /dev/random >/dev/null; echo >&3; exec sleep 600\"]\n");
  service("plain", "command = [\"/bin/sleep\", \"600\"]\n");
  // Waits for the built-in rng-ready service, whose helper may block.
  service("needs-rng", "requires = [\"rng-ready\"]\ncommand = [\"/bin/sleep\", \"600\"]\n");
  service("after", "requires = [\"urandom-py\", \"devrandom-sh\"]\ncommand = [\"/bin/sleep\", \"600\"]\n");

  std::string trace = dir.path() + "/trace";
  std::vector<std::string> args{"-f", "-qq", "-s", "256", "-o", trace,
                                "-e", "trace=getrandom,open,openat,read,execve,execveat,clone,clone3,fork,vfork"};
  if (GetParam() == Placement::Namespace) {
    // strace outside the namespace, so keel itself is its PID 1.
    for (const char* a : {"unshare", "--pid", "--fork", "--mount-proc", "--kill-child"}) args.emplace_back(a);
  }
  args.push_back(keel_binary());
  args.emplace_back("--role=system");
  Launch l = program_launch(Placement::Subreaper, strace_, args);
  l.set_env = {{"KEEL_CONFIG_DIR", dir.path()}, {"KEEL_RUN_DIR", dir.path() + "/run"}, {"KEEL_CGROUP_ROOT", "none"}};
  KeelRun k(l);
  ASSERT_TRUE(k.started());
  ASSERT_TRUE(keel_event(k, "after", "ready")) << k.text(Stream::Err);
  ASSERT_TRUE(keel_event(k, "plain", "ready")) << k.text(Stream::Err);
  ASSERT_TRUE(keel_event(k, "needs-rng", "ready")) << k.text(Stream::Err);

  // keel's own pid (strace's tracee, or PID 1 of the namespace): the
  // shallowest process below strace that runs the keel binary.
  pid_t keel = -1;
  for (const ProcEntry& p : descendants(k.runner_pid())) {
    if (read_link("/proc/" + std::to_string(p.pid) + "/exe") == keel_binary()) {
      keel = p.pid;
      break;
    }
  }
  ASSERT_GT(keel, 0);
  if (GetParam() == Placement::Namespace) {
    auto nspid = status_field(keel, "NSpid");
    ASSERT_TRUE(nspid);
    EXPECT_TRUE(nspid->size() >= 2 && nspid->substr(nspid->size() - 2) == "\t1") << *nspid;
  }
  ASSERT_EQ(::kill(keel, SIGTERM), 0);
  ASSERT_TRUE(k.wait_exit(30s));  // strace ends when its last tracee does

  std::ifstream in(trace);
  std::stringstream text;
  text << in.rdbuf();
  std::vector<Call> calls = parse_trace(text.str());
  ASSERT_FALSE(calls.empty()) << "empty trace";
  Findings f = analyse(calls, keel_binary());

  EXPECT_GE(f.keel_pids, 5) << "keel and its forks (four services) should be in the trace";
  EXPECT_TRUE(f.keel_blocking_getrandom.empty()) << "keel called getrandom() without GRND_NONBLOCK:\n"
                                                 << joined_lines(f.keel_blocking_getrandom);
  EXPECT_TRUE(f.keel_dev_random_reads.empty()) << "keel read /dev/random:\n" << joined_lines(f.keel_dev_random_reads);
  // Since Linux 5.18 a read of /dev/urandom before the RNG is ready runs
  // the jitter entropy generator in the reader (about a second in QEMU):
  // a wait on the RNG too. keel reads it only on kernels without
  // GRND_INSECURE (before 5.6), never on this one.
  EXPECT_TRUE(f.keel_urandom_reads.empty()) << "keel read /dev/urandom:\n" << joined_lines(f.keel_urandom_reads);
  // The check is live: the services' forbidden calls were seen, and were
  // not counted as keel's.
  EXPECT_GE(f.other_blocking_getrandom, 1) << "Python's os.urandom (getrandom, flags 0) is missing from the trace";
  EXPECT_EQ(f.rng_wait_helpers, 1) << "the rng-ready helper should have run once";
  EXPECT_GE(f.other_dev_random_reads, 1) << "the service's read of /dev/random is missing from the trace";
  // For the record (--gtest_also_run_disabled_tests is not needed: this is
  // printed on every run): what keel itself asked for.
  std::printf("keel's getrandom calls (%zu):\n%skeel's opens of /dev/random (%zu):\n%s", f.keel_getrandom.size(),
              joined_lines(f.keel_getrandom).c_str(), f.keel_dev_random_opens.size(),
              joined_lines(f.keel_dev_random_opens).c_str());
}

INSTANTIATE_TEST_SUITE_P(Placements, EntropyTest, ::testing::Values(Placement::Subreaper, Placement::Namespace),
                         [](const ::testing::TestParamInfo<Placement>& p) { return std::string(placement_name(p.param)); });

}  // namespace
}  // namespace keel::systest
