// options.hpp — what the container init was asked to do.
//
// One ContainerOptions describes a run in any personality; parse_command_line
// turns argv and the environment into it. The three personalities differ
// only in how they spell things (options, environment variables, messages)
// and in a few behaviours that scripts depend on; those differences are
// fields here, so the runtime in container_init.cpp has no
// "if personality == ..." scattered through it.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/limits.hpp"
#include "core/role.hpp"
#include "core/spawn.hpp"

namespace keel {

enum class Personality { Keel, Tini, DumbInit };

struct ContainerOptions {
  Personality personality = Personality::Keel;
  Role role = Role::Container;
  bool register_subreaper = false;
  // PID 1 of its PID namespace: observed once, from the pid main() read at
  // start (not a choice: --role=container does not make keel PID 1).
  bool namespace_init = false;

  // How the main child starts. Native keel: a new session when fd 0 is not
  // a terminal (the container case: keel and the program then sit in
  // different scheduler autogroups, so a busy program cannot crowd out PID
  // 1's reaping and forwarding), a new process group holding the terminal's
  // foreground when it is one (so an interactive program keeps job control).
  Session session = Session::NewProcessGroup;
  bool session_by_terminal = true;  // choose as above at start-up; false: `session` as set
  bool take_terminal = true;
  // tini: the child gets keel's original signal mask and ignored set back
  // (exec keeps both), instead of an empty mask and default dispositions.
  bool inherit_signal_state = false;

  // Forwarding. rewrite[N]: -1 forward N unchanged, 0 drop it, M send M.
  bool signal_group = false;  // send to the child's process group, not just the child
  std::array<int, limits::kMaxClassicSignal + 1> rewrite{};
  // dumb-init: after forwarding SIGTSTP/SIGTTIN/SIGTTOU (as SIGSTOP),
  // keel stops itself too, so a shell's job control sees the whole job stop.
  bool stop_self_on_tty_signals = false;
  // tini: SIGTTIN/SIGTTOU and the synchronous fault signals are keel's own,
  // not forwarded (tini's documented set).
  bool forward_tty_and_fault_signals = true;

  // Exit.
  std::array<bool, limits::kExitCodes> exit_zero{};  // exit codes reported as 0
  bool whole_tree_stop = true;                      // SIGTERM, grace, SIGKILL to all descendants
  std::int64_t grace_ns = std::int64_t{limits::kDefaultGraceSeconds} * 1'000'000'000;
  bool term_group_on_exit = false;  // dumb-init: SIGTERM to the child's group when it exits

  // Native keel only (tini and dumb-init pass the environment on
  // unchanged, as the originals do). A Python
  // PROGRAM (core/python_program.hpp) gets PYTHONHASHSEED drawn without
  // waiting unless it is set already; --no-python-hash-seed or
  // KEEL_PYTHON_HASH_SEED=0 turn it off.
  bool python_hash_seed = false;

  int parent_death_signal = 0;  // 0: none
  int verbosity = 1;            // personality-specific scale, see messages.hpp
  bool warn_on_reap = false;    // tini -w
  bool debug_from_environment = false;   // dumb-init: DUMB_INIT_DEBUG=1 turned on -v
  bool setsid_off_from_environment = false;  // dumb-init: DUMB_INIT_SETSID=0
  std::string argv0;            // for messages ("tini", "/usr/bin/dumb-init", ...)
  std::vector<char*> program;   // PROGRAM ARGS..., nullptr-terminated
};

struct CommandLine {
  enum class Action {
    Run,        // run options.program as a container init
    RunSystem,  // be the system's init (argv words are kernel leftovers)
    Exit,       // print `out`/`err` and exit with `exit_code` (help, version, bad usage)
  };
  Action action = Action::Exit;
  int exit_code = 0;
  std::string out;  // for stdout
  std::string err;  // for stderr
  ContainerOptions options;
};

// Looks up an environment variable; nullptr when unset.
using EnvLookup = std::function<const char*(const char*)>;

// `self_pid` (main() reads getpid() once) chooses the default role of
// native keel when none is given (container when 1, subreaper otherwise)
// and sets options.namespace_init; it is a parameter so tests can ask for
// either.
[[nodiscard]] CommandLine parse_command_line(int argc, char** argv, const EnvLookup& env, int self_pid);

// Exit codes keel itself uses (documented in docs/container-mode.md).
inline constexpr int kExitUsage = 2;     // native keel: bad option or no program
inline constexpr int kExitInternal = 1;  // keel could not set itself up

}  // namespace keel
