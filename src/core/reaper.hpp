// reaper.hpp — collecting exit statuses, for our children and adopted orphans.
//
// On every SIGCHLD keel calls reap_all(): waitpid(-1, WNOHANG) until the
// kernel has nothing more. SIGCHLDs coalesce (ten exits can arrive as one
// signal), so reaping one child per signal would leave zombies behind.
#pragma once

#include <sys/types.h>

#include "core/result.hpp"

namespace keel {

class ExitHandler {
 public:
  // `status` is the raw wait status (WIFEXITED, WTERMSIG, ...).
  virtual void on_child_exit(pid_t pid, int status) noexcept = 0;

 protected:
  ~ExitHandler() = default;
};

enum class ReapOutcome {
  ChildrenRemain,  // at least one child is still running
  NoChildren,      // waitpid said ECHILD: no child, so no descendant is left
};

// Reap every child that has exited, calling `handler` for each, in the
// order the kernel returns them. Never blocks.
ReapOutcome reap_all(ExitHandler& handler) noexcept;

// Make orphans of our descendants re-parent to us rather than to the
// system's init (PR_SET_CHILD_SUBREAPER).
Status become_subreaper() noexcept;
[[nodiscard]] bool is_subreaper() noexcept;

// Exit code a shell would report for this wait status: the exit status, or
// 128+N for death by signal N.
[[nodiscard]] int shell_exit_code(int status) noexcept;

}  // namespace keel
