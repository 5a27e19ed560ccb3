// log_record.hpp — what PID 1 sends its log writer: one record per message.
//
// Service log files are written by a separate process (log_writer.hpp),
// so a slow, full or frozen filesystem stalls that process and never PID 1
// (ARCHITECTURE.md, "Log files"). PID 1 sends it records over a
// SOCK_SEQPACKET socket pair whose both ends it holds (log_writer_link.hpp):
// the kernel keeps each record whole (a send is all or nothing, a receive
// is one record), so no record is ever torn or half-sent, and the writer
// never has to find where one ends.
//
// A record is self-contained: it carries the file's settings (path,
// rotation) with every line, so a writer that was restarted needs no
// earlier record to act on the next one, and a reload's new settings apply
// from exactly the first line captured after it. The cost is the path's
// bytes on each line; the socket and the queue are sized for it.
//
//   header (48 bytes, host byte order: both ends are the same binary)
//   path   (path_len bytes, absolute, no NUL)
//   line   (line_len bytes: "STAMP STREAM TEXT\n", one line, as the ring shows it)
//
// kind Line: write `line` to the file, after a marker saying `dropped`
// lines were lost before it (PID 1 could not queue them). kind Close: the
// service's pipe ended; write a marker if `dropped` > 0, then close the
// file (it costs the writer no fd until the next line).
//
// decode() checks everything before the writer acts on a record: magic,
// kind, exact length, bounds of every field, an absolute path without NUL,
// a Line that is exactly one stamped line. It is PID 1's own socket, but a
// bug must not make the writer open a truncated path or write garbage.
#pragma once

#include <climits>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string_view>

#include "core/limits.hpp"
#include "service/log_compress.hpp"

namespace keel::service {

struct LogRecord {
  enum class Kind : std::uint16_t { Line = 1, Close = 2 };
  Kind kind = Kind::Line;
  std::uint32_t service = 0;    // a number PID 1 gives each ServiceLog
  std::uint64_t dropped = 0;    // lines lost before this one
  std::uint64_t max_size = 0;   // rotation: [log] max_size
  std::int32_t keep = 0;        // rotation: [log] keep
  std::int64_t max_age_ms = 0;  // rotation by age: [log] max_age (0: size only)
  Compression compress = Compression::None;  // rotated files: [log] compress
  std::string_view path;        // [log] file
  std::string_view line;        // Line: "STAMP STREAM TEXT\n"; Close: empty
};

namespace log_record {

inline constexpr std::uint32_t kMagic = 0x4b4c4731;  // "KLG1"
inline constexpr std::size_t kHeaderBytes = 48;
inline constexpr std::size_t kMaxPath = PATH_MAX - 1;
// The stream word of a line: "stdout", "stderr" or "keel" (keel's own
// markers), docs/services.md "Log lines".
inline constexpr std::size_t kStreamWord = 6;
// "STAMP STREAM " + the longest line + " [keel: line cut]" + "\n".
inline constexpr std::size_t kMaxLine =
    limits::kServiceLogStamp + 1 + kStreamWord + 1 + limits::kServiceLogLineMax + 17 + 1;
inline constexpr std::size_t kMaxRecord = kHeaderBytes + kMaxPath + kMaxLine;
// Bounds a record may claim (config.cpp allows far less; a writer must not
// trust it either way).
inline constexpr std::int32_t kMaxKeep = 1000;
inline constexpr std::int64_t kMaxAgeMs = limits::kMaxDurationSeconds * 1000;

// The record in `out` (at least kMaxRecord bytes); its length, or 0 when a
// field is out of bounds (it is then not sent).
[[nodiscard]] std::size_t encode(const LogRecord& record, char* out, std::size_t out_size) noexcept;

// One received message -> `out` (views into `data`). nullptr when valid,
// else why not (a static string).
[[nodiscard]] const char* decode(const char* data, std::size_t len, LogRecord& out) noexcept;

// ISO-8601 UTC with milliseconds, now ("2026-11-26T12:00:00.123Z"): the
// time keel read a line.
void make_stamp(char (&out)[limits::kServiceLogStamp + 1]) noexcept;

// Seconds since the epoch -> UTC calendar fields (year, month, day, hour,
// minute, second: what a stamp shows; the other fields are left as given).
// Not glibc's gmtime_r: that one runs tzset, which reads TZ and
// /etc/localtime in PID 1 (file I/O in the loop) and links sscanf and the
// time-zone file parser into keel (about 70 KB, resident in a guest).
void utc_fields(std::int64_t seconds, std::tm& out) noexcept;

// "2026-11-26T12:00:00.123Z" -> ms since the epoch; false when `stamp`
// is not exactly such a stamp.
bool stamp_ms(std::string_view stamp, std::int64_t& out) noexcept;

// Days since 1970-01-01 of a proleptic Gregorian date (month 1-12).
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day) noexcept;

// "STAMP keel [keel: N lines lost: log writer not keeping up]\n" into `out`;
// its length (0 when it does not fit). `stamp` is kServiceLogStamp chars.
std::size_t drop_marker(std::string_view stamp, std::uint64_t dropped, char* out, std::size_t out_size) noexcept;

}  // namespace log_record
}  // namespace keel::service
