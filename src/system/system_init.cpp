#include "system/system_init.hpp"

#include <unistd.h>

#include <sys/wait.h>

#include <csignal>

#include "core/event_loop.hpp"
#include "core/log.hpp"
#include "core/reaper.hpp"
#include "core/signal_source.hpp"
#include "core/signals.hpp"

namespace keel {
namespace {

class SystemInit final : private SignalHandler, private ExitHandler {
 public:
  Status setup() noexcept {
    // When not PID 1 (a test, or a nested system), adopt orphans anyway.
    if (::getpid() != 1) {
      Status s = become_subreaper();
      if (!s) return s;
    }
    Status s = loop_.init();
    if (!s) return s;
    sigset_t handled;
    sigemptyset(&handled);
    for (int signo : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGPWR, SIGQUIT}) sigaddset(&handled, signo);
    return signals_.init(loop_, handled, *this);
  }

  Status run() noexcept { return loop_.run(); }

 private:
  void on_signal(const signalfd_siginfo& info) noexcept override {
    int signo = static_cast<int>(info.ssi_signo);
    if (signo == SIGCHLD) {
      (void)reap_all(*this);
      return;
    }
    log::msg(log::Level::Warn, "%s received: shutdown and reboot requests are not handled yet", signals::name(signo));
  }

  void on_child_exit(pid_t pid, int status) noexcept override {
    log::msg(log::Level::Debug, "reaped pid %d (status %d)", pid, shell_exit_code(status));
  }

  EventLoop loop_;
  SignalSource signals_;
};

}  // namespace

int run_system_init(int argc, char** argv) noexcept {
  for (int i = 1; i < argc; ++i) log::msg(log::Level::Info, "ignoring kernel command-line word '%s'", argv[i]);
  log::msg(log::Level::Info, "running as the system's init (pid %d)", static_cast<int>(::getpid()));
  SystemInit init;
  Status s = init.setup();
  for (;;) {
    if (s) s = init.run();
    log::msg(log::Level::Error, "event loop: %s: %s", s.error().context, s.error().message());
    if (::getpid() != 1) return 1;
    // PID 1 must not exit (the kernel would panic): wait for children the
    // simplest way left, forever.
    for (;;) {
      int status = 0;
      if (::waitpid(-1, &status, 0) < 0) ::pause();
    }
  }
}

}  // namespace keel
