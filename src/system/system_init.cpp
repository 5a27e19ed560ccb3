#include "system/system_init.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "core/event_loop.hpp"
#include "core/log.hpp"
#include "core/reaper.hpp"
#include "core/signal_source.hpp"
#include "core/signals.hpp"
#include "core/spawn.hpp"
#include "system/early_mounts.hpp"
#include "system/module_loader.hpp"
#include "system/power.hpp"

namespace keel {
namespace {

constexpr const char* kDefaultConfigDir = "/etc/keel";

class SystemInit final : private SignalHandler, private ExitHandler {
 public:
  explicit SystemInit(const char* config_dir) noexcept : config_dir_(config_dir) {}

  Status setup() noexcept {
    // When not PID 1 (a test, or a nested system), adopt orphans anyway.
    if (!is_pid1_) {
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

  void boot() noexcept {
    // Mounting and loading modules change the whole machine: only as PID 1
    // (of the machine, or of a PID namespace with its own mounts).
    if (is_pid1_) {
      mount_early_filesystems();
      char list[256];
      std::snprintf(list, sizeof list, "%s/modules.load", config_dir_);
      ModuleLoadResult modules = load_listed_modules(list);
      if (modules.loaded + modules.failed > 0) {
        log::msg(log::Level::Info, "modules: %d loaded, %d failed", modules.loaded, modules.failed);
      }
    }
    start_main();
  }

  Status run() noexcept { return loop_.run(); }
  [[nodiscard]] int exit_code() const noexcept { return exit_code_; }

 private:
  // The main program: CONFIG_DIR/main, an executable (a program, a script,
  // or a symlink to one) run with no arguments. When it exits, the system
  // powers off. Without it, keel just adopts and reaps.
  void start_main() noexcept {
    std::snprintf(main_path_, sizeof main_path_, "%s/main", config_dir_);
    if (::access(main_path_, F_OK) != 0) {
      log::msg(log::Level::Info, "no %s: nothing to run; adopting and reaping", main_path_);
      return;
    }
    char* argv[] = {main_path_, nullptr};
    SpawnOptions so;
    so.argv = argv;
    so.session = Session::NewSession;
    so.take_terminal = true;  // the console, so ^C reaches the program
    so.reset_to_default = &signals_.original_ignored();
    Result<pid_t> child = spawn(so);
    if (!child) {
      log::msg(log::Level::Error, "cannot run %s: %s failed: %s", main_path_, child.error().context,
               child.error().message());
      finish(exec_failure_exit_code(child.error().code));
      return;
    }
    main_ = child.value();
    log::msg(log::Level::Info, "started %s (pid %d)", main_path_, main_);
  }

  void on_signal(const signalfd_siginfo& info) noexcept override {
    int signo = static_cast<int>(info.ssi_signo);
    if (signo == SIGCHLD) {
      (void)reap_all(*this);
      return;
    }
    log::msg(log::Level::Warn, "%s received: shutdown and reboot requests are not handled yet", signals::name(signo));
  }

  void on_child_exit(pid_t pid, int status) noexcept override {
    if (pid != main_) {
      log::msg(log::Level::Debug, "reaped pid %d (status %d)", pid, shell_exit_code(status));
      return;
    }
    main_ = -1;
    if (WIFSIGNALED(status)) {
      log::msg(log::Level::Info, "%s was killed by %s", main_path_, signals::name(WTERMSIG(status)));
    } else {
      log::msg(log::Level::Info, "%s exited with status %d", main_path_, WEXITSTATUS(status));
    }
    finish(shell_exit_code(status));
  }

  // The main program is gone: power off. Returns only when that is refused
  // (not PID 1) or fails; then a PID 1 keeps reaping, anything else exits.
  void finish(int code) noexcept {
    exit_code_ = code;
    system_power(PowerAction::PowerOff);
    if (!is_pid1_) loop_.stop();
  }

  const char* config_dir_;
  bool is_pid1_ = ::getpid() == 1;
  char main_path_[256] = {};
  pid_t main_ = -1;
  int exit_code_ = 0;
  EventLoop loop_;
  SignalSource signals_;
};

}  // namespace

int run_system_init(int argc, char** argv) noexcept {
  // The console shows what init does (start, exit, power-off) unless the
  // kernel command line says "quiet".
  bool quiet = false;
  for (int i = 1; i < argc; ++i) quiet = quiet || std::string_view(argv[i]) == "quiet";
  log::set_verbosity(static_cast<int>(quiet ? log::Level::Warn : log::Level::Info));
  for (int i = 1; i < argc; ++i) log::msg(log::Level::Info, "ignoring kernel command-line word '%s'", argv[i]);
  log::msg(log::Level::Info, "running as the system's init (pid %d)", static_cast<int>(::getpid()));
  // The kernel passes unrecognised "NAME=value" command-line words to init
  // as environment, so keel.config works from the boot loader too.
  const char* config_dir = std::getenv("KEEL_CONFIG_DIR");
  SystemInit init(config_dir != nullptr && config_dir[0] != '\0' ? config_dir : kDefaultConfigDir);
  Status s = init.setup();
  if (s) {
    init.boot();
    s = init.run();
    if (s) return init.exit_code();  // the loop ended: not PID 1, main program done
  }
  log::msg(log::Level::Error, "event loop: %s: %s", s.error().context, s.error().message());
  if (::getpid() != 1) return 1;
  // PID 1 must not exit (the kernel would panic): wait for children the
  // simplest way left, forever.
  for (;;) {
    int status = 0;
    if (::waitpid(-1, &status, 0) < 0) ::pause();
  }
}

}  // namespace keel
