// gpt.hpp — which partition of a GPT disk has a given unique GUID, read by
// keel itself for root=PARTUUID= and keel.data=PARTUUID=.
//
// The kernel's uevent names a partition's GPT name (PARTNAME) and number
// (PARTN) but not its GUID, and a minimal image has no blkid: the stage
// reads the disk's primary GPT header (LBA 1, for 512- and 4096-byte
// sectors), checks its CRC32 and its entry array's, and returns the
// number of the entry whose unique GUID matches. Everything on the disk is
// untrusted: a bad signature or CRC, an entry size other than 128, more
// than kGptEntriesMax entries, an array outside the disk or a short read
// is an error, never a crash or a long loop. Only the primary header is
// read (the kernel falls back to the backup; keel names the error).
//
// Reading a disk may block: the stage calls this from its bounded child,
// never from PID 1 (system/switch_root.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace keel {

inline constexpr std::uint32_t kGptEntriesMax = 1024;

struct GptMatch {
  int partition = 0;  // 1-based; 0: not on this disk, or `error`
  std::string error;  // why the table could not be read ("" when it was)
};

// Reads the GPT of the disk (or image file) open as `fd`. `guid`: any
// case, with or without dashes (parse_device_spec's canonical form).
[[nodiscard]] GptMatch gpt_find_partition(int fd, std::string_view guid);
[[nodiscard]] GptMatch gpt_find_partition(const char* path, std::string_view guid);

// The CRC32 (IEEE, zlib's) GPT uses.
[[nodiscard]] std::uint32_t gpt_crc32(const unsigned char* data, std::size_t length) noexcept;

}  // namespace keel
