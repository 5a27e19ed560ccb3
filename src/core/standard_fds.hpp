// standard_fds.hpp — fds 0, 1 and 2: open before anything else opens a
// file, and the command line's answers (help, usage) written to them whole.
#pragma once

#include <string_view>

namespace keel {

// A closed fd 0, 1 or 2 would be taken by keel's own epoll or signalfd and
// then handed to the child as its stdin/stdout (a kernel can start init
// with no console at all; a caller may run `keel prog <&-`). Points each
// closed one at /dev/null; without /dev/null, leaves it closed. The first
// thing main() does, in keel and in keel-cinit.
void ensure_standard_fds() noexcept;

// Writes all of `text` to `fd`, retrying short writes; gives up silently on
// an error (there is nowhere else to say it).
void write_all(int fd, std::string_view text) noexcept;

}  // namespace keel
