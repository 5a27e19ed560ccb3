// log_writer.cpp — see log_writer.hpp. This is not PID 1: it may allocate
// (one ServiceFile per service that has lines), and it waits in poll().
#include "service/log_writer.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <csignal>
#include <cstring>
#include <new>
#include <unordered_map>
#include <vector>

#include "core/log.hpp"
#include "service/log_compress.hpp"
#include "service/log_record.hpp"
#include "service/log_sink.hpp"

namespace keel::service {
namespace {

// One record and a byte more: a longer message is malformed (MSG_TRUNC
// reports its real length).
char g_record[log_record::kMaxRecord + 1];

}  // namespace

namespace {

// A compression of one service's FILE.1 in a child process (log_file.hpp):
// the child writes why it failed, if it did, to `pipe` and exits; the end
// of the pipe tells the writer it is over.
struct CompressJob {
  std::uint32_t service = 0;
  pid_t pid = -1;
  int pipe = -1;
  char why[256] = {};  // the child's reason for a failure
};

// Start FILE.1's compression for `file`, if it has one to do.
void start_compression(std::uint32_t service, ServiceFile& sf, std::vector<CompressJob>& jobs) {
  int dir_fd = -1;
  const char* name = nullptr;
  Compression how = Compression::None;
  if (!sf.file().compress_job(dir_fd, name, how)) return;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    sf.file().compress_finished();
    return;
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    // The child: this writer's copy, single-threaded, so it may allocate.
    ::close(fds[0]);
    (void)::nice(10);
    Status st = compress_file(dir_fd, name, how);
    if (!st) {
      char why[512];
      int n = std::snprintf(why, sizeof why, "%s: %s", st.error().context, st.error().message());
      if (n > 0) (void)!::write(fds[1], why, std::min(static_cast<std::size_t>(n), sizeof why - 1));
    }
    ::_exit(st ? 0 : 1);
  }
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    sf.file().compress_finished();
    log::msg(log::Level::Error, "log writer: cannot start compressing %s.1: %s (left uncompressed)",
             sf.file().path().c_str(), std::strerror(errno));
    return;
  }
  CompressJob job;
  job.service = service;
  job.pid = pid;
  job.pipe = fds[0];
  jobs.push_back(job);
}

std::int64_t realtime_ms() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

}  // namespace

