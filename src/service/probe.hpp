// probe.hpp — a service's health or readiness probe, as PID 1 runs it.
//
// A probe is a check repeated every `interval` on a running service
// (docs/services.md, "Health and readiness probes"). PID 1 never runs the
// check itself: each run is a child (keel's own binary in its probe role,
// service/probe_main.cpp, or the service's `exec` command), started by the
// owner (ProbeOwner::launch_probe, the supervisor) without waiting for its
// exec. Its exit status is the result (0: passed); the first
// kProbeOutputBytes of its output are read from a pipe on the loop, never
// blocking, and kept for `keelctl status`. One timer per probe serves both
// the interval and the run's timeout: a run that overruns is killed
// (SIGKILL to its process group) and counted failed at once; its pid stays
// in the ProbeTable until reaped, so the reaper still tells it from a
// service's main process.
//
// Counting: `failures` failed runs in a row (those within `start_period`
// of the start are not counted) make the probe unhealthy, `successes`
// passed ones in a row healthy; each change is told to the owner. Nothing
// here allocates after construction.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "core/event_loop.hpp"
#include "core/limits.hpp"
#include "core/result.hpp"
#include "core/spawn.hpp"
#include "service/config.hpp"

namespace keel::service {

enum class Health : std::uint8_t {
  None,       // no probe, or not running
  Starting,   // running, no verdict yet
  Healthy,
  Unhealthy,
};
[[nodiscard]] const char* health_name(Health health) noexcept;

class Probe;
class ProbeTable;

// What a probe needs from its service.
class ProbeOwner {
 public:
  // Start one run: a child whose stdout and stderr are `output_fd` (the
  // write end of the probe's pipe, which the caller closes after). Its pid
  // must lead a process group of its own (the timeout kills the group);
  // its exec report (core/spawn.hpp) is read once it is reaped.
  virtual Result<Launch> launch_probe(Probe& probe, int output_fd) noexcept = 0;
  // The probe turned healthy or unhealthy.
  virtual void probe_changed(Probe& probe) noexcept = 0;

 protected:
  ~ProbeOwner() = default;
};

class Probe final : TimerHandler, FdHandler {
 public:
  Probe(EventLoop& loop, ProbeTable& table, ProbeOwner& owner, bool liveness) noexcept
      : loop_(loop), table_(table), owner_(owner), liveness_(liveness), timer_(loop, *this) {}
  ~Probe();
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;

  // Begin probing with `config` (borrowed: the unit keeps it alive), the
  // first run after `first_delay_ns`; start_period counts from now.
  void start(const ProbeConfig& config, std::int64_t first_delay_ns) noexcept;
  // No more runs: one in flight is killed (and reaped later, silently).
  // The verdict and the last result stay for status.
  void stop() noexcept;
  // From the reaper, through the table: the run `pid` ended.
  void run_exited(pid_t pid, int wait_status) noexcept;

  [[nodiscard]] bool liveness() const noexcept { return liveness_; }
  [[nodiscard]] bool running() const noexcept { return active_; }
  [[nodiscard]] Health health() const noexcept { return health_; }
  [[nodiscard]] const ProbeConfig* config() const noexcept { return config_; }
  // When the current verdict began: monotonic (for comparisons) and wall
  // clock (for people); 0 before any verdict.
  [[nodiscard]] std::int64_t since_mono_ns() const noexcept { return since_mono_ns_; }
  [[nodiscard]] std::int64_t since_wall_ns() const noexcept { return since_wall_ns_; }
  // The last run: "passed", "failed: exited 1", "timed out after 5 s", ...
  // ("" before the first), and what it printed (at most kProbeOutputBytes).
  [[nodiscard]] const char* last_result() const noexcept { return result_; }
  [[nodiscard]] const char* last_output() const noexcept { return output_; }
  [[nodiscard]] std::int64_t last_run_wall_ns() const noexcept { return last_wall_ns_; }

 private:
  void on_timer() noexcept override;
  void on_ready(std::uint32_t events) noexcept override;
  void begin_run() noexcept;
  void drain() noexcept;
  void close_pipe() noexcept;
  void close_report() noexcept;
  void finish_run(bool passed) noexcept;
  void set_health(Health health) noexcept;

  EventLoop& loop_;
  ProbeTable& table_;
  ProbeOwner& owner_;
  const bool liveness_;
  Timer timer_;
  const ProbeConfig* config_ = nullptr;
  bool active_ = false;
  pid_t pid_ = -1;     // the run in flight
  int pipe_fd_ = -1;   // its output's read end
  int report_fd_ = -1; // its exec report's read end
  std::int64_t started_ns_ = 0;  // start(): start_period counts from here
  int fails_in_row_ = 0;
  int passes_in_row_ = 0;
  Health health_ = Health::None;
  std::int64_t since_mono_ns_ = 0;
  std::int64_t since_wall_ns_ = 0;
  std::int64_t last_wall_ns_ = 0;
  std::size_t run_len_ = 0;                        // bytes of this run's output kept so far
  char run_output_[limits::kProbeOutputBytes + 1] = {};
  char output_[limits::kProbeOutputBytes + 1] = {};
  char result_[96] = {};
};

// The probe runs in flight, by pid: what the reaper asks before it takes a
// pid for a service's (or an orphan). A fixed array (limits.hpp); a run is
// not started when it is full, and counts neither way.
class ProbeTable {
 public:
  bool add(pid_t pid, Probe* probe) noexcept;
  // The run's probe no longer wants its result (stopped, timed out, gone);
  // the pid stays until reaped.
  void detach(pid_t pid) noexcept;
  void forget(const Probe* probe) noexcept;
  // Was `pid` a probe run? Its probe hears of it if it still wants to.
  bool on_child_exit(pid_t pid, int wait_status) noexcept;

 private:
  struct Entry {
    pid_t pid = 0;
    Probe* probe = nullptr;
  };
  Entry entries_[limits::kProbesInFlight] = {};
};

}  // namespace keel::service
