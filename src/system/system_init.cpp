#include "system/system_init.hpp"

#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <optional>
#include <string>
#include <string_view>

#include "core/event_loop.hpp"
#include "core/log.hpp"
#include "core/process_tree.hpp"
#include "core/reaper.hpp"
#include "core/signal_source.hpp"
#include "core/signals.hpp"
#include "core/userdb.hpp"
#include "service/supervisor.hpp"
#include "system/early_mounts.hpp"
#include "system/module_loader.hpp"
#include "system/power.hpp"

namespace keel {
namespace {

constexpr const char* kDefaultConfigDir = "/etc/keel";
constexpr long kCgroup2Magic = 0x63677270;  // CGROUP2_SUPER_MAGIC
// The inode numbers of the namespaces the kernel starts with
// (PROC_PID_INIT_INO, PROC_CGROUP_INIT_INO in the kernel's proc_ns.h).
constexpr unsigned long kInitialPidNs = 0xEFFFFFFCUL;
constexpr unsigned long kInitialCgroupNs = 0xEFFFFFFBUL;

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' ? std::string(v) : fallback;
}

bool is_cgroup2(const char* path) {
  struct statfs fs{};
  return ::statfs(path, &fs) == 0 && static_cast<long>(fs.f_type) == kCgroup2Magic;
}

// Is this process in the namespace of kind `ns` ("pid", "cgroup") that the
// kernel started with? Those have fixed inode numbers (PROC_PID_INIT_INO,
// PROC_CGROUP_INIT_INO in the kernel's proc_ns.h).
bool in_initial_namespace(const char* ns, unsigned long initial_inode) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/ns/%s", ns);
  struct stat st{};
  return ::stat(path, &st) == 0 && st.st_ino == initial_inode;
}

// Where services' cgroups go. $KEEL_CGROUP_ROOT wins ("none": no cgroups).
// Otherwise ROOT/keel in the cgroup2 mount (the unified one of a hybrid
// layout), but only where that hierarchy is keel's own: as the machine's
// init (the initial PID namespace), or as a container's init with a
// cgroup namespace of its own. PID 1 of a bare PID namespace (a test, or
// `unshare --pid`) shares the host's hierarchy with whatever else runs
// there, and a supervisor that is not PID 1 may be one of several: those
// track process groups unless told where they may create cgroups.
std::string cgroup_root(bool is_pid1) {
  const char* env = std::getenv("KEEL_CGROUP_ROOT");
  if (env != nullptr) return std::string_view(env) == "none" ? std::string() : std::string(env);
  if (!is_pid1) return {};
  if (!in_initial_namespace("pid", kInitialPidNs) && in_initial_namespace("cgroup", kInitialCgroupNs)) return {};
  if (is_cgroup2("/sys/fs/cgroup")) return "/sys/fs/cgroup/keel";
  if (is_cgroup2("/sys/fs/cgroup/unified")) return "/sys/fs/cgroup/unified/keel";
  return {};
}

PowerAction to_power(service::ExitAction action) {
  switch (action) {
    case service::ExitAction::Reboot: return PowerAction::Reboot;
    case service::ExitAction::Halt: return PowerAction::Halt;
    case service::ExitAction::Poweroff:
    case service::ExitAction::None: break;
  }
  return PowerAction::PowerOff;
}

class SystemInit final : private SignalHandler, private ExitHandler, private service::PowerControl {
 public:
  SystemInit(service::SupervisorSettings settings) : supervisor_(loop_, *this, std::move(settings)) {}

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

  void boot(const char* config_dir) noexcept {
    // Mounting and loading modules change the whole machine: only as PID 1
    // (of the machine, or of a PID namespace with its own mounts).
    if (is_pid1_) {
      mount_early_filesystems();
      // The kernel log keeps keel's messages next to the kernel's, for
      // dmesg and for anything that collects it. Only as the machine's init:
      // PID 1 of a PID namespace would write into its host's log.
      if (in_initial_namespace("pid", kInitialPidNs)) log::set_kmsg(true);
      char list[256];
      std::snprintf(list, sizeof list, "%s/modules.load", config_dir);
      ModuleLoadResult modules = load_listed_modules(list);
      if (modules.loaded + modules.failed > 0) {
        log::msg(log::Level::Info, "modules: %d loaded, %d failed", modules.loaded, modules.failed);
      }
    }
    try {
      // Only now is /sys/fs/cgroup mounted.
      supervisor_.settings().cgroup_root = cgroup_root(is_pid1_);
      supervisor_.start();
    } catch (const std::bad_alloc&) {
      log::msg(log::Level::Error, "out of memory while loading the services");
    }
  }

  Status run() noexcept { return loop_.run(); }
  [[nodiscard]] int exit_code() const noexcept { return exit_code_; }

