// log_writer_link.cpp — see log_writer_link.hpp.
#include "service/log_writer_link.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <new>

#include "core/limits.hpp"
#include "core/log.hpp"
#include "core/raw_syscall.hpp"
#include "core/reaper.hpp"
#include "core/signals.hpp"
#include "core/spawn.hpp"
#include "service/backoff.hpp"
#include "service/log_writer.hpp"

namespace keel::service {
namespace {

// The record being delivered (the loop is single-threaded).
char g_record[log_record::kMaxRecord];

constexpr BackoffPolicy kRestartPolicy{limits::kLogWriterRestartFirstNs, limits::kLogWriterRestartMaxNs,
                                       60'000'000'000};

std::int64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

ssize_t send_pieces(void* context, const iovec* pieces, int count) noexcept {
  msghdr m{};
  m.msg_iov = const_cast<iovec*>(pieces);
  m.msg_iovlen = static_cast<std::size_t>(count);
  ssize_t n = ::sendmsg(*static_cast<const int*>(context), &m, MSG_DONTWAIT | MSG_NOSIGNAL);
  return n < 0 ? -errno : n;
}

// In the child, before its exec (it shares keel's memory: raw calls, no
// errno): the receiving end on fd 0 (dup3 clears close-on-exec there), and
// nothing but 0, 1 and 2 across the exec: keel's own fds are close-on-exec,
// but an fd keel inherited without it (a caller's leak) must not reach the
// writer either, as for services.
Status writer_setup(const void* context) noexcept {
  if (long r = raw::call(SYS_dup3, *static_cast<const int*>(context), 0, 0); r < 0) {
    return Error{static_cast<int>(-r), "dup2 (log writer socket)"};
  }
  (void)raw::call(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
  return {};
}
const void* copy_writer_context(const void* context, ChildArena& arena) noexcept {
  return arena.copy_array(static_cast<const int*>(context), 1);
}

}  // namespace

LogWriterLink::LogWriterLink(EventLoop& loop, const char* program) noexcept
    : loop_(loop), program_(program), timer_(loop, *this) {}

LogWriterLink::~LogWriterLink() {
  watch_writable(false);
  if (send_fd_ >= 0) ::close(send_fd_);
  if (recv_fd_ >= 0) ::close(recv_fd_);
  if (report_fd_ >= 0) ::close(report_fd_);
}

bool LogWriterLink::open_socket() noexcept {
  if (send_fd_ >= 0 || recv_fd_ >= 0) return true;
  if (open_failed_) return false;
  try {
    queue_.reserve(limits::kLogWriterQueueBytes);
  } catch (const std::bad_alloc&) {
    log::msg(log::Level::Error, "log files are not written: no memory for the log writer's queue");
    open_failed_ = true;
    return false;
  }
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
    log::msg(log::Level::Error, "log files are not written: socketpair for the log writer: %s", std::strerror(errno));
    std::snprintf(problem_, sizeof problem_, "log files are not written (no socket for the log writer)");
    open_failed_ = true;
    return false;
  }
  // Root may go past net.core.wmem_max; anyone else gets what it allows.
  int bytes = limits::kLogWriterSocketBytes;
  if (::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0) {
    (void)::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
  }
  send_fd_ = fds[0];
  recv_fd_ = fds[1];
  return true;
}

void LogWriterLink::watch_writable(bool on) noexcept {
  if (on == watching_ || send_fd_ < 0) return;
  if (on) {
    if (!loop_.add(send_fd_, EPOLLOUT, *this)) return;  // retried at the next record
  } else {
    loop_.remove(send_fd_, *this);
  }
  watching_ = on;
}

void LogWriterLink::start() noexcept {
  char* const argv[] = {const_cast<char*>(program_), const_cast<char*>(kLogWriterArg.data()), nullptr};
  SpawnOptions options;
  options.argv = argv;
  options.session = Session::NewProcessGroup;  // keel's session: never taken for a service's orphan
  options.child_setup = &writer_setup;
  options.child_context = &recv_fd_;
  options.copy_child_context = &copy_writer_context;
  // Not spawn(): it would wait for the exec. A program that is not there
  // (no /proc: no /proc/self/exe) is told now, before a fork; any other
  // failure of the exec is read from its report when the writer is reaped.
  Result<Launch> pid = ::access(program_, X_OK) == 0 ? spawn_nowait(options) : Result<Launch>{Error{errno, "access"}};
  if (pid) {
    pid_ = pid.value().pid;
    report_fd_ = pid.value().report_fd;
    started_ns_ = monotonic_ns();
    if (state_ != State::Finishing) state_ = State::Running;
    problem_[0] = '\0';
    start_failure_logged_ = false;
    log::msg(log::Level::Info, "log writer started (pid %d)", static_cast<int>(pid_));
    return;
  }
  ++failures_;
  std::snprintf(problem_, sizeof problem_, "log writer cannot start (%s: %s): the log file waits (queue %zu lines)",
                pid.error().context, pid.error().message(), queue_.records());
  if (!start_failure_logged_) {
    start_failure_logged_ = true;
    log::msg(log::Level::Error,
             "cannot start the log writer (%s %s: %s: %s): log files are not written until it starts; "
             "lines stay in keelctl log, and those the queue cannot hold are counted as dropped",
             program_, kLogWriterArg.data(), pid.error().context, pid.error().message());
  }
  if (state_ == State::Finishing) return;
  state_ = State::Backoff;
  timer_.arm_after(backoff_delay(kRestartPolicy, failures_, 0));
}

bool LogWriterLink::deliver(const LogRecord& record) noexcept {
  if (state_ == State::Finished || !open_socket() || send_fd_ < 0) return false;
  if (state_ == State::Idle) start();
  const std::size_t len = log_record::encode(record, g_record, sizeof g_record);
  if (len == 0) return false;
  if (queue_.empty()) {
    ssize_t n = ::send(send_fd_, g_record, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(len)) return true;
    // EAGAIN: the socket is full (the writer is slow, stuck or down). A
    // seqpacket send is all or nothing, so nothing of this record went.
  }
  const std::size_t keep_free = record.kind == LogRecord::Kind::Line ? limits::kLogWriterCloseReserve : 0;
  if (!queue_.push(g_record, len, keep_free)) return false;
  watch_writable(true);
  return true;
}

void LogWriterLink::flush() noexcept {
  RecordQueue::FlushResult r = queue_.flush(&send_pieces, &send_fd_);
  if (r.failed > 0) {
    if (send_failures_ == 0) {
      log::msg(log::Level::Error, "log writer socket: %s: %zu records dropped", std::strerror(r.last_error),
               r.failed);
    }
    send_failures_ += r.failed;
  }
  if (queue_.empty()) {
    watch_writable(false);
    if (state_ == State::Finishing) close_send_end();
  } else {
    watch_writable(true);
  }
}

void LogWriterLink::on_ready(std::uint32_t /*events*/) noexcept { flush(); }

void LogWriterLink::close_send_end() noexcept {
  watch_writable(false);
  if (send_fd_ >= 0) ::close(send_fd_);
  send_fd_ = -1;
}

bool LogWriterLink::on_child_exit(pid_t pid, int wait_status) noexcept {
  if (pid_ < 0 || pid != pid_) return false;
  pid_ = -1;
  if (report_fd_ >= 0) {
    Error why{};
    if (read_exec_report(report_fd_, &why) == ExecReport::Failed) {
      log::msg(log::Level::Error, "log writer could not start (%s %s: %s: %s)", program_, kLogWriterArg.data(),
               why.context, why.message());
    }
    ::close(report_fd_);
    report_fd_ = -1;
  }
  if (state_ == State::Finishing) {
    if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) {
      log::msg(log::Level::Info, "log writer finished: every log line is written");
    } else {
      log::msg(log::Level::Warn, "log writer ended with status %d at shutdown", shell_exit_code(wait_status));
    }
    finished();
    return true;
  }
  // A writer that ran a minute starts the count again.
  if (monotonic_ns() - started_ns_ >= kRestartPolicy.reset_after_ns) failures_ = 0;
  ++failures_;
  const std::int64_t delay = backoff_delay(kRestartPolicy, failures_, 0);
  if (WIFSIGNALED(wait_status)) {
    log::msg(log::Level::Warn, "log writer (pid %d) killed by %s; restarting in %lld ms (no line is lost)",
             static_cast<int>(pid), signals::name(WTERMSIG(wait_status)), static_cast<long long>(delay / 1'000'000));
  } else {
    log::msg(log::Level::Warn, "log writer (pid %d) exited with status %d; restarting in %lld ms (no line is lost)",
             static_cast<int>(pid), WEXITSTATUS(wait_status), static_cast<long long>(delay / 1'000'000));
  }
  std::snprintf(problem_, sizeof problem_, "log writer down (failure %d): restarting; lines wait in its queue",
                failures_);
  state_ = State::Backoff;
  timer_.arm_after(delay);
  return true;
}

void LogWriterLink::on_timer() noexcept {
  if (state_ == State::Backoff) {
    start();
    return;
  }
  if (state_ != State::Finishing) return;
  // The bound is over: the writer is stuck (a frozen or dead filesystem).
  log::msg(log::Level::Error,
           "log writer did not finish within %lld ms (is a log filesystem frozen or dead?): killed; %zu queued "
           "lines and what its socket held are not written",
           static_cast<long long>(limits::kLogWriterFinishNs / 1'000'000), queue_.records());
  if (pid_ > 0) (void)::kill(pid_, SIGKILL);
  // Not waited for: a process in uninterruptible sleep cannot die; the
  // shutdown's final reaping collects it if it does.
  pid_ = -1;
  if (report_fd_ >= 0) ::close(report_fd_);
  report_fd_ = -1;
  finished();
}

void LogWriterLink::finished() noexcept {
  state_ = State::Finished;
  timer_.disarm();
  close_send_end();
  if (done_ != nullptr) {
    auto done = done_;
    done_ = nullptr;
    done(done_context_);
  }
}

void LogWriterLink::finish(void (*done)(void*), void* context) noexcept {
  if (state_ == State::Finishing || state_ == State::Finished) return;
  done_ = done;
  done_context_ = context;
  if (state_ == State::Idle || send_fd_ < 0) {
    finished();  // no writer was ever needed
    return;
  }
  const State before = state_;
  state_ = State::Finishing;
  timer_.disarm();
  if (before == State::Backoff) start();  // one more try for what is queued
  if (pid_ < 0) {
    log::msg(log::Level::Error, "log writer not running at shutdown: %zu queued lines are not written",
             queue_.records());
    finished();
    return;
  }
  timer_.arm_after(limits::kLogWriterFinishNs);
  flush();  // closes the sending end once the queue is empty
}

}  // namespace keel::service
