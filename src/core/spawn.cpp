#include "core/spawn.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <climits>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>

#include "core/limits.hpp"
#include "core/raw_syscall.hpp"

extern char** environ;

namespace keel {

void* ChildArena::allocate(std::size_t bytes, std::size_t align) noexcept {
  if (next_ == nullptr) return nullptr;
  // Offsets, not integers cast back to pointers: the padding to `align`.
  const auto misalign = reinterpret_cast<std::uintptr_t>(next_) & (std::uintptr_t{align} - 1);
  const std::size_t pad = misalign != 0 ? align - misalign : 0;
  const auto room = static_cast<std::size_t>(end_ - next_);
  if (pad > room || bytes > room - pad) {
    next_ = nullptr;  // full: every later call fails too
    return nullptr;
  }
  unsigned char* at = next_ + pad;
  next_ = at + bytes;
  return at;
}

const char* ChildArena::copy_string(const char* text) noexcept {
  if (text == nullptr) return nullptr;
  return copy_array(text, std::strlen(text) + 1);
}

namespace {

// What the child reports on the pipe. The step is an index, not a pointer,
// so the parent never trusts a pointer read from another process.
enum class Step : int { Setsid, Setpgid, Terminal, Chdir, Signals, Execve, Hook, Cgroup };
constexpr const char* kStepNames[] = {"setsid", "setpgid", "tcsetpgrp", "fchdir", "sigaction", "execve", "hook", "cgroup"};

struct ChildReport {
  int step;
  int err;
  // Step::Hook only: the hook's context string. A pointer, but not one from
  // another program: the child runs keel's program, not yet exec'd, and
  // Error contexts are string literals, so the address is the same in the
  // parent.
  const char* hook_context;
};

// Everything the child reads, prepared by the parent before the clone in
// the launch's own mapping (or, for a fork, anywhere: the fork copies it).
struct ChildData {
  const char* path = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  Session session = Session::Inherit;
  bool take_terminal = false;
  bool into_cgroup = false;  // created by clone3 inside the cgroup already
  std::uint64_t mask = 0;    // the kernel's sigset: bit N-1 is signal N
  std::uint64_t reset = 0;
  int cwd_fd = -1;
  int cgroup_procs_fd = -1;
  int report_fd = -1;
  Status (*hook)(const void*) noexcept = nullptr;
  const void* hook_context = nullptr;
  const char* self_pid_env = nullptr;  // SpawnOptions::self_pid_env, copied
  const char* pid_env_name = nullptr;  // copied: "LISTEN_PID"
};

// envp with "NAME=PID" (the child's own pid) appended for each name given,
// built in `out` and `entries`, which are on the child's stack: the copies
// in keel's memory are only read. nullptr when it does not fit (limits.hpp).
char* const* env_with_own_pid(char* const* envp, const char* const (&names)[2], char** out, std::size_t out_size,
                              char (&entries)[2][64]) noexcept {
  std::size_t n = 0;
  while (envp[n] != nullptr) ++n;
  if (n + 3 > out_size) return nullptr;
  for (std::size_t i = 0; i < n; ++i) out[i] = envp[i];
  const long pid = raw::call(SYS_getpid);
  for (std::size_t k = 0; k < 2; ++k) {
    const char* name = names[k];
    if (name == nullptr) continue;
    char* entry = entries[k];
    std::size_t len = 0;
    while (name[len] != '\0') ++len;
    if (len + 2 + 20 > sizeof entries[k]) return nullptr;
    std::size_t at = 0;
    for (; at < len; ++at) entry[at] = name[at];
    entry[at++] = '=';
    long rest = pid;
    char digits[24];
    std::size_t count = 0;
    do {
      digits[count++] = static_cast<char>('0' + rest % 10);
      rest /= 10;
    } while (rest > 0 && count < sizeof digits);
    while (count > 0) entry[at++] = digits[--count];
    entry[at] = '\0';
    out[n++] = entry;
  }
  out[n] = nullptr;
  return out;
}

[[noreturn]] void child_exit(int code) noexcept {
  for (;;) (void)raw::call(SYS_exit_group, code);
}

[[noreturn]] void child_fail(int report_fd, Step step, long neg_errno, const char* hook_context = nullptr) noexcept {
  ChildReport report{static_cast<int>(step), static_cast<int>(-neg_errno), hook_context};
  // Nothing useful can be done if this write fails; the exit code still tells.
  (void)raw::call(SYS_write, report_fd, &report, sizeof report);
  child_exit(exec_failure_exit_code(report.err));
}

// isatty() without errno: TCGETS succeeds only on a terminal. The buffer
// is the kernel's struct termios, smaller than glibc's.
bool child_isatty(int fd) noexcept {
  unsigned char termios[64];
  return raw::call(SYS_ioctl, fd, TCGETS, termios) == 0;
}

// The kernel's struct sigaction for SIG_DFL: handler, flags, restorer and
// mask all zero (x86_64 and aarch64 share this layout).
struct KernelSigaction {
  unsigned long handler = 0;
  unsigned long flags = 0;
  unsigned long restorer = 0;
  std::uint64_t mask = 0;
};
constexpr long kKernelSigsetBytes = 8;

// Where the report pipe moves to in a child with a hook. The hook lays out
// the service's fds with dup2 (0..2 and a notification fd, often 3); had
// pipe2 handed out one of those numbers, the hook would overwrite the pipe
// and its own error would be lost. Targets are small numbers, so the pipe
// goes at or above 64 (well under any RLIMIT_NOFILE, 1024 by default).
constexpr int kHookReportFdFloor = 64;

// The child, from the clone to the exec. It may share keel's memory: it
// writes only to its stack, and calls the kernel directly.
[[noreturn]] void run_child(const ChildData& d) noexcept {
  int report_fd = d.report_fd;
  // Dispositions first: until then a fault here would run keel's crash
  // handler (fatal.hpp) in the child. The raw call also takes 32 and 33,
  // which glibc's sigaction refuses (kept for itself; meaningless after
  // the exec).
  const KernelSigaction dfl{};
  for (int signo = 1; signo <= limits::kMaxSignal; ++signo) {
    if (signo == SIGKILL || signo == SIGSTOP || ((d.reset >> (signo - 1)) & 1U) == 0) continue;
    long r = raw::call(SYS_rt_sigaction, signo, &dfl, 0, kKernelSigsetBytes);
    if (r < 0) child_fail(report_fd, Step::Signals, r);
  }
  // The cgroup before anything else, while still root (cgroup.procs
  // belongs to root), so every later allocation, and every process the
  // service forks, is charged to and killable with it.
  if (d.cgroup_procs_fd >= 0 && !d.into_cgroup) {
    long r = raw::call(SYS_write, d.cgroup_procs_fd, "0", 1);
    if (r != 1) child_fail(report_fd, Step::Cgroup, r < 0 ? r : -EIO);
  }
  if (d.hook != nullptr && report_fd < kHookReportFdFloor) {
    long moved = raw::call(SYS_fcntl, report_fd, F_DUPFD_CLOEXEC, kHookReportFdFloor);
    if (moved >= 0) {
      (void)raw::call(SYS_close, report_fd);
      report_fd = static_cast<int>(moved);
    }
  }
  if (d.session == Session::NewSession) {
    long r = raw::call(SYS_setsid);
    if (r < 0) child_fail(report_fd, Step::Setsid, r);
    // Take fd 0's terminal as our controlling tty, if it is one; a child
    // without a terminal is the normal case in containers.
    if (d.take_terminal && child_isatty(STDIN_FILENO)) (void)raw::call(SYS_ioctl, STDIN_FILENO, TIOCSCTTY, 0);
  } else if (d.session == Session::NewProcessGroup) {
    long r = raw::call(SYS_setpgid, 0, 0);
    if (r < 0) child_fail(report_fd, Step::Setpgid, r);
    // Done in the child, not the parent: if keel runs under another keel or
    // tini, the outer one may hand the terminal to our group first, and
    // doing it here makes the innermost child the last word. SIGTTOU is
    // still blocked (the parent's mask is inherited until the
    // rt_sigprocmask below), so a background group may take the terminal.
    if (d.take_terminal && child_isatty(STDIN_FILENO)) {
      pid_t group = static_cast<pid_t>(raw::call(SYS_getpgid, 0));
      r = raw::call(SYS_ioctl, STDIN_FILENO, TIOCSPGRP, &group);
      if (r < 0 && r != -ENOTTY && r != -ENXIO) child_fail(report_fd, Step::Terminal, r);
    }
  }
  if (d.cwd_fd >= 0) {
    long r = raw::call(SYS_fchdir, d.cwd_fd);
    if (r < 0) child_fail(report_fd, Step::Chdir, r);
  }
  if (long r = raw::call(SYS_rt_sigprocmask, SIG_SETMASK, &d.mask, 0, kKernelSigsetBytes); r < 0) {
    child_fail(report_fd, Step::Signals, r);
  }
  // The hook comes last so that it sees the final session and signal state,
  // and so that a privilege drop in it cannot make the steps above fail
  // (setsid, tcsetpgrp need nothing, but fchdir as another user might).
  if (d.hook != nullptr) {
    Status hooked = d.hook(d.hook_context);
    if (!hooked) child_fail(report_fd, Step::Hook, -hooked.error().code, hooked.error().context);
  }
  // The environment with "NAME=<pid>" appended for WATCHDOG_PID and
  // LISTEN_PID: only the child knows its pid before the exec, and it may
  // write nothing but its stack, so the entries and the pointer array are
  // built here (the copies in the launch's mapping are keel's memory, only
  // read). Too many variables: LISTEN_PID, which sd_listen_fds() needs,
  // fails the exec with E2BIG; WATCHDOG_PID alone is left out (the plan
  // already dropped it then, exec_plan.cpp).
  char* const* envp = d.envp;
  char* pid_envp[limits::kSelfPidEnvEntries];
  char pid_entries[2][64];
  const char* const pid_names[2] = {d.self_pid_env, d.pid_env_name};
  if (d.self_pid_env != nullptr || d.pid_env_name != nullptr) {
    envp = env_with_own_pid(d.envp, pid_names, pid_envp, limits::kSelfPidEnvEntries, pid_entries);
    if (envp == nullptr && d.pid_env_name != nullptr) child_fail(report_fd, Step::Execve, -E2BIG);
    if (envp == nullptr) envp = d.envp;
  }
  long r = raw::call(SYS_execve, d.path, d.argv, envp);
  if (r == -ENOEXEC) {
    // A file without "#!" is a shell script, as execvp and every shell
    // treat it: run it with /bin/sh. The argv is built on the stack, since
    // nothing may allocate here.
    static const char shell[] = "/bin/sh";
    char* sh_argv[limits::kMaxScriptArgs];
    std::size_t n = 0;
    while (d.argv[n] != nullptr) ++n;
    if (n + 2 <= limits::kMaxScriptArgs) {
      sh_argv[0] = const_cast<char*>(shell);
      sh_argv[1] = const_cast<char*>(d.path);
      for (std::size_t i = 1; i <= n; ++i) sh_argv[i + 1] = d.argv[i];  // copies the final nullptr too
      (void)raw::call(SYS_execve, shell, sh_argv, envp);
    }
    r = -ENOEXEC;
  }
  child_fail(report_fd, Step::Execve, r);
}

// The entry of a child made by clone_on_stack (its own stack, no caller).
void child_entry(void* data) noexcept { run_child(*static_cast<const ChildData*>(data)); }

// clone or clone3 with a new stack: the child starts on that stack with
// nothing above it, so it calls `fn(arg)` from the assembly and exits
// there; only the parent returns (the child's pid, or -errno).
long clone_on_stack(long nr, long a0, long a1, long a2, long a3, long a4, void (*fn)(void*) noexcept,
                    void* arg) noexcept {
#if defined(__x86_64__)
  register long rax __asm__("rax") = nr;
  register long rdi __asm__("rdi") = a0;
  register long rsi __asm__("rsi") = a1;
  register long rdx __asm__("rdx") = a2;
  register long r10 __asm__("r10") = a3;
  register long r8 __asm__("r8") = a4;
  register void (*r12)(void*) noexcept __asm__("r12") = fn;
  register void* r13 __asm__("r13") = arg;
  // The kernel hands the child a 16-byte aligned stack top, as a call
  // expects; %rbp cleared ends a debugger's backtrace there.
  __asm__ volatile(
      "syscall\n\t"
      "testq %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      "xorl %%ebp, %%ebp\n\t"
      "movq %%r13, %%rdi\n\t"
      "callq *%%r12\n\t"
      "movl $231, %%eax\n\t"  // exit_group(127): fn does not return
      "movl $127, %%edi\n\t"
      "syscall\n\t"
      "1:\n\t"
      : "+r"(rax)
      : "r"(rdi), "r"(rsi), "r"(rdx), "r"(r10), "r"(r8), "r"(r12), "r"(r13)
      : "rcx", "r11", "memory");
  return rax;
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = nr;
  register long x0 __asm__("x0") = a0;
  register long x1 __asm__("x1") = a1;
  register long x2 __asm__("x2") = a2;
  register long x3 __asm__("x3") = a3;
  register long x4 __asm__("x4") = a4;
  register void (*x6)(void*) noexcept __asm__("x6") = fn;
  register void* x7 __asm__("x7") = arg;
  __asm__ volatile(
      "svc #0\n\t"
      "cbnz x0, 1f\n\t"
      "mov x29, xzr\n\t"
      "mov x30, xzr\n\t"
      "mov x0, x7\n\t"
      "blr x6\n\t"
      "mov x8, #94\n\t"  // exit_group(127): fn does not return
      "mov x0, #127\n\t"
      "svc #0\n\t"
      "1:\n\t"
      : "+r"(x0)
      : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x6), "r"(x7)
      : "memory");
  return x0;
#else
  (void)nr, (void)a0, (void)a1, (void)a2, (void)a3, (void)a4, (void)fn, (void)arg;
  return -ENOSYS;
#endif
}

// A launch's mapping: a guard page, the child's stack above it, then the
// arena with the ChildData and the copies it points to. The stack grows
// down towards the guard, away from the arena.
struct Slot {
  // Non-zero while a child sharing keel's memory may still use `base`:
  // set by keel before the clone, cleared by the kernel when the child's
  // exec or exit releases the memory (CLONE_CHILD_CLEARTID, the moment
  // glibc's pthread_join waits for; it comes before the exec closes the
  // report pipe, and before an exiting child's fds are closed).
  std::uint32_t busy = 0;
  unsigned char* base = nullptr;
  std::size_t size = 0;
};
Slot g_slots[limits::kMaxLaunching];

constexpr std::size_t kGuardBytes = 4096;

bool slot_busy(const Slot& slot) noexcept { return __atomic_load_n(&slot.busy, __ATOMIC_ACQUIRE) != 0; }

void unmap(Slot& slot) noexcept {
  if (slot.base != nullptr) ::munmap(slot.base, slot.size);
  slot.base = nullptr;
  slot.size = 0;
}

// Unmaps every mapping whose child has let go of it. Mappings are not kept
// for the next launch: a few touched pages each would stay in PID 1's
// memory for good, and a fresh one costs an mmap and a few page faults.
void reclaim_slots() noexcept {
  for (Slot& slot : g_slots) {
    if (slot.base != nullptr && !slot_busy(slot)) unmap(slot);
  }
}

bool map_slot(Slot& slot, std::size_t arena_bytes) noexcept {
  const std::size_t size = kGuardBytes + limits::kChildStackBytes + arena_bytes;
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (p == MAP_FAILED) return false;
  slot.base = static_cast<unsigned char*>(p);
  slot.size = size;
  if (::mprotect(slot.base, kGuardBytes, PROT_NONE) != 0) {
    unmap(slot);
    return false;
  }
  return true;
}

// Whether a child may share keel's memory on this kernel: from 5.16 a core
// dump ends only the dumping process; before, it killed every process
// sharing its memory (the old coredump_wait's zap_threads), so a child
// killed by SIGQUIT or a fault would take keel (PID 1: the machine) along.
// KEEL_SPAWN_FORK=1 in keel's environment forks every child instead: for
// valgrind, which cannot run a child that shares memory without
// CLONE_VFORK (tools/hot-functions profiles keel under it), and for
// measuring one way against the other. Either way is correct.
bool kernel_lets_children_share_memory() noexcept {
  static int answer = -1;
  if (answer < 0) {
    const char* forced = std::getenv("KEEL_SPAWN_FORK");
    if (forced != nullptr && std::strcmp(forced, "1") == 0) {
      answer = 0;
      return false;
    }
    // "MAJOR.MINOR..." read by hand: sscanf would pull glibc's whole
    // scanf (about 70 KB, with its float parsers) into PID 1's pages.
    utsname u{};
    int version[2] = {0, 0};
    bool read = ::uname(&u) == 0;
    const char* c = u.release;
    for (int& part : version) {
      if (!read || *c < '0' || *c > '9') {
        read = false;
        break;
      }
      while (*c >= '0' && *c <= '9' && part < 100000) part = part * 10 + (*c++ - '0');
      if (*c == '.') ++c;
    }
    answer = read && (version[0] > 5 || (version[0] == 5 && version[1] >= 16)) ? 1 : 0;
  }
  return answer == 1;
}

// AddressSanitizer keeps per-thread state (its fake stacks, the bounds of
// the thread's stack) that a child on another stack would write and
// confuse: the sanitized build forks.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kShareMemory = false;
#else
constexpr bool kShareMemory = raw::kRawSyscalls;
#endif

std::uint64_t kernel_sigset(const sigset_t& set) noexcept {
  std::uint64_t bits = 0;
  for (int signo = 1; signo <= limits::kMaxSignal; ++signo) {
    if (sigismember(&set, signo) == 1) bits |= std::uint64_t{1} << (signo - 1);
  }
  return bits;
}

sigset_t g_dispositions;
bool g_dispositions_taken = false;

// Copies argv, envp, the path and the hook's context into `arena`; the
// ChildData, or nullptr when the arena is too small.
ChildData* prepare(ChildArena& arena, const SpawnOptions& o, const char* path, int report_fd) noexcept {
  auto* d = static_cast<ChildData*>(arena.allocate(sizeof(ChildData), alignof(ChildData)));
  if (d == nullptr) return nullptr;
  *d = ChildData{};
  auto copy_vector = [&arena](char* const* v) noexcept -> char* const* {
    std::size_t n = 0;
    while (v[n] != nullptr) ++n;
    auto** out = static_cast<char**>(arena.allocate(sizeof(char*) * (n + 1), alignof(char*)));
    if (out == nullptr) return nullptr;
    for (std::size_t i = 0; i < n; ++i) {
      out[i] = const_cast<char*>(arena.copy_string(v[i]));
      if (out[i] == nullptr) return nullptr;
    }
    out[n] = nullptr;
    return out;
  };
  d->path = arena.copy_string(path);
  d->argv = copy_vector(o.argv);
  d->envp = copy_vector(o.envp != nullptr ? o.envp : environ);
  if (d->path == nullptr || d->argv == nullptr || d->envp == nullptr) return nullptr;
  d->session = o.session;
  d->take_terminal = o.take_terminal;
  d->mask = o.mask != nullptr ? kernel_sigset(*o.mask) : 0;
  const sigset_t* reset = o.reset_to_default;
  d->reset = reset != nullptr ? kernel_sigset(*reset) : ~std::uint64_t{0};
  d->cwd_fd = o.cwd_fd;
  d->cgroup_procs_fd = o.cgroup_procs_fd;
  d->report_fd = report_fd;
  d->hook = o.child_setup;
  d->hook_context = o.child_context;
  if (o.self_pid_env != nullptr) {
    d->self_pid_env = arena.copy_string(o.self_pid_env);
    if (d->self_pid_env == nullptr) return nullptr;
  }
  if (o.pid_env_name != nullptr) {
    d->pid_env_name = arena.copy_string(o.pid_env_name);
    if (d->pid_env_name == nullptr) return nullptr;
  }
  if (o.child_setup != nullptr && o.copy_child_context != nullptr) {
    d->hook_context = o.copy_child_context(o.child_context, arena);
    if (d->hook_context == nullptr) return nullptr;
  }
  return d;
}

// fork(), or clone3 into `cgroup_fd` when one is given: the way when the
// child may not share keel's memory. A raw clone3 child is a fork without
// glibc's atfork handlers, which keel does not use.
pid_t fork_into(int cgroup_fd, ChildData& d) noexcept {
  d.into_cgroup = false;
  if (cgroup_fd >= 0) {
    clone_args args{};
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = static_cast<std::uint64_t>(cgroup_fd);
    d.into_cgroup = true;  // the child's copy says so; the parent's is not read again
    long pid = ::syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) run_child(d);
    if (pid > 0) return static_cast<pid_t>(pid);
    d.into_cgroup = false;
    // Refused (ENOSYS, E2BIG, EINVAL, EPERM...): fork, and the child moves itself.
  }
  pid_t pid = ::fork();
  if (pid == 0) run_child(d);
  return pid;
}

