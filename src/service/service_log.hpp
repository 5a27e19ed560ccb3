// service_log.hpp — capture of one service's stdout and stderr.
//
// keel creates one pipe per captured stream at open(): stdout and stderr
// each get their own when both are "log" (one when only one is), so every
// line keeps the stream it was written to. The supervisor dup2()s
// write_fd(stream) onto the run's stdout/stderr and then gives up keel's
// own write ends (release_write_end()), so that a running service costs
// keel one fd per captured stream (the read ends: 2 for the default
// stdout = stderr = "log") and a service with no process left costs none:
// when the last writer of a pipe is gone, its read end reports EOF after
// the last byte, and that pipe is closed then; the log file is closed when
// both are (docs/system-mode.md, "Limits"). Nothing written is lost: a
// dying run's last output is read before its EOF, and a grandchild that
// outlives its run keeps its pipe open and can still log. A run launched
// while such a writer lingers joins the same pipe (open() reopens a write
// end through /proc/self/fd), so the two keep their order; only without
// /proc is the old pipe closed and a new one made.
//
// Each read end is registered with the EventLoop. On readiness it is read
// in 16 KiB chunks (into one static buffer shared by all services: the loop
// is single-threaded) and split into lines. Each complete line is stamped
// with the time keel read it (CLOCK_REALTIME, "2026-11-26T12:00:00.123Z")
// and its stream, "STAMP stdout TEXT" or "STAMP stderr TEXT" (the layout
// of docs/services.md, "Log lines"), and goes to:
//   - the ring (log_ring.hpp): the last config.ring_bytes of lines, in
//     memory, allocated at open; the oldest lines are overwritten. A ring
//     is never smaller than one longest line (about 4 KiB); 0 means none;
//   - the file, when config.file is set: as a LogRecord to the LogSink
//     (log_sink.hpp), which is the log writer, a process of its own
//     (log_writer_link.hpp), so PID 1 never waits for a disk. A line the
//     sink refuses (its queue is full) is counted, and the next record
//     carries the count so the file gets a marker in its place
//     ("STAMP keel [keel: N lines lost: ...]"). Without a sink (tests) the
//     file is written here, through a ServiceFile;
//   - the console, when config.console: "[name] TEXT" for stdout,
//     "[name!] TEXT" for stderr, on keel's log fd;
//   - keel's own stdout or stderr (the stream's own), when keel.toml's
//     log_output (or KEEL_LOG_OUTPUT) asks for it: container_output.hpp;
//   - followers (`keelctl log -f`), at most limits::kServiceLogFollowers.
// A line with no newline yet is held (one line buffer per stream) and
// completed by the next read; flush() completes it, e.g. when a run ends.
// A line longer than limits::kServiceLogLineMax is cut there, marked with
// kCutMarker, and the rest of it is discarded up to its newline.
//
// Order: each stream's lines keep their exact order. Between the two
// streams it is the order keel read them in, which is close to but not
// exactly the order they were written: two pipes are two queues, and a
// line written to stderr just after one on stdout may be read first
// (within one wake-up keel reads stdout's pipe, then stderr's).
//
// What "never blocks a service" means, and its limits:
//   - keel drains the pipes whenever the loop turns; each pipe is grown to
//     limits::kServiceLogPipeBytes (F_SETPIPE_SZ, best effort), so a
//     service can write that much to each stream while keel is busy
//     elsewhere. If keel is stalled longer than it takes the service to
//     fill that buffer, the service's write() blocks, as with any pipe:
//     that is the one bound there is.
//   - keel's own sinks never push back on the pipe: the ring overwrites, and
//     the log writer's queue refuses (and the line is counted) rather than
//     waits; keel's stdout/stderr (log_output) keep a bounded backlog and
//     drop whole lines, counted, when it is full. A file write that fails
//     (ENOSPC, EIO, a rotation that fails) is the writer's to count and
//     mark in the file (log_sink.hpp).
//   - A slow, full or frozen log filesystem stalls the writer process, not
//     keel's loop. The console mirror is keel's log fd, as for keel's own
//     messages.
// dropped_lines() counts lines cut and lines the sink refused (or, with no
// sink, the file lost); the ring never loses a line it was given (it only
// forgets the oldest).
//
// A ServiceLog is registered with the loop by address: it neither copies
// nor moves.
//
// Allocation: the ring and the line buffers are allocated in open() and
// reconfigure() (which may throw std::bad_alloc; nothing else throws). The
// read path and the hand-over to the sink allocate nothing. tail() builds a
// reply, so it allocates: it is for control requests, not handlers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/event_loop.hpp"
#include "core/page_buffer.hpp"
#include "core/limits.hpp"
#include "core/result.hpp"
#include "service/config.hpp"
#include "service/container_output.hpp"
#include "service/log_ring.hpp"
#include "service/log_sink.hpp"

namespace keel::service {

// Told about each line as it is captured (`keelctl log -f`).
class LogFollower {
 public:
  // "TIMESTAMP STREAM LINE\n", exactly as tail() would show it. Called from the
  // loop's read handler: must not block; it may remove itself (or another
  // follower) from the ServiceLog.
  virtual void on_log_line(std::string_view stamped_line) noexcept = 0;

 protected:
  ~LogFollower() = default;
};

class ServiceLog final {
 public:
  // Appended to a line that was cut at limits::kServiceLogLineMax.
  static constexpr std::string_view kCutMarker = " [keel: line cut]";

