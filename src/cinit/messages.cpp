#include "cinit/messages.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "core/log.hpp"
#include "core/signals.hpp"

namespace keel {
namespace {

const char* program_name(const ContainerOptions& o) { return o.program.empty() || o.program[0] == nullptr ? "?" : o.program[0]; }

// ------------------------------------------------------------------ keel

class KeelReporter final : public Reporter {
 public:
  explicit KeelReporter(const ContainerOptions& o) : o_(o) { log::set_verbosity(o.verbosity); }

  void starting() noexcept override {}
  void subreaper_registered() noexcept override { log::msg(log::Level::Trace, "registered as a child subreaper"); }
  void reap_done(bool) noexcept override {}

  void not_a_reaper() noexcept override {
    log::msg(log::Level::Warn,
             "not PID 1 and not a subreaper: orphans will not be re-parented to keel, so they cannot be reaped "
             "or stopped; use -s (--subreaper) or run keel as PID 1");
  }
  void setup_failed(const Error& e) noexcept override {
    log::msg(log::Level::Error, "cannot set up: %s: %s", e.context, e.message());
  }
  void spawned(pid_t pid) noexcept override { log::msg(log::Level::Info, "started %s (pid %d)", program_name(o_), pid); }
  void exec_failed(const Error& e) noexcept override {
    log::msg(log::Level::Error, "cannot run '%s': %s failed: %s", program_name(o_), e.context, e.message());
  }
  void received(int signo) noexcept override {
    if (signo != SIGCHLD) log::msg(log::Level::Debug, "received %s", signals::name(signo));
  }
  void rewritten(int from, int to) noexcept override {
    if (to != 0) log::msg(log::Level::Debug, "rewriting %s to %s", signals::name(from), signals::name(to));
  }
  void dropped(int signo) noexcept override {
    log::msg(log::Level::Debug, "dropping %s (rewritten to 0)", signals::name(signo));
  }
  void forwarded(int signo, pid_t target, bool child_gone) noexcept override {
    if (child_gone) {
      log::msg(log::Level::Debug, "%s not forwarded: %s has already exited", signals::name(signo), program_name(o_));
    } else {
      log::msg(log::Level::Debug, "forwarded %s to %s %d", signals::name(signo), target < 0 ? "process group" : "pid",
               target < 0 ? -target : target);
    }
  }
  void suspending() noexcept override { log::msg(log::Level::Debug, "stopping keel too (terminal stop signal)"); }
  void reaped(pid_t pid, int status) noexcept override {
    if (WIFSIGNALED(status)) {
      log::msg(log::Level::Debug, "reaped pid %d (killed by %s)", pid, signals::name(WTERMSIG(status)));
    } else {
      log::msg(log::Level::Debug, "reaped pid %d (exit status %d)", pid, WEXITSTATUS(status));
    }
  }
  void main_exited(pid_t pid, int status) noexcept override {
    if (WIFSIGNALED(status)) {
      log::msg(log::Level::Info, "%s (pid %d) was killed by %s", program_name(o_), pid, signals::name(WTERMSIG(status)));
    } else {
      log::msg(log::Level::Info, "%s (pid %d) exited with status %d", program_name(o_), pid, WEXITSTATUS(status));
    }
  }
  void tree_stop(int signo, int count, std::int64_t grace_ns) noexcept override {
    char who[48];
    if (count < 0) {
      std::snprintf(who, sizeof who, "every remaining process");
    } else {
      std::snprintf(who, sizeof who, "%d remaining process%s", count, count == 1 ? "" : "es");
    }
    if (signo == SIGTERM) {
      log::msg(log::Level::Info, "%s has exited; sent SIGTERM to %s, SIGKILL in %lld.%03llds", program_name(o_), who,
               static_cast<long long>(grace_ns / 1'000'000'000),
               static_cast<long long>(grace_ns % 1'000'000'000 / 1'000'000));
    } else if (count != 0) {
      log::msg(log::Level::Warn, "sent SIGKILL to %s", who);
    }
  }
  void exiting(int exit_code) noexcept override { log::msg(log::Level::Debug, "all processes reaped, exiting with %d", exit_code); }

 private:
  const ContainerOptions& o_;
};

// ------------------------------------------------------------------ tini

// tini: FATAL always and WARN at verbosity > 0 go to stderr; INFO (> 1),
// DEBUG (> 2) and TRACE (> 3) go to stdout. Each line is prefixed with the
// level and tini's pid.
class TiniReporter final : public Reporter {
 public:
  explicit TiniReporter(const ContainerOptions& o) : o_(o) {}

  void starting() noexcept override {}
  void subreaper_registered() noexcept override {
    if (o_.verbosity > 3) line(1, "TRACE", "Registered as child subreaper");
  }
  void reap_done(bool no_children_left) noexcept override {
    if (o_.verbosity > 3) line(1, "TRACE", no_children_left ? "No child to wait" : "No child to reap");
  }

  void not_a_reaper() noexcept override {
    if (o_.verbosity > 0) {
      line(2, "WARN ",
           "Tini is not running as PID 1 and isn't registered as a child subreaper.\n"
           "Zombie processes will not be re-parented to Tini, so zombie reaping won't work.\n"
           "To fix the problem, use the -s option or set the environment variable TINI_SUBREAPER to register Tini as "
           "a child subreaper, or run Tini as PID 1.");
    }
  }
  void setup_failed(const Error& e) noexcept override {
    line_f(2, "FATAL", "%s failed: '%s'", e.context, e.message());
  }
  void spawned(pid_t pid) noexcept override {
    if (o_.verbosity > 1) line_f(1, "INFO ", "Spawned child process '%s' with pid '%d'", program_name(o_), pid);
  }
  void exec_failed(const Error& e) noexcept override {
    if (std::strcmp(e.context, "execve") == 0) {
      line_f(2, "FATAL", "exec %s failed: %s", program_name(o_), e.message());
    } else {
      line_f(2, "FATAL", "%s failed: %s", e.context, e.message());
    }
  }
  void received(int signo) noexcept override {
    if (o_.verbosity > 2) {
      if (signo == SIGCHLD) {
        line(1, "DEBUG", "Received SIGCHLD");
      } else {
        line_f(1, "DEBUG", "Passing signal: '%s'", strsignal(signo));
      }
    }
  }
  void rewritten(int, int) noexcept override {}
  void dropped(int) noexcept override {}
  void forwarded(int, pid_t, bool child_gone) noexcept override {
    if (child_gone && o_.verbosity > 0) line(2, "WARN ", "Child was dead when forwarding signal");
  }
  void suspending() noexcept override {}
  void reaped(pid_t pid, int) noexcept override {
    if (o_.verbosity > 2) line_f(1, "DEBUG", "Reaped child with pid: '%d'", pid);
    if (o_.warn_on_reap && o_.verbosity > 0) line_f(2, "WARN ", "Reaped zombie process with pid=%d", pid);
  }
  void main_exited(pid_t pid, int status) noexcept override {
    if (o_.verbosity > 2) line_f(1, "DEBUG", "Reaped child with pid: '%d'", pid);
    if (o_.verbosity <= 1) return;
    if (WIFSIGNALED(status)) {
      line_f(1, "INFO ", "Main child exited with signal (with signal '%s')", strsignal(WTERMSIG(status)));
    } else {
      line_f(1, "INFO ", "Main child exited normally (with status '%d')", WEXITSTATUS(status));
    }
  }
  void tree_stop(int, int, std::int64_t) noexcept override {}
  void exiting(int) noexcept override {
    if (o_.verbosity > 3) line(1, "TRACE", "Exiting: child has exited");
  }

 private:
  void line(int fd, const char* level, const char* text) noexcept {
    log::write_line(fd, "[%s tini (%d)] %s", level, static_cast<int>(::getpid()), text);
  }
  void line_f(int fd, const char* level, const char* fmt, ...) noexcept __attribute__((format(printf, 4, 5))) {
    char text[512];
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(text, sizeof text, fmt, args);
    va_end(args);
    line(fd, level, text);
  }
  const ContainerOptions& o_;
};

// ------------------------------------------------------------- dumb-init

// dumb-init: every message goes to stderr as "[dumb-init] ..."; only exec
// failures are shown without -v.
class DumbInitReporter final : public Reporter {
 public:
  explicit DumbInitReporter(const ContainerOptions& o) : o_(o) {}

  void starting() noexcept override {
    if (o_.debug_from_environment) debug("Running in debug mode.");
    if (o_.setsid_off_from_environment) debug("Not running in setsid mode.");
  }
  void subreaper_registered() noexcept override {}
  void reap_done(bool) noexcept override {}

  void not_a_reaper() noexcept override {}
  void setup_failed(const Error& e) noexcept override {
    log::write_line(2, "[dumb-init] %s failed (errno=%d %s). Exiting.", e.context, e.code, e.message());
  }
  void spawned(pid_t pid) noexcept override {
    debug("Child spawned with PID %d.", pid);
    // dumb-init's child says this itself after setsid(); keel's child must
    // not write between fork and exec, and spawn() returning means it is done.
    if (o_.session == Session::NewSession) debug("setsid complete.");
  }
  void exec_failed(const Error& e) noexcept override {
    if (std::strcmp(e.context, "execve") == 0) {
      log::write_line(2, "[dumb-init] %s: %s", program_name(o_), e.message());
    } else {
      log::write_line(2, "[dumb-init] Unable to %s (errno=%d %s). Exiting.", e.context, e.code, e.message());
    }
  }
  void received(int signo) noexcept override { debug("Received signal %d.", signo); }
  void rewritten(int from, int to) noexcept override { debug("Translating signal %d to %d.", from, to); }
  // dumb-init names the translated signal, which is 0 for a dropped one.
  void dropped(int) noexcept override { debug("Not forwarding signal 0 to children (ignored)."); }
  void forwarded(int signo, pid_t, bool) noexcept override { debug("Forwarded signal %d to children.", signo); }
  void suspending() noexcept override { debug("Suspending self due to TTY signal."); }
  void terminal_released(bool was_session_leader) noexcept override {
    if (was_session_leader) {
      debug("Detached from controlling tty, ignoring the first SIGHUP and SIGCONT we receive.");
    } else {
      debug("Detached from controlling tty, but was not session leader.");
    }
  }
  void terminal_release_failed(const Error& e) noexcept override {
    debug("Unable to detach from controlling tty (errno=%d %s).", e.code, e.message());
  }
  void handoff_signal_ignored(int signo) noexcept override { debug("Ignoring tty hand-off signal %d.", signo); }
  void reaped(pid_t pid, int status) noexcept override {
    if (WIFSIGNALED(status)) {
      debug("A child with PID %d was terminated by signal %d.", pid, WTERMSIG(status));
    } else {
      debug("A child with PID %d exited with exit status %d.", pid, WEXITSTATUS(status));
    }
  }
  void main_exited(pid_t pid, int status) noexcept override { reaped(pid, status); }
  void tree_stop(int, int, std::int64_t) noexcept override {}
  void exiting(int exit_code) noexcept override { debug("Child exited with status %d. Goodbye.", exit_code); }

 private:
  void debug(const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3))) {
    if (o_.verbosity <= 0) return;
    char text[512];
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(text, sizeof text, fmt, args);
    va_end(args);
    log::write_line(2, "[dumb-init] %s", text);
  }
  const ContainerOptions& o_;
};

}  // namespace

std::unique_ptr<Reporter> make_reporter(const ContainerOptions& options) {
  switch (options.personality) {
    case Personality::Tini: return std::make_unique<TiniReporter>(options);
    case Personality::DumbInit: return std::make_unique<DumbInitReporter>(options);
    case Personality::Keel: break;
  }
  return std::make_unique<KeelReporter>(options);
}

}  // namespace keel
