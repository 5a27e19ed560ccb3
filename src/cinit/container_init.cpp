#include "cinit/container_init.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>

#include "cinit/messages.hpp"
#include "core/event_loop.hpp"
#include "core/log.hpp"
#include "core/log_flusher.hpp"
#include "core/process_tree.hpp"
#include "core/python_program.hpp"
#include "core/reaper.hpp"
#include "core/signal_source.hpp"
#include "core/spawn.hpp"

namespace keel {
namespace {

// A safety net while killing: a descendant that forked between our /proc
// scan and its SIGKILL leaves a live orphan that sends no SIGCHLD until it
// dies. Rescanning this often during the (short) kill phase catches it
// without a /proc walk per reaped process; the timer is never armed
// otherwise, so an idle keel has no wake-ups.
constexpr std::int64_t kKillRescanNs = 100'000'000;

class ContainerInit final : private SignalHandler, private ExitHandler, private TimerHandler {
 public:
  ContainerInit(ContainerOptions& options, Reporter& reporter) noexcept
      : o_(options), reporter_(reporter), timer_(loop_, *this) {}
  ~ContainerInit() {
    if (cwd_fd_ >= 0) ::close(cwd_fd_);
    close_report();
  }

  int run() noexcept {
    reporter_.starting();
    Status s = setup();
    if (!s) {
      reporter_.setup_failed(s.error());
      return kExitInternal;
    }
    if (!start_child()) return exit_code_;
    s = loop_.run();
    if (!s) {
      // epoll_wait failing is not recoverable in a container init: say so
      // and leave with the code we have.
      reporter_.setup_failed(s.error());
      return exit_code_ >= 0 ? exit_code_ : kExitInternal;
    }
    reporter_.exiting(exit_code_);
    // One last try, without waiting: lines still held back are lost when
    // keel exits (the container's log pipe was not being read).
    log::flush_output();
    return exit_code_;
  }

 private:
  enum class Phase { Running, Terminating, Killing, Done };

  Status setup() noexcept {
    if (o_.parent_death_signal != 0) {
      pid_t parent = ::getppid();
      if (::prctl(PR_SET_PDEATHSIG, o_.parent_death_signal, 0, 0, 0) != 0) return errno_error("prctl(PR_SET_PDEATHSIG)");
      // The parent may have died before prctl took effect: then nobody will
      // ever send the signal, so deliver it now.
      if (::getppid() != parent) ::kill(::getpid(), o_.parent_death_signal);
    }
    if (o_.register_subreaper) {
      Status s = become_subreaper();
      if (!s) return s;
      reporter_.subreaper_registered();
    }
    // Observed once at start (options.hpp), for the messages and the tree
    // stop: kill(-1) is right only for the init of a PID namespace.
    is_namespace_init_ = o_.namespace_init;
    self_pid_ = ::getpid();
    if (!is_namespace_init_ && !is_subreaper()) reporter_.not_a_reaper();

    Status s = loop_.init();
    if (!s) return s;
    // keel's own lines an unread log pipe or a stopped terminal did not take
    // are written from the loop when it takes output again; its fd is in the
    // loop only while there is such a backlog, so the lone-signalfd wait
    // stays the steady state (core/log_flusher.hpp).
    log_flusher_.start(loop_);
    sigset_t handled;
    sigemptyset(&handled);
    // Every signal, real-time ones included, as tini does: one left at its
    // default would end keel when it is not PID 1 (docs/signals.md). tini's
    // SIGTTIN/SIGTTOU are ignored below instead.
    for (int signo = 1; signo <= limits::kMaxSignal; ++signo) {
      if (!is_blockable(signo)) continue;
      if (!o_.forward_tty_and_fault_signals && (signo == SIGTTIN || signo == SIGTTOU)) continue;
      add_signal(handled, signo);
    }
    s = signals_.init(loop_, handled, *this);
    if (!s) return s;
    if (!o_.forward_tty_and_fault_signals) {
      // tini: keel gives the terminal's foreground to the child's group, so
      // a write of keel's to the terminal (TOSTOP) or a read would stop it.
      // Ignore the two and let the child get them back as they were.
      struct sigaction ign {};
      ign.sa_handler = SIG_IGN;
      sigemptyset(&ign.sa_mask);
      ::sigaction(SIGTTIN, &ign, nullptr);
      ::sigaction(SIGTTOU, &ign, nullptr);
    }
    // keel moves to "/" so it never keeps a filesystem busy (an unmount in
    // the container, a volume detach). The child must still start in the
    // caller's directory: keep a handle to it, and have the child fchdir()
    // back before exec. Doing both before the fork leaves no window where
    // the directory could be renamed or removed between our two looks.
    cwd_fd_ = ::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cwd_fd_ >= 0 && ::chdir("/") != 0) {
      ::close(cwd_fd_);
      cwd_fd_ = -1;
    }
    if (o_.session == Session::NewSession && o_.take_terminal) release_terminal();
    return {};
  }

