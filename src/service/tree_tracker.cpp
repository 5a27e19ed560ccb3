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

// Calls fn(pid, marked) for each process other than keel that is in group
// `pgid` or carries the mark; stops early when fn returns true.
template <typename Fn>
void walk(pid_t pgid, std::string_view service_name, Fn fn) noexcept {
  char mark[kMaxMark];
  std::size_t prefix_len = sizeof kMarkPrefix - 1;
  if (service_name.size() + prefix_len >= sizeof mark) return;
  std::memcpy(mark, kMarkPrefix, prefix_len);
  std::memcpy(mark + prefix_len, service_name.data(), service_name.size());
  std::size_t mark_len = prefix_len + service_name.size();

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
      if (in_group || environ_has(proc_fd, name, mark, mark_len)) {
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

}  // namespace keel::service
