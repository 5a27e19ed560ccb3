// keel_config.hpp — keel's own configuration file, CONFIG_DIR/keel.toml.
//
// What the system role needs before any service runs: the hostname, extra
// filesystems to mount (fsck-less: tmpfs, an already clean data partition),
// the start target, the program to hand PID 1 to, where the random seed
// lives, the rescue shell, the shutdown's bounds, whether a container's
// PID 1 syncs, and what each signal means.
// Every key is optional and documented with an example in
// docs/system-mode.md. A bad file never stops the boot: each problem is a
// ConfigError (file:line: key: message) and the key keeps its default.
//
// Loading is an edge (allocates; may throw std::bad_alloc only).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/limits.hpp"
#include "service/config.hpp"
#include "service/container_output.hpp"

namespace keel {

enum class SignalAction { Reboot, Poweroff, Halt, Ignore };

struct MountSpec {
  std::string what;     // device, or a name for virtual filesystems ("tmpfs")
  std::string where;    // absolute mount point; created when missing
  std::string type;     // "ext4", "tmpfs", ...
  unsigned long flags = 0;  // MS_RDONLY, MS_NOSUID, ... from the generic options
  std::string data;     // the filesystem's own options, passed through
  int line = 0;
};

struct SignalActions {
  // SIGTERM. Unset: a reboot as the machine's init (BusyBox init's
  // convention), a power-off as PID 1 of a container (docker stop).
  std::optional<SignalAction> term;
  // SIGINT: Ctrl-Alt-Del as the machine's init (unset: a reboot); Ctrl-C on
  // `docker run -it` as a container's PID 1 (unset: stop and exit 130, as a
  // shell would, rather than a reboot that ends the container as 129).
  std::optional<SignalAction> intr;
  SignalAction usr1 = SignalAction::Halt;      // SIGUSR1
  SignalAction usr2 = SignalAction::Poweroff;  // SIGUSR2
  SignalAction pwr = SignalAction::Poweroff;   // SIGPWR: power failure
};

// [watchdog]: a hardware watchdog device keel pets as the machine's init
// (system/hw_watchdog.hpp). No device: no watchdog.
struct WatchdogConfig {
  std::string device;                // "": off (the table is absent)
  int timeout_s = 30;                // WDIOC_SETTIMEOUT; the driver may round it
  std::int64_t pet_interval_ns = 0;  // 0: a third of the timeout the driver reports
  // Set at an orderly shutdown instead, so a hung shutdown is still reset;
  // 0: disarmed at the shutdown's start (magic close).
  int shutdown_timeout_s = 120;
  // A critical service unhealthy this long: keel stops petting.
  std::int64_t critical_unhealthy_ns = 60'000'000'000;
};

struct KeelConfig {
  std::string hostname;                 // "": /etc/hostname, if any
  std::string target;                   // "": "default"
  std::vector<std::string> exec;        // hand PID 1 to this program (argv)
  std::string seed_dir = "/var/lib/keel/seed";  // "": no random seed
  std::vector<std::string> rescue_shell = {"/bin/sh"};
  std::int64_t shutdown_grace_ns = 5'000'000'000;  // leftover processes at shutdown
  // The services as a whole, from the power request on: then keel names
  // what is still alive and goes on (core/limits.hpp).
  std::int64_t shutdown_timeout_ns = limits::kShutdownTimeoutNs;
  // As PID 1 of a container, sync at shutdown too (the machine's init always does).
  bool container_sync = false;
  SignalActions signals;
  std::vector<MountSpec> mounts;
  WatchdogConfig watchdog;
  // ---- issue 13: container-friendly output
  // log_output: every service's lines also on keel's stdout/stderr
  // (service/container_output.hpp); KEEL_LOG_OUTPUT wins when set and valid.
  service::LogOutput log_output = service::LogOutput::None;
  // ---- Python hash seed
  // python_hash_seed: the default of every service's python_hash_seed key
  // (docs/services.md, "Python services"); a service's own key wins. false:
  // no PYTHONHASHSEED from keel for any service that does not ask.
  bool python_hash_seed = true;
};

struct KeelConfigResult {
  KeelConfig config;                            // defaults where a key was bad or absent
  std::vector<service::ConfigError> errors;
  bool found = false;                           // the file existed
};

// Parse keel.toml's text; `file` names it in errors.
[[nodiscard]] KeelConfigResult parse_keel_config(std::string_view text, const std::string& file);
// Read and parse `path`; a missing file is the defaults, not an error.
// Then the environment's KEEL_LOG_OUTPUT (apply_log_output_env).
[[nodiscard]] KeelConfigResult load_keel_config(const std::string& path);
// KEEL_LOG_OUTPUT's `value` (nullptr or "": unset): a valid one replaces
// log_output; any other adds an error naming the variable and the accepted
// values, and changes nothing.
void apply_log_output_env(KeelConfigResult& result, const char* value);

// "rw,noatime,nosuid,size=64M" -> MS_NOATIME|MS_NOSUID and "size=64M".
// Unknown words are the filesystem's own and pass through in `data`.
void split_mount_options(std::string_view options, unsigned long& flags, std::string& data);

}  // namespace keel
