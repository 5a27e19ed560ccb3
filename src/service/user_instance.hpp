// user_instance.hpp — what a service may ask of a keel that is not root.
//
// keel's system role run by a uid other than 0 (a user instance, or a
// container's init under `USER 1000`: docs/system-mode.md, "A user
// instance") cannot change a service's user or groups, give it
// capabilities, raise an rlimit past the hard limit it inherited, chown a
// socket to someone else, or put limits on a cgroup nobody delegated to
// it. A service file that asks for one of these would fail at every
// start with an EPERM from the child; instead the loader (never PID 1:
// ARCHITECTURE.md, rule 9) refuses it once, with one sentence naming the
// key and why, and the service is not loaded (its dependents see it
// missing; the sentence is in keel's log and `keelctl status`). What the
// service asks that is already so (`user` = keel's own user) is accepted
// and changes nothing.
#pragma once

#include <sys/types.h>

#include <string>

#include "service/config.hpp"

namespace keel::service {

// Who keel is, for the checks.
struct UserInstance {
  uid_t uid = 0;
  gid_t gid = 0;
  // Services may get cgroups (a delegated root, user_cgroup_root()); false:
  // cgroup limits are refused.
  bool cgroups = false;
};

// "" when `c` may run under `self`, else the sentence ("user instance:
// service web: user = \"www\" needs root; refused"). May rewrite `c`: a
// `user` that is keel's own becomes no credential change.
[[nodiscard]] std::string user_instance_refusal(ServiceConfig& c, const UserInstance& self);

// Every service of `loaded` checked: the refused ones are moved to its
// errors. For the loader child, when its euid is not 0.
void refuse_what_needs_root(LoadResult& loaded, const UserInstance& self);

// Where a user instance's services get cgroups: $KEEL_CGROUP_ROOT when
// set ("none": nowhere), else DIR/keel where DIR is keel's own cgroup
// (/proc/self/cgroup) when it is on cgroup2 and delegated to keel's uid
// (its directory and cgroup.procs writable: moving a process needs the
// latter on the common ancestor), else "" with `why_off` saying why.
[[nodiscard]] std::string user_cgroup_root(std::string& why_off);

}  // namespace keel::service
