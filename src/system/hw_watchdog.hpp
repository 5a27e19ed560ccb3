// hw_watchdog.hpp — a hardware watchdog device (/dev/watchdog), driven by
// keel as the machine's init (keel.toml's [watchdog], docs/system-mode.md).
//
// Opening the device arms it; from then on the hardware resets the machine
// unless it is petted (WDIOC_KEEPALIVE) within its timeout. keel pets it
// from a timer of its event loop, never from a thread: a loop that is
// wedged (a bug, a blocking call) stops petting by itself, and so does the
// fatal freeze (core/fatal.hpp: frozen keel reaps forever and never returns
// to the loop), which is the point: the hardware then resets the machine.
// Before every pet keel asks whether a service marked `critical` has been
// unhealthy longer than critical_unhealthy; when one has, keel logs one
// console line naming it and stops petting for good (no flapping between a
// reset and no reset), and the device resets the machine.
//
// The device path is trusted no more than needed: it is looked at with
// O_PATH first (opening a FIFO or some devices for writing could block or
// act), refused unless it is a character device, then reopened through
// /proc/self/fd (the same inode, no race with a rename) non-blocking, and
// refused unless the driver answers the watchdog ioctls. devtmpfs (root's)
// makes /dev/watchdog; whatever else is planted there is refused with a
// message and the boot goes on without a watchdog.
//
// An orderly shutdown: with shutdown_timeout > 0 the device's timeout is
// set to it and petted once, then never again: the whole shutdown, from
// the power request to reboot(2), must end within it or the hardware
// resets the machine (a hung shutdown still ends). Right before reboot(2)
// for a power-off or a halt the device is disarmed by magic close, so a
// halted machine stays halted; before a reboot it stays armed (the kernel
// reboots the machine anyway, and a reboot(2) that hangs is reset). With
// shutdown_timeout = 0 the device is disarmed by magic close when the
// shutdown begins.
#pragma once

#include <cstdint>

#include "core/event_loop.hpp"
#include "core/result.hpp"
#include "system/keel_config.hpp"

namespace keel {

// The device at `path`, opened for petting (O_WRONLY|O_NONBLOCK|O_CLOEXEC|
// O_NOCTTY), or an error: "not a character device" (ENODEV) for a regular
// file, FIFO, directory, socket; "not a watchdog device" (ENOTTY) for a
// character device that does not answer WDIOC_GETSUPPORT. Never blocks.
// Opening a real watchdog arms it.
[[nodiscard]] Result<int> open_watchdog_device(const char* path) noexcept;

// The device's operations, each an errno (0: done); the real one is an fd
// and its ioctls, tests give a fake.
class WatchdogDevice {
 public:
  virtual int set_timeout(int seconds) noexcept = 0;   // WDIOC_SETTIMEOUT
  virtual int get_timeout(int& seconds) noexcept = 0;  // WDIOC_GETTIMEOUT
  virtual int keepalive() noexcept = 0;                // WDIOC_KEEPALIVE
  virtual void magic_close() noexcept = 0;             // 'V', then close

 protected:
  ~WatchdogDevice() = default;
};

// An open watchdog device file.
class FdWatchdog final : public WatchdogDevice {
 public:
  FdWatchdog() noexcept = default;
  ~FdWatchdog();
  FdWatchdog(const FdWatchdog&) = delete;
  FdWatchdog& operator=(const FdWatchdog&) = delete;
  void adopt(int fd) noexcept { fd_ = fd; }
  int set_timeout(int seconds) noexcept override;
  int get_timeout(int& seconds) noexcept override;
  int keepalive() noexcept override;
  void magic_close() noexcept override;

 private:
  int fd_ = -1;
};

class HwWatchdog final : private TimerHandler {
 public:
  // What keel's health is; asked before every pet.
  class Health {
   public:
    // Since when (CLOCK_MONOTONIC ns) a critical service is unhealthy; 0:
    // none. `name` is set to that service's name.
    virtual std::int64_t critical_unhealthy_since_ns(const char** name) noexcept = 0;

   protected:
    ~Health() = default;
  };

  explicit HwWatchdog(EventLoop& loop) noexcept : timer_(loop, *this) {}
  // Leaves the device armed (closing it without the magic character does
  // not stop it): only a test destroys a running HwWatchdog.
  ~HwWatchdog() = default;
  HwWatchdog(const HwWatchdog&) = delete;
  HwWatchdog& operator=(const HwWatchdog&) = delete;

  // Opens the device, sets its timeout, reads back the one the driver
  // took, pets it and arms the pet timer; logs each outcome. An error
  // leaves no device open (and nothing armed, when the open failed).
  Status start(const WatchdogConfig& config, Health& health) noexcept;
  // The same on a device already open (tests: a fake).
  Status start_on(WatchdogDevice& device, const WatchdogConfig& config, Health& health) noexcept;

  // The orderly shutdown began: the shutdown timeout, one pet, no more
  // petting; or, with shutdown_timeout 0, magic close.
  void shutdown_begins() noexcept;
  // Magic close ('V', then close): the device stops. Harmless when closed.
  void disarm() noexcept;

  [[nodiscard]] bool open() const noexcept { return device_ != nullptr; }
  [[nodiscard]] bool petting() const noexcept { return timer_.armed(); }
  [[nodiscard]] int timeout_s() const noexcept { return timeout_s_; }
  [[nodiscard]] std::int64_t pet_interval_ns() const noexcept { return interval_ns_; }
  [[nodiscard]] std::uint64_t pets() const noexcept { return pets_; }

 private:
  void on_timer() noexcept override;
  bool pet() noexcept;
  bool set_timeout(int seconds) noexcept;  // sets timeout_s_ to what the driver took

  Timer timer_;
  Health* health_ = nullptr;
  FdWatchdog fd_device_;
  WatchdogDevice* device_ = nullptr;  // open; nullptr: closed or never opened
  int timeout_s_ = 0;
  std::int64_t interval_ns_ = 0;
  std::int64_t critical_unhealthy_ns_ = 0;
  int shutdown_timeout_s_ = 0;
  std::uint64_t pets_ = 0;
  bool pet_failure_logged_ = false;
  char path_[64] = {};  // for the log lines
};

}  // namespace keel
