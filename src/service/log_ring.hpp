// log_ring.hpp — the in-memory tail of one service's output.
//
// A byte-bounded ring of records, allocated once (at open or on a reload)
// and never per line: each record is a 2-byte length and the record's bytes
// ("TIMESTAMP LINE", no newline), stored contiguously modulo the capacity so
// a record may wrap around the end. When a new record does not fit, the
// oldest records are overwritten: the ring is a tail, so losing the oldest
// lines is its purpose and is not counted as a drop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/page_buffer.hpp"

namespace keel::service {

class LogRing {
 public:
  // Largest record the length header can describe.
  static constexpr std::size_t kMaxRecord = 0xffff;
  static constexpr std::size_t kHeader = 2;

  // Give the ring `capacity` bytes (0: no ring, nothing is kept), keeping
  // the newest records that fit. May throw std::bad_alloc; on a throw the
  // ring is unchanged.
  void resize(std::size_t capacity);

  // Store one record, evicting the oldest ones to make room. A record larger
  // than the ring (or kMaxRecord) is cut to fit. Never allocates.
  void push(std::string_view record) noexcept;

  // Append the last `n` records (n == 0: all), oldest first, each followed
  // by '\n', to `out`. Allocates (it builds a reply): not for handlers.
  void tail(std::size_t n, std::string& out) const;

  void clear() noexcept;

  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::size_t used_bytes() const noexcept { return used_; }
  [[nodiscard]] std::size_t records() const noexcept { return records_; }

 private:
  void put(std::size_t pos, const char* src, std::size_t n) noexcept;
  void get(std::size_t pos, char* dst, std::size_t n) const noexcept;
  [[nodiscard]] std::size_t record_size_at(std::size_t pos) const noexcept;  // header included
  void evict_oldest() noexcept;

  PageBuffer buf_;  // untouched pages cost nothing: a quiet service's ring is free
  std::size_t capacity_ = 0;
  std::size_t head_ = 0;     // offset of the oldest record
  std::size_t used_ = 0;     // bytes from head_, headers included
  std::size_t records_ = 0;
};

}  // namespace keel::service
