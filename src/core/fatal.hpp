// fatal.hpp — what keel does when it cannot go on, so that PID 1 never dies.
//
// A bug (std::terminate, a fault, abort()) would end keel. As the system's
// init that is a kernel panic: every service, every unsaved file gone. So,
// once the system role has called set_pid1(true), a fatal error freezes
// keel instead, as systemd's CrashAction=freeze does: a message on the
// console, every signal blocked, and orphans reaped forever. Services are
// no longer supervised, keelctl no longer answers; the machine stays up so
// that its operator can save what can be saved and reboot it.
// With a hardware watchdog (keel.toml [watchdog], system/hw_watchdog.hpp)
// the frozen keel never returns to the loop that pets it, so the device
// resets the machine within its timeout: on a machine nobody watches, a
// reset is what a frozen init should lead to. The freeze must never pet.
//
// keel does not re-execute itself: a new keel would not know which
// processes already run as services and would start them twice.
//
// Everything here is async-signal-safe: it runs from a SIGSEGV handler on
// an alternate stack, and allocates nothing.
#pragma once

namespace keel::fatal {

// The system role, as PID 1, turns the freeze on; otherwise (a container
// init, a test, the system role as a plain subreaper) die() aborts.
void set_pid1(bool on) noexcept;
[[nodiscard]] bool pid1() noexcept;

// Catch the fault signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT,
// SIGTRAP, SIGSYS) on an alternate stack: one raised by a fault in keel (or
// its own abort()) die()s with the signal's name; one sent by another
// process is logged ("keel: SIGSEGV received: ignored") and ignored. The
// system role installs them in every placement and must not block these
// signals: the kernel turns a blocked fault signal into a plain death.
void install_crash_handlers() noexcept;
[[nodiscard]] bool is_crash_signal(int signo) noexcept;

// "keel: fatal: WHY" on stderr (and the console when it is elsewhere); then
// freeze() as PID 1, abort() otherwise.
[[noreturn]] void die(const char* why) noexcept;

// Block every signal and reap children forever. Never returns.
[[noreturn]] void freeze() noexcept;

}  // namespace keel::fatal
