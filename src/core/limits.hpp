// limits.hpp — every fixed bound of keel, in one place, with its arithmetic.
#pragma once

#include <cstddef>

namespace keel::limits {

// Signals keel handles: the classic ones, 1..31. Real-time signals (32+)
// are left alone: glibc reserves 32 and 33 for itself, and no init or
// container runtime convention uses the rest.
inline constexpr int kMaxClassicSignal = 31;
// Highest signal number on Linux (SIGRTMAX, _NSIG - 1). Children get every
// disposition up to here reset, real-time signals included.
inline constexpr int kMaxSignal = 64;

// epoll_wait batch: one loop turn handles at most this many ready fds. The
// container init watches 2 fds (signalfd, timerfd); 16 leaves room for the
// supervisor's pipes without a second syscall on a busy turn.
inline constexpr int kEpollBatch = 16;

// signalfd read batch: signalfd_siginfo is 128 bytes, so 16 of them is a
// 2 KiB stack buffer, and one read drains a burst of coalesced signals.
inline constexpr int kSignalBatch = 16;

// Longest message keel formats itself (one log line). Longer ones are cut
// and end in "..."; formatting never allocates.
inline constexpr std::size_t kLogLine = 1024;

// Signal rewrite rules and exit-code remaps are tables indexed by number,
// so their size is fixed by the ranges: signals 1..31, exit codes 0..255.
inline constexpr int kExitCodes = 256;

// Default grace period of the whole-tree stop, in seconds: long enough for a
// daemon to flush and exit on SIGTERM, and shorter than the 10 s that
// `docker stop` and Kubernetes' default waits before their own SIGKILL, so
// keel's orderly stop finishes first.
inline constexpr int kDefaultGraceSeconds = 5;

// Arguments of a script without "#!" that keel runs through /bin/sh. The
// new argv lives on the child's stack between fork and exec (no
// allocation there): 4096 pointers are 32 KiB of stack.
inline constexpr std::size_t kMaxScriptArgs = 4096;

}  // namespace keel::limits
