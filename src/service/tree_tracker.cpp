// tree_tracker.cpp — a service's processes found from /proc/PID/stat
// (parent, process group, session, start time) and the ids keel remembers
// for it, for hosts without cgroup2; signalled through pidfds.
//
// Nothing here opens anything of another process but /proc/PID/stat: no
// environ, cmdline or mem, whose reads take the target's mmap lock. The walk
// reads /proc with getdents64 into a stack buffer and each stat into another;
// nothing is allocated.
#include "service/tree_tracker.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <initializer_list>

namespace keel::service {
namespace {

// getdents64 batch: one page on the stack.
constexpr std::size_t kChunk = 4096;

// pidfd_send_signal(2)'s flag to signal the pidfd's process group as a
// whole (Linux 6.9, include/uapi/linux/pidfd.h); older kernels say EINVAL.
constexpr unsigned kPidfdSignalProcessGroup = 1U << 2;

struct Dirent64 {
  std::uint64_t d_ino;
  std::int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[1];
};

// What /proc/PID/stat says of a process, all a membership needs.
struct Facts {
  pid_t pid = 0;
  // From /proc/PID/stat; 0 until read. All-zero defaults keep the static
  // walk buffers below (24 KiB) in .bss, not in the binary's data.
  char state = 0;
  pid_t ppid = 0;
  pid_t pgrp = 0;
  pid_t sid = 0;
  std::uint64_t start = 0;  // clock ticks after boot: with the pid, who it is
};

// keel's own ids: never a service's.
struct Self {
  pid_t pid;
  pid_t sid;
  pid_t pgrp;
};

Self self_ids() noexcept { return Self{::getpid(), ::getsid(0), ::getpgrp()}; }

// A signed decimal at p; p moves past it and one separator.
long long parse_field(const char*& p) noexcept {
  bool negative = *p == '-';
  if (negative) ++p;
  long long v = 0;
  for (; *p >= '0' && *p <= '9'; ++p) v = v * 10 + (*p - '0');
  if (*p == ' ') ++p;
  return negative ? -v : v;
}

// "pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt
// majflt cmajflt utime stime cutime cstime priority nice num_threads
// itrealvalue starttime ..." (proc(5)); the comm may hold spaces and
// parentheses, so the fields are read after the last ')'.
bool read_facts(int proc_fd, pid_t pid, Facts& f) noexcept {
  char path[32];
  std::snprintf(path, sizeof path, "%d/stat", static_cast<int>(pid));
  int fd = ::openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  // A 64-byte comm and 20 fields of up to 20 digits each fit in 1 KiB.
  char buf[1024];
  ssize_t n;
  do {
    n = ::read(fd, buf, sizeof buf - 1);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char* close_paren = std::strrchr(buf, ')');
  if (close_paren == nullptr || close_paren[1] != ' ' || close_paren[2] == '\0') return false;
  const char* p = close_paren + 2;
  f.pid = pid;
  f.state = *p;
  p += 2;
  f.ppid = static_cast<pid_t>(parse_field(p));
  f.pgrp = static_cast<pid_t>(parse_field(p));
  f.sid = static_cast<pid_t>(parse_field(p));
  // Fields 7 (tty_nr) to 21 (itrealvalue), then 22: starttime.
  for (int field = 7; field <= 21; ++field) (void)parse_field(p);
  if (*p < '0' || *p > '9') return false;  // cut short: not the stat we know
  f.start = static_cast<std::uint64_t>(parse_field(p));
  return true;
}

bool is_self_id(const Self& self, pid_t id) noexcept { return id == self.pid || id == self.sid || id == self.pgrp; }

// Rule 1: the process's pid, group or session is one of the service's.
bool known(const ServiceTracker& t, const Self& self, const Facts& f) noexcept {
  for (pid_t id : {f.pid, f.pgrp, f.sid}) {
    if (id > 0 && !is_self_id(self, id) && t.knows(id)) return true;
  }
  return false;
}

enum class Verdict : unsigned char { Unknown, Outside, Other, Member };

// Verdicts of one walk, so that the parent links shared by many processes
// are read once per walk, not once per descendant: open addressing on the
// stack (20 KiB), pid 0 marking a free slot. When it is full, verdicts are
// simply not kept (the walk is slower, not wrong). A verdict can only get
// better within a walk (ids are learned, never dropped, until its end), and
// a walk that learned something is repeated, so a stale "Other" costs at
// most one more pass.
class VerdictCache {
 public:
  Verdict get(pid_t pid) const noexcept {
    for (std::size_t i = slot(pid), n = 0; n < kSlots; i = (i + 1) % kSlots, ++n) {
      if (keys_[i] == pid) return verdicts_[i];
      if (keys_[i] == 0) return Verdict::Unknown;
    }
    return Verdict::Unknown;
  }
  void put(pid_t pid, Verdict v) noexcept {
    if (used_ >= kSlots * 3 / 4) return;
    std::size_t i = slot(pid);
    while (keys_[i] != 0 && keys_[i] != pid) i = (i + 1) % kSlots;
    if (keys_[i] == 0) ++used_;
    keys_[i] = pid;
    verdicts_[i] = v;
  }

 private:
  static constexpr std::size_t kSlots = 4096;
  static std::size_t slot(pid_t pid) noexcept { return (static_cast<std::size_t>(pid) * 2654435761U) % kSlots; }
  pid_t keys_[kSlots] = {};
  Verdict verdicts_[kSlots] = {};
  std::size_t used_ = 0;
};

// keel's own session and group hold keel's own helpers and, as a
// subreaper, whatever started keel: never a service's (each service starts
// in a session of its own and cannot join another session).
// As PID 1 of a PID namespace keel's session was made outside it and reads
// as 0 there, and so does the session of every child that kept it (the log
// writer, the loader): 0 == 0 is then keel's session. A service cannot have
// it: each gets a session of its own, made inside the namespace.
bool in_keels_session(const Self& self, const Facts& f) noexcept {
  return f.pid == self.pid || f.sid == self.sid || (f.pgrp > 0 && f.pgrp == self.pgrp);
}

// Rules 1 to 3 (tree_tracker.hpp), from the process up its parent links,
// which must reach keel: a known id on a process outside keel's tree is a
// number reused there (or another keel's service), never this service. A
// process is a member when a process at or above it on the path (up to
// keel) has a known id, or the path starts at an orphan rule 3 gives us.
// Every process on the path gets its verdict in `cache` (null: none).
// Returns f's own verdict: Member, Other (below keel, not the service's:
// yet), or Outside.
Verdict judge(int proc_fd, const ServiceTracker& t, const Self& self, const Facts& f, bool sole,
              VerdictCache* cache) noexcept {
  Facts path[limits::kTrackDepth];
  int depth = 0;
  Verdict top = Verdict::Unknown;  // of what is above the path's last entry
  Facts cur = f;
  for (;;) {
    if (in_keels_session(self, cur)) {
      top = Verdict::Outside;
      break;
    }
    if (depth == limits::kTrackDepth) {
      top = Verdict::Outside;  // too deep to be worth it: as if outside
      break;
    }
    path[depth++] = cur;
    if (cur.ppid == self.pid) {
      // `cur` is keel's child: one it launched (its own session, known to
      // its service by rule 1) or an orphan keel adopted.
      bool orphan_ours = sole && t.launch_start() != 0 && cur.start >= t.launch_start();
      top = orphan_ours ? Verdict::Member : Verdict::Other;
      break;
    }
    if (cur.ppid <= 1) {
      top = Verdict::Outside;  // not below keel
      break;
    }
    Verdict cached = cache != nullptr ? cache->get(cur.ppid) : Verdict::Unknown;
    if (cached != Verdict::Unknown) {
      top = cached;
      break;
    }
    pid_t parent = cur.ppid;
    if (!read_facts(proc_fd, parent, cur)) {
      top = Verdict::Outside;  // gone: its children are keel's now, seen next walk
      break;
    }
  }
  // Down the path from the top: below keel, a known id makes a process and
  // everything under it a member.
  Verdict v = top;
  for (int i = depth - 1; i >= 0; --i) {
    if (v == Verdict::Other && known(t, self, path[i])) v = Verdict::Member;
    if (cache != nullptr) cache->put(path[i].pid, v);
  }
  return depth > 0 ? v : Verdict::Outside;
}

bool member(int proc_fd, const ServiceTracker& t, const Self& self, const Facts& f, bool sole,
            VerdictCache* cache) noexcept {
  return judge(proc_fd, t, self, f, sole, cache) == Verdict::Member;
}

// Remembers a member's ids. Its pid too: a member seen now may make a
// session or group of its own later, whose orphans carry this number.
bool learn_ids(ServiceTracker& t, const Self& self, const Facts& f) noexcept {
  bool learned = false;
  for (pid_t id : {f.pid, f.pgrp, f.sid}) {
    if (id <= 0 || is_self_id(self, id) || t.knows(id)) continue;
    if (t.learn(id)) learned = true;
  }
  return learned;
}

// The processes below keel one walk found not to be the service's, as they
// were judged: an id learned later in the same walk can make one of them
// (and whatever descends from it) a member. Kept so that a walk is repeated
// only when that happened, not whenever something was learned (every new
// child's pid is), and so that a repeated stop walk signals only the
// processes it newly found. Bounded (limits::kTrackOthersPerWalk); past
// the bound, `overflowed` says the list is incomplete.
struct Others {
  Facts list[limits::kTrackOthersPerWalk];
  int count = 0;
  bool overflowed = false;

  void add(const Facts& f) noexcept {
    if (count < limits::kTrackOthersPerWalk) {
      list[count++] = f;
    } else {
      overflowed = true;
    }
  }
  // Does an id the tracker knows now name one of them?
  [[nodiscard]] bool any_known(const ServiceTracker& t, const Self& self) const noexcept {
    for (int i = 0; i < count; ++i) {
      if (known(t, self, list[i])) return true;
    }
    return false;
  }
  // Was this process (pid and start time) one of them?
  [[nodiscard]] bool has(const Facts& f) const noexcept {
    for (int i = 0; i < count; ++i) {
      if (list[i].pid == f.pid && list[i].start == f.start) return true;
    }
    return false;
  }
};

struct WalkResult {
  bool complete = false;  // every entry of /proc was seen
  bool learned = false;   // an id was learned
  int members = 0;        // live (not zombie) members seen
};

// One walk of /proc: learns every member's ids, drops the ids no process
// uses any more (on a complete walk), records in `others` (when given) the
// processes below keel judged not the service's, and calls fn(proc_fd,
// facts) for each member; fn returns true to end the walk early.
template <typename Fn>
WalkResult walk(ServiceTracker& t, bool sole, Others* others, Fn fn) noexcept {
  WalkResult r;
  int proc_fd = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (proc_fd < 0) return r;
  Self self = self_ids();
  bool used[limits::kTrackedIds] = {};
  VerdictCache cache;
  alignas(Dirent64) char buf[kChunk];
  bool stopped = false;
  for (;;) {
    long n = ::syscall(SYS_getdents64, proc_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) stopped = true;
    if (n <= 0) break;
    for (long off = 0; off < n && !stopped;) {
      auto* d = reinterpret_cast<Dirent64*>(buf + off);
      off += d->d_reclen;
      const char* name = d->d_name;
      if (name[0] < '1' || name[0] > '9') continue;
      pid_t pid = 0;
      bool digits = true;
      for (const char* p = name; *p != '\0'; ++p) {
        if (*p < '0' || *p > '9') {
          digits = false;
          break;
        }
        pid = pid * 10 + (*p - '0');
      }
      Facts f;
      if (!digits || !read_facts(proc_fd, pid, f)) continue;
      Verdict v = judge(proc_fd, t, self, f, sole, &cache);
      if (v == Verdict::Member) {
        if (learn_ids(t, self, f)) r.learned = true;
        if (f.state != 'Z') ++r.members;
        if (fn(proc_fd, f)) stopped = true;
      } else if (v == Verdict::Other && others != nullptr) {
        others->add(f);
      }
      // Ids in use now, by anyone: not to be dropped (after the learning,
      // so that the ids just learned are counted).
      for (int i = 0; i < t.count(); ++i) {
        pid_t id = t.id(i);
        if (id == f.pid || id == f.pgrp || id == f.sid) used[i] = true;
      }
    }
    if (stopped) break;
  }
  ::close(proc_fd);
  r.complete = !stopped;
  if (r.complete) t.keep_only(used);
  return r;
}

// After a complete walk: must it be walked again? Only when an id it
// learned names a process it had judged not the service's (an orphan in
// the session of a daemon listed after it), or when it could not keep
// them all to tell.
bool walk_again(const WalkResult& r, const Others& others, const ServiceTracker& t) noexcept {
  if (!r.complete || !r.learned) return false;
  return others.overflowed || others.any_known(t, self_ids());
}

int pidfd_open(pid_t pid) noexcept { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int pidfd_signal(int fd, int signo, unsigned flags) noexcept {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, fd, signo, nullptr, flags));
}

// Set once a kernel has said EINVAL to PIDFD_SIGNAL_PROCESS_GROUP.
bool group_flag_unsupported = false;

}  // namespace

void ServiceTracker::begin_run(pid_t leader) noexcept {
  count_ = 0;
  overflows_ = 0;
  launch_start_ = 0;
  live_ = true;
  if (leader <= 0) return;
  (void)learn(leader);
  // The leader is keel's child, not yet reaped: its pid cannot have been
  // reused, so its start time is the launch's.
  int proc_fd = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (proc_fd < 0) return;
  Facts f;
  if (read_facts(proc_fd, leader, f)) launch_start_ = f.start;
  ::close(proc_fd);
}

void ServiceTracker::end_run() noexcept {
  live_ = false;
  count_ = 0;
}

bool ServiceTracker::knows(pid_t id) const noexcept {
  for (int i = 0; i < count_; ++i) {
    if (ids_[i] == id) return true;
  }
  return false;
}

bool ServiceTracker::learn(pid_t id) noexcept {
  if (knows(id)) return true;
  if (count_ >= limits::kTrackedIds) {
    ++overflows_;
    return false;
  }
  ids_[count_++] = id;
  return true;
}

void ServiceTracker::keep_only(const bool* used) noexcept {
  int kept = 0;
  for (int i = 0; i < count_; ++i) {
    if (used[i]) ids_[kept++] = ids_[i];
  }
  count_ = kept;
}

int signal_tree(ServiceTracker& tracker, bool sole, int signo, bool and_continue) noexcept {
  // The signal, then SIGCONT when asked, the same way (one process, or a
  // group through its leader's pidfd); errno is the first signal's.
  auto send = [&](int fd, unsigned flags) noexcept {
    if (pidfd_signal(fd, signo, flags) != 0) return false;
    if (and_continue) (void)pidfd_signal(fd, SIGCONT, flags);
    return true;
  };
  int count = 0;
  pid_t groups_done[limits::kTrackGroupsPerWalk];
  int groups = 0;
  // One walk learns and signals. Another follows only when an id learned
  // late in it makes a process judged earlier a member (walk_again); that
  // walk signals only the processes the one before had judged not the
  // service's, so no process gets the signal twice. (When the record of
  // those overflowed, a member it could not hold is signalled by the next
  // stop round: SIGKILL after stop_timeout.)
  static Others previous[2];  // 2 x 8 KiB, kept off PID 1's stack (the walk has 25 KiB there)
  Others* before = nullptr;
  for (int pass = 0; pass < limits::kTrackPasses; ++pass) {
    Others& others = previous[pass % 2];
    others.count = 0;
    others.overflowed = false;
    WalkResult r = walk(tracker, sole, &others, [&](int proc_fd, const Facts& f) {
      if (f.state == 'Z') return false;
      if (before != nullptr && !before->has(f)) return false;  // signalled by the walk before
      for (int i = 0; i < groups; ++i) {
        if (groups_done[i] == f.pgrp) return false;  // signalled with its group
      }
      int fd = pidfd_open(f.pid);
      if (fd < 0 && errno != ENOSYS) return false;  // gone (ESRCH)
      // Who holds the pid now: the same process (pid and start time) as the
      // one found a member, or, if the pid was reused after pidfd_open(),
      // a process the signal below cannot reach (the pidfd's is gone).
      Facts now;
      if (!read_facts(proc_fd, f.pid, now) || now.start != f.start) {
        if (fd >= 0) ::close(fd);
        return false;
      }
      if (fd < 0) {
        // Linux before 5.3: no pidfds, the pid as the old tracker did, right
        // after the check.
        if (::kill(f.pid, signo) == 0) {
          ++count;
          if (and_continue) (void)::kill(f.pid, SIGCONT);
        }
        return false;
      }
      bool sent = false;
      // The whole group at once, when this member leads it: the kernel
      // signals the group whose id is the pidfd's own pid (a member that does
      // not lead a group has none: ESRCH), so the pidfd pins the group's id
      // too, and it is one of the service's (learned from this member). Not
      // in a repeated walk: the group may hold members the walk before
      // signalled one by one.
      if (before == nullptr && !group_flag_unsupported && groups < limits::kTrackGroupsPerWalk && f.pgrp == f.pid &&
          now.pgrp == f.pgrp) {
        if (send(fd, kPidfdSignalProcessGroup)) {
          groups_done[groups++] = f.pgrp;
          sent = true;
        } else if (errno == EINVAL) {
          group_flag_unsupported = true;
        }
      }
      if (!sent) sent = send(fd, 0);
      if (sent) ++count;
      ::close(fd);
      return false;
    });
    if (!walk_again(r, others, tracker)) break;
    before = &others;
  }
  return count;
}

bool tree_alive(ServiceTracker& tracker, bool sole) noexcept {
  // The first live member answers: the walk ends there (what it had not
  // reached yet is learned by the next walk).
  static Others others;  // 8 KiB, kept off PID 1's stack
  for (int pass = 0; pass < limits::kTrackPasses; ++pass) {
    others.count = 0;
    others.overflowed = false;
    WalkResult r = walk(tracker, sole, &others, [](int, const Facts& f) { return f.state != 'Z'; });
    if (r.members > 0) return true;
    if (!walk_again(r, others, tracker)) return false;
  }
  return false;
}

bool in_tree(ServiceTracker& tracker, pid_t pid) noexcept {
  Self self = self_ids();
  if (pid <= 0 || pid == self.pid) return false;
  int proc_fd = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (proc_fd < 0) return false;
  Facts f;
  bool in = read_facts(proc_fd, pid, f) && member(proc_fd, tracker, self, f, false, nullptr);
  ::close(proc_fd);
  if (in) (void)learn_ids(tracker, self, f);
  return in;
}

}  // namespace keel::service
