// fd_limit.hpp — keel's own RLIMIT_NOFILE, and the one its services get.
//
// The kernel starts init with a soft limit of 1024 fds (and a hard limit of
// 1024 as PID 1 of the machine; container runtimes and `prlimit` often give
// more hard room). The supervisor holds fds for its services and its
// control socket (docs/system-mode.md, "Limits"), so at start it raises its
// soft limit to the hard limit. Its services get the soft limit keel was
// given back (unless their [rlimits] sets nofile), as systemd does: a
// program using select() breaks on fds above 1024, so a larger soft limit
// is for programs that ask for it.
//
// The container init does not call this: it holds three fds of its own and
// its program should see exactly the limits the runtime set.
#pragma once

#include <sys/resource.h>

namespace keel {

struct FdLimit {
  rlim_t inherited_soft = 0;  // the soft limit keel was started with
  rlim_t soft = 0;            // keel's soft limit now
  rlim_t hard = 0;
  bool raised = false;        // soft was raised (so children get inherited_soft back)
  int error = 0;              // errno of a failed getrlimit/setrlimit, 0 if none
};

// Raise the soft RLIMIT_NOFILE to the hard limit, once; remember what was
// inherited. Never fails keel: a refusal is reported in the result.
FdLimit raise_fd_limit() noexcept;

// What raise_fd_limit() did (all zero if it was not called).
[[nodiscard]] const FdLimit& fd_limit() noexcept;

}  // namespace keel
