#include "core/role.hpp"

#include <sys/stat.h>

namespace keel {

bool in_initial_pid_namespace() noexcept {
  // PROC_PID_INIT_INO in the kernel's proc_ns.h.
  constexpr unsigned long kInitialPidNs = 0xEFFFFFFCUL;
  struct stat st{};
  return ::stat("/proc/self/ns/pid", &st) == 0 && st.st_ino == kInitialPidNs;
}

const char* role_name(Role role) noexcept {
  switch (role) {
    case Role::System: return "system";
    case Role::Container: return "container";
    case Role::Subreaper: return "subreaper";
  }
  return "?";
}

std::optional<Role> parse_role(std::string_view text) noexcept {
  if (text == "system") return Role::System;
  if (text == "container") return Role::Container;
  if (text == "subreaper") return Role::Subreaper;
  return std::nullopt;
}

std::string_view base_name(std::string_view path) noexcept {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool argv0_is_system_init(std::string_view argv0) noexcept {
  std::string_view base = base_name(argv0);
  return base == "init" || base == "linuxrc";
}

}  // namespace keel
