// log_compress.hpp — gzip and zstd for rotated service log files.
//
// Two users: the log writer (log_writer.hpp) compresses FILE.1 after a
// rotation, in a child process of its own so a slow compression never
// delays another service's lines (see log_file.hpp); keelctl decompresses
// FILE.N.gz / FILE.N.zst to show them (control/log_query.hpp). Both go
// through zlib and libzstd, linked statically into keel (keel-image uses
// the same libraries).
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

enum class Compression : std::uint8_t { None = 0, Gzip = 1, Zstd = 2 };

// "", ".gz", ".zst".
[[nodiscard]] const char* compression_suffix(Compression c) noexcept;

// What a file name's suffix says it holds (None for any other name).
[[nodiscard]] Compression compression_of_name(std::string_view name) noexcept;

// NAME (in dir_fd) -> NAME.gz or NAME.zst, then NAME removed. Allocates
// (the libraries' state): for a child process or a client, not PID 1.
Status compress_file(int dir_fd, const char* name, Compression c) noexcept;

// The whole decompressed content of `data` (a .gz or .zst file's bytes).
// Throws std::runtime_error on corrupt input; at most `max_out` bytes of
// output (a bound against a decompression bomb), else an error.
[[nodiscard]] std::string decompress(std::string_view data, Compression c, std::size_t max_out);

}  // namespace keel::service