// The child on the slot's stack, sharing keel's memory. The pid, or -errno.
long clone_vm(Slot& slot, int cgroup_fd, ChildData& d) noexcept {
  unsigned char* stack = slot.base + kGuardBytes;
  unsigned char* stack_top = stack + limits::kChildStackBytes;
  __atomic_store_n(&slot.busy, 1U, __ATOMIC_RELEASE);
  long pid = -ENOSYS;
  if (cgroup_fd >= 0) {
    clone_args args{};
    args.flags = CLONE_VM | CLONE_CHILD_CLEARTID | CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.child_tid = reinterpret_cast<std::uint64_t>(&slot.busy);
    args.stack = reinterpret_cast<std::uint64_t>(stack);
    args.stack_size = limits::kChildStackBytes;
    args.cgroup = static_cast<std::uint64_t>(cgroup_fd);
    d.into_cgroup = true;
    pid = clone_on_stack(SYS_clone3, reinterpret_cast<long>(&args), sizeof args, 0, 0, 0, &child_entry, &d);
    if (pid > 0) return pid;
    // Refused (ENOSYS before 5.7 or under a seccomp filter, EINVAL...):
    // the old clone, and the child moves itself.
    d.into_cgroup = false;
  }
  const long flags = CLONE_VM | CLONE_CHILD_CLEARTID | SIGCHLD;
  const auto top = reinterpret_cast<long>(stack_top);
  const auto tid = reinterpret_cast<long>(&slot.busy);
#if defined(__aarch64__)
  pid = clone_on_stack(SYS_clone, flags, top, 0, 0, tid, &child_entry, &d);  // parent_tid, tls, child_tid
#else
  pid = clone_on_stack(SYS_clone, flags, top, 0, tid, 0, &child_entry, &d);  // parent_tid, child_tid, tls
#endif
  if (pid < 0) __atomic_store_n(&slot.busy, 0U, __ATOMIC_RELEASE);
  return pid;
}

