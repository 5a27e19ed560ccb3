// config_diff.cpp — see config_diff.hpp.
#include "service/config_diff.hpp"

namespace keel::service {

namespace {

bool same(const Stream& a, const Stream& b) { return a.kind == b.kind && a.path == b.path; }
bool same(const std::vector<DependencyRef>& a, const std::vector<DependencyRef>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name) return false;  // a moved line is no change
  }
  return true;
}
bool same(const std::vector<Rlimit>& a, const std::vector<Rlimit>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].resource != b[i].resource || a[i].soft != b[i].soft || a[i].hard != b[i].hard) return false;
  }
  return true;
}
bool same(const LogConfig& a, const LogConfig& b) {
  return a.ring_bytes == b.ring_bytes && a.file == b.file && a.max_size == b.max_size && a.keep == b.keep &&
         a.console == b.console && a.max_age_ns == b.max_age_ns && a.compress == b.compress;
}
bool same(const CgroupLimits& a, const CgroupLimits& b) {
  return a.memory_max == b.memory_max && a.pids_max == b.pids_max && a.cpu_weight == b.cpu_weight;
}
bool same(const ProbeConfig& a, const ProbeConfig& b) {
  return a.kind == b.kind && a.exec == b.exec && a.target == b.target && a.file_max_age_ns == b.file_max_age_ns &&
         a.interval_ns == b.interval_ns && a.timeout_ns == b.timeout_ns && a.failures == b.failures &&
         a.successes == b.successes && a.start_period_ns == b.start_period_ns && a.action == b.action;
}
bool same(const std::vector<SocketConfig>& a, const std::vector<SocketConfig>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    SocketConfig x = a[i];
    x.line = b[i].line;  // where it is written is no setting
    if (!(x == b[i])) return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> changed_keys(const ServiceConfig& a, const ServiceConfig& b) {
  std::vector<std::string> out;
  auto key = [&](bool differs, const char* name) {
    if (differs) out.emplace_back(name);
  };
  key(a.description != b.description, "description");
  key(a.type != b.type, "type");
  key(a.command != b.command, "command");
  key(a.notify_fd != b.notify_fd, "notify_fd");
  key(!same(a.requires_, b.requires_), "requires");
  key(!same(a.wants, b.wants), "wants");
  key(!same(a.after, b.after), "after");
  key(!same(a.before, b.before), "before");
  key(a.restart != b.restart, "restart");
  key(a.restart_delay_ns != b.restart_delay_ns, "restart_delay");
  key(a.restart_delay_max_ns != b.restart_delay_max_ns, "restart_delay_max");
  key(a.restart_reset_ns != b.restart_reset_ns, "restart_reset_after");
  key(a.start_timeout_ns != b.start_timeout_ns, "start_timeout");
  key(a.stop_timeout_ns != b.stop_timeout_ns, "stop_timeout");
  key(a.stop_signal != b.stop_signal, "stop_signal");
  // Names and what they resolved to: an edited /etc/passwd changes the ids.
  key(a.user != b.user || a.uid != b.uid || a.has_user != b.has_user, "user");
  key(a.group != b.group || a.gid != b.gid, "group");
  key(a.supplementary_groups != b.supplementary_groups || a.groups != b.groups, "supplementary_groups");
  key(a.working_directory != b.working_directory, "working_directory");
  key(a.environment != b.environment, "environment");
  key(a.environment_file != b.environment_file, "environment_file");
  key(a.umask != b.umask, "umask");
  key(!same(a.rlimits, b.rlimits), "rlimits");
  key(a.capabilities != b.capabilities, "capabilities");
  key(a.no_new_privileges != b.no_new_privileges, "no_new_privileges");
  key(!same(a.stdin_, b.stdin_), "stdin");
  key(!same(a.stdout_, b.stdout_), "stdout");
  key(!same(a.stderr_, b.stderr_), "stderr");
  key(!same(a.log, b.log), "log");
  key(!same(a.cgroup, b.cgroup), "cgroup");
  key(a.on_exit != b.on_exit, "on_exit");
  key(a.critical != b.critical, "critical");
  key(a.restart_limit != b.restart_limit, "restart_limit");
  key(a.restart_limit_window_ns != b.restart_limit_window_ns, "restart_limit_window");
  key(!(a.success_exit_status == b.success_exit_status), "success_exit_status");
  key(a.on_failure != b.on_failure, "on_failure");
  key(a.essential != b.essential, "essential");
  key(a.watchdog_ns != b.watchdog_ns, "watchdog");
  key(a.reload_signal != b.reload_signal, "reload_signal");
  key(!same(a.readiness_probe, b.readiness_probe), "readiness_probe");
  key(!same(a.liveness_probe, b.liveness_probe), "liveness_probe");
  key(!same(a.sockets, b.sockets), "socket");
  key(a.start_on_connection != b.start_on_connection, "start");
  key(a.fd_store_max != b.fd_store_max, "fd_store_max");
  return out;
}

}  // namespace keel::service
