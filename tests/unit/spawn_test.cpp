// Unit tests for core/spawn: the child's signal state, sessions, cwd,
// environment, exec failures reported as values, and PATH resolution.
//
// Children are `sleep` processes inspected through /proc/<pid>/ and then
// killed and reaped by a ChildGuard. Tests that change this process's signal
// state restore it with a SignalStateGuard (test_util.hpp).
#include "core/spawn.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/limits.hpp"
#include "core/raw_syscall.hpp"
#include "test_util.hpp"

namespace keel {
namespace {

using testutil::has_children;
using testutil::SignalStateGuard;

constexpr char kSleep[] = "/bin/sleep";

std::uint64_t bit(int signo) { return std::uint64_t{1} << (signo - 1); }
constexpr std::uint64_t kClassic = 0x7fffffffULL;  // signals 1..31

// Kills and reaps a spawned child when the test ends.
class ChildGuard {
 public:
  explicit ChildGuard(pid_t pid) : pid_(pid) {}
  ~ChildGuard() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  ChildGuard(const ChildGuard&) = delete;
  ChildGuard& operator=(const ChildGuard&) = delete;

 private:
  pid_t pid_;
};

// A temporary directory, removed (one level deep) at the end.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/keel_spawn_XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    for (const auto& f : files_) {
      if (::unlink(f.c_str()) != 0) ::rmdir(f.c_str());
    }
    if (!path_.empty()) ::rmdir(path_.c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }
  std::string file(const std::string& name, mode_t mode, const std::string& content = "#!/bin/sh\nexit 0\n") {
    std::string p = path_ + "/" + name;
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ssize_t n = ::write(fd, content.data(), content.size());
      (void)n;
      ::close(fd);
    }
    ::chmod(p.c_str(), mode);
    files_.push_back(p);
    return p;
  }
  std::string symlink(const std::string& name, const char* target) {
    std::string p = path_ + "/" + name;
    if (::symlink(target, p.c_str()) == 0) files_.push_back(p);
    return p;
  }
  std::string dir(const std::string& name) {
    std::string p = path_ + "/" + name;
    ::mkdir(p.c_str(), 0755);
    files_.push_back(p);
    return p;
  }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

