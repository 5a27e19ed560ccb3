// exec_plan.hpp — everything a service's child does between fork and exec,
// decided before the fork.
//
// Starting a service is split in two halves. build_exec_plan() runs in keel
// before the fork: it may allocate (argv, the environment, the environment
// file read at each start, as the service's user) and open keel's own files
// (/dev/null, the console), and every problem found there is a message for
// the user. "file:" streams are opened by the child, as the service's user. The
// plan is copied into the launch's own memory (the child shares keel's:
// core/spawn.hpp), and the child applies it through spawn()'s child hook:
// raw system calls on the copy's ready-made values, nothing allocated,
// nothing written outside the child's stack; a failing step comes back to
// the parent as an Error whose context names the step ("setgroups", "setresuid", "capset", "cgroup",
// ...), the way an exec failure does.
//
// The child's order matters and is explained step by step in
// exec_plan.cpp: cgroup, fds, umask, rlimits, chdir, capability bounding
// set, groups, gid, uid, stream files, capabilities, no_new_privs.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "core/spawn.hpp"
#include "service/config.hpp"

namespace keel::service {

// What the supervisor hands over besides the service's config. The fds are
// borrowed: the plan never closes them (the caller closes its ends after
// spawning).
struct ExecInputs {
  const ServiceConfig* config = nullptr;
  int log_fd = -1;      // write end of the service's stdout log pipe; needed when stdout is "log"
  int log_err_fd = -1;  // write end of its stderr log pipe; needed when stderr is "log"
  int console_fd = -1;  // an open console; -1: /dev/console is opened when a stream needs it
  std::vector<std::pair<std::string, std::string>> extra_env;  // NOTIFY_SOCKET, ...: override everything
  int notify_pipe_write_fd = -1;  // NotifyFd services: placed at config->notify_fd in the child
  int cgroup_procs_fd = -1;       // the service cgroup's cgroup.procs, open for writing; -1: no cgroup
  int cgroup_dir_fd = -1;         // the service cgroup's directory: clone3 starts the child in it
  const char* passwd_path = "/etc/passwd";  // HOME, SHELL of config->user
  // A variable the child sets to its own pid (WATCHDOG_PID): a string
  // with static storage; nullptr: none.
  const char* self_pid_env = nullptr;
  // The service's listening sockets (service/listen_sockets.hpp), in
  // config->sockets' order: installed at 3, 4, ... with LISTEN_FDS,
  // LISTEN_FDNAMES and LISTEN_PID set as sd_listen_fds() expects.
  const std::vector<int>* listen_fds = nullptr;
  // The fd store (docs/services.md, "The fd store"): fds the service
  // stored with FDSTORE=1 and their FDNAME=s, passed after the sockets
  // (LISTEN_FDS counts both, LISTEN_FDNAMES lists both, in that order).
  std::vector<std::pair<int, std::string>> stored_fds;
};

// The prepared child state. Non-copyable (it owns the fds it opened, and
// argv/envp point into its strings); movable, since moving a vector keeps
// its elements where they are.
struct ExecPlan {
  ExecPlan() = default;
  ~ExecPlan();
  ExecPlan(const ExecPlan&) = delete;
  ExecPlan& operator=(const ExecPlan&) = delete;
  ExecPlan(ExecPlan&& other) noexcept;
  ExecPlan& operator=(ExecPlan&& other) noexcept;

  std::vector<std::string> args;
  std::vector<char*> argv;  // args' pointers, then nullptr
  std::vector<std::string> env;  // "KEY=VALUE", one per key, in order of first appearance
  std::vector<char*> envp;
  std::string path_env;  // the service's PATH: argv[0] is looked up there, not in keel's

  bool change_user = false;  // false: keep keel's uid, gid and groups
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool set_capabilities = false;  // false: leave the capability sets alone
  std::uint64_t capabilities = 0;  // bit N = capability N, kept in bounding/permitted/effective/inheritable/ambient
  bool no_new_privileges = false;
  bool set_umask = false;
  mode_t umask = 022;
  std::vector<Rlimit> rlimits;
  std::string cwd = "/";

