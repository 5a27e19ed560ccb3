// digest.cpp — see digest.hpp.
#include "image/digest.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "image/diagnostic.hpp"

namespace keel::image {

Digest::Digest(Kind kind) : ctx_(EVP_MD_CTX_new()) {
  const EVP_MD* md = kind == Kind::Sha1 ? EVP_sha1() : EVP_sha256();
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, md, nullptr) != 1) {
    EVP_MD_CTX_free(ctx_);
    throw std::runtime_error("libcrypto: cannot start a digest");
  }
}

Digest::~Digest() { EVP_MD_CTX_free(ctx_); }

Digest::Digest(Digest&& other) noexcept : ctx_(std::exchange(other.ctx_, nullptr)) {}

Digest& Digest::operator=(Digest&& other) noexcept {
  if (this != &other) {
    EVP_MD_CTX_free(ctx_);
    ctx_ = std::exchange(other.ctx_, nullptr);
  }
  return *this;
}

void Digest::update(std::string_view bytes) {
  if (EVP_DigestUpdate(ctx_, bytes.data(), bytes.size()) != 1) throw std::runtime_error("libcrypto: digest update failed");
}

std::string Digest::finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(ctx_, out, &n) != 1) throw std::runtime_error("libcrypto: digest final failed");
  return {reinterpret_cast<const char*>(out), n};
}

std::string Digest::hex() {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string raw = finish();
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char ch : raw) {
    out += kDigits[ch >> 4];
    out += kDigits[ch & 0xf];
  }
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  Sha256 h;
  h.update(bytes);
  return h.hex();
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
  std::string buf(std::size_t{1} << 16, '\0');
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