// A field of /proc/<pid>/status, e.g. "SigBlk".
std::optional<std::string> status_field(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::string v = line.substr(field.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return std::nullopt;
}

std::uint64_t status_mask(pid_t pid, const std::string& field) {
  auto v = status_field(pid, field);
  EXPECT_TRUE(v.has_value()) << field;
  return v ? std::strtoull(v->c_str(), nullptr, 16) : ~std::uint64_t{0};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string read_link(const std::string& path) {
  char buf[PATH_MAX] = {};
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
}

char* const* sleep_argv() {
  static char a0[] = "/bin/sleep";
  static char a1[] = "5";
  static char* const argv[] = {a0, a1, nullptr};
  return argv;
}

Result<pid_t> spawn_sleep(SpawnOptions o = {}) {
  o.argv = sleep_argv();
  return spawn(o);
}

void ignore(int signo) { ::signal(signo, SIG_IGN); }

// Reap whatever zombies are left; true if there were any children at all.
bool reap_leftovers() {
  bool any = has_children();
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  return any;
}

class SpawnTest : public ::testing::Test {
 protected:
  void SetUp() override { EXPECT_FALSE(reap_leftovers()) << "a child was left behind before this test"; }
  // The test that leaves a child (a zombie: an unreaped failed spawn) is the
  // one that fails, and the next test starts clean.
  void TearDown() override { EXPECT_FALSE(reap_leftovers()) << "this test left a child behind"; }
  SignalStateGuard signal_guard;
};

// ------------------------------------------------------------ signal state

TEST_F(SpawnTest, ChildStartsWithNoBlockedOrIgnoredSignals) {
  sigset_t block;
  sigemptyset(&block);
  for (int s : {SIGUSR1, SIGTERM, SIGHUP, SIGCHLD, SIGINT, SIGTTOU}) sigaddset(&block, s);
  ASSERT_EQ(::sigprocmask(SIG_BLOCK, &block, nullptr), 0);
  for (int s : {SIGUSR2, SIGPIPE, SIGQUIT, SIGTSTP, SIGHUP}) ignore(s);

  auto r = spawn_sleep();
  ASSERT_TRUE(r.ok()) << r.error().context << ": " << r.error().message();
  ChildGuard child(r.value());
  EXPECT_EQ(status_mask(r.value(), "SigBlk"), 0U);
  EXPECT_EQ(status_mask(r.value(), "SigIgn") & kClassic, 0U);
  // Sanity: the parent really had them.
  EXPECT_NE(status_mask(::getpid(), "SigBlk") & bit(SIGUSR1), 0U);
  EXPECT_NE(status_mask(::getpid(), "SigIgn") & bit(SIGUSR2), 0U);
}

TEST_F(SpawnTest, MaskOptionIsTheChildsMask) {
  sigset_t parent_block;
  sigemptyset(&parent_block);
  sigaddset(&parent_block, SIGTERM);
  ASSERT_EQ(::sigprocmask(SIG_BLOCK, &parent_block, nullptr), 0);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGUSR1);
  sigaddset(&mask, SIGWINCH);
  SpawnOptions o;
  o.mask = &mask;
  auto r = spawn_sleep(o);
  ASSERT_TRUE(r.ok()) << r.error().context;
  ChildGuard child(r.value());
  EXPECT_EQ(status_mask(r.value(), "SigBlk"), bit(SIGUSR1) | bit(SIGWINCH));
}

TEST_F(SpawnTest, ResetToDefaultResetsOnlyTheGivenSignals) {
  ignore(SIGUSR1);
  ignore(SIGUSR2);
  ignore(SIGPIPE);
  sigset_t reset;
  sigemptyset(&reset);
  sigaddset(&reset, SIGUSR1);
  SpawnOptions o;
  o.reset_to_default = &reset;
  auto r = spawn_sleep(o);
  ASSERT_TRUE(r.ok()) << r.error().context;
  ChildGuard child(r.value());
  std::uint64_t ign = status_mask(r.value(), "SigIgn");
  EXPECT_EQ(ign & bit(SIGUSR1), 0U);
  EXPECT_NE(ign & bit(SIGUSR2), 0U);
  EXPECT_NE(ign & bit(SIGPIPE), 0U);
}

TEST_F(SpawnTest, EmptyResetSetKeepsEveryIgnoredSignal) {
  ignore(SIGUSR1);
  ignore(SIGHUP);
  sigset_t none;
  sigemptyset(&none);
  SpawnOptions o;
  o.reset_to_default = &none;
  auto r = spawn_sleep(o);
  ASSERT_TRUE(r.ok()) << r.error().context;
  ChildGuard child(r.value());
  std::uint64_t ign = status_mask(r.value(), "SigIgn");
  EXPECT_NE(ign & bit(SIGUSR1), 0U);
  EXPECT_NE(ign & bit(SIGHUP), 0U);
}

TEST_F(SpawnTest, MaskAndResetTogetherReproduceAnInheritedState) {
  // What the tini personality does: original mask and ignored set back.
  ignore(SIGUSR2);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGHUP);
  sigset_t reset;
  sigfillset(&reset);
  sigdelset(&reset, SIGUSR2);
  SpawnOptions o;
  o.mask = &mask;
  o.reset_to_default = &reset;
  auto r = spawn_sleep(o);
  ASSERT_TRUE(r.ok()) << r.error().context;
  ChildGuard child(r.value());
  EXPECT_EQ(status_mask(r.value(), "SigBlk"), bit(SIGHUP));
  EXPECT_EQ(status_mask(r.value(), "SigIgn") & kClassic, bit(SIGUSR2));
}

// ------------------------------------------------------------ the child

TEST_F(SpawnTest, ReturnsAfterTheChildHasExeced) {
  auto r = spawn_sleep();
  ASSERT_TRUE(r.ok()) << r.error().context;
  ChildGuard child(r.value());
  char want[PATH_MAX];
  ASSERT_NE(::realpath(kSleep, want), nullptr);
  EXPECT_EQ(read_link("/proc/" + std::to_string(r.value()) + "/exe"), want);
  EXPECT_EQ(read_file("/proc/" + std::to_string(r.value()) + "/cmdline"), std::string("/bin/sleep\0" "5\0", 13));
}

TEST_F(SpawnTest, ChildIsOurs) {
  auto r = spawn_sleep();
  ASSERT_TRUE(r.ok());
  ChildGuard child(r.value());
  EXPECT_EQ(status_field(r.value(), "PPid"), std::to_string(::getpid()));
}

