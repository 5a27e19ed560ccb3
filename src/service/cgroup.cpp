// cgroup.cpp — service cgroups on cgroup v2: creation with limits, the
// populated check, and the whole-tree kill.
//
// Every file is reached with openat() from a directory fd, so a service
// cgroup keeps working through its fds whatever happens to the paths, and
// the signal path needs no string building.
#include "service/cgroup.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <string>

#include "core/limits.hpp"

namespace keel::service {
namespace {

// The controllers a service's limits can need: memory_max, pids_max,
// cpu_weight (CgroupLimits), in that order.
constexpr const char* kControllers[] = {"memory", "pids", "cpu"};

// cgroup.procs is read in chunks of this size: 256 pids of up to 15 bytes
// each; more just means more read() calls, never more memory.
constexpr std::size_t kProcsChunk = 4096;

// Rounds of "read cgroup.procs, signal each" in the fallback kill: a
// process forking while we read may add a pid we miss; freezing first makes
// one round enough, the extra rounds cover a kernel without cgroup.freeze.
constexpr int kKillRounds = 16;

int write_at(int dir_fd, const char* file, const char* text) noexcept {
  int fd = ::openat(dir_fd, file, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  std::size_t len = std::strlen(text);
  ssize_t n = ::write(fd, text, len);
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(len)) {
    errno = n < 0 ? err : EIO;
    return -1;
  }
  return 0;
}

// Reads a small file into `buf` (NUL-terminated); length or -1.
ssize_t read_at(int dir_fd, const char* file, char* buf, std::size_t size) noexcept {
  int fd = ::openat(dir_fd, file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = ::read(fd, buf, size - 1);
  ::close(fd);
  if (n < 0) return -1;
  buf[n] = '\0';
  return n;
}

bool has_word(const char* list, const char* word) noexcept {
  std::size_t len = std::strlen(word);
  for (const char* p = list; (p = std::strstr(p, word)) != nullptr; p += len) {
    bool start = p == list || p[-1] == ' ' || p[-1] == '\n';
    bool end = p[len] == '\0' || p[len] == ' ' || p[len] == '\n';
    if (start && end) return true;
  }
  return false;
}

// Calls fn(pid) for each pid in the cgroup's cgroup.procs; the number of
// pids, or -1 with errno.
template <typename Fn>
int for_each_pid(int dir_fd, Fn fn) noexcept {
  int fd = ::openat(dir_fd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[kProcsChunk];
  long pid = 0;
  bool in_number = false;
  int count = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      errno = err;
      return -1;
    }
    if (n == 0) break;
    // A pid may straddle two chunks: the parser's state carries over.
    for (ssize_t i = 0; i < n; ++i) {
      char c = buf[i];
      if (c >= '0' && c <= '9') {
        pid = pid * 10 + (c - '0');
        in_number = true;
      } else if (in_number) {
        fn(static_cast<pid_t>(pid));
        ++count;
        pid = 0;
        in_number = false;
      }
    }
  }
  if (in_number) {
    fn(static_cast<pid_t>(pid));
    ++count;
  }
  ::close(fd);
  return count;
}

// The cgroup's directory for one call: its fd while held (from create()
// until close_fds()), else opened by name under the root for this call. The
// supervisor closes a service's cgroup fds once it is launched, so that a
// running service costs keel no fd for its cgroup (docs/system-mode.md,
// "Limits"); the root directory is keel's, so the name cannot be swapped.
class DirRef {
 public:
  explicit DirRef(const ServiceCgroup& cgroup) noexcept : fd_(cgroup.dir_fd) {
    if (fd_ >= 0 || cgroup.root_fd < 0 || cgroup.name.empty()) return;
    fd_ = ::openat(cgroup.root_fd, cgroup.name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    owned_ = fd_ >= 0;
  }
  ~DirRef() {
    if (owned_) ::close(fd_);
  }
  DirRef(const DirRef&) = delete;
  DirRef& operator=(const DirRef&) = delete;
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  int fd_;
  bool owned_ = false;
};

}  // namespace

void ServiceCgroup::close_fds() noexcept {
  if (procs_fd >= 0) ::close(procs_fd);
  if (dir_fd >= 0) ::close(dir_fd);
  procs_fd = -1;
  dir_fd = -1;
}

ServiceCgroup::~ServiceCgroup() {
  if (procs_fd >= 0) ::close(procs_fd);
  if (dir_fd >= 0) ::close(dir_fd);
}

ServiceCgroup::ServiceCgroup(ServiceCgroup&& other) noexcept { *this = std::move(other); }

ServiceCgroup& ServiceCgroup::operator=(ServiceCgroup&& other) noexcept {
  if (this == &other) return *this;
  if (procs_fd >= 0) ::close(procs_fd);
  if (dir_fd >= 0) ::close(dir_fd);
  name = std::move(other.name);
  warning = std::move(other.warning);
  enabled = std::move(other.enabled);
  root_fd = other.root_fd;
  dir_fd = other.dir_fd;
  procs_fd = other.procs_fd;
  other.dir_fd = -1;
  other.procs_fd = -1;
  return *this;
}

CgroupManager::~CgroupManager() {
  if (root_fd_ >= 0) ::close(root_fd_);
}

Status CgroupManager::init(const char* root_dir) {
  // Three calls and nothing written: this runs before the first service
  // starts, on every boot. Controllers wait for a limit (enable()).
  if (::mkdir(root_dir, 0755) < 0 && errno != EEXIST) return errno_error("cgroup root");
  int fd = ::open(root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_error("cgroup root");
  struct statfs fs {};
  Status checked;
  if (::fstatfs(fd, &fs) < 0) {
    checked = errno_error("cgroup root");
  } else if (fs.f_type != CGROUP2_SUPER_MAGIC) {
    checked = Error{ENOTSUP, "not cgroup2"};
  }
  if (!checked) {
    ::close(fd);
    return checked;
  }
  if (root_fd_ >= 0) ::close(root_fd_);
  root_fd_ = fd;
  controllers_.clear();
  return {};
}

std::string CgroupManager::enable_for(const CgroupLimits& limits) {
  std::string enabled;
  if (root_fd_ < 0) return enabled;
  const bool needs[] = {limits.memory_max.has_value(), limits.pids_max.has_value(), limits.cpu_weight.has_value()};
  for (std::size_t i = 0; i < std::size(kControllers); ++i) {
    if (!needs[i] || has_word(controllers_.c_str(), kControllers[i])) continue;
    if (!enable(kControllers[i])) continue;  // the limit's write reports it
    if (!enabled.empty()) enabled += ' ';
    enabled += kControllers[i];
  }
  return enabled;
}

bool CgroupManager::enable(const char* controller) {
  char change[32];
  std::snprintf(change, sizeof change, "+%s", controller);
  // Already on (by an earlier keel, or another controller's write): the
  // write is a no-op that succeeds.
  bool on = write_at(root_fd_, "cgroup.subtree_control", change) == 0;
  if (!on && errno == ENOENT) {
    // ROOT does not have it: it reaches ROOT only if ROOT's parent enables
    // it for its children. As the machine's init that parent is the
    // hierarchy's root, where processes (keel's own) do not stop it; a
    // parent that refuses (it holds processes, or is not ours to change)
    // leaves the limit unavailable, which create() reports.
    int parent_fd = ::openat(root_fd_, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (parent_fd >= 0) {
      if (write_at(parent_fd, "cgroup.subtree_control", change) == 0) {
        on = write_at(root_fd_, "cgroup.subtree_control", change) == 0;
      }
      ::close(parent_fd);
    }
  }
  if (!on) return false;
  if (!has_word(controllers_.c_str(), controller)) {
    if (!controllers_.empty()) controllers_ += ' ';
    controllers_ += controller;
  }
  return true;
}

Result<ServiceCgroup> CgroupManager::create(std::string_view service, const CgroupLimits& limits) {
  if (root_fd_ < 0) return Error{EBADF, "cgroup not initialised"};
  if (service.empty() || service.find('/') != std::string_view::npos || service == "." || service == "..") {
    return Error{EINVAL, "cgroup name"};
  }
  ServiceCgroup cg;
  cg.name = std::string(service);
  cg.root_fd = root_fd_;
  // The controllers first: a limit file exists only once its controller is
  // enabled in ROOT's subtree_control (the kernel adds the files to every
  // child, this one included, as it is enabled).
  cg.enabled = enable_for(limits);
  // A cgroup made just now has the kernel's defaults and no process: only
  // a reused one needs checking and resetting (each write is a few hundred
  // microseconds on a small VM, per service, at boot).
  const bool fresh = ::mkdirat(root_fd_, cg.name.c_str(), 0755) == 0;
  if (!fresh && errno != EEXIST) return errno_error("cgroup mkdir");
  cg.dir_fd = ::openat(root_fd_, cg.name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg.dir_fd < 0) return errno_error("cgroup open");
  if (!fresh && populated(cg)) return Error{EBUSY, "cgroup populated"};
  cg.procs_fd = ::openat(cg.dir_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
  if (cg.procs_fd < 0) return errno_error("cgroup.procs");

  auto apply = [&](const char* file, const char* controller, bool set, std::uint64_t value, const char* unset) {
    if (!set && fresh) return;  // the default already
    char text[32];
    if (set) {
      std::snprintf(text, sizeof text, "%llu", static_cast<unsigned long long>(value));
    } else {
      std::snprintf(text, sizeof text, "%s", unset);
    }
    if (write_at(cg.dir_fd, file, text) == 0) return;
    if (!set) return;  // nothing asked for: nothing to report
    if (!cg.warning.empty()) cg.warning += "; ";
    if (errno == ENOENT) {
      cg.warning += std::string(file) + " not applied: the " + controller + " controller is not available";
    } else {
      cg.warning += std::string(file) + " = " + text + " not applied: " + std::strerror(errno);
    }
  };
  apply("memory.max", "memory", limits.memory_max.has_value(), limits.memory_max.value_or(0), "max");
  apply("pids.max", "pids", limits.pids_max.has_value(), limits.pids_max.value_or(0), "max");
  apply("cpu.weight", "cpu", limits.cpu_weight.has_value(), limits.cpu_weight.value_or(0), "100");
  return cg;
}

void CgroupManager::remove(ServiceCgroup& cgroup) noexcept {
  if (cgroup.procs_fd >= 0) ::close(cgroup.procs_fd);
  if (cgroup.dir_fd >= 0) ::close(cgroup.dir_fd);
  cgroup.procs_fd = -1;
  cgroup.dir_fd = -1;
  if (root_fd_ >= 0 && !cgroup.name.empty()) (void)::unlinkat(root_fd_, cgroup.name.c_str(), AT_REMOVEDIR);
}

bool populated(const ServiceCgroup& cgroup) noexcept {
  char events[256];
  DirRef dir(cgroup);
  if (dir.fd() < 0 || read_at(dir.fd(), "cgroup.events", events, sizeof events) < 0) return false;
  const char* p = std::strstr(events, "populated ");
  return p != nullptr && p[10] == '1';
}

Status signal_all(const ServiceCgroup& cgroup, int signo) noexcept {
  DirRef dir(cgroup);
  if (dir.fd() < 0) return Error{EBADF, "cgroup"};
  int n = for_each_pid(dir.fd(), [signo](pid_t pid) { (void)::kill(pid, signo); });
  if (n < 0) return errno_error("cgroup.procs");
  return {};
}

Status kill_all(const ServiceCgroup& cgroup) noexcept {
  {
    DirRef dir(cgroup);
    if (dir.fd() < 0) return Error{EBADF, "cgroup"};
    if (write_at(dir.fd(), "cgroup.kill", "1") == 0) return {};
  }
  if (errno != ENOENT) return errno_error("cgroup.kill");
  return kill_each(cgroup);
}

Status kill_each(const ServiceCgroup& cgroup) noexcept {
  DirRef dir(cgroup);
  if (dir.fd() < 0) return Error{EBADF, "cgroup"};
  // Before 5.14: freeze so nothing forks while we read, then kill each.
  // A frozen task still dies of SIGKILL on cgroup v2.
  bool frozen = write_at(dir.fd(), "cgroup.freeze", "1") == 0;
  Status result;
  for (int round = 0; round < kKillRounds; ++round) {
    int n = for_each_pid(dir.fd(), [](pid_t pid) { (void)::kill(pid, SIGKILL); });
    if (n < 0) {
      result = errno_error("cgroup.procs");
      break;
    }
    if (n == 0) break;
  }
  if (frozen) (void)write_at(dir.fd(), "cgroup.freeze", "0");
  return result;
}

bool proc_cgroup_path(pid_t pid, char* out, std::size_t capacity) noexcept {
  if (pid <= 0 || capacity == 0) return false;
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/cgroup", static_cast<int>(pid));
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  // One line per v1 hierarchy plus the v2 one; a page holds them all.
  char buf[4096];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  for (char* line = buf; line != nullptr && *line != '\0';) {
    char* end = std::strchr(line, '\n');
    if (end != nullptr) *end = '\0';
    if (std::strncmp(line, "0::", 3) == 0) {
      std::size_t len = std::strlen(line + 3);
      if (len == 0 || len >= capacity) return false;
      std::memcpy(out, line + 3, len + 1);
      return true;
    }
    line = end != nullptr ? end + 1 : nullptr;
  }
  return false;
}

bool pid_in_cgroup(pid_t pid, std::string_view path) noexcept {
  if (path.empty()) return false;
  char mine[limits::kNotifyCgroupPath];
  if (!proc_cgroup_path(pid, mine, sizeof mine)) return false;
  std::string_view p(mine);
  if (!p.starts_with(path)) return false;
  return p.size() == path.size() || p[path.size()] == '/';
}

}  // namespace keel::service
