// log_query.hpp — `keelctl log`'s filters and its merge of files and ring.
//
// All on the client side (keel's protocol is unchanged): keelctl reads the
// service's log files itself, as the user who runs it, then asks keel for
// the ring, and this file turns both into the lines to print.
//
// A line follows interface I1: `STAMP SP STREAM SP TEXT`, STAMP
// "2026-12-06T10:00:00.123Z" (UTC, ms), STREAM stdout, stderr or keel.
// A line written before streams existed (`STAMP SP TEXT`) is read as
// stdout. A line without a stamp (a file someone else wrote into) is kept
// with the stamp of the line before it, so it is never dropped silently
// by a time filter it cannot be judged by, nor shown out of order.
//
// Times (--since, --until), all UTC like the stamps:
//   2026-12-06T10:00:00Z, 2026-12-06 10:00, 2026-12-06T10:00:00.250,
//   2026-12-06 (midnight), with an optional Z or +HH:MM / -HH:MM offset;
//   -30s, -10m, -2h, -1d (that long before now); now, today (00:00 UTC),
//   yesterday (00:00 UTC the day before).
// --since is inclusive, --until exclusive.
//
// The merge (merge_history): the ring holds the newest lines, the files
// every line the writer got, so the two overlap at the ring's start, and
// the files may lag the ring (the writer is asynchronous) or miss lines
// (a full disk). Rule: the ring is taken whole; from the files, the lines
// stamped before the ring's first line, and of those stamped the same
// millisecond as it, all but as many as the ring has with that stamp (the
// ring kept the newest of them). Lines stamped after it are in the ring.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::control::log_query {

enum class Stream : std::uint8_t { Stdout, Stderr, Keel };

struct Line {
  std::int64_t ms = 0;      // the stamp, ms since the epoch
  bool stamped = false;     // false: no stamp of its own
  Stream stream = Stream::Stdout;
  std::string_view text;    // after STAMP and STREAM
};

// One line, without its '\n'.
[[nodiscard]] Line parse_line(std::string_view line);

// "2026-12-06T10:00:00.123Z" -> ms since the epoch.
[[nodiscard]] std::optional<std::int64_t> parse_stamp(std::string_view stamp);

// A --since/--until value -> ms since the epoch; `now_ms` for the relative
// forms. nullopt when it is none of the forms above.
[[nodiscard]] std::optional<std::int64_t> parse_time(std::string_view text, std::int64_t now_ms);

// The current time, ms since the epoch (CLOCK_REALTIME).
[[nodiscard]] std::int64_t now_ms();

struct Filter {
  std::optional<std::int64_t> since;  // inclusive
  std::optional<std::int64_t> until;  // exclusive
  std::string match;                  // POSIX extended regex on TEXT; "" none
  bool only_stdout = false;
  bool only_stderr = false;

  [[nodiscard]] bool active() const { return since || until || !match.empty() || only_stdout || only_stderr; }
};

// A compiled Filter. Throws std::runtime_error for a bad regex (with
// regerror's text).
class Matcher {
 public:
  explicit Matcher(const Filter& filter);
  ~Matcher();
  Matcher(const Matcher&) = delete;
  Matcher& operator=(const Matcher&) = delete;
  [[nodiscard]] bool keep(const Line& line) const;

 private:
  Filter filter_;
  void* regex_ = nullptr;  // regex_t
};

// Text -> lines without their '\n' (a last line without one is kept).
[[nodiscard]] std::vector<std::string> split_lines(std::string_view text);

// The files' lines (oldest first) and the ring's -> the history, oldest
// first, without the overlap (rule above).
[[nodiscard]] std::vector<std::string> merge_history(std::vector<std::string> file_lines,
                                                     const std::vector<std::string>& ring_lines);

// The lines `matcher` keeps, then the last `last_n` of them (0: all).
// Lines without a stamp take the stamp of the line before them.
[[nodiscard]] std::vector<std::string> select(const std::vector<std::string>& lines, const Matcher& matcher,
                                              std::uint32_t last_n);

// The files of a service's log, oldest first: FILE.N ... FILE.1 (each
// as FILE.N, FILE.N.gz or FILE.N.zst, whichever exist), then FILE.
// keel writes no .zst file; one that another tool wrote is listed, for
// read_log_files() to name it as skipped.
// Only names that exist (lstat) are listed.
[[nodiscard]] std::vector<std::string> log_files(const std::string& path);

// The lines of every file of `path` (log_files), oldest first, each file
// decompressed by its suffix (.gz). A file that cannot be read, and a
// .zst file (keelctl has no zstd decompressor), is skipped and a message
// naming it is appended to `warnings`.
[[nodiscard]] std::vector<std::string> read_log_files(const std::string& path, std::vector<std::string>& warnings);

// "log_file" from `keelctl status SERVICE --json`'s answer ("" when absent).
[[nodiscard]] std::string log_file_from_status_json(std::string_view json);

// Feeds `-f` data (chunks that end at line ends) through a filter, and
// skips the lines a history already printed: the follow request resends
// the ring, and lines stamped before the history's last stamp, and the
// first `skip_at_last` of those stamped the same, were printed already.
class FollowFilter {
 public:
  FollowFilter(const Matcher& matcher, std::optional<std::int64_t> last_ms, std::size_t skip_at_last)
      : matcher_(matcher), last_ms_(last_ms), skip_at_last_(skip_at_last) {}
  // The text to print for this chunk.
  [[nodiscard]] std::string feed(std::string_view chunk);

 private:
  const Matcher& matcher_;
  std::optional<std::int64_t> last_ms_;
  std::size_t skip_at_last_;
  bool past_history_ = false;
  std::int64_t carry_ms_ = 0;  // the last stamp seen, for lines without one
  std::string partial_;
};

}  // namespace keel::control::log_query
