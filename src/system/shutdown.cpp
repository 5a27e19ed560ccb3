// shutdown.cpp — the end of the shutdown sequence (see shutdown.hpp): the
// leftover processes, the seed hook, sync, the filesystems, reboot(2) or
// the container's exit.
//
// Nothing here allocates: the mount table is read into a static buffer
// (zero pages until the one shutdown touches them), so the way down works
// even when memory is what failed.
#include "system/shutdown.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "core/log.hpp"
#include "system/boot_events.hpp"

namespace keel {
namespace {

constexpr std::int64_t kNsPerSec = 1'000'000'000;
// A mountinfo line is ~100-200 bytes; 1 MiB holds ~5,000 mounts, more than
// any machine keel boots. A longer table is handled up to what fits (the
// oldest mounts, i.e. the root's, come first), with a warning.
constexpr std::size_t kMountinfoBytes = std::size_t{1} << 20;
constexpr std::size_t kMaxMounts = 4096;
// Busy mounts are retried while a pass unmounts something: a mount moved
// after its children were made is listed before them, so one reverse pass
// may find it still covered.
constexpr int kMaxUnmountPasses = 4;

char g_mountinfo[kMountinfoBytes];
MountEntry g_mounts[kMaxMounts];
std::int64_t g_started_ns = 0;

std::int64_t now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

// One shutdown line: "shutdown +12.3 ms: WHAT".
void step(log::Level level, const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));
void step(log::Level level, const char* fmt, ...) noexcept {
  if (!log::enabled(level)) return;
  char text[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(text, sizeof text, fmt, args);
  va_end(args);
  const std::int64_t tenths = (now_ns() - g_started_ns) / 100'000;  // 0.1 ms
  log::msg(level, "shutdown +%lld.%lld ms: %s", static_cast<long long>(tenths / 10),
           static_cast<long long>(tenths % 10), text);
}

timespec to_timespec(std::int64_t ns) noexcept {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / kNsPerSec);
  ts.tv_nsec = static_cast<long>(ns % kNsPerSec);
  return ts;
}

// Reap every child that has exited. True when none is left (ECHILD).
bool reap_exited(int& reaped) noexcept {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      ++reaped;
      continue;
    }
    if (pid == 0) return false;
    if (errno == EINTR) continue;
    return true;  // ECHILD (or EINVAL, which cannot happen: nothing to wait for either way)
  }
}

// Reap until no child is left or `deadline` passes; true when none is left.
// Between rounds, wait for the next SIGCHLD, never longer than the
// deadline. `resend` (SIGKILL) goes to everything again after each wake-up:
// a process forked just before the first kill(-1) reached its parent.
bool reap_until(std::int64_t deadline, int resend, int& reaped) noexcept {
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  for (;;) {
    // Checked before waiting: a SIGCHLD that comes after this check stays
    // pending (it is blocked), so sigtimedwait returns at once for it.
    if (reap_exited(reaped)) return true;
    const std::int64_t left = deadline - now_ns();
    if (left <= 0) return false;
    const timespec timeout = to_timespec(left);
    if (::sigtimedwait(&chld, nullptr, &timeout) < 0 && errno != EAGAIN && errno != EINTR) {
      step(log::Level::Error, "sigtimedwait: %s", std::strerror(errno));
      return reap_exited(reaped);  // cannot wait: do not spin
    }
    if (resend != 0) (void)::kill(-1, resend);
  }
}

// The mount table into g_mountinfo, NUL-terminated. Returns its length, or
// -1 after logging why.
long read_mountinfo(const char* path) noexcept {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    step(log::Level::Error, "cannot read the mount table %s: %s; filesystems stay mounted", path, std::strerror(errno));
    return -1;
  }
  std::size_t used = 0;
  for (;;) {
    if (used == sizeof g_mountinfo - 1) {
      step(log::Level::Warn, "the mount table is longer than %zu bytes: the mounts past it are left alone",
           sizeof g_mountinfo - 1);
      break;
    }
    ssize_t n = ::read(fd, g_mountinfo + used, sizeof g_mountinfo - 1 - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      step(log::Level::Error, "reading %s: %s; filesystems stay mounted", path, std::strerror(errno));
      ::close(fd);
      return -1;
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  ::close(fd);
  // A cut line (a full buffer) is dropped: its mount point may be cut too.
  while (used > 0 && g_mountinfo[used - 1] != '\n') --used;
  g_mountinfo[used] = '\0';
  return static_cast<long>(used);
}

// Undo mountinfo's octal escapes (\040 space, \011 tab, \012 newline,
// \134 backslash) in place.
void unescape(char* s) noexcept {
  char* out = s;
  for (const char* in = s; *in != '\0'; ++in) {
    if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' && in[3] >= '0' &&
        in[3] <= '7') {
      *out++ = static_cast<char>(((in[1] - '0') << 6) | ((in[2] - '0') << 3) | (in[3] - '0'));
      in += 3;
    } else {
      *out++ = *in;
    }
  }
  *out = '\0';
}

