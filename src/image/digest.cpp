// digest.cpp — SHA-256 and SHA-1 (FIPS 180-4); see digest.hpp.
#include "image/digest.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "image/diagnostic.hpp"

namespace keel::image {

namespace {

constexpr std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
constexpr std::uint32_t rotl(std::uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

std::uint32_t load_be32(const unsigned char* p) {
  return (static_cast<std::uint32_t>(p[0]) << 24) | (static_cast<std::uint32_t>(p[1]) << 16) |
         (static_cast<std::uint32_t>(p[2]) << 8) | static_cast<std::uint32_t>(p[3]);
}

// The first 32 bits of the fractional parts of the cube roots of the first
// 64 primes (FIPS 180-4, 4.2.2).
constexpr std::uint32_t kSha256K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

std::string to_hex(const std::uint32_t* words, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 8);
  for (std::size_t i = 0; i < n; ++i) {
    for (int shift = 28; shift >= 0; shift -= 4) out += kDigits[(words[i] >> shift) & 0xf];
  }
  return out;
}

// Both digests share the Merkle-Damgard framing: 64-byte blocks, a 0x80
// byte, zeros, and the bit length as a big-endian 64-bit number.
template <typename Block>
void feed(std::array<unsigned char, 64>& buf, std::size_t& used, std::uint64_t& length, std::string_view bytes,
          Block block) {
  length += bytes.size();
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t n = bytes.size();
  if (used > 0) {
    const std::size_t take = std::min(n, 64 - used);
    std::memcpy(buf.data() + used, p, take);
    used += take;
    p += take;
    n -= take;
    if (used < 64) return;
    block(buf.data());
    used = 0;
  }
  for (; n >= 64; p += 64, n -= 64) block(p);
  std::memcpy(buf.data(), p, n);
  used = n;
}

template <typename Block>
void pad(std::array<unsigned char, 64>& buf, std::size_t used, std::uint64_t length, Block block) {
  const std::uint64_t bits = length * 8;
  buf[used++] = 0x80;
  if (used > 56) {
    std::memset(buf.data() + used, 0, 64 - used);
    block(buf.data());
    used = 0;
  }
  std::memset(buf.data() + used, 0, 56 - used);
  for (int i = 0; i < 8; ++i) buf[56 + static_cast<std::size_t>(i)] = static_cast<unsigned char>(bits >> (56 - 8 * i));
  block(buf.data());
}

}  // namespace

Sha256::Sha256()
    : h_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19} {}

void Sha256::block(const unsigned char* p) {
  std::uint32_t w[64];
  for (std::size_t t = 0; t < 16; ++t) w[t] = load_be32(p + 4 * t);
  for (int t = 16; t < 64; ++t) {
    const std::uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
    const std::uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
    w[t] = w[t - 16] + s0 + w[t - 7] + s1;
  }
  std::uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
  for (int t = 0; t < 64; ++t) {
    const std::uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kSha256K[t] + w[t];
    const std::uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h_[0] += a;
  h_[1] += b;
  h_[2] += c;
  h_[3] += d;
  h_[4] += e;
  h_[5] += f;
  h_[6] += g;
  h_[7] += h;
}

void Sha256::update(std::string_view bytes) {
  feed(buf_, used_, length_, bytes, [this](const unsigned char* p) { block(p); });
}

std::string Sha256::hex() {
  pad(buf_, used_, length_, [this](const unsigned char* p) { block(p); });
  return to_hex(h_.data(), h_.size());
}

Sha1::Sha1() : h_{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0} {}

void Sha1::block(const unsigned char* p) {
  std::uint32_t w[80];
  for (std::size_t t = 0; t < 16; ++t) w[t] = load_be32(p + 4 * t);
  for (int t = 16; t < 80; ++t) w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
  std::uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4];
  for (int t = 0; t < 80; ++t) {
    std::uint32_t f = 0;
    std::uint32_t k = 0;
    if (t < 20) {
      f = (b & c) | (~b & d);
      k = 0x5a827999;
    } else if (t < 40) {
      f = b ^ c ^ d;
      k = 0x6ed9eba1;
    } else if (t < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8f1bbcdc;
    } else {
      f = b ^ c ^ d;
      k = 0xca62c1d6;
    }
    const std::uint32_t temp = rotl(a, 5) + f + e + k + w[t];
    e = d;
    d = c;
    c = rotl(b, 30);
    b = a;
    a = temp;
  }
  h_[0] += a;
  h_[1] += b;
  h_[2] += c;
  h_[3] += d;
  h_[4] += e;
}

void Sha1::update(std::string_view bytes) {
  feed(buf_, used_, length_, bytes, [this](const unsigned char* p) { block(p); });
}

std::string Sha1::hex() {
  pad(buf_, used_, length_, [this](const unsigned char* p) { block(p); });
  return to_hex(h_.data(), h_.size());
}

FileDigests digest_bytes(std::string_view bytes) {
  Sha1 sha1;
  Sha256 sha256;
  sha1.update(bytes);
  sha256.update(bytes);
  return {sha1.hex(), sha256.hex(), bytes.size()};
}

FileDigests digest_file(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ImageError(file.string(), 0, std::string("cannot read the file to hash it: ") + std::strerror(errno));
  Sha1 sha1;
  Sha256 sha256;
  std::uint64_t size = 0;
  std::string buf(1 << 16, '\0');
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw ImageError(file.string(), 0, std::string("cannot read the file to hash it: ") + std::strerror(err));
    }
    if (n == 0) break;
    const std::string_view chunk(buf.data(), static_cast<std::size_t>(n));
    sha1.update(chunk);
    sha256.update(chunk);
    size += static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  return {sha1.hex(), sha256.hex(), size};
}

}  // namespace keel::image