TEST_F(SpawnTest, NoFdLeaksIntoParentOrChild) {
  auto count_fds = [](pid_t pid) {
    int n = 0;
    for (int fd = 0; fd < 1024; ++fd) {
      if (!read_link("/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd)).empty()) ++n;
    }
    return n;
  };
  int parent_before = count_fds(::getpid());
  int inheritable = 0;
  for (int fd = 0; fd < 1024; ++fd) {
    int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0 && !(flags & FD_CLOEXEC)) ++inheritable;
  }
  auto r = spawn_sleep();
  ASSERT_TRUE(r.ok());
  ChildGuard child(r.value());
  EXPECT_EQ(count_fds(::getpid()), parent_before) << "the report pipe was not closed";
  // spawn() returns once execve succeeded, but the new program's dynamic
  // loader may still hold a library open for a moment: a leak is an extra
  // fd that stays, so wait (bounded) for the count to settle.
  int child_fds = -1;
  for (int i = 0; i < 200 && child_fds != inheritable; ++i) {
    if (i > 0) ::usleep(10'000);
    child_fds = count_fds(r.value());
  }
  EXPECT_EQ(child_fds, inheritable) << "the child got an fd it should not have";
}

TEST_F(SpawnTest, CustomEnvironment) {
  static char e1[] = "KEEL_A=1";
  static char e2[] = "KEEL_B=two words";
  char* const envp[] = {e1, e2, nullptr};
  SpawnOptions o;
  o.envp = envp;
  auto r = spawn_sleep(o);
  ASSERT_TRUE(r.ok());
  ChildGuard child(r.value());
  EXPECT_EQ(read_file("/proc/" + std::to_string(r.value()) + "/environ"),
            std::string("KEEL_A=1\0KEEL_B=two words\0", 26));
}

TEST_F(SpawnTest, DefaultEnvironmentIsOurs) {
  ASSERT_EQ(::setenv("KEEL_SPAWN_TEST_VAR", "xyz", 1), 0);
  auto r = spawn_sleep();
  ::unsetenv("KEEL_SPAWN_TEST_VAR");
  ASSERT_TRUE(r.ok());
  ChildGuard child(r.value());
  std::string env = read_file("/proc/" + std::to_string(r.value()) + "/environ");
  EXPECT_NE(env.find(std::string("KEEL_SPAWN_TEST_VAR=xyz\0", 24)), std::string::npos);
}

// ------------------------------------------------------------ sessions

TEST_F(SpawnTest, InheritStaysInOurGroupAndSession) {
  auto r = spawn_sleep();
  ASSERT_TRUE(r.ok());
  ChildGuard child(r.value());
  EXPECT_EQ(::getpgid(r.value()), ::getpgrp());
  EXPECT_EQ(::getsid(r.value()), ::getsid(0));
}

TEST_F(SpawnTest, NewProcessGroup) {
  SpawnOptions o;
  o.session = Session::NewProcessGroup;
  auto r = spawn_sleep(o);
  ASSERT_TRUE(r.ok()) << r.error().context << ": " << r.error().message();
  ChildGuard child(r.value());
  EXPECT_EQ(::getpgid(r.value()), r.value());
  EXPECT_EQ(::getsid(r.value()), ::getsid(0));
}

TEST_F(SpawnTest, NewSession) {
  SpawnOptions o;
  o.session = Session::NewSession;
  auto r = spawn_sleep(o);
  ASSERT_TRUE(r.ok()) << r.error().context << ": " << r.error().message();
  ChildGuard child(r.value());
  EXPECT_EQ(::getsid(r.value()), r.value());
  EXPECT_EQ(::getpgid(r.value()), r.value());
}

TEST_F(SpawnTest, TakeTerminalWithoutATerminalIsFine) {
  // stdin is /dev/null here: no terminal to take, and that is not an error.
  int saved = ::dup(STDIN_FILENO);
  ASSERT_GE(saved, 0);
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(devnull, 0);
  ASSERT_EQ(::dup2(devnull, STDIN_FILENO), STDIN_FILENO);
  ::close(devnull);
  for (Session s : {Session::NewProcessGroup, Session::NewSession}) {
    SpawnOptions o;
    o.session = s;
    o.take_terminal = true;
    auto r = spawn_sleep(o);
    EXPECT_TRUE(r.ok()) << static_cast<int>(s) << ": " << r.error().context << ": " << r.error().message();
    if (r.ok()) ChildGuard child(r.value());
  }
  ::dup2(saved, STDIN_FILENO);
  ::close(saved);
}

// ------------------------------------------------------------ cwd

TEST_F(SpawnTest, CwdFdIsTheChildsWorkingDirectory) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  int fd = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  SpawnOptions o;
  o.cwd_fd = fd;
  auto r = spawn_sleep(o);
  ::close(fd);
  ASSERT_TRUE(r.ok()) << r.error().context;
  ChildGuard child(r.value());
  EXPECT_EQ(read_link("/proc/" + std::to_string(r.value()) + "/cwd"), dir.path());
  // Ours is unchanged.
  EXPECT_NE(read_link("/proc/self/cwd"), dir.path());
}

TEST_F(SpawnTest, NoCwdFdKeepsOurWorkingDirectory) {
  auto r = spawn_sleep();
  ASSERT_TRUE(r.ok());
  ChildGuard child(r.value());
  EXPECT_EQ(read_link("/proc/" + std::to_string(r.value()) + "/cwd"), read_link("/proc/self/cwd"));
}

TEST_F(SpawnTest, CwdFdThatIsNotADirectoryFailsAtFchdir) {
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  SpawnOptions o;
  o.cwd_fd = fd;
  auto r = spawn_sleep(o);
  ::close(fd);
  if (r.ok()) ChildGuard child(r.value());
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(r.error().context, "fchdir");
  EXPECT_EQ(r.error().code, ENOTDIR);
  EXPECT_FALSE(has_children());
}

// ------------------------------------------------------------ exec failures

// Spawns `argv0` with SIGCHLD blocked: a pending SIGCHLD afterwards proves a
// child was forked (and exited); no children left proves it was reaped.
struct FailedSpawn {
  Error error;
  bool forked;
  bool reaped;
};

FailedSpawn spawn_expecting_failure(const char* argv0) {
  SignalStateGuard guard;
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, nullptr);
  char buf[PATH_MAX];
  std::strncpy(buf, argv0, sizeof buf - 1);
  buf[sizeof buf - 1] = '\0';
  char* const argv[] = {buf, nullptr};
  SpawnOptions o;
  o.argv = argv;
  auto r = spawn(o);
  if (r.ok()) {
    ChildGuard child(r.value());
    ADD_FAILURE() << argv0 << " was spawned";
    return {Error{}, true, true};
  }
  sigset_t pending;
  ::sigpending(&pending);
  return {r.error(), sigismember(&pending, SIGCHLD) == 1, !has_children()};
}