bool is_executable_file(const char* path, int* err) noexcept {
  struct stat st {};
  if (::stat(path, &st) != 0) {
    *err = errno;
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    *err = EACCES;
    return false;
  }
  if (::access(path, X_OK) != 0) {
    *err = errno;
    return false;
  }
  return true;
}

}  // namespace

Status resolve_program(const char* name, const char* path_env, char* out, std::size_t out_size) noexcept {
  std::size_t name_len = std::strlen(name);
  if (name_len == 0) return Error{ENOENT, "execve"};
  if (std::strchr(name, '/') != nullptr) {
    if (name_len + 1 > out_size) return Error{ENAMETOOLONG, "execve"};
    std::memcpy(out, name, name_len + 1);
    return {};  // execve reports what is wrong with an explicit path
  }
  const char* path = path_env != nullptr ? path_env : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  int result = ENOENT;
  for (const char* dir = path;; ) {
    const char* end = std::strchr(dir, ':');
    std::size_t dir_len = end != nullptr ? static_cast<std::size_t>(end - dir) : std::strlen(dir);
    // An empty PATH entry means the current directory, as in execvp.
    const char* d = dir_len > 0 ? dir : ".";
    std::size_t d_len = dir_len > 0 ? dir_len : 1;
    if (d_len + 1 + name_len + 1 <= out_size) {
      std::memcpy(out, d, d_len);
      out[d_len] = '/';
      std::memcpy(out + d_len + 1, name, name_len + 1);
      int err = 0;
      if (is_executable_file(out, &err)) return {};
      if (err == EACCES) result = EACCES;  // found, but not runnable: remember, keep looking
    }
    if (end == nullptr) break;
    dir = end + 1;
  }
  return Error{result, "execve"};
}

