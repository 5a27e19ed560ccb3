#include "system/system_init.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/event_loop.hpp"
#include "core/fatal.hpp"
#include "core/fd_limit.hpp"
#include "core/log.hpp"
#include "core/log_flusher.hpp"
#include "core/oom.hpp"
#include "core/read_file.hpp"
#include "core/limits.hpp"
#include "core/reaper.hpp"
#include "core/role.hpp"
#include "core/signal_source.hpp"
#include "core/signals.hpp"
#include "core/spawn.hpp"
#include "core/user_dirs.hpp"
#include "core/userdb.hpp"
#include "service/builtin.hpp"
#include "service/event_record.hpp"
#include "service/supervisor.hpp"
#include "service/user_instance.hpp"
#include "system/boot_events.hpp"
#include "system/config_loader.hpp"
#include "system/early_mounts.hpp"
#include "system/hw_watchdog.hpp"
#include "system/keel_config.hpp"
#include "system/kernel_cmdline.hpp"
#include "system/module_loader.hpp"
#include "system/power.hpp"
#include "system/random_seed.hpp"
#include "system/rng_watch.hpp"
#include "system/shutdown.hpp"
#include "system/switch_root.hpp"
#include "system/user_mode.hpp"

namespace keel {
namespace {

constexpr const char* kDefaultConfigDir = "/etc/keel";
constexpr long kCgroup2Magic = 0x63677270;  // CGROUP2_SUPER_MAGIC
// The inode number of the cgroup namespace the kernel starts with
// (PROC_CGROUP_INIT_INO in the kernel's proc_ns.h).
constexpr unsigned long kInitialCgroupNs = 0xEFFFFFFBUL;
// While the start target cannot be reached and there is no shell to offer,
// the reason is repeated this often, so a console attached later sees it.
constexpr std::int64_t kFailureReminderNs = 60'000'000'000;

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' ? std::string(v) : fallback;
}

// keel's own binary, for the children that run it in another role (the
// configuration loader, the log writer): /proc/self/exe, which works even
// once the file was replaced or deleted by an upgrade. $KEEL_SELF names it
// instead for a profiler that runs keel as its guest (valgrind: there
// /proc/self/exe is valgrind's own tool; tools/hot-functions).
const char* self_program() {
  const char* v = std::getenv("KEEL_SELF");
  return v != nullptr && v[0] == '/' ? v : "/proc/self/exe";
}

bool is_cgroup2(const char* path) {
  struct statfs fs{};
  return ::statfs(path, &fs) == 0 && static_cast<long>(fs.f_type) == kCgroup2Magic;
}

// Is this process in the namespace of kind `ns` ("cgroup") that the
// kernel started with?
bool in_initial_namespace(const char* ns, unsigned long initial_inode) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/ns/%s", ns);
  struct stat st{};
  return ::stat(path, &st) == 0 && st.st_ino == initial_inode;
}

// A user instance's cgroups: a delegated one, or none, said once
// (service/user_instance.hpp; the loader refuses cgroup limits then).
std::string user_cgroups() {
  std::string why_off;
  std::string root = service::user_cgroup_root(why_off);
  if (root.empty()) {
    log::msg(log::Level::Warn,
             "user instance: cgroups off (%s): services are tracked by process group, and services with [cgroup] "
             "limits are refused; set KEEL_CGROUP_ROOT to a cgroup2 directory delegated to uid %u",
             why_off.c_str(), static_cast<unsigned>(::geteuid()));
  }
  return root;
}

// Where services' cgroups go. $KEEL_CGROUP_ROOT wins ("none": no cgroups).
// Otherwise ROOT/keel in the cgroup2 mount (the unified one of a hybrid
// layout), but only where that hierarchy is keel's own: as the machine's
// init (the initial PID namespace), or as a container's init with a
// cgroup namespace of its own. PID 1 of a bare PID namespace (a test, or
// `unshare --pid`) shares the host's hierarchy with whatever else runs
// there, and a supervisor that is not PID 1 may be one of several: those
// track process groups unless told where they may create cgroups.
std::string cgroup_root(const RoleSetting& where) {
  const char* env = std::getenv("KEEL_CGROUP_ROOT");
  if (env != nullptr) return std::string_view(env) == "none" ? std::string() : std::string(env);
  if (is_user_instance()) return user_cgroups();
  if (!where.namespace_init) return {};
  if (!where.machine_init && in_initial_namespace("cgroup", kInitialCgroupNs)) return {};
  if (is_cgroup2("/sys/fs/cgroup")) return "/sys/fs/cgroup/keel";
  if (is_cgroup2("/sys/fs/cgroup/unified")) return "/sys/fs/cgroup/unified/keel";
  return {};
}

PowerAction to_power(service::ExitAction action) {
  switch (action) {
    case service::ExitAction::Reboot: return PowerAction::Reboot;
    case service::ExitAction::Halt: return PowerAction::Halt;
    // "exit": as a container's init or a plain supervisor a power-off is
    // the exit (with the request's status); the machine's init cannot
    // exit and powers off.
    case service::ExitAction::Exit:
    case service::ExitAction::Poweroff:
    case service::ExitAction::None: break;
  }
  return PowerAction::PowerOff;
}

