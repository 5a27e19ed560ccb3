// power.hpp — ending the system: sync, then reboot(2).
//
// reboot(2) from PID 1 of the machine powers off, halts or restarts it;
// from PID 1 of a PID namespace it ends the namespace (the kernel kills its
// init with SIGHUP for a restart, SIGINT for power-off/halt), which is what
// lets this path be tested without a VM. Called anywhere else it would act
// on the host: its callers (the shutdown sequence, which refuses unless its
// setting says PID 1, and `reboot -f`) decide.
#pragma once

namespace keel {

enum class PowerAction { PowerOff, Reboot, Halt };

[[nodiscard]] const char* power_action_name(PowerAction action) noexcept;

// reboot(2) alone, for a caller that synced already (the shutdown
// sequence, `reboot -f`). Returns only on failure, after logging it. Does
// not check for PID 1: the kernel refuses without CAP_SYS_BOOT.
void kernel_reboot(PowerAction action) noexcept;

}  // namespace keel