bool spawn_shares_memory() noexcept { return kShareMemory && kernel_lets_children_share_memory(); }

void take_signal_dispositions_snapshot() noexcept {
  sigemptyset(&g_dispositions);
  for (int signo = 1; signo <= limits::kMaxSignal; ++signo) {
    struct sigaction current {};
    // glibc refuses 32 and 33 (its own; never changed by keel).
    if (::sigaction(signo, nullptr, &current) == 0 && current.sa_handler != SIG_DFL) sigaddset(&g_dispositions, signo);
  }
  g_dispositions_taken = true;
}

const sigset_t* signal_dispositions_snapshot() noexcept { return g_dispositions_taken ? &g_dispositions : nullptr; }

Result<Launch> spawn_nowait(const SpawnOptions& options) noexcept {
  if (options.argv == nullptr || options.argv[0] == nullptr) return Error{EINVAL, "spawn"};
  char path[PATH_MAX];
  const char* path_env = options.path_env != nullptr ? options.path_env : ::getenv("PATH");
  Status resolved = resolve_program(options.argv[0], path_env, path, sizeof path);
  if (!resolved) return resolved.error();

  // Only the read end is non-blocking: the child's one write of its report
  // (a few bytes into an empty pipe) never blocks anyway.
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return errno_error("pipe2");
  auto fail = [&report](Error e) noexcept {
    ::close(report[0]);
    ::close(report[1]);
    return e;
  };
  if (::fcntl(report[0], F_SETFL, O_NONBLOCK) != 0) return fail(errno_error("fcntl"));

  reclaim_slots();
  const bool share = spawn_shares_memory() &&
                     (options.child_setup == nullptr || options.copy_child_context != nullptr);
  // A slot of the table when the child shares keel's memory (held until
  // the kernel releases it); for a fork, or with every slot held, one for
  // this call only (the fork copies it).
  Slot local;
  Slot* slot = &local;
  if (share) {
    for (Slot& s : g_slots) {
      if (s.base == nullptr && !slot_busy(s)) {
        slot = &s;
        break;
      }
    }
  }
  // Room for argv and envp measured, the hook's copy guessed (a plan is a
  // few hundred bytes); a larger one doubles the arena until it fits.
  std::size_t strings = 0;
  for (char* const* v : {options.argv, options.envp != nullptr ? options.envp : environ}) {
    for (; *v != nullptr; ++v) strings += std::strlen(*v) + 1 + sizeof(char*);
  }
  ChildData* data = nullptr;
  for (std::size_t arena = strings + limits::kChildArenaBytes; data == nullptr; arena *= 2) {
    // argv and envp together are bounded by the kernel (a quarter of the
    // stack limit); past 256 MiB, the exec would refuse them anyway.
    if (arena > limits::kChildArenaMaxBytes) return fail(Error{E2BIG, "spawn"});
    unmap(*slot);
    if (!map_slot(*slot, arena)) return fail(errno_error("mmap"));
    ChildArena a(slot->base + kGuardBytes + limits::kChildStackBytes, arena);
    data = prepare(a, options, path, report[1]);
  }

  long pid;
  if (share && slot != &local) {
    pid = clone_vm(*slot, options.cgroup_fd, *data);
    if (pid < 0) unmap(*slot);
  } else {
    pid = fork_into(options.cgroup_fd, *data);
    if (pid < 0) pid = -errno;
    unmap(*slot);
  }
  if (pid < 0) return fail(Error{static_cast<int>(-pid), "fork"});
  ::close(report[1]);
  return Launch{static_cast<pid_t>(pid), report[0]};
}