TEST_F(SpawnTest, MissingProgramByPathIsEnoentFromExecve) {
  auto f = spawn_expecting_failure("/nonexistent/keel-no-such-program");
  EXPECT_STREQ(f.error.context, "execve");
  EXPECT_EQ(f.error.code, ENOENT);
  EXPECT_TRUE(f.forked);
  EXPECT_TRUE(f.reaped) << "the failed child was left as a zombie";
  EXPECT_EQ(exec_failure_exit_code(f.error.code), 127);
}

TEST_F(SpawnTest, MissingProgramInPathIsEnoentWithoutForking) {
  auto f = spawn_expecting_failure("keel-no-such-program-in-path");
  EXPECT_STREQ(f.error.context, "execve");
  EXPECT_EQ(f.error.code, ENOENT);
  EXPECT_TRUE(f.reaped);
}

TEST_F(SpawnTest, NonExecutableFileIsEaccesFromExecve) {
  TempDir dir;
  std::string path = dir.file("not-executable", 0644);
  auto f = spawn_expecting_failure(path.c_str());
  EXPECT_STREQ(f.error.context, "execve");
  EXPECT_EQ(f.error.code, EACCES);
  EXPECT_TRUE(f.forked);
  EXPECT_TRUE(f.reaped) << "the failed child was left as a zombie";
  EXPECT_EQ(exec_failure_exit_code(f.error.code), 126);
}

TEST_F(SpawnTest, DirectoryIsEacces) {
  TempDir dir;
  auto f = spawn_expecting_failure(dir.path().c_str());
  EXPECT_STREQ(f.error.context, "execve");
  EXPECT_EQ(f.error.code, EACCES);
  EXPECT_TRUE(f.reaped);
}

// As with execvp: an executable file without "#!" runs through /bin/sh,
// with the script's arguments after its path.
TEST_F(SpawnTest, ScriptWithoutShebangRunsThroughShell) {
  TempDir dir;
  std::string path = dir.file("noshebang", 0755, "exit $(($1 + 40))\n");
  std::string arg = "2";
  char* const argv[] = {path.data(), arg.data(), nullptr};
  SpawnOptions o;
  o.argv = argv;
  auto r = spawn(o);
  ASSERT_TRUE(r.ok()) << r.error().context << ": " << r.error().message();
  int status = 0;
  ASSERT_EQ(::waitpid(r.value(), &status, 0), r.value());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 42);
}

