// service_log.cpp — see service_log.hpp for the design and its limits.
//
// The read path works in two static buffers shared by every service (the
// loop is single-threaded and no handler re-enters another's read), so a
// service costs its ring and one line buffer, and reading allocates nothing.
#include "service/service_log.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <utility>

#include "core/log.hpp"

namespace keel::service {
namespace {

using limits::kServiceLogLineMax;
using limits::kServiceLogStamp;

// One stamped line: "STAMP STREAM LINE[MARKER]\n" (STREAM: "stdout" or "stderr").
constexpr std::size_t kStampedMax =
    kServiceLogStamp + 1 + log_record::kStreamWord + 1 + kServiceLogLineMax + ServiceLog::kCutMarker.size() + 1;
static_assert(kStampedMax <= LogRing::kMaxRecord, "a stamped line must fit one ring record");
static_assert(kStampedMax == log_record::kMaxLine, "a stamped line must fit one log record");

// The smallest ring: one longest line, so the newest line is always kept
// whole however small ring_bytes is set.
constexpr std::size_t kMinRing = LogRing::kHeader + kStampedMax;

char g_read_buf[limits::kServiceLogReadChunk];
char g_stamped[kStampedMax];

std::size_t ring_capacity(std::size_t ring_bytes) noexcept {
  return ring_bytes == 0 ? 0 : std::max(ring_bytes, kMinRing);
}

void make_stamp(char (&out)[kServiceLogStamp + 1]) noexcept { log_record::make_stamp(out); }

const char* stream_name(LogStream stream) noexcept { return stream == LogStream::Stderr ? "stderr" : "stdout"; }

// A number for each ServiceLog, so the writer tells services apart without
// their names (a service removed and added again is a new one).
std::uint32_t g_next_id = 1;

}  // namespace

ServiceLog::ServiceLog(std::string service_name, const LogConfig& config, LogSink* sink,
                       const ContainerOutput* output)
    : name_(std::move(service_name)), config_(config), sink_(sink), output_(output), id_(g_next_id++) {}

ServiceLog::~ServiceLog() { close(); }

Status ServiceLog::open(EventLoop& loop, bool out, bool err) {
  // Allocations first: a throw leaves no fd behind.
  if (out && !out_.line) out_.line = PageBuffer(kServiceLogLineMax);
  if (err && !err_.line) err_.line = PageBuffer(kServiceLogLineMax);
  if (read_fds() == 0) ring_.resize(ring_capacity(config_.ring_bytes));
  loop_ = &loop;
  if (out) {
    if (Status s = open_capture(out_); !s) return s;
  }
  if (err) {
    if (Status s = open_capture(err_); !s) {
      // Both or neither: the launch fails, and keel keeps no write end.
      if (out_.write_fd >= 0) release_write_end();
      return s;
    }
  }
  return {};
}

Status ServiceLog::open_capture(Capture& c) {
  if (c.read_fd >= 0 && c.write_fd >= 0) return {};
  if (c.read_fd >= 0) {
    // A process of an earlier run still holds the pipe (keel gave up its
    // own write end at that launch): the new run joins the same pipe, so
    // both keep logging in order. /proc/self/fd/N opened for writing is a
    // new write end of the pipe N reads (and does not block: keel is a
    // reader).
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/fd/%d", c.read_fd);
    int fd = ::open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      c.write_fd = fd;
      return {};
    }
    // No /proc: the old pipe goes (whoever still writes to it gets EPIPE)
    // and the run gets a new one.
    log::msg(log::Level::Warn, "service %s: cannot rejoin its %s pipe (%s: %s); the old writers are cut off",
             name_.c_str(), stream_name(c.stream), path, std::strerror(errno));
    close_pipe(c);
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return errno_error("pipe2 (service log)");
  // Only keel's end is non-blocking: a service sees an ordinary pipe, and
  // blocks (as with any pipe) only if keel stops reading for a whole buffer.
  if (::fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0) {
    Error e = errno_error("fcntl O_NONBLOCK (service log)");
    ::close(fds[0]);
    ::close(fds[1]);
    return e;
  }
  // Best effort: the cap (/proc/sys/fs/pipe-max-size) or the per-user pipe
  // quota may refuse; the default 64 KiB still works.
  (void)::fcntl(fds[1], F_SETPIPE_SZ, limits::kServiceLogPipeBytes);
  if (Status s = loop_->add(fds[0], EPOLLIN, c); !s) {
    ::close(fds[0]);
    ::close(fds[1]);
    return s;
  }
  c.read_fd = fds[0];
  c.write_fd = fds[1];
  c.watching = true;
  return {};
}

void ServiceLog::reconfigure(const LogConfig& config) {
  // Every allocation before any change, so a throw changes nothing.
  LogConfig next = config;
  const std::string& path = config.file;
  if (read_fds() > 0 || ring_.capacity() > 0) ring_.resize(ring_capacity(next.ring_bytes));
  // The old file is closed by whoever writes it when the first record with
  // the new path comes (each record carries its file's settings).
  if (path != config_.file) send_close();
  config_ = std::move(next);
}

void ServiceLog::stop_watching(Capture& c) noexcept {
  if (c.watching && loop_ != nullptr) {
    // The pipe reports EOF when a run ends, often in the same batch as the
    // SIGCHLD whose handling closes it (or removes the service): remove()
    // drops that pending event, so it never reaches a closed pipe or a
    // destroyed log.
    loop_->remove(c.read_fd, c);
  }
  c.watching = false;
}

void ServiceLog::close() noexcept {
  close_pipe(out_);
  close_pipe(err_);
  loop_ = nullptr;
}

void ServiceLog::close_pipe(Capture& c) noexcept {
  flush(c);
  stop_watching(c);
  const bool had = c.read_fd >= 0;
  if (c.read_fd >= 0) ::close(c.read_fd);
  if (c.write_fd >= 0) ::close(c.write_fd);
  c.read_fd = -1;
  c.write_fd = -1;
  if (had && read_fds() == 0) send_close();  // opened again at the next line
}

void ServiceLog::release_write_end() noexcept {
  for (Capture* c : {&out_, &err_}) {
    if (c->write_fd >= 0) ::close(c->write_fd);
    c->write_fd = -1;
  }
  // Nobody else may have them (a launch that failed before the fork): the
  // read ends then report EOF, and drain() closes the pipes.
}

void ServiceLog::flush() noexcept {
  flush(out_);
  flush(err_);
}

void ServiceLog::flush(Capture& c) noexcept {
  if (c.watching) drain(c, limits::kServiceLogReadsPerWake);
  if (c.line_len > 0) {
    make_stamp(stamp_);
    emit(c, false);
  }
  // A cut line whose end never came: the next run starts a fresh line.
  c.discarding = false;
}

void ServiceLog::Capture::on_ready(std::uint32_t /*events*/) noexcept {
  // EPOLLHUP (the last writer is gone) comes with EPOLLIN while data is
  // left; the read of 0 after the data is what ends the pipe.
  owner->drain(*this, limits::kServiceLogReadsPerWake);
}

void ServiceLog::drain(Capture& c, int max_reads) noexcept {
  for (int i = 0; i < max_reads;) {
    ssize_t n = ::read(c.read_fd, g_read_buf, sizeof g_read_buf);
    if (n > 0) {
      make_stamp(stamp_);
      consume(c, g_read_buf, static_cast<std::size_t>(n));
      // A short read emptied the pipe: skip the read that would only say
      // EAGAIN. More data later wakes the (level-triggered) loop again.
      if (static_cast<std::size_t>(n) < sizeof g_read_buf) return;
      ++i;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    // EOF (only once keel's write end is closed) or an error a pipe should
    // never give: stop watching rather than spin on a ready fd.
    if (n < 0) {
      log::msg(log::Level::Error, "service %s: reading its %s: %s", name_.c_str(), stream_name(c.stream),
               std::strerror(errno));
    }
    if (c.line_len > 0) {
      make_stamp(stamp_);
      emit(c, false);
    }
    stop_watching(c);
    if (n == 0 && c.write_fd < 0) {
      // Every writer is gone and everything written was read: the pipe
      // costs keel no fd until the next run, nor does the log file once
      // the other stream's pipe is closed too. The ring, the counters and
      // the followers stay.
      ::close(c.read_fd);
      c.read_fd = -1;
      if (read_fds() == 0) send_close();
    }
    return;
  }
}

void ServiceLog::consume(Capture& c, const char* data, std::size_t len) noexcept {
  while (len > 0) {
    const char* newline = static_cast<const char*>(std::memchr(data, '\n', len));
    if (c.discarding) {
      if (newline == nullptr) return;
      len -= static_cast<std::size_t>(newline - data) + 1;
      data = newline + 1;
      c.discarding = false;
      continue;
    }
    std::size_t piece = newline != nullptr ? static_cast<std::size_t>(newline - data) : len;
    std::size_t room = kServiceLogLineMax - c.line_len;
    if (piece <= room) {
      std::memcpy(c.line.get() + c.line_len, data, piece);
      c.line_len += piece;
      if (newline == nullptr) return;  // held until its newline comes
      emit(c, false);
      len -= piece + 1;
      data = newline + 1;
      continue;
    }
    std::memcpy(c.line.get() + c.line_len, data, room);
    c.line_len = kServiceLogLineMax;
    emit(c, true);
    if (newline == nullptr) {
      c.discarding = true;
      return;
    }
    len -= piece + 1;
    data = newline + 1;
  }
}

void ServiceLog::emit(Capture& c, bool cut) noexcept {
  // "STAMP STREAM TEXT[MARKER]\n"
  const std::string_view word = stream_word(c.stream);
  std::size_t used = 0;
  std::memcpy(g_stamped, stamp_, kServiceLogStamp);
  used += kServiceLogStamp;
  g_stamped[used++] = ' ';
  std::memcpy(g_stamped + used, word.data(), word.size());
  used += word.size();
  g_stamped[used++] = ' ';
  const std::size_t text_at = used;
  std::memcpy(g_stamped + used, c.line.get(), c.line_len);
  used += c.line_len;
  if (cut) {
    std::memcpy(g_stamped + used, kCutMarker.data(), kCutMarker.size());
    used += kCutMarker.size();
    ++dropped_lines_;
  }
  g_stamped[used++] = '\n';
  ++lines_total_;
  const std::string_view stamped(g_stamped, used);
  const std::string_view text(g_stamped + text_at, used - text_at - 1);

  ring_.push(stamped.substr(0, used - 1));
  write_file(stamped);
  if (config_.console) {
    log::write_line(log::fd(), "[%s%s] %.*s", name_.c_str(), c.stream == LogStream::Stderr ? "!" : "",
                    static_cast<int>(text.size()), text.data());
  }
  if (output_ != nullptr) output_->line(name_, c.stream, std::string_view(stamp_, kServiceLogStamp), text);
  // Slot by slot, re-read each time: a follower may remove itself or
  // another one from inside its callback.
  for (std::size_t i = 0; i < followers_.size(); ++i) {
    if (LogFollower* follower = followers_[i]; follower != nullptr) follower->on_log_line(stamped);
  }
  c.line_len = 0;
}

bool ServiceLog::deliver(const LogRecord& record) noexcept {
  return sink_ != nullptr ? sink_->deliver(record) : direct_.apply(record);
}

LogRecord ServiceLog::file_record(LogRecord::Kind kind) const noexcept {
  LogRecord r;
  r.kind = kind;
  r.service = id_;
  r.dropped = file_pending_drops_;
  r.max_size = config_.max_size;
  r.keep = config_.keep;
  r.max_age_ms = config_.max_age_ns / 1'000'000;
  r.compress = config_.compress;
  r.path = config_.file;
  return r;
}

void ServiceLog::write_file(std::string_view stamped) noexcept {
  if (config_.file.empty()) return;
  LogRecord r = file_record(LogRecord::Kind::Line);
  r.line = stamped;
  if (deliver(r)) {
    file_pending_drops_ = 0;
    return;
  }
  // Written into the file by the next record that gets through: the file
  // stays in order, with the gap counted where it is.
  ++dropped_lines_;
  if (sink_ != nullptr) ++file_pending_drops_;
}

void ServiceLog::send_close() noexcept {
  if (config_.file.empty()) return;
  if (deliver(file_record(LogRecord::Kind::Close))) file_pending_drops_ = 0;
}

bool ServiceLog::add_follower(LogFollower& follower) noexcept {
  if (std::find(followers_.begin(), followers_.end(), &follower) != followers_.end()) return false;
  auto slot = std::find(followers_.begin(), followers_.end(), nullptr);
  if (slot == followers_.end()) return false;
  *slot = &follower;
  return true;
}

void ServiceLog::remove_follower(LogFollower& follower) noexcept {
  std::replace(followers_.begin(), followers_.end(), &follower, static_cast<LogFollower*>(nullptr));
}

void ServiceLog::tail(std::size_t n, std::string& out) const { ring_.tail(n, out); }

}  // namespace keel::service
