// python_program.cpp — see python_program.hpp.
#include "core/python_program.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>

#ifndef GRND_INSECURE
#define GRND_INSECURE 0x0004
#endif

namespace keel {
namespace {

std::string base_name(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The first line of a regular file, at most 255 bytes; empty otherwise.
std::string first_line(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return {};
  struct stat st{};
  std::array<char, 256> buf{};
  ssize_t n = -1;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    do {
      n = ::read(fd, buf.data(), buf.size() - 1);
    } while (n < 0 && errno == EINTR);
  }
  ::close(fd);
  if (n <= 0) return {};
  std::string line(buf.data(), static_cast<std::size_t>(n));
  return line.substr(0, line.find('\n'));
}

// The words of a #! line after "#!": the interpreter, then its argument.
bool shebang_is_python(const std::string& line) {
  if (!line.starts_with("#!")) return false;
  std::string rest = line.substr(2);
  auto word = [&]() {
    const std::size_t b = rest.find_first_not_of(" \t");
    if (b == std::string::npos) return std::string();
    const std::size_t e = rest.find_first_of(" \t", b);
    std::string w = rest.substr(b, e == std::string::npos ? std::string::npos : e - b);
    rest = e == std::string::npos ? std::string() : rest.substr(e);
    return w;
  };
  const std::string interpreter = word();
  if (is_python_name(base_name(interpreter))) return true;
  // `#!/usr/bin/env python3` (and `env -S python3 -I`).
  if (base_name(interpreter) != "env") return false;
  for (std::string w = word(); !w.empty(); w = word()) {
    if (w.starts_with("-")) continue;
    return is_python_name(base_name(w));
  }
  return false;
}

}  // namespace

bool is_python_name(const std::string& name) noexcept {
  // python, python3, python3.11, python3.12d: "python" then digits and dots
  // and at most a trailing ABI letter.
  if (!name.starts_with("python")) return false;
  for (std::size_t i = 6; i < name.size(); ++i) {
    const char c = name[i];
    if ((c >= '0' && c <= '9') || c == '.') continue;
    if (i + 1 == name.size() && i > 6 && name[i - 1] >= '0' && name[i - 1] <= '9' && c >= 'a' && c <= 'z') continue;
    return false;
  }
  return true;
}

bool is_python_program(const std::string& program, const std::string& path_env) {
  if (program.empty()) return false;
  if (is_python_name(base_name(program))) return true;
  if (program.find('/') != std::string::npos) return shebang_is_python(first_line(program));
  std::size_t pos = 0;
  while (pos <= path_env.size()) {
    std::size_t colon = path_env.find(':', pos);
    if (colon == std::string::npos) colon = path_env.size();
    const std::string dir = path_env.substr(pos, colon - pos);
    pos = colon + 1;
    if (dir.empty() || dir.front() != '/') continue;
    std::string candidate = dir;
    candidate.append(1, '/').append(program);
    if (::access(candidate.c_str(), X_OK) == 0) return shebang_is_python(first_line(candidate));
  }
  return false;
}

std::string draw_python_hash_seed() {
  std::uint32_t v = 0;
  for (int attempt = 0; attempt < 4; ++attempt) {
    long n = ::syscall(SYS_getrandom, &v, sizeof v, GRND_INSECURE);
    // Kernels before 5.6 refuse GRND_INSECURE (EINVAL): their
    // GRND_NONBLOCK fails only until the RNG is ready, and their
    // /dev/urandom (which CPython falls back to) never waits.
    if (n < 0 && errno == EINVAL) n = ::syscall(SYS_getrandom, &v, sizeof v, GRND_NONBLOCK);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<long>(sizeof v)) return {};
    if (v != 0) return std::to_string(v);
  }
  return {};
}

}  // namespace keel
