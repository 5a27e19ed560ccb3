// system_init.hpp — keel as the system's init (the "system" role).
//
// Selected when the kernel starts keel as /sbin/init, /init (any argv[0]
// whose base name is "init" or "linuxrc"), or with --role=system. The
// kernel passes init the command-line words it did not recognise (e.g.
// "single", "quiet") as argv; they are logged and never run.
//
// What exists so far: PID 1's core duty — adopt and reap every process,
// and never exit. Early boot (mounts, console, entropy), services and
// shutdown are built on this in later steps (see ARCHITECTURE.md).
#pragma once

namespace keel {

// Does not return while keel is the system's init; returns an exit code
// only when it cannot even set up its event loop and is not PID 1.
[[nodiscard]] int run_system_init(int argc, char** argv) noexcept;

}  // namespace keel