// Is `path` `prefix` or below it?
bool under(const char* path, const char* prefix) noexcept {
  std::size_t n = std::strlen(prefix);
  while (n > 1 && prefix[n - 1] == '/') --n;
  if (std::strncmp(path, prefix, n) != 0) return false;
  return path[n] == '\0' || path[n] == '/' || (n == 1 && prefix[0] == '/');
}

enum class Outcome { Unmounted, Busy, Gone, Failed, Hung };

// The filesystem step's clock: each call gets its own bound, and all of
// them together the step's (ShutdownOptions::filesystems_max_ns).
struct FsClock {
  std::int64_t call_ns;
  std::int64_t end_ns;
  bool out_of_time_logged = false;

  // The deadline of the next call; 0 when the step is out of time.
  std::int64_t next() noexcept {
    const std::int64_t now = now_ns();
    if (now >= end_ns) {
      if (!out_of_time_logged) {
        step(log::Level::Error, "the filesystem step is out of time: what is still mounted stays mounted");
        out_of_time_logged = true;
      }
      return 0;
    }
    return now + call_ns < end_ns ? now + call_ns : end_ns;
  }
};

CallOutcome bounded(MountCall call, const MountEntry& m, FsClock& clock) noexcept {
  const std::int64_t deadline = clock.next();
  if (deadline == 0) return CallOutcome{true, 0};
  return mount_call_bounded(call, m.target, deadline);
}

Outcome try_unmount(const MountEntry& m, FsClock& clock) noexcept {
  const CallOutcome c = bounded(MountCall::Unmount, m, clock);
  if (c.timed_out) return Outcome::Hung;
  errno = c.error;
  if (c.error == 0) return Outcome::Unmounted;
  // EINVAL: no longer a mount point (detached with a parent, or a stale
  // line); ENOENT: its directory went with a parent.
  if (c.error == EINVAL || c.error == ENOENT) return Outcome::Gone;
  if (c.error == EBUSY) return Outcome::Busy;
  return Outcome::Failed;
}

// An unmount that did not return in time (a dead NFS server or device):
// detached, also in a child (the path lookup alone can hang on such a
// filesystem), and never waited for again.
void hung(const MountEntry& m, FsClock& clock, UnmountSummary& summary) noexcept {
  ++summary.timed_out;
  const CallOutcome d = bounded(MountCall::Detach, m, clock);
  if (!d.timed_out && d.error == 0) {
    step(log::Level::Error, "%s (%s %s): the unmount did not return in time: detached", m.target, m.type, m.source);
  } else if (d.timed_out) {
    ++summary.failed;
    step(log::Level::Error, "%s (%s %s): neither the unmount nor the detach returned in time: left mounted", m.target,
         m.type, m.source);
  } else {
    ++summary.failed;
    step(log::Level::Error, "%s (%s %s): the unmount did not return in time, and detaching it failed: %s", m.target,
         m.type, m.source, std::strerror(d.error));
  }
}

// A filesystem that cannot be unmounted: read-only first, by its path while
// it still has one — that writes back everything and leaves ext4's journal
// clean, so the next boot finds it clean even though it was never
// unmounted — then detached, so whatever held it no longer pins the tree.
void read_only_then_detach(const MountEntry& m, FsClock& clock, UnmountSummary& summary) noexcept {
  const CallOutcome ro = bounded(MountCall::RemountReadOnly, m, clock);
  if (ro.timed_out) {
    hung(m, clock, summary);
    return;
  }
  const bool read_only = ro.error == 0;
  const CallOutcome d = bounded(MountCall::Detach, m, clock);
  const bool detached = !d.timed_out && d.error == 0;
  if (d.timed_out) ++summary.timed_out;
  if (read_only) {
    ++summary.read_only;
    step(log::Level::Warn, "%s (%s %s) busy: remounted read-only%s", m.target, m.type, m.source,
         detached ? ", detached" : "");
  } else if (detached) {
    ++summary.detached;
    step(log::Level::Error, "%s (%s %s) busy and not remountable read-only (%s): detached; it may need a check",
         m.target, m.type, m.source, std::strerror(ro.error));
  } else {
    ++summary.failed;
    step(log::Level::Error, "%s (%s %s): cannot unmount, remount read-only (%s) or detach (%s)", m.target, m.type,
         m.source, std::strerror(ro.error), d.timed_out ? "did not return in time" : std::strerror(d.error));
  }
}