TEST_F(SpawnTest, ProgramIsLookedUpInPath) {
  TempDir dir;
  dir.symlink("keel-test-prog", kSleep);
  const char* old = ::getenv("PATH");
  std::string saved = old != nullptr ? old : "";
  ASSERT_EQ(::setenv("PATH", ("/nonexistent:" + dir.path()).c_str(), 1), 0);
  static char a0[] = "keel-test-prog";
  static char a1[] = "5";
  char* const argv[] = {a0, a1, nullptr};
  SpawnOptions o;
  o.argv = argv;
  auto r = spawn(o);
  if (old != nullptr) {
    ::setenv("PATH", saved.c_str(), 1);
  } else {
    ::unsetenv("PATH");
  }
  ASSERT_TRUE(r.ok()) << r.error().context << ": " << r.error().message();
  ChildGuard child(r.value());
  char want[PATH_MAX];
  ASSERT_NE(::realpath(kSleep, want), nullptr);
  EXPECT_EQ(read_link("/proc/" + std::to_string(r.value()) + "/exe"), want);
  // argv[0] is passed as given, not as the resolved path.
  EXPECT_EQ(read_file("/proc/" + std::to_string(r.value()) + "/cmdline"), std::string("keel-test-prog\0" "5\0", 17));
}

TEST_F(SpawnTest, NullArgvIsEinval) {
  SpawnOptions o;
  auto r = spawn(o);
  if (r.ok()) ChildGuard child(r.value());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EINVAL);
  EXPECT_STREQ(r.error().context, "spawn");
  char* const empty[] = {nullptr};
  o.argv = empty;
  r = spawn(o);
  if (r.ok()) ChildGuard child(r.value());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EINVAL);
}

// ---- spawn_nowait: PID 1's way, the report read from the loop

// A hook that stops the child before its exec, as a SIGSTOP from the
// service's user after the uid change would.
Status stop_self(const void*) noexcept {
  ::kill(::getpid(), SIGSTOP);
  return {};
}
Status fail_hook(const void*) noexcept { return Error{EPERM, "setresuid"}; }

bool fd_is_nonblocking_cloexec(int fd) {
  return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0 && (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
}

TEST(SpawnNowait, ReturnsAtOnceForAChildStoppedBeforeItsExec) {
  char* const argv[] = {const_cast<char*>(kSleep), const_cast<char*>("60"), nullptr};
  SpawnOptions o;
  o.argv = argv;
  o.child_setup = &stop_self;
  auto r = spawn_nowait(o);  // the old spawn() would wait here for good
  ASSERT_TRUE(r.ok());
  ChildGuard child(r.value().pid);
  const int fd = r.value().report_fd;
  EXPECT_TRUE(fd_is_nonblocking_cloexec(fd));
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(r.value().pid), &info, WSTOPPED | WNOWAIT), 0);  // it has stopped
  Error e;
  EXPECT_EQ(read_exec_report(fd, &e), ExecReport::Pending);
  ::kill(r.value().pid, SIGCONT);  // goes on to its exec: EOF
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10'000), 1);
  EXPECT_EQ(read_exec_report(fd, &e), ExecReport::Execed);
  ::close(fd);
}

TEST(SpawnNowait, AFailedStepIsReportedAndTheChildIsLeftToBeReaped) {
  char* const argv[] = {const_cast<char*>(kSleep), const_cast<char*>("60"), nullptr};
  SpawnOptions o;
  o.argv = argv;
  o.child_setup = &fail_hook;
  auto r = spawn_nowait(o);
  ASSERT_TRUE(r.ok());
  const pid_t pid = r.value().pid;
  const int fd = r.value().report_fd;
  // Reaped first (the SIGCHLD may come before the pipe is read): the report
  // is still there, written before the exit.
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 126);
  Error e;
  ASSERT_EQ(read_exec_report(fd, &e), ExecReport::Failed);
  EXPECT_EQ(e.code, EPERM);
  EXPECT_STREQ(e.context, "setresuid");
  ::close(fd);
}

