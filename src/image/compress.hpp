// compress.hpp — compressing sinks for the archive, and decompression for
// `keel-image ls`.
//
// A compressor is a Sink wrapping another Sink, so CpioWriter streams
// through it and the image is never held whole. Both formats are set up so
// that the same input gives the same bytes (reproducible images) and so
// that the kernel's initramfs decompressors accept them: gzip with a fixed
// header (mtime 0, no name, OS byte 3), zstd as one frame with a window
// the kernel's streaming decompressor can allocate at boot, and xz with the
// CRC32 check, the x86 filter and the dictionary size the kernel's xz
// decoder accepts (compress.cpp says why).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "image/cpio.hpp"

namespace keel::image {

enum class Compression { None, Gzip, Zstd, Xz };

// "none", "gzip", "zstd", "xz" (the spelling the spec and the CLI use).
[[nodiscard]] std::string_view compression_name(Compression c) noexcept;
// The inverse; throws ImageError for any other name.
[[nodiscard]] Compression parse_compression(std::string_view name);

// The level used when the caller passes 0 (the spec gives no level): gzip
// 6, zstd 9, xz 6; compress.cpp says why.
[[nodiscard]] int default_level(Compression c) noexcept;
// The highest level: gzip 9, zstd ZSTD_maxCLevel() (22), xz 9; the lowest is 1
// (None: 0, it has no levels).
[[nodiscard]] int max_level(Compression c) noexcept;

// A sink that compresses into `out` and finishes it on finish(). `out`
// must outlive the returned sink. Compression::None returns a pass-through.
// level 0 means default_level(c); out-of-range levels throw ImageError.
[[nodiscard]] std::unique_ptr<Sink> make_compressor(Compression c, Sink& out, int level = 0);

// By magic: 1f 8b is gzip, 28 b5 2f fd is zstd, fd "7zXZ" 00 is xz,
// anything else is None.
[[nodiscard]] Compression detect_compression(std::string_view data) noexcept;

// Decompresses a whole buffer by its detected format (None: a copy).
// Concatenated gzip members, zstd frames or xz streams are all decompressed, as the
// kernel's decompressors would. Corrupt or truncated input throws
// ImageError naming `where`.
[[nodiscard]] std::string decompress(std::string_view data, std::string_view where = "");

}  // namespace keel::image
