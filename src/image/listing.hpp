// listing.hpp — what `keel-image ls IMAGE` prints.
//
// One line per entry, in archive order, in a fixed format so that scripts
// and tests can compare listings of two builds byte for byte (a listing is
// the readable form of "are these images the same?"). Times are UTC, so the
// output does not depend on the machine's time zone.
//
//   MODE NLINK UID GID SIZE DATE TIME NAME[ -> TARGET]
//
//   MODE   ls -l's ten characters: type (- d l c b p s, ? for unknown),
//          then rwx for owner, group, other, with s/S t/T for
//          setuid, setgid and sticky. A hard link is a '-' with NLINK > 1.
//   NLINK  decimal, right-aligned in 3 columns.
//   UID    decimal, left-aligned in 5 columns; GID the same.
//   SIZE   decimal bytes, right-aligned in 9 columns; for a character or
//          block device "MAJOR, MINOR" (e.g. "  5,   1") right-aligned in
//          9 columns instead, as ls -l shows them.
//   DATE TIME  mtime as YYYY-MM-DD HH:MM:SS in UTC.
//   NAME   the archive name; a symlink adds " -> TARGET".
//
// Example:
//   drwxr-xr-x   2 0     0             0 2024-01-01 00:00:00 dev
//   crw-------   1 0     0       5,    1 2024-01-01 00:00:00 dev/console
//   lrwxrwxrwx   1 0     0             7 2024-01-01 00:00:00 init -> bin/keel
//
// Fields wider than their columns widen the line; they are never cut.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "image/cpio.hpp"

namespace keel::image {

// "drwxr-xr-x" for an st_mode-style mode.
[[nodiscard]] std::string mode_string(std::uint32_t mode);

// One listing line for an entry (no newline).
[[nodiscard]] std::string format_entry(const CpioEntry& entry);

// The lines for a whole image: decompressed by magic (compress.hpp) when
// needed. An initramfs may be several archives back to back (e.g. an
// uncompressed early-microcode archive followed by a compressed one, with
// zero padding between): each is listed in turn. Malformed input throws
// ImageError naming `where`.
[[nodiscard]] std::vector<std::string> list_image(std::string_view image, std::string_view where = "");

}  // namespace keel::image
