#include "image/terminal_guard.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <csignal>

namespace keel::image {

namespace {

// One guard at a time (boot() is not re-entered); the handler reads these.
// Written before the handlers are installed, so a signal sees them whole.
int g_fd = -1;
termios g_modes{};
int g_flags = 0;
constexpr std::array<int, 4> kSignals = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
std::array<struct sigaction, kSignals.size()> g_previous{};

void restore() noexcept {
  if (g_fd < 0) return;
  (void)tcsetattr(g_fd, TCSANOW, &g_modes);
  (void)fcntl(g_fd, F_SETFL, g_flags);
}

// Restores the terminal, then dies of the signal as it would have without
// us (the default action; unblocked by the return from this handler).
void on_signal(int sig) {
  restore();
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

bool is_foreground_terminal(int fd) { return isatty(fd) == 1 && tcgetpgrp(fd) == getpgrp(); }

TerminalGuard::TerminalGuard(int fd) {
  if (g_fd >= 0 || tcgetattr(fd, &g_modes) != 0) return;
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return;
  g_flags = flags;
  g_fd = fd;
  active_ = true;
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  for (std::size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &action, &g_previous[i]);
}

TerminalGuard::~TerminalGuard() {
  if (!active_) return;
  for (std::size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &g_previous[i], nullptr);
  restore();
  g_fd = -1;
}

}  // namespace keel::image
