// system_init.hpp — keel as the system's init (the "system" role).
//
// Selected when the kernel starts keel as /sbin/init, /init (any argv[0]
// whose base name is "init" or "linuxrc"), or with --role=system. The
// kernel passes init the command-line words it did not recognise (e.g.
// "single", "quiet") as argv; they are logged and never run.
//
// What it does (docs/system-mode.md): early mounts, keel.toml, the modules
// the image lists, the services (CONFIG_DIR/main as the main program whose
// exit powers off), PID 1's core duty — adopt and reap every process — and
// the shutdown, bounded by keel.toml's shutdown_timeout. As the machine's
// init it never exits; as a container's PID 1 or a plain supervisor a power
// request ends in an exit (system/power.hpp has the statuses).
#pragma once

namespace keel {

// Does not return while keel is the machine's init. Returns an exit code
// when a power request has stopped everything and keel is a container's
// PID 1 or not PID 1, or when it cannot even set up its event loop and is
// not PID 1.
// `namespace_init`: keel is PID 1 of its PID namespace, as main() observed
// once at start (core/role.hpp); nothing in the system role asks again.
[[nodiscard]] int run_system_init(int argc, char** argv, bool namespace_init) noexcept;

}  // namespace keel
