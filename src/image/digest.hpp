// digest.hpp — SHA-256 and SHA-1 of bytes and files, through OpenSSL's
// libcrypto: OCI blob names and diff_ids (oci.cpp, hashed while a layer is
// written), and the SBOM's file checksums (sbom.cpp; SPDX 2.3 requires
// SHA-1 on every file, keel's SBOM adds SHA-256).
//
// keel-image is a host tool linked dynamically, so a well-kept library is
// the right source of these digests (keel itself, static and PID 1, carries
// its own BLAKE2s in system/random_seed.cpp instead). The digests name
// content; they protect no secret.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "image/cpio.hpp"

struct evp_md_ctx_st;

namespace keel::image {

// One digest computation, streamed. Spent by finish()/hex().
class Digest {
 public:
  enum class Kind : std::uint8_t { Sha1, Sha256 };
  explicit Digest(Kind kind);
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;
  Digest(Digest&&) noexcept;
  Digest& operator=(Digest&&) noexcept;

  void update(std::string_view bytes);
  // The raw digest (20 or 32 bytes).
  [[nodiscard]] std::string finish();
  // finish() as lower-case hex.
  [[nodiscard]] std::string hex();

 private:
  evp_md_ctx_st* ctx_ = nullptr;
};

class Sha256 : public Digest {
 public:
  Sha256() : Digest(Kind::Sha256) {}
};

class Sha1 : public Digest {
 public:
  Sha1() : Digest(Kind::Sha1) {}
};

// The hex SHA-256 of a whole buffer.
[[nodiscard]] std::string sha256_hex(std::string_view bytes);

struct FileDigests {
  std::string sha1;
  std::string sha256;
  std::uint64_t size = 0;
};

// Both digests of bytes in memory, or of a host file read once in chunks
// (ImageError naming the file when it cannot be read).
[[nodiscard]] FileDigests digest_bytes(std::string_view bytes);
[[nodiscard]] FileDigests digest_file(const std::filesystem::path& file);

// A sink that hashes (SHA-256) and counts what passes through to `next`
// (null: the bytes go nowhere else).
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