int run_log_writer() noexcept {
  int type = 0;
  socklen_t type_len = sizeof type;
  if (::getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 || type != SOCK_SEQPACKET) {
    log::msg(log::Level::Error, "log writer: fd 0 is not keel's log socket (keel starts this itself)");
    return 2;
  }
  // A log path that is a FIFO whose reader left, or a file at RLIMIT_FSIZE:
  // the write fails (EPIPE, EFBIG) and the line is counted, as in PID 1.
  (void)::signal(SIGPIPE, SIG_IGN);
  (void)::signal(SIGXFSZ, SIG_IGN);

  std::unordered_map<std::uint32_t, ServiceFile> files;
  std::vector<CompressJob> jobs;
  std::vector<pollfd> pfds;
  std::uint64_t malformed = 0;
  bool compress_failure_reported = false;
  bool input_done = false;
  try {
    jobs.reserve(16);
    pfds.reserve(17);
  } catch (const std::bad_alloc&) {
  }
  for (;;) {
    // Wait for a record, a compression's end, or the next age rotation
    // (a quiet service's file still rotates on time). A realtime clock:
    // the deadlines are the files' stamps. Capped at an hour, so a clock
    // set back is caught up with.
    std::int64_t next = -1;
    for (auto& [id, sf] : files) {
      const std::int64_t due = sf.file().age_deadline();
      if (due >= 0 && (next < 0 || due < next)) next = due;
    }
    int timeout = -1;
    if (next >= 0) {
      const std::int64_t left = next - realtime_ms();
      timeout = left <= 0 ? 0 : static_cast<int>(std::min<std::int64_t>(left + 1, 3'600'000));
    }
    if (input_done && jobs.empty()) return 0;
    pfds.clear();
    try {
      pfds.push_back(pollfd{input_done ? -1 : 0, POLLIN, 0});
      for (const CompressJob& j : jobs) pfds.push_back(pollfd{j.pipe, POLLIN, 0});
    } catch (const std::bad_alloc&) {
    }
    int r = ::poll(pfds.data(), pfds.size(), timeout);
    if (r < 0 && errno != EINTR) {
      log::msg(log::Level::Error, "log writer: poll: %s", std::strerror(errno));
      return 1;
    }
    // Finished compressions: read why (if it failed), reap, and let the
    // file rotate again.
    for (std::size_t i = 1; r > 0 && i < pfds.size(); ++i) {
      if (pfds[i].revents == 0) continue;
      CompressJob& j = jobs[i - 1];
      const std::size_t have = std::strlen(j.why);
      ssize_t n = ::read(j.pipe, j.why + have, sizeof j.why - 1 - have);
      if (n > 0) continue;  // the end comes next
      ::close(j.pipe);
      j.pipe = -1;
      int status = 0;
      while (::waitpid(j.pid, &status, 0) < 0 && errno == EINTR) {
      }
      auto it = files.find(j.service);
      if (it != files.end()) {
        it->second.file().compress_finished();
        if ((!WIFEXITED(status) || WEXITSTATUS(status) != 0) && !compress_failure_reported) {
          // Once per writer: a full disk would say the same for every file.
          compress_failure_reported = true;
          log::msg(log::Level::Error, "log writer: compressing %s.1 failed (%s); it is left uncompressed",
                   it->second.file().path().c_str(), j.why[0] != '\0' ? j.why : "killed");
        }
      }
    }
    std::erase_if(jobs, [](const CompressJob& j) { return j.pipe < 0; });

    if (!input_done && r > 0 && (pfds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      ssize_t n = ::recv(0, g_record, sizeof g_record, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
      if (n == 0) {
        input_done = true;  // PID 1 closed its end: everything was written
        for (auto& [id, sf] : files) sf.close();
        continue;
      }
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        log::msg(log::Level::Error, "log writer: reading records: %s", std::strerror(errno));
        return 1;
      }
      LogRecord record;
      const char* problem = static_cast<std::size_t>(n) > log_record::kMaxRecord
                                ? "longer than any record"
                                : log_record::decode(g_record, static_cast<std::size_t>(n), record);
      if (problem != nullptr) {
        // Skipped whole: the next message is the next record.
        if (malformed++ == 0) log::msg(log::Level::Error, "log writer: a malformed record skipped (%s)", problem);
      } else {
        try {
          ServiceFile& file = files[record.service];
          (void)file.apply(record);
          start_compression(record.service, file, jobs);
          if (record.kind == LogRecord::Kind::Close) {
            // Kept while its compression runs: the file must not rotate
            // under the child (log_file.hpp).
            if (file.file().compressing()) {
              file.close();
            } else {
              files.erase(record.service);
            }
          }
        } catch (const std::bad_alloc&) {
          log::msg(log::Level::Error, "log writer: out of memory: a line for %.*s dropped",
                   static_cast<int>(record.path.size()), record.path.data());
        }
      }
      // Only now off the socket (see log_writer.hpp). A 1-byte receive takes
      // the whole message.
      while (::recv(0, g_record, 1, MSG_TRUNC) < 0 && errno == EINTR) {
      }
    }
    // Age rotations that are due, and the compressions they call for.
    const std::int64_t now = realtime_ms();
    for (auto& [id, sf] : files) {
      if (sf.file().age_deadline() >= 0 && sf.file().age_deadline() <= now) {
        if (Status st = sf.file().rotate_if_old(now); !st) {
          log::msg(log::Level::Error, "log writer: rotating %s by age: %s: %s", sf.file().path().c_str(),
                   st.error().context, st.error().message());
        }
      }
      try {
        start_compression(id, sf, jobs);
      } catch (const std::bad_alloc&) {
      }
    }
  }
}

}  // namespace keel::service
