#include "service/probe.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "core/signals.hpp"

namespace keel::service {
namespace {

std::int64_t wall_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

const char* health_name(Health health) noexcept {
  switch (health) {
    case Health::None: return "none";
    case Health::Starting: return "starting";
    case Health::Healthy: return "healthy";
    case Health::Unhealthy: return "unhealthy";
  }
  return "?";
}

Probe::~Probe() {
  stop();
  table_.forget(this);
}

void Probe::start(const ProbeConfig& config, std::int64_t first_delay_ns) noexcept {
  stop();
  config_ = &config;
  active_ = true;
  started_ns_ = monotonic_ns();
  fails_in_row_ = 0;
  passes_in_row_ = 0;
  health_ = Health::Starting;
  since_mono_ns_ = 0;
  since_wall_ns_ = 0;
  timer_.arm_after(first_delay_ns);
}

void Probe::stop() noexcept {
  active_ = false;
  timer_.disarm();
  close_pipe();
  close_report();
  if (pid_ > 0) {
    // Its own process group (ProbeOwner::launch_probe): what it started
    // goes with it. Reaped later; the table keeps the pid till then.
    ::kill(-pid_, SIGKILL);
    table_.detach(pid_);
    pid_ = -1;
  }
}

void Probe::on_timer() noexcept {
  if (!active_) return;
  if (pid_ > 0) {
    // The run overran its timeout: killed, and a failure now (a child
    // the kernel cannot kill at once must not hold the next run back).
    ::kill(-pid_, SIGKILL);
    table_.detach(pid_);
    pid_ = -1;
    close_report();
    drain();
    const auto ms = static_cast<long long>(config_->timeout_ns / 1'000'000);
    if (ms % 1000 == 0) {
      std::snprintf(result_, sizeof result_, "timed out after %lld s", ms / 1000);
    } else {
      std::snprintf(result_, sizeof result_, "timed out after %lld ms", ms);
    }
    finish_run(false);
    return;
  }
  begin_run();
}

void Probe::begin_run() noexcept {
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
    std::snprintf(result_, sizeof result_, "not run: pipe2: %s", std::strerror(errno));
    timer_.arm_after(config_->interval_ns);  // neither a pass nor a failure: keel's problem
    return;
  }
  Result<Launch> launched = owner_.launch_probe(*this, p[1]);
  ::close(p[1]);
  if (!launched) {
    ::close(p[0]);
    // The run could not start: a failure of the service's check (a
    // missing command, a user gone), as the shell's 127 would be.
    if (launched.error().code == 0) {
      std::snprintf(result_, sizeof result_, "failed: cannot run: %s", launched.error().context);
    } else {
      std::snprintf(result_, sizeof result_, "failed: cannot run: %s: %s", launched.error().context,
                    launched.error().message());
    }
    output_[0] = '\0';
    finish_run(false);
    return;
  }
  const pid_t pid = launched.value().pid;
  close_report();
  report_fd_ = launched.value().report_fd;
  if (!table_.add(pid, this)) {
    // More runs in flight than keel follows: this one is let go (killed,
    // reaped as a stray) and counts neither way.
    ::kill(-pid, SIGKILL);
    ::close(p[0]);
    close_report();
    std::snprintf(result_, sizeof result_, "not run: too many probes in flight (%d)", limits::kProbesInFlight);
    timer_.arm_after(config_->interval_ns);
    return;
  }
  pid_ = pid;
  run_len_ = 0;
  run_output_[0] = '\0';
  if (loop_.add(p[0], EPOLLIN, *this)) {
    pipe_fd_ = p[0];
  } else {
    ::close(p[0]);  // the run goes on without its output being kept
  }
  timer_.arm_after(config_->timeout_ns);
}

void Probe::on_ready(std::uint32_t /*events*/) noexcept { drain(); }

// Read what is there (never waits): the first kProbeOutputBytes are kept,
// the rest read and dropped so the child never blocks on a full pipe.
void Probe::drain() noexcept {
  if (pipe_fd_ < 0) return;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(pipe_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) close_pipe();  // every writer is gone
      return;
    }
    std::size_t room = limits::kProbeOutputBytes - run_len_;
    std::size_t take = static_cast<std::size_t>(n) < room ? static_cast<std::size_t>(n) : room;
    std::memcpy(run_output_ + run_len_, buf, take);
    run_len_ += take;
    run_output_[run_len_] = '\0';
  }
}

