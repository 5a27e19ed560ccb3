// sha256.hpp — SHA-256 (FIPS 180-4), streamed, for content digests.
//
// OCI images name every blob by the SHA-256 of its bytes ("sha256:<hex>")
// and a config lists each layer's uncompressed digest (diff_id). keel-image
// hashes its layers while it writes them, so the digest costs no second
// read. Small enough to carry here rather than link a crypto library into
// the host tool (as src/system/random_seed.cpp carries BLAKE2s): the
// digests name content, they protect no secret.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "image/cpio.hpp"

namespace keel::image {

class Sha256 {
 public:
  Sha256() = default;
  void update(std::string_view bytes) noexcept;
  // The digest; the object must not be updated afterwards.
  [[nodiscard]] std::array<std::uint8_t, 32> finish() noexcept;
  // finish() as 64 lower-case hex digits.
  [[nodiscard]] std::string hex();

 private:
  void block(const std::uint8_t* p) noexcept;

  std::array<std::uint32_t, 8> h_ = {0x6a09e667U, 0xbb67ae85U, 0x3c6ef372U, 0xa54ff53aU,
                                     0x510e527fU, 0x9b05688cU, 0x1f83d9abU, 0x5be0cd19U};
  std::array<std::uint8_t, 64> buffer_{};
  std::size_t used_ = 0;      // bytes in buffer_
  std::uint64_t length_ = 0;  // bytes hashed in all
};

// The hex digest of a whole buffer.
[[nodiscard]] std::string sha256_hex(std::string_view bytes);

// A sink that hashes and counts what passes through to `next` (null: the
// bytes go nowhere else).
class HashingSink final : public Sink {
 public:
  explicit HashingSink(Sink* next = nullptr) : next_(next) {}
  void write(std::string_view bytes) override {
    hash_.update(bytes);
    size_ += bytes.size();
    if (next_ != nullptr) next_->write(bytes);
  }
  void finish() override {
    if (next_ != nullptr) next_->finish();
  }
  // The digest of everything written ("sha256:" not included).
  [[nodiscard]] std::string hex() { return hash_.hex(); }
  [[nodiscard]] std::uint64_t size() const noexcept { return size_; }

 private:
  Sink* next_;
  Sha256 hash_;
  std::uint64_t size_ = 0;
};

}  // namespace keel::image