  // dumb-init: give up our controlling terminal so the child, as a new
  // session leader, can take it (TIOCSCTTY). Fails harmlessly without one.
  // A session leader that lets go of its terminal makes the kernel send
  // SIGHUP and then SIGCONT to the terminal's foreground group: ours (under
  // `docker run -it`, a pty's session). Forwarded, that SIGHUP would kill
  // the child (a shell) at once, so the one of each that we sent ourselves
  // is ignored. They are already pending (blocked, read from the signalfd
  // later), so they come before any signal sent after the child starts.
  void release_terminal() noexcept {
    if (::ioctl(STDIN_FILENO, TIOCNOTTY) != 0) {
      reporter_.terminal_release_failed(errno_error("ioctl(TIOCNOTTY)"));
      return;
    }
    bool leader = ::getsid(0) == ::getpid();
    if (leader) {
      ignore_once_[SIGHUP] = true;
      ignore_once_[SIGCONT] = true;
    }
    reporter_.terminal_released(leader);
  }

  // One of the hand-off signals above: sent by the kernel on our behalf, so
  // it names us as the sender (SI_USER, our pid).
  bool is_handoff_signal(const signalfd_siginfo& info) noexcept {
    auto signo = static_cast<std::size_t>(info.ssi_signo);
    if (signo >= ignore_once_.size() || !ignore_once_[signo]) return false;
    if (info.ssi_code != SI_USER || static_cast<pid_t>(info.ssi_pid) != ::getpid()) return false;
    ignore_once_[signo] = false;
    return true;
  }

  static bool is_tini_own(int signo) noexcept {
    switch (signo) {
      case SIGFPE: case SIGILL: case SIGSEGV: case SIGBUS: case SIGABRT: case SIGTRAP: case SIGSYS:
      case SIGTTIN: case SIGTTOU:
        return true;
      default:
        return false;
    }
  }

  // A Python PROGRAM gets PYTHONHASHSEED drawn without waiting
  // (core/python_program.hpp), so CPython does not wait for the kernel's RNG
  // at start (a microVM's container early in its boot). The supervisor
  // decides this in its loader child; the container init has none, so it
  // reads the program's first 256 bytes itself, here, once: before
  // anything runs there is nothing to forward or reap, and a FIFO or
  // device at that path is opened O_NONBLOCK and never read. Put in keel's
  // own environment, which the child gets (keel runs nothing else). One
  // already set is kept.
  void set_python_hash_seed() noexcept {
    if (!o_.python_hash_seed || o_.program.empty() || o_.program[0] == nullptr) return;
    if (std::getenv("PYTHONHASHSEED") != nullptr) return;
    try {
      const char* path = std::getenv("PATH");
      if (!is_python_program(o_.program[0], path != nullptr ? path : kDefaultProgramPath)) return;
      const std::string seed = draw_python_hash_seed();
      if (!seed.empty()) ::setenv("PYTHONHASHSEED", seed.c_str(), 0);
    } catch (const std::bad_alloc&) {
      // No seed: the interpreter draws its own, as without keel.
    }
  }

