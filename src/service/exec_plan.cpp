// exec_plan.cpp — building a service's exec plan before the fork, and
// applying it in the child after the fork.
//
// The builder is an edge (allocates, reads the environment file with the
// service user's rights, opens /dev/null and the console). The applier
// runs between fork and exec: raw syscalls on the plan's prepared values,
// no allocation, each failure an Error naming its step; it also opens the
// "file:" streams, after the privilege drop. Capabilities use capset(2) and prctl(2) directly, not
// libcap: keel is a static binary, and the capability ABI
// (_LINUX_CAPABILITY_VERSION_3, two 32-bit words per set) is fixed.
#include "service/exec_plan.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/limits.hpp"
#include "core/fd_limit.hpp"
#include "core/raw_syscall.hpp"
#include "core/read_file.hpp"
#include "core/spawn.hpp"
#include "core/userdb.hpp"
#include "service/python_seed.hpp"

namespace keel::service {
namespace {

// The sane default a service starts from, whatever keel's own environment
// is (as PID 1 it is the kernel's, nearly empty).
constexpr char kDefaultPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Capabilities are numbered 0..63 in the v3 ABI (two 32-bit words); the
// kernel knows fewer (CAP_LAST_CAP, 40 on 6.x), and refuses the rest.
constexpr int kCapabilityBits = 64;

// An environment file is a few dozen lines; 1 MiB bounds what a mistaken
// path (a log file, a device) can make keel read at every start.
constexpr std::size_t kMaxEnvironmentFileBytes = limits::kMaxConfigFileBytes;  // 1 MiB

void set_var(std::vector<std::pair<std::string, std::string>>& vars, const std::string& key, const std::string& value) {
  for (auto& [k, v] : vars) {
    if (k == key) {
      v = value;
      return;
    }
  }
  vars.emplace_back(key, value);
}

bool valid_key(std::string_view key) {
  if (key.empty()) return false;
  for (std::size_t i = 0; i < key.size(); ++i) {
    char c = key[i];
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Opens `path` for the plan; the fd is closed with the plan.
bool open_owned(ExecPlan& plan, const char* path, int flags, int& fd, std::string& error) {
  fd = ::open(path, flags | O_CLOEXEC | O_NOCTTY, 0644);
  if (fd < 0) {
    error = std::string("cannot open ") + path + ": " + std::strerror(errno);
    return false;
  }
  plan.owned_fds.push_back(fd);
  return true;
}

bool open_stream(const ExecInputs& in, ExecPlan& plan, const Stream& stream, int index, int& fd, std::string& error) {
  const bool input = index == STDIN_FILENO;
  const char* which = index == STDIN_FILENO ? "stdin" : index == STDOUT_FILENO ? "stdout" : "stderr";
  switch (stream.kind) {
    case StreamKind::Log:
      if (input) return open_owned(plan, "/dev/null", O_RDONLY, fd, error);
      // Each stream its own pipe, so every line keeps its stream.
      fd = index == STDERR_FILENO ? in.log_err_fd : in.log_fd;
      if (fd < 0) {
        error = std::string(which) + " is \"log\" but no log pipe was given";
        return false;
      }
      return true;
    case StreamKind::Console:
      if (in.console_fd >= 0) {
        fd = in.console_fd;
        return true;
      }
      return open_owned(plan, "/dev/console", input ? O_RDONLY : O_WRONLY, fd, error);
    case StreamKind::Null:
      return open_owned(plan, "/dev/null", input ? O_RDONLY : O_WRONLY, fd, error);
    case StreamKind::File:
      // Not opened here, by root: the child opens it after the privilege
      // drop (apply_exec_plan, step 7), so the path reaches only what the
      // service's user could open itself.
      plan.stdio_file[static_cast<std::size_t>(index)] = stream.path;
      fd = -1;
      return true;
  }
  return false;
}

// The filesystem rights of `as` for one open(2), then keel's own again.
// fsuid/fsgid are what the kernel checks paths and files against; setting
// a non-zero fsuid also drops CAP_DAC_OVERRIDE and the other file
// capabilities from the effective set until it is 0 again. keel is
// single-threaded, so nothing else runs with the borrowed rights. The
// groups are saved before the switch (the only allocation), and every call
// in between is a plain syscall that cannot throw.
int open_as(const char* path, int flags, const FileRights& as, Error& error) {
  const int count = ::getgroups(0, nullptr);
  if (count < 0) {
    error = errno_error("getgroups");
    return -1;
  }
  std::vector<gid_t> saved(static_cast<std::size_t>(count));
  if (::getgroups(count, saved.data()) < 0) {
    error = errno_error("getgroups");
    return -1;
  }
  const std::size_t n = as.groups != nullptr ? as.groups->size() : 0;
  if (::setgroups(n, n != 0 ? as.groups->data() : nullptr) < 0) {
    error = errno_error("setgroups");
    return -1;
  }
  const auto old_gid = static_cast<gid_t>(::setfsgid(as.gid));
  const auto old_uid = static_cast<uid_t>(::setfsuid(as.uid));
  // setfsuid reports no error: read the value back (-1 changes nothing) and
  // open nothing unless the switch took.
  const bool switched = static_cast<uid_t>(::setfsuid(static_cast<uid_t>(-1))) == as.uid &&
                        static_cast<gid_t>(::setfsgid(static_cast<gid_t>(-1))) == as.gid;
  int fd = -1;
  if (switched) {
    fd = ::open(path, flags);
    if (fd < 0) error = errno_error("open");
  } else {
    error = Error{EPERM, "setfsuid"};
  }
  (void)::setfsuid(old_uid);
  (void)::setfsgid(old_gid);
  if (::setgroups(saved.size(), saved.data()) < 0 && fd >= 0) {
    // keel keeps the service's groups: its own children would inherit
    // them. Refuse the file rather than carry on silently.
    error = errno_error("setgroups (restoring keel's)");
    ::close(fd);
    fd = -1;
  }
  return fd;
}

}  // namespace

ExecPlan::~ExecPlan() {
  for (int fd : owned_fds) ::close(fd);
}

ExecPlan::ExecPlan(ExecPlan&& other) noexcept { *this = std::move(other); }

ExecPlan& ExecPlan::operator=(ExecPlan&& other) noexcept {
  if (this == &other) return *this;
  for (int fd : owned_fds) ::close(fd);
  args = std::move(other.args);
  argv = std::move(other.argv);
  env = std::move(other.env);
  envp = std::move(other.envp);
  path_env = std::move(other.path_env);
  change_user = other.change_user;
  uid = other.uid;
  gid = other.gid;
  groups = std::move(other.groups);
  set_capabilities = other.set_capabilities;
  capabilities = other.capabilities;
  no_new_privileges = other.no_new_privileges;
  controlling_terminal = other.controlling_terminal;
  set_umask = other.set_umask;
  umask = other.umask;
  rlimits = std::move(other.rlimits);
  cwd = std::move(other.cwd);
  stdio = other.stdio;
  stdio_file = std::move(other.stdio_file);
  extra_fd_source = other.extra_fd_source;
  extra_fd_target = other.extra_fd_target;
  cgroup_procs_fd = other.cgroup_procs_fd;
  cgroup_dir_fd = other.cgroup_dir_fd;
  self_pid_env = other.self_pid_env;
  owned_fds = std::move(other.owned_fds);
  other.owned_fds.clear();
  return *this;
}

bool read_environment_file(const std::string& path_spec, std::vector<std::pair<std::string, std::string>>& out,
                           std::string& error, const FileRights* as) {
  bool optional = !path_spec.empty() && path_spec[0] == '-';
  std::string path = optional ? path_spec.substr(1) : path_spec;
  std::string content;
  Status read;
  if (as != nullptr && ::geteuid() == 0) {
    Error open_error;
    const int fd = open_as(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, *as, open_error);
    if (fd < 0) {
      read = open_error;
    } else {
      read = read_fd(fd, content, kMaxEnvironmentFileBytes);
      ::close(fd);
    }
  } else {
    read = read_file(path.c_str(), content, kMaxEnvironmentFileBytes);
  }
  if (!read) {
    int err = read.error().code;
    if (optional && std::strcmp(read.error().context, "open") == 0 && (err == ENOENT || err == ENOTDIR)) return true;
    error = path + ": " + read_file_error_text(read.error(), kMaxEnvironmentFileBytes);
    return false;
  }
  int number = 0;
  std::size_t pos = 0;
  while (pos < content.size()) {
    std::size_t nl = content.find('\n', pos);
    if (nl == std::string::npos) nl = content.size();
    std::string_view line(content.data() + pos, nl - pos);
    pos = nl + 1;
    ++number;
    std::string_view text = trim(line);
    if (text.empty() || text[0] == '#') continue;
    if (text.substr(0, 7) == "export ") text = trim(text.substr(7));
    std::size_t eq = text.find('=');
    std::string_view key = eq == std::string_view::npos ? text : trim(text.substr(0, eq));
    if (eq == std::string_view::npos || !valid_key(key)) {
      error = path + ":" + std::to_string(number) + ": expected KEY=VALUE";
      return false;
    }
    std::string_view value = trim(text.substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    set_var(out, std::string(key), std::string(value));
  }
  return true;
}

bool build_exec_plan(const ExecInputs& in, ExecPlan& plan, std::string& error) {
  if (in.config == nullptr) {
    error = "no service config";
    return false;
  }
  const ServiceConfig& c = *in.config;
  if (c.command.empty()) {
    error = "service has no command";
    return false;
  }

  plan.args = c.command;
  plan.argv.clear();
  for (std::string& a : plan.args) plan.argv.push_back(a.data());
  plan.argv.push_back(nullptr);

  // Environment: base, then the file, then the table, then the
  // supervisor's own variables; a later layer overrides an earlier one.
  std::vector<std::pair<std::string, std::string>> vars;
  vars.emplace_back("PATH", kDefaultPath);
  if (c.has_user) {
    UserEntry user;
    user.name = c.user.empty() ? std::to_string(c.uid) : c.user;
    user.home = "/";
    auto found = find_user(c.user.empty() ? std::to_string(c.uid) : c.user, in.passwd_path);
    if (found.ok()) user = std::move(found.value());
    set_var(vars, "HOME", user.home.empty() ? "/" : user.home);
    set_var(vars, "USER", user.name);
    set_var(vars, "LOGNAME", user.name);
    if (!user.shell.empty()) set_var(vars, "SHELL", user.shell);
  }
  if (!c.environment_file.empty()) {
    std::string file_error;
    FileRights rights{c.uid, c.gid, &c.groups};
    if (!read_environment_file(c.environment_file, vars, file_error, c.has_user ? &rights : nullptr)) {
      error = "environment_file " + file_error;
      return false;
    }
  }
  for (const auto& [k, v] : c.environment) set_var(vars, k, v);
  for (const auto& [k, v] : in.extra_env) set_var(vars, k, v);
  // A Python program gets its hash seed from keel (service/python_seed.hpp):
  // drawn here, before the fork, so the child only passes the environment
  // on. A PYTHONHASHSEED the service's files set wins.
  // Whether it is Python was found by the loader child (python_program).
  if (c.python_hash_seed && c.python_program &&
      std::none_of(vars.begin(), vars.end(), [](const auto& kv) { return kv.first == "PYTHONHASHSEED"; })) {
    std::string seed = draw_python_hash_seed();
    if (!seed.empty()) set_var(vars, "PYTHONHASHSEED", seed);
  }
  plan.listen_fds.clear();
  const bool has_sockets = in.listen_fds != nullptr && !in.listen_fds->empty();
  if (has_sockets || !in.stored_fds.empty()) {
    if (has_sockets && in.listen_fds->size() != c.sockets.size()) {
      error = "the service's sockets are not open";
      return false;
    }
    if (has_sockets) plan.listen_fds = *in.listen_fds;
    // The child installs at most kMaxServiceSockets (the loader bounds
    // sockets + fd_store_max by it).
    if (plan.listen_fds.size() + in.stored_fds.size() > limits::kMaxServiceSockets) {
      error = "too many sockets and stored fds";
      return false;
    }
    std::string names;
    if (has_sockets) {
      for (const SocketConfig& s : c.sockets) names.append(names.empty() ? "" : ":").append(s.name);
    }
    for (const auto& [fd, name] : in.stored_fds) {
      plan.listen_fds.push_back(fd);
      names.append(names.empty() ? "" : ":").append(name);
    }
    set_var(vars, "LISTEN_FDS", std::to_string(plan.listen_fds.size()));
    set_var(vars, "LISTEN_FDNAMES", names);
    // The child's own pid, which only the child knows before its exec:
    // it appends LISTEN_PID itself (core/spawn.hpp, pid_env_name); one
    // from the service's files would name another process.
    std::erase_if(vars, [](const auto& kv) { return kv.first == "LISTEN_PID"; });
  }
  plan.env.clear();
  plan.path_env.clear();
  // The child adds "NAME=its pid" itself (core/spawn.hpp): whatever the
  // files said for NAME goes, and so does the variable when the
  // environment is too large for the child's stack copy (limits.hpp).
  plan.self_pid_env = nullptr;
  if (in.self_pid_env != nullptr) {
    std::erase_if(vars, [&](const auto& kv) { return kv.first == in.self_pid_env; });
    // Room for it, LISTEN_PID and the final nullptr (core/spawn.cpp).
    if (vars.size() + 3 <= limits::kSelfPidEnvEntries) plan.self_pid_env = in.self_pid_env;
  }
  for (const auto& [k, v] : vars) {
    std::string entry;
    entry.reserve(k.size() + 1 + v.size());
    entry.append(k).append(1, '=').append(v);
    plan.env.push_back(std::move(entry));
    if (k == "PATH") plan.path_env = v;
  }
  plan.envp.clear();
  for (std::string& e : plan.env) plan.envp.push_back(e.data());
  plan.envp.push_back(nullptr);

  plan.change_user = c.has_user;
  plan.uid = c.uid;
  plan.gid = c.gid;
  plan.groups = c.groups;
  plan.set_capabilities = c.capabilities.has_value();
  plan.capabilities = c.capabilities.value_or(0);
  plan.no_new_privileges = c.no_new_privileges;
  plan.set_umask = c.umask.has_value();
  plan.umask = c.umask.value_or(022);
  plan.rlimits = c.rlimits;
  // keel raised its own soft fd limit (core/fd_limit.hpp); the service gets
  // the one keel was started with, unless its [rlimits] sets nofile.
  if (const FdLimit& fds = fd_limit(); fds.raised &&
      std::none_of(c.rlimits.begin(), c.rlimits.end(), [](const Rlimit& r) { return r.resource == RLIMIT_NOFILE; })) {
    plan.rlimits.push_back(Rlimit{RLIMIT_NOFILE, fds.inherited_soft, fds.hard});
  }
  plan.cwd = c.working_directory.empty() ? "/" : c.working_directory;

  if (!open_stream(in, plan, c.stdin_, STDIN_FILENO, plan.stdio[0], error)) return false;
  plan.controlling_terminal = c.stdin_.kind == StreamKind::Console;
  if (!open_stream(in, plan, c.stdout_, STDOUT_FILENO, plan.stdio[1], error)) return false;
  if (!open_stream(in, plan, c.stderr_, STDERR_FILENO, plan.stdio[2], error)) return false;

  if (in.notify_pipe_write_fd >= 0) {
    if (c.notify_fd <= STDERR_FILENO) {
      error = "notify_fd " + std::to_string(c.notify_fd) + " would replace a standard stream";
      return false;
    }
    const auto sockets = static_cast<int>(plan.listen_fds.size());
    if (c.notify_fd >= 3 && c.notify_fd < 3 + sockets) {
      error = "notify_fd " + std::to_string(c.notify_fd) + " would replace a socket (fds 3 to " +
              std::to_string(2 + sockets) + ")";
      return false;
    }
    plan.extra_fd_source = in.notify_pipe_write_fd;
    plan.extra_fd_target = c.notify_fd;
  }
  plan.cgroup_procs_fd = in.cgroup_procs_fd;
  plan.cgroup_dir_fd = in.cgroup_dir_fd;
  return true;
}

namespace {

// The plan as the child reads it: plain values and pointers into the
// launch's own mapping (core/spawn.hpp, ChildArena), copied by
// copy_plan() before the clone. The child shares keel's memory, and the
// ExecPlan it came from is freed as soon as the launch returns.
struct FlatPlan {
  bool change_user;
  uid_t uid;
  gid_t gid;
  const gid_t* groups;
  std::size_t group_count;
  bool set_capabilities;
  std::uint64_t capabilities;
  bool no_new_privileges;
  bool set_umask;
  mode_t umask;
  const Rlimit* rlimits;
  std::size_t rlimit_count;
  const char* cwd;
  int stdio[3];
  const char* stdio_file[3];  // nullptr: none
  bool controlling_terminal;
  int extra_fd_source;
  int extra_fd_target;
  const int* listen_fds;  // installed at 3, 4, ...
  std::size_t listen_count;
};

const void* copy_plan(const void* context, ChildArena& arena) noexcept {
  const auto& plan = *static_cast<const ExecPlan*>(context);
  auto* f = static_cast<FlatPlan*>(arena.allocate(sizeof(FlatPlan), alignof(FlatPlan)));
  if (f == nullptr) return nullptr;
  f->change_user = plan.change_user;
  f->uid = plan.uid;
  f->gid = plan.gid;
  f->groups = arena.copy_array(plan.groups.data(), plan.groups.size());
  f->group_count = plan.groups.size();
  f->set_capabilities = plan.set_capabilities;
  f->capabilities = plan.capabilities;
  f->no_new_privileges = plan.no_new_privileges;
  f->set_umask = plan.set_umask;
  f->umask = plan.umask;
  f->rlimits = arena.copy_array(plan.rlimits.data(), plan.rlimits.size());
  f->rlimit_count = plan.rlimits.size();
  f->cwd = arena.copy_string(plan.cwd.c_str());
  for (std::size_t i = 0; i < 3; ++i) {
    f->stdio[i] = plan.stdio[i];
    f->stdio_file[i] = plan.stdio_file[i].empty() ? nullptr : arena.copy_string(plan.stdio_file[i].c_str());
    if (!plan.stdio_file[i].empty() && f->stdio_file[i] == nullptr) return nullptr;
  }
  f->controlling_terminal = plan.controlling_terminal;
  f->extra_fd_source = plan.extra_fd_source;
  f->extra_fd_target = plan.extra_fd_target;
  f->listen_fds = arena.copy_array(plan.listen_fds.data(), plan.listen_fds.size());
  f->listen_count = plan.listen_fds.size();
  if (f->listen_fds == nullptr) return nullptr;
  if (f->groups == nullptr || f->rlimits == nullptr || f->cwd == nullptr) return nullptr;
  return f;
}

// The child's side from here on (it shares keel's memory): raw system
// calls (core/raw_syscall.hpp), each answering a value >= 0 or -errno,
// and nothing written outside the child's stack.
Error raw_error(long r, const char* context) noexcept { return Error{static_cast<int>(-r), context}; }

// Open a "file:" stream and install it as `target`. The contexts are
// static, one per stream, so the parent can say which one failed.
Status open_stream_file(const char* path, int target) noexcept {
  if (path == nullptr) return {};
  static constexpr const char* kOpen[] = {"open stdin file", "open stdout file", "open stderr file"};
  static constexpr const char* kSetup[] = {"set up stdin file", "set up stdout file", "set up stderr file"};
  const int flags = target == STDIN_FILENO ? O_RDONLY : (O_WRONLY | O_CREAT | O_APPEND);
  const long fd = raw::call(SYS_openat, AT_FDCWD, path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0640);
  if (fd < 0) return raw_error(fd, kOpen[target]);
  const long fl = raw::call(SYS_fcntl, fd, F_GETFL);
  if (fl < 0) return raw_error(fl, kSetup[target]);
  if (long r = raw::call(SYS_fcntl, fd, F_SETFL, fl & ~O_NONBLOCK); r < 0) return raw_error(r, kSetup[target]);
  if (fd == target) {
    // The lowest free number was the target itself (it was closed): only
    // close-on-exec has to go.
    if (long r = raw::call(SYS_fcntl, fd, F_SETFD, 0); r < 0) return raw_error(r, kSetup[target]);
    return {};
  }
  // dup3 leaves the copy without close-on-exec; the original keeps it.
  if (long r = raw::call(SYS_dup3, fd, target, 0); r < 0) return raw_error(r, kSetup[target]);
  (void)raw::call(SYS_close, fd);
  return {};
}

long capset_raw(std::uint64_t caps) noexcept {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[2]{};
  for (int word = 0; word < 2; ++word) {
    auto bits = static_cast<std::uint32_t>(caps >> (32 * word));
    data[word].effective = bits;
    data[word].permitted = bits;
    data[word].inheritable = bits;
  }
  return raw::call(SYS_capset, &header, data);
}

long prctl_raw(int option, unsigned long a = 0, unsigned long b = 0) noexcept {
  return raw::call(SYS_prctl, option, a, b, 0, 0);
}

bool child_isatty(int fd) noexcept {
  unsigned char termios[64];  // the kernel's struct termios, smaller than glibc's
  return raw::call(SYS_ioctl, fd, TCGETS, termios) == 0;
}

// spawn()'s child hook: `context` is copy_plan()'s FlatPlan.
Status apply_exec_plan(const void* context) noexcept {
  const auto& plan = *static_cast<const FlatPlan*>(context);

  // 1. The cgroup is spawn's first step (SpawnOptions::cgroup_procs_fd),
  //    while still root and before anything else.

  // 2. The fds. A source may itself be 0..2 or the notify target (keel's
  //    own stdio, a pipe that happened to get fd 3), so dup2-ing straight
  //    into place could overwrite a source not yet installed. Every source
  //    is first copied above all targets (F_DUPFD_CLOEXEC: the copies
  //    vanish at exec), and only then dup3'd down; dup3 without O_CLOEXEC
  //    clears it on the target, which is what makes it survive exec.
  //    The sockets (socket activation) go at 3, 4, ... the same way.
  const auto last_socket = static_cast<int>(STDERR_FILENO + plan.listen_count);
  int floor = plan.extra_fd_target >= STDERR_FILENO ? plan.extra_fd_target + 1 : STDERR_FILENO + 1;
  if (floor <= last_socket) floor = last_socket + 1;
  long high[3] = {-1, -1, -1};
  for (int i = 0; i < 3; ++i) {
    if (plan.stdio[i] < 0) continue;
    high[i] = raw::call(SYS_fcntl, plan.stdio[i], F_DUPFD_CLOEXEC, floor);
    if (high[i] < 0) return raw_error(high[i], "dup stdio");
  }
  long extra_high = -1;
  if (plan.extra_fd_source >= 0 && plan.extra_fd_target >= 0) {
    extra_high = raw::call(SYS_fcntl, plan.extra_fd_source, F_DUPFD_CLOEXEC, floor);
    if (extra_high < 0) return raw_error(extra_high, "dup notify fd");
  }
  // At most limits::kMaxServiceSockets (the loader and the codec check).
  long socket_high[limits::kMaxServiceSockets];
  const std::size_t sockets =
      plan.listen_count < limits::kMaxServiceSockets ? plan.listen_count : limits::kMaxServiceSockets;
  for (std::size_t i = 0; i < sockets; ++i) {
    socket_high[i] = raw::call(SYS_fcntl, plan.listen_fds[i], F_DUPFD_CLOEXEC, floor);
    if (socket_high[i] < 0) return raw_error(socket_high[i], "dup socket");
  }
  for (int i = 0; i < 3; ++i) {
    if (high[i] < 0) continue;
    if (long r = raw::call(SYS_dup3, high[i], i, 0); r < 0) return raw_error(r, "dup2 stdio");
  }
  for (std::size_t i = 0; i < sockets; ++i) {
    if (long r = raw::call(SYS_dup3, socket_high[i], STDERR_FILENO + 1 + i, 0); r < 0) {
      return raw_error(r, "dup2 socket");
    }
  }
  if (extra_high >= 0) {
    if (long r = raw::call(SYS_dup3, extra_high, plan.extra_fd_target, 0); r < 0) return raw_error(r, "dup2 notify fd");
  }
  // Only what the plan installs reaches the service. keel's own fds are
  // close-on-exec, but one inherited from whoever started keel (or from a
  // test runner) may not be. Failure is ignored: before Linux 5.11 there is
  // no CLOSE_RANGE_CLOEXEC, and such a leak is untidy, not unsafe.
  unsigned first_free = STDERR_FILENO + 1 + static_cast<unsigned>(sockets);
  if (extra_high >= 0) {
    auto target = static_cast<unsigned>(plan.extra_fd_target);
    if (target > first_free) (void)raw::call(SYS_close_range, first_free, target - 1, CLOSE_RANGE_CLOEXEC);
    first_free = target + 1;
  }
  (void)raw::call(SYS_close_range, first_free, ~0U, CLOSE_RANGE_CLOEXEC);

  // The service is a session leader without a terminal (spawn_service
  // asks for a new session); a console stdin becomes its controlling tty so
  // job control and ^C work. Not forced: a console that already is another
  // session's tty is still usable for I/O, so failure is ignored.
  if (plan.controlling_terminal && child_isatty(STDIN_FILENO)) (void)raw::call(SYS_ioctl, STDIN_FILENO, TIOCSCTTY, 0);

  if (plan.set_umask) (void)raw::call(SYS_umask, plan.umask);

  // 3. Limits while still root: raising a hard limit needs
  //    CAP_SYS_RESOURCE, which the service user will not have.
  for (std::size_t i = 0; i < plan.rlimit_count; ++i) {
    const Rlimit& r = plan.rlimits[i];
    rlimit value{r.soft, r.hard};
    if (long e = raw::call(SYS_prlimit64, 0, r.resource, &value, 0); e < 0) return raw_error(e, "setrlimit");
  }

  // 4. The working directory while still root, which can enter any
  //    directory on the way; once there, the service keeps it whatever its
  //    rights on the path above.
  if (long r = raw::call(SYS_chdir, plan.cwd); r < 0) return raw_error(r, "chdir");

  // 5. The bounding set before the uid change: dropping from it needs
  //    CAP_SETPCAP in the effective set, which setresuid to a non-root uid
  //    empties. Capabilities this kernel does not know give EINVAL: they
  //    cannot be held anyway.
  if (plan.set_capabilities) {
    for (int cap = 0; cap < kCapabilityBits; ++cap) {
      if ((plan.capabilities >> cap) & 1U) continue;
      long r = prctl_raw(PR_CAPBSET_DROP, static_cast<unsigned long>(cap));
      if (r < 0 && r != -EINVAL) return raw_error(r, "capbset_drop");
    }
  }

  // 6. Groups, then gid, then uid: setgroups and setresgid need
  //    CAP_SETGID, which is gone once the uid is not 0. KEEPCAPS keeps the
  //    permitted set across setresuid, so step 8 has something to keep.
  //    (keel is single-threaded and the child a process of its own: the
  //    raw calls need none of glibc's all-threads broadcast.)
  if (plan.change_user) {
    if (long r = raw::call(SYS_setgroups, plan.group_count, plan.groups); r < 0) return raw_error(r, "setgroups");
    if (long r = raw::call(SYS_setresgid, plan.gid, plan.gid, plan.gid); r < 0) return raw_error(r, "setresgid");
    if (plan.set_capabilities && plan.capabilities != 0) {
      if (long r = prctl_raw(PR_SET_KEEPCAPS, 1); r < 0) return raw_error(r, "keepcaps");
    }
    if (long r = raw::call(SYS_setresuid, plan.uid, plan.uid, plan.uid); r < 0) return raw_error(r, "setresuid");
  }

  // 7. The "file:" streams, now that the ids are the service's and before
  //    step 8 raises any capability: the open is checked against its uid,
  //    gid and groups alone (setresuid to a non-root uid emptied the
  //    effective set; KEEPCAPS kept only the permitted one), so a symlink
  //    or a path someone else controls reaches only what the service could
  //    open itself, and CAP_DAC_OVERRIDE granted to the service does not
  //    widen it. A service running as root opens it as root, as it could.
  //    O_NONBLOCK: a FIFO without a reader fails with ENXIO instead of
  //    hanging the child until its start timeout kills it; it is
  //    cleared again so the service gets an ordinary blocking fd. New files
  //    are 0640 less the umask of step 2.
  for (int i = 0; i < 3; ++i) {
    if (Status s = open_stream_file(plan.stdio_file[i], i); !s) return s;
  }

  // 8. The kept capabilities in permitted, effective and inheritable, then
  //    ambient: for a non-root program without file capabilities, exec
  //    keeps only the ambient set (which must be permitted and inheritable
  //    first). For root, the bounding set already did the limiting.
  if (plan.set_capabilities) {
    if (long r = capset_raw(plan.capabilities); r < 0) return raw_error(r, "capset");
    if (long r = prctl_raw(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL); r < 0 && r != -EINVAL) {
      return raw_error(r, "cap_ambient");
    }
    for (int cap = 0; cap < kCapabilityBits; ++cap) {
      if (((plan.capabilities >> cap) & 1U) == 0) continue;
      long r = prctl_raw(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, static_cast<unsigned long>(cap));
      if (r < 0 && r != -EINVAL) return raw_error(r, "cap_ambient");
    }
  }

  // 9. no_new_privs last: it only changes what execve may grant (no setuid
  //    bits, no file capabilities), so nothing above depends on it, and
  //    setting it last makes it the final word before exec.
  if (plan.no_new_privileges) {
    if (long r = prctl_raw(PR_SET_NO_NEW_PRIVS, 1); r < 0) return raw_error(r, "no_new_privs");
  }
  return {};
}

SpawnOptions service_spawn_options(const ExecPlan& plan) noexcept {
  SpawnOptions options;
  options.argv = plan.argv.data();
  options.envp = plan.envp.data();
  options.session = Session::NewSession;
  options.mask = nullptr;  // empty
  // What keel changed (ignored, or caught by its crash handlers) must not
  // reach the service; with no snapshot taken, every signal is reset.
  options.reset_to_default = signal_dispositions_snapshot();
  options.child_setup = &apply_exec_plan;
  options.child_context = &plan;
  options.copy_child_context = &copy_plan;
  options.path_env = plan.path_env.empty() ? kDefaultPath : plan.path_env.c_str();
  options.cgroup_fd = plan.cgroup_dir_fd;
  options.cgroup_procs_fd = plan.cgroup_procs_fd;
  options.self_pid_env = plan.self_pid_env;
  if (!plan.listen_fds.empty()) options.pid_env_name = "LISTEN_PID";
  return options;
}

}  // namespace

Result<pid_t> spawn_service(const ExecPlan& plan) noexcept {
  if (plan.argv.empty() || plan.argv[0] == nullptr) return Error{EINVAL, "spawn"};
  return spawn(service_spawn_options(plan));
}

Result<Launch> spawn_service_nowait(const ExecPlan& plan) noexcept {
  if (plan.argv.empty() || plan.argv[0] == nullptr) return Error{EINVAL, "spawn"};
  return spawn_nowait(service_spawn_options(plan));
}

}  // namespace keel::service
