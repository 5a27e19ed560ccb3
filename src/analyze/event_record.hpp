// event_record.hpp — reading keel's event stream (interface I2) back in.
//
// keel writes each state change as one flat JSON object on one line
// (`keelctl events --json`, the Events verb, `keel-event: {json}` on a
// machine's console; docs/keelctl.md). The analysis tools (keelctl analyze,
// keel-image boot --chart) read those lines here. The reader is small and
// strict about shape but forgiving about lines: a line that is not one
// object of strings, numbers, booleans, null and arrays of those is skipped
// and counted, never fatal, since the record can be cut (a bounded ring, a
// console that interleaves kernel messages) and its strings are chosen by
// services (hostile: kept as bytes here, escaped by whoever shows them).
// Nothing here touches PID 1: it runs in keelctl and keel-image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::analyze {

// One value of an event's key. Nested objects (none in I2 today) are
// accepted and ignored so that a later keel can add them.
struct Field {
  enum class Kind : std::uint8_t { String, Number, Bool, Null, Array, Other };
  std::string key;
  Kind kind = Kind::Null;
  std::string text;                // String; Number: its digits as written
  std::int64_t number = 0;         // Number (integers; a fraction is cut)
  bool boolean = false;            // Bool
  std::vector<std::string> items;  // Array: its string items
};

struct Event {
  std::uint64_t seq = 0;
  std::int64_t mono_us = -1;
  std::string time;     // UTC, as keel wrote it
  std::string name;     // "event": "starting", "keel-start", ...
  std::string service;  // empty for keel's own events
  std::vector<Field> fields;  // every key, the ones above included

  [[nodiscard]] const Field* find(std::string_view key) const noexcept;
  // The key's string, or "" when absent or not a string.
  [[nodiscard]] std::string_view string(std::string_view key) const noexcept;
  // The key's integer, or nullopt when absent or not a number.
  [[nodiscard]] std::optional<std::int64_t> integer(std::string_view key) const noexcept;
  // The key's array of strings (empty when absent).
  [[nodiscard]] std::vector<std::string> strings(std::string_view key) const;
};

struct EventRecord {
  std::vector<Event> events;  // in the order read
  std::size_t malformed = 0;  // lines skipped: not an I2 object
  std::size_t lost = 0;       // events missing by seq (gaps: keel's record is bounded)
  std::size_t truncated = 0;  // lines past kMaxEvents, not read
};

// Bounds, so a huge or hostile input costs bounded memory.
inline constexpr std::size_t kMaxLineBytes = std::size_t{64} * 1024;  // an I2 line is < 1 KiB; reload lists can be long
inline constexpr std::size_t kMaxEvents = 1'000'000;     // ~200 MB of text at most
inline constexpr int kMaxNesting = 16;                   // skipped nested values
// Numbers saturate here (2^53 µs is 285 years of uptime): what is computed
// from a record's times (sums, differences, axis steps) then cannot
// overflow, whatever the record says.
inline constexpr std::int64_t kMaxNumber = std::int64_t{1} << 53;

// One line (without its newline; a trailing '\r' is ignored) -> an event,
// or nullopt when it is not a JSON object with "event" a string and
// "mono_us" an integer.
[[nodiscard]] std::optional<Event> parse_event_line(std::string_view line);

// Whole text: one event per line; empty lines are ignored, others that do
// not parse are counted in `malformed`. Gaps in seq are counted in `lost`.
[[nodiscard]] EventRecord parse_event_lines(std::string_view text);

// Appends lines to a record incrementally (keelctl reads frames, keel-image
// the console). Keeps the partial last line until more text or finish().
class EventReader {
 public:
  void feed(std::string_view text);
  void finish();
  [[nodiscard]] EventRecord& record() noexcept { return record_; }

 private:
  void line(std::string_view text);
  EventRecord record_;
  std::string partial_;
  bool partial_too_long_ = false;
  std::uint64_t last_seq_ = 0;
};

// The lines `keel-event: {json}` in a console's output: keel writes them on
// a machine booted with keel.events=console. A line may carry other text
// before the marker (kernel messages interleave on a serial console).
class ConsoleEventCollector {
 public:
  static constexpr std::string_view kMarker = "keel-event: ";
  void feed(std::string_view output);  // any chunk: lines completed across calls
  void finish();
  // The JSON lines found, each with its '\n', in order.
  [[nodiscard]] const std::string& lines() const noexcept { return lines_; }
  [[nodiscard]] std::size_t count() const noexcept { return count_; }

 private:
  void line(std::string_view text);
  std::string partial_;
  std::string lines_;
  std::size_t count_ = 0;
};

}  // namespace keel::analyze
