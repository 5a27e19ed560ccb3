// keel-bench-sigrecv: the far end of the signal-forwarding benchmark.
//
// Runs as the init's main child. It reports "ready <pid>" on stdout, then
// for every SIGUSR1 it receives writes "sig <CLOCK_MONOTONIC ns>". The
// harness took its own CLOCK_MONOTONIC just before kill(init, SIGUSR1);
// the difference is the forwarding latency through the init.
//
// stdout is the channel because every init passes its child's stdout
// through untouched; an inherited extra fd might be closed by an init that
// sanitises its child's descriptors.

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "procfs.hpp"

namespace {

bool write_all(const char* buf, std::size_t len) {
  while (len > 0) {
    ssize_t n = write(STDOUT_FILENO, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    buf += n;
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

int main() {
  // Blocked and collected synchronously: the timestamp is taken the moment
  // the thread is woken, with no handler-ordering questions.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) {
    std::perror("sigprocmask");
    return 1;
  }

  char line[64];
  int n = std::snprintf(line, sizeof line, "ready %d\n", static_cast<int>(getpid()));
  if (!write_all(line, static_cast<std::size_t>(n))) return 1;

  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&set, &info);
    if (sig < 0) {
      if (errno == EINTR) continue;
      std::perror("sigwaitinfo");
      return 1;
    }
    const long long t = keel_bench::now_ns();
    n = std::snprintf(line, sizeof line, "sig %lld\n", t);
    // The harness going away (pipe closed) is our cue to stop.
    if (!write_all(line, static_cast<std::size_t>(n))) return 0;
  }
}
