#include "system/power.hpp"

#include <sys/reboot.h>

#include <cerrno>
#include <cstring>

#include "core/log.hpp"

namespace keel {

const char* power_action_name(PowerAction action) noexcept {
  switch (action) {
    case PowerAction::PowerOff: return "power-off";
    case PowerAction::Reboot: return "reboot";
    case PowerAction::Halt: return "halt";
  }
  return "?";
}

void kernel_reboot(PowerAction action) noexcept {
  int cmd = action == PowerAction::Reboot ? RB_AUTOBOOT : action == PowerAction::Halt ? RB_HALT_SYSTEM : RB_POWER_OFF;
  if (::reboot(cmd) != 0) log::msg(log::Level::Error, "reboot(2): %s", std::strerror(errno));
}

int container_exit_status(PowerAction action, int request_status) noexcept {
  return action == PowerAction::Reboot ? kRebootExitStatus : request_status;
}

bool container_calls_reboot(PowerAction action) noexcept { return action == PowerAction::Reboot; }

}  // namespace keel
