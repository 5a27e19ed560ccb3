// probe_main.cpp — keel's probe role: one check, in a child of PID 1.
//
//   keel --probe tcp ADDRESS:PORT TIMEOUT_MS
//   keel --probe http URL TIMEOUT_MS        (http://ADDRESS[:PORT]/PATH or unix:/SOCKET:/PATH)
//   keel --probe file PATH MAX_AGE_NS       (0: existing is enough)
//
// PID 1 starts it (service/probe.hpp) and reads its exit status (0: passed,
// 1: failed, 2: bad arguments) and the line it prints. Everything that may
// block (a connect, a read, a stat on a dead mount) happens here, bounded
// by poll where it can be; PID 1 kills the child when the probe's timeout
// runs out in any case. The service file's parser has checked the
// arguments' shapes already; they are checked again, trusting nothing.
#include "service/probe_main.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>

#include "core/event_loop.hpp"

namespace keel::service {
namespace {

constexpr int kPass = 0;
constexpr int kFail = 1;
constexpr int kUsage = 2;

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
};

// "ADDRESS:PORT": numeric IPv4, "localhost" or "[IPv6]".
bool parse_host_port(std::string_view text, Address& out) {
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string host(text.substr(0, colon));
  std::string port_text(text.substr(colon + 1));
  char* end = nullptr;
  long port = std::strtol(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end != '\0' || port < 1 || port > 65535) return false;
  if (host == "localhost") host = "127.0.0.1";
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    auto* sa = reinterpret_cast<sockaddr_in6*>(&out.storage);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &sa->sin6_addr) != 1) return false;
    out.length = sizeof(sockaddr_in6);
    return true;
  }
  auto* sa = reinterpret_cast<sockaddr_in*>(&out.storage);
  sa->sin_family = AF_INET;
  sa->sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &sa->sin_addr) != 1) return false;
  out.length = sizeof(sockaddr_in);
  return true;
}

bool unix_address(const std::string& path, Address& out) {
  auto* sa = reinterpret_cast<sockaddr_un*>(&out.storage);
  if (path.size() >= sizeof sa->sun_path) return false;
  sa->sun_family = AF_UNIX;
  std::memcpy(sa->sun_path, path.c_str(), path.size() + 1);
  out.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return true;
}

// Milliseconds left before `deadline_ns` (at least 1).
int left_ms(std::int64_t deadline_ns) {
  std::int64_t left = (deadline_ns - monotonic_ns()) / 1'000'000;
  return left < 1 ? 1 : static_cast<int>(left);
}

// A connected socket, or -1 with the reason printed.
int connect_to(const Address& address, const char* what, std::int64_t deadline_ns) {
  int fd = ::socket(address.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    std::printf("socket: %s\n", std::strerror(errno));
    return -1;
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address.storage), address.length) != 0) {
    if (errno != EINPROGRESS && errno != EAGAIN) {
      std::printf("connect to %s: %s\n", what, std::strerror(errno));
      ::close(fd);
      return -1;
    }
    pollfd p{fd, POLLOUT, 0};
    int n = 0;
    do {
      n = ::poll(&p, 1, left_ms(deadline_ns));
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
      std::printf("connect to %s: timed out\n", what);
      ::close(fd);
      return -1;
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (n < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
      std::printf("connect to %s: %s\n", what, std::strerror(err));
      ::close(fd);
      return -1;
    }
  }
  return fd;
}

int probe_tcp(const char* target, std::int64_t deadline_ns) {
  Address address;
  if (!parse_host_port(target, address)) {
    std::printf("bad address '%s'\n", target);
    return kUsage;
  }
  int fd = connect_to(address, target, deadline_ns);
  if (fd < 0) return kFail;
  ::close(fd);
  std::printf("connected to %s\n", target);
  return kPass;
}

