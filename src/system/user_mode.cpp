// user_mode.cpp — see user_mode.hpp.
#include "system/user_mode.hpp"

#include <unistd.h>

#include <cstdio>

#include "core/log.hpp"

namespace keel {

bool is_user_instance() noexcept { return ::geteuid() != 0; }

void report_user_instance_limits(const KeelConfig& config, const std::string& config_dir, bool pid1) noexcept {
  // Only what was asked for: /etc/hostname and a missing modules.load are
  // defaults, not requests, and are skipped without a word.
  if (pid1 && !config.hostname.empty()) {
    log::msg(log::Level::Warn, "user instance: keel.toml hostname = \"%s\": setting the hostname needs root; ignored",
             config.hostname.c_str());
  }
  char list[512];
  std::snprintf(list, sizeof list, "%s/modules.load", config_dir.c_str());
  if (pid1 && ::access(list, F_OK) == 0) {
    log::msg(log::Level::Warn, "user instance: %s: loading kernel modules needs root; ignored", list);
  }
  if (pid1 && !config.mounts.empty()) {
    log::msg(log::Level::Warn, "user instance: keel.toml [[mount]] (%zu): mounting needs root; ignored",
             config.mounts.size());
  }
}

}  // namespace keel
