// read_file.hpp — a small file, whole, with read(2).
//
// For configuration edges (service files, keel.toml, environment files,
// /etc/passwd): no iostream, because a static PID 1 that links <fstream>
// carries the locale machinery (~500 KB) for nothing. Allocates (the
// caller's string); never throws anything but std::bad_alloc.
//
// Whoever put the file there, reading it cannot stall keel: the open is
// O_NONBLOCK (a FIFO opens at once instead of waiting for a writer), the
// fd is fstat-checked to be a regular file before any read (a FIFO, a
// device such as /dev/zero, a directory are refused), and at most
// `max_bytes` are read. Symbolic links are followed: callers that must not
// follow one, or that read on someone else's behalf, check before calling
// (docs/security.md says which files may be links).
#pragma once

#include <cstddef>
#include <string>

#include "core/result.hpp"

namespace keel {

// Replace `out` with the contents of `path`. Errors: {errno, "open"},
// {errno, "read"}, {errno, "fstat"}; {EISDIR or EINVAL, "not a regular file
// (a ...)"} naming what it is; {EFBIG, "too large"} past `max_bytes`.
[[nodiscard]] Status read_file(const char* path, std::string& out, std::size_t max_bytes);

// The same on an fd the caller opened (and still owns): fstat, regular file
// check, bounded read from the current offset.
[[nodiscard]] Status read_fd(int fd, std::string& out, std::size_t max_bytes);

// A read_file error as words for a message, without the path:
// "No such file or directory", "not a regular file (a FIFO)", "larger than
// 1048576 bytes", "read: Input/output error".
[[nodiscard]] std::string read_file_error_text(const Error& e, std::size_t max_bytes);

}  // namespace keel
