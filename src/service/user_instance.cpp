// user_instance.cpp — see user_instance.hpp.
#include "service/user_instance.hpp"

#include <sys/resource.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <utility>
#include <vector>

#include "core/read_file.hpp"

namespace keel::service {
namespace {

constexpr long kCgroup2Magic = 0x63677270;  // CGROUP2_SUPER_MAGIC

std::string limit_text(rlim_t v) { return v == RLIM_INFINITY ? std::string("infinity") : std::to_string(v); }

const char* rlimit_name(int resource) {
  switch (resource) {
    case RLIMIT_AS: return "as";
    case RLIMIT_CORE: return "core";
    case RLIMIT_CPU: return "cpu";
    case RLIMIT_DATA: return "data";
    case RLIMIT_FSIZE: return "fsize";
    case RLIMIT_LOCKS: return "locks";
    case RLIMIT_MEMLOCK: return "memlock";
    case RLIMIT_MSGQUEUE: return "msgqueue";
    case RLIMIT_NICE: return "nice";
    case RLIMIT_NOFILE: return "nofile";
    case RLIMIT_NPROC: return "nproc";
    case RLIMIT_RSS: return "rss";
    case RLIMIT_RTPRIO: return "rtprio";
    case RLIMIT_RTTIME: return "rttime";
    case RLIMIT_SIGPENDING: return "sigpending";
    case RLIMIT_STACK: return "stack";
    default: return "?";
  }
}

bool in_own_groups(gid_t g, gid_t own) {
  if (g == own) return true;
  gid_t list[256];
  int n = ::getgroups(static_cast<int>(std::size(list)), list);
  return n > 0 && std::find(list, list + n, g) != list + n;
}

// "user instance: service NAME: PARTS... needs root; refused", built in
// one string.
template <typename... Parts>
std::string refused(const ServiceConfig& c, const Parts&... parts) {
  std::string out = "user instance: service ";
  out += c.name;
  out += ": ";
  (out += ... += parts);
  out += " needs root; refused";
  return out;
}

}  // namespace

std::string user_instance_refusal(ServiceConfig& c, const UserInstance& self) {
  if (c.has_user) {
    if (c.uid != self.uid && !c.user.empty()) return refused(c, "user = \"", c.user, "\"");
    if (c.uid != self.uid) return refused(c, "user = ", std::to_string(c.uid));
    if (c.gid != self.gid) {
      return c.group.empty() ? refused(c, "group = ", std::to_string(c.gid)) : refused(c, "group = \"", c.group, "\"");
    }
    // supplementary_groups and the user's memberships, resolved at load:
    // one keel is not already in would need setgroups(2) (CAP_SETGID).
    for (gid_t g : c.groups) {
      if (!in_own_groups(g, self.gid)) return refused(c, "supplementary group ", std::to_string(g));
    }
    // Every id asked for is keel's own: the service runs with keel's
    // credentials, which already are these (setgroups would fail).
    c.has_user = false;
    c.groups.clear();
  }
  if (c.capabilities.has_value()) return refused(c, "capabilities (changing the bounding set needs CAP_SETPCAP)");
  for (const Rlimit& r : c.rlimits) {
    rlimit now{};
    if (::getrlimit(r.resource, &now) != 0) continue;
    // Anyone may lower a limit or move the soft one up to the hard one;
    // only CAP_SYS_RESOURCE raises the hard one.
    auto above = [&](rlim_t v) { return now.rlim_max != RLIM_INFINITY && (v == RLIM_INFINITY || v > now.rlim_max); };
    if (!above(r.hard) && !above(r.soft)) continue;
    return refused(c, "rlimits ", rlimit_name(r.resource), " = ", limit_text(r.hard), " is above the hard limit ",
                   limit_text(now.rlim_max), " (raising it)");
  }
  const CgroupLimits& l = c.cgroup;
  if (!self.cgroups && (l.memory_max || l.pids_max || l.cpu_weight)) {
    std::string out = "user instance: service ";
    out += c.name;
    out += ": [cgroup] limits need a cgroup delegated to keel (none: see keel's start-up message); refused";
    return out;
  }
  for (const SocketConfig& s : c.sockets) {
    if ((s.set_owner && s.uid != self.uid) || (s.set_group && !in_own_groups(s.gid, self.gid))) {
      return refused(c, "[[socket]] ", s.name, ": owner/group of another user (chown)");
    }
  }
  return {};
}

void refuse_what_needs_root(LoadResult& loaded, const UserInstance& self) {
  std::vector<ServiceConfig> kept;
  kept.reserve(loaded.services.size());
  for (ServiceConfig& c : loaded.services) {
    std::string why = user_instance_refusal(c, self);
    if (why.empty()) {
      kept.push_back(std::move(c));
    } else {
      loaded.errors.push_back(ConfigError{c.file, 0, "", std::move(why)});
    }
  }
  loaded.services = std::move(kept);
}

std::string user_cgroup_root(std::string& why_off) {
  if (const char* env = std::getenv("KEEL_CGROUP_ROOT")) {
    if (std::string_view(env) == "none") {
      why_off = "KEEL_CGROUP_ROOT=none";
      return {};
    }
    return env;
  }
  std::string text;
  if (!read_file("/proc/self/cgroup", text, 4096)) {
    why_off = "cannot read /proc/self/cgroup";
    return {};
  }
  // cgroup2's line is "0::/PATH".
  std::size_t at = text.rfind("\n0::");
  if (at != std::string::npos) {
    ++at;
  } else if (text.starts_with("0::")) {
    at = 0;
  }
  if (at == std::string::npos) {
    why_off = "keel is not in a cgroup2 hierarchy";
    return {};
  }
  std::size_t end = text.find('\n', at);
  std::string path = text.substr(at + 3, end == std::string::npos ? end : end - at - 3);
  while (!path.empty() && path.back() == '/') path.pop_back();
  // The unified hierarchy: /sys/fs/cgroup, or /sys/fs/cgroup/unified in a
  // hybrid layout.
  std::string own;
  for (const char* mount : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
    struct statfs fs {};
    if (::statfs(mount, &fs) == 0 && static_cast<long>(fs.f_type) == kCgroup2Magic) {
      own = mount + path;
      break;
    }
  }
  if (own.empty()) {
    why_off = "no cgroup2 hierarchy mounted at /sys/fs/cgroup";
    return {};
  }
  if (::access(own.c_str(), W_OK) != 0 || ::access((own + "/cgroup.procs").c_str(), W_OK) != 0) {
    why_off = "keel's cgroup " + own + " is not delegated to uid " + std::to_string(::geteuid());
    return {};
  }
  return own + "/keel";
}

}  // namespace keel::service
