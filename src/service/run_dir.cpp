// run_dir.cpp — see run_dir.hpp.
#include "service/run_dir.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace keel::service {

std::string prepare_run_dir(const std::string& dir) {
  const std::string fix = ": refusing to put sockets there; fix it or set KEEL_RUN_DIR";
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    const int err = errno;
    std::string text = "run directory " + dir + ": cannot create it: " + std::strerror(err);
    // A user instance (docs/system-mode.md) whose default fell back to
    // /run/keel: say what the user can do about it.
    if (::geteuid() != 0 && (err == EACCES || err == EROFS || err == ENOENT)) {
      const std::string uid = std::to_string(::geteuid());
      text += " (keel runs as uid " + uid + ": set XDG_RUNTIME_DIR or KEEL_RUN_DIR to a directory it owns; " +
              "in a container, mount /run writable for it: docker run --tmpfs /run:mode=1777 (or uid=" + uid + "))";
    }
    return text;
  }
  // lstat: a link in the last place is refused, not followed (it leads
  // wherever its owner likes; root, who could set one, can set
  // KEEL_RUN_DIR instead). What is checked is what keel then binds in; a
  // swap after the check needs write access to the parent, which the
  // checks on RUN_DIR itself do not cover (docs/security.md).
  struct stat st{};
  if (::lstat(dir.c_str(), &st) != 0) return "run directory " + dir + ": " + std::strerror(errno) + fix;
  if (S_ISLNK(st.st_mode)) return "run directory " + dir + " is a symbolic link" + fix;
  if (!S_ISDIR(st.st_mode)) return "run directory " + dir + " is not a directory" + fix;
  if (st.st_uid != ::geteuid()) {
    return "run directory " + dir + " is owned by uid " + std::to_string(st.st_uid) + fix;
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return "run directory " + dir + " is writable by " + ((st.st_mode & S_IWOTH) != 0 ? "others" : "its group") +
           " (mode " + mode + ")" + fix;
  }
  return {};
}

}  // namespace keel::service