void Probe::close_report() noexcept {
  if (report_fd_ < 0) return;
  ::close(report_fd_);
  report_fd_ = -1;
}

void Probe::close_pipe() noexcept {
  if (pipe_fd_ < 0) return;
  loop_.remove(pipe_fd_, *this);
  ::close(pipe_fd_);
  pipe_fd_ = -1;
}

void Probe::run_exited(pid_t pid, int wait_status) noexcept {
  if (pid != pid_ || !active_) return;
  pid_ = -1;
  drain();  // what it wrote before exiting is in the pipe by now
  close_pipe();
  bool passed = WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
  // Reaped, so its report is there if it wrote one: a command that could
  // not be run says why rather than "exited 127".
  Error error;
  const ExecReport report = report_fd_ >= 0 ? read_exec_report(report_fd_, &error) : ExecReport::Execed;
  close_report();
  if (report == ExecReport::Failed) {
    passed = false;
    std::snprintf(result_, sizeof result_, "failed: cannot run: %s: %s", error.context, error.message());
  } else if (passed) {
    std::snprintf(result_, sizeof result_, "passed");
  } else if (WIFSIGNALED(wait_status)) {
    std::snprintf(result_, sizeof result_, "failed: killed by %s", signals::name(WTERMSIG(wait_status)));
  } else {
    std::snprintf(result_, sizeof result_, "failed: exited %d", WEXITSTATUS(wait_status));
  }
  finish_run(passed);
}

void Probe::finish_run(bool passed) noexcept {
  std::memcpy(output_, run_output_, run_len_ + 1);
  close_pipe();
  run_len_ = 0;
  run_output_[0] = '\0';
  last_wall_ns_ = wall_ns();
  // The next run is armed first: the owner may stop this probe (a
  // restart) from inside probe_changed().
  timer_.arm_after(config_->interval_ns);
  if (passed) {
    fails_in_row_ = 0;
    if (passes_in_row_ < config_->successes) ++passes_in_row_;
    if (passes_in_row_ >= config_->successes && health_ != Health::Healthy) set_health(Health::Healthy);
    return;
  }
  passes_in_row_ = 0;
  // Within the start period a failure does not count.
  if (monotonic_ns() - started_ns_ < config_->start_period_ns) return;
  if (fails_in_row_ < config_->failures) ++fails_in_row_;
  if (fails_in_row_ >= config_->failures && health_ != Health::Unhealthy) set_health(Health::Unhealthy);
}

void Probe::set_health(Health health) noexcept {
  health_ = health;
  since_mono_ns_ = monotonic_ns();
  since_wall_ns_ = last_wall_ns_;
  owner_.probe_changed(*this);
}

bool ProbeTable::add(pid_t pid, Probe* probe) noexcept {
  for (Entry& e : entries_) {
    if (e.pid == 0) {
      e.pid = pid;
      e.probe = probe;
      return true;
    }
  }
  return false;
}

void ProbeTable::detach(pid_t pid) noexcept {
  for (Entry& e : entries_) {
    if (e.pid == pid) e.probe = nullptr;
  }
}

void ProbeTable::forget(const Probe* probe) noexcept {
  for (Entry& e : entries_) {
    if (e.probe == probe) e.probe = nullptr;
  }
}

bool ProbeTable::on_child_exit(pid_t pid, int wait_status) noexcept {
  for (Entry& e : entries_) {
    if (e.pid != pid) continue;
    Probe* probe = e.probe;
    e.pid = 0;
    e.probe = nullptr;
    if (probe != nullptr) probe->run_exited(pid, wait_status);
    return true;
  }
  return false;
}

}  // namespace keel::service
