// throwaway_uid.hpp — a uid (and gid) no one else on the machine uses, for
// tests that act as "another user" against keel (forged sd_notify messages,
// files planted in a service's way, keelctl refused).
//
// Why not nobody (65534): other processes run as nobody, so a test that
// signals or checks "processes of that user" could touch them, and a test
// that proves "another uid cannot do X" must not borrow rights someone else
// holds. A uid picked at random from a range no distribution allocates, not
// in /etc/passwd and owning no live process, is the test's alone; running
// tests in parallel pick different ones.
#pragma once

#include <dirent.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

namespace keel::testing {

namespace throwaway_detail {

inline bool in_passwd_or_group(unsigned id) {
  for (const char* file : {"/etc/passwd", "/etc/group"}) {
    FILE* f = std::fopen(file, "re");
    if (f == nullptr) continue;
    char line[1024];
    bool found = false;
    while (!found && std::fgets(line, sizeof line, f) != nullptr) {
      // name:x:ID:...
      char* p = std::strchr(line, ':');
      if (p != nullptr) p = std::strchr(p + 1, ':');
      if (p != nullptr && std::strtoul(p + 1, nullptr, 10) == id) found = true;
    }
    std::fclose(f);
    if (found) return true;
  }
  return false;
}

inline bool owns_a_process(unsigned id) {
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return true;  // cannot tell: do not use it
  bool found = false;
  while (!found) {
    dirent* e = ::readdir(d);
    if (e == nullptr) break;
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::string path = std::string("/proc/") + e->d_name + "/status";
    FILE* f = std::fopen(path.c_str(), "re");
    if (f == nullptr) continue;
    char line[256];
    while (std::fgets(line, sizeof line, f) != nullptr) {
      unsigned r = 0, eff = 0, s = 0, fs = 0;
      if (std::sscanf(line, "Uid:\t%u\t%u\t%u\t%u", &r, &eff, &s, &fs) == 4) {
        found = r == id || eff == id || s == id || fs == id;
        break;
      }
    }
    std::fclose(f);
  }
  ::closedir(d);
  return found;
}

}  // namespace throwaway_detail

// A uid in [200000, 299999] that is in neither /etc/passwd nor /etc/group
// and owns no process right now. Use it as the gid as well.
inline uid_t throwaway_uid() {
  std::random_device rd;
  std::uniform_int_distribution<unsigned> pick(200000, 299999);
  for (;;) {
    unsigned id = pick(rd);
    if (!throwaway_detail::in_passwd_or_group(id) && !throwaway_detail::owns_a_process(id)) return id;
  }
}

}  // namespace keel::testing
