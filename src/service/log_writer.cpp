// log_writer.cpp — see log_writer.hpp. This is not PID 1: it may allocate
// (one ServiceFile per service that has lines), and it waits in recv().
#include "service/log_writer.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <new>
#include <unordered_map>

#include "core/log.hpp"
#include "service/log_record.hpp"
#include "service/log_sink.hpp"

namespace keel::service {
namespace {

// One record and a byte more: a longer message is malformed (MSG_TRUNC
// reports its real length).
char g_record[log_record::kMaxRecord + 1];

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
  std::uint64_t malformed = 0;
  for (;;) {
    ssize_t n = ::recv(0, g_record, sizeof g_record, MSG_PEEK | MSG_TRUNC);
    if (n == 0) return 0;  // PID 1 closed its end: everything was written
    if (n < 0) {
      if (errno == EINTR) continue;
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
        if (record.kind == LogRecord::Kind::Close) files.erase(record.service);
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
}

}  // namespace keel::service
