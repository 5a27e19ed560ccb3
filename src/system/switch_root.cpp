#include "system/switch_root.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <ctime>
#include <new>

#include "core/event_loop.hpp"
#include "core/limits.hpp"
#include "core/log.hpp"
#include "service/event_record.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace keel {
namespace {

constexpr const char* kNewRoot = "/.keel-root";
constexpr const char* kE2fsck = "/sbin/e2fsck";
// What the stage child's exit status says.
constexpr int kChildMounted = 0;
constexpr int kChildFailed = 1;
constexpr int kChildReboot = 2;
// The stage's boot step, carried across the exec into the disk root's keel
// (record_disk_root_step): "START_MONO_NS END_MONO_NS END_REAL_NS DEVICE".
constexpr const char* kStepVariable = "KEEL_STAGE_ROOT";

// The kernel's word splitting: spaces separate, double quotes group.
std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t')) ++i;
    if (i >= text.size()) break;
    std::string word;
    bool quoted = false;
    for (; i < text.size(); ++i) {
      const char c = text[i];
      if (c == '"') {
        quoted = !quoted;
        continue;
      }
      if (!quoted && (c == ' ' || c == '\n' || c == '\t')) break;
      word += c;
    }
    words.push_back(std::move(word));
  }
  return words;
}

// An absolute path inside the new root: no "..", no empty name, no control
// characters, not "/" itself.
bool good_inner_path(std::string_view p) {
  if (p.size() < 2 || p.front() != '/' || p.size() > limits::kDeviceSpecMax) return false;
  for (char c : p) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return false;
  }
  std::size_t i = 1;
  while (i <= p.size()) {
    std::size_t end = p.find('/', i);
    if (end == std::string_view::npos) end = p.size();
    const std::string_view name = p.substr(i, end - i);
    if (name.empty() && end != p.size()) return false;
    if (name == "." || name == "..") return false;
    i = end + 1;
  }
  return true;
}

void pause_ms(long ms) noexcept {
  timespec t{ms / 1000, (ms % 1000) * 1'000'000};
  while (::nanosleep(&t, &t) != 0 && errno == EINTR) {
  }
}

long now_ms() noexcept {
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000 + t.tv_nsec / 1'000'000;
}

// Waits for `pid` for up to `bound_ms`; -1 when it is still running then.
int wait_bounded(pid_t pid, long bound_ms) noexcept {
  const long deadline = now_ms() + bound_ms;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return -1;
    if (now_ms() >= deadline) return -1;
    pause_ms(20);
  }
}

// ---- In the stage child (allowed to block: PID 1 bounds it).

struct FsckRun {
  bool ran = false;
  bool timed_out = false;
  int status = 0;
};

FsckRun run_e2fsck(const std::string& device) {
  FsckRun run;
  if (::access(kE2fsck, X_OK) != 0) return run;
  const pid_t pid = ::fork();
  if (pid < 0) return run;
  if (pid == 0) {
    const char* argv[] = {"e2fsck", "-p", device.c_str(), nullptr};
    ::execve(kE2fsck, const_cast<char* const*>(argv), environ);
    ::_exit(127);
  }
  run.ran = true;
  const int status = wait_bounded(pid, limits::kFsckTimeoutS * 1000);
  if (status < 0) {
    ::kill(pid, SIGKILL);
    (void)wait_bounded(pid, 1000);
    run.timed_out = true;
    return run;
  }
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : 8;
  return run;
}

