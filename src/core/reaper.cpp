#include "core/reaper.hpp"

#include <sys/prctl.h>
#include <sys/wait.h>

#include <cerrno>

namespace keel {

ReapOutcome reap_all(ExitHandler& handler) noexcept {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      handler.on_child_exit(pid, status);
      continue;
    }
    if (pid == 0) return ReapOutcome::ChildrenRemain;
    if (errno == EINTR) continue;
    // ECHILD is the expected end; any other error (there is none documented
    // for these arguments) is treated the same: nothing to reap.
    return ReapOutcome::NoChildren;
  }
}

Status become_subreaper() noexcept {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return errno_error("prctl(PR_SET_CHILD_SUBREAPER)");
  return {};
}

bool is_subreaper() noexcept {
  int flag = 0;
  return ::prctl(PR_GET_CHILD_SUBREAPER, &flag, 0, 0, 0) == 0 && flag != 0;
}

int shell_exit_code(int status) noexcept {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;  // stopped/continued: waitpid without WUNTRACED never reports these
}

}  // namespace keel
