// switch_root.hpp — keel's own disk-root stage: from the initramfs into a
// root filesystem on a disk, with keel (or init=) as PID 1 there.
//
// keel running as the machine's PID 1 with "/" on ramfs or tmpfs (an
// initramfs) and `root=` on the kernel command line is the *stage*. After
// the early mounts and CONFIG_DIR/modules.load it finds the root device
// (system/block_device.hpp), checks an ext4 one with /sbin/e2fsck -p,
// mounts it on /.keel-root (erofs read-only), mounts keel.data= and
// keel.tmpfs= inside it, moves /dev, /proc, /sys and /run there, deletes
// the initramfs's files (never crossing into another filesystem), makes the
// new root "/" (MS_MOVE + chroot) and execs init= (default /sbin/init)
// with keel's own argv and environment. That keel sees a "/" that is not
// ramfs and boots as the machine's init (docs/system-mode.md, "Booting
// from a disk root").
//
// Everything that may block — waiting for the device, reading it, e2fsck,
// mounting a real disk — runs in one child process (fork: it shares the
// mount table), which PID 1 waits for with a bound (the device waits and
// fsck runs it was told, plus limits::kStageMarginS); e2fsck is the child's
// own child with its own bound. The stage runs inside the boot, before the
// services: the loop serves nothing meanwhile, which is fine because every
// wait is bounded (ARCHITECTURE.md, rule 10). Only the moves, the removal
// of the initramfs (ramfs: memory), the chroot and the exec are PID 1's own.
//
// A failure anywhere before the removal (no device in time, an unknown
// filesystem, a mount error, a missing init, a child past its bound) is
// one console line naming the problem and what to do, and the boot goes on
// in the initramfs as if there were no root= (its services, its rescue
// shell when the image has one).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "system/block_device.hpp"

namespace keel {

// The I1 words of the kernel command line.
struct DiskRootPlan {
  bool wanted = false;  // root= is there
  std::string error;    // a word the stage cannot use: the stage is refused
  DeviceSpec root;
  std::string root_text;            // root='s value, for messages
  std::optional<FsType> fstype;     // rootfstype=
  std::string flags;                // rootflags=
  bool read_only = false;           // "ro" (erofs: always)
  long timeout_s = 30;              // keel.root_timeout=
  std::string init = "/sbin/init";  // init=
  std::optional<DeviceSpec> data;   // keel.data=SPEC:MOUNTPOINT
  std::string data_mountpoint;
  std::vector<std::string> tmpfs;  // keel.tmpfs=
  bool fsck = true;                // keel.fsck=skip turns it off
};
[[nodiscard]] DiskRootPlan parse_disk_root(std::string_view cmdline);

// What the stage does after `e2fsck -p` exited with `status` (its exit
// status bits: 1 errors fixed, 2 reboot needed, 4 errors left, 8 operational
// error, 16 usage, 32 cancelled, 128 shared-library error).
enum class FsckAction {
  Mount,          // 0, 1: clean, or fixed
  Reboot,         // 2 (with no bit of 4 and up): the kernel must re-read it
  MountReadOnly,  // 4 and up, killed at its bound, or not run: the damage stays as it is
};
[[nodiscard]] FsckAction fsck_action(int status) noexcept;

// statfs("/") is ramfs or tmpfs.
[[nodiscard]] bool root_is_initramfs() noexcept;

// The stage, as the machine's PID 1: returns only when it fell back to the
// initramfs (the console said why). `signals_reset` says the signal mask
// and dispositions were reset for an exec that failed (the caller blocks
// its signals again). `cmdline`: the kernel command line's text.
void run_disk_root_stage(std::string_view cmdline, char** argv, bool& signals_reset) noexcept;

// The stage's "root" boot step (docs/events.md: the device and the time
// from the stage's start to its exec). An exec ends the initramfs keel's
// event record, so the stage passes the step to the next keel in the
// environment (KEEL_STAGE_ROOT); this records it in the new keel's record
// (and on the console with keel.events=console) and removes the variable.
// No-op when it is not there.
void record_disk_root_step() noexcept;

}  // namespace keel
