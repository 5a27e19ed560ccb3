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

// One stamped line: "STAMP LINE[MARKER]\n".
constexpr std::size_t kStampedMax = kServiceLogStamp + 1 + kServiceLogLineMax + ServiceLog::kCutMarker.size() + 1;
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

// A number for each ServiceLog, so the writer tells services apart without
// their names (a service removed and added again is a new one).
std::uint32_t g_next_id = 1;

}  // namespace

ServiceLog::ServiceLog(std::string service_name, const LogConfig& config, LogSink* sink)
    : name_(std::move(service_name)), config_(config), sink_(sink), id_(g_next_id++) {}

ServiceLog::~ServiceLog() { close(); }

Status ServiceLog::open(EventLoop& loop) {
  if (read_fd_ >= 0 && write_fd_ >= 0) return {};
  if (read_fd_ >= 0) {
    // A process of an earlier run still holds the pipe (keel gave up its
    // own write end at that launch): the new run joins the same pipe, so
    // both keep logging in order. /proc/self/fd/N opened for writing is a
    // new write end of the pipe N reads (and does not block: keel is a
    // reader).
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/fd/%d", read_fd_);
    int fd = ::open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      write_fd_ = fd;
      return {};
    }
    // No /proc: the old pipe goes (whoever still writes to it gets EPIPE)
    // and the run gets a new one.
    log::msg(log::Level::Warn, "service %s: cannot rejoin its log pipe (%s: %s); the old writers are cut off",
             name_.c_str(), path, std::strerror(errno));
    close_pipe();
  }
  // Allocations first: a throw leaves no fd behind.
  if (!line_) line_ = PageBuffer(kServiceLogLineMax);
  ring_.resize(ring_capacity(config_.ring_bytes));

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
  if (Status s = loop.add(fds[0], EPOLLIN, *this); !s) {
    ::close(fds[0]);
    ::close(fds[1]);
    return s;
  }
  loop_ = &loop;
  read_fd_ = fds[0];
  write_fd_ = fds[1];
  watching_ = true;
  return {};
}

void ServiceLog::reconfigure(const LogConfig& config) {
  // Every allocation before any change, so a throw changes nothing.
  LogConfig next = config;
  const std::string& path = config.file;
  if (read_fd_ >= 0 || ring_.capacity() > 0) ring_.resize(ring_capacity(next.ring_bytes));
  // The old file is closed by whoever writes it when the first record with
  // the new path comes (each record carries its file's settings).
  if (path != config_.file) send_close();
  config_ = std::move(next);
}

void ServiceLog::stop_watching() noexcept {
  if (watching_ && loop_ != nullptr) {
    // The pipe reports EOF when a run ends, often in the same batch as the
    // SIGCHLD whose handling closes it (or removes the service): remove()
    // drops that pending event, so it never reaches a closed pipe or a
    // destroyed log.
    loop_->remove(read_fd_, *this);
  }
  watching_ = false;
}

void ServiceLog::close() noexcept {
  close_pipe();
  loop_ = nullptr;
}

void ServiceLog::close_pipe() noexcept {
  flush();
  stop_watching();
  if (read_fd_ >= 0) ::close(read_fd_);
  if (write_fd_ >= 0) ::close(write_fd_);
  read_fd_ = -1;
  write_fd_ = -1;
  send_close();  // opened again at the next line
}

void ServiceLog::release_write_end() noexcept {
  if (write_fd_ >= 0) ::close(write_fd_);
  write_fd_ = -1;
  // Nobody else may have it (a launch that failed before the fork): the
  // read end then reports EOF, and drain() closes the pipe.
}

void ServiceLog::flush() noexcept {
  if (watching_) drain(limits::kServiceLogReadsPerWake);
  if (line_len_ > 0) {
    make_stamp(stamp_);
    emit(false);
  }
  // A cut line whose end never came: the next run starts a fresh line.
  discarding_ = false;
}

void ServiceLog::on_ready(std::uint32_t /*events*/) noexcept {
  // EPOLLHUP (the last writer is gone) comes with EPOLLIN while data is
  // left; the read of 0 after the data is what ends the pipe.
  drain(limits::kServiceLogReadsPerWake);
}

void ServiceLog::drain(int max_reads) noexcept {
  for (int i = 0; i < max_reads;) {
    ssize_t n = ::read(read_fd_, g_read_buf, sizeof g_read_buf);
    if (n > 0) {
      make_stamp(stamp_);
      consume(g_read_buf, static_cast<std::size_t>(n));
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
    if (n < 0) log::msg(log::Level::Error, "service %s: reading its output: %s", name_.c_str(), std::strerror(errno));
    if (line_len_ > 0) {
      make_stamp(stamp_);
      emit(false);
    }
    stop_watching();
    if (n == 0 && write_fd_ < 0) {
      // Every writer is gone and everything written was read: the pipe
      // (and the log file) cost keel no fd until the next run. The ring,
      // the counters and the followers stay.
      ::close(read_fd_);
      read_fd_ = -1;
      send_close();
    }
    return;
  }
}

void ServiceLog::consume(const char* data, std::size_t len) noexcept {
  while (len > 0) {
    const char* newline = static_cast<const char*>(std::memchr(data, '\n', len));
    if (discarding_) {
      if (newline == nullptr) return;
      len -= static_cast<std::size_t>(newline - data) + 1;
      data = newline + 1;
      discarding_ = false;
      continue;
    }
    std::size_t piece = newline != nullptr ? static_cast<std::size_t>(newline - data) : len;
    std::size_t room = kServiceLogLineMax - line_len_;
    if (piece <= room) {
      std::memcpy(line_.get() + line_len_, data, piece);
      line_len_ += piece;
      if (newline == nullptr) return;  // held until its newline comes
      emit(false);
      len -= piece + 1;
      data = newline + 1;
      continue;
    }
    std::memcpy(line_.get() + line_len_, data, room);
    line_len_ = kServiceLogLineMax;
    emit(true);
    if (newline == nullptr) {
      discarding_ = true;
      return;
    }
    len -= piece + 1;
    data = newline + 1;
  }
}

void ServiceLog::emit(bool cut) noexcept {
  std::size_t used = 0;
  std::memcpy(g_stamped, stamp_, kServiceLogStamp);
  used += kServiceLogStamp;
  g_stamped[used++] = ' ';
  std::memcpy(g_stamped + used, line_.get(), line_len_);
  used += line_len_;
  if (cut) {
    std::memcpy(g_stamped + used, kCutMarker.data(), kCutMarker.size());
    used += kCutMarker.size();
    ++dropped_lines_;
  }
  g_stamped[used++] = '\n';
  ++lines_total_;
  const std::string_view stamped(g_stamped, used);

  ring_.push(stamped.substr(0, used - 1));
  write_file(stamped);
  if (config_.console) {
    log::write_line(log::fd(), "[%s] %.*s", name_.c_str(), static_cast<int>(used - kServiceLogStamp - 2),
                    g_stamped + kServiceLogStamp + 1);
  }
  // Slot by slot, re-read each time: a follower may remove itself or
  // another one from inside its callback.
  for (std::size_t i = 0; i < followers_.size(); ++i) {
    if (LogFollower* follower = followers_[i]; follower != nullptr) follower->on_log_line(stamped);
  }
  line_len_ = 0;
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