// e2fsck -p on `device` ("root" or "data"); false when it asks for a reboot.
// `read_only` is set when the filesystem must be mounted read-only.
bool check_ext4(const std::string& device, const char* what, bool& read_only) {
  log::msg(log::Level::Info, "disk root: checking the %s %s (e2fsck -p)", what, device.c_str());
  const FsckRun run = run_e2fsck(device);
  if (!run.ran) {
    log::msg(log::Level::Warn,
             "disk root: %s is missing from the initramfs: the %s %s is mounted unchecked (keel-image adds it "
             "for an ext4 root; keel.fsck=skip says this on purpose)",
             kE2fsck, what, device.c_str());
    return true;
  }
  if (run.timed_out) {
    log::msg(log::Level::Error,
             "disk root: e2fsck on the %s %s still ran after %ld s and was killed: mounting it read-only; check it "
             "by hand from a rescue shell (e2fsck -f %s)",
             what, device.c_str(), limits::kFsckTimeoutS, device.c_str());
    read_only = true;
    return true;
  }
  switch (fsck_action(run.status)) {
    case FsckAction::Mount:
      if (run.status == 1) {
        log::msg(log::Level::Warn, "disk root: e2fsck fixed errors on the %s %s", what, device.c_str());
      }
      return true;
    case FsckAction::Reboot:
      log::msg(log::Level::Error, "disk root: e2fsck fixed the %s %s and asks for a reboot (status %d): rebooting",
               what, device.c_str(), run.status);
      return false;
    case FsckAction::MountReadOnly:
      log::msg(log::Level::Error,
               "disk root: e2fsck left errors on the %s %s (status %d): mounting it READ-ONLY so they do not spread; "
               "repair it by hand (e2fsck -f -y %s from a rescue shell, or on another machine)",
               what, device.c_str(), run.status, device.c_str());
      read_only = true;
      return true;
  }
  return true;
}

bool make_dirs(const std::string& path) {
  for (std::size_t i = 1; i <= path.size(); ++i) {
    if (i != path.size() && path[i] != '/') continue;
    const std::string part = path.substr(0, i);
    if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) return false;
  }
  return true;
}

// A directory in the new root to mount on: made when missing only when
// the root is writable.
bool mount_point(const std::string& inner, bool root_writable, const char* why) {
  const std::string path = std::string(kNewRoot) + inner;
  struct stat st{};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return true;
  if (root_writable && make_dirs(path)) return true;
  log::msg(log::Level::Error, "disk root: %s: the root has no directory %s%s; add it to the image", why, inner.c_str(),
           root_writable ? " and it cannot be made" : " (and the root is read-only)");
  return false;
}

// A device for root= or keel.data=, waited for.
std::string wait_device(const DeviceSpec& spec, long timeout_s, const char* what) {
  log::msg(log::Level::Info, "disk root: waiting up to %ld s for the %s device %s", timeout_s, what,
           describe(spec).c_str());
  std::string why;
  std::string node = wait_for_block_device(spec, timeout_s * 1000, {}, &why);
  if (node.empty()) {
    log::msg(log::Level::Error,
             "disk root: no %s device %s after %ld s (keel.root_timeout=%ld)%s%s: is the disk attached, is its driver "
             "(virtio_blk, ...) in the initramfs's modules.load, is the %s right? Staying in the initramfs",
             what, describe(spec).c_str(), timeout_s, timeout_s, why.empty() ? "" : "; ", why.c_str(),
             spec.key == DeviceKey::Path       ? "path"
             : spec.key == DeviceKey::Uuid     ? "UUID"
             : spec.key == DeviceKey::PartUuid ? "PARTUUID"
                                               : "label");
  }
  return node;
}

