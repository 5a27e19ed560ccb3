// shutdown_io.hpp — the shutdown's filesystem calls, each with a bound.
//
// sync(), umount2() and a read-only remount can hang for good: on a dead
// disk, a hard-mounted NFS server that is gone, a FUSE daemon that no
// longer answers — already in the path lookup. PID 1 must still power off.
// So each of them runs in a child process (fork; the child closes every
// descriptor it inherited, makes the one call and _exits with its errno), and PID 1 waits for that child's exit
// with a bound (SIGCHLD through sigtimedwait: the shutdown's end runs after
// the event loop's work is done, see shutdown.hpp). A child that outlives
// its bound is left behind (SIGKILL cannot end a process in uninterruptible
// sleep) and the sequence goes on; reboot(2) ends it with everything else.
//
// sync is watched the way systemd-shutdown watches it: a sync that takes
// long is fine as long as the kernel's Dirty + Writeback counters
// (/proc/meminfo) keep reaching new lows; kSyncStallChecks looks in a row
// without one mean it is stuck. SyncProgress is that decision alone, fed
// the counters, so it is tested without a disk.
//
// When fork itself fails (no memory left), the call is made from PID 1
// itself, as before these bounds: unbounded, but better than skipping it.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace keel {

// Dirty + Writeback (+ NFS_Unstable, on kernels that still show it), in
// kB, from /proc/meminfo's text. False when neither Dirty nor Writeback is
// in it.
[[nodiscard]] bool parse_meminfo_outstanding(const char* text, std::size_t length, std::uint64_t& kb) noexcept;

// Is a running sync still making progress?
class SyncProgress {
 public:
  explicit SyncProgress(int stall_checks) noexcept : stall_checks_(stall_checks) {}

  // One look at the counters: `known` false when they could not be read
  // (counts as no progress). Returns false when the sync is stuck:
  // `stall_checks` looks in a row without a new lowest value. The first
  // look always counts as progress (there is nothing to compare with).
  [[nodiscard]] bool check(std::uint64_t outstanding_kb, bool known) noexcept;

  [[nodiscard]] int stalled() const noexcept { return stalled_; }
  // The lowest value seen (UINT64_MAX before any).
  [[nodiscard]] std::uint64_t lowest() const noexcept { return lowest_; }

 private:
  int stall_checks_;
  int stalled_ = 0;
  std::uint64_t lowest_ = UINT64_MAX;
};

struct SyncBounds {
  std::int64_t check_ns = 0;  // between looks at the counters
  int stall_checks = 0;       // looks without progress before giving up
  std::int64_t max_ns = 0;    // the whole sync, progress or not
  const char* meminfo = "/proc/meminfo";
};

struct SyncOutcome {
  bool finished = false;             // sync() returned (in the child, or in PID 1 when fork failed)
  bool stalled = false;              // gave up: no progress (else, when !finished: max_ns passed)
  std::uint64_t outstanding_kb = 0;  // the last reading, when given up
  int fork_error = 0;                // fork failed (errno): synced in PID 1 instead
};

// sync() in a child, watched as above. SIGCHLD must be blocked.
SyncOutcome sync_bounded(const SyncBounds& bounds) noexcept;

enum class MountCall {
  Unmount,         // umount2(target, UMOUNT_NOFOLLOW)
  Detach,          // umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW)
  RemountReadOnly  // mount(nullptr, target, nullptr, MS_REMOUNT | MS_RDONLY, nullptr)
};

struct CallOutcome {
  bool timed_out = false;  // the child is still in the call (left behind)
  int error = 0;           // when it returned: 0, or its errno
};

// One mount-table call in a child, waited for until `deadline_ns`
// (CLOCK_MONOTONIC). SIGCHLD must be blocked.
CallOutcome mount_call_bounded(MountCall call, const char* target, std::int64_t deadline_ns) noexcept;

// Wait until child `pid` exits or `deadline_ns` passes; reaps it. True when
// it exited (its wait status in `status`). Other children that exit
// meanwhile are left for the caller's reaping. SIGCHLD must be blocked.
bool wait_child_until(pid_t pid, std::int64_t deadline_ns, int& status) noexcept;

}  // namespace keel
