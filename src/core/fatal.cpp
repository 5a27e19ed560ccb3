#include "core/fatal.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace keel::fatal {

namespace {

volatile sig_atomic_t g_pid1 = 0;

// The alternate stack: a stack overflow's SIGSEGV cannot run on the stack
// that overflowed. Static, so installing allocates nothing.
alignas(16) char g_alt_stack[64 * 1024];

void write_str(int fd, const char* text) noexcept {
  std::size_t left = std::strlen(text);
  while (left > 0) {
    ssize_t n = ::write(fd, text, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text += n;
    left -= static_cast<std::size_t>(n);
  }
}

// fd 2 without waiting (the rule of core/log_output.hpp, redone here with
// async-signal-safe calls only, since this runs in a crash handler and must
// not trust log's state): a stalled console or an unread log pipe must not
// keep a crashed PID 1 from reaching freeze(), where it reaps. A terminal,
// FIFO or pipe gets a non-blocking descriptor of its own; a socket,
// send(MSG_DONTWAIT); a regular file, write(2); another user's pipe,
// RWF_NOWAIT; otherwise (no /proc) a write only when poll() says the device
// takes data. What the device does not take now
// is not written.
void write_stderr(const char* a, const char* b, const char* c) noexcept {
  struct stat st {};
  if (::fstat(2, &st) != 0) return;
  if (S_ISSOCK(st.st_mode)) {
    for (const char* text : {a, b, c}) {
      if (::send(2, text, std::strlen(text), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) return;
    }
    return;
  }
  int fd = 2;
  if (!S_ISREG(st.st_mode)) {
    fd = ::open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 && S_ISFIFO(st.st_mode)) {
      // Another user's pipe: a write that does not wait, where the kernel
      // has it for pipes.
      for (const char* text : {a, b, c}) {
        iovec iov{const_cast<char*>(text), std::strlen(text)};
        if (::pwritev2(2, &iov, 1, -1, RWF_NOWAIT) < 0) break;
      }
      return;
    }
    if (fd < 0) {
      pollfd p{2, POLLOUT, 0};
      if (::poll(&p, 1, 0) != 1 || (p.revents & POLLOUT) == 0) return;
      fd = 2;
    }
  }
  write_str(fd, a);
  write_str(fd, b);
  write_str(fd, c);
  if (fd != 2) ::close(fd);
}

void say(const char* a, const char* b, const char* c) noexcept {
  write_stderr(a, b, c);
  // stderr is the console for the machine's init; when it was pointed
  // elsewhere (or closed), the console is opened apart for this message.
  if (::isatty(2) != 0) return;
  int console = ::open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
  if (console < 0) return;
  write_str(console, a);
  write_str(console, b);
  write_str(console, c);
  ::close(console);
}

const char* signal_text(int signo) noexcept {
  switch (signo) {
    case SIGSEGV: return "SIGSEGV (invalid memory access)";
    case SIGBUS: return "SIGBUS (bus error)";
    case SIGILL: return "SIGILL (illegal instruction)";
    case SIGFPE: return "SIGFPE (arithmetic error)";
    case SIGABRT: return "SIGABRT (abort)";
    default: return "a fatal signal";
  }
}

// The signals a fault raises. They are caught rather than blocked: the
// kernel delivers a fault signal that is blocked by resetting it to its
// default action, which for PID 1 is death and a kernel panic.
constexpr int kCrashSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS};

const char* signal_name(int signo) noexcept {
  switch (signo) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGABRT: return "SIGABRT";
    case SIGTRAP: return "SIGTRAP";
    case SIGSYS: return "SIGSYS";
    default: return "a fault signal";
  }
}

void on_crash_signal(int signo, siginfo_t* info, void* /*context*/) noexcept {
  // Sent by another process with kill(2) or sigqueue(3) (si_code <= 0), not
  // raised by a fault in keel: nothing is wrong with keel, so, like every
  // signal it does not act on (docs/signals.md), it is logged and ignored.
  // abort() raises SIGABRT with tgkill from keel itself: that one is real.
  if (info != nullptr && info->si_code <= 0 && info->si_pid != ::getpid()) {
    say("keel: ", signal_name(signo), " received: ignored\n");
    return;
  }
  die(signal_text(signo));
}

}  // namespace

void set_pid1(bool on) noexcept { g_pid1 = on ? 1 : 0; }
bool pid1() noexcept { return g_pid1 != 0; }

void install_crash_handlers() noexcept {
  stack_t ss{};
  ss.ss_sp = g_alt_stack;
  ss.ss_size = sizeof g_alt_stack;
  ::sigaltstack(&ss, nullptr);
  struct sigaction sa {};
  sa.sa_sigaction = on_crash_signal;
  sa.sa_flags = SA_ONSTACK | SA_SIGINFO;
  sigfillset(&sa.sa_mask);  // nothing else runs on top of the crash
  for (int signo : kCrashSignals) ::sigaction(signo, &sa, nullptr);
}

bool is_crash_signal(int signo) noexcept {
  for (int s : kCrashSignals) {
    if (s == signo) return true;
  }
  return false;
}

void die(const char* why) noexcept {
  if (g_pid1 == 0) {
    say("keel: fatal: ", why, "; aborting\n");
    // abort() raises SIGABRT: with the handlers installed it would come
    // back here; the default action is what a non-PID-1 keel wants.
    ::signal(SIGABRT, SIG_DFL);
    std::abort();
  }
  say("keel: fatal: ", why,
      "\nkeel: PID 1 cannot exit (the kernel would panic): frozen. Orphans are still reaped; services are no "
      "longer supervised and keelctl no longer answers. Save what you can, then reset the machine.\n");
  freeze();
}

void freeze() noexcept {
  sigset_t all;
  sigfillset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  // SIGCHLD ignored would make the kernel reap by itself and never queue
  // the signal this loop waits for.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGCHLD, &dfl, nullptr);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0 && errno == ECHILD) {
      // No child now; an orphan re-parented later sends SIGCHLD when it
      // ends (blocked, so it stays pending for this wait).
      siginfo_t info;
      ::sigwaitinfo(&chld, &info);
    }
  }
}

}  // namespace keel::fatal
