// test_util.hpp — helpers shared by the unit tests of the core (event loop,
// signal source, spawn, reaper) and of keel-image. Header-only: everything
// is inline.
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
//   * Files and commands (the image tests):
//       TempDir         a scratch directory (mkdtemp), removed with all in it;
//       write_file      write a file whole, creating its directories;
//       slurp           read a file whole;
//       quoted          a path in single quotes, for a shell command;
//       run             run a shell command, return its stdout;
//       have            whether a tool is on PATH;
//       kernel_cache    the kernel unpacked by scripts/fetch-kernel.sh.
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

#include <array>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
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

// ------------------------------------------------------- files and commands

// A scratch directory, $TMPDIR/<prefix>XXXXXX, removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "keel-test-") {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// Writes `data` to `path` (binary), creating the directories it is in.
inline void write_file(const std::filesystem::path& path, const std::string& data) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << data;
}

// The whole content of a file ("" when it cannot be read).
inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A path in single quotes, for a shell command line.
inline std::string quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

// Runs a shell command; returns its stdout and puts pclose's raw status in
// rc (-1 when popen failed).
inline std::string run(const std::string& command, int& rc) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    rc = -1;
    return out;
  }
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.append(buffer.data(), n);
  rc = ::pclose(pipe);
  return out;
}

// Runs a shell command; returns its stdout, whatever its exit status.
inline std::string run(const std::string& command) {
  int rc = 0;
  return run(command, rc);
}

// Whether `tool` is on PATH (`command -v`).
inline bool have(const char* tool) {
  int rc = 0;
  (void)run(std::string("command -v ") + tool + " >/dev/null 2>&1", rc);
  return rc == 0;
}

// Where a kernel cache may be, non-empty ones only: the source dir (when
// KEEL_SOURCE_DIR is defined), the current directory and the two above it
// (ctest runs in build/tests).
inline std::vector<std::filesystem::path> kernel_cache_bases() {
#ifdef KEEL_SOURCE_DIR
  const std::filesystem::path source(KEEL_SOURCE_DIR);
#else
  const std::filesystem::path source;
#endif
  std::vector<std::filesystem::path> out;
  for (const std::filesystem::path& base :
       {source, std::filesystem::current_path(), std::filesystem::current_path().parent_path(),
        std::filesystem::current_path().parent_path().parent_path()}) {
    if (!base.empty()) out.push_back(base);
  }
  return out;
}

// The kernel unpacked by scripts/fetch-kernel.sh: $KEEL_KERNEL_CACHE/current
// when set, else the first {build/,}kernel-cache/current under a base that
// has `subdir` ("boot", "lib/modules"); empty when there is none.
inline std::filesystem::path kernel_cache(const std::string& subdir) {
  if (const char* env = std::getenv("KEEL_KERNEL_CACHE")) return std::filesystem::path(env) / "current";
  for (const std::filesystem::path& base : kernel_cache_bases()) {
    for (const std::filesystem::path& candidate : {base / "build/kernel-cache/current", base / "kernel-cache/current"}) {
      std::error_code ec;
      if (std::filesystem::is_directory(candidate / subdir, ec)) return candidate;
    }
  }
  return {};
}

}  // namespace keel::testutil