  std::array<int, 3> stdio{-1, -1, -1};  // installed as 0, 1, 2; -1: leave as inherited
  // "file:PATH" streams: opened in the child after the uid/gid drop, with the
  // service's own rights, and installed as 0, 1, 2 (stdio[i] is then -1).
  std::array<std::string, 3> stdio_file;
  bool controlling_terminal = false;     // stdin is the console: make it the session's tty (gettys, shells)
  int extra_fd_source = -1;  // installed at extra_fd_target (s6 notification-fd)
  int extra_fd_target = -1;
  int cgroup_procs_fd = -1;  // "0" is written here first (unless clone3 started it there); -1: none
  int cgroup_dir_fd = -1;    // spawn's clone3(CLONE_INTO_CGROUP) target; -1: none
  const char* self_pid_env = nullptr;  // SpawnOptions::self_pid_env (static storage); nullptr: none
  // Installed at 3, 4, ... (socket activation); LISTEN_PID is then added
  // to the environment by the child itself (SpawnOptions::pid_env_name).
  std::vector<int> listen_fds;

  std::vector<int> owned_fds;  // opened by build_exec_plan; closed with the plan
};

// Reads an environment file: KEY=VALUE lines, '#' comments and blank lines
// skipped, leading blanks and an "export " prefix ignored, a value wholly
// in matching single or double quotes unquoted (no escapes: the text
// between the quotes is taken as is). KEY is [A-Za-z_][A-Za-z0-9_]*.
// A path starting with '-' is optional: a missing file yields nothing.
// false with `error` ("FILE:LINE: ...") on a bad line or unreadable file.
//
// The contents go into a service's environment, where its user can read
// them, so with `as` set (and keel running as root) the file is opened with
// that user's filesystem rights (setfsuid/setfsgid and its groups, put back
// right after the open): a path or link that a user planted cannot make
// keel hand the service a file its user could not read. A FIFO, a device or
// anything over 1 MiB is refused, without blocking (core/read_file).
struct FileRights {
  uid_t uid = 0;
  gid_t gid = 0;
  const std::vector<gid_t>* groups = nullptr;  // supplementary groups; nullptr: none
};
[[nodiscard]] bool read_environment_file(const std::string& path_spec,
                                         std::vector<std::pair<std::string, std::string>>& out, std::string& error,
                                         const FileRights* as = nullptr);

// Fills `out` (a fresh plan). false with a message in `error` when the
// service cannot be started as configured: unreadable environment file, a
// "log" stream without a log pipe, a notify fd in 0..2. A "file:" stream
// that cannot be opened is not found here but by spawn, in the child, as
// the service's user (Error "open stdout file", EACCES / ENXIO / ...). A missing program is not found here but by spawn
// (Error "execve", ENOENT), which resolves argv[0] in the plan's PATH.
// Allocates; may throw std::bad_alloc and nothing else.
[[nodiscard]] bool build_exec_plan(const ExecInputs& inputs, ExecPlan& out, std::string& error);

// The child (core/spawn.hpp: on keel's memory, the plan copied for it), the
// plan applied in it, then exec, in a new session (the service is its own
// process group, so its tree can be signalled as a group), with an empty
// signal mask and every disposition keel changed reset to default. The
// pid, or the failing step.
[[nodiscard]] Result<pid_t> spawn_service(const ExecPlan& plan) noexcept;
// The same without waiting for the exec (the supervisor's way): the pid and
// the report pipe, which the caller watches (core/spawn.hpp). `plan` may go
// once this returns: what the child reads was copied for it.
[[nodiscard]] Result<Launch> spawn_service_nowait(const ExecPlan& plan) noexcept;

}  // namespace keel::service
