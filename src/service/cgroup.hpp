// cgroup.hpp — one cgroup v2 directory per service: resource limits, and a
// stop that no daemon can escape.
//
// A service's processes are moved into ROOT/NAME by the child itself,
// before exec (the exec plan writes "0" to the cgroup.procs fd created
// here). Whatever the service then forks, double-forks or setsid()s stays
// in that cgroup, so "is anything of it still running" is one read of
// cgroup.events and "stop all of it" is one write to cgroup.kill (Linux
// 5.14; before that, freeze + SIGKILL each pid in cgroup.procs).
//
// cgroup v2 only: v1 has no single hierarchy to place a process in, and
// hybrid hosts (v1 controllers plus a controller-less v2 mount, as on this
// project's CI machines) still give the v2 tree, which is enough to track
// and kill a service; limits then just are not applied. When there is no
// cgroup2 at all, the supervisor uses service/tree_tracker.hpp.
//
// Setup (init, create) is an edge and may allocate. The signal path
// (populated, kill_all, signal_all) does not: cgroup.procs is read through
// a stack buffer in bounded chunks.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "core/result.hpp"
#include "service/config.hpp"

namespace keel::service {

// One service's cgroup. Owns its two fds (closed on destruction); move-only.
// Once the service is launched into it, close_fds() gives them up: the
// functions below then open the directory by name under the manager's root
// for each call, so a running service holds no cgroup fd in keel.
struct ServiceCgroup {
  ServiceCgroup() = default;
  ~ServiceCgroup();
  ServiceCgroup(const ServiceCgroup&) = delete;
  ServiceCgroup& operator=(const ServiceCgroup&) = delete;
  ServiceCgroup(ServiceCgroup&& other) noexcept;
  ServiceCgroup& operator=(ServiceCgroup&& other) noexcept;

  void close_fds() noexcept;

  std::string name;    // the directory's name under the manager's root
  int root_fd = -1;    // the manager's root directory (borrowed, not closed here)
  int dir_fd = -1;     // the cgroup directory (O_DIRECTORY)
  int procs_fd = -1;   // its cgroup.procs, O_WRONLY: ExecInputs::cgroup_procs_fd
  // Limits that were asked for but could not be applied (controller not
  // available), for the caller to log once; "" when all were applied.
  std::string warning;
  // Controllers this service's limits made keel enable for the services
  // ("memory pids"), for the caller to log; "" when none was needed.
  std::string enabled;
};

class CgroupManager {
 public:
  CgroupManager() = default;
  ~CgroupManager();
  CgroupManager(const CgroupManager&) = delete;
  CgroupManager& operator=(const CgroupManager&) = delete;

  // `root_dir`: a directory inside a cgroup2 mount that keel may create
  // ("/sys/fs/cgroup/keel" as PID 1). Created if missing. Errors:
  // {ENOTSUP, "not cgroup2"} when the path is not on a cgroup2 mount,
  // {errno, "cgroup root"} when it cannot be created or opened. No
  // controller is enabled here: create() enables one when a service's limit
  // first needs it (a controller in subtree_control is instantiated in
  // every service cgroup's mkdir: 78 us with none, ~240 us with memory,
  // pids and cpu in a small VM, per service, at every boot). keel must not
  // itself be inside root_dir (cgroup v2's "no internal processes" rule
  // would refuse the controllers).
  Status init(const char* root_dir);

  [[nodiscard]] bool ready() const noexcept { return root_fd_ >= 0; }
  // Controllers keel enabled for service cgroups: "memory pids cpu", a
  // subset in the order enabled, or "" until a limit needs one.
  [[nodiscard]] const std::string& controllers() const noexcept { return controllers_; }

  // Enables in ROOT's subtree_control the controllers `limits` need that
  // are not on yet; returns their names ("memory pids"), "" when none was
  // needed or none could be enabled. The supervisor calls it for every
  // service it loads before the first starts: enabling a controller while
  // service cgroups hold processes makes the kernel migrate them, which
  // waits for an RCU grace period (8 to 11 ms measured in a small VM, icount,
  // against 0.1 ms while ROOT's children are empty).
  std::string enable_for(const CgroupLimits& limits);

  // ROOT/NAME, created or reused if it exists and is empty (a leftover
  // that still holds processes: {EBUSY, "cgroup populated"}). A controller
  // the limits need is first enabled in ROOT's cgroup.subtree_control (and
  // in its parent's when ROOT lacks it), before any limit file is written;
  // it stays enabled for every service afterwards (cgroup v2 enables a
  // controller for all the children of a cgroup at once). Limits are
  // written where the controller is there; unset ones are put back to the
  // kernel default, so a reused cgroup does not keep an old limit.
  Result<ServiceCgroup> create(std::string_view service, const CgroupLimits& limits);

  // Removes an empty service cgroup; closes its fds. Failing (still
  // populated) is fine: create() reuses the directory.
  void remove(ServiceCgroup& cgroup) noexcept;

 private:
  // `controller` ("memory") on for ROOT's children; true when it is.
  bool enable(const char* controller);

  int root_fd_ = -1;
  std::string controllers_;
};

// Does the cgroup hold any process (its own or in a child cgroup)? From
// cgroup.events; false when it cannot be read.
[[nodiscard]] bool populated(const ServiceCgroup& cgroup) noexcept;

// SIGKILL everything in the cgroup: cgroup.kill, or when the kernel lacks
// it, freeze, SIGKILL each pid of cgroup.procs, thaw.
Status kill_all(const ServiceCgroup& cgroup) noexcept;

// kill_all's fallback, on its own so it can be tested on a kernel that
// has cgroup.kill: freeze (when cgroup.freeze exists), SIGKILL each pid of
// cgroup.procs until a read finds none or a bound of rounds, thaw.
Status kill_each(const ServiceCgroup& cgroup) noexcept;

// `signo` to each pid in cgroup.procs (the stop signal, SIGCONT, ...).
Status signal_all(const ServiceCgroup& cgroup, int signo) noexcept;

// The cgroup v2 path of `pid` as /proc/PID/cgroup shows it ("/keel/web",
// relative to keel's cgroup namespace), NUL-terminated into out; false
// when the process is gone or has no v2 line. Read into a stack buffer.
bool proc_cgroup_path(pid_t pid, char* out, std::size_t capacity) noexcept;

// Is `pid` in the cgroup whose path (from proc_cgroup_path) is `path`, or
// in a cgroup below it?
[[nodiscard]] bool pid_in_cgroup(pid_t pid, std::string_view path) noexcept;

}  // namespace keel::service