TEST(SpawnNowait, AMissingProgramFailsBeforeAnyFork) {
  char* const argv[] = {const_cast<char*>("keel-no-such-program"), nullptr};
  SpawnOptions o;
  o.argv = argv;
  o.path_env = "/nonexistent";
  auto r = spawn_nowait(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_FALSE(has_children());
}

// ---- a child sharing keel's memory (clone with CLONE_VM, no CLONE_VFORK)

// A hook's context and its copier: the child is given the copy.
struct SharedContext {
  int value;
  int out_fd;
};
const void* copy_shared_context(const void* context, ChildArena& arena) noexcept {
  return arena.copy_array(static_cast<const SharedContext*>(context), 1);
}
// Stops before its exec, then tells the value it was given. Raw calls: it
// runs on the parent's memory.
Status stop_then_tell(const void* context) noexcept {
  const auto& c = *static_cast<const SharedContext*>(context);
  (void)raw::call(SYS_kill, raw::call(SYS_getpid), SIGSTOP);
  (void)raw::call(SYS_write, c.out_fd, &c.value, sizeof c.value);
  return {};
}
Status stop_only(const void*) noexcept {
  (void)raw::call(SYS_kill, raw::call(SYS_getpid), SIGSTOP);
  return {};
}

bool maps_mention(pid_t pid, const void* address) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  char start[32];
  std::snprintf(start, sizeof start, "%lx-", static_cast<unsigned long>(reinterpret_cast<std::uintptr_t>(address)));
  for (std::string line; std::getline(maps, line);) {
    if (line.rfind(start, 0) == 0) return true;
  }
  return false;
}

int count_maps(pid_t pid) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  int n = 0;
  for (std::string line; std::getline(maps, line);) ++n;
  return n;
}

TEST(SharedChild, SharesTheParentsMemoryUntilItsExecAndReadsOnlyItsCopies) {
  int out[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  SharedContext context{42, out[1]};
  char* const argv[] = {const_cast<char*>(kSleep), const_cast<char*>("60"), nullptr};
  SpawnOptions o;
  o.argv = argv;
  o.child_setup = &stop_then_tell;
  o.child_context = &context;
  o.copy_child_context = &copy_shared_context;
  auto r = spawn_nowait(o);
  ASSERT_TRUE(r.ok());
  const pid_t pid = r.value().pid;
  ChildGuard child(pid);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WSTOPPED | WNOWAIT), 0);
  // A page mapped by the parent now shows in the child's maps: one memory,
  // no page tables copied (a fork's child would not see it). The sanitized
  // build forks (spawn.cpp says why).
  void* page = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(page, MAP_FAILED);
  EXPECT_EQ(maps_mention(pid, page), spawn_shares_memory());
  // The parent's own context may change or go once spawn_nowait returned.
  context.value = 7;
  ::kill(pid, SIGCONT);
  int told = 0;
  ASSERT_EQ(::read(out[0], &told, sizeof told), static_cast<ssize_t>(sizeof told));
  EXPECT_EQ(told, 42);
  pollfd p{r.value().report_fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10'000), 1);
  Error e;
  EXPECT_EQ(read_exec_report(r.value().report_fd, &e), ExecReport::Execed);
  EXPECT_FALSE(maps_mention(pid, page));  // exec'd: a memory of its own
  ::munmap(page, 4096);
  ::close(r.value().report_fd);
  ::close(out[0]);
  ::close(out[1]);
}

TEST(SharedChild, AFailingStepLeavesTheParentsErrnoAlone) {
  // The child runs on this thread's TLS: glibc's fchdir() would store
  // ENOTDIR in this thread's errno while it is elsewhere.
  const int file = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(file, 0);
  char* const argv[] = {const_cast<char*>(kSleep), const_cast<char*>("60"), nullptr};
  SpawnOptions o;
  o.argv = argv;
  o.cwd_fd = file;
  auto r = spawn_nowait(o);
  ASSERT_TRUE(r.ok());
  errno = 0;
  int status = 0;
  ASSERT_EQ(::waitpid(r.value().pid, &status, 0), r.value().pid);
  EXPECT_EQ(errno, 0);
  Error e;
  ASSERT_EQ(read_exec_report(r.value().report_fd, &e), ExecReport::Failed);
  EXPECT_EQ(e.code, ENOTDIR);
  EXPECT_STREQ(e.context, "fchdir");
  ::close(r.value().report_fd);
  ::close(file);
}

