// Small /proc readers shared by the benchmark programs. They never throw:
// a benchmark that cannot read a figure reports it as missing (-1) rather
// than aborting a run that may have taken seconds to set up.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace keel_bench {

inline std::int64_t now_ns() {
  timespec ts{};
  // CLOCK_MONOTONIC is one clock for the whole machine, so timestamps taken
  // in different processes (and PID namespaces) can be subtracted.
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Reads a whole (small) file with raw syscalls: stdio buffering and
// exceptions are both unwelcome inside a tight measurement loop.
inline bool read_small_file(const char* path, std::string& out) {
  out.clear();
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  return !out.empty();
}

// Fields of /proc/PID/stat after the "(comm)" part, which may itself
// contain spaces and parentheses; hence the search for the last ')'.
// Index 0 is field 3 (state).
inline std::vector<std::string_view> stat_fields_after_comm(std::string_view stat) {
  std::vector<std::string_view> fields;
  auto close_paren = stat.rfind(')');
  if (close_paren == std::string_view::npos) return fields;
  std::string_view rest = stat.substr(close_paren + 1);
  std::size_t i = 0;
  while (i < rest.size()) {
    while (i < rest.size() && rest[i] == ' ') ++i;
    std::size_t j = i;
    while (j < rest.size() && rest[j] != ' ' && rest[j] != '\n') ++j;
    if (j > i) fields.push_back(rest.substr(i, j - i));
    i = j + 1;
  }
  return fields;
}

inline std::int64_t to_i64(std::string_view s) {
  std::string tmp(s);
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(tmp.c_str(), &end, 10);
  if (errno != 0 || end == tmp.c_str()) return -1;
  return v;
}

// utime + stime of a process in clock ticks (fields 14 and 15), -1 if
// unreadable.
inline std::int64_t cpu_ticks(int pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  std::string stat;
  if (!read_small_file(path.c_str(), stat)) return -1;
  auto f = stat_fields_after_comm(stat);
  if (f.size() < 13) return -1;
  std::int64_t ut = to_i64(f[14 - 3]);
  std::int64_t st = to_i64(f[15 - 3]);
  if (ut < 0 || st < 0) return -1;
  return ut + st;
}

// Nanoseconds on CPU from /proc/PID/schedstat (CONFIG_SCHED_INFO). The
// stat ticks above are only 1/CLK_TCK resolution, too coarse to split a
// few hundred milliseconds of init CPU between twenty thousand orphans.
inline std::int64_t sched_ns(int pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/schedstat";
  std::string s;
  if (!read_small_file(path.c_str(), s)) return -1;
  auto sp = s.find(' ');
  return to_i64(std::string_view(s).substr(0, sp));
}

// A "Key:   value" line of /proc/PID/status, as an integer (kB for Vm*).
inline std::int64_t status_value(int pid, std::string_view key) {
  std::string path = "/proc/" + std::to_string(pid) + "/status";
  std::string s;
  if (!read_small_file(path.c_str(), s)) return -1;
  std::string_view sv = s;
  std::size_t pos = 0;
  while (pos < sv.size()) {
    std::size_t eol = sv.find('\n', pos);
    if (eol == std::string_view::npos) eol = sv.size();
    std::string_view line = sv.substr(pos, eol - pos);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ':') {
      std::string_view v = line.substr(key.size() + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      auto sp = v.find_first_of(" \t");
      return to_i64(v.substr(0, sp));
    }
    pos = eol + 1;
  }
  return -1;
}

inline std::string comm_of(int pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/comm";
  std::string s;
  if (!read_small_file(path.c_str(), s)) return "?";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s)
    if (c == ' ' || c == '=') c = '_';
  return s;
}

struct ProcCensus {
  int others = 0;   // processes other than the excluded ones, any state
  int zombies = 0;  // of which in state Z
};

// Counts the processes visible in /proc, skipping pid 1 and `self`. With
// --mount-proc, /proc lists only the benchmark's PID namespace, so this is
// cheap (a handful of entries) and sees exactly the orphans we created.
inline ProcCensus census(int self) {
  ProcCensus c;
  DIR* d = opendir("/proc");
  if (d == nullptr) return c;
  std::string stat;
  while (dirent* e = readdir(d)) {
    const char* n = e->d_name;
    if (n[0] < '1' || n[0] > '9') continue;
    int pid = std::atoi(n);
    if (pid == 1 || pid == self) continue;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (!read_small_file(path, stat)) continue;  // already gone
    ++c.others;
    auto f = stat_fields_after_comm(stat);
    if (!f.empty() && !f[0].empty() && f[0][0] == 'Z') ++c.zombies;
  }
  closedir(d);
  return c;
}

// True when we are in a child PID namespace whose own /proc is mounted
// (unshare --pid --fork --mount-proc): only then is /proc/1 the init under
// test and a /proc scan limited to the benchmark's processes.
inline bool private_pid_namespace() {
  // The initial PID namespace always has this inode (PROC_PID_INIT_INO).
  char link[64] = {};
  if (readlink("/proc/self/ns/pid", link, sizeof link - 1) < 0) return false;
  if (std::string_view(link) == "pid:[4026531836]") return false;
  // /proc/self names us by our own pid only if this /proc is our namespace's.
  std::string stat;
  if (!read_small_file("/proc/self/stat", stat)) return false;
  return to_i64(std::string_view(stat).substr(0, stat.find(' '))) == getpid();
}

}  // namespace keel_bench
