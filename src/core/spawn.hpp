// spawn.hpp — starting a child process, and learning why it could not start.
//
// The child is created without copying keel's page tables: clone with
// CLONE_VM (and no CLONE_VFORK, so keel goes on at once and never waits
// for the child: ARCHITECTURE.md rule 5), on a stack of its own in a
// mapping keel keeps untouched until the child has let go of the memory
// (its exec or its exit: the kernel clears a word there, CLONE_CHILD_CLEARTID).
// Since the memory is keel's, everything the child reads (the program's
// path, argv, envp, the hook's context) is copied into that mapping before
// the clone, and the child writes nothing outside it: raw system calls
// (core/raw_syscall.hpp), never errno, malloc or a lock. A hook without
// a copier (SpawnOptions::copy_child_context), a kernel before 5.16 (where
// a core dump of the child would kill every process sharing its memory,
// keel too) or an architecture without raw_syscall.hpp get a fork instead.
//
// Every step that can fail in the child writes {step, errno} to a
// close-on-exec pipe and exits 126/127; a successful exec closes the pipe,
// so the parent's read() returning 0 bytes means "running". This makes
// "exec failed: No such file or directory" a value the caller sees, never a
// line lost on a child's stderr.
#pragma once

#include <sys/types.h>

#include <csignal>
#include <cstddef>

#include "core/result.hpp"

namespace keel {

class ChildArena;

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
  // Signals the child resets to SIG_DFL, first of all (exec itself resets
  // caught signals but keeps ignored ones; a caught one is reset too so a
  // fault in the child ends it rather than running keel's handler on
  // keel's memory). nullptr: every signal 1..64. A caller that knows which
  // ones keel changed passes just those (signal_dispositions_snapshot())
  // and saves the child ~60 syscalls.
  const sigset_t* reset_to_default = nullptr;
  // fchdir() here before exec (keel itself sits in "/"); -1: keep keel's cwd.
  int cwd_fd = -1;
  // Runs in the child after the session, terminal, cwd and signal set-up,
  // right before exec: the supervisor's privilege drop, fd layout
  // (service/exec_plan.hpp). It must obey the post-fork rules (only
  // async-signal-safe calls, no allocation). A failing hook's Error comes
  // back to the parent like an exec error: its context must be a string
  // literal (the same address in the parent: the child runs keel's
  // program, not yet exec'd). The hook may dup2 onto any fd below 64
  // (spawn keeps its report pipe above that).
  Status (*child_setup)(const void* context) noexcept = nullptr;
  const void* child_context = nullptr;
  // Copies `child_context` into `arena` (in the parent, before the child
  // exists) and returns the copy, which the hook is then given; nullptr
  // when it did not fit (spawn retries with a larger arena). With a copier
  // the child shares keel's memory, so the hook must also write nothing
  // outside its copy and its stack: raw system calls only
  // (core/raw_syscall.hpp), no errno. A hook without a copier gets a fork.
  const void* (*copy_child_context)(const void* context, ChildArena& arena) noexcept = nullptr;
  // Resolve argv[0] with this PATH instead of keel's own (a service's PATH
  // is its environment's, not keel's). nullptr: keel's PATH.
  const char* path_env = nullptr;
  // A cgroup v2 directory (open fd) to start the child in: clone3 with
  // CLONE_INTO_CGROUP puts it there as it is created, which takes no
  // cgroup-wide lock (moving a process with a write to cgroup.procs takes
  // one whose first use waits for an RCU grace period: measured 9.5 ms of a
  // 28 ms boot). Where clone3 is refused (a kernel before 5.7, a seccomp
  // filter), the child starts in keel's cgroup and moves itself with a
  // write of "0" to `cgroup_procs_fd`, its first step. -1: none.
  int cgroup_fd = -1;
  int cgroup_procs_fd = -1;  // that cgroup's cgroup.procs, open for writing; -1: none
  // A variable name (WATCHDOG_PID) the child sets to its own pid, as seen
  // in keel's PID namespace: only the child knows it before its exec, and
  // it may write nothing but its stack, so it appends "NAME=PID" to a copy
  // of envp's pointer array there (at most limits::kSelfPidEnvEntries
  // entries; a larger environment is exec'd without it). envp must not
  // hold NAME already. nullptr: none.
  const char* self_pid_env = nullptr;
  // Also append "NAME=<the child's own pid>" (LISTEN_PID for socket
  // activation), the same way; required: a larger environment than
  // kSelfPidEnvEntries fails "execve" with E2BIG. nullptr: none.
  const char* pid_env_name = nullptr;
};

// Where a copier puts a hook's context: bump allocation in the mapping the
// child reads from. Every call returns nullptr once it is full.
class ChildArena {
 public:
  ChildArena(unsigned char* begin, std::size_t size) noexcept : next_(begin), end_(begin + size) {}
  void* allocate(std::size_t bytes, std::size_t align) noexcept;
  const char* copy_string(const char* text) noexcept;  // nullptr stays nullptr
  template <typename T>
  T* copy_array(const T* items, std::size_t count) noexcept {
    void* p = allocate(sizeof(T) * count, alignof(T));
    if (p != nullptr && count > 0) __builtin_memcpy(p, items, sizeof(T) * count);
    return static_cast<T*>(p);
  }

 private:
  unsigned char* next_;
  unsigned char* end_;
};

// Whether a child without a hook, or with a copier, shares keel's memory
// here (false: it is forked; see the top of this file).
[[nodiscard]] bool spawn_shares_memory() noexcept;

// The signals whose disposition in keel is not SIG_DFL (ignored, or caught
// by fatal.hpp's crash handlers), as they were at the last
// take_signal_dispositions_snapshot(): what a child must reset, and all it
// must. nullptr until a snapshot was taken (then a child resets every
// signal). keel takes it once its start-up has set its dispositions.
void take_signal_dispositions_snapshot() noexcept;
[[nodiscard]] const sigset_t* signal_dispositions_snapshot() noexcept;

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
