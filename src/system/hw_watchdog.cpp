#include "system/hw_watchdog.hpp"

#include <fcntl.h>
#include <linux/watchdog.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/log.hpp"

namespace keel {
namespace {

constexpr std::int64_t kNsPerSecond = 1'000'000'000;

const char* kind_of(mode_t mode) noexcept {
  switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFIFO: return "a FIFO";
    case S_IFSOCK: return "a socket";
    case S_IFBLK: return "a block device";
    case S_IFLNK: return "a symbolic link";
    default: return "not a character device";
  }
}

}  // namespace

Result<int> open_watchdog_device(const char* path) noexcept {
  // O_PATH opens nothing for real: no FIFO wait, no driver's open().
  // Symbolic links are followed (/dev/watchdog -> watchdog0 is common);
  // what they lead to is checked like the rest.
  int probe = ::open(path, O_PATH | O_CLOEXEC);
  if (probe < 0) return errno_error("open");
  struct stat st {};
  if (::fstat(probe, &st) != 0) {
    Error e = errno_error("fstat");
    ::close(probe);
    return e;
  }
  if (!S_ISCHR(st.st_mode)) {
    ::close(probe);
    return Error{ENODEV, kind_of(st.st_mode)};
  }
  // The same inode again, now for writing: a rename in between cannot swap it.
  char again[64];
  std::snprintf(again, sizeof again, "/proc/self/fd/%d", probe);
  int fd = ::open(again, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  Error e = errno_error("open");
  ::close(probe);
  if (fd < 0) return e;
  // A character device, but a watchdog? A driver that does not know the
  // ioctl says ENOTTY (/dev/null, a tty).
  watchdog_info info{};
  if (::ioctl(fd, WDIOC_GETSUPPORT, &info) != 0) {
    e = Error{errno, "not a watchdog device (WDIOC_GETSUPPORT)"};
    // A real device that does not know GETSUPPORT would still be armed:
    // stop it the documented way before giving up on it.
    (void)::write(fd, "V", 1);
    ::close(fd);
    return e;
  }
  return fd;
}

FdWatchdog::~FdWatchdog() {
  if (fd_ >= 0) ::close(fd_);
}

int FdWatchdog::set_timeout(int seconds) noexcept { return ::ioctl(fd_, WDIOC_SETTIMEOUT, &seconds) == 0 ? 0 : errno; }

int FdWatchdog::get_timeout(int& seconds) noexcept { return ::ioctl(fd_, WDIOC_GETTIMEOUT, &seconds) == 0 ? 0 : errno; }

int FdWatchdog::keepalive() noexcept { return ::ioctl(fd_, WDIOC_KEEPALIVE, 0) == 0 ? 0 : errno; }

void FdWatchdog::magic_close() noexcept {
  if (fd_ < 0) return;
  // The magic character: a driver with WDIOF_MAGICCLOSE stops the device
  // at the close that follows (unless the kernel has nowayout set).
  (void)::write(fd_, "V", 1);
  ::close(fd_);
  fd_ = -1;
}

Status HwWatchdog::start(const WatchdogConfig& config, Health& health) noexcept {
  std::snprintf(path_, sizeof path_, "%s", config.device.c_str());
  Result<int> fd = open_watchdog_device(config.device.c_str());
  if (!fd) {
    log::msg(log::Level::Error, "watchdog %s: %s: %s; the machine runs without a hardware watchdog", path_,
             fd.error().context, fd.error().code == ENODEV ? "refused" : fd.error().message());
    return fd.error();
  }
  fd_device_.adopt(fd.value());
  return start_on(fd_device_, config, health);
}

Status HwWatchdog::start_on(WatchdogDevice& device, const WatchdogConfig& config, Health& health) noexcept {
  if (path_[0] == '\0') std::snprintf(path_, sizeof path_, "%s", config.device.c_str());
  device_ = &device;
  health_ = &health;
  critical_unhealthy_ns_ = config.critical_unhealthy_ns;
  shutdown_timeout_s_ = config.shutdown_timeout_s;
  if (!set_timeout(config.timeout_s)) {
    // The device runs with its own timeout; keel pets to that one.
    int t = 0;
    const int err = device_->get_timeout(t);
    if (err != 0 || t <= 0) {
      log::msg(log::Level::Error, "watchdog %s: cannot read its timeout (%s): disarmed", path_,
               err != 0 ? std::strerror(err) : "not a number of seconds");
      disarm();
      return Error{EINVAL, "WDIOC_GETTIMEOUT"};
    }
    timeout_s_ = t;
  }
  // Petting at a third of the timeout: one late pet (a slow boot step, a
  // busy machine) still leaves a third. A configured interval longer than
  // the timeout the driver took is shortened the same way.
  interval_ns_ = config.pet_interval_ns;
  const std::int64_t timeout_ns = std::int64_t{timeout_s_} * kNsPerSecond;
  if (interval_ns_ <= 0 || interval_ns_ >= timeout_ns) interval_ns_ = timeout_ns / 3;
  (void)pet();
  timer_.arm_after(interval_ns_);
  log::msg(log::Level::Info, "watchdog %s: armed, timeout %d s (asked %d s), petted every %lld ms", path_, timeout_s_,
           config.timeout_s, static_cast<long long>(interval_ns_ / 1'000'000));
  return {};
}

bool HwWatchdog::set_timeout(int seconds) noexcept {
  if (int err = device_->set_timeout(seconds); err != 0) {
    log::msg(log::Level::Warn, "watchdog %s: cannot set the timeout to %d s: %s", path_, seconds, std::strerror(err));
    return false;
  }
  // Drivers round (to their tick) or clamp: what counts is what it took.
  int t = 0;
  if (device_->get_timeout(t) != 0 || t <= 0) t = seconds;
  timeout_s_ = t;
  return true;
}

bool HwWatchdog::pet() noexcept {
  const int err = device_->keepalive();
  if (err == 0) {
    ++pets_;
    return true;
  }
  // Logged once: a driver that fails every pet would fill the console.
  if (!pet_failure_logged_) {
    pet_failure_logged_ = true;
    log::msg(log::Level::Error, "watchdog %s: pet failed: %s", path_, std::strerror(err));
  }
  return false;
}

void HwWatchdog::on_timer() noexcept {
  if (device_ == nullptr) return;
  const char* name = "?";
  const std::int64_t since = health_ != nullptr ? health_->critical_unhealthy_since_ns(&name) : 0;
  if (since != 0) {
    const std::int64_t unhealthy_ns = monotonic_ns() - since;
    if (unhealthy_ns >= critical_unhealthy_ns_) {
      // For good: the machine is reset rather than left half-working.
      log::msg(log::Level::Error,
               "watchdog %s: critical service %s unhealthy for %lld s: not petting any more; the hardware resets "
               "the machine within %d s",
               path_, name, static_cast<long long>(unhealthy_ns / kNsPerSecond), timeout_s_);
      return;
    }
  }
  (void)pet();
  timer_.arm_after(interval_ns_);
}

void HwWatchdog::shutdown_begins() noexcept {
  if (device_ == nullptr) return;
  const bool was_petting = timer_.armed();
  timer_.disarm();
  if (!was_petting) return;  // petting stopped already: the reset is on its way
  if (shutdown_timeout_s_ == 0) {
    disarm();
    log::msg(log::Level::Info, "watchdog %s: disarmed for the shutdown", path_);
    return;
  }
  if (!set_timeout(shutdown_timeout_s_)) {
    // The running timeout is then the shutdown's bound.
    log::msg(log::Level::Warn, "watchdog %s: the shutdown keeps the timeout of %d s", path_, timeout_s_);
  }
  (void)pet();
  log::msg(log::Level::Info, "watchdog %s: the shutdown has %d s before the hardware resets the machine", path_,
           timeout_s_);
}

void HwWatchdog::disarm() noexcept {
  timer_.disarm();
  if (device_ == nullptr) return;
  device_->magic_close();
  device_ = nullptr;
}

}  // namespace keel
