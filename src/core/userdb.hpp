// userdb.hpp — users and groups, read straight from /etc/passwd and /etc/group.
//
// keel is linked statically against glibc. A static glibc that reaches NSS
// (getpwnam, getgrnam, getgrouplist, ...) dlopens the NSS modules of
// whatever glibc the image ships, which may not match the one keel was built
// with, or crashes when none is there (scratch and distroless images). So
// keel never calls NSS: it parses the two files itself. Users that only exist
// in LDAP/SSSD are therefore invisible; give keel a numeric id for those.
//
// Parsing is lenient by design: one bad line in a hand-edited file must not
// stop PID 1 from starting the rest. Empty lines, '#' comments and NIS compat
// entries ('+' or '-' first) are skipped, as are malformed lines (wrong field
// count, empty name, an id that is not a plain decimal in 0..4294967294;
// (uid_t)-1 is reserved as "no change" by setresuid and chown). The first
// matching line wins, as with glibc's files backend.
//
// These run at configuration load, not in handlers: they allocate, may throw
// std::bad_alloc, and throw nothing else.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace keel {

struct UserEntry {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
  std::string shell;
};

struct GroupEntry {
  std::string name;
  gid_t gid = 0;
  std::vector<std::string> members;
};

// `name_or_uid` is a user name or, when it is all decimal digits, a uid (a
// digits-only name can thus not be looked up by name). A uid absent from the
// file is still valid: containers are routinely run as arbitrary numeric
// uids (OpenShift, `docker run -u 12345`), so the result is then
// {name = the uid in decimal, uid, gid = uid, home = "/", shell = ""}.
// Errors: unknown name -> {ENOENT, "user not found"}; a digits-only string
// above 4294967294 -> {EINVAL, "invalid uid"}; empty -> {EINVAL, "empty user
// name"}; file unreadable -> {errno, "open passwd"} or {errno, "read passwd"}.
// An unreadable file is an error even for a numeric uid: the caller decides
// whether a missing /etc/passwd is acceptable.
[[nodiscard]] Result<UserEntry> find_user(std::string_view name_or_uid, const char* passwd_path = "/etc/passwd");

// Same rules as find_user. An absent numeric gid yields {name = the gid in
// decimal, gid, members = {}}. Errors: {ENOENT, "group not found"},
// {EINVAL, "invalid gid"}, {EINVAL, "empty group name"}, {errno, "open group"},
// {errno, "read group"}.
[[nodiscard]] Result<GroupEntry> find_group(std::string_view name_or_gid, const char* group_path = "/etc/group");

// The groups to hand to setgroups(2) for `user_name`: `primary` first, then
// the gid of every group that lists `user_name` as a member, in file order,
// without duplicates. Membership is by name only, exactly as written in the
// member list. Errors: {errno, "open group"}, {errno, "read group"}.
[[nodiscard]] Result<std::vector<gid_t>> supplementary_groups(std::string_view user_name, gid_t primary,
                                                              const char* group_path = "/etc/group");

}  // namespace keel
