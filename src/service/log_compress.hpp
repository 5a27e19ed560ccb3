// log_compress.hpp — gzip for rotated service log files.
//
// Two users: the log writer (log_writer.hpp) compresses FILE.1 after a
// rotation, in a child process of its own so a slow compression never
// delays another service's lines (see log_file.hpp); keelctl decompresses
// FILE.N.gz to show them (control/log_query.hpp). Both go through zlib,
// linked statically into keel.
//
// gzip only, no zstd: keel is one static binary and its size is one of
// its promises (docs/benchmarks.md). libzstd's compressor is linked whole
// (the level is chosen at run time, so every strategy is kept): it added
// 651,616 bytes to keel (2,265,320 with it, 1,613,704 without). Its
// decompressor alone, for keelctl to read .zst files, adds 221 KB
// (Debian's libzstd.a keeps the legacy format decoders; measured with a
// static program with and without ZSTD_decompressStream), so keelctl
// reads no .zst either. zlib is about 70 KB of keel, both directions.
// keel-image, a host tool, keeps its own use of libzstd.
//
// compress_file() keeps the rules of log_file.hpp: everything is relative
// to the directory fd the writer holds, no link is followed (O_NOFOLLOW),
// the source must be a regular file with one link, and the output is
// written to a fresh temporary name (any old one is removed first, then
// O_CREAT|O_EXCL) and renamed into place, so a reader never sees half a
// compressed file and a planted link or hard link is never written
// through. Only after the rename is the uncompressed source removed: a
// failure at any step leaves it as it was.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace keel::service {

// The codec (system/config_codec.cpp) carries the value: a new one is
// appended, and decoding refuses any value above the last.
enum class Compression : std::uint8_t { None = 0, Gzip = 1 };

// "", ".gz".
[[nodiscard]] const char* compression_suffix(Compression c) noexcept;

// What a file name's suffix says it holds (None for any other name).
[[nodiscard]] Compression compression_of_name(std::string_view name) noexcept;

// NAME (in dir_fd) -> NAME.gz, then NAME removed. Allocates
// (the libraries' state): for a child process or a client, not PID 1.
Status compress_file(int dir_fd, const char* name, Compression c) noexcept;

// The whole decompressed content of `data` (a .gz file's bytes).
// Throws std::runtime_error on corrupt input; at most `max_out` bytes of
// output (a bound against a decompression bomb), else an error.
[[nodiscard]] std::string decompress(std::string_view data, Compression c, std::size_t max_out);

}  // namespace keel::service
