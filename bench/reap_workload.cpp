// keel-bench-reap: the orphan-reaping workload.
//
// Run as the main child of an init that is PID 1 of a fresh PID namespace
// (unshare --pid --fork --mount-proc INIT -- keel-bench-reap ...), it makes
// N double-forked orphans as fast as it can and waits until PID 1 has
// reaped all of them; it also reads PID 1's CPU time and memory from
// /proc/1, which with --mount-proc is the init under test.
//
// With --floor it is PID 1 itself and reaps its own orphans: the cost of
// the bare fork+exit+waitpid loop, with no init process in the picture.
//
// With --orphans 0 it only idles and reports PID 1's memory, so RSS is
// measured while the init has nothing to do.
//
// Output: one line, "reap key=value ...", for bench/run to parse.

#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "procfs.hpp"

namespace {

using keel_bench::now_ns;

struct Options {
  long orphans = 20000;
  long sample_every = 500;
  long idle_ms = 200;
  long drain_timeout_ms = 30000;
  bool floor = false;
};

[[noreturn]] void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--floor] [--orphans N] [--sample-every K] [--idle-ms MS]\n"
               "          [--drain-timeout-ms MS]\n",
               argv0);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto next = [&]() -> long {
      if (i + 1 >= argc) usage(argv[0]);
      return std::strtol(argv[++i], nullptr, 10);
    };
    if (a == "--floor") {
      o.floor = true;
    } else if (a == "--orphans") {
      o.orphans = next();
    } else if (a == "--sample-every") {
      o.sample_every = next();
    } else if (a == "--idle-ms") {
      o.idle_ms = next();
    } else if (a == "--drain-timeout-ms") {
      o.drain_timeout_ms = next();
    } else {
      usage(argv[0]);
    }
  }
  if (o.orphans < 0 || o.sample_every <= 0) usage(argv[0]);
  return o;
}