// `report`: a pipe to PID 1, told the root device's node (for the boot step).
int prepare_root(const DiskRootPlan& plan, int report) {
  const std::string device = wait_device(plan.root, plan.timeout_s, "root");
  if (device.empty()) return kChildFailed;
  (void)!::write(report, device.data(), device.size());
  const FsIdentity id = identify_device(device.c_str());
  const FsType type = plan.fstype.value_or(id.type);
  if (type == FsType::Unknown) {
    log::msg(log::Level::Error,
             "disk root: %s holds no ext4 or erofs filesystem keel knows: say rootfstype=ext4|erofs, or check root=; "
             "staying in the initramfs",
             device.c_str());
    return kChildFailed;
  }
  bool read_only = type == FsType::Erofs || plan.read_only;
  if (type == FsType::Ext4 && plan.fsck && !check_ext4(device, "root", read_only)) return kChildReboot;
  if (::mkdir(kNewRoot, 0755) != 0 && errno != EEXIST) {
    log::msg(log::Level::Error, "disk root: mkdir %s: %s; staying in the initramfs", kNewRoot, std::strerror(errno));
    return kChildFailed;
  }
  const unsigned long flags = read_only ? MS_RDONLY : 0;
  if (::mount(device.c_str(), kNewRoot, fs_type_name(type), flags, plan.flags.empty() ? nullptr : plan.flags.c_str()) !=
      0) {
    log::msg(log::Level::Error,
             "disk root: mount %s (%s%s%s) failed: %s; is the %s module in modules.load? Staying in the initramfs",
             device.c_str(), fs_type_name(type), plan.flags.empty() ? "" : ", ", plan.flags.c_str(),
             std::strerror(errno), fs_type_name(type));
    return kChildFailed;
  }
  log::msg(log::Level::Info, "disk root: mounted %s (%s, %s)", device.c_str(), fs_type_name(type),
           read_only ? "read-only" : "read-write");
  auto undo = [](int code) {
    (void)::umount2(kNewRoot, MNT_DETACH);
    return code;
  };
  if (plan.data) {
    const std::string data = wait_device(*plan.data, plan.timeout_s, "data");
    if (data.empty()) return undo(kChildFailed);
    const FsIdentity did = identify_device(data.c_str());
    if (did.type != FsType::Ext4) {
      log::msg(log::Level::Error, "disk root: the data device %s holds no ext4 filesystem; staying in the initramfs",
               data.c_str());
      return undo(kChildFailed);
    }
    bool data_ro = false;
    if (plan.fsck && !check_ext4(data, "data", data_ro)) return undo(kChildReboot);
    if (!mount_point(plan.data_mountpoint, !read_only, "keel.data")) return undo(kChildFailed);
    const std::string where = std::string(kNewRoot) + plan.data_mountpoint;
    if (::mount(data.c_str(), where.c_str(), "ext4", MS_NOSUID | MS_NODEV | (data_ro ? MS_RDONLY : 0), nullptr) != 0) {
      log::msg(log::Level::Error, "disk root: mount %s on %s failed: %s; staying in the initramfs", data.c_str(),
               plan.data_mountpoint.c_str(), std::strerror(errno));
      return undo(kChildFailed);
    }
    log::msg(log::Level::Info, "disk root: mounted %s on %s (ext4, %s)", data.c_str(), plan.data_mountpoint.c_str(),
             data_ro ? "read-only" : "read-write");
  }
  for (const std::string& inner : plan.tmpfs) {
    if (!mount_point(inner, !read_only, "keel.tmpfs")) return undo(kChildFailed);
    const std::string where = std::string(kNewRoot) + inner;
    const char* mode = inner == "/tmp" ? "mode=1777" : "mode=0755";
    if (::mount("tmpfs", where.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, mode) != 0) {
      log::msg(log::Level::Error, "disk root: tmpfs on %s failed: %s; staying in the initramfs", inner.c_str(),
               std::strerror(errno));
      return undo(kChildFailed);
    }
  }
  return kChildMounted;
}

// Lines the console did not take yet: a child's exit or an exec would lose them.
void drain_output() noexcept {
  for (int i = 0; i < 10; ++i) {
    log::flush_output();
    pause_ms(10);
  }
}

// ---- PID 1's part.

// The "root" boot step (docs/events.md), stamped at its end.
void record_root_step(std::int64_t start_ns, std::int64_t end_mono_ns, std::int64_t end_real_ns,
                      std::string_view device) noexcept {
  service::event_record()
      .begin_at("boot-step", {}, end_mono_ns, end_real_ns)
      .str("step", "root")
      .str("device", device)
      .num("duration_us", (end_mono_ns - start_ns) / 1000)
      .commit();
}

// A decimal number of at most 19 digits, then a space; false otherwise.
bool take_number(std::string_view& text, std::int64_t& out) noexcept {
  std::size_t n = 0;
  out = 0;
  while (n < text.size() && text[n] >= '0' && text[n] <= '9') {
    const int digit = text[n++] - '0';
    // A wall-clock time in ns has 19 digits: refuse what int64 cannot hold.
    if (out > (std::numeric_limits<std::int64_t>::max() - digit) / 10) return false;
    out = out * 10 + digit;
  }
  if (n == 0 || n >= text.size() || text[n] != ' ') return false;
  text.remove_prefix(n + 1);
  return true;
}

