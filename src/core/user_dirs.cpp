// user_dirs.cpp — see user_dirs.hpp.
#include "core/user_dirs.hpp"

#include <unistd.h>

#include <cstdlib>
#include <string_view>

namespace keel {
namespace {

// An absolute value of `name`, else nullptr (XDG: "If an implementation
// encounters a relative path in any of these variables it should
// consider the path invalid and ignore it").
const char* absolute_env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] == '/' ? v : nullptr;
}

}  // namespace

std::string user_config_dir() {
  if (const char* xdg = absolute_env("XDG_CONFIG_HOME")) return std::string(xdg) + "/keel";
  const char* home = absolute_env("HOME");
  if (home != nullptr && std::string_view(home) != "/") return std::string(home) + "/.config/keel";
  return "/etc/keel";
}

std::string user_run_dir() {
  if (const char* xdg = absolute_env("XDG_RUNTIME_DIR")) return std::string(xdg) + "/keel";
  return "/run/keel";
}

std::string default_control_socket() {
  if (::getuid() == 0) return "/run/keel/control.sock";
  return user_run_dir() + "/control.sock";
}

}  // namespace keel
