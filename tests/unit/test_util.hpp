// test_util.hpp — helpers shared by the unit tests of the core (event loop,
// signal source, spawn, reaper). Header-only: everything is inline.
//
// What it gives a test:
//
//   * Watchdog: bounds a wait inside the test process. A repeating
//     ITIMER_REAL whose SIGALRM handler is installed without SA_RESTART, so
//     a blocked epoll_wait (or waitpid, ...) fails with EINTR and the caller
//     can check Watchdog::expired(). The destructor stops the timer and
//     restores SIGALRM's disposition and the mask.
//
//   * SignalStateGuard: saves the signal mask and the dispositions of
//     signals 1..31; the destructor restores them, discarding whatever is
//     still pending first (so that unblocking cannot deliver a signal a test
//     left behind to the test process).
//
//   * Children of the test process:
//       has_children()  whether there is any child (zombies included);
//       fork_child      run a body in a child that _exits with what it
//                       returns (alarm()-bounded); the caller waits;
//       in_child        the same, waited for with a deadline: the child's
//                       exit code (128+N when killed by N), -1 when it had
//                       to be killed, -2 when fork failed;
//       run_in_child    a body that returns a failure description ("" for
//                       success) and reports it over a pipe: for tests that
//                       change process-wide state (the subreaper flag, ...).
//
//   * open_fds(): this process's open fds and what /proc/self/fd says each
//     one is, to spot an fd that was added or leaked.
//
// Use from a test file (in its anonymous namespace inside `keel`):
//   using testutil::Watchdog;
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/event_loop.hpp"  // monotonic_ns

namespace keel::testutil {

inline constexpr std::int64_t kMs = 1'000'000;  // nanoseconds
inline constexpr int kMaxSig = 31;              // the classic signals: 1..31

// ---------------------------------------------------------------- Watchdog

// SIGALRM after `first_ms`, then every `every_ms`, until destroyed.
class Watchdog {
 public:
  explicit Watchdog(int first_ms, int every_ms = 20) {
    alarms_ = 0;
    struct sigaction sa {};
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: epoll_wait must see EINTR
    ::sigaction(SIGALRM, &sa, &old_action_);
    sigset_t alrm;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    ::sigprocmask(SIG_UNBLOCK, &alrm, &old_mask_);
    itimerval it{};
    it.it_value.tv_sec = first_ms / 1000;
    it.it_value.tv_usec = (first_ms % 1000) * 1000;
    it.it_interval.tv_sec = every_ms / 1000;
    it.it_interval.tv_usec = (every_ms % 1000) * 1000;
    ::setitimer(ITIMER_REAL, &it, nullptr);
  }
  ~Watchdog() {
    itimerval off{};
    ::setitimer(ITIMER_REAL, &off, nullptr);
    ::sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
    ::sigaction(SIGALRM, &old_action_, nullptr);
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // At least one SIGALRM since the last Watchdog was made.
  [[nodiscard]] static bool expired() { return alarms_ > 0; }

 private:
  static void on_alarm(int /*signo*/) { alarms_ = alarms_ + 1; }
  static inline volatile sig_atomic_t alarms_ = 0;

  struct sigaction old_action_ {};
  sigset_t old_mask_{};
};

// -------------------------------------------------------- SignalStateGuard

class SignalStateGuard {
 public:
  SignalStateGuard() {
    ::sigprocmask(SIG_SETMASK, nullptr, &mask_);
    for (int s = 1; s <= kMaxSig; ++s) ::sigaction(s, nullptr, &actions_[s]);
  }
  ~SignalStateGuard() {
    // Setting SIG_IGN discards a pending signal; only then is unblocking safe.
    sigset_t pending;
    sigemptyset(&pending);
    ::sigpending(&pending);
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    for (int s = 1; s <= kMaxSig; ++s) {
      if (s == SIGKILL || s == SIGSTOP) continue;
      if (sigismember(&pending, s) == 1) ::sigaction(s, &ign, nullptr);
    }
    for (int s = 1; s <= kMaxSig; ++s) {
      if (s == SIGKILL || s == SIGSTOP) continue;
      ::sigaction(s, &actions_[s], nullptr);
    }
    ::sigprocmask(SIG_SETMASK, &mask_, nullptr);
  }
  SignalStateGuard(const SignalStateGuard&) = delete;
  SignalStateGuard& operator=(const SignalStateGuard&) = delete;

 private:
  sigset_t mask_{};
  struct sigaction actions_[kMaxSig + 1] {};
};

// ---------------------------------------------------------------- children

inline bool has_children() {
  siginfo_t info{};
  int r = ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT);
  return !(r < 0 && errno == ECHILD);
}

// Fork a child that runs `body` then _exits with what it returns.
inline pid_t fork_child(const std::function<int()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(10);  // never outlive a broken test for long
    ::_exit(body());
  }
  return pid;
}

// Runs `body` in a forked child, killed after `timeout_ms` (for code that
// could hang the test process). Returns the child's exit code (what `body`
// returned), or -1 on timeout (-2: fork failed).
inline int in_child(const std::function<int()>& body, int timeout_ms = 3000) {
  pid_t pid = ::fork();
  if (pid < 0) return -2;
  if (pid == 0) ::_exit(body());
  std::int64_t deadline = monotonic_ns() + timeout_ms * kMs;
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (monotonic_ns() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    ::usleep(2000);
  }
}

// Runs `body` in a forked child; returns what it returned ("" = success),
// or a description of how the child failed to report.
inline std::string run_in_child(const std::function<std::string()>& body, int timeout_ms = 5000) {
  int p[2];
  if (::pipe(p) != 0) return "pipe failed";
  pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    ::close(p[0]);
    ::alarm(static_cast<unsigned>(timeout_ms / 1000 + 1));
    std::string r = body();
    if (r.empty()) r = "ok";
    ssize_t w = ::write(p[1], r.data(), r.size());
    (void)w;
    ::_exit(0);
  }
  ::close(p[1]);
  std::string out;
  std::int64_t deadline = monotonic_ns() + timeout_ms * kMs;
  for (;;) {
    std::int64_t left_ms = (deadline - monotonic_ns()) / kMs;
    if (left_ms <= 0) {
      ::kill(pid, SIGKILL);
      out = "timeout; got: " + out;
      break;
    }
    pollfd pfd{p[0], POLLIN, 0};
    int n = ::poll(&pfd, 1, static_cast<int>(left_ms));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[512];
    ssize_t r = ::read(p[0], buf, sizeof buf);
    if (r <= 0) break;
    out.append(buf, static_cast<std::size_t>(r));
  }
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (out.empty()) return "child died without reporting, status " + std::to_string(status);
  return out == "ok" ? "" : out;
}

// --------------------------------------------------------------------- fds

// Open fds of this process: fd -> what /proc/self/fd says it is.
inline std::vector<std::pair<int, std::string>> open_fds() {
  std::vector<std::pair<int, std::string>> out;
  for (int fd = 0; fd < 4096; ++fd) {
    if (::fcntl(fd, F_GETFD) < 0) continue;
    char link[256] = {};
    std::string path = "/proc/self/fd/" + std::to_string(fd);
    ssize_t n = ::readlink(path.c_str(), link, sizeof link - 1);
    out.emplace_back(fd, n > 0 ? std::string(link, static_cast<std::size_t>(n)) : "?");
  }
  return out;
}

}  // namespace keel::testutil
