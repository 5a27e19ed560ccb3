#include "core/spawn.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <climits>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>

#include "core/limits.hpp"

extern char** environ;

namespace keel {
namespace {

// Set in a child that clone3 created inside its cgroup (the child's own copy
// of this variable; the parent's stays false).
bool g_spawned_into_cgroup = false;

// fork(), or clone3 into `cgroup_fd` when one is given. A raw clone3 child
// is a fork without glibc's atfork handlers, which keel does not use, and
// it only runs the async-signal-safe path to execve.
pid_t fork_into(int cgroup_fd) noexcept {
  if (cgroup_fd >= 0) {
    clone_args args{};
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = static_cast<std::uint64_t>(cgroup_fd);
    long pid = ::syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) {
      g_spawned_into_cgroup = true;
      return 0;
    }
    if (pid > 0) return static_cast<pid_t>(pid);
    // Refused (ENOSYS, E2BIG, EINVAL, EPERM...): fork, and the hook moves it.
  }
  return ::fork();
}

// What the child reports on the pipe. The step is an index, not a pointer,
// so the parent never trusts a pointer read from another process.
enum class Step : int { Setsid, Setpgid, Terminal, Chdir, Signals, Execve, Hook };
constexpr const char* kStepNames[] = {"setsid", "setpgid", "tcsetpgrp", "fchdir", "sigaction", "execve"};

struct ChildReport {
  int step;
  int err;
  // Step::Hook only: the hook's context string. A pointer, but not one from
  // another program: the child is a fork of keel that has not exec'd, and
  // Error contexts are string literals, so the address is the same in the
  // parent.
  const char* hook_context;
};

[[noreturn]] void child_fail(int report_fd, Step step, const char* hook_context = nullptr) noexcept {
  ChildReport report{static_cast<int>(step), errno, hook_context};
  // Nothing useful can be done if this write fails; the exit code still tells.
  ssize_t ignored = ::write(report_fd, &report, sizeof report);
  (void)ignored;
  ::_exit(exec_failure_exit_code(report.err));
}

// The post-fork half. Only async-signal-safe calls from here to execve.
// Where the report pipe moves to in a child with a hook. The hook lays out
// the service's fds with dup2 (0..2 and a notification fd, often 3); had
// pipe2 handed out one of those numbers, the hook would overwrite the pipe
// and its own error would be lost. Targets are small numbers, so the pipe
// goes at or above 64 (well under any RLIMIT_NOFILE, 1024 by default).
constexpr int kHookReportFdFloor = 64;

[[noreturn]] void run_child(const SpawnOptions& o, const char* path, int report_fd) noexcept {
  if (o.child_setup != nullptr && report_fd < kHookReportFdFloor) {
    int moved = ::fcntl(report_fd, F_DUPFD_CLOEXEC, kHookReportFdFloor);
    if (moved >= 0) {
      ::close(report_fd);
      report_fd = moved;
    }
  }
  if (o.session == Session::NewSession) {
    if (::setsid() < 0) child_fail(report_fd, Step::Setsid);
    // Take fd 0's terminal as our controlling tty, if it is one; a child
    // without a terminal is the normal case in containers.
    if (o.take_terminal && ::isatty(STDIN_FILENO) == 1) ::ioctl(STDIN_FILENO, TIOCSCTTY, 0);
  } else if (o.session == Session::NewProcessGroup) {
    if (::setpgid(0, 0) < 0) child_fail(report_fd, Step::Setpgid);
    // Done in the child, not the parent: if keel runs under another keel or
    // tini, the outer one may hand the terminal to our group first, and
    // doing it here makes the innermost child the last word. SIGTTOU is
    // still blocked (the parent's mask is inherited until the sigprocmask
    // below), so a background group may take the terminal.
    if (o.take_terminal && ::isatty(STDIN_FILENO) == 1 && ::tcsetpgrp(STDIN_FILENO, ::getpgrp()) < 0 &&
        errno != ENOTTY && errno != ENXIO) {
      child_fail(report_fd, Step::Terminal);
    }
  }
  if (o.cwd_fd >= 0 && ::fchdir(o.cwd_fd) < 0) child_fail(report_fd, Step::Chdir);

  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int signo = 1; signo <= limits::kMaxSignal; ++signo) {
    if (signo == SIGKILL || signo == SIGSTOP) continue;
    // glibc keeps 32 and 33 for itself and refuses to change them (EINVAL).
    if (signo > limits::kMaxClassicSignal && signo < SIGRTMIN) continue;
    if (o.reset_to_default == nullptr || sigismember(o.reset_to_default, signo) == 1) {
      if (::sigaction(signo, &dfl, nullptr) < 0) child_fail(report_fd, Step::Signals);
    }
  }
  sigset_t empty;
  sigemptyset(&empty);
  if (::sigprocmask(SIG_SETMASK, o.mask != nullptr ? o.mask : &empty, nullptr) < 0) {
    child_fail(report_fd, Step::Signals);
  }
  // The hook comes last so that it sees the final session and signal state,
  // and so that a privilege drop in it cannot make the steps above fail
  // (setsid, tcsetpgrp need nothing, but fchdir as another user might).
  if (o.child_setup != nullptr) {
    Status hooked = o.child_setup(o.child_context);
    if (!hooked) {
      errno = hooked.error().code;
      child_fail(report_fd, Step::Hook, hooked.error().context);
    }
  }
  char* const* envp = o.envp != nullptr ? o.envp : environ;
  ::execve(path, o.argv, envp);
  if (errno == ENOEXEC) {
    // A file without "#!" is a shell script, as execvp and every shell
    // treat it: run it with /bin/sh. The argv is built on the stack, since
    // nothing may allocate here.
    static char shell[] = "/bin/sh";
    char* sh_argv[limits::kMaxScriptArgs];
    std::size_t n = 0;
    while (o.argv[n] != nullptr) ++n;
    if (n + 2 <= limits::kMaxScriptArgs) {
      sh_argv[0] = shell;
      sh_argv[1] = const_cast<char*>(path);
      for (std::size_t i = 1; i <= n; ++i) sh_argv[i + 1] = o.argv[i];  // copies the final nullptr too
      ::execve(shell, sh_argv, envp);
    }
    errno = ENOEXEC;
  }
  child_fail(report_fd, Step::Execve);
}