  bool start_child() noexcept {
    set_python_hash_seed();
    SpawnOptions so;
    so.argv = o_.program.data();
    so.session = o_.session;
    if (o_.session_by_terminal) so.session = ::isatty(STDIN_FILENO) == 1 ? Session::NewProcessGroup : Session::NewSession;
    so.take_terminal = o_.take_terminal;
    so.cwd_fd = cwd_fd_;
    sigset_t reset;
    if (o_.inherit_signal_state) {
      // tini: the child gets the mask keel was started with, and every
      // disposition as it was (only the two keel changed are put back).
      so.mask = &signals_.original_mask();
      sigemptyset(&reset);
      for (int signo : {SIGTTIN, SIGTTOU}) {
        if (sigismember(&signals_.original_ignored(), signo) != 1) sigaddset(&reset, signo);
      }
      so.reset_to_default = &reset;
    } else {
      // keel installs no handlers and ignores nothing itself, so the only
      // dispositions that survive exec and need resetting are the ones keel
      // inherited as ignored.
      so.reset_to_default = &signals_.original_ignored();
    }
    // Not spawn(): its wait for the exec has no bound, and a child stopped
    // before its exec (by anyone of keel's uid) or stuck in a chdir or exec
    // on a dead mount would freeze keel with it. The report is awaited for
    // a short, fixed time, which every ordinary exec meets, so messages and
    // exit codes stay tini's and dumb-init's; after that the loop forwards
    // and reaps, and reads the report when it comes.
    Result<Launch> launched = spawn_nowait(so);
    if (!launched) {
      launch_failed(launched.error());
      return false;
    }
    child_ = launched.value().pid;
    report_fd_ = launched.value().report_fd;
    pollfd p{report_fd_, POLLIN, 0};
    const std::int64_t deadline = monotonic_ns() + std::int64_t{limits::kContainerExecReportWaitMs} * 1'000'000;
    for (std::int64_t left = deadline - monotonic_ns(); left > 0; left = deadline - monotonic_ns()) {
      if (::poll(&p, 1, static_cast<int>((left + 999'999) / 1'000'000)) != 0) break;  // ready, or EINTR: look
    }
    Error error;
    ExecReport report = read_exec_report(report_fd_, &error);
    if (report == ExecReport::Failed) {
      close_report();
      // The child exits right after its report. SIGKILL first, so that a
      // stop in between cannot make this wait unbounded.
      ::kill(child_, SIGKILL);
      int status = 0;
      while (::waitpid(child_, &status, 0) < 0 && errno == EINTR) {
      }
      launch_failed(error);
      return false;
    }
    // Still pending: the loop reads it. Where the loop cannot watch it, a
    // late exec failure shows only as the child's 126/127.
    report_watched_ = report == ExecReport::Pending && loop_.add(report_fd_, EPOLLIN, report_watch_).ok();
    if (!report_watched_) close_report();
    reporter_.spawned(child_);
    return true;
  }

  // The exit code for a launch that failed, as each personality has it.
  [[nodiscard]] int exec_failure_code(const Error& e) const noexcept {
    bool child_step = e.context != std::string_view("fork") && e.context != std::string_view("pipe2") &&
                      e.context != std::string_view("fcntl");
    if (!child_step) return kExitInternal;
    if (o_.personality == Personality::DumbInit) return 2;  // dumb-init's code for a failed exec
    return exec_failure_exit_code(e.code);
  }

  void launch_failed(const Error& e) noexcept {
    reporter_.exec_failed(e);
    exit_code_ = exec_failure_code(e);
  }

  void close_report() noexcept {
    if (report_fd_ < 0) return;
    if (report_watched_) loop_.remove(report_fd_, report_watch_);
    report_watched_ = false;
    ::close(report_fd_);
    report_fd_ = -1;
  }

  // A report that came later than the short wait of start_child(): read in
  // the loop, or when the main child is reaped (written before it exited).
  void read_late_report() noexcept {
    if (report_fd_ < 0) return;
    Error error;
    ExecReport report = read_exec_report(report_fd_, &error);
    if (report == ExecReport::Pending) return;
    close_report();
    if (report == ExecReport::Failed) {
      reporter_.exec_failed(error);
      late_failure_code_ = exec_failure_code(error);
    }
  }

  struct ReportWatch final : FdHandler {
    explicit ReportWatch(ContainerInit& c) : init(c) {}
    void on_ready(std::uint32_t /*events*/) noexcept override { init.read_late_report(); }
    ContainerInit& init;
  };

  // ------------------------------------------------------------ events

  void on_signal(const signalfd_siginfo& info) noexcept override {
    int signo = static_cast<int>(info.ssi_signo);
    if (is_handoff_signal(info)) {
      reporter_.received(signo);
      reporter_.handoff_signal_ignored(signo);
      return;
    }
    // Raised by the kernel against keel itself: SIGPIPE or SIGXFSZ for one
    // of keel's own writes (a closed stderr pipe, a log file at its size
    // limit), whose error the write returned too. Not the child's business,
    // and reporting it could fail the same way and raise it again. (Only
    // these two: the parent-death emulation in setup() sends keel another
    // signal of its own on purpose.)
    if ((signo == SIGPIPE || signo == SIGXFSZ) && info.ssi_code == SI_USER &&
        static_cast<pid_t>(info.ssi_pid) == self_pid_) {
      return;
    }
    if (signo == SIGCHLD) {
      reporter_.received(signo);
      reap();
      return;
    }
    // tini's own fault signals: blocked only so that a kill() of one cannot
    // end keel; never forwarded (a real fault still kills: the kernel
    // unblocks a synchronous one).
    if (!o_.forward_tty_and_fault_signals && is_tini_own(signo)) return;
    // glibc's own 32 and 33 (signal_source.hpp): blocked so that a kill()
    // of one cannot end keel, never forwarded: a glibc program that has not
    // set up its handler for one would die of it.
    if (signo > limits::kMaxClassicSignal && signo < SIGRTMIN) return;
    if (phase_ == Phase::Running) {
      forward(signo);
      return;
    }
    // Stopping already: a second interrupt means "now".
    if (phase_ == Phase::Terminating && (signo == SIGINT || signo == SIGTERM || signo == SIGQUIT)) {
      timer_.disarm();
      start_killing();
    }
  }

  void forward(int signo) noexcept {
    reporter_.received(signo);
    send(signo);
    if (o_.stop_self_on_tty_signals && (signo == SIGTSTP || signo == SIGTTIN || signo == SIGTTOU) &&
        !is_namespace_init_) {
      // Job control (dumb-init): the shell that started us waits for *us*,
      // so we stop too and it sees the job stop; SIGCONT resumes us, and is
      // forwarded like any signal. Even when the signal was dropped: that
      // is what dumb-init does. A namespace's init cannot be stopped, and
      // the attempt would discard a SIGCONT already pending, so skip it.
      reporter_.suspending();
      ::kill(::getpid(), SIGSTOP);
    }
  }

  // Send `signo` to the main child (or its group) through the rewrite table.
  void send(int signo) noexcept {
    // Real-time signals have no rewrite rules: always forwarded as they are.
    int target_signal = signo <= limits::kMaxClassicSignal ? o_.rewrite[static_cast<std::size_t>(signo)] : -1;
    if (target_signal >= 0) reporter_.rewritten(signo, target_signal);
    if (target_signal == 0) {
      reporter_.dropped(signo);
      return;
    }
    if (target_signal < 0) target_signal = signo;
    pid_t target = o_.signal_group ? -child_ : child_;
    // A group outlives its leader: only a lone child that has exited is gone.
    bool gone = (main_exited_ && !o_.signal_group) || (::kill(target, target_signal) != 0 && errno == ESRCH);
    reporter_.forwarded(target_signal, target, gone);
  }

  void on_child_exit(pid_t pid, int status) noexcept override {
    if (pid != child_ || main_exited_) {
      reporter_.reaped(pid, status);
      return;
    }
    main_exited_ = true;
    read_late_report();
    reporter_.main_exited(pid, status);
    int code = shell_exit_code(status) % limits::kExitCodes;
    exit_code_ = o_.exit_zero[static_cast<std::size_t>(code)] ? 0 : code;
    if (late_failure_code_ >= 0) exit_code_ = late_failure_code_;
  }

  void reap() noexcept {
    bool was_running = !main_exited_;
    ReapOutcome outcome = reap_all(*this);
    reporter_.reap_done(outcome == ReapOutcome::NoChildren);
    if (!main_exited_) return;
    if (was_running) {
      // The main child has just exited.
      // dumb-init: SIGTERM (through the rewrite table, as dumb-init does)
      // to what is left of the child's group, then leave without waiting.
      if (o_.term_group_on_exit) send(SIGTERM);
      if (!o_.whole_tree_stop || outcome == ReapOutcome::NoChildren) {
        finish();
        return;
      }
      start_terminating();
      return;
    }
    if (outcome == ReapOutcome::NoChildren) finish();
  }

  void start_terminating() noexcept {
    if (o_.grace_ns <= 0) {
      start_killing();
      return;
    }
    phase_ = Phase::Terminating;
    int count = kill_tree(SIGTERM);
    // A stopped process acts on SIGTERM only once continued.
    kill_tree(SIGCONT);
    reporter_.tree_stop(SIGTERM, count, o_.grace_ns);
    timer_.arm_after(o_.grace_ns);
  }

  void start_killing() noexcept {
    phase_ = Phase::Killing;
    reporter_.tree_stop(SIGKILL, kill_tree(SIGKILL), 0);
    timer_.arm_after(kKillRescanNs);
  }

  void on_timer() noexcept override {
    if (phase_ == Phase::Terminating) {
      start_killing();
    } else if (phase_ == Phase::Killing) {
      kill_tree(SIGKILL);
      timer_.arm_after(kKillRescanNs);
    }
  }

  int kill_tree(int signo) noexcept { return signal_descendants(::getpid(), signo, is_namespace_init_).signalled; }

  void finish() noexcept {
    phase_ = Phase::Done;
    timer_.disarm();
    loop_.stop();
  }

  ContainerOptions& o_;
  Reporter& reporter_;
  EventLoop loop_;
  LogFlusher log_flusher_;  // after loop_: destroyed first
  SignalSource signals_;
  Timer timer_;
  Phase phase_ = Phase::Running;
  pid_t child_ = -1;
  bool main_exited_ = false;
  bool is_namespace_init_ = false;
  pid_t self_pid_ = -1;  // keel's own pid, to know its own signals
  int cwd_fd_ = -1;
  int exit_code_ = -1;
  int report_fd_ = -1;           // the main child's exec report, until read
  bool report_watched_ = false;  // report_fd_ is in the loop
  int late_failure_code_ = -1;   // a failed exec reported after start_child()
  ReportWatch report_watch_{*this};
  std::array<bool, limits::kMaxClassicSignal + 1> ignore_once_{};  // see release_terminal()
};

}  // namespace

int run_container_init(ContainerOptions& options) noexcept {
  std::unique_ptr<Reporter> reporter;
  try {
    reporter = make_reporter(options);
  } catch (...) {
    return kExitInternal;
  }
  ContainerInit init(options, *reporter);
  return init.run();
}

}  // namespace keel