// What outlived SIGKILL, by pid, name and state (D: uninterruptible sleep),
// from /proc without allocating: getdents64 into a static buffer. Kernel
// threads are not processes kill(-1) reaches and are not listed.
void name_survivors() noexcept {
  static char dirents[16384];
  int dir = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  const pid_t self = ::getpid();  // identity, not a role question (ARCHITECTURE.md rule 6)
  int named = 0;
  int more = 0;
  for (;;) {
    const long n = ::syscall(SYS_getdents64, dir, dirents, sizeof dirents);
    if (n <= 0) break;
    for (long at = 0; at < n;) {
      const auto* d = reinterpret_cast<const dirent64*>(dirents + at);
      at += d->d_reclen;
      char* end = nullptr;
      const long pid = std::strtol(d->d_name, &end, 10);
      if (pid <= 0 || *end != '\0' || pid == self) continue;
      char path[64];
      std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
      int fd = ::open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      char stat[512];
      const ssize_t len = ::read(fd, stat, sizeof stat - 1);
      ::close(fd);
      if (len <= 0) continue;
      stat[len] = '\0';
      // "PID (COMM) STATE PPID PGRP SESSION TTY TPGID FLAGS ...": COMM may
      // hold spaces and parentheses, so the last ')' ends it.
      char* open = std::strchr(stat, '(');
      char* close = std::strrchr(stat, ')');
      if (open == nullptr || close == nullptr || close < open || close[1] == '\0') continue;
      *close = '\0';
      char state = close[2];
      unsigned long flags = 0;
      int field = 3;
      for (char* p = close + 2; *p != '\0' && field < 9; ++p) {
        if (*p == ' ') {
          ++field;
          if (field == 9) flags = std::strtoul(p + 1, nullptr, 10);
        }
      }
      constexpr unsigned long kPfKthread = 0x00200000;  // PF_KTHREAD (include/linux/sched.h)
      if ((flags & kPfKthread) != 0) continue;
      if (named < limits::kSurvivorsNamed) {
        step(log::Level::Error, "still alive: pid %ld (%s), state %c", pid, open + 1, state);
        ++named;
      } else {
        ++more;
      }
    }
  }
  ::close(dir);
  if (more > 0) step(log::Level::Error, "still alive: %d more", more);
}

// True when the sync finished.
bool synced_or_not(const ShutdownOptions& options, const char* when) noexcept {
  const SyncOutcome s = sync_bounded(options.sync_bounds);
  if (s.fork_error != 0) {
    step(log::Level::Warn, "cannot fork for a bounded sync (%s): synced in PID 1", std::strerror(s.fork_error));
  }
  if (s.finished) {
    step(log::Level::Info, "synced%s", when);
    return true;
  }
  if (s.stalled) {
    step(log::Level::Error, "sync makes no progress (Dirty+Writeback %llu kB): going on without it",
         static_cast<unsigned long long>(s.outstanding_kb));
  } else {
    step(log::Level::Error, "sync still running after %lld s (Dirty+Writeback %llu kB): going on without it",
         static_cast<long long>(options.sync_bounds.max_ns / kNsPerSec),
         static_cast<unsigned long long>(s.outstanding_kb));
  }
  return false;
}

}  // namespace

bool is_virtual_filesystem(const char* type) noexcept {
  static constexpr const char* kVirtual[] = {
      "autofs",   "binfmt_misc", "bpf",      "cgroup",  "cgroup2",    "configfs", "debugfs",    "devpts",
      "devtmpfs", "efivarfs",    "fusectl",  "hugetlbfs", "mqueue",   "nsfs",     "proc",       "pstore",
      "ramfs",    "rootfs",      "rpc_pipefs", "securityfs", "selinuxfs", "sysfs", "tmpfs",     "tracefs",
  };
  for (const char* v : kVirtual) {
    if (std::strcmp(type, v) == 0) return true;
  }
  return false;
}

