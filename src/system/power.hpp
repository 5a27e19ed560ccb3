// power.hpp — ending the system: sync, then reboot(2).
//
// reboot(2) from PID 1 of the machine powers off, halts or restarts it;
// from PID 1 of a PID namespace it ends the namespace (the kernel kills its
// init with SIGHUP for a restart, SIGINT for power-off/halt), which is what
// lets this path be tested without a VM. Called anywhere else it would act
// on the host: its callers (the shutdown sequence, which refuses unless its
// setting says PID 1, and `reboot -f`) decide.
//
// How the system role ends, by where it runs (docs/system-mode.md, "Exit
// statuses"):
//   - the machine's init: reboot(2). If that fails (only EPERM is possible:
//     keel without CAP_SYS_BOOT), keel does not exit — PID 1 of the initial
//     namespace exiting panics the kernel, and with panic=N a panic reboots
//     a machine that was asked to power off. Everything is synced and
//     unmounted by then: keel says so and keeps reaping, the machine halted
//     in all but name.
//   - PID 1 of a container (a PID namespace): a power-off or halt is an
//     exit, with the request's status (0 from a signal or keelctl, the
//     service's own from its on_exit), and no reboot(2) at all: a container
//     runtime reads an exit status, and docker stop wants 0. A reboot is
//     reboot(2), which as the namespace's init makes the kernel kill keel
//     with SIGHUP — the convention LXC and systemd-nspawn read as "restart
//     me"; where that fails (no CAP_SYS_BOOT, Docker's default) keel exits
//     with 129 = 128 + SIGHUP, the status a runtime reading exit codes
//     (Docker, Kubernetes) reports for that very death.
//   - not PID 1: an exit with the request's status.
#pragma once

#include <csignal>

namespace keel {

enum class PowerAction { PowerOff, Reboot, Halt };

[[nodiscard]] const char* power_action_name(PowerAction action) noexcept;

// reboot(2) alone, for a caller that synced already (the shutdown
// sequence, `reboot -f`). Returns only on failure, after logging it. Does
// not check for PID 1: the kernel refuses without CAP_SYS_BOOT.
void kernel_reboot(PowerAction action) noexcept;

// The exit status of a container's PID 1 for `action` (above): 129 for a
// reboot, else `request_status`.
inline constexpr int kRebootExitStatus = 128 + SIGHUP;
[[nodiscard]] int container_exit_status(PowerAction action, int request_status) noexcept;

// Does a container's PID 1 call reboot(2) for `action`? (Only for a reboot.)
[[nodiscard]] bool container_calls_reboot(PowerAction action) noexcept;

}  // namespace keel
