// tree_tracker.hpp — finding a service's processes without cgroups, and
// signalling them, without reading any other process's memory.
//
// Where no cgroup2 is mounted (or a service's cgroup could not be made),
// keel finds a service's processes from /proc/PID/stat alone: its parent,
// process group and session. Reading stat takes no lock of the target's
// memory (do_task_stat reads the mm's counters without mmap_lock), unlike
// /proc/PID/environ or cmdline, whose reads take the target's mmap lock: a
// process that holds it (stuck in a page fault on a hung FUSE or NFS file,
// the CVE-2018-1120 class) would stall PID 1. keel still sets
// KEEL_SERVICE=NAME in each service's environment (for the service's own
// use and for operators), but never reads it back.
//
// A process belongs to the service when, with keel excluded:
//  1. its pid, process group or session is one of the service's remembered
//     ids: at launch the launched process's pid (it leads its own session
//     and group, spawn_service), then every pid, group and session of every
//     member keel has seen; or
//  2. one of its ancestors, following parent links below keel, is a
//     member by rule 1 (descendants of members are members); or
//  3. it descends from an orphan keel adopted (a direct child keel did not
//     launch) that no rule ties to a service, the orphan started after this
//     service's launch, and no other service has a run going: then this
//     service is the only one that could have made it.
// Why rule 1 is sound: a session or group is only ever entered by fork from
// a member or by setpgid() within its own session, and a new one takes its
// creator's pid; so whoever is in a member's session or group came from
// the service. Ids are learned at every walk (a stop, tree_alive(),
// in_tree()): a daemon seen once, even for a moment, is remembered by its
// pid, so the orphans of the session it later makes are found after it
// exits. Ids that no live process uses any more are dropped at each full
// walk (they could be reused). tree_alive() ends its walk at the first live
// member, so it learns only what comes before it in /proc; a stop's walk
// always reads the whole of /proc.
//
// Walks are what a stop costs without cgroups (one read of /proc/PID/stat
// per process of the machine, kernel threads included), so each stop round
// walks once, learning and signalling in the same pass, and walks again
// only when an id learned late in the pass names a process the pass had
// already judged not the service's (rule 1 for an orphan listed before the
// daemon whose session it is in).
//
// The escapes that remain possible without cgroups, exactly:
//  - A process that leaves the service's session (setsid(), or a fork of a
//    process that did) and loses every link before keel walks /proc: its
//    parent chain up to keel and the session's creator both gone, with no
//    walk in between (keel walks at a stop, at tree_alive() when a main
//    process exits, and for notify senders). Example: `(setsid daemon &)`
//    from a shell whose subshell exits at once. Rule 3 still finds it when
//    the service is the only one running; with another service running it
//    is left alone, and only the final stop of every process at shutdown
//    (core/process_tree) ends it.
//  - Rule 3 can take for the service an orphan that came from elsewhere
//    while the service ran alone: a process entered into keel's PID
//    namespace from outside (nsenter) and orphaned, or a leftover of an
//    earlier run of a service that itself escaped; or, with its start time
//    later than the launch, a direct child keel started for another reason.
//    So keel's own helper processes (anything keel forks that is not a
//    service) stay in keel's session and process group: no rule ever takes
//    a process of keel's own session or group.
//  - A pid, session or group id remembered for the service names another
//    process if the id is freed and handed out again between two walks
//    (pid_max forks in between). Signals still go only to a process alive
//    at the pidfd_open() that passed the check (see below).
//  - A process that keel cannot read (another PID namespace's /proc view,
//    or hidepid=) is neither found nor signalled.
//  - More live ids than limits::kTrackedIds: the newest are not learned.
//  cgroups close all of these (service/cgroup.hpp).
//
// Signalling: every process is signalled through a pidfd, never by a pid
// that may have been reused: pidfd_open(pid), then /proc/PID/stat read
// again and the process's start time compared with the one of the process
// found a member, then pidfd_send_signal(). The pidfd pins the process: if the
// pid was freed and reused between the open and the read, the read saw
// another process, but the signal goes to the pidfd's process, which is
// gone, and fails with ESRCH. A group whose leader is alive is signalled as
// a whole through the leader's checked pidfd with PIDFD_SIGNAL_PROCESS_GROUP
// (Linux 6.9; the kernel signals the group whose id is the pidfd's pid, so
// the pidfd pins the group's id as well), so a member forked during the walk
// is not missed; other members are signalled one by one, each by its own
// pidfd. kill(-pgid) by number is never used: keel cannot know, at the
// instant of the call, that some process still holds the group's id (a
// group id stays allocated exactly as long as a process uses it as pid,
// group or session; once the last member and the leader are gone, the
// number is free, and a new process given that pid can make a group of the
// same number). A member forked during the walk into a group whose leader
// is gone is found by the next walk: a stop re-checks the tree at each
// child exit and sends SIGKILL again after its timeout. On kernels without
// pidfds (before 5.3) the signal goes by pid after the same check.
//
// Walking /proc is an edge: it runs at a stop, at tree_alive() and for
// notify senders, never in a signal or reap handler. It allocates nothing
// (getdents64 and reads into stack buffers); the ids live in the tracker.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "core/limits.hpp"

