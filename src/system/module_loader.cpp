#include "system/module_loader.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.hpp"

namespace keel {
namespace {

// The list is read whole into a fixed buffer: 64 KiB is ~800 paths of 80
// bytes, far more modules than an image loads; a longer list is cut and
// says so.
constexpr std::size_t kMaxListBytes = std::size_t{64} * 1024;

bool load_one(const char* path, ModuleLoadResult& result) noexcept {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    log::msg(log::Level::Error, "module %s: %s", path, std::strerror(errno));
    ++result.failed;
    return false;
  }
  long rc = ::syscall(SYS_finit_module, fd, "", 0);
  int err = errno;
  ::close(fd);
  if (rc != 0 && err != EEXIST) {
    log::msg(log::Level::Error, "module %s: finit_module: %s", path, std::strerror(err));
    ++result.failed;
    return false;
  }
  log::msg(log::Level::Info, "loaded module %s%s", path, rc != 0 ? " (already loaded)" : "");
  ++result.loaded;
  return true;
}

}  // namespace

ModuleLoadResult load_listed_modules(const char* list_path) noexcept {
  ModuleLoadResult result;
  int fd = ::open(list_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) log::msg(log::Level::Error, "%s: %s", list_path, std::strerror(errno));
    return result;
  }
  static char buf[kMaxListBytes + 1];
  std::size_t used = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf + used, kMaxListBytes - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    used += static_cast<std::size_t>(n);
    if (used == kMaxListBytes) {
      log::msg(log::Level::Error, "%s: longer than %zu bytes; the rest is not loaded", list_path, kMaxListBytes);
      break;
    }
  }
  ::close(fd);
  buf[used] = '\0';
  for (char* line = buf; line < buf + used;) {
    char* end = std::strchr(line, '\n');
    if (end == nullptr) end = buf + used;
    *end = '\0';
    while (*line == ' ' || *line == '\t') ++line;
    if (*line != '\0' && *line != '#') load_one(line, result);
    line = end + 1;
  }
  return result;
}

}  // namespace keel
