// event_record.hpp — keel's bounded record of what happened, as JSON lines.
//
// Every state change keel makes or sees (a service starting, ready,
// exiting, backing off; a reload; the boot's own steps; the shutdown's) is
// one event: one JSON object on one line, the stable interface documented
// in docs/events.md (`keelctl events`, `keelctl analyze`, `keel-image boot
// --chart`). An event is formatted once, where it happens, into a fixed
// buffer of limits::kEventLineMax bytes, and that line is what is kept,
// streamed to followers and copied to the console: no allocation per event,
// so events are recorded from handlers (reaping, timers, notify).
//
// What is kept, bounded:
//   - the boot area (limits::kEventBootBytes): every event from keel-start
//     up to the boot's end (close_boot(): the start target reached or
//     failed), kept for good, so an analysis after a long run still finds
//     the boot. If the boot has more events than fit, the rest go to the
//     ring;
//   - the ring (limits::kEventRingBytes): every later event, the oldest
//     forgotten first.
// Both are LogRings (mmap'd pages: free until written). replay() gives the
// boot area then the ring, oldest first. Events carry a sequence number
// from 1; a gap in it is events forgotten by the ring (or, for a follower,
// lost because it did not read: the control server drops what a
// connection's buffer does not take, and never waits).
//
// Building an event: begin(), then fields in the documented order (num,
// str, list_begin/item/list_end), then commit(). The record is a single
// builder: keel is single-threaded and nothing commits an event while
// another is being built (followers and the console take the line and
// return). A field that does not fit in the line is left out and the event
// ends with "cut":true.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/limits.hpp"
#include "service/log_ring.hpp"

namespace keel::service {

// Told about each event as it is committed (`keelctl events`).
class EventFollower {
 public:
  // One JSON line with its '\n'. Must not block; it may remove itself.
  virtual void on_event(std::string_view line) noexcept = 0;

 protected:
  ~EventFollower() = default;
};

class EventRecord {
 public:
  // Allocate the boot area and the ring (pages from mmap, untouched until
  // used). May throw std::bad_alloc; without it events are still numbered,
  // streamed and copied to the console, only not kept.
  void init(std::size_t boot_bytes = limits::kEventBootBytes, std::size_t ring_bytes = limits::kEventRingBytes);

  // When keel's main() started (CLOCK_MONOTONIC and CLOCK_REALTIME, ns):
  // the keel-start event's time.
  void set_start(std::int64_t mono_ns, std::int64_t real_ns) noexcept {
    start_mono_ns_ = mono_ns;
    start_real_ns_ = real_ns;
  }
  [[nodiscard]] std::int64_t start_mono_ns() const noexcept { return start_mono_ns_; }
  [[nodiscard]] std::int64_t start_real_ns() const noexcept { return start_real_ns_; }

  // Copy every event to keel's console as "keel-event: {json}"
  // (kernel command line keel.events=console).
  void set_console(bool on) noexcept { console_ = on; }

  // Start an event named `event` (a literal), now or at the given times;
  // `service` empty: a keel event (no "service" key).
  EventRecord& begin(const char* event, std::string_view service = {}) noexcept;
  EventRecord& begin_at(const char* event, std::string_view service, std::int64_t mono_ns,
                        std::int64_t real_ns) noexcept;
  EventRecord& num(const char* key, long long value) noexcept;
  EventRecord& str(const char* key, std::string_view value) noexcept;
  EventRecord& list_begin(const char* key) noexcept;
  EventRecord& item(std::string_view value) noexcept;
  EventRecord& list_end() noexcept;
  // Close the object, keep it, hand it to the followers and the console.
  void commit() noexcept;

  // The boot is over: later events go to the ring. Idempotent.
  void close_boot() noexcept { boot_closed_ = true; }
  [[nodiscard]] bool boot_open() const noexcept { return !boot_closed_; }

  // Every kept event, oldest first, each with its '\n', appended to `out`.
  // Allocates: for control requests, not handlers.
  void replay(std::string& out) const;

  // At most limits::kEventFollowers; false when full or already there.
  [[nodiscard]] bool add_follower(EventFollower& follower) noexcept;
  void remove_follower(EventFollower& follower) noexcept;

  // The last event's number (0: none yet).
  [[nodiscard]] std::uint64_t last_seq() const noexcept { return seq_; }

 private:
  // Append raw bytes, keeping `reserve_` bytes for the closing; false
  // (and nothing appended) when they do not fit.
  bool put(std::string_view bytes) noexcept;
  bool put_string(std::string_view value) noexcept;  // quoted, escaped

  LogRing boot_;
  LogRing ring_;
  // Every member starts as zero, so keel's one record is in .bss (no
  // bytes in the binary, no page until written).
  bool boot_closed_ = false;
  bool console_ = false;
  std::uint64_t seq_ = 0;
  std::int64_t start_mono_ns_ = 0;
  std::int64_t start_real_ns_ = 0;

  char line_[limits::kEventLineMax] = {};
  std::size_t len_ = 0;
  bool cut_ = false;
  bool list_first_ = false;
  bool in_list_ = false;

  std::array<EventFollower*, limits::kEventFollowers> followers_{};
};

// keel's one record (the system role's PID 1).
[[nodiscard]] EventRecord& event_record() noexcept;

// "2026-12-06T19:00:00.123456Z" (UTC, µs) for CLOCK_REALTIME ns; `out`
// holds at least 28 bytes. Returns the length.
std::size_t format_event_time(std::int64_t real_ns, char* out, std::size_t size) noexcept;

[[nodiscard]] std::int64_t realtime_ns() noexcept;

}  // namespace keel::service
