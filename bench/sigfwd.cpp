// keel-bench-sigfwd: signal-forwarding latency through each init, side by
// side.
//
// For every --target it starts
//     unshare --pid --fork --kill-child --mount-proc WORDS... RECEIVER
// (or, for a target with no words, RECEIVER directly: the no-init floor),
// keeps them all alive at once, and then sends SIGUSR1 round-robin, one
// target after the other with the order rotated each round, so machine
// noise lands on every init alike. Latency = receiver's CLOCK_MONOTONIC at
// sigwaitinfo() return minus ours just before kill(). The signal goes to
// the init as seen from outside the namespace: the child of unshare.
//
// Output: one "sigfwd key=value ..." line per target.

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "procfs.hpp"

namespace {

using keel_bench::now_ns;

struct Target {
  std::string name;
  std::vector<std::string> words;  // the init command prefix; empty = direct
  pid_t spawned = -1;              // unshare (or the receiver, if direct)
  pid_t signal_pid = -1;           // who receives our kill(): the init
  int out_fd = -1;                 // the receiver's stdout
  std::string buf;
  std::vector<std::int64_t> samples;
  long lost = 0;
  bool ok = false;
};

struct Options {
  std::string receiver;
  long count = 50;
  long gap_us = 2000;
  int pin_cpu = -1;
  bool raw = false;
  std::vector<Target> targets;
};

[[noreturn]] void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s --receiver PATH [--count N] [--gap-us US] [--pin CPU] [--raw]\n"
               "          --target NAME=[INIT ARGS...] [--target ...]\n"
               "  A target with nothing after '=' signals the receiver directly (no init).\n",
               argv0);
  std::exit(2);
}

std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> w;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) w.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return w;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) usage(argv[0]);
      return argv[++i];
    };
    if (a == "--receiver") {
      o.receiver = next();
    } else if (a == "--count") {
      o.count = std::strtol(next(), nullptr, 10);
    } else if (a == "--gap-us") {
      o.gap_us = std::strtol(next(), nullptr, 10);
    } else if (a == "--pin") {
      o.pin_cpu = static_cast<int>(std::strtol(next(), nullptr, 10));
    } else if (a == "--raw") {
      o.raw = true;
    } else if (a == "--target") {
      std::string_view spec = next();
      auto eq = spec.find('=');
      if (eq == std::string_view::npos || eq == 0) usage(argv[0]);
      Target t;
      t.name = std::string(spec.substr(0, eq));
      t.words = split_words(spec.substr(eq + 1));
      o.targets.push_back(std::move(t));
    } else {
      usage(argv[0]);
    }
  }
  if (o.receiver.empty() || o.targets.empty() || o.count <= 0) usage(argv[0]);
  return o;
}

bool spawn(Target& t, const std::string& receiver) {
  std::vector<std::string> args;
  if (!t.words.empty()) {
    // --kill-child: if we die, unshare dies (PDEATHSIG below) and takes
    // the whole namespace with it instead of leaving inits behind.
    args = {"unshare", "--pid", "--fork", "--kill-child", "--mount-proc"};
    args.insert(args.end(), t.words.begin(), t.words.end());
  }
  args.push_back(receiver);
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return false;
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (dup2(p[1], STDOUT_FILENO) < 0) _exit(127);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(p[1]);
  t.spawned = pid;
  t.out_fd = p[0];
  return true;
}

