// spawn.hpp — starting a child process, and learning why it could not start.
//
// The child runs only async-signal-safe calls between fork and exec and
// allocates nothing (PATH is resolved before the fork, into a stack
// buffer). Every step that can fail in the child writes {step, errno} to a
// close-on-exec pipe and exits 126/127; a successful exec closes the pipe,
// so the parent's read() returning 0 bytes means "running". This makes
// "exec failed: No such file or directory" a value the caller sees, never a
// line lost on a child's stderr.
#pragma once

#include <sys/types.h>

#include <csignal>

#include "core/result.hpp"

namespace keel {

enum class Session {
  Inherit,          // stay in keel's process group and session
  NewProcessGroup,  // setpgid(0, 0): signals can address the child's group
  NewSession,       // setsid(): new session and group (dumb-init's default)
};

struct SpawnOptions {
  char* const* argv = nullptr;  // argv[0] is looked up in PATH when it has no '/'
  char* const* envp = nullptr;  // nullptr: keel's own environment
  Session session = Session::Inherit;
  // Give the child the terminal on fd 0, if there is one: tcsetpgrp for a
  // new process group, TIOCSCTTY for a new session. No terminal is fine.
  bool take_terminal = false;
  // The child's signal mask; nullptr means empty.
  const sigset_t* mask = nullptr;
  // Signals the child resets to SIG_DFL before exec (exec itself resets
  // caught signals but keeps ignored ones). nullptr: every signal 1..64.
  // A caller that knows which ones are ignored passes just those and saves
  // the child ~60 syscalls.
  const sigset_t* reset_to_default = nullptr;
  // fchdir() here before exec (keel itself sits in "/"); -1: keep keel's cwd.
  int cwd_fd = -1;
  // Runs in the child after the session, terminal, cwd and signal set-up,
  // right before exec: the supervisor's privilege drop, fd layout, cgroup
  // move (service/exec_plan.hpp). It must obey the post-fork rules (only
  // async-signal-safe calls, no allocation). A failing hook's Error comes
  // back to the parent like an exec error: its context must be a string
  // literal, which has the same address in the parent (the child is a fork,
  // not yet exec'd). The hook may dup2 onto any fd below 64 (spawn keeps
  // its report pipe above that).
  Status (*child_setup)(const void* context) noexcept = nullptr;
  const void* child_context = nullptr;
  // Resolve argv[0] with this PATH instead of keel's own (a service's PATH
  // is its environment's, not keel's). nullptr: keel's PATH.
  const char* path_env = nullptr;
  // A cgroup v2 directory (open fd) to start the child in: clone3 with
  // CLONE_INTO_CGROUP puts it there as it is created, which takes no
  // cgroup-wide lock (moving a process with a write to cgroup.procs takes
  // one whose first use waits for an RCU grace period: measured 9.5 ms of a
  // 28 ms boot). Where clone3 is refused (a kernel before 5.7, a seccomp
  // filter), the child starts in keel's cgroup and
  // spawned_into_cgroup() is false in it, so the hook moves it. -1: none.
  int cgroup_fd = -1;
};

// In the child (from a child_setup hook): did spawn() create it inside
// SpawnOptions::cgroup_fd already?
[[nodiscard]] bool spawned_into_cgroup() noexcept;

// The exit code a shell uses when it cannot run a program: 127 when it was
// not found, 126 when it was found but could not be executed.
[[nodiscard]] constexpr int exec_failure_exit_code(int err) noexcept {
  return (err == ENOENT || err == ENOTDIR) ? 127 : 126;
}

// A child forked and on its way to exec, and the read end of its report
// pipe (O_NONBLOCK, O_CLOEXEC; the caller closes it). Nothing has been
// waited for: the report comes when the child gets there.
struct Launch {
  pid_t pid = -1;
  int report_fd = -1;
};

// Start a child without waiting for it (PID 1's way, docs: ARCHITECTURE.md
// rule 5): the child may take as long as it likes over its set-up (a chdir
// on a hung mount, a SIGSTOP from the service's user after the uid change),
// so the caller watches `report_fd` in its event loop and reads it with
// read_exec_report(). An Error here is a step of the parent's own (PATH
// lookup, pipe2, fork): no child exists then.
[[nodiscard]] Result<Launch> spawn_nowait(const SpawnOptions& options) noexcept;

enum class ExecReport : unsigned char {
  Pending,  // nothing to read yet (EAGAIN): the child has not got there
  Execed,   // EOF: the exec closed the close-on-exec write end
  Failed,   // {step, errno} read: the child is exiting 126/127
};
// One non-blocking read of a report pipe. For Failed, `*error` is the step
// and errno. Once the child has exited (reaped), the answer is never
// Pending: it wrote its report, if any, before exiting.
[[nodiscard]] ExecReport read_exec_report(int report_fd, Error* error) noexcept;

// spawn_nowait, then wait for the report, and for a failed child's exit.
// It blocks for as long as the child takes to exec: for tests and tools,
// never for PID 1's loop (a stopped or hung child would freeze keel). On
// success, the pid of a child that has exec'd; on failure, an Error whose
// context names the step ("execve", "setsid", "fork", ...) and whose code
// is the errno; a child that was forked and failed has been waited for.
[[nodiscard]] Result<pid_t> spawn(const SpawnOptions& options) noexcept;

// Resolve `name` as execvp would: a name containing '/' is used as is,
// otherwise each PATH entry is tried (PATH unset: the usual
// /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin). Writes the
// path to `out` (size `out_size`). ENOENT when nothing is found, EACCES when
// only non-executable candidates were.
Status resolve_program(const char* name, const char* path_env, char* out, std::size_t out_size) noexcept;

}  // namespace keel
