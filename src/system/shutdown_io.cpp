// shutdown_io.cpp — sync and mount-table calls in a child, with bounds (see
// shutdown_io.hpp). Nothing here allocates: the shutdown runs when memory
// may be what failed.
#include "system/shutdown_io.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>

#include "core/event_loop.hpp"

namespace keel {
namespace {

constexpr std::int64_t kNsPerSec = 1'000'000'000;

timespec to_timespec(std::int64_t ns) noexcept {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / kNsPerSec);
  ts.tv_nsec = static_cast<long>(ns % kNsPerSec);
  return ts;
}

// In a child, first of all: it holds no descriptor of keel's, so one left
// hanging in the kernel keeps no pipe, socket or device of keel's open (a
// runtime's log pipe, the control socket, a FUSE device whose connection
// would then never be aborted). Syscalls only: this runs after fork.
void drop_descriptors() noexcept { (void)::close_range(0, ~0U, 0); }

int do_mount_call(MountCall call, const char* target) noexcept {
  int rc = 0;
  switch (call) {
    case MountCall::Unmount: rc = ::umount2(target, UMOUNT_NOFOLLOW); break;
    case MountCall::Detach: rc = ::umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW); break;
    case MountCall::RemountReadOnly: rc = ::mount(nullptr, target, nullptr, MS_REMOUNT | MS_RDONLY, nullptr); break;
  }
  return rc == 0 ? 0 : errno;
}

// "Dirty:   1234 kB" -> 1234 when `line` starts with `key`.
bool field_kb(const char* line, const char* end, const char* key, std::uint64_t& kb) noexcept {
  const std::size_t n = std::strlen(key);
  if (static_cast<std::size_t>(end - line) < n || std::memcmp(line, key, n) != 0) return false;
  const char* p = line + n;
  while (p < end && *p == ' ') ++p;
  if (p == end || *p < '0' || *p > '9') return false;
  std::uint64_t v = 0;
  for (; p < end && *p >= '0' && *p <= '9'; ++p) {
    if (v > (UINT64_MAX - 9) / 10) return false;  // not a real meminfo line
    v = v * 10 + static_cast<std::uint64_t>(*p - '0');
  }
  kb = v;
  return true;
}

// /proc/meminfo's counters; false when unreadable.
bool read_outstanding(const char* path, std::uint64_t& kb) noexcept {
  // Dirty and Writeback are among the first 20 lines (~600 bytes).
  char text[4096];
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = 0;
  do {
    n = ::read(fd, text, sizeof text);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  return n > 0 && parse_meminfo_outstanding(text, static_cast<std::size_t>(n), kb);
}

}  // namespace

bool parse_meminfo_outstanding(const char* text, std::size_t length, std::uint64_t& kb) noexcept {
  std::uint64_t total = 0;
  bool found = false;
  const char* const end = text + length;
  for (const char* line = text; line < end;) {
    const char* nl = static_cast<const char*>(std::memchr(line, '\n', static_cast<std::size_t>(end - line)));
    const char* line_end = nl != nullptr ? nl : end;
    std::uint64_t v = 0;
    if (field_kb(line, line_end, "Dirty:", v) || field_kb(line, line_end, "Writeback:", v)) {
      found = true;
      total += v;
    } else if (field_kb(line, line_end, "NFS_Unstable:", v)) {
      total += v;  // pages an NFS server has but not on its disk yet (gone from kernels since 5.9: 0)
    }
    line = line_end + 1;
  }
  if (found) kb = total;
  return found;
}

bool SyncProgress::check(std::uint64_t outstanding_kb, bool known) noexcept {
  // A new low, not merely lower than the last look: a value going up and
  // down around a stuck device must not count as progress forever.
  if (known && outstanding_kb < lowest_) {
    lowest_ = outstanding_kb;
    stalled_ = 0;
    return true;
  }
  ++stalled_;
  return stalled_ < stall_checks_;
}

bool wait_child_until(pid_t pid, std::int64_t deadline_ns, int& status) noexcept {
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  for (;;) {
    // Checked before waiting: a SIGCHLD that comes after this check stays
    // pending (it is blocked), so sigtimedwait returns at once for it.
    const pid_t got = ::waitpid(pid, &status, WNOHANG);
    if (got == pid) return true;
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return true;  // ECHILD: reaped by someone else already; nothing to wait for
    const std::int64_t left = deadline_ns - monotonic_ns();
    if (left <= 0) return false;
    const timespec timeout = to_timespec(left);
    if (::sigtimedwait(&chld, nullptr, &timeout) < 0 && errno != EAGAIN && errno != EINTR) {
      // Cannot wait (EINVAL cannot happen with these arguments): one last look, no spinning.
      return ::waitpid(pid, &status, WNOHANG) == pid;
    }
  }
}

SyncOutcome sync_bounded(const SyncBounds& bounds) noexcept {
  SyncOutcome out;
  const std::int64_t start = monotonic_ns();
  const pid_t pid = ::fork();
  if (pid == 0) {
    drop_descriptors();
    ::sync();
    ::_exit(0);
  }
  if (pid < 0) {
    out.fork_error = errno;
    ::sync();
    out.finished = true;
    return out;
  }
  SyncProgress progress(bounds.stall_checks);
  const std::int64_t end = start + bounds.max_ns;
  for (;;) {
    int status = 0;
    const std::int64_t next = std::min(monotonic_ns() + bounds.check_ns, end);
    if (wait_child_until(pid, next, status)) {
      out.finished = true;
      return out;
    }
    std::uint64_t kb = 0;
    const bool known = read_outstanding(bounds.meminfo, kb);
    out.outstanding_kb = kb;
    if (!progress.check(kb, known)) {
      out.stalled = true;
      break;
    }
    if (monotonic_ns() >= end) break;
  }
  // Left behind: SIGKILL ends it if the sync ever returns from the kernel
  // (it is in uninterruptible sleep until then).
  (void)::kill(pid, SIGKILL);
  return out;
}

CallOutcome mount_call_bounded(MountCall call, const char* target, std::int64_t deadline_ns) noexcept {
  CallOutcome out;
  const pid_t pid = ::fork();
  if (pid == 0) {
    drop_descriptors();
    ::_exit(do_mount_call(call, target));
  }
  if (pid < 0) {
    out.error = do_mount_call(call, target);
    return out;
  }
  int status = 0;
  if (!wait_child_until(pid, deadline_ns, status)) {
    (void)::kill(pid, SIGKILL);
    out.timed_out = true;
    return out;
  }
  // An errno fits an exit status (all are below 256); a child killed by a
  // signal (nobody sends one) reports EINTR.
  out.error = WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
  return out;
}

}  // namespace keel