 private:
  void on_signal(const signalfd_siginfo& info) noexcept override {
    int signo = static_cast<int>(info.ssi_signo);
    switch (signo) {
      case SIGCHLD:
        (void)reap_all(*this);
        supervisor_.after_reap();
        return;
      case SIGHUP: {
        log::msg(log::Level::Info, "SIGHUP: reloading the service files");
        try {
          std::string summary = supervisor_.reload();
          log::msg(log::Level::Info, "%.*s", static_cast<int>(summary.find('\n')), summary.c_str());
        } catch (const std::bad_alloc&) {
          log::msg(log::Level::Error, "out of memory while reloading");
        }
        return;
      }
      // BusyBox init's conventions: TERM reboots, USR1 halts, USR2 powers
      // off; the kernel sends INT for Ctrl-Alt-Del and PWR on power
      // failure. A supervisor that is not PID 1 just stops everything and
      // exits on TERM or INT.
      case SIGTERM:
        request_power(is_pid1_ ? service::ExitAction::Reboot : service::ExitAction::Poweroff, 0);
        return;
      case SIGINT:
        request_power(is_pid1_ ? service::ExitAction::Reboot : service::ExitAction::Poweroff, is_pid1_ ? 0 : 130);
        return;
      case SIGUSR1:
        request_power(service::ExitAction::Halt, 0);
        return;
      case SIGUSR2:
      case SIGPWR:
        request_power(service::ExitAction::Poweroff, 0);
        return;
      default:
        log::msg(log::Level::Info, "%s received: ignored", signals::name(signo));
        return;
    }
  }

  void on_child_exit(pid_t pid, int status) noexcept override { supervisor_.on_child_exit(pid, status); }

  void request_power(service::ExitAction action, int code) noexcept override {
    if (shutting_down_) return;
    shutting_down_ = true;
    action_ = to_power(action);
    exit_code_ = code;
    log::msg(log::Level::Info, "%s requested", power_action_name(action_));
    supervisor_.stop_all();
  }

  // Every service is down: finish the way out. As PID 1, the processes
  // that no service owns get SIGTERM then SIGKILL, then sync and reboot(2).
  // Otherwise keel exits with the status the request carried.
  void all_stopped() noexcept override {
    if (!is_pid1_) {
      log::msg(log::Level::Info, "%s refused: keel is not PID 1; exiting with status %d", power_action_name(action_),
               exit_code_);
      loop_.stop();
      return;
    }
    signal_descendants(::getpid(), SIGTERM, true);
    signal_descendants(::getpid(), SIGKILL, true);
    system_power(action_);
  }

  bool is_pid1_ = ::getpid() == 1;
  bool shutting_down_ = false;
  PowerAction action_ = PowerAction::PowerOff;
  int exit_code_ = 0;
  EventLoop loop_;
  SignalSource signals_;
  service::Supervisor supervisor_;
};

service::SupervisorSettings settings_from_environment() {
  service::SupervisorSettings s;
  s.config_dir = env_or("KEEL_CONFIG_DIR", kDefaultConfigDir);
  s.services_dir = env_or("KEEL_SERVICES_DIR", s.config_dir + "/services");
  s.run_dir = env_or("KEEL_RUN_DIR", "/run/keel");
  s.control_socket = env_or("KEEL_CONTROL_SOCKET", s.run_dir + "/control.sock");
  s.start_target = env_or("KEEL_TARGET", "default");
  std::string group = env_or("KEEL_CONTROL_GROUP", "");
  if (!group.empty()) {
    Result<GroupEntry> g = find_group(group);
    if (g) {
      s.control_group = g.value().gid;
    } else {
      log::msg(log::Level::Error, "KEEL_CONTROL_GROUP=%s: %s: keelctl stays root-only", group.c_str(),
               g.error().context);
    }
  }
  return s;
}

}  // namespace

int run_system_init(int argc, char** argv) noexcept {
  // The console shows what init does (start, exit, power-off) unless the
  // kernel command line says "quiet".
  bool quiet = false;
  for (int i = 1; i < argc; ++i) quiet = quiet || std::string_view(argv[i]) == "quiet";
  log::set_verbosity(static_cast<int>(quiet ? log::Level::Warn : log::Level::Info));
  for (int i = 1; i < argc; ++i) log::msg(log::Level::Info, "ignoring kernel command-line word '%s'", argv[i]);
  log::msg(log::Level::Info, "running as the system's init (pid %d)", static_cast<int>(::getpid()));
  Status s;
  try {
    // The kernel passes unrecognised "NAME=value" command-line words to init
    // as environment, so KEEL_CONFIG_DIR and friends work from the boot
    // loader too.
    service::SupervisorSettings settings = settings_from_environment();
    std::string config_dir = settings.config_dir;
    SystemInit init(std::move(settings));
    s = init.setup();
    if (s) {
      init.boot(config_dir.c_str());
      s = init.run();
      if (s) return init.exit_code();  // the loop ended: not PID 1, everything stopped
    }
  } catch (const std::bad_alloc&) {
    s = Error{ENOMEM, "start-up"};
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
