// log_sink.hpp — where a service's stamped lines go to reach its log file.
//
// ServiceLog (in PID 1) hands each line meant for the file to a LogSink as
// a LogRecord (log_record.hpp). The supervisor's sink is the log-writer
// link (log_writer_link.hpp): the line is queued for the writer process
// and PID 1 never touches the file. A ServiceLog given no sink writes its
// file itself through a ServiceFile: unit tests of the capture use that.
//
// ServiceFile is one service's file as its writer holds it: the LogFile
// (rotation, no links followed: log_file.hpp) plus the accounting of lines
// that did not reach it. It is used by the writer process for every
// service, and by a sink-less ServiceLog. Two kinds of loss are written
// into the file itself, in place, so the file stays in order with every
// gap counted:
//   - lines PID 1 dropped before they reached the writer (its queue was
//     full): the record after them carries the count, and the file gets
//     "STAMP keel [keel: N lines lost: log writer not keeping up]";
//   - lines the file refused (ENOSPC, EIO, a failed rotation): counted
//     while it fails, and "STAMP keel [keel: N lines dropped from this file]"
//     once it works again. The first failure is logged, and the recovery.
#pragma once

#include <cstdint>
#include <string_view>

#include "service/log_file.hpp"
#include "service/log_record.hpp"

namespace keel::service {

class LogSink {
 public:
  // A Line record: true when it will reach the writer (queued or sent),
  // false when it was dropped (the caller counts it and reports the count
  // with its next record). A Close record: best effort, same answer.
  virtual bool deliver(const LogRecord& record) noexcept = 0;

 protected:
  ~LogSink() = default;
};

class ServiceFile {
 public:
  // Apply one record: a Line is written (after any marker it calls for),
  // a Close writes its marker and closes the file. Returns whether a Line
  // reached the file. Changing the path allocates (the new path is kept);
  // a std::bad_alloc then is caught and the line dropped.
  bool apply(const LogRecord& record) noexcept;

  // Lines the file refused since it was configured (for the writer's log).
  [[nodiscard]] std::uint64_t failed_lines() const noexcept { return failed_total_; }
  void close() noexcept { file_.close(); }
  // The file itself, for the writer's timer and compression jobs.
  [[nodiscard]] LogFile& file() noexcept { return file_; }

 private:
  bool configure(const LogRecord& record) noexcept;
  bool write(std::string_view stamp, std::string_view line) noexcept;

  LogFile file_;
  bool failing_ = false;
  std::uint64_t file_dropped_ = 0;  // lines the file lost since it last worked
  std::uint64_t failed_total_ = 0;
};

}  // namespace keel::service