void sleep_us(long us) {
  timespec ts{us / 1'000'000, (us % 1'000'000) * 1000};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

// One orphan: the child forks a grandchild and exits at once, so the
// grandchild is reparented to PID 1 (or to us, with --floor) and its exit
// must be reaped by whoever that is.
bool make_orphan() {
  pid_t child = fork();
  if (child < 0) return false;
  if (child == 0) {
    pid_t grandchild = fork();
    if (grandchild == 0) _exit(0);
    _exit(grandchild < 0 ? 1 : 0);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) return false;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// The floor's reaping: whatever has already exited, without blocking, so
// the loop never waits for a grandchild that has not run yet (an init does
// not make the workload wait either).
void reap_ready() {
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = parse(argc, argv);
  const int self = getpid();

  if (!keel_bench::private_pid_namespace()) {
    std::fprintf(stderr,
                 "keel-bench-reap: run me in a fresh PID namespace with its own /proc:\n"
                 "  unshare --pid --fork --mount-proc [INIT [--]] %s ...\n",
                 argv[0]);
    return 2;
  }

  if (opt.floor && self != 1) {
    // Under some other PID 1: as a subreaper we still get the orphans.
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
      std::perror("prctl(PR_SET_CHILD_SUBREAPER)");
      return 1;
    }
  }

  const std::string init_comm = keel_bench::comm_of(1);

  if (opt.orphans == 0) {
    // Let the init finish starting up (dynamic loading, signal setup) so
    // the figure is its steady idle footprint.
    sleep_us(opt.idle_ms * 1000);
    // RssFile is mostly the init's own binary in the page cache (shared,
    // and for a static binary nearly all of it, thanks to fault-around);
    // RssAnon is the memory the init really holds for itself.
    std::printf("reap mode=%s orphans=0 init_comm=%s rss_kb=%lld anon_kb=%lld file_kb=%lld hwm_kb=%lld\n",
                opt.floor ? "floor" : "init", init_comm.c_str(),
                static_cast<long long>(keel_bench::status_value(1, "VmRSS")),
                static_cast<long long>(keel_bench::status_value(1, "RssAnon")),
                static_cast<long long>(keel_bench::status_value(1, "RssFile")),
                static_cast<long long>(keel_bench::status_value(1, "VmHWM")));
    return 0;
  }

  const long long rss_start = keel_bench::status_value(1, "VmRSS");
  const long long ticks_start = keel_bench::cpu_ticks(1);
  const long long sched_start = keel_bench::sched_ns(1);
  // Voluntary switches count the init's wake-ups: with the CPU time they
  // tell apart "more work per orphan" from "woken more often".
  const long long wakeups_start = keel_bench::status_value(1, "voluntary_ctxt_switches");

  int max_zombies = 0;
  int max_backlog = 0;
  long samples = 0;
  long failures = 0;

  const std::int64_t t0 = now_ns();
  for (long i = 1; i <= opt.orphans; ++i) {
    if (!make_orphan()) ++failures;
    if (opt.floor) reap_ready();
    if (i % opt.sample_every == 0) {
      // Sampling costs a /proc scan of a few entries every few hundred
      // orphans, the same for every init, so it stays inside the timing.
      auto c = keel_bench::census(self);
      max_zombies = std::max(max_zombies, c.zombies);
      max_backlog = std::max(max_backlog, c.others);
      ++samples;
    }
  }
  const std::int64_t t_loop = now_ns();

  // The run is over only once every orphan has been reaped: an init that
  // falls behind must not look fast just because the forking finished.
  bool drained = false;
  const std::int64_t deadline = t_loop + opt.drain_timeout_ms * 1'000'000;
  keel_bench::ProcCensus last{};
  if (opt.floor) {
    while (waitpid(-1, nullptr, 0) > 0) {
    }
    last = keel_bench::census(self);
    drained = last.others == 0;
  } else {
    for (;;) {
      last = keel_bench::census(self);
      max_zombies = std::max(max_zombies, last.zombies);
      max_backlog = std::max(max_backlog, last.others);
      if (last.others == 0) {
        drained = true;
        break;
      }
      if (now_ns() > deadline) break;
      sleep_us(20);
    }
  }
  const std::int64_t t_end = now_ns();

  const long long ticks_end = keel_bench::cpu_ticks(1);
  const long long sched_end = keel_bench::sched_ns(1);
  const long long wakeups_end = keel_bench::status_value(1, "voluntary_ctxt_switches");
  const long long rss_end = keel_bench::status_value(1, "VmRSS");
  const long long anon_end = keel_bench::status_value(1, "RssAnon");
  const long long hwm = keel_bench::status_value(1, "VmHWM");

  std::printf(
      "reap mode=%s orphans=%ld init_comm=%s elapsed_ns=%lld loop_ns=%lld drain_ns=%lld "
      "init_ticks=%lld clk_tck=%ld init_sched_ns=%lld init_wakeups=%lld max_zombies=%d max_backlog=%d "
      "samples=%ld leftover=%d leftover_zombies=%d drained=%d failures=%ld "
      "rss_start_kb=%lld rss_end_kb=%lld anon_end_kb=%lld hwm_kb=%lld\n",
      opt.floor ? "floor" : "init", opt.orphans, init_comm.c_str(), static_cast<long long>(t_end - t0),
      static_cast<long long>(t_loop - t0), static_cast<long long>(t_end - t_loop),
      (ticks_start >= 0 && ticks_end >= 0) ? ticks_end - ticks_start : -1LL, sysconf(_SC_CLK_TCK),
      (sched_start >= 0 && sched_end >= 0) ? sched_end - sched_start : -1LL,
      (wakeups_start >= 0 && wakeups_end >= 0) ? wakeups_end - wakeups_start : -1LL, max_zombies, max_backlog, samples,
      last.others, last.zombies, drained ? 1 : 0, failures, rss_start, rss_end, anon_end, hwm);
  return (drained && failures == 0) ? 0 : 1;
}
