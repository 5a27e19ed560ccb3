// notify.hpp — how a service says it is ready.
//
// Two protocols, so daemons written for either supervisor run unchanged:
//
//  * sd_notify (systemd's): the service finds a datagram socket's path in
//    $NOTIFY_SOCKET and sends "READY=1", "STATUS=...", "STOPPING=1",
//    "MAINPID=N", "WATCHDOG=1", "EXTEND_TIMEOUT_USEC=N", "RELOADING=1",
//    "ERRNO=N" lines (the full list is NotifyTarget's). keel gives every notify service a socket of its own
//    (RUN_DIR/notify/NAME), owned by the service's user and mode 0600, so
//    no other unprivileged user can send to it. The socket is a trust
//    boundary all the same: SO_PASSCRED makes the kernel attach each
//    sender's pid and uid (SCM_CREDENTIALS, which only a privileged sender
//    can forge), and the target (the supervisor's unit) accepts a message
//    only from root or the service's uid AND from a process inside the
//    service, so a helper such as `systemd-notify --ready`, run from the
//    service's script, is believed, and a process of the same user
//    outside the service is not. File descriptors passed along are closed
//    at once (BARRIER=1's), except those of a trusted FDSTORE=1 message,
//    which the target may keep (the fd store, docs/services.md).
//
//  * s6's notification fd: the service writes a newline to fd N (the
//    `notify_fd` key). keel holds the read end of a pipe whose write end is
//    installed at N in the child; the first newline means ready, and the
//    pipe is closed then.
//
// Both are fd handlers on the event loop and never block. Messages are read
// into a stack buffer; nothing allocates.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/event_loop.hpp"
#include "core/result.hpp"

namespace keel::service {

// Who sent a datagram, as the kernel tells it (pid 0 when the sender is in
// a PID namespace keel cannot see, or when no credentials came).
struct NotifySender {
  pid_t pid = 0;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
};

class NotifyTarget {
 public:
  // Before a message is parsed: may this sender speak for the service? A
  // refusal is the target's to log (it knows the service and its rules).
  [[nodiscard]] virtual bool notify_sender_allowed(const NotifySender& sender) noexcept = 0;
  virtual void notify_ready() noexcept = 0;
  virtual void notify_status(std::string_view status) noexcept = 0;
  virtual void notify_stopping() noexcept = 0;
  virtual void notify_main_pid(pid_t pid) noexcept = 0;
  // The rest of sd_notify that keel acts on (docs/services.md, "sd_notify:
  // what keel acts on"). Every number was checked by the parser: whole
  // decimal digits, within limits::kNotifyUsecMax for µs; a garbled one
  // never reaches the target. No-ops by default, for targets that only
  // care about readiness.
  virtual void notify_watchdog() noexcept {}                              // WATCHDOG=1
  virtual void notify_watchdog_trigger() noexcept {}                      // WATCHDOG=trigger
  virtual void notify_watchdog_usec(std::uint64_t /*usec*/) noexcept {}   // WATCHDOG_USEC=N, N > 0
  virtual void notify_extend_timeout(std::uint64_t /*usec*/) noexcept {}  // EXTEND_TIMEOUT_USEC=N
  virtual void notify_reloading() noexcept {}                             // RELOADING=1
  virtual void notify_monotonic_usec(std::uint64_t /*usec*/) noexcept {}  // MONOTONIC_USEC=N
  virtual void notify_errno(int /*error*/) noexcept {}                    // ERRNO=N, 0..4095
  // ---- the fd store (FDSTORE=1, FDSTOREREMOVE=1; docs/services.md, "The
  // fd store"). `name` is FDNAME='s value ("stored" without one), already
  // checked: 1..limits::kFdNameMax bytes, printable, no ':'. The target
  // takes ownership of the first N of `fds` (close-on-exec) and returns N;
  // the socket closes the rest. The default keeps none.
  virtual std::size_t notify_fd_store(std::string_view /*name*/, const int* /*fds*/, std::size_t /*count*/) noexcept {
    return 0;
  }
  virtual void notify_fd_store_remove(std::string_view /*name*/) noexcept {}  // FDSTOREREMOVE=1 + FDNAME=
  // `count` fds came with a message that does not store them (no FDSTORE=1,
  // a bad FDNAME=, or a refused sender) and were closed: for the log.
  virtual void notify_fds_closed(std::size_t /*count*/, const char* /*why*/) noexcept {}

 protected:
  ~NotifyTarget() = default;
};

// One sd_notify datagram: newline-separated KEY=VALUE assignments, acted on
// in their order. Unknown keys (BARRIER=1, ...) and malformed
// values are ignored, as systemd does for the ones it does not act on.
void parse_notify_message(std::string_view message, NotifyTarget& target) noexcept;

class NotifySocket final : private FdHandler {
 public:
  NotifySocket() noexcept = default;
  ~NotifySocket() { close(); }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // Bind a datagram socket at `path` (a stale one is replaced; the parent
  // directory must exist and be writable by keel alone), with SO_PASSCRED,
  // owned by owner:group and mode 0600 so only that user (and root) can
  // send; watch it on `loop`.
  Status open(EventLoop& loop, const char* path, uid_t owner, gid_t group, NotifyTarget& target) noexcept;
  void close() noexcept;
  [[nodiscard]] bool is_open() const noexcept { return fd_ >= 0; }
  [[nodiscard]] const char* path() const noexcept { return path_; }

 private:
  void on_ready(std::uint32_t events) noexcept override;

  EventLoop* loop_ = nullptr;
  NotifyTarget* target_ = nullptr;
  int fd_ = -1;
  char path_[108] = {};
};

class ReadyPipe final : private FdHandler {
 public:
  ReadyPipe() noexcept = default;
  ~ReadyPipe() { close(); }
  ReadyPipe(const ReadyPipe&) = delete;
  ReadyPipe& operator=(const ReadyPipe&) = delete;

  Status open(EventLoop& loop, NotifyTarget& target) noexcept;
  // The end to install in the child at its notify fd; keel closes its copy
  // right after the spawn (close_write_end), so the pipe reports EOF when
  // the service dies without ever being ready.
  [[nodiscard]] int write_fd() const noexcept { return write_fd_; }
  void close_write_end() noexcept;
  void close() noexcept;

 private:
  void on_ready(std::uint32_t events) noexcept override;

  EventLoop* loop_ = nullptr;
  NotifyTarget* target_ = nullptr;
  int read_fd_ = -1;
  int write_fd_ = -1;
};

}  // namespace keel::service