ExecReport read_exec_report(int report_fd, Error* error) noexcept {
  ChildReport child_report{};
  ssize_t n;
  do {
    n = ::read(report_fd, &child_report, sizeof child_report);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return ExecReport::Pending;
  // EOF, or a read error on a pipe only keel holds (nothing to wait for
  // then), or a short report (one write of 24 bytes into a pipe is atomic,
  // so that cannot happen): the child is taken as exec'd.
  // The launch's mapping may be free now (an exec releases it before the
  // pipe closes); unmapped here rather than at the next launch, so PID 1
  // keeps no idle child stacks.
  reclaim_slots();
  if (n != static_cast<ssize_t>(sizeof child_report)) return ExecReport::Execed;
  int step = child_report.step;
  if (step == static_cast<int>(Step::Hook)) {
    *error = Error{child_report.err, child_report.hook_context != nullptr ? child_report.hook_context : "spawn"};
  } else {
    const char* step_name = (step >= 0 && step < static_cast<int>(std::size(kStepNames))) ? kStepNames[step] : "spawn";
    *error = Error{child_report.err, step_name};
  }
  return ExecReport::Failed;
}

Result<pid_t> spawn(const SpawnOptions& options) noexcept {
  Result<Launch> launched = spawn_nowait(options);
  if (!launched) return launched.error();
  const Launch l = launched.value();
  Error error;
  ExecReport report;
  for (;;) {
    report = read_exec_report(l.report_fd, &error);
    if (report != ExecReport::Pending) break;
    pollfd p{l.report_fd, POLLIN, 0};
    (void)::poll(&p, 1, -1);
  }
  ::close(l.report_fd);
  if (report == ExecReport::Execed) return l.pid;
  // The child has reported and is exiting right now.
  int status = 0;
  while (::waitpid(l.pid, &status, 0) < 0 && errno == EINTR) {
  }
  return error;
}

}  // namespace keel
