// role.hpp — what keel is in this process tree, chosen explicitly.
//
// Behaviour differs by role (a container's init exits with its program's
// status; the system's init must never exit; a subreaper must register
// itself to adopt orphans), and the role is decided from the command line
// and argv[0], never guessed deep in the code from getpid() == 1. That is
// what lets every behaviour be tested both as PID 1 of a fresh PID
// namespace and as a plain subreaper under the test runner.
//
// A few behaviours also depend on facts no setting can choose: whether
// keel is PID 1 of its PID namespace (only then does kill(-1) mean "every
// process of the namespace", and only then does reboot(2) end it), and
// whether that namespace is the machine's. main() reads getpid() once; the
// system role reads /proc/self/ns/pid once, right after mounting /proc.
// Both are stored in the setting (RoleSetting, ContainerOptions) and passed
// down; nothing below asks again.
#pragma once

#include <optional>
#include <string_view>

namespace keel {

enum class Role {
  System,     // PID 1 of a machine, from boot to power-off
  Container,  // PID 1 of a PID namespace (container), exits with its program
  Subreaper,  // below another init: adopts orphans via PR_SET_CHILD_SUBREAPER
};

// The system role's setting: the role, and the two facts above.
struct RoleSetting {
  Role role = Role::System;
  bool namespace_init = false;  // PID 1 of its PID namespace (getpid() == 1 at start)
  bool machine_init = false;    // ... and that namespace is the kernel's first: the machine's init
};

// True when /proc/self/ns/pid is the PID namespace the kernel started with
// (needs /proc mounted; false when it cannot tell).
[[nodiscard]] bool in_initial_pid_namespace() noexcept;

[[nodiscard]] const char* role_name(Role role) noexcept;
[[nodiscard]] std::optional<Role> parse_role(std::string_view text) noexcept;

// The part of a path after its last '/'.
[[nodiscard]] std::string_view base_name(std::string_view path) noexcept;

// True when argv[0] says the kernel (or an initramfs) started us as the
// system's init: "init" as a base name (/init, /sbin/init, /bin/init) or
// "linuxrc". Only then are extra argv words ignored as kernel
// command-line leftovers such as "single" or "quiet".
[[nodiscard]] bool argv0_is_system_init(std::string_view argv0) noexcept;

}  // namespace keel
