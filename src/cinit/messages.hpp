// messages.hpp — what the container init says, in each personality's words.
//
// The runtime reports events; a Reporter turns them into text. tini and
// dumb-init users have scripts and log filters that grep these lines, so
// those personalities reproduce the originals' wording, streams and
// verbosity levels; native keel has its own ("keel: warning: ...").
#pragma once

#include <sys/types.h>

#include <memory>

#include "cinit/options.hpp"
#include "core/result.hpp"

namespace keel {

class Reporter {
 public:
  virtual ~Reporter() = default;

  virtual void starting() noexcept = 0;
  virtual void subreaper_registered() noexcept = 0;
  virtual void not_a_reaper() noexcept = 0;                  // orphans will not reach us
  virtual void setup_failed(const Error& error) noexcept = 0;  // keel cannot start
  virtual void spawned(pid_t pid) noexcept = 0;
  virtual void exec_failed(const Error& error) noexcept = 0;
  virtual void received(int signo) noexcept = 0;
  virtual void rewritten(int from, int to) noexcept = 0;  // `to` may be 0: dropped() follows
  virtual void dropped(int signo) noexcept = 0;
  virtual void forwarded(int signo, pid_t target, bool child_gone) noexcept = 0;
  virtual void suspending() noexcept = 0;
  // dumb-init's terminal hand-off (setsid mode): keel gave up its controlling
  // terminal for the child to take, or could not; then ignored one of the
  // SIGHUP/SIGCONT the kernel sent it for that. Only dumb-init reports these.
  virtual void terminal_released(bool was_session_leader) noexcept { (void)was_session_leader; }
  virtual void terminal_release_failed(const Error& error) noexcept { (void)error; }
  virtual void handoff_signal_ignored(int signo) noexcept { (void)signo; }
  virtual void reaped(pid_t pid, int status) noexcept = 0;  // any process but the main child
  virtual void reap_done(bool no_children_left) noexcept = 0;
  virtual void main_exited(pid_t pid, int status) noexcept = 0;
  virtual void tree_stop(int signo, int count, std::int64_t grace_ns) noexcept = 0;
  virtual void exiting(int exit_code) noexcept = 0;
};

[[nodiscard]] std::unique_ptr<Reporter> make_reporter(const ContainerOptions& options);

}  // namespace keel