// Deletes what is under `dir` on filesystem `dev` (the initramfs), never
// following a link or crossing into a mount.
void delete_tree(int dir, dev_t dev, int depth) noexcept {
  const int copy = ::dup(dir);
  if (copy < 0) return;
  DIR* d = ::fdopendir(copy);
  if (d == nullptr) {
    ::close(copy);
    return;
  }
  while (const dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    struct stat st{};
    if (::fstatat(dir, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || st.st_dev != dev) continue;
    if (S_ISDIR(st.st_mode)) {
      if (depth >= limits::kInitramfsDepthMax) continue;
      const int sub = ::openat(dir, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) {
        delete_tree(sub, dev, depth + 1);
        ::close(sub);
      }
      (void)::unlinkat(dir, e->d_name, AT_REMOVEDIR);
    } else {
      (void)::unlinkat(dir, e->d_name, 0);
    }
  }
  ::closedir(d);
}

// init= in the new root, its links resolved inside it: a regular,
// executable file.
bool init_in_root(const std::string& init, int& err) noexcept {
  const int root = ::open(kNewRoot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) {
    err = errno;
    return false;
  }
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  const int fd = static_cast<int>(::syscall(SYS_openat2, root, init.c_str(), &how, sizeof how));
  err = errno;
  ::close(root);
  if (fd < 0) return false;
  struct stat st{};
  const bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0;
  ::close(fd);
  err = ok ? 0 : EACCES;
  return ok;
}

constexpr const char* kMoved[] = {"/dev", "/proc", "/sys", "/run"};

void reset_signals() noexcept {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int signo = 1; signo < NSIG; ++signo) {
    if (signo != SIGKILL && signo != SIGSTOP) ::signal(signo, SIG_DFL);
  }
}

void exec_init(const DiskRootPlan& plan, char** argv, bool& signals_reset) {
  std::vector<char*> args;
  args.push_back(const_cast<char*>(plan.init.c_str()));
  for (int i = 1; argv != nullptr && argv[i] != nullptr; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  log::msg(log::Level::Info, "disk root: switched; exec %s as PID 1 of the disk root", plan.init.c_str());
  drain_output();
  reset_signals();
  signals_reset = true;
  ::execve(plan.init.c_str(), args.data(), environ);
  const int err = errno;
  // keel's own binary, deleted with the initramfs but still this process's
  // file: it boots the disk root as its init.
  log::msg(log::Level::Warn, "disk root: exec %s failed (%s): exec keel's own binary (/proc/self/exe) instead",
           plan.init.c_str(), std::strerror(err));
  drain_output();
  args[0] = argv != nullptr && argv[0] != nullptr ? argv[0] : const_cast<char*>("/init");
  ::execve("/proc/self/exe", args.data(), environ);
  log::msg(log::Level::Error,
           "disk root: exec %s failed (%s) and so did keel's own binary (%s): keel stays PID 1 in the disk root "
           "without its initramfs; the services of the initramfs are gone, fix init= and reboot",
           plan.init.c_str(), std::strerror(err), std::strerror(errno));
}

}  // namespace

DiskRootPlan parse_disk_root(std::string_view cmdline) {
  DiskRootPlan plan;
  plan.timeout_s = limits::kRootTimeoutDefaultS;
  auto refuse = [&](std::string why) {
    if (plan.error.empty()) plan.error = std::move(why);
  };
  for (const std::string& word : split_words(cmdline)) {
    const std::string_view w = word;
    if (w.starts_with("root=")) {
      plan.wanted = true;
      plan.root_text = std::string(w.substr(5));
      if (auto spec = parse_device_spec(w.substr(5))) {
        plan.root = *spec;
      } else {
        refuse("root=" + plan.root_text + ": not /dev/NAME, LABEL=, UUID=, PARTLABEL= or PARTUUID=");
      }
    } else if (w.starts_with("rootfstype=")) {
      const std::string_view t = w.substr(11);
      if (t == "ext4") {
        plan.fstype = FsType::Ext4;
      } else if (t == "erofs") {
        plan.fstype = FsType::Erofs;
      } else {
        refuse(word + ": keel's stage mounts ext4 or erofs");
      }
    } else if (w.starts_with("rootflags=")) {
      plan.flags = std::string(w.substr(10));
      if (plan.flags.size() > limits::kDeviceSpecMax) refuse("rootflags=: too long");
    } else if (w == "ro") {
      plan.read_only = true;
    } else if (w == "rw") {
      plan.read_only = false;
    } else if (w.starts_with("keel.root_timeout=")) {
      const std::string_view t = w.substr(18);
      long v = 0;
      bool ok = !t.empty() && t.size() <= 9;
      for (char c : t) {
        if (c < '0' || c > '9') ok = false;
      }
      if (ok) {
        for (char c : t) v = v * 10 + (c - '0');
        plan.timeout_s = v > limits::kRootTimeoutMaxS ? limits::kRootTimeoutMaxS : v;
      } else {
        refuse(word + ": not a number of seconds");
      }
    } else if (w.starts_with("init=")) {
      plan.init = std::string(w.substr(5));
      if (!good_inner_path(plan.init)) refuse(word + ": not an absolute path");
    } else if (w.starts_with("keel.data=")) {
      const std::string_view v = w.substr(10);
      const std::size_t colon = v.rfind(":/");
      std::optional<DeviceSpec> spec;
      if (colon != std::string_view::npos) spec = parse_device_spec(v.substr(0, colon));
      if (!spec || !good_inner_path(v.substr(colon + 1))) {
        refuse(word + ": not SPEC:MOUNTPOINT (keel.data=LABEL=keel-data:/data)");
      } else {
        plan.data = spec;
        plan.data_mountpoint = std::string(v.substr(colon + 1));
      }
    } else if (w.starts_with("keel.tmpfs=")) {
      plan.tmpfs.clear();
      for (const std::string& p : split_words([&] {
             std::string s(w.substr(11));
             for (char& c : s) {
               if (c == ',') c = ' ';
             }
             return s;
           }())) {
        if (!good_inner_path(p)) {
          refuse("keel.tmpfs=: " + p + " is not an absolute path");
        } else if (plan.tmpfs.size() < 32) {
          plan.tmpfs.push_back(p);
        }
      }
    } else if (w.starts_with("keel.fsck=")) {
      if (w == "keel.fsck=skip") {
        plan.fsck = false;
      } else {
        refuse(word + ": the one value is \"skip\"");
      }
    }
  }
  return plan;
}