namespace keel::service {

// One service's remembered ids, fixed size, kept with the service.
class ServiceTracker {
 public:
  // A run began: `leader` is the launched process (keel's child, leader of
  // a new session and group). Forgets the last run's ids.
  void begin_run(pid_t leader) noexcept;
  // The run is over (nothing of it is left, or keel gave up on it).
  void end_run() noexcept;
  [[nodiscard]] bool live() const noexcept { return live_; }

  [[nodiscard]] bool knows(pid_t id) const noexcept;
  // Remembers `id`; false when there is no room (limits::kTrackedIds).
  bool learn(pid_t id) noexcept;
  // Drops the ids for which used[i] is false (no process uses them).
  void keep_only(const bool* used) noexcept;
  [[nodiscard]] int count() const noexcept { return count_; }
  [[nodiscard]] pid_t id(int i) const noexcept { return ids_[i]; }
  // The launched process's start time (clock ticks since boot, field 22
  // of /proc/PID/stat), 0 when unknown: an orphan older than it is not of
  // this run.
  [[nodiscard]] std::uint64_t launch_start() const noexcept { return launch_start_; }
  // How many ids could not be learned for want of room, this run.
  [[nodiscard]] std::uint64_t overflows() const noexcept { return overflows_; }

 private:
  pid_t ids_[limits::kTrackedIds] = {};
  int count_ = 0;
  std::uint64_t launch_start_ = 0;
  std::uint64_t overflows_ = 0;
  bool live_ = false;
};

// `signo` to every process of the service (rules above; rule 3 only when
// `sole` says no other service has a run going), each through a checked
// pidfd, and SIGCONT right after it when `and_continue` (the stop signal
// and its SIGCONT in one walk). Learns ids in the same walk; a process
// gets the signal once. Returns how many processes or groups were
// signalled.
int signal_tree(ServiceTracker& tracker, bool sole, int signo, bool and_continue = false) noexcept;

// Is any process of the service alive (zombies do not count)? Learns ids
// on the way; the walk ends at the first live member.
[[nodiscard]] bool tree_alive(ServiceTracker& tracker, bool sole) noexcept;

// Is `pid` a process of the service by rules 1 and 2 (rule 3 is never
// used here: an orphan no rule ties to the service does not speak for it)?
// keel itself never is. Who may speak for a service on its notify socket,
// and which MAINPID it may name, is decided with this. Learns the
// process's ids when it is.
[[nodiscard]] bool in_tree(ServiceTracker& tracker, pid_t pid) noexcept;

}  // namespace keel::service
