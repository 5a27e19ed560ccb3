// log_queue.cpp — see log_queue.hpp.
#include "service/log_queue.hpp"

#include <cerrno>
#include <cstring>

namespace keel::service {

void RecordQueue::reserve(std::size_t capacity) {
  if (buf_) return;
  buf_ = PageBuffer(capacity);
}

void RecordQueue::put(const void* src, std::size_t len) noexcept {
  const auto* p = static_cast<const char*>(src);
  const std::size_t cap = buf_.size();
  const std::size_t first = len < cap - tail_ ? len : cap - tail_;
  std::memcpy(buf_.get() + tail_, p, first);
  std::memcpy(buf_.get(), p + first, len - first);
  tail_ = (tail_ + len) % cap;
  used_ += len;
}

void RecordQueue::get(std::size_t at, void* dst, std::size_t len) const noexcept {
  auto* p = static_cast<char*>(dst);
  const std::size_t cap = buf_.size();
  const std::size_t first = len < cap - at ? len : cap - at;
  std::memcpy(p, buf_.get() + at, first);
  std::memcpy(p + first, buf_.get(), len - first);
}

bool RecordQueue::push(const char* record, std::size_t len, std::size_t keep_free) noexcept {
  const std::size_t need = sizeof(std::uint32_t) + len + keep_free;
  if (!buf_ || len == 0 || len > UINT32_MAX || need > buf_.size() - used_) return false;
  const auto prefix = static_cast<std::uint32_t>(len);
  put(&prefix, sizeof prefix);
  put(record, len);
  ++records_;
  return true;
}

void RecordQueue::pop_front(std::size_t record_len) noexcept {
  const std::size_t total = sizeof(std::uint32_t) + record_len;
  head_ = (head_ + total) % buf_.size();
  used_ -= total;
  --records_;
  if (records_ == 0) head_ = tail_ = 0;  // keep records contiguous when possible
}

RecordQueue::FlushResult RecordQueue::flush(SendFn send, void* context) noexcept {
  FlushResult result;
  const std::size_t cap = buf_.size();
  while (records_ > 0) {
    std::uint32_t len = 0;
    get(head_, &len, sizeof len);
    const std::size_t at = (head_ + sizeof len) % cap;
    iovec pieces[2];
    int count = 1;
    pieces[0].iov_base = buf_.get() + at;
    pieces[0].iov_len = len < cap - at ? len : cap - at;
    if (pieces[0].iov_len < len) {
      pieces[1].iov_base = buf_.get();
      pieces[1].iov_len = len - pieces[0].iov_len;
      count = 2;
    }
    ssize_t n = send(context, pieces, count);
    if (n == -EINTR) continue;
    if (n == -EAGAIN || n == -EWOULDBLOCK || n == -ENOBUFS) {
      result.blocked = true;
      return result;
    }
    if (n == static_cast<ssize_t>(len)) {
      ++result.sent;
    } else {
      // An error that retrying will not cure (or a partial send, which a
      // seqpacket socket never makes): drop this record, keep the rest.
      ++result.failed;
      result.last_error = n < 0 ? static_cast<int>(-n) : EPROTO;
    }
    pop_front(len);
  }
  return result;
}

}  // namespace keel::service