std::size_t parse_mountinfo(char* text, std::size_t length, MountEntry* out, std::size_t max) noexcept {
  std::size_t count = 0;
  char* const end = text + length;
  char* line = text;
  while (line < end && count < max) {
    char* nl = static_cast<char*>(std::memchr(line, '\n', static_cast<std::size_t>(end - line)));
    char* line_end = nl != nullptr ? nl : end;
    *line_end = '\0';
    // "ID PARENT MAJ:MIN ROOT TARGET OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER"
    char* fields[32];
    int n = 0;
    for (char* p = line; p < line_end && n < 32;) {
      while (p < line_end && *p == ' ') *p++ = '\0';
      if (p >= line_end) break;
      fields[n++] = p;
      while (p < line_end && *p != ' ') ++p;
    }
    int dash = -1;
    for (int i = 6; i < n; ++i) {
      if (std::strcmp(fields[i], "-") == 0) {
        dash = i;
        break;
      }
    }
    if (dash >= 0 && dash + 2 < n) {
      MountEntry& m = out[count++];
      unescape(fields[3]);
      unescape(fields[4]);
      unescape(fields[dash + 2]);
      m.target = fields[4];
      m.type = fields[dash + 1];
      m.source = fields[dash + 2];
      m.bind_of_subdir = std::strcmp(fields[3], "/") != 0;
    }
    line = line_end + 1;
  }
  return count;
}

UnmountSummary unmount_filesystems(const ShutdownOptions& options) noexcept {
  if (g_started_ns == 0) g_started_ns = options.started_ns != 0 ? options.started_ns : now_ns();
  UnmountSummary summary;
  long length = read_mountinfo(options.mountinfo);
  if (length < 0) return summary;
  const std::size_t count = parse_mountinfo(g_mountinfo, static_cast<std::size_t>(length), g_mounts, kMaxMounts);
  if (count == kMaxMounts) step(log::Level::Warn, "more than %zu mounts: the newest are left alone", kMaxMounts);

  // What this shutdown handles; the rest is counted as skipped. The root
  // is never unmounted (every path lives on it): it is remounted read-only
  // at the end.
  bool wanted[kMaxMounts] = {};
  bool root_real = false;
  for (std::size_t i = 0; i < count; ++i) {
    const MountEntry& m = g_mounts[i];
    if (options.subtree != nullptr) {
      wanted[i] = under(m.target, options.subtree) && std::strcmp(m.target, "/") != 0;
    } else if (std::strcmp(m.target, "/") == 0) {
      root_real = root_real || !is_virtual_filesystem(m.type);
    } else {
      wanted[i] = !is_virtual_filesystem(m.type);
    }
    if (!wanted[i]) ++summary.skipped;
  }

  FsClock clock{options.mount_call_ns, now_ns() + options.filesystems_max_ns};
  // Last mounted first, so a mount comes off before the one it sits on;
  // busy ones are retried while a pass makes progress.
  bool busy[kMaxMounts] = {};
  for (int pass = 0; pass < kMaxUnmountPasses; ++pass) {
    bool progress = false;
    bool any_busy = false;
    for (std::size_t i = count; i-- > 0;) {
      if (!wanted[i]) continue;
      const MountEntry& m = g_mounts[i];
      switch (try_unmount(m, clock)) {
        case Outcome::Unmounted:
          step(log::Level::Info, "unmounted %s (%s %s)", m.target, m.type, m.source);
          ++summary.unmounted;
          wanted[i] = busy[i] = false;
          progress = true;
          break;
        case Outcome::Gone:
          wanted[i] = busy[i] = false;
          break;
        case Outcome::Busy:
          busy[i] = any_busy = true;
          break;
        case Outcome::Failed:
          step(log::Level::Error, "unmounting %s (%s %s): %s", m.target, m.type, m.source, std::strerror(errno));
          busy[i] = any_busy = true;  // still mounted: read-only is the next best thing
          break;
        case Outcome::Hung:
          hung(m, clock, summary);
          wanted[i] = busy[i] = false;  // never waited for again
          break;
      }
    }
    if (!any_busy || !progress) break;
  }
  // What is still mounted is busy (or pinned by another that is). One more
  // plain try first: a mount held only by children detached just before
  // it comes off cleanly.
  for (std::size_t i = count; i-- > 0;) {
    if (!wanted[i] || !busy[i]) continue;
    const MountEntry& m = g_mounts[i];
    const Outcome again = try_unmount(m, clock);
    if (again == Outcome::Unmounted) {
      step(log::Level::Info, "unmounted %s (%s %s)", m.target, m.type, m.source);
      ++summary.unmounted;
    } else if (again == Outcome::Hung) {
      hung(m, clock, summary);
    } else if (again != Outcome::Gone) {
      read_only_then_detach(m, clock, summary);
    }
  }

  // The root of a disk-backed system: read-only is as clean as it gets
  // (an initramfs root is rootfs/tmpfs: nothing to protect).
  if (root_real) {
    const MountEntry root{"/", "", "", false};
    const CallOutcome c = bounded(MountCall::RemountReadOnly, root, clock);
    if (!c.timed_out && c.error == 0) {
      ++summary.read_only;
      step(log::Level::Info, "remounted / read-only");
    } else {
      ++summary.failed;
      if (c.timed_out) ++summary.timed_out;
      step(log::Level::Error, "remounting / read-only: %s",
           c.timed_out ? "did not return in time" : std::strerror(c.error));
    }
  }
  return summary;
}

