// read_file.hpp — a small file, whole, with read(2).
//
// For configuration edges (service files, environment files): no iostream,
// because a static PID 1 that links <fstream> carries the locale machinery
// (~500 KB) for nothing. Allocates (the caller's string); never throws
// anything but std::bad_alloc.
#pragma once

#include <cstddef>
#include <string>

#include "core/result.hpp"

namespace keel {

// Replace `out` with the contents of `path`. Errors: {errno, "open"},
// {errno, "read"}, {EISDIR or EINVAL, "not a regular file"}, {EFBIG,
// "too large"} past `max_bytes`.
[[nodiscard]] Status read_file(const char* path, std::string& out, std::size_t max_bytes);

}  // namespace keel