// Seconds since boot (CLOCK_BOOTTIME), for the boot summary.
double uptime_s() {
  timespec now{};
  ::clock_gettime(CLOCK_BOOTTIME, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

// A service with no file: the rescue or emergency shell on the console.
service::ServiceConfig shell_service(const char* name, const std::vector<std::string>& shell, const char* why) {
  service::ServiceConfig c;
  c.name = name;
  c.file = std::string(service::kBuiltinFile);
  c.description = why;
  c.command = shell;
  c.restart = service::Restart::Always;
  c.restart_delay_ns = 500'000'000;
  c.start_timeout_ns = 0;
  c.stdin_ = service::Stream{service::StreamKind::Console, {}};
  c.stdout_ = service::Stream{service::StreamKind::Console, {}};
  c.stderr_ = service::Stream{service::StreamKind::Console, {}};
  return c;
}

class SystemInit final : private SignalHandler,
                         private ExitHandler,
                         private service::SupervisorHooks,
                         private RngWatch::Callback,
                         private ConfigLoader::Client,
                         private HwWatchdog::Health,
                         private TimerHandler {
 public:
  // `started_s`: when keel started, in seconds since boot (the kernel's
  // PID 1 is created early as a kernel thread and only later execs init,
  // so the process's own start time would not say when init began).
  SystemInit(const RoleSetting& where, service::SupervisorSettings settings, double started_s)
      : started_s_(started_s),
        is_pid1_(where.namespace_init),
        machine_init_(where.machine_init),
        supervisor_(loop_, *this, std::move(settings)),
        loader_(loop_, self_program()),
        reminder_(loop_, *this),
        deadline_handler_(*this),
        deadline_(loop_, deadline_handler_),
        watchdog_(loop_) {}

  // keel's argv, for the disk root's exec (system/switch_root.hpp).
  void set_argv(char** argv) noexcept { argv_ = argv; }

  Status setup() noexcept {
    // When not PID 1 (a test, or a nested system), adopt orphans anyway.
    if (!is_pid1_) {
      Status s = become_subreaper();
      if (!s) return s;
    }
    Status s = loop_.init();
    if (!s) return s;
    // keel's own lines a stalled console did not take are written from the
    // loop when it takes output again (core/log_output.hpp).
    log_flusher_.start(loop_);
    // Every signal is read from the signalfd (docs/signals.md), so none can
    // end or stop keel when it is not PID 1 (where the kernel would drop
    // the ones left at their default), except the two below and the fault
    // signals: those have fatal.hpp's handlers (installed before this),
    // because a fault signal that is blocked kills (PID 1: a kernel panic).
    sigset_t handled;
    sigemptyset(&handled);
    for (int signo = 1; signo <= limits::kMaxSignal; ++signo) {
      if (is_blockable(signo) && signo != SIGPIPE && signo != SIGXFSZ && !fatal::is_crash_signal(signo)) {
        add_signal(handled, signo);
      }
    }
    s = signals_.init(loop_, handled, *this);
    if (!s) return s;
    // SIGPIPE and SIGXFSZ are how the kernel tells keel that one of its own
    // writes failed (a console or log pipe whose reader is gone, a file at
    // RLIMIT_FSIZE); the write's EPIPE/EFBIG says it too. Ignored, not
    // blocked: a blocked one would be read as an event, and logging it
    // would fail the same way and raise it again. Services start with
    // every disposition reset (exec_plan.cpp).
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    if (::sigaction(SIGPIPE, &ign, nullptr) != 0 || ::sigaction(SIGXFSZ, &ign, nullptr) != 0) {
      return errno_error("sigaction(SIG_IGN)");
    }
    // keel's dispositions are final now (the crash handlers were installed
    // first): a service's child resets these few, not all 64 (core/spawn.hpp).
    take_signal_dispositions_snapshot();
    return {};
  }

  // Everything before the services, in the order that lets each step use
  // the previous ones: the filesystems the kernel does not mount, the
  // console, keel.toml, the hostname, the modules (a [[mount]] may need
  // one), the mounts, the random seed (it lives on persistent storage),
  // then the hand-off or the services. A step that fails is logged and the
  // boot goes on.
  void boot(const KernelCmdline& cmdline) noexcept {
    const std::string& config_dir = supervisor_.settings().config_dir;
    if (is_pid1_) {
      // (The early mounts are done: run_system_init needs /proc first.)
      if (machine_init_) {
        console_on_standard_fds();
        log::set_kmsg(true);
        // Ctrl-Alt-Del becomes SIGINT to keel (an orderly reboot, or what
        // keel.toml says) instead of the kernel's immediate reboot.
        if (::reboot(RB_DISABLE_CAD) != 0) log::msg(log::Level::Warn, "reboot(RB_DISABLE_CAD): %s", std::strerror(errno));
      }
    }
    // keel.toml (and, unless it mounts something or hands PID 1 over, the
    // service files too) from the loader child; the boot goes on in
    // config_loaded() when it answers, with the loop serving signals,
    // reaping and the loader's bound meanwhile (system/config_loader.hpp).
    try {
      cmdline_ = cmdline;
      LoadRequest request;
      request.keel_toml = config_dir + "/keel.toml";
      if (cmdline.exec.empty()) {
        request.services_dir = supervisor_.settings().services_dir;
        request.users = supervisor_.settings().users;
        request.services_unless_mounts_or_exec = true;
      }
      config_step_.begin();
      // No keel.toml and no services folder (CONFIG_DIR holds only main,
      // or nothing): nothing to parse, so no loader child.
      if (std::optional<Loaded> nothing = load_without_files(request)) {
        phase_ = LoadPhase::KeelToml;
        config_loaded(std::move(*nothing));
        return;
      }
      start_loader(request, LoadPhase::KeelToml);
    } catch (const std::bad_alloc&) {
      config_load_failed("out of memory starting the configuration loader");
    }
  }

  // The rest of the boot, once keel.toml is known: `services` when the
  // loader brought the service files too.
  void boot_with_config(std::optional<service::LoadResult> services) noexcept {
    const std::string& config_dir = supervisor_.settings().config_dir;
    const KernelCmdline& cmdline = cmdline_;
    if (is_user_instance()) report_user_instance_limits(config_, config_dir, is_pid1_);
    if (is_pid1_ && !is_user_instance()) {
      set_hostname();
      char list[256];
      std::snprintf(list, sizeof list, "%s/modules.load", config_dir.c_str());
      BootStep step;
      ModuleLoadResult modules = load_listed_modules(list);
      if (modules.loaded + modules.failed > 0) {
        log::msg(log::Level::Info, "modules: %d loaded, %d failed", modules.loaded, modules.failed);
      }
      step.end("modules");
      // A disk root (system/switch_root.hpp): returns only when keel stays
      // in the initramfs; the boot then goes on as if there were no root=.
      if (machine_init_ && root_is_initramfs()) {
        std::string text;
        if (const char* env = std::getenv("KEEL_CMDLINE")) {
          text = env;
        } else if (!read_file("/proc/cmdline", text, 65536)) {
          text.clear();
        }
        bool signals_reset = false;
        run_disk_root_stage(text, argv_, signals_reset);
        if (signals_reset) signals_.reblock();
      }
      if (!config_.mounts.empty()) {
        step.begin();
        mount_configured();
        step.end("mounts-extra");
      }
      if (machine_init_ && !config_.seed_dir.empty()) {
        step.begin();
        seed_rng();
        step.end("seed");
      }
    }
    // The hand-off: the seed's "small shim that mounts, then execs Python".
    try {
      std::vector<std::string> exec = config_.exec;
      if (!cmdline.exec.empty()) exec = {cmdline.exec};
      if (!exec.empty()) hand_off(exec);
    } catch (const std::bad_alloc&) {
      oom::dropped("the hand-off (keel stays PID 1 and starts the services)");
    }

    // After the hand-off (an exec would close the device unpetted) and
    // the modules (its driver may be one).
    start_watchdog();

    // The start target: the kernel command line, then keel.toml, then
    // $KEEL_TARGET ("default" when none).
    // Before the services, so the boot summary knows whether it is ready.
    Status rng = rng_.start(loop_, *this);
    if (!rng) {
      log::msg(log::Level::Warn, "cannot watch the kernel's RNG (%s: %s)", rng.error().context, rng.error().message());
    }

    try {
      std::string target = !cmdline.target.empty() ? cmdline.target
                           : !config_.target.empty() ? config_.target
                                                     : supervisor_.settings().start_target;
      supervisor_.settings().start_target = target;
      // Only now is /sys/fs/cgroup mounted.
      supervisor_.settings().cgroup_root = cgroup_root(RoleSetting{Role::System, is_pid1_, machine_init_});
      // The rescue target is a shell on the console and nothing else (unless
      // the image defines its own "rescue" service).
      if (target == "rescue" && has_shell()) {
        log::msg(log::Level::Warn, "rescue target: a shell on the console");
        supervisor_.settings().extra_services.push_back(
            shell_service("rescue", config_.rescue_shell, "the rescue shell (kernel command line: single/rescue)"));
      }
      if (services) {
        supervisor_.start(std::move(*services));
        return;
      }
      LoadRequest request;
      request.services_dir = supervisor_.settings().services_dir;
      request.users = supervisor_.settings().users;
      start_loader(request, LoadPhase::Services);
    } catch (const std::bad_alloc&) {
      oom::dropped("loading the services (keelctl reload tries again)");
    }
  }

  // ---- ConfigLoader::Client

  void config_loaded(Loaded loaded) noexcept override {
    LoadPhase phase = std::exchange(phase_, LoadPhase::None);
    if (shutting_down_ && phase != LoadPhase::Reload) return;  // nothing more to start
    switch (phase) {
      case LoadPhase::KeelToml:
        config_step_.end("config");
        if (loaded.keel) {
          for (const service::ConfigError& e : loaded.keel->errors) log::msg(log::Level::Error, "%s", e.text().c_str());
          config_ = std::move(loaded.keel->config);
          supervisor_.settings().log_output = config_.log_output;
          loader_.set_python_hash_seed_default(config_.python_hash_seed);
        }
        boot_with_config(std::move(loaded.services));
        return;
      case LoadPhase::Services:
        try {
          supervisor_.start(loaded.services ? std::move(*loaded.services) : service::LoadResult{});
        } catch (const std::bad_alloc&) {
          oom::dropped("loading the services (keelctl reload tries again)");
        }
        return;
      case LoadPhase::Reload:
        supervisor_.reload_loaded(loaded.services ? std::move(*loaded.services) : service::LoadResult{});
        return;
      case LoadPhase::None: return;
    }
  }

  // A loader that crashed, hung or could not start: at boot keel goes on
  // with keel.toml's defaults and no services (keelctl reload tries again);
  // at a reload every service keeps its definition.
  void config_load_failed(const char* problem) noexcept override {
    LoadPhase phase = std::exchange(phase_, LoadPhase::None);
    if (shutting_down_ && phase != LoadPhase::Reload) return;
    switch (phase) {
      case LoadPhase::KeelToml:
      case LoadPhase::Services: {
        if (phase == LoadPhase::KeelToml) config_step_.end("config");
        log::msg(log::Level::Error, "%s: keel runs with %sno services (keelctl reload tries again)", problem,
                 phase == LoadPhase::KeelToml ? "keel.toml's defaults and " : "");
        // No services, and the reason in `keelctl status`.
        service::LoadResult none;
        try {
          none.errors.push_back(service::ConfigError{supervisor_.settings().services_dir, 0, "",
                                                     std::string("not loaded: ") + problem});
        } catch (const std::bad_alloc&) {
          oom::dropped("the reason the services were not loaded, for keelctl status");
        }
        if (phase == LoadPhase::KeelToml) {
          boot_with_config(std::move(none));
          return;
        }
        try {
          supervisor_.start(std::move(none));
        } catch (const std::bad_alloc&) {
          oom::dropped("loading the services (keelctl reload tries again)");
        }
        return;
      }
      case LoadPhase::Reload: supervisor_.reload_failed(problem); return;
      case LoadPhase::None: return;
    }
  }

  // SupervisorHooks: a reload's files come from the loader too.
  bool load_services() noexcept override {
    if (phase_ != LoadPhase::None) {
      // The boot's load is still under way: a reload then has nothing
      // older to compare with.
      supervisor_.reload_failed("the services are still being loaded at boot");
      return true;
    }
    phase_ = LoadPhase::Reload;
    try {
      LoadRequest request;
      request.services_dir = supervisor_.settings().services_dir;
      request.users = supervisor_.settings().users;
      Status s = loader_.start(request, *this);
      if (s) return true;
      char why[160];
      std::snprintf(why, sizeof why, "cannot start the configuration loader (%s: %s)", s.error().context,
                    s.error().message());
      config_load_failed(why);
    } catch (const std::bad_alloc&) {
      config_load_failed("out of memory starting the configuration loader");
    }
    return true;
  }

  Status run() noexcept { return loop_.run(); }
  [[nodiscard]] int exit_code() const noexcept { return exit_code_; }

 private:
  // fds 0-2 on /dev/console: the kernel opens it for init when the image has
  // /dev/console; when it could not (no node before devtmpfs was mounted),
  // keel started with them closed (now /dev/null) and opens it itself.
  static void console_on_standard_fds() noexcept {
    if (::isatty(1) != 0) return;
    int fd = ::open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return;
    for (int target = 0; target <= 2; ++target) ::dup2(fd, target);  // dup2 clears CLOEXEC
    if (fd > 2) ::close(fd);
    // keel's own descriptor of the new fd 2 (non-blocking, apart from the
    // services' shared one).
    log::reopen_output();
    log::msg(log::Level::Info, "console opened on stdin, stdout and stderr");
  }

  void set_hostname() noexcept {
    std::string name;
    try {
      name = config_.hostname;
      if (name.empty()) {
        std::string file;
        if (read_file("/etc/hostname", file, 256)) {
          std::size_t end = file.find_first_of(" \t\r\n");
          name = file.substr(0, end);
        }
      }
    } catch (const std::bad_alloc&) {
      oom::dropped("the hostname");
      return;
    }
    if (name.empty()) return;
    if (::sethostname(name.data(), name.size()) != 0) {
      log::msg(log::Level::Warn, "hostname %s: %s", name.c_str(), std::strerror(errno));
    } else {
      log::msg(log::Level::Info, "hostname %s", name.c_str());
    }
  }

  void mount_configured() noexcept {
    for (const MountSpec& m : config_.mounts) {
      ::mkdir(m.where.c_str(), 0755);  // an existing directory is fine
      if (::mount(m.what.c_str(), m.where.c_str(), m.type.c_str(), m.flags,
                  m.data.empty() ? nullptr : m.data.c_str()) != 0) {
        log::msg(log::Level::Error, "keel.toml:%d: cannot mount %s on %s (%s): %s", m.line, m.what.c_str(),
                 m.where.c_str(), m.type.c_str(), std::strerror(errno));
      } else {
        log::msg(log::Level::Info, "mounted %s on %s (%s)", m.what.c_str(), m.where.c_str(), m.type.c_str());
      }
    }
  }

  void seed_rng() noexcept {
    SeedOutcome seed = seed_kernel_rng(config_.seed_dir.c_str());
    if (seed.problem != nullptr) {
      log::msg(log::Level::Warn, "random seed in %s: %s", config_.seed_dir.c_str(), seed.problem);
    }
    log::msg(log::Level::Debug, "random seed: %s%s; new seed %s", seed.found ? "fed " : "none yet",
             seed.found ? (seed.credited ? "(credited)" : "(not credited)") : "",
             seed.written ? (seed.new_creditable ? "written (creditable)" : "written (not creditable)")
                          : "not written");
  }

  // exec the program as PID 1; returns only when that failed (then keel
  // boots on as usual). May throw std::bad_alloc, before anything changed.
  void hand_off(const std::vector<std::string>& argv) {
    if (!is_pid1_) {
      log::msg(log::Level::Warn, "hand-off to %s skipped: keel is not PID 1", argv[0].c_str());
      return;
    }
    log::msg(log::Level::Info, "handing PID 1 over to %s: from now on, reaping orphans is its job",
             argv[0].c_str());
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    // The new PID 1 starts with what a program expects: an empty mask and
    // default dispositions (keel blocked the signals it reads).
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int signo = 1; signo < NSIG; ++signo) {
      if (signo != SIGKILL && signo != SIGSTOP) ::signal(signo, SIG_DFL);
    }
    ::execv(args[0], args.data());
    int err = errno;
    signals_.reblock();
    log::msg(log::Level::Error, "hand-off to %s failed: %s; keel stays PID 1 and starts the services",
             argv[0].c_str(), std::strerror(err));
  }

  // keel.toml's [watchdog], only as the machine's init: in a container or
  // as a subreaper the device is the host's business.
  void start_watchdog() noexcept {
    if (config_.watchdog.device.empty()) return;
    if (!machine_init_) {
      log::msg(log::Level::Info, "keel.toml [watchdog]: ignored: keel is not the machine's init");
      return;
    }
    (void)watchdog_.start(config_.watchdog, *this);  // logs its outcome
  }

  // HwWatchdog::Health
  std::int64_t critical_unhealthy_since_ns(const char** name) noexcept override {
    return supervisor_.critical_unhealthy_since_ns(name);
  }

  [[nodiscard]] bool has_shell() const noexcept {
    return !config_.rescue_shell.empty() && ::access(config_.rescue_shell[0].c_str(), X_OK) == 0;
  }

  // ---- SupervisorHooks

  void start_settled(const service::StartSummary& s) noexcept override {
    record_target(s.target.empty() ? supervisor_.settings().start_target : s.target, s.target_failed);
    double now = uptime_s();
    double since_init = now - started_s_;
    char rng[64];
    if (rng_.ready()) {
      std::snprintf(rng, sizeof rng, "rng ready%s", rng_.ready_at_start() ? " at start" : "");
    } else {
      std::snprintf(rng, sizeof rng, "rng not ready yet");
    }
    char what[96];
    if (s.target.empty()) {
      std::snprintf(what, sizeof what, "%s", s.failed > 0 ? "started what could start" : "started every service");
    } else {
      std::snprintf(what, sizeof what, "%s target %s", s.target_failed ? "could not reach" : "reached", s.target.c_str());
    }
    log::msg(s.target_failed ? log::Level::Error : log::Level::Info,
             "%s in %.3f s since init started (%.3f s since boot): %d services up, %d failed; %s", what, since_init,
             now, s.started, s.failed, rng);
    if (!s.target_failed) return;
    try {
      failure_reason_ = s.reason;
      failed_target_ = s.target;
    } catch (const std::bad_alloc&) {
      oom::dropped("the failed target's name and reason, for the reminder");
      failure_reason_.clear();
      failed_target_.clear();
    }
    log::msg(log::Level::Error, "target %s failed: %s", s.target.c_str(), s.reason.c_str());
    if (has_shell()) {
      log::msg(log::Level::Warn, "starting the emergency shell on the console");
      try {
        supervisor_.add_and_start(
            shell_service("emergency", config_.rescue_shell, "the emergency shell (the start target failed)"));
        return;
      } catch (const std::bad_alloc&) {
        log::msg(log::Level::Error, "out of memory starting the emergency shell");
      }
    }
    reminder_.arm_after(kFailureReminderNs);
  }

  // Without a shell, the reason keeps being printed.
  void on_timer() noexcept override {
    log::msg(log::Level::Error, "target %s could not be reached: %s (no shell to start; keel keeps running)",
             failed_target_.c_str(), failure_reason_.c_str());
    reminder_.arm_after(kFailureReminderNs);
  }

  // For the log and the boot summary; what waits for the RNG is the
  // rng-ready service (service/builtin.hpp).
  void on_rng_ready() noexcept override {
    service::event_record().begin("rng-ready").commit();
    // Ready at start (every boot on a CPU with RDRAND): the boot summary
    // says so ("rng ready at start"), and a console line written before
    // the main program is spawned delays it (docs/benchmarks.md, "Issue
    // 14: Python").
    log::msg(rng_.ready_at_start() ? log::Level::Debug : log::Level::Info, "the kernel's RNG is ready%s",
             rng_.ready_at_start() ? " (at start)" : "");
  }

  // ---- signals

  void on_signal(const signalfd_siginfo& info) noexcept override {
    int signo = static_cast<int>(info.ssi_signo);
    switch (signo) {
      case SIGCHLD:
        (void)reap_all(*this);
        supervisor_.after_reap();
        return;
      case SIGHUP: {
        log::msg(log::Level::Info, "SIGHUP: reloading the service files");
        supervisor_.request_reload(nullptr);  // the summary is logged when the files are loaded
        return;
      }
      // docker stop, podman stop and Kubernetes send SIGTERM to a
      // container's PID 1 and want it gone: a power-off, which there is an
      // exit (system/power.hpp). The machine's init keeps BusyBox init's
      // reboot. keel.toml's [signals] SIGTERM wins in both.
      case SIGTERM:
        act(signo, config_.signals.term.value_or(machine_init_ ? SignalAction::Reboot : SignalAction::Poweroff));
        return;
      case SIGINT:
        if (!config_.signals.intr && !machine_init_ && is_pid1_) {
          request_power(service::ExitAction::Poweroff, 130);
          return;
        }
        act(signo, config_.signals.intr.value_or(SignalAction::Reboot));
        return;
      case SIGUSR1: act(signo, config_.signals.usr1); return;
      case SIGUSR2: act(signo, config_.signals.usr2); return;
      case SIGPWR: act(signo, config_.signals.pwr); return;
      default:
        log::msg(log::Level::Info, "%s received: ignored", signals::name(signo));
        return;
    }
  }

  // As PID 1 each signal does what keel.toml says (BusyBox init's
  // conventions by default). A supervisor that is not PID 1 stops
  // everything and exits on any of them (130 for SIGINT, as a shell would).
  void act(int signo, SignalAction action) noexcept {
    if (!is_pid1_) {
      request_power(service::ExitAction::Poweroff, signo == SIGINT ? 130 : 0);
      return;
    }
    switch (action) {
      case SignalAction::Reboot: request_power(service::ExitAction::Reboot, 0); return;
      case SignalAction::Poweroff: request_power(service::ExitAction::Poweroff, 0); return;
      case SignalAction::Halt: request_power(service::ExitAction::Halt, 0); return;
      case SignalAction::Ignore:
        log::msg(log::Level::Info, "%s received: ignored (keel.toml)", signals::name(signo));
        return;
    }
  }

  void on_child_exit(pid_t pid, int status) noexcept override {
    if (loader_.on_child_exit(pid, status)) return;
    supervisor_.on_child_exit(pid, status);
  }

  void request_power(service::ExitAction action, int code) noexcept override {
    if (shutting_down_) return;
    shutting_down_ = true;
    shutdown_started_ns_ = monotonic_ns();
    action_ = to_power(action);
    exit_code_ = code;
    log::msg(log::Level::Info, "%s requested", power_action_name(action_));
    record_shutdown(action_, !is_pid1_ || (!machine_init_ && !container_calls_reboot(action_)));
    watchdog_.shutdown_begins();
    // Armed before stop_all(), which may report every service down at once.
    deadline_.arm_after(config_.shutdown_timeout_ns);
    supervisor_.stop_all();
  }

  // The services did not all stop within shutdown_timeout (a process in
  // uninterruptible sleep on a dead disk, a tree the stop cannot reach):
  // name them and go on without them.
  void shutdown_deadline_passed() noexcept {
    services_left_ = true;  // read by all_stopped(), which may run inside the call below
    // -1: every service went down meanwhile, all_stopped() is under way.
    if (supervisor_.give_up_stopping(static_cast<long long>(config_.shutdown_timeout_ns / 1'000'000'000)) < 0) {
      services_left_ = false;
    }
  }

  // Every service is down (or the deadline gave up on some), and the log
  // writer has written what it was given: finish the way out.
  void all_stopped() noexcept override { finish(services_left_); }

  // As PID 1: the processes no service owns, the seed, the filesystems
  // (system/shutdown), then reboot(2), or a container's exit (how each
  // placement ends and with which status: system/power.hpp). Not PID 1:
  // keel exits with the status the request carried. `services_left`: the
  // shutdown deadline gave up on some.
  void finish(bool services_left) noexcept {
    deadline_.disarm();
    record_shutdown_step("services-stopped");
    if (!is_pid1_) {
      log::msg(log::Level::Info, "%s refused: keel is not PID 1; exiting with status %d", power_action_name(action_),
               exit_code_);
      record_shutdown_step("final");
      loop_.stop();
      return;
    }
    const bool container = !machine_init_;
    ShutdownOptions options;
    options.namespace_init = is_pid1_;
    options.machine_init = machine_init_;
    options.grace_ns = config_.shutdown_grace_ns;
    options.started_ns = shutdown_started_ns_;
    options.services_left = services_left;
    // sync() writes back every filesystem of the host: a container's PID 1
    // leaves that to the host unless asked (keel.toml container_sync).
    options.sync = machine_init_ || config_.container_sync;
    // reboot(2) needs CAP_SYS_BOOT: a user instance's reboot is an exit
    // (with the reboot's status) like its power-off.
    options.end_by_exit = container && (!container_calls_reboot(action_) || is_user_instance());
    options.context = this;
    // A halted machine must stay halted, a powered-off one off; a reboot
    // keeps the watchdog armed (the kernel resets the machine anyway, and
    // a reboot(2) that hangs is reset by the device).
    if (watchdog_.open() && action_ != PowerAction::Reboot) {
      options.before_reboot = [](void* self) { static_cast<SystemInit*>(self)->watchdog_.disarm(); };
    }
    if (machine_init_ && !config_.seed_dir.empty()) {
      options.before_sync = [](void* self) {
        const std::string& dir = static_cast<SystemInit*>(self)->config_.seed_dir;
        SeedOutcome seed = refresh_seed(dir.c_str());
        if (seed.problem != nullptr) log::msg(log::Level::Warn, "random seed in %s: %s", dir.c_str(), seed.problem);
      };
    }
    finish_shutdown(action_, options);
    // Back here: a container's power-off or halt, or reboot(2) failed.
    if (container) {
      exit_code_ = container_exit_status(action_, exit_code_);
      log::msg(log::Level::Info, "%s of a container: keel exits with status %d", power_action_name(action_),
               exit_code_);
      loop_.stop();
      return;
    }
    // The machine's init cannot exit: the kernel would panic (and with
    // panic=N reboot a machine that was asked to power off). Everything is
    // synced and unmounted or read-only by now.
    log::msg(log::Level::Error,
             "%s failed, and PID 1 cannot exit (the kernel would panic): the filesystems are synced and unmounted or "
             "read-only; it is safe to switch the machine off",
             power_action_name(action_));
  }

  // The shutdown deadline's timer (SystemInit's own on_timer is the
  // failed-target reminder's).
  struct DeadlineHandler final : TimerHandler {
    explicit DeadlineHandler(SystemInit& s) noexcept : self(s) {}
    void on_timer() noexcept override { self.shutdown_deadline_passed(); }
    SystemInit& self;
  };

  // Which load the loader is doing for the boot or a reload.
  enum class LoadPhase { None, KeelToml, Services, Reload };

  // Start a load for `phase`; a loader that cannot start is a failed load,
  // reported at once. May throw std::bad_alloc (before the spawn).
  void start_loader(const LoadRequest& request, LoadPhase phase) {
    phase_ = phase;
    Status s = loader_.start(request, *this);
    if (s) return;
    char why[160];
    std::snprintf(why, sizeof why, "cannot start the configuration loader (%s: %s)", s.error().context,
                  s.error().message());
    config_load_failed(why);
  }

  double started_s_;
  BootStep config_step_;  // keel.toml's load, for its boot-step event
  KernelCmdline cmdline_;
  char** argv_ = nullptr;
  LoadPhase phase_ = LoadPhase::None;
  // From the setting (core/role.hpp): PID 1 of its namespace.
  bool is_pid1_;
  // PID 1 of the machine (not of a PID namespace): the console, the kernel
  // log, the random seed are its business.
  bool machine_init_;
  bool shutting_down_ = false;
  std::int64_t shutdown_started_ns_ = 0;
  bool services_left_ = false;  // the shutdown deadline gave up on some services
  PowerAction action_ = PowerAction::PowerOff;
  int exit_code_ = 0;
  KeelConfig config_;
  std::string failure_reason_;
  std::string failed_target_;
  EventLoop loop_;
  LogFlusher log_flusher_;  // after loop_: destroyed first
  SignalSource signals_;
  RngWatch rng_;
  service::Supervisor supervisor_;
  ConfigLoader loader_;  // after supervisor_: destroyed first
  Timer reminder_;
  DeadlineHandler deadline_handler_;
  Timer deadline_;
  HwWatchdog watchdog_;  // after supervisor_: asks it before every pet
};

service::SupervisorSettings settings_from_environment() {
  service::SupervisorSettings s;
  // A user instance's defaults follow XDG (core/user_dirs.hpp).
  const bool user = is_user_instance();
  s.config_dir = env_or("KEEL_CONFIG_DIR", user ? user_config_dir() : kDefaultConfigDir);
  s.services_dir = env_or("KEEL_SERVICES_DIR", s.config_dir + "/services");
  s.run_dir = env_or("KEEL_RUN_DIR", user ? user_run_dir() : "/run/keel");
  s.control_socket = env_or("KEEL_CONTROL_SOCKET", s.run_dir + "/control.sock");
  s.start_target = env_or("KEEL_TARGET", "default");
  s.log_writer_program = self_program();
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

// The first lines of a user instance: who, where, and what is off for the
// whole instance (the rest when keel.toml is known: system/user_mode.hpp).
void report_user_instance_start(const RoleSetting& where) {
  log::msg(log::Level::Info, "user instance: uid %u (docs/system-mode.md, \"A user instance\")",
           static_cast<unsigned>(::geteuid()));
  if (where.namespace_init) {
    log::msg(log::Level::Warn,
             "user instance: early mounts off (mounting needs root): /proc, /dev, /sys and /run are what the "
             "container runtime mounted");
  }
  log::msg(log::Level::Info,
           "user instance: reboot(2) off (needs root): poweroff, reboot and halt stop the "
           "services and exit");
}

// The kernel command line keel acts on: /proc/cmdline as the machine's
// init; $KEEL_CMDLINE when set (tests, and PID 1 of a namespace, whose
// /proc/cmdline is the host's); else init's own argv words.
KernelCmdline kernel_cmdline(int argc, char** argv, const RoleSetting& where) {
  if (const char* text = std::getenv("KEEL_CMDLINE")) return parse_kernel_cmdline(text);
  if (where.machine_init) return read_kernel_cmdline();
  std::string words;
  for (int i = 1; i < argc; ++i) (words += argv[i]) += ' ';
  return parse_kernel_cmdline(words);
}

}  // namespace

int run_system_init(int argc, char** argv, bool namespace_init) noexcept {
  const double started_s = uptime_s();
  Status s;
  RoleSetting where{Role::System, namespace_init, false};
  // /proc first of all: which namespace keel is in, the kernel command
  // line and everything after depend on it. Each mount only when missing.
  // From here on a fault in keel freezes it as PID 1 instead of panicking
  // the kernel (and aborts it otherwise); a fault signal sent by someone
  // else is ignored in every placement.
  fatal::set_pid1(where.namespace_init);
  fatal::install_crash_handlers();
  // A fixed mmap threshold: every block of 128 KiB or more (the services'
  // definitions at load and reload, the graph's copies) comes from mmap and
  // goes back to the kernel when freed. glibc's default raises the
  // threshold to the largest block freed so far, after which such blocks
  // come from the heap and leave holes there that stay resident for good:
  // measured with 1,000 services, keel's heap 3,908 kB against 3,180.
  (void)::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  // Mounting needs root: a user instance uses what is there (a container
  // runtime mounts /proc, /dev and /sys for its init), said once below.
  BootStep early_mounts;
  if (where.namespace_init && !is_user_instance()) {
    mount_early_filesystems();
    early_mounts.stop();
    // Until /proc was there keel's own output could not be reopened as a
    // non-blocking descriptor of its own, except the console, which is
    // opened by name (core/log_output.cpp): now it can.
    log::reopen_output();
  }
  // Observed once, here, and passed down (core/role.hpp).
  where.machine_init = where.namespace_init && in_initial_pid_namespace();
  try {
    KernelCmdline cmdline = kernel_cmdline(argc, argv, where);
    start_event_record(cmdline.events_console, where.namespace_init ? &early_mounts : nullptr);
    // The console shows what init does unless the command line says
    // "quiet"; keel.debug shows everything.
    log::Level level = cmdline.debug ? log::Level::Debug : cmdline.quiet ? log::Level::Warn : log::Level::Info;
    log::set_verbosity(static_cast<int>(level));
    log::set_timestamps(where.machine_init);
    for (int i = 1; i < argc; ++i) log::msg(log::Level::Debug, "kernel command-line word for init: '%s'", argv[i]);
    log::msg(log::Level::Info, "running as the system's init (pid %d)", static_cast<int>(::getpid()));
    if (is_user_instance()) report_user_instance_start(where);
    // Before any fd is taken: services, their logs and keelctl all cost
    // keel fds (docs/system-mode.md, "Limits"). Services get the
    // inherited soft limit back (core/fd_limit.hpp).
    FdLimit fds = raise_fd_limit();
    if (fds.error != 0) {
      log::msg(log::Level::Warn, "RLIMIT_NOFILE: %s; keel keeps a soft limit of %llu fds", std::strerror(fds.error),
               static_cast<unsigned long long>(fds.soft));
    } else if (fds.raised) {
      log::msg(log::Level::Info, "file descriptors: soft limit raised from %llu to the hard limit %llu",
               static_cast<unsigned long long>(fds.inherited_soft), static_cast<unsigned long long>(fds.hard));
    }
    // The kernel passes unrecognised "NAME=value" command-line words to init
    // as environment, so KEEL_CONFIG_DIR and friends work from the boot
    // loader too.
    SystemInit init(where, settings_from_environment(), started_s);
    init.set_argv(argv);
    s = init.setup();
    if (s) {
      init.boot(cmdline);
      s = init.run();
      if (s) return init.exit_code();  // the loop ended: not PID 1, everything stopped
    }
  } catch (const std::bad_alloc&) {
    s = Error{ENOMEM, "start-up"};
  }
  log::msg(log::Level::Error, "event loop: %s: %s", s.error().context, s.error().message());
  if (!where.namespace_init) return 1;
  // PID 1 must not exit (the kernel would panic): wait for children the
  // simplest way left, forever.
  fatal::freeze();
}

}  // namespace keel
