// log_queue.hpp — PID 1's bounded queue of records for the log writer.
//
// When the writer's socket is full (its filesystem is slow or frozen, or
// the writer is restarting), PID 1 keeps records here instead of waiting:
// a byte ring of limits::kLogWriterQueueBytes holding whole records, each
// as a 4-byte length and its bytes (a record may wrap around the end).
// push() takes a record whole or not at all, so a full queue drops whole
// lines, which the caller counts; flush() sends from the oldest, one record
// per send, and removes a record only once the send took it. The sender is
// a function so tests can refuse, accept or fail sends at will.
//
// A send is all or nothing on a SOCK_SEQPACKET socket: a record is never
// half-sent. A sender that reports a partial send anyway (some other kind
// of fd) is treated as a failure of that record, never as sent, so the
// queue never forgets the unsent tail of a record it believes delivered.
//
// The buffer is pages from mmap (core/page_buffer.hpp), allocated at
// reserve(); untouched pages cost nothing, so an idle queue is free.
// Nothing else allocates.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "core/page_buffer.hpp"

namespace keel::service {

class RecordQueue {
 public:
  // Send one record given as up to two pieces. Returns the bytes sent,
  // or -errno (-EAGAIN: no room now; try again when writable).
  using SendFn = ssize_t (*)(void* context, const iovec* pieces, int count) noexcept;

  struct FlushResult {
    std::size_t sent = 0;    // records sent
    std::size_t failed = 0;  // records a send refused for good (not EAGAIN): dropped
    int last_error = 0;      // the errno of the last failure
    bool blocked = false;    // stopped at EAGAIN with records left
  };

  RecordQueue() noexcept = default;

  // The ring, `capacity` bytes. May throw std::bad_alloc. Once only.
  void reserve(std::size_t capacity);
  [[nodiscard]] bool reserved() const noexcept { return static_cast<bool>(buf_); }

  // Append one whole record; false (and nothing appended) when it does not
  // fit, leaving `keep_free` bytes unused, or reserve() was never called.
  [[nodiscard]] bool push(const char* record, std::size_t len, std::size_t keep_free = 0) noexcept;

  FlushResult flush(SendFn send, void* context) noexcept;

  [[nodiscard]] bool empty() const noexcept { return records_ == 0; }
  [[nodiscard]] std::size_t records() const noexcept { return records_; }
  [[nodiscard]] std::size_t bytes() const noexcept { return used_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return buf_.size(); }

 private:
  void put(const void* src, std::size_t len) noexcept;  // at tail_, wrapping
  void get(std::size_t at, void* dst, std::size_t len) const noexcept;
  void pop_front(std::size_t record_len) noexcept;

  PageBuffer buf_;
  std::size_t head_ = 0;  // the oldest record's length prefix
  std::size_t tail_ = 0;  // where the next record goes
  std::size_t used_ = 0;
  std::size_t records_ = 0;
};

}  // namespace keel::service
