// tree_tracker.hpp — finding a service's processes without cgroups.
//
// Where no cgroup2 is mounted, a service's tree is tracked with two marks it
// carries from keel: its process group (spawn_service starts every service
// in a session and group of its own) and its environment (exec plans set
// KEEL_SERVICE=NAME). A daemon that double-forks and calls setsid() leaves
// the group, but keeps its environment, and /proc/PID/environ shows it.
//
// The limits, honestly: a process that both leaves the group and clears or
// rewrites its environment (or execs with a fresh one) escapes this and is
// only found by the final whole-tree stop; a process of another service
// started by hand with the same KEEL_SERVICE value would be taken for one
// of ours. /proc/PID/environ shows the environment as it was at exec, so a
// later unsetenv() does not hide a process, but an exec with a clean
// environment does. cgroups close all of these gaps (service/cgroup.hpp).
//
// Walking /proc is an edge: it runs at a stop, not in a handler. It
// allocates nothing anyway (getdents64 and reads into stack buffers).
#pragma once

#include <sys/types.h>

#include <string_view>

namespace keel::service {

// kill(-pgid, signo), then `signo` to every other process in that group
// and every process whose environment holds KEEL_SERVICE=service_name
// (keel itself excluded). Returns how many processes were signalled by the
// walk (the group kill is not counted separately: its members are found by
// the walk too).
int signal_process_group_and_adopted(pid_t pgid, std::string_view service_name, int signo) noexcept;

// Is any process of the group, or any marked with KEEL_SERVICE=service_name,
// still alive? Zombies do not count for the environment match (their
// environ reads empty).
[[nodiscard]] bool tree_alive(pid_t pgid, std::string_view service_name) noexcept;

// Is `pid` one of the processes signal_process_group_and_adopted() would
// signal: in group `pgid`, or marked KEEL_SERVICE=service_name and below
// keel? keel itself never is. Who may speak for a service on its notify
// socket, and which MAINPID it may name, is decided with this.
[[nodiscard]] bool in_tree(pid_t pid, pid_t pgid, std::string_view service_name) noexcept;

}  // namespace keel::service
