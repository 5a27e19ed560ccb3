// log_writer_link.hpp — PID 1's side of the log writer (log_writer.hpp).
//
// The LogSink the supervisor gives every ServiceLog. It owns:
//   - a SOCK_SEQPACKET socket pair, made once and held (both ends) for as
//     long as keel runs. The writer gets the receiving end as its fd 0; a
//     writer that dies is restarted on the same socket, so the records in
//     it wait for the next writer and none is lost (s6's fd-holding idea).
//     The send buffer is grown to limits::kLogWriterSocketBytes;
//   - a RecordQueue (log_queue.hpp) of limits::kLogWriterQueueBytes for
//     what the socket does not take now. Sends are non-blocking; while the
//     queue is not empty, new records go behind it (order is kept) and the
//     socket is watched for room. Lines leave the last
//     kLogWriterCloseReserve bytes to close records (which carry the last
//     drop count of a service whose pipe ended). A record the queue cannot
//     take is refused: the ServiceLog counts the line as dropped and sends the
//     count with its next line, which the writer turns into a marker line
//     in the file;
//   - the writer's pid, reaped through the supervisor's reap path, and a
//     restart timer (doubling from kLogWriterRestartFirstNs up to
//     kLogWriterRestartMaxNs; reset after a writer that ran for a minute).
//
// The writer is started at the first record (a system without log files
// has no writer process), as `/proc/self/exe --log-writer`: keel's own
// binary, in a process group of its own (a terminal's Ctrl-C to keel's
// group does not reach it) but in keel's session, which is how the tracker
// of services without cgroups tells keel's helpers from a service's
// orphans (tree_tracker.hpp: rule 3 never takes them), with
// an empty signal mask and default dispositions. Without /proc (or when the
// exec fails for any reason) files are not written: it is logged once,
// lines keep going to the ring (keelctl log), the queue fills and further
// lines are counted as dropped; the restart timer keeps trying.
//
// finish() is the shutdown's step after the services: send what is queued,
// close the sending end (the writer reads to the end and exits 0), and wait
// for the writer's exit, at most limits::kLogWriterFinishNs; then SIGKILL
// it, log what was lost, and go on (a frozen filesystem must not keep the
// machine up). It waits as the loop does: an event, never a blocking call.
//
// Nothing here allocates after the first record (the queue's pages come
// then, from mmap; spawn allocates nothing).
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "core/event_loop.hpp"
#include "service/log_queue.hpp"
#include "service/log_sink.hpp"

namespace keel::service {

class LogWriterLink final : public LogSink, private FdHandler, private TimerHandler {
 public:
  // `program`: the binary to run with kLogWriterArg (must outlive this).
  LogWriterLink(EventLoop& loop, const char* program) noexcept;
  // Closes both ends: a writer still running reads to the end and exits.
  ~LogWriterLink();
  LogWriterLink(const LogWriterLink&) = delete;
  LogWriterLink& operator=(const LogWriterLink&) = delete;

  bool deliver(const LogRecord& record) noexcept override;

  // From the reap path: true when `pid` was the writer (handled here).
  bool on_child_exit(pid_t pid, int wait_status) noexcept;

  // The shutdown step (above); `done(context)` is called once, maybe from
  // inside this call. Records delivered afterwards are refused.
  void finish(void (*done)(void*), void* context) noexcept;

  // nullptr while all is well (or no writer was ever needed); else a line
  // for `keelctl status` of a service with a log file.
  [[nodiscard]] const char* problem() const noexcept { return problem_[0] != '\0' ? problem_ : nullptr; }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

 private:
  enum class State { Idle, Running, Backoff, Finishing, Finished };

  bool open_socket() noexcept;
  void start() noexcept;
  void flush() noexcept;
  void watch_writable(bool on) noexcept;
  void close_send_end() noexcept;
  void finished() noexcept;
  void on_ready(std::uint32_t events) noexcept override;
  void on_timer() noexcept override;

  EventLoop& loop_;
  const char* program_;
  State state_ = State::Idle;
  int send_fd_ = -1;
  int recv_fd_ = -1;
  bool open_failed_ = false;  // the socket could not be made (logged once)
  bool watching_ = false;
  pid_t pid_ = -1;
  int report_fd_ = -1;  // the running writer's exec report (spawn_nowait), read when it is reaped
  std::int64_t started_ns_ = 0;
  int failures_ = 0;
  bool start_failure_logged_ = false;
  RecordQueue queue_;
  std::uint64_t send_failures_ = 0;  // records a send refused for good
  Timer timer_;
  void (*done_)(void*) = nullptr;
  void* done_context_ = nullptr;
  char problem_[160] = {};
};

}  // namespace keel::service
