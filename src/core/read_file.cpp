#include "core/read_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace keel {
namespace {

// Static contexts (an Error never owns its text), one per file type.
const char* not_regular(mode_t mode) noexcept {
  switch (mode & S_IFMT) {
    case S_IFIFO: return "not a regular file (a FIFO)";
    case S_IFCHR: return "not a regular file (a character device)";
    case S_IFBLK: return "not a regular file (a block device)";
    case S_IFDIR: return "not a regular file (a directory)";
    case S_IFSOCK: return "not a regular file (a socket)";
    default: return "not a regular file";
  }
}

constexpr char kTooLarge[] = "too large";

}  // namespace

Status read_fd(int fd, std::string& out, std::size_t max_bytes) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) return errno_error("fstat");
  if (!S_ISREG(st.st_mode)) return Error{S_ISDIR(st.st_mode) ? EISDIR : EINVAL, not_regular(st.st_mode)};
  // A size known up front is refused before reading anything.
  if (static_cast<std::size_t>(st.st_size) > max_bytes) return Error{EFBIG, kTooLarge};
  out.clear();
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("read");
    }
    if (n == 0) break;
    // st_size can lie (procfs says 0, a file can grow while read).
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) return Error{EFBIG, kTooLarge};
    out.append(buf, static_cast<std::size_t>(n));
  }
  return {};
}

Status read_file(const char* path, std::string& out, std::size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer, forever
  // if nobody comes, and PID 1 with it. It changes nothing for the regular
  // files that are read (read(2) on one never returns EAGAIN).
  int fd = ::open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return errno_error("open");
  Status s = read_fd(fd, out, max_bytes);
  ::close(fd);
  return s;
}

std::string read_file_error_text(const Error& e, std::size_t max_bytes) {
  if (std::strcmp(e.context, "open") == 0) return e.message();
  if (std::strcmp(e.context, kTooLarge) == 0) return "larger than " + std::to_string(max_bytes) + " bytes";
  if (std::strncmp(e.context, "not a regular file", 18) == 0) return e.context;
  return std::string(e.context) + ": " + e.message();
}

}  // namespace keel