void finish_shutdown(PowerAction action, const ShutdownOptions& options) noexcept {
  g_started_ns = options.started_ns != 0 ? options.started_ns : now_ns();
  const char* what = power_action_name(action);
  // kill(-1) reaches every process only from PID 1 (anywhere else it would
  // signal all of the user's processes on the host), and reboot(2) acts
  // only there.
  if (!options.namespace_init) {
    log::msg(log::Level::Error, "%s refused: keel is not PID 1", what);
    return;
  }
  step(log::Level::Info, "%s; %s: SIGTERM to the remaining processes",
       options.services_left ? "the shutdown deadline passed" : "every service is stopped", what);

  // sigtimedwait needs SIGCHLD blocked (keel's signalfd keeps it so; this
  // makes the function stand on its own). A blocked signal stays pending
  // even while its disposition is to ignore it.
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  (void)::sigprocmask(SIG_BLOCK, &chld, nullptr);

  int reaped = 0;
  // ESRCH: nothing but PID 1 is left. SIGCONT after SIGTERM, so a stopped
  // process wakes up to the SIGTERM rather than sitting in the grace period.
  const bool anyone = ::kill(-1, SIGTERM) == 0;
  if (anyone) (void)::kill(-1, SIGCONT);
  bool empty = !anyone ? reap_exited(reaped) : reap_until(now_ns() + options.grace_ns, 0, reaped);
  if (!empty) {
    step(log::Level::Warn, "grace period of %lld ms over: SIGKILL to what is left",
         static_cast<long long>(options.grace_ns / 1'000'000));
    (void)::kill(-1, SIGKILL);
    empty = reap_until(now_ns() + options.kill_wait_ns, SIGKILL, reaped);
    if (!empty) {
      step(log::Level::Error, "processes survive SIGKILL (uninterruptible sleep?): going on without them");
      name_survivors();
    }
  }
  step(log::Level::Info, "%s (%d reaped)", empty ? "no process left" : "going on with the processes above left",
       reaped);
  record_shutdown_step("kill-remaining");

  if (options.before_sync != nullptr) {
    options.before_sync(options.context);
    step(log::Level::Info, "shutdown hook done");
  }

  // A sync that could not finish would not finish the second time either.
  const bool synced = options.sync && synced_or_not(options, "");
  if (options.sync) record_shutdown_step("sync");

  if (options.subtree != nullptr || options.machine_init) {
    const UnmountSummary s = unmount_filesystems(options);
    step(log::Level::Info,
         "filesystems: %d unmounted, %d read-only, %d only detached, %d failed, %d left mounted, %d timed out",
         s.unmounted, s.read_only, s.detached, s.failed, s.skipped, s.timed_out);
    record_shutdown_step("unmount");
  } else {
    step(log::Level::Info, "PID 1 of a PID namespace: the filesystems are the host's to unmount");
  }

  // The line tools and tests look for.
  const std::int64_t tenths = (now_ns() - g_started_ns) / 100'000;
  const char* then = options.end_by_exit ? "exit" : what;
  if (options.sync) {
    log::msg(log::Level::Info, "syncing filesystems, then %s (shutdown +%lld.%lld ms)", then,
             static_cast<long long>(tenths / 10), static_cast<long long>(tenths % 10));
    if (synced) {
      (void)synced_or_not(options, " again");
    } else {
      step(log::Level::Warn, "the second sync is skipped: the first did not finish");
    }
  } else {
    log::msg(log::Level::Info,
             "not syncing (the filesystems are the host's; keel.toml: container_sync), then %s "
             "(shutdown +%lld.%lld ms)",
             then, static_cast<long long>(tenths / 10), static_cast<long long>(tenths % 10));
  }
  record_shutdown_step("final");
  if (options.end_by_exit) return;
  if (options.before_reboot != nullptr) options.before_reboot(options.context);
  kernel_reboot(action);
}

}  // namespace keel
