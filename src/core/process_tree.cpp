#include "core/process_tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

namespace keel {
namespace {

struct ProcEntry {
  pid_t pid;
  pid_t ppid;
  bool zombie;
};

// Parse "pid (comm) S ppid ..." from /proc/PID/stat. comm may contain
// spaces and parentheses, so the fields are found after the LAST ')'.
bool read_stat(pid_t pid, ProcEntry* out) noexcept {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;  // exited meanwhile
  char buf[512];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char* close_paren = std::strrchr(buf, ')');
  if (close_paren == nullptr || close_paren[1] == '\0') return false;
  char state = close_paren[2];
  long ppid = std::strtol(close_paren + 4, nullptr, 10);
  *out = ProcEntry{pid, static_cast<pid_t>(ppid), state == 'Z' || state == 'X'};
  return true;
}

// getdents64 on /proc with a stack buffer: opendir() would malloc.
void scan_proc(std::vector<ProcEntry>& entries) {
  int dir = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  alignas(8) char buf[8192];
  for (;;) {
    long n = ::syscall(SYS_getdents64, dir, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + off);
      off += d->d_reclen;
      const char* name = d->d_name;
      if (name[0] < '1' || name[0] > '9') continue;
      pid_t pid = static_cast<pid_t>(std::strtol(name, nullptr, 10));
      ProcEntry e{};
      if (read_stat(pid, &e)) entries.push_back(e);
    }
  }
  ::close(dir);
}

}  // namespace

TreeSignalResult signal_descendants(pid_t self, int signo, bool use_kill_all) noexcept {
  TreeSignalResult result;
  if (use_kill_all) {
    // kill(-1) from a namespace's init reaches every process in the
    // namespace but the caller, atomically with respect to forks.
    // ESRCH means there was nobody; the count is unknown otherwise (-1).
    result.signalled = ::kill(-1, signo) == 0 ? -1 : 0;
    return result;
  }
  try {
    std::vector<ProcEntry> entries;
    entries.reserve(256);
    scan_proc(entries);
    // Breadth-first from self over entries sorted by parent: O(n log n),
    // and correct after pid wrap-around (a child may have a lower pid).
    std::sort(entries.begin(), entries.end(), [](const ProcEntry& a, const ProcEntry& b) { return a.ppid < b.ppid; });
    std::vector<pid_t> queue{self};
    for (std::size_t head = 0; head < queue.size(); ++head) {
      auto [first, last] = std::equal_range(entries.begin(), entries.end(), ProcEntry{0, queue[head], false},
                                            [](const ProcEntry& a, const ProcEntry& b) { return a.ppid < b.ppid; });
      for (auto it = first; it != last; ++it) {
        queue.push_back(it->pid);
        if (!it->zombie && ::kill(it->pid, signo) == 0) ++result.signalled;
      }
    }
  } catch (const std::bad_alloc&) {
    // Out of memory on the way out: fall back to what needs no table, our
    // direct children are found by the caller's reaping anyway.
  }
  return result;
}

}  // namespace keel
