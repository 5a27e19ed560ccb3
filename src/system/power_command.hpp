// power_command.hpp — `reboot`, `poweroff` and `halt`: the keel binary
// under those names (symlinks in an image, like keelctl).
//
// Without -f they ask PID 1, with BusyBox init's signals, which keel's
// system role follows (docs/system-mode.md): SIGTERM to reboot, SIGUSR2 to
// power off, SIGUSR1 to halt. So they work under BusyBox init too, and
// inside a PID namespace they ask that namespace's init. PID 1 then stops
// the services and runs the shutdown sequence; the command returns at once
// (0 when the signal was delivered).
//
// With -f (--force) they do what PID 1 would do last, without it: sync
// (unless -n) and reboot(2) directly — no service is stopped and nothing
// is unmounted, as with BusyBox's and systemd's -f. Needs CAP_SYS_BOOT; in
// a PID namespace it ends the namespace.
//
//   reboot|poweroff|halt [-f|--force] [-n|--no-sync] [-h|--help]
//
// Exit status: 0 done (or, with -f, never returns), 1 the request failed
// (the reason on stderr), 2 a usage error.
#pragma once

namespace keel {

// True when `argv0`'s last component is reboot, poweroff or halt.
[[nodiscard]] bool is_power_command(const char* argv0) noexcept;

// The command named by argv[0]; see above.
int run_power_command(int argc, char** argv) noexcept;

}  // namespace keel
