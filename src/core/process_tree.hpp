// process_tree.hpp — finding and signalling every descendant of keel.
//
// Used by the whole-tree stop: when the main program exits, whatever it
// left behind (daemons that double-forked, adopted orphans, grandchildren)
// gets SIGTERM, then SIGKILL. As PID 1 of a PID namespace every other
// process in it is a descendant and kill(-1) reaches them in one call; as a
// subreaper keel walks /proc and follows parent links from itself.
#pragma once

#include <sys/types.h>

namespace keel {

struct TreeSignalResult {
  int signalled = 0;  // live descendants found and signalled; -1: some, count unknown (kill(-1))
};

// Send `signo` to every live (non-zombie) descendant of `self`. `use_kill_all`
// selects kill(-1): only correct when `self` is PID 1 of its namespace.
// Allocates (a table of the /proc scan); called only on the way out.
TreeSignalResult signal_descendants(pid_t self, int signo, bool use_kill_all) noexcept;

}  // namespace keel
