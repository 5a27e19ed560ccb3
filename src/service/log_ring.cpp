// log_ring.cpp — see log_ring.hpp. The copy helpers split every access in
// at most two memcpy calls at the wrap point, so a record costs the same
// wherever it lands.
#include "service/log_ring.hpp"

#include <algorithm>
#include <cstring>

namespace keel::service {

void LogRing::put(std::size_t pos, const char* src, std::size_t n) noexcept {
  std::size_t first = std::min(n, capacity_ - pos);
  std::memcpy(buf_.get() + pos, src, first);
  if (n > first) std::memcpy(buf_.get(), src + first, n - first);
}

void LogRing::get(std::size_t pos, char* dst, std::size_t n) const noexcept {
  std::size_t first = std::min(n, capacity_ - pos);
  std::memcpy(dst, buf_.get() + pos, first);
  if (n > first) std::memcpy(dst + first, buf_.get(), n - first);
}

std::size_t LogRing::record_size_at(std::size_t pos) const noexcept {
  unsigned char header[kHeader];
  get(pos, reinterpret_cast<char*>(header), kHeader);
  return kHeader + (static_cast<std::size_t>(header[0]) | static_cast<std::size_t>(header[1]) << 8U);
}

void LogRing::evict_oldest() noexcept {
  std::size_t size = record_size_at(head_);
  head_ = (head_ + size) % capacity_;
  used_ -= size;
  --records_;
  if (records_ == 0) head_ = 0;
}

void LogRing::push(std::string_view record) noexcept {
  if (capacity_ <= kHeader) return;
  std::size_t len = std::min({record.size(), kMaxRecord, capacity_ - kHeader});
  while (used_ + kHeader + len > capacity_) evict_oldest();
  std::size_t pos = (head_ + used_) % capacity_;
  const char header[kHeader] = {static_cast<char>(len & 0xffU), static_cast<char>((len >> 8U) & 0xffU)};
  put(pos, header, kHeader);
  put((pos + kHeader) % capacity_, record.data(), len);
  used_ += kHeader + len;
  ++records_;
}

void LogRing::tail(std::size_t n, std::string& out) const {
  if (records_ == 0) return;
  std::size_t skip = (n == 0 || n >= records_) ? 0 : records_ - n;
  std::size_t pos = head_;
  for (std::size_t i = 0; i < skip; ++i) pos = (pos + record_size_at(pos)) % capacity_;
  for (std::size_t i = skip; i < records_; ++i) {
    std::size_t size = record_size_at(pos);
    std::size_t at = out.size();
    out.resize(at + size - kHeader + 1);
    get((pos + kHeader) % capacity_, out.data() + at, size - kHeader);
    out.back() = '\n';
    pos = (pos + size) % capacity_;
  }
}

void LogRing::clear() noexcept {
  head_ = 0;
  used_ = 0;
  records_ = 0;
}

void LogRing::resize(std::size_t capacity) {
  if (capacity == capacity_) return;
  PageBuffer fresh(capacity);  // the only throw
  // Keep the newest records: drop the oldest until the rest fit.
  std::size_t pos = head_;
  std::size_t used = used_;
  std::size_t records = records_;
  while (used > capacity) {
    std::size_t size = record_size_at(pos);
    pos = (pos + size) % capacity_;
    used -= size;
    --records;
  }
  if (used > 0) get(pos, fresh.get(), used);
  buf_ = std::move(fresh);
  capacity_ = capacity;
  head_ = 0;
  used_ = used;
  records_ = records;
}

}  // namespace keel::service
