// terminal_guard.hpp — gives the terminal back as it was found, whatever
// ends an interactive `keel-image boot`.
//
// QEMU's stdio console puts the terminal in raw mode and sets O_NONBLOCK on
// its open file (shared with the user's shell); it undoes both when it exits
// normally, but not when it is killed (the boot's timeout, a panic's grace,
// keel-image itself dying). TerminalGuard saves the termios and the file
// status flags of a descriptor and restores them in its destructor, and, while
// it lives, on SIGINT, SIGTERM, SIGHUP and SIGQUIT too: the handler restores
// (tcsetattr and fcntl are async-signal-safe), then the signal's default
// action runs as if no handler had been there.
//
//   {
//     TerminalGuard guard(STDIN_FILENO);  // before QEMU starts
//     ... run QEMU ...
//   }                                     // modes and flags back
#pragma once

namespace keel::image {

class TerminalGuard {
 public:
  explicit TerminalGuard(int fd);
  TerminalGuard(const TerminalGuard&) = delete;
  TerminalGuard& operator=(const TerminalGuard&) = delete;
  ~TerminalGuard();

  // Whether fd was a terminal whose modes were saved.
  [[nodiscard]] bool active() const noexcept { return active_; }

 private:
  bool active_ = false;
};

// Whether fd is a terminal and this process is in its foreground process
// group (a background job reading it would be stopped by SIGTTIN).
bool is_foreground_terminal(int fd);

}  // namespace keel::image
