// signal_source.hpp — signals as events, through signalfd.
//
// keel never runs code in an asynchronous signal handler: every signal it
// handles is blocked and read from a signalfd inside the event loop, so a
// signal is just another event, handled with the loop's full context and no
// reentrancy hazards. Blocked signals are also what lets keel receive
// signals as PID 1 of a PID namespace: the kernel drops signals to a
// namespace's init that have the default disposition, unless they are
// blocked (then they are queued and signalfd sees them).
#pragma once

#include <sys/signalfd.h>

#include <csignal>

#include "core/event_loop.hpp"
#include "core/result.hpp"

namespace keel {

// A signal keel can block (and so read from a signalfd): 1..64 except
// SIGKILL and SIGSTOP. docs/signals.md says what each role does with each.
[[nodiscard]] bool is_blockable(int signo) noexcept;

// sigaddset() that also takes 32 and 33. glibc keeps those two for its
// threads (cancellation, set*id; its SIGRTMIN is 34) and its sigaddset()
// and sigprocmask() refuse them, but at their default disposition one
// sent with kill() ends a process that is not PID 1. keel has no threads,
// so it blocks them like any other (SignalSource uses the raw syscall);
// a child's sigprocmask(SIG_SETMASK) in glibc unblocks them again.
void add_signal(sigset_t& set, int signo) noexcept;

class SignalHandler {
 public:
  virtual void on_signal(const signalfd_siginfo& info) noexcept = 0;

 protected:
  ~SignalHandler() = default;
};

class SignalSource final : private FdHandler, private SoleWaiter {
 public:
  SignalSource() noexcept;
  ~SignalSource();
  SignalSource(const SignalSource&) = delete;
  SignalSource& operator=(const SignalSource&) = delete;

  // Record the mask and ignored set keel inherited (children of the tini
  // personality get them back), block `handled`, and watch them on `loop`.
  // SIGCHLD's disposition is forced to default: an inherited SIG_IGN would
  // make the kernel auto-reap and keel would never see exit statuses.
  Status init(EventLoop& loop, const sigset_t& handled, SignalHandler& handler) noexcept;

  [[nodiscard]] const sigset_t& original_mask() const noexcept { return original_mask_; }
  // Signals 1..64 that were SIG_IGN when keel started (real-time ones too).
  [[nodiscard]] const sigset_t& original_ignored() const noexcept { return original_ignored_; }
  [[nodiscard]] const sigset_t& handled() const noexcept { return handled_; }
  // Block the handled signals again (after an exec that failed had
  // unblocked them for the program that never ran).
  void reblock() noexcept;

 private:
  void on_ready(std::uint32_t events) noexcept override;
  Status wait_and_dispatch() noexcept override;

  int fd_ = -1;
  SignalHandler* handler_ = nullptr;
  sigset_t handled_{};
  sigset_t original_mask_{};
  sigset_t original_ignored_{};
};

}  // namespace keel
