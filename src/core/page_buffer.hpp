// page_buffer.hpp — a buffer of whole pages straight from mmap.
//
// For buffers that are big, long-lived and mostly never written: a
// service's log ring and line buffer exist for every service, but a quiet
// service never writes to them. From malloc, each would touch a page or two
// (chunk headers, the next chunk) for nothing — about 8 KiB per service,
// most of what 100 services cost keel. Anonymous pages from mmap cost no
// memory until they are written.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <new>
#include <utility>

namespace keel {

class PageBuffer {
 public:
  PageBuffer() noexcept = default;
  // Throws std::bad_alloc when the kernel refuses (an edge: open, reload).
  explicit PageBuffer(std::size_t size) : size_(size) {
    if (size == 0) return;
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    data_ = static_cast<char*>(p);
  }
  ~PageBuffer() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }
  PageBuffer(PageBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  PageBuffer& operator=(PageBuffer&& other) noexcept {
    if (this != &other) {
      if (data_ != nullptr) ::munmap(data_, size_);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  PageBuffer(const PageBuffer&) = delete;
  PageBuffer& operator=(const PageBuffer&) = delete;

  [[nodiscard]] char* get() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  explicit operator bool() const noexcept { return data_ != nullptr; }

 private:
  char* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace keel