TEST(SharedChild, MoreStoppedChildrenThanSlotsNeverStallTheParentAndLeaveNoMappings) {
  char* const argv[] = {const_cast<char*>(kSleep), const_cast<char*>("60"), nullptr};
  const int maps_before = count_maps(::getpid());
  SpawnOptions o;
  o.argv = argv;
  o.child_setup = &stop_only;
  o.copy_child_context = &copy_shared_context;  // never read: stop_only takes none
  SharedContext unused{0, -1};
  o.child_context = &unused;
  std::vector<Launch> launches;
  // One more than the slots: the last ones are forks (every slot held).
  for (int i = 0; i < limits::kMaxLaunching + 6; ++i) {
    auto r = spawn_nowait(o);
    ASSERT_TRUE(r.ok()) << i;
    launches.push_back(r.value());
  }
  for (const Launch& l : launches) {
    siginfo_t info{};
    ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(l.pid), &info, WSTOPPED | WNOWAIT), 0);
  }
  for (const Launch& l : launches) ::kill(l.pid, SIGKILL);
  for (const Launch& l : launches) {
    ASSERT_EQ(::waitpid(l.pid, nullptr, 0), l.pid);
    Error e;
    (void)read_exec_report(l.report_fd, &e);  // EOF: and the mappings go
    ::close(l.report_fd);
  }
  // Only where children share memory: forked children (the sanitized
  // build, core/spawn.cpp) use no slots, and there the sanitizer's own
  // allocator maps regions of its own as the test allocates.
  if (spawn_shares_memory()) {
    EXPECT_EQ(count_maps(::getpid()), maps_before);
  }
}

// A handler of the parent's never runs in the child, on the parent's
// memory: the child resets what it is told to before anything else.
volatile std::sig_atomic_t g_handler_ran = 0;
void note_handler(int) { g_handler_ran = 1; }
Status raise_usr1(const void*) noexcept {
  (void)raw::call(SYS_kill, raw::call(SYS_getpid), SIGUSR1);
  return {};
}

TEST(SharedChild, ASignalCaughtByTheParentEndsTheChildWithoutRunningTheHandler) {
  SignalStateGuard guard;
  struct sigaction sa {};
  sa.sa_handler = note_handler;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(::sigaction(SIGUSR1, &sa, nullptr), 0);
  sigset_t reset;
  sigemptyset(&reset);
  sigaddset(&reset, SIGUSR1);
  char* const argv[] = {const_cast<char*>(kSleep), const_cast<char*>("60"), nullptr};
  SharedContext unused{0, -1};
  SpawnOptions o;
  o.argv = argv;
  o.reset_to_default = &reset;
  o.child_setup = &raise_usr1;  // after the reset and the empty mask: delivered at once
  o.child_context = &unused;
  o.copy_child_context = &copy_shared_context;
  auto r = spawn_nowait(o);
  ASSERT_TRUE(r.ok());
  // Bounded: a child that ran the handler instead goes on to sleep.
  int status = 0;
  pid_t got = 0;
  for (int i = 0; i < 1000 && got == 0; ++i) {
    got = ::waitpid(r.value().pid, &status, WNOHANG);
    if (got == 0) ::usleep(10'000);
  }
  if (got == 0) {
    ::kill(r.value().pid, SIGKILL);
    ::waitpid(r.value().pid, &status, 0);
  }
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGUSR1) << status;
  EXPECT_EQ(g_handler_ran, 0);
  ::close(r.value().report_fd);
}

TEST(ExecFailureExitCode, ShellConventions) {
  EXPECT_EQ(exec_failure_exit_code(ENOENT), 127);
  EXPECT_EQ(exec_failure_exit_code(ENOTDIR), 127);
  EXPECT_EQ(exec_failure_exit_code(EACCES), 126);
  EXPECT_EQ(exec_failure_exit_code(ENOEXEC), 126);
  EXPECT_EQ(exec_failure_exit_code(EPERM), 126);
  EXPECT_EQ(exec_failure_exit_code(E2BIG), 126);
  static_assert(exec_failure_exit_code(ENOENT) == 127);
}

// ------------------------------------------------------------ resolve_program

class ResolveTest : public ::testing::Test {
 protected:
  Status resolve(const char* name, const char* path) {
    std::memset(out, 0, sizeof out);
    return resolve_program(name, path, out, sizeof out);
  }
  TempDir a;
  TempDir b;
  char out[PATH_MAX] = {};
};

TEST_F(ResolveTest, FoundInPath) {
  a.file("prog", 0755);
  std::string path = "/nonexistent:" + a.path() + ":/usr/bin";
  Status s = resolve("prog", path.c_str());
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(std::string(out), a.path() + "/prog");
}

TEST_F(ResolveTest, FirstMatchWins) {
  a.file("prog", 0755);
  b.file("prog", 0755);
  std::string path = b.path() + ":" + a.path();
  ASSERT_TRUE(resolve("prog", path.c_str()).ok());
  EXPECT_EQ(std::string(out), b.path() + "/prog");
}

