// system_init.hpp — keel as the system's init (the "system" role).
//
// Selected when the kernel starts keel as /sbin/init, /init (any argv[0]
// whose base name is "init" or "linuxrc"), or with --role=system. The
// kernel passes init the command-line words it did not recognise (e.g.
// "single", "quiet") as argv; they are logged and never run.
//
// What exists so far (docs/system-mode.md): early mounts, the modules the
// image lists, CONFIG_DIR/main as the main program whose exit powers the
// machine off, and PID 1's core duty — adopt and reap every process, never
// exit. Services and the shutdown sequence build on this next.
#pragma once

namespace keel {

// Does not return while keel is the system's init; returns an exit code
// only when it cannot even set up its event loop and is not PID 1.
// `namespace_init`: keel is PID 1 of its PID namespace, as main() observed
// once at start (core/role.hpp); nothing in the system role asks again.
[[nodiscard]] int run_system_init(int argc, char** argv, bool namespace_init) noexcept;

}  // namespace keel