// Next complete line from the receiver, waiting until `deadline_ns`.
bool read_line(Target& t, std::int64_t deadline_ns, std::string& line) {
  for (;;) {
    auto nl = t.buf.find('\n');
    if (nl != std::string::npos) {
      line = t.buf.substr(0, nl);
      t.buf.erase(0, nl + 1);
      return true;
    }
    std::int64_t left_ms = (deadline_ns - now_ns()) / 1'000'000;
    if (left_ms < 0) return false;
    pollfd pfd{t.out_fd, POLLIN, 0};
    int r = poll(&pfd, 1, static_cast<int>(left_ms) + 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    char tmp[256];
    ssize_t n = read(t.out_fd, tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    t.buf.append(tmp, static_cast<std::size_t>(n));
  }
}

// The init as seen from outside: unshare's only child. Checked against
// NSpid so a mistake cannot silently measure the wrong process.
pid_t find_init(pid_t unshare_pid) {
  std::string s;
  std::string path = "/proc/" + std::to_string(unshare_pid) + "/task/" + std::to_string(unshare_pid) + "/children";
  pid_t found = -1;
  if (keel_bench::read_small_file(path.c_str(), s)) {
    found = static_cast<pid_t>(std::atoi(s.c_str()));
  } else if (DIR* d = opendir("/proc")) {
    // Kernels without CONFIG_PROC_CHILDREN: scan for the parent link.
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
      int pid = std::atoi(e->d_name);
      if (keel_bench::status_value(pid, "PPid") == unshare_pid) {
        found = pid;
        break;
      }
    }
    closedir(d);
  }
  if (found <= 0) return -1;
  std::string status;
  std::string spath = "/proc/" + std::to_string(found) + "/status";
  if (!keel_bench::read_small_file(spath.c_str(), status)) return -1;
  auto pos = status.find("NSpid:");
  if (pos == std::string::npos) return found;  // very old kernel: trust it
  auto eol = status.find('\n', pos);
  std::string nspid = status.substr(pos, eol - pos);
  auto last = nspid.find_last_of(" \t");
  if (nspid.substr(last + 1) != "1") return -1;
  return found;
}

void shut_down(Target& t) {
  if (t.spawned <= 0) return;
  if (t.signal_pid > 0) kill(t.signal_pid, SIGTERM);
  std::int64_t deadline = now_ns() + 3'000'000'000LL;
  for (;;) {
    pid_t r = waitpid(t.spawned, nullptr, WNOHANG);
    if (r == t.spawned || (r < 0 && errno != EINTR)) break;
    if (now_ns() > deadline) {
      // Killing the namespace's PID 1 kills everything in it.
      if (t.signal_pid > 0) kill(t.signal_pid, SIGKILL);
      kill(t.spawned, SIGKILL);
      waitpid(t.spawned, nullptr, 0);
      break;
    }
    usleep(1000);
  }
  close(t.out_fd);
}

std::int64_t pct(const std::vector<std::int64_t>& sorted, double q) {
  if (sorted.empty()) return -1;
  auto idx = static_cast<std::size_t>(std::lround(q * static_cast<double>(sorted.size() - 1)));
  return sorted[std::min(idx, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = parse(argc, argv);
  signal(SIGPIPE, SIG_IGN);

  if (opt.pin_cpu >= 0) {
    // Everything we start inherits the mask: harness, unshare, init and
    // receiver all share one CPU, so no cross-CPU wake-up is measured.
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(opt.pin_cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
      std::perror("sched_setaffinity");
      return 1;
    }
  }

  for (auto& t : opt.targets) {
    if (!spawn(t, opt.receiver)) {
      std::fprintf(stderr, "sigfwd: cannot start %s: %s\n", t.name.c_str(), std::strerror(errno));
      continue;
    }
    std::string line;
    if (!read_line(t, now_ns() + 10'000'000'000LL, line) || line.rfind("ready ", 0) != 0) {
      std::fprintf(stderr, "sigfwd: %s: receiver never became ready\n", t.name.c_str());
      continue;
    }
    t.signal_pid = t.words.empty() ? t.spawned : find_init(t.spawned);
    if (t.signal_pid <= 0) {
      std::fprintf(stderr, "sigfwd: %s: cannot find the init process\n", t.name.c_str());
      continue;
    }
    t.ok = true;
  }

  // Let every init settle into its idle wait before the first sample.
  usleep(100'000);

  const std::size_t nt = opt.targets.size();
  for (long round = 0; round < opt.count; ++round) {
    for (std::size_t k = 0; k < nt; ++k) {
      Target& t = opt.targets[(static_cast<std::size_t>(round) + k) % nt];
      if (!t.ok) continue;
      const std::int64_t sent = now_ns();
      if (kill(t.signal_pid, SIGUSR1) != 0) {
        ++t.lost;
        continue;
      }
      std::string line;
      bool got = false;
      while (read_line(t, sent + 1'000'000'000LL, line)) {
        if (line.rfind("sig ", 0) != 0) continue;
        std::int64_t at = std::strtoll(line.c_str() + 4, nullptr, 10);
        // A late reply to an earlier, timed-out signal predates this send.
        if (at < sent) continue;
        t.samples.push_back(at - sent);
        got = true;
        break;
      }
      if (!got) ++t.lost;
      // Idle gap: each sample measures an init woken from its wait, not
      // one still busy with the previous signal.
      usleep(static_cast<useconds_t>(opt.gap_us));
    }
  }

  int rc = 0;
  for (auto& t : opt.targets) {
    shut_down(t);
    auto s = t.samples;
    std::sort(s.begin(), s.end());
    long long median = -1;
    if (!s.empty()) {
      std::size_t n = s.size();
      median = (n % 2 == 1) ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }
    long double sum = 0;
    for (auto v : s) sum += static_cast<long double>(v);
    std::printf(
        "sigfwd name=%s pin=%d n=%zu lost=%ld median_ns=%lld p10_ns=%lld p90_ns=%lld min_ns=%lld "
        "max_ns=%lld mean_ns=%lld\n",
        t.name.c_str(), opt.pin_cpu, s.size(), t.lost, median, static_cast<long long>(pct(s, 0.10)),
        static_cast<long long>(pct(s, 0.90)), static_cast<long long>(s.empty() ? -1 : s.front()),
        static_cast<long long>(s.empty() ? -1 : s.back()),
        s.empty() ? -1LL : static_cast<long long>(sum / static_cast<long double>(s.size())));
    if (opt.raw) {
      std::printf("sigfwd-raw name=%s pin=%d ns=", t.name.c_str(), opt.pin_cpu);
      for (std::size_t i = 0; i < t.samples.size(); ++i)
        std::printf("%s%lld", i ? "," : "", static_cast<long long>(t.samples[i]));
      std::printf("\n");
    }
    if (!t.ok || s.empty()) rc = 1;
  }
  return rc;
}
