#include "system/early_mounts.hpp"

#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/log.hpp"

namespace keel {
namespace {

struct EarlyMount {
  const char* target;
  const char* type;
  unsigned long flags;
  const char* data;
  const char* present_if;  // a path that exists once it is mounted
};

// Order matters: /dev before anything opens a device, /proc before /sys is
// looked at by tools. nosuid/nodev/noexec where the filesystem never needs
// them, as every distribution mounts them.
constexpr EarlyMount kEarlyMounts[] = {
    {"/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr, "/proc/self"},
    {"/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr, "/sys/kernel"},
    {"/dev", "devtmpfs", MS_NOSUID, "mode=0755", "/dev/tty"},
    {"/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666", "/dev/pts/ptmx"},
    {"/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", nullptr},
    {"/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", nullptr},
    // Where the kernel has it: services get a cgroup each (their whole tree
    // is stopped with cgroup.kill, their limits are applied).
    {"/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr, nullptr},
};

bool exists(const char* path) noexcept {
  struct stat st {};
  return ::stat(path, &st) == 0;
}

// A mount point is on another device than its parent directory. (/run,
// /dev/shm have no tell-tale file; /sys/fs/cgroup may hold a tmpfs of
// cgroup v1 hierarchies, which is a mount keel leaves alone.)
bool is_mount_point(const char* path) noexcept {
  char parent[128];
  std::snprintf(parent, sizeof parent, "%s/..", path);
  struct stat here {};
  struct stat up {};
  return ::stat(path, &here) == 0 && ::stat(parent, &up) == 0 && here.st_dev != up.st_dev;
}

}  // namespace

void mount_early_filesystems() noexcept {
  for (const auto& m : kEarlyMounts) {
    bool present = m.present_if != nullptr ? exists(m.present_if) : is_mount_point(m.target);
    if (present) continue;
    if (!exists(m.target)) ::mkdir(m.target, 0755);  // a rootfs without the directory
    if (::mount(m.type, m.target, m.type, m.flags, m.data) != 0) {
      log::msg(log::Level::Warn, "cannot mount %s on %s: %s", m.type, m.target, std::strerror(errno));
    } else {
      log::msg(log::Level::Debug, "mounted %s on %s", m.type, m.target);
    }
  }
}

}  // namespace keel