bool is_executable_file(const char* path, int* err) noexcept {
  struct stat st {};
  if (::stat(path, &st) != 0) {
    *err = errno;
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    *err = EACCES;
    return false;
  }
  if (::access(path, X_OK) != 0) {
    *err = errno;
    return false;
  }
  return true;
}

}  // namespace

Status resolve_program(const char* name, const char* path_env, char* out, std::size_t out_size) noexcept {
  std::size_t name_len = std::strlen(name);
  if (name_len == 0) return Error{ENOENT, "execve"};
  if (std::strchr(name, '/') != nullptr) {
    if (name_len + 1 > out_size) return Error{ENAMETOOLONG, "execve"};
    std::memcpy(out, name, name_len + 1);
    return {};  // execve reports what is wrong with an explicit path
  }
  const char* path = path_env != nullptr ? path_env : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  int result = ENOENT;
  for (const char* dir = path;; ) {
    const char* end = std::strchr(dir, ':');
    std::size_t dir_len = end != nullptr ? static_cast<std::size_t>(end - dir) : std::strlen(dir);
    // An empty PATH entry means the current directory, as in execvp.
    const char* d = dir_len > 0 ? dir : ".";
    std::size_t d_len = dir_len > 0 ? dir_len : 1;
    if (d_len + 1 + name_len + 1 <= out_size) {
      std::memcpy(out, d, d_len);
      out[d_len] = '/';
      std::memcpy(out + d_len + 1, name, name_len + 1);
      int err = 0;
      if (is_executable_file(out, &err)) return {};
      if (err == EACCES) result = EACCES;  // found, but not runnable: remember, keep looking
    }
    if (end == nullptr) break;
    dir = end + 1;
  }
  return Error{result, "execve"};
}

bool spawned_into_cgroup() noexcept { return g_spawned_into_cgroup; }

Result<Launch> spawn_nowait(const SpawnOptions& options) noexcept {
  if (options.argv == nullptr || options.argv[0] == nullptr) return Error{EINVAL, "spawn"};
  char path[PATH_MAX];
  const char* path_env = options.path_env != nullptr ? options.path_env : ::getenv("PATH");
  Status resolved = resolve_program(options.argv[0], path_env, path, sizeof path);
  if (!resolved) return resolved.error();

  // Only the read end is non-blocking: the child's one write of its report
  // (a few bytes into an empty pipe) never blocks anyway.
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return errno_error("pipe2");
  if (::fcntl(report[0], F_SETFL, O_NONBLOCK) != 0) {
    Error e = errno_error("fcntl");
    ::close(report[0]);
    ::close(report[1]);
    return e;
  }
  pid_t pid = fork_into(options.cgroup_fd);
  if (pid < 0) {
    Error e = errno_error("fork");
    ::close(report[0]);
    ::close(report[1]);
    return e;
  }
  if (pid == 0) {
    ::close(report[0]);
    run_child(options, path, report[1]);
  }
  ::close(report[1]);
  return Launch{pid, report[0]};
}

ExecReport read_exec_report(int report_fd, Error* error) noexcept {
  ChildReport child_report{};
  ssize_t n;
  do {
    n = ::read(report_fd, &child_report, sizeof child_report);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return ExecReport::Pending;
  // EOF, or a read error on a pipe only keel holds (nothing to wait for
  // then), or a short report (one write of 24 bytes into a pipe is atomic,
  // so that cannot happen): the child is taken as exec'd.
  if (n != static_cast<ssize_t>(sizeof child_report)) return ExecReport::Execed;
  int step = child_report.step;
  if (step == static_cast<int>(Step::Hook)) {
    *error = Error{child_report.err, child_report.hook_context != nullptr ? child_report.hook_context : "spawn"};
  } else {
    const char* step_name = (step >= 0 && step < static_cast<int>(std::size(kStepNames))) ? kStepNames[step] : "spawn";
    *error = Error{child_report.err, step_name};
  }
  return ExecReport::Failed;
}

Result<pid_t> spawn(const SpawnOptions& options) noexcept {
  Result<Launch> launched = spawn_nowait(options);
  if (!launched) return launched.error();
  const Launch l = launched.value();
  Error error;
  ExecReport report;
  for (;;) {
    report = read_exec_report(l.report_fd, &error);
    if (report != ExecReport::Pending) break;
    pollfd p{l.report_fd, POLLIN, 0};
    (void)::poll(&p, 1, -1);
  }
  ::close(l.report_fd);
  if (report == ExecReport::Execed) return l.pid;
  // The child has reported and is exiting right now.
  int status = 0;
  while (::waitpid(l.pid, &status, 0) < 0 && errno == EINTR) {
  }
  return error;
}

}  // namespace keel
