// log_output.hpp — keel's own output, written without ever waiting.
//
// keel's lines go to the console (the system role) or to whatever fd 2 is
// (a terminal, a container runtime's log pipe or socket, a file). Any of
// these can stop accepting output: a serial console held by XOFF (Ctrl-S)
// or hardware flow control, a pipe nobody reads. A blocking write(2) there
// would freeze PID 1: no reaping, no signals, no keelctl. So:
//
// - keel writes through a descriptor of its own that never waits, and never
//   changes the one it was given: services share that open file
//   description (the console on fds 0-2), and O_NONBLOCK on it would make
//   their writes fail with EAGAIN. A terminal, FIFO or pipe is opened again
//   as a new open file description (/proc/self/fd/N, O_NONBLOCK; a pipe
//   that cannot be, pwritev2(RWF_NOWAIT)); a socket gets
//   send(MSG_DONTWAIT) on the fd itself; a regular file is written as
//   it is (the kernel never says EAGAIN for one: a frozen filesystem under
//   keel's stderr file is the one wait left, documented in
//   docs/system-mode.md).
// - What the device does not accept waits in a fixed buffer
//   (limits::kLogBacklogBytes, storage given by the owner, never allocated)
//   as whole lines, in order; the unwritten tail of a partly written line
//   stays at its front, so a line is never split by another of keel's.
//   The event loop flushes it when the fd is writable again (core/
//   log_flusher.hpp watches for EPOLLOUT only while there is a backlog).
// - A line that does not fit is dropped whole and counted. The next line
//   that gets in is preceded by "keel: N lines of keel's own output lost
//   (...)", and the total since start is in `keelctl status`.
//
// Nothing here allocates: log::msg() runs inside every handler.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace keel::log {

// A FIFO of bytes holding whole lines, in storage its owner provides.
// Contiguous: the front is written with one call, the rest moved down.
class LineBacklog {
 public:
  constexpr LineBacklog(char* storage, std::size_t capacity) noexcept : data_(storage), capacity_(capacity) {}

  [[nodiscard]] bool empty() const noexcept { return used_ == 0; }
  [[nodiscard]] std::size_t bytes() const noexcept { return used_; }
  [[nodiscard]] std::size_t room() const noexcept { return capacity_ - used_; }
  // Appends `text` whole when it fits; false, and nothing appended, when not.
  bool push(std::string_view text) noexcept;
  [[nodiscard]] std::string_view pending() const noexcept { return {data_, used_}; }
  // The first `n` bytes were written.
  void consume(std::size_t n) noexcept;
  // Empties it; returns how many lines it held (a partly written one too).
  std::size_t discard() noexcept;

 private:
  char* data_;
  std::size_t capacity_;
  std::size_t used_ = 0;
};

// How an OutputSink writes to its fd without waiting.
enum class OutputMode {
  Unattached,  // not decided yet (attach() on the first line)
  Discard,     // the fd is closed: nothing to write to
  Own,         // a non-blocking descriptor of keel's own (reopened, or the fd already was)
  Socket,      // send(MSG_DONTWAIT) on the fd
  File,        // a regular file or block device: write(2), which never says EAGAIN
  Guarded,     // could not reopen (no /proc yet, another user's pipe): RWF_NOWAIT for
               // a pipe where the kernel has it, else write only when poll() says it can
  Test,        // a unit test's write function
};

class OutputSink {
 public:
  // constexpr: log.cpp's sinks are constant-initialised, so a message from
  // any static initialiser finds them ready. No destructor on purpose: a
  // line logged while statics are destroyed at exit still has its sink
  // (keel's own fd is closed by the exit itself; detach() closes it before).
  constexpr OutputSink(char* storage, std::size_t capacity) noexcept : backlog_(storage, capacity) {}
  OutputSink(const OutputSink&) = delete;
  OutputSink& operator=(const OutputSink&) = delete;

  // Write to `fd` (the one keel was given) from now on: decide how to do it
  // without waiting (see OutputMode). The backlog is kept.
  void attach(int fd) noexcept;
  // Close keel's own descriptor, if any; the next attach() decides again
  // (after /proc is mounted, or the console was put on fds 0-2).
  void detach() noexcept;
  // Unit tests: `device` stands for the device (returns bytes taken, or -1
  // with errno: EAGAIN for "not now").
  using WriteFn = ssize_t (*)(void* context, const char* data, std::size_t len) noexcept;
  void attach_test(WriteFn device, void* context) noexcept;

  // One whole line, ending in '\n': written now, or queued behind the
  // backlog, or dropped and counted when the backlog has no room for it.
  void write(std::string_view line) noexcept;
  // Write from the backlog until it is empty or the device takes no more.
  void flush() noexcept;

  [[nodiscard]] OutputMode mode() const noexcept { return mode_; }
  [[nodiscard]] int target() const noexcept { return target_; }
  // The fd to watch for EPOLLOUT while backlogged; -1 when none can be
  // watched (a regular file; a test).
  [[nodiscard]] int poll_fd() const noexcept;
  [[nodiscard]] bool backlogged() const noexcept { return !backlog_.empty(); }
  [[nodiscard]] std::size_t backlog_bytes() const noexcept { return backlog_.bytes(); }
  // Lines dropped since start, and those not yet reported by a "lost" line.
  [[nodiscard]] std::uint64_t lost() const noexcept { return lost_total_; }
  [[nodiscard]] std::uint64_t unreported() const noexcept { return unreported_; }

  // Set by whoever watches poll_fd() for this sink (log.cpp): while it is
  // watched, a new line does not try a write the loop would announce.
  void set_watched(int fd) noexcept { watched_fd_ = fd; }
  [[nodiscard]] int watched() const noexcept { return watched_fd_; }

 private:
  ssize_t device_write(const char* data, std::size_t len) noexcept;
  void queue(std::string_view line) noexcept;
  void drop(std::uint64_t lines) noexcept;
  void note_notice_queued() noexcept;
  void discard_backlog() noexcept;
  static constexpr std::size_t kNoticeMax = 128;
  std::size_t format_notice(char (&buf)[kNoticeMax]) const noexcept;

  LineBacklog backlog_;
  OutputMode mode_ = OutputMode::Unattached;
  int target_ = -1;      // the fd keel was given (fd 2, the console)
  int own_fd_ = -1;      // keel's own non-blocking descriptor of it (Own), or target_
  bool owned_ = false;   // own_fd_ was opened here and is closed by detach()
  bool nowait_ = false;  // Guarded: try pwritev2(RWF_NOWAIT) (a pipe; off after EOPNOTSUPP)
  int watched_fd_ = -1;
  WriteFn test_write_ = nullptr;
  void* test_context_ = nullptr;
  std::uint64_t lost_total_ = 0;
  std::uint64_t unreported_ = 0;
  std::uint64_t notices_queued_ = 0;   // "lost" notices in the backlog
  std::uint64_t reported_queued_ = 0;  // the losses they report
};

}  // namespace keel::log
