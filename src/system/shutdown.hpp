// shutdown.hpp — the end of the shutdown sequence, run by PID 1 once every
// service is stopped (or the shutdown deadline gave up on the rest): the
// processes no service owned, then the filesystems, then reboot(2) — or,
// as PID 1 of a container, nothing more: keel exits.
//
//   1. SIGTERM and SIGCONT to every process (kill(-1): PID 1 only); a grace
//      period that ends as soon as the last one is reaped (SIGCHLD waited
//      for with sigtimedwait, never a sleep), SIGKILL to the rest, reaping
//      until waitpid says ECHILD (bounded: a process in uninterruptible
//      sleep cannot die, and the machine must still go down). What outlives
//      that is named (pid, name, state) and left behind.
//   2. The caller's hook (the random-seed refresh), while the filesystems
//      are still writable and nothing else writes to them.
//   3. sync (when `sync` is set: always as the machine's init); every
//      filesystem unmounted, last mounted first, from
//      /proc/self/mountinfo; one that is busy is remounted read-only (so its
//      journal is clean) and then detached; the root, which cannot be
//      unmounted, is remounted read-only; sync again. Each of these calls
//      runs in a child with a bound (system/shutdown_io.hpp): a dead disk
//      or NFS server costs a bounded wait, never the power-off.
//   4. The caller's second hook (the hardware watchdog disarmed), then
//      reboot(2) with the action, unless `end_by_exit` (a container's
//      power-off or halt: the caller exits instead).
// Every step is logged with its time since the shutdown began; a failing
// step is logged and the sequence goes on.
//
// The waits here use sigtimedwait on SIGCHLD rather than the event loop:
// this is the very end, no service is left to supervise and nothing else
// is waited for, and each wait has its own bound, so a straight sequence
// is the simplest form that stays bounded.
//
// Which filesystems. Kernel-virtual ones with no backing store (proc,
// sysfs, devtmpfs, devpts, tmpfs, cgroup2, ...) are left mounted: there is
// nothing on them to save, keel's own console and /dev/kmsg live there, and
// reboot(2) ends them anyway. A real filesystem mounted below one of them
// (/run/media/usb) is still unmounted, as every mount is looked at. Every
// other type, known or not (ext4, xfs, vfat, nfs, overlay, fuse.*), is
// unmounted. The filesystem step runs only when keel is the machine's init
// (the initial PID namespace): PID 1 of a container shares superblocks
// with its host (bind-mounted volumes), and remounting one read-only would
// remount the host's; the runtime tears a container's mounts down itself.
// For the same reason a container's PID 1 does not sync (sync() writes back
// every filesystem of the host: tens of milliseconds on an idle host,
// unbounded on a busy one) unless keel.toml's container_sync asks.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/limits.hpp"
#include "system/power.hpp"
#include "system/shutdown_io.hpp"

namespace keel {

struct ShutdownOptions {
  // From the caller's RoleSetting (core/role.hpp): PID 1 of its PID
  // namespace (false: finish_shutdown refuses, since kill(-1) would signal
  // every process of keel's user), and of the machine's (the filesystem
  // step runs only then, unless `subtree` is set).
  bool namespace_init = false;
  bool machine_init = false;
  // How long leftover processes have between SIGTERM and SIGKILL.
  std::int64_t grace_ns = 5'000'000'000;
  // How long reaping waits after SIGKILL before going on without the
  // processes that could not die (uninterruptible sleep on a dead device).
  std::int64_t kill_wait_ns = 2'000'000'000;
  // sync before and after the filesystem step (the machine's init always
  // does; a container's only when keel.toml's container_sync says so).
  bool sync = true;
  // A container's power-off or halt: no reboot(2), finish_shutdown returns
  // and the caller exits.
  bool end_by_exit = false;
  // The shutdown deadline gave up on services still stopping (for the log).
  bool services_left = false;
  // The bounds of step 3 (core/limits.hpp); tests shorten them.
  SyncBounds sync_bounds{limits::kSyncCheckNs, limits::kSyncStallChecks, limits::kSyncMaxNs, "/proc/meminfo"};
  std::int64_t mount_call_ns = limits::kMountOpTimeoutNs;
  std::int64_t filesystems_max_ns = limits::kFilesystemsMaxNs;
  // Called after the last process is gone and before the first sync: the
  // random-seed refresh goes here. Must not fork.
  void (*before_sync)(void*) = nullptr;
  // Called right before reboot(2) (not when the caller ends by exit): the
  // hardware watchdog's magic close for a power-off or a halt
  // (system/hw_watchdog.hpp). Must not block.
  void (*before_reboot)(void*) = nullptr;
  void* context = nullptr;
  // CLOCK_MONOTONIC nanoseconds when the shutdown was requested, so the
  // logged times count from the request; 0: from finish_shutdown's start.
  std::int64_t started_ns = 0;
  // Tests: only the mounts at or below this path are handled (of any type,
  // virtual ones too), and the root is left alone; set, it also runs the
  // filesystem step in a PID namespace. nullptr: every filesystem, and only
  // as the machine's init.
  const char* subtree = nullptr;
  // Tests: where the mount table is read from.
  const char* mountinfo = "/proc/self/mountinfo";
};

// The shutdown's end as PID 1. Returns when options.end_by_exit is set
// (every process is gone: the caller exits), when reboot(2) failed, or when
// options.namespace_init is false (after logging why).
void finish_shutdown(PowerAction action, const ShutdownOptions& options) noexcept;

// One line of /proc/self/mountinfo, pointing into the parsed buffer.
// parse_mountinfo sets every field of each entry it returns. The defaults
// are null, not "": shutdown's table of 4096 entries is then all zero and
// lives in .bss (untouched until shutdown), where "" pointers put 128 KiB
// into .data, a file-backed part of the binary that every role maps.
struct MountEntry {
  const char* target = nullptr;  // mount point, octal escapes (\040 ...) undone
  const char* type = nullptr;    // filesystem type ("ext4", "fuse.sshfs")
  const char* source = nullptr;  // device or "none"
  bool bind_of_subdir = false;   // the mount shows a directory of its filesystem, not its root
};

// Parses mountinfo text in place (escapes undone, fields NUL-terminated)
// into at most `max` entries, in the file's order (mount order). Returns
// the number of entries; malformed lines are skipped.
std::size_t parse_mountinfo(char* text, std::size_t length, MountEntry* out, std::size_t max) noexcept;

// True for filesystem types with no backing store, which shutdown leaves
// mounted (see above).
[[nodiscard]] bool is_virtual_filesystem(const char* type) noexcept;

struct UnmountSummary {
  int unmounted = 0;         // cleanly unmounted
  int timed_out = 0;         // a call on it outlived its bound (then detached, or left)
  int read_only = 0;         // busy: remounted read-only (then detached), or the root
  int detached = 0;          // busy and could not even be remounted read-only: detached only
  int failed = 0;            // nothing worked
  int skipped = 0;           // virtual, or outside the subtree
};

// Step 3 without the syncs: every filesystem (or the subtree's), last
// mounted first, as described above, each outcome logged as a timed line.
// Any process and any PID namespace may call it; what it can unmount is
// up to its privileges.
UnmountSummary unmount_filesystems(const ShutdownOptions& options) noexcept;

}  // namespace keel
