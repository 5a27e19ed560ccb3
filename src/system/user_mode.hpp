// user_mode.hpp — keel's system role for a user other than root.
//
// A user instance (docs/system-mode.md, "A user instance"): keel run with
// `--role=system` (or `--user`) by a uid other than 0, as a supervisor for
// that user like `systemd --user`, or as a container's init under
// `USER 1000`. It keeps everything a supervisor does without privileges
// (services, restarts, probes, logs, sockets, keelctl, the shutdown) and
// turns off what needs root, each with one line at start naming the
// feature and why, never an error at every use: the early mounts, the
// hostname, kernel modules, keel.toml's [[mount]]s, reboot(2), and
// cgroups unless one is delegated. What a service file asks that needs
// root is refused by the loader (service/user_instance.hpp).
#pragma once

#include <string>

#include "system/keel_config.hpp"

namespace keel {

// keel's system role is a user instance: its effective uid is not 0 (the
// kernel starts the machine's init as root, so this is never it).
[[nodiscard]] bool is_user_instance() noexcept;

// The lines for the features of keel.toml and CONFIG_DIR that are off,
// logged once when keel.toml is known. `pid1`: PID 1 of a PID namespace
// (a container), where the boot steps would otherwise run.
void report_user_instance_limits(const KeelConfig& config, const std::string& config_dir, bool pid1) noexcept;

}  // namespace keel
