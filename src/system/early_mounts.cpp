#include "system/early_mounts.hpp"

#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
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
    {"/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", nullptr},
};

bool exists(const char* path) noexcept {
  struct stat st {};
  return ::stat(path, &st) == 0;
}

// /run has no tell-tale file: it is mounted when it is on another device
// than "/".
bool is_mount_point(const char* path) noexcept {
  struct stat here {};
  struct stat root {};
  return ::stat(path, &here) == 0 && ::stat("/", &root) == 0 && here.st_dev != root.st_dev;
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
