// tree_tracker.cpp — a service's processes found by process group and by
// the KEEL_SERVICE mark in /proc/PID/environ, for hosts without cgroup2.
//
// The walk reads /proc with getdents64 into a stack buffer, and each
// environ in chunks, matching "KEEL_SERVICE=NAME" as a whole entry across
// chunk boundaries; nothing is allocated.
#include "service/tree_tracker.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace keel::service {
namespace {

constexpr char kMarkPrefix[] = "KEEL_SERVICE=";
// Service names are at most 64 characters (config.hpp); room to spare.
constexpr std::size_t kMaxMark = sizeof kMarkPrefix + 256;
// getdents64 batch and environ chunk: one page each, on the stack.
constexpr std::size_t kChunk = 4096;

struct Dirent64 {
  std::uint64_t d_ino;
  std::int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[1];
};

// Does /proc/PID/environ contain exactly `mark` as one of its entries?
bool environ_has(int proc_fd, const char* pid_name, const char* mark, std::size_t mark_len) noexcept {
  constexpr char kSuffix[] = "/environ";
  char path[64];
  std::size_t name_len = std::strlen(pid_name);
  if (name_len + sizeof kSuffix > sizeof path) return false;
  std::size_t at = 0;
  for (std::size_t i = 0; i < name_len; ++i) path[at++] = pid_name[i];
  for (char c : kSuffix) path[at++] = c;  // with its NUL
  int fd = ::openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[kChunk];
  std::size_t pos = 0;   // bytes of `mark` matched so far in this entry
  bool matching = true;  // this entry still equals mark's prefix
  bool found = false;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n && !found; ++i) {
      char c = buf[i];
      if (c == '\0') {
        found = matching && pos == mark_len;
        pos = 0;
        matching = true;
      } else if (matching) {
        if (pos < mark_len && mark[pos] == c) {
          ++pos;
        } else {
          matching = false;
        }
      }
    }
    if (found) break;
  }
  ::close(fd);
  return found;
}

// The parent of `pid` from /proc/PID/stat ("pid (comm) state ppid ..."; the
// comm may hold spaces and parentheses, so parse after the last ')').
pid_t parent_of(int proc_fd, pid_t pid) noexcept {
  char path[32];
  std::snprintf(path, sizeof path, "%d/stat", static_cast<int>(pid));
  int fd = ::openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[512];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  const char* close_paren = std::strrchr(buf, ')');
  if (close_paren == nullptr || close_paren[1] == '\0' || close_paren[2] == '\0') return -1;
  const char* p = close_paren + 4;  // ") S " then the ppid
  if (p > buf + n) return -1;
  pid_t ppid = 0;
  for (; *p >= '0' && *p <= '9'; ++p) ppid = ppid * 10 + (*p - '0');
  return ppid;
}

// Is `pid` below keel? The mark alone is not enough: another keel on the
// same machine (tests run several at once) may run a service of the same
// name. Orphans of a service are re-parented to keel (PID 1 or subreaper),
// so every process of a service has keel as an ancestor.
bool descends_from(int proc_fd, pid_t pid, pid_t ancestor) noexcept {
  // A chain deeper than this is not a service tree worth the walk.
  constexpr int kMaxDepth = 64;
  for (int depth = 0; depth < kMaxDepth && pid > 1; ++depth) {
    pid = parent_of(proc_fd, pid);
    if (pid == ancestor) return true;
  }
  return false;
}

// Calls fn(pid, marked) for each process other than keel that is in group
// `pgid` or carries the mark; stops early when fn returns true.
// "KEEL_SERVICE=NAME" into mark; its length, 0 when the name is too long.
std::size_t make_mark(std::string_view service_name, char (&mark)[kMaxMark]) noexcept {
  std::size_t prefix_len = sizeof kMarkPrefix - 1;
  if (service_name.size() + prefix_len >= sizeof mark) return 0;
  std::memcpy(mark, kMarkPrefix, prefix_len);
  std::memcpy(mark + prefix_len, service_name.data(), service_name.size());
  return prefix_len + service_name.size();
}

template <typename Fn>
void walk(pid_t pgid, std::string_view service_name, Fn fn) noexcept {
  char mark[kMaxMark];
  std::size_t mark_len = make_mark(service_name, mark);
  if (mark_len == 0) return;

  int proc_fd = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (proc_fd < 0) return;
  pid_t self = ::getpid();
  alignas(Dirent64) char buf[kChunk];
  for (;;) {
    long n = ::syscall(SYS_getdents64, proc_fd, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<Dirent64*>(buf + off);
      off += d->d_reclen;
      const char* name = d->d_name;
      if (name[0] < '1' || name[0] > '9') continue;
      pid_t pid = 0;
      bool digits = true;
      for (const char* p = name; *p != '\0'; ++p) {
        if (*p < '0' || *p > '9') {
          digits = false;
          break;
        }
        pid = pid * 10 + (*p - '0');
      }
      if (!digits || pid == self) continue;
      bool in_group = pgid > 0 && ::getpgid(pid) == pgid;
      if (in_group || (environ_has(proc_fd, name, mark, mark_len) && descends_from(proc_fd, pid, self))) {
        if (fn(pid)) {
          ::close(proc_fd);
          return;
        }
      }
    }
  }
  ::close(proc_fd);
}

}  // namespace

int signal_process_group_and_adopted(pid_t pgid, std::string_view service_name, int signo) noexcept {
  // The group first, in one syscall: it cannot miss a member forked during
  // the walk below.
  if (pgid > 0) (void)::kill(-pgid, signo);
  int count = 0;
  walk(pgid, service_name, [&](pid_t pid) {
    if (::kill(pid, signo) == 0) ++count;
    return false;
  });
  return count;
}

bool tree_alive(pid_t pgid, std::string_view service_name) noexcept {
  if (pgid > 0 && (::kill(-pgid, 0) == 0 || errno == EPERM)) return true;
  bool alive = false;
  walk(0, service_name, [&](pid_t) {
    alive = true;
    return true;
  });
  return alive;
}

bool in_tree(pid_t pid, pid_t pgid, std::string_view service_name) noexcept {
  pid_t self = ::getpid();
  if (pid <= 0 || pid == self) return false;
  if (pgid > 0 && ::getpgid(pid) == pgid) return true;
  char mark[kMaxMark];
  std::size_t mark_len = make_mark(service_name, mark);
  if (mark_len == 0) return false;
  int proc_fd = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (proc_fd < 0) return false;
  char name[16];
  std::snprintf(name, sizeof name, "%d", static_cast<int>(pid));
  bool in = environ_has(proc_fd, name, mark, mark_len) && descends_from(proc_fd, pid, self);
  ::close(proc_fd);
  return in;
}

}  // namespace keel::service
