// log_flusher.hpp — keel's own output backlog, flushed from the event loop.
//
// log_output.hpp keeps the lines a stalled console or an unread log pipe
// did not take. A daemon role (the supervisor, the container init) starts a
// LogFlusher on its loop: while a backlog exists, its fd is watched for
// EPOLLOUT and written when the device takes output again; when the backlog
// is gone the fd leaves the loop, so an idle keel has nothing extra to wait
// for, and a container init's lone signalfd keeps its rt_sigtimedwait
// shortcut (core/event_loop.hpp) except while there is a backlog.
#pragma once

#include <cstdint>

#include "core/event_loop.hpp"

namespace keel {

class LogFlusher final : private FdHandler {
 public:
  LogFlusher() noexcept = default;
  ~LogFlusher();
  LogFlusher(const LogFlusher&) = delete;
  LogFlusher& operator=(const LogFlusher&) = delete;

  // From now on, log:: backlogs are flushed from `loop` (which must outlive
  // this, or this be destroyed first).
  void start(EventLoop& loop) noexcept;

 private:
  static bool watch(void* context, int fd, bool on) noexcept;
  void on_ready(std::uint32_t events) noexcept override;

  EventLoop* loop_ = nullptr;
};

}  // namespace keel