int probe_http(const char* url, std::int64_t deadline_ns) {
  std::string_view u = url;
  Address address;
  std::string host;
  std::string path;
  if (u.starts_with("http://")) {
    std::string_view rest = u.substr(7);
    std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return kUsage;
    host = std::string(rest.substr(0, slash));
    path = std::string(rest.substr(slash));
    std::string hostport = host;
    if (!parse_host_port(hostport, address)) {
      hostport += ":80";
      if (!parse_host_port(hostport, address)) {
        std::printf("bad URL '%s'\n", url);
        return kUsage;
      }
    }
  } else if (u.starts_with("unix:/")) {
    std::size_t sep = u.find(":/", 5);
    if (sep == std::string_view::npos || !unix_address(std::string(u.substr(5, sep - 5)), address)) {
      std::printf("bad URL '%s'\n", url);
      return kUsage;
    }
    host = "localhost";
    path = std::string(u.substr(sep + 1));
  } else {
    std::printf("bad URL '%s'\n", url);
    return kUsage;
  }
  int fd = connect_to(address, url, deadline_ns);
  if (fd < 0) return kFail;
  std::string request = "GET " + path + " HTTP/1.0\r\nHost: " + host +
                        "\r\nUser-Agent: keel-probe\r\nConnection: close\r\n\r\n";
  std::size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, left_ms(deadline_ns)) == 0) {
        std::printf("%s: timed out sending the request\n", url);
        ::close(fd);
        return kFail;
      }
      continue;
    }
    if (n <= 0) {
      std::printf("%s: send: %s\n", url, std::strerror(errno));
      ::close(fd);
      return kFail;
    }
    sent += static_cast<std::size_t>(n);
  }
  // The status line only: "HTTP/1.x NNN reason".
  char line[256];
  std::size_t got = 0;
  while (got < sizeof line - 1 && std::memchr(line, '\n', got) == nullptr) {
    ssize_t n = ::recv(fd, line + got, sizeof line - 1 - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, left_ms(deadline_ns)) == 0) {
        std::printf("%s: timed out waiting for the answer\n", url);
        ::close(fd);
        return kFail;
      }
      continue;
    }
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  line[got] = '\0';
  if (char* nl = std::strpbrk(line, "\r\n")) *nl = '\0';
  int status = 0;
  if (std::strncmp(line, "HTTP/", 5) != 0 || std::sscanf(line, "HTTP/%*s %3d", &status) != 1) {
    std::printf("%s: not an HTTP answer: '%s'\n", url, line);
    return kFail;
  }
  std::printf("%s\n", line);
  return status >= 200 && status < 400 ? kPass : kFail;
}

int probe_file(const char* path, std::int64_t max_age_ns) {
  struct stat st{};
  if (::stat(path, &st) != 0) {
    std::printf("%s: %s\n", path, std::strerror(errno));
    return kFail;
  }
  if (max_age_ns <= 0) {
    std::printf("%s exists\n", path);
    return kPass;
  }
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  std::int64_t age = (static_cast<std::int64_t>(now.tv_sec) - st.st_mtim.tv_sec) * 1'000'000'000 +
                     (now.tv_nsec - st.st_mtim.tv_nsec);
  std::printf("%s modified %lld s ago (at most %lld s)\n", path, static_cast<long long>(age / 1'000'000'000),
              static_cast<long long>(max_age_ns / 1'000'000'000));
  return age <= max_age_ns ? kPass : kFail;
}

}  // namespace

int run_probe(int argc, char** argv) noexcept {
  if (argc != 5) return kUsage;
  const std::string_view kind = argv[2];
  char* end = nullptr;
  const long long number = std::strtoll(argv[4], &end, 10);
  if (*end != '\0' || number < 0) return kUsage;
  int code = kUsage;
  try {
    if (kind == "tcp" || kind == "http") {
      const std::int64_t deadline = monotonic_ns() + number * 1'000'000;
      code = kind == "tcp" ? probe_tcp(argv[3], deadline) : probe_http(argv[3], deadline);
    } else if (kind == "file") {
      code = probe_file(argv[3], number);
    }
  } catch (...) {
    std::printf("out of memory\n");
    code = kFail;
  }
  std::fflush(stdout);
  return code;
}

}  // namespace keel::service