FsckAction fsck_action(int status) noexcept {
  if (status < 0 || (status & ~3) != 0) return FsckAction::MountReadOnly;
  if ((status & 2) != 0) return FsckAction::Reboot;
  return FsckAction::Mount;
}

bool root_is_initramfs() noexcept {
  struct statfs fs{};
  if (::statfs("/", &fs) != 0) return false;
  const auto type = static_cast<unsigned long>(fs.f_type);
  return type == RAMFS_MAGIC || type == TMPFS_MAGIC;
}

void run_disk_root_stage(std::string_view cmdline, char** argv, bool& signals_reset) noexcept {
  signals_reset = false;
  try {
    const DiskRootPlan plan = parse_disk_root(cmdline);
    if (!plan.wanted) return;
    if (!plan.error.empty()) {
      log::msg(log::Level::Error, "disk root: %s; staying in the initramfs", plan.error.c_str());
      return;
    }
    log::msg(log::Level::Info, "disk root: root=%s: keel is the initramfs's stage", plan.root_text.c_str());
    drain_output();
    const std::int64_t started = monotonic_ns();
    // The child's report of the device: a path, far below the pipe's
    // buffer, so its write never blocks; read once the child is gone.
    int report[2] = {-1, -1};
    if (::pipe2(report, O_CLOEXEC | O_NONBLOCK) != 0) {
      log::msg(log::Level::Error, "disk root: pipe: %s; staying in the initramfs", std::strerror(errno));
      return;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      log::msg(log::Level::Error, "disk root: fork: %s; staying in the initramfs", std::strerror(errno));
      ::close(report[0]);
      ::close(report[1]);
      return;
    }
    if (pid == 0) {
      // The child: its own process, free to block (PID 1 bounds it). keel's
      // log must not touch PID 1's epoll set, which this fork shares.
      log::set_output_watch(nullptr, nullptr);
      reset_signals();
      ::close(report[0]);
      const int code = prepare_root(plan, report[1]);
      drain_output();
      ::_exit(code);
    }
    const long bound_s = plan.timeout_s * (plan.data ? 2 : 1) +
                         (plan.fsck ? limits::kFsckTimeoutS * (plan.data ? 2 : 1) : 0) + limits::kStageMarginS;
    ::close(report[1]);
    const int status = wait_bounded(pid, bound_s * 1000);
    char found[limits::kDeviceSpecMax + 1];
    const ssize_t got = status < 0 ? -1 : ::read(report[0], found, sizeof found - 1);
    ::close(report[0]);
    const std::string device(found, got > 0 ? static_cast<std::size_t>(got) : 0);
    // Staying in the initramfs: the step is its keel's; after the switch,
    // the disk root's keel records it (record_disk_root_step).
    auto record_here = [&] { record_root_step(started, monotonic_ns(), service::realtime_ns(), device); };
    if (status < 0) {
      record_here();
      ::kill(pid, SIGKILL);
      log::msg(log::Level::Error,
               "disk root: the stage's child (pid %d) still ran after %ld s and was killed (a disk that does not "
               "answer?); staying in the initramfs",
               static_cast<int>(pid), bound_s);
      return;
    }
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : kChildFailed;
    if (code == kChildReboot) {
      drain_output();
      ::sync();
      ::reboot(RB_AUTOBOOT);
      log::msg(log::Level::Error, "disk root: reboot(2): %s; staying in the initramfs", std::strerror(errno));
      return;
    }
    if (code != kChildMounted) {
      record_here();
      if (!WIFEXITED(status)) {
        log::msg(log::Level::Error, "disk root: the stage's child died (signal %d); staying in the initramfs",
                 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
      }
      return;
    }
    // Mounted. Everything that can still fail is checked before anything of
    // the initramfs is touched.
    auto give_up = [&] {
      (void)::umount2(kNewRoot, MNT_DETACH);
      record_here();
      drain_output();
    };
    int err = 0;
    if (!init_in_root(plan.init, err)) {
      log::msg(log::Level::Error,
               "disk root: init=%s: not an executable file in the disk root (%s): set init= or add it to the image; "
               "staying in the initramfs",
               plan.init.c_str(), std::strerror(err));
      give_up();
      return;
    }
    struct statfs newfs{};
    const bool writable = ::statfs(kNewRoot, &newfs) == 0 && (newfs.f_flags & ST_RDONLY) == 0;
    for (const char* m : kMoved) {
      if (!mount_point(m, writable, "moving the early mounts")) {
        give_up();
        return;
      }
    }
    int moved = 0;
    for (const char* m : kMoved) {
      const std::string target = std::string(kNewRoot) + m;
      if (::mount(m, target.c_str(), nullptr, MS_MOVE, nullptr) != 0) {
        log::msg(log::Level::Error, "disk root: moving %s: %s; staying in the initramfs", m, std::strerror(errno));
        for (int i = moved - 1; i >= 0; --i) {
          const std::string back = std::string(kNewRoot) + kMoved[i];
          (void)::mount(back.c_str(), kMoved[i], nullptr, MS_MOVE, nullptr);
        }
        give_up();
        return;
      }
      ++moved;
    }
    // The point of no return: the initramfs's files go (their memory is
    // the kernel's until deleted), then the new root becomes "/".
    struct stat root_st{};
    const int root = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root >= 0 && ::fstat(root, &root_st) == 0) delete_tree(root, root_st.st_dev, 0);
    if (root >= 0) ::close(root);
    if (::chdir(kNewRoot) != 0 || ::mount(".", "/", nullptr, MS_MOVE, nullptr) != 0) {
      log::msg(log::Level::Warn, "disk root: moving the new root onto /: %s; chroot into %s instead",
               std::strerror(errno), kNewRoot);
    }
    if (::chroot(".") != 0 || ::chdir("/") != 0) {
      log::msg(log::Level::Error, "disk root: chroot: %s", std::strerror(errno));
    }
    char step[64 + limits::kDeviceSpecMax];
    std::snprintf(step, sizeof step, "%lld %lld %lld %s", static_cast<long long>(started),
                  static_cast<long long>(monotonic_ns()), static_cast<long long>(service::realtime_ns()),
                  device.c_str());
    (void)::setenv(kStepVariable, step, 1);
    exec_init(plan, argv, signals_reset);
  } catch (const std::bad_alloc&) {
    log::msg(log::Level::Error, "disk root: out of memory; staying in the initramfs");
  }
}

void record_disk_root_step() noexcept {
  const char* value = std::getenv(kStepVariable);
  if (value == nullptr) return;
  // Set by the stage before its exec, but only an environment variable:
  // checked like any input, and gone before a service could inherit it.
  std::string_view text = value;
  std::int64_t start = 0;
  std::int64_t end_mono = 0;
  std::int64_t end_real = 0;
  bool ok = take_number(text, start) && take_number(text, end_mono) && take_number(text, end_real) &&
            start <= end_mono && text.size() <= limits::kDeviceSpecMax && text.starts_with('/');
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) ok = false;
  }
  if (ok) record_root_step(start, end_mono, end_real, text);
  (void)::unsetenv(kStepVariable);
}

}  // namespace keel
