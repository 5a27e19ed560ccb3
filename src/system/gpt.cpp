// gpt.cpp — see gpt.hpp.
#include "system/gpt.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace keel {
namespace {

constexpr std::size_t kHeaderMin = 92;
constexpr std::uint32_t kEntrySize = 128;

std::uint32_t le32(const unsigned char* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
std::uint64_t le64(const unsigned char* p) noexcept {
  return static_cast<std::uint64_t>(le32(p)) | (static_cast<std::uint64_t>(le32(p + 4)) << 32);
}

// Exactly `length` bytes at `offset`, or false.
bool read_at(int fd, unsigned char* buf, std::size_t length, std::uint64_t offset) {
  std::size_t have = 0;
  while (have < length) {
    const ssize_t n = ::pread(fd, buf + have, length - have, static_cast<off_t>(offset + have));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    have += static_cast<std::size_t>(n);
  }
  return true;
}

// A GUID as GPT stores it (the first three fields little-endian) in the
// canonical 32 lower-case hex digits, no dashes.
std::string guid_digits(const unsigned char* g) {
  static constexpr char kHex[] = "0123456789abcdef";
  static constexpr int kOrder[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
  std::string out;
  for (int i : kOrder) {
    out += kHex[g[i] >> 4];
    out += kHex[g[i] & 0xF];
  }
  return out;
}

std::string digits_of(std::string_view guid) {
  std::string out;
  for (char c : guid) {
    if (c == '-') continue;
    out += c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

}  // namespace

// zlib's crc32 is the IEEE CRC GPT specifies, and keel links zlib already
// (the log writer's gzip), so its tables cost nothing more.
std::uint32_t gpt_crc32(const unsigned char* data, std::size_t length) noexcept {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  while (length > 0) {
    const auto piece = static_cast<uInt>(std::min<std::size_t>(length, 1U << 30));
    crc = ::crc32(crc, data, piece);
    data += piece;
    length -= piece;
  }
  return static_cast<std::uint32_t>(crc);
}

GptMatch gpt_find_partition(int fd, std::string_view guid) {
  GptMatch match;
  const std::string wanted = digits_of(guid);
  // The header is at LBA 1: byte 512 or 4096, whichever has the signature.
  unsigned char header[4096];
  std::uint64_t sector = 0;
  for (std::uint64_t size : {std::uint64_t{512}, std::uint64_t{4096}}) {
    if (read_at(fd, header, size, size) && std::memcmp(header, "EFI PART", 8) == 0) {
      sector = size;
      break;
    }
  }
  if (sector == 0) {
    match.error = "no GPT header at LBA 1";
    return match;
  }
  const std::uint32_t header_size = le32(header + 12);
  if (header_size < kHeaderMin || header_size > sector) {
    match.error = "the GPT header's size is " + std::to_string(header_size);
    return match;
  }
  const std::uint32_t header_crc = le32(header + 16);
  std::memset(header + 16, 0, 4);
  if (gpt_crc32(header, header_size) != header_crc) {
    match.error = "the GPT header's CRC32 is wrong";
    return match;
  }
  if (le64(header + 24) != 1) {
    match.error = "the GPT header at LBA 1 does not say it is there";
    return match;
  }
  const std::uint64_t entries_lba = le64(header + 72);
  const std::uint32_t count = le32(header + 80);
  const std::uint32_t entry_size = le32(header + 84);
  const std::uint32_t entries_crc = le32(header + 88);
  if (entry_size != kEntrySize) {
    match.error = "the GPT's entry size is " + std::to_string(entry_size) + ", not 128";
    return match;
  }
  if (count == 0 || count > kGptEntriesMax) {
    match.error = "the GPT has " + std::to_string(count) + " entries (1 to " + std::to_string(kGptEntriesMax) + ")";
    return match;
  }
  if (entries_lba < 2 || entries_lba > (std::uint64_t{1} << 48)) {
    match.error = "the GPT's entries are at LBA " + std::to_string(entries_lba);
    return match;
  }
  std::vector<unsigned char> entries(std::size_t{count} * kEntrySize);
  if (!read_at(fd, entries.data(), entries.size(), entries_lba * sector)) {
    match.error = "the GPT's entries cannot be read";
    return match;
  }
  if (gpt_crc32(entries.data(), entries.size()) != entries_crc) {
    match.error = "the GPT entries' CRC32 is wrong";
    return match;
  }
  static constexpr unsigned char kUnused[16] = {};
  for (std::uint32_t i = 0; i < count; ++i) {
    const unsigned char* e = entries.data() + std::size_t{i} * kEntrySize;
    if (std::memcmp(e, kUnused, 16) == 0) continue;  // type GUID zero: an unused entry
    if (guid_digits(e + 16) == wanted) {
      match.partition = static_cast<int>(i + 1);
      return match;
    }
  }
  return match;
}

GptMatch gpt_find_partition(const char* path, std::string_view guid) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    GptMatch match;
    match.error = std::string("cannot open it: ") + std::strerror(errno);
    return match;
  }
  GptMatch match = gpt_find_partition(fd, guid);
  ::close(fd);
  return match;
}

}  // namespace keel
