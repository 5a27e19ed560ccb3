// early_mounts.hpp — the filesystems every system needs before anything runs.
//
// /proc, /sys, /dev (devtmpfs: Debian's kernel does not mount it for an
// initramfs) and /run (tmpfs). Each is mounted only when it is not there
// yet — the kernel, a bootloader's initramfs or a container runtime may
// have done it — and a failure is logged and skipped: a system without
// /sys still runs its program, and PID 1 goes on either way.
#pragma once

namespace keel {

void mount_early_filesystems() noexcept;

}  // namespace keel
