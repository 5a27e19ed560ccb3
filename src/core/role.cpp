#include "core/role.hpp"

namespace keel {

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