  // `sink`: where the file's lines go (the supervisor's log-writer link);
  // nullptr: this object writes the file itself (tests). `output`: keel's
  // stdout/stderr copy (log_output); nullptr: none. Both must outlive it.
  ServiceLog(std::string service_name, const LogConfig& config, LogSink* sink = nullptr,
             const ContainerOutput* output = nullptr);
  ~ServiceLog();
  ServiceLog(const ServiceLog&) = delete;
  ServiceLog& operator=(const ServiceLog&) = delete;

  // Create a pipe for each stream asked for (`out`: stdout, `err`: stderr;
  // both ends close-on-exec, read end non-blocking, grown to
  // limits::kServiceLogPipeBytes when allowed), allocate the ring and the
  // line buffers, and watch the read ends on `loop`. `loop` must outlive
  // this object or close(). A stream whose pipe is open with keel's write
  // end is left as it is; one whose write end was released gets a new write
  // end to the same pipe. A stream not asked for keeps a pipe that is still
  // open until its writers are gone. May throw std::bad_alloc (nothing new
  // is left open then).
  Status open(EventLoop& loop, bool out = true, bool err = true);

  // The run has its copies of the write ends (or the launch failed): close
  // keel's, so each pipe ends once no process of the service holds it.
  void release_write_end() noexcept;
  // Whether keel holds a pipe's read end (a process may still write).
  [[nodiscard]] bool pipe_open() const noexcept { return out_.read_fd >= 0 || err_.read_fd >= 0; }
  // How many read ends keel holds (0, 1 or 2): the fds this service costs.
  [[nodiscard]] int read_fds() const noexcept { return (out_.read_fd >= 0 ? 1 : 0) + (err_.read_fd >= 0 ? 1 : 0); }

  // The fd to dup2() onto a child's stdout (LogStream::Stdout) or stderr;
  // -1 when that stream's pipe is not open.
  [[nodiscard]] int write_fd(LogStream stream) const noexcept { return capture(stream).write_fd; }

  // A reload: new ring size (the newest lines that fit are kept), new file
  // (the old one is closed, the new one opened at the next line) or new
  // rotation, console on or off. May throw std::bad_alloc; a throw changes
  // nothing.
  void reconfigure(const LogConfig& config);

  // Read what is in the pipe now, then complete a held partial line (a run
  // that ended without a final newline). For the supervisor when a run ends.
  void flush() noexcept;

  // flush(), stop watching, close the pipe and the file. The ring and the
  // counters stay readable. Idempotent.
  void close() noexcept;

  // At most limits::kServiceLogFollowers; false when full (or already there).
  [[nodiscard]] bool add_follower(LogFollower& follower) noexcept;
  void remove_follower(LogFollower& follower) noexcept;

  // The last `n` lines in the ring (n == 0: all), oldest first, each
  // "TIMESTAMP STREAM LINE\n", appended to `out`. Allocates: not for handlers.
  void tail(std::size_t n, std::string& out) const;

  // Complete lines captured since construction (cut lines included).
  [[nodiscard]] std::uint64_t lines_total() const noexcept { return lines_total_; }
  // Lines cut at the length limit plus lines the file failed to take.
  [[nodiscard]] std::uint64_t dropped_lines() const noexcept { return dropped_lines_; }

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const LogConfig& config() const noexcept { return config_; }

 private:
  // One stream's pipe and its held partial line.
  struct Capture final : FdHandler {
    Capture(ServiceLog& o, LogStream s) noexcept : owner(&o), stream(s) {}
    void on_ready(std::uint32_t events) noexcept override;
    ServiceLog* owner;
    LogStream stream;
    int read_fd = -1;
    int write_fd = -1;
    bool watching = false;
    PageBuffer line;  // the held partial line, kServiceLogLineMax bytes (pages: free until used)
    std::size_t line_len = 0;
    bool discarding = false;  // past a cut: skip to the next newline
  };

  [[nodiscard]] const Capture& capture(LogStream s) const noexcept { return s == LogStream::Stderr ? err_ : out_; }
  Status open_capture(Capture& c);
  // Read until EAGAIN or `max_reads` chunks; false when the pipe is unusable.
  void drain(Capture& c, int max_reads) noexcept;
  void flush(Capture& c) noexcept;
  void consume(Capture& c, const char* data, std::size_t len) noexcept;
  void emit(Capture& c, bool cut) noexcept;  // the held line is complete: stamp and dispatch
  void write_file(std::string_view stamped) noexcept;
  // A record for this service's file, with its settings and the drops it carries.
  [[nodiscard]] LogRecord file_record(LogRecord::Kind kind) const noexcept;
  void send_close() noexcept;  // the file may be closed (the pipe ended, a new path)
  bool deliver(const LogRecord& record) noexcept;
  void stop_watching(Capture& c) noexcept;
  void close_pipe(Capture& c) noexcept;  // close()'s work for one stream, keeping the loop for a later open()

  std::string name_;
  LogConfig config_;
  EventLoop* loop_ = nullptr;
  Capture out_{*this, LogStream::Stdout};
  Capture err_{*this, LogStream::Stderr};

  LogRing ring_;
  LogSink* sink_;
  ServiceFile direct_;  // the file, when there is no sink
  const ContainerOutput* output_;
  std::uint32_t id_;

  char stamp_[limits::kServiceLogStamp + 1] = {};  // the current read's time

  std::array<LogFollower*, limits::kServiceLogFollowers> followers_{};

  std::uint64_t lines_total_ = 0;
  std::uint64_t dropped_lines_ = 0;
  std::uint64_t file_pending_drops_ = 0;  // lines the sink dropped, not yet told to the file
};

}  // namespace keel::service
