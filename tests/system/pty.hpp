// pty.hpp — a pseudo-terminal for system tests that give keel or a service
// a terminal: the test holds the master, the program under test opens the
// slave by name. Header-only: two test files use it.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <string_view>

namespace keel::systest {

class Pty {
 public:
  Pty() {
    master_ = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master_ < 0 || ::grantpt(master_) != 0 || ::unlockpt(master_) != 0) return;
    const char* name = ::ptsname(master_);
    if (name != nullptr) slave_ = name;
  }
  ~Pty() {
    if (master_ >= 0) ::close(master_);
  }
  Pty(const Pty&) = delete;
  Pty& operator=(const Pty&) = delete;

  [[nodiscard]] bool ok() const { return master_ >= 0 && !slave_.empty(); }
  [[nodiscard]] const std::string& slave() const { return slave_; }

  // Types `text` at the terminal; false when not all of it was written.
  [[nodiscard]] bool type(std::string_view text) const {
    return ::write(master_, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  }

  // Reads the terminal's output until it holds `needle` (true) or `timeout`
  // passes; false too at EIO (no slave open any more).
  bool read_until(const std::string& needle, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (output_.find(needle) == std::string::npos) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= std::chrono::milliseconds::zero()) return false;
      pollfd p{master_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[512];
      const ssize_t n = ::read(master_, buf, sizeof buf);
      if (n > 0) {
        output_.append(buf, static_cast<std::size_t>(n));
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        return false;
      }
    }
    return true;
  }
  // Everything read_until has read so far.
  [[nodiscard]] const std::string& output() const { return output_; }

 private:
  int master_ = -1;
  std::string slave_;
  std::string output_;
};

}  // namespace keel::systest
