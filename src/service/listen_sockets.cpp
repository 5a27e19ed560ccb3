// listen_sockets.cpp — see listen_sockets.hpp.
#include "service/listen_sockets.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace keel::service {
namespace {

std::string octal(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

const char* file_kind(mode_t mode) {
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a socket";
}

// The directory a unix socket goes in: whoever can write there could
// swap the path between keel's checks and its chmod.
std::string check_directory(const std::string& path) {
  const std::string dir = path.substr(0, path.rfind('/'));
  const std::string shown = dir.empty() ? "/" : dir;
  struct stat st {};
  if (::stat(shown.c_str(), &st) != 0) return "directory " + shown + ": " + std::strerror(errno);
  if (!S_ISDIR(st.st_mode)) return shown + " is not a directory";
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    return "directory " + shown + " is owned by uid " + std::to_string(st.st_uid) +
           " (not root): refusing to bind there";
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return "directory " + shown + " is writable by " + ((st.st_mode & S_IWOTH) != 0 ? "others" : "its group") +
           " (mode " + octal(st.st_mode) + "): refusing to bind there";
  }
  return {};
}

// One socket, or the reason it could not be made.
int make_socket(const SocketConfig& s, std::string& error) {
  const bool path = s.kind == SocketKind::Unix || s.kind == SocketKind::UnixDgram;
  const bool stream = s.kind == SocketKind::Tcp || s.kind == SocketKind::Unix;
  auto fail = [&](const char* step, int fd) {
    error = std::string(step) + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return -1;
  };
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = AF_UNIX;
  if (path) {
    if (std::string problem = check_directory(s.address); !problem.empty()) {
      error = problem;
      return -1;
    }
    struct stat st {};
    if (::lstat(s.address.c_str(), &st) == 0) {
      // A socket left by an earlier run (or keel's own before a reload)
      // is replaced; anything else was put there by someone and stays.
      if (!S_ISSOCK(st.st_mode)) {
        error = std::string("the path is ") + file_kind(st.st_mode) + ", not a socket: refusing to replace it";
        return -1;
      }
      if (::unlink(s.address.c_str()) != 0 && errno != ENOENT) return fail("unlink the old socket", -1);
    } else if (errno != ENOENT) {
      return fail("lstat", -1);
    }
    auto* un = reinterpret_cast<sockaddr_un*>(&addr);
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, s.address.c_str(), s.address.size() + 1);
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + s.address.size() + 1);
  } else if (s.address.find(':') != std::string::npos) {
    family = AF_INET6;
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(s.port);
    if (::inet_pton(AF_INET6, s.address.c_str(), &in6->sin6_addr) != 1) {
      error = "bad address " + s.address;
      return -1;
    }
    len = sizeof(sockaddr_in6);
  } else {
    family = AF_INET;
    auto* in4 = reinterpret_cast<sockaddr_in*>(&addr);
    in4->sin_family = AF_INET;
    in4->sin_port = htons(s.port);
    if (::inet_pton(AF_INET, s.address.c_str(), &in4->sin_addr) != 1) {
      error = "bad address " + s.address;
      return -1;
    }
    len = sizeof(sockaddr_in);
  }
  // Blocking, as sd_listen_fds() users expect (systemd's NonBlocking=
  // is off by default): keel itself never reads or accepts on it.
  const int fd = ::socket(family, (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket", -1);
  if (!path) {
    // A restarted keel (or service) can bind again at once even with
    // connections of the last one in TIME_WAIT.
    int on = 1;
    (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  }
  if (path) {
    // 0600 from the start: nobody reaches it before its own mode is set.
    const mode_t old = ::umask(0177);
    const int r = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), len);
    ::umask(old);
    if (r != 0) return fail("bind", fd);
    // The directory is writable only by root: the path is the socket
    // just bound, and lchown never follows a link anyway.
    const uid_t uid = s.set_owner ? s.uid : static_cast<uid_t>(-1);
    const gid_t gid = s.set_group ? s.gid : static_cast<gid_t>(-1);
    if ((s.set_owner || s.set_group) && ::lchown(s.address.c_str(), uid, gid) != 0) return fail("chown", fd);
    if (::chmod(s.address.c_str(), s.mode) != 0) return fail("chmod", fd);
  } else if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    return fail("bind", fd);
  }
  if (stream && ::listen(fd, s.backlog) != 0) return fail("listen", fd);
  return fd;
}

}  // namespace

std::string ListenSockets::open(const std::vector<SocketConfig>& wanted) {
  if (!fds_.empty() && made_from_ == wanted) return {};
  close();
  made_from_.clear();
  fds_.reserve(wanted.size());
  for (const SocketConfig& s : wanted) {
    std::string error;
    const int fd = make_socket(s, error);
    if (fd < 0) {
      close();
      return "socket " + s.listen + ": " + error;
    }
    fds_.push_back(fd);
  }
  made_from_ = wanted;
  return {};
}

void ListenSockets::close() noexcept {
  for (int fd : fds_) ::close(fd);
  fds_.clear();
  made_from_.clear();
}

}  // namespace keel::service