TEST_F(ResolveTest, NotFoundIsEnoent) {
  std::string path = a.path() + ":/nonexistent";
  Status s = resolve("prog", path.c_str());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ENOENT);
  EXPECT_STREQ(s.error().context, "execve");
}

TEST_F(ResolveTest, OnlyNonExecutableCandidateIsEacces) {
  a.file("prog", 0644);
  std::string path = "/nonexistent:" + a.path() + ":" + b.path();
  Status s = resolve("prog", path.c_str());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, EACCES);
  EXPECT_STREQ(s.error().context, "execve");
}

TEST_F(ResolveTest, NonExecutableCandidateIsSkippedForALaterExecutableOne) {
  a.file("prog", 0644);
  b.file("prog", 0755);
  std::string path = a.path() + ":" + b.path();
  ASSERT_TRUE(resolve("prog", path.c_str()).ok());
  EXPECT_EQ(std::string(out), b.path() + "/prog");
}

TEST_F(ResolveTest, DirectoryCandidateIsEacces) {
  a.dir("prog");
  std::string path = a.path();
  Status s = resolve("prog", path.c_str());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, EACCES);
}

TEST_F(ResolveTest, FileAsPathEntryIsSkipped) {
  std::string file = a.file("notadir", 0755);
  std::string path = file + ":" + b.path();
  Status s = resolve("prog", path.c_str());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ENOENT);
}

// An empty PATH entry (leading, trailing, doubled colon, or PATH="") is the
// current directory, as in execvp.
TEST_F(ResolveTest, EmptyPathEntryIsTheCurrentDirectory) {
  a.file("prog", 0755);
  int saved_cwd = ::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(saved_cwd, 0);
  ASSERT_EQ(::chdir(a.path().c_str()), 0);
  for (const char* path : {":/nonexistent", "/nonexistent:", "/nonexistent::/also-not", ""}) {
    Status s = resolve("prog", path);
    EXPECT_TRUE(s.ok()) << "PATH='" << path << "'";
    if (s.ok()) {
      char resolved[PATH_MAX];
      ASSERT_NE(::realpath(out, resolved), nullptr) << out;
      EXPECT_EQ(std::string(resolved), a.path() + "/prog") << "PATH='" << path << "'";
      EXPECT_EQ(std::strchr(out, '/') != nullptr, true) << "execve needs a path, got " << out;
    }
  }
  // Without an empty entry the current directory is not searched.
  Status s = resolve("prog", "/nonexistent");
  EXPECT_FALSE(s.ok());
  ASSERT_EQ(::fchdir(saved_cwd), 0);
  ::close(saved_cwd);
}

TEST_F(ResolveTest, NameWithSlashIsUsedAsIs) {
  std::string path = a.path();
  for (const char* name : {"./prog", "/no/such/prog", "../x", "a/b"}) {
    Status s = resolve(name, path.c_str());
    ASSERT_TRUE(s.ok()) << name;
    EXPECT_STREQ(out, name);
  }
}

TEST_F(ResolveTest, UnsetPathUsesTheDefaultSearchPath) {
  Status s = resolve("sh", nullptr);
  ASSERT_TRUE(s.ok());
  std::string got(out);
  EXPECT_TRUE(got == "/usr/local/sbin/sh" || got == "/usr/local/bin/sh" || got == "/usr/sbin/sh" ||
              got == "/usr/bin/sh" || got == "/sbin/sh" || got == "/bin/sh")
      << got;
  EXPECT_EQ(::access(out, X_OK), 0);
}

TEST_F(ResolveTest, EmptyNameIsEnoent) {
  Status s = resolve("", "/usr/bin");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ENOENT);
}

TEST_F(ResolveTest, OutputBufferTooSmall) {
  char small[8];
  Status s = resolve_program("/usr/bin/sleep", "/usr/bin", small, sizeof small);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ENAMETOOLONG);
  // A candidate that does not fit is skipped, never truncated.
  s = resolve_program("sleep", "/usr/bin", small, sizeof small);
  EXPECT_FALSE(s.ok());
  char exact[sizeof "/usr/bin/sleep"];
  s = resolve_program("sleep", "/usr/bin", exact, sizeof exact);
  ASSERT_TRUE(s.ok());
  EXPECT_STREQ(exact, "/usr/bin/sleep");
}

}  // namespace
}  // namespace keel
