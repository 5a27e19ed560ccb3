// Unit tests for service/exec_plan and core/spawn's child hook: a service's
// child as the kernel sees it. Each test builds a plan from a
// ServiceConfig, starts /bin/sleep (or a shell) with spawn_service, and
// reads the running child's /proc/PID/{status,limits,cwd,environ,fd}:
// ids, groups, the five capability sets, no_new_privs, signal state,
// umask, rlimits, working directory, environment and fd layout. The
// failure tests check that a step failing in the child comes back as that
// step's Error. Runs as root (the privilege drop needs it).
#include "service/exec_plan.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/spawn.hpp"
#include "test_util.hpp"
#include "throwaway_uid.hpp"

namespace keel::service {
namespace {

using testutil::SignalStateGuard;
using testutil::slurp;
using testutil::TempDir;
using testutil::write_file;

constexpr uid_t kNobody = 65534;

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

std::optional<std::string> status_field(pid_t pid, const std::string& field) {
  std::istringstream in(slurp("/proc/" + std::to_string(pid) + "/status"));
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

std::uint64_t status_hex(pid_t pid, const std::string& field) {
  auto v = status_field(pid, field);
  EXPECT_TRUE(v.has_value()) << field;
  return v ? std::strtoull(v->c_str(), nullptr, 16) : ~std::uint64_t{0};
}

std::vector<std::string> environ_of(pid_t pid) {
  std::string raw = slurp("/proc/" + std::to_string(pid) + "/environ");
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\0') {
      out.push_back(raw.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

std::string read_link(const std::string& path) {
  char buf[PATH_MAX] = {};
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
}

// The kernel's capability count, from /proc/sys/kernel/cap_last_cap.
std::uint64_t all_caps() {
  int last = std::atoi(slurp("/proc/sys/kernel/cap_last_cap").c_str());
  return last >= 63 ? ~std::uint64_t{0} : (std::uint64_t{1} << (last + 1)) - 1;
}

ServiceConfig sleep_config() {
  ServiceConfig c;
  c.name = "sleeper";
  c.command = {"/bin/sleep", "5"};
  c.stdout_ = {StreamKind::Null, {}};
  c.stderr_ = {StreamKind::Null, {}};
  return c;
}

class ServiceExecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: the plan drops privileges";
  }

  // Builds and spawns; a failure to build is a test failure.
  Result<pid_t> start(const ExecInputs& inputs) {
    std::string error;
    plan_ = ExecPlan{};
    if (!build_exec_plan(inputs, plan_, error)) {
      ADD_FAILURE() << "build_exec_plan: " << error;
      return Error{EINVAL, "build"};
    }
    return spawn_service(plan_);
  }

  SignalStateGuard signal_guard_;
  ExecPlan plan_;
};

// ------------------------------------------------------------- privileges

TEST_F(ServiceExecTest, DropsToUserWithGroupsKeptCapabilityAndNoNewPrivs) {
  ServiceConfig c = sleep_config();
  c.user = "nobody";
  c.has_user = true;
  c.uid = kNobody;
  c.gid = kNobody;
  c.groups = {kNobody, 100};
  c.capabilities = std::uint64_t{1} << CAP_NET_BIND_SERVICE;
  c.no_new_privileges = true;
  ExecInputs in;
  in.config = &c;
  auto r = start(in);
  ASSERT_TRUE(r.ok()) << r.error().context << ": " << r.error().message();
  ChildGuard child(r.value());
  pid_t pid = r.value();

  EXPECT_EQ(status_field(pid, "Uid").value_or("?"), "65534\t65534\t65534\t65534");
  EXPECT_EQ(status_field(pid, "Gid").value_or("?"), "65534\t65534\t65534\t65534");
  std::istringstream groups(status_field(pid, "Groups").value_or(""));
  std::set<gid_t> got;
  for (gid_t g = 0; groups >> g;) got.insert(g);
  EXPECT_EQ(got, (std::set<gid_t>{100, kNobody}));

  const std::uint64_t kept = std::uint64_t{1} << CAP_NET_BIND_SERVICE;
  EXPECT_EQ(status_hex(pid, "CapEff"), kept);
  EXPECT_EQ(status_hex(pid, "CapPrm"), kept);
  EXPECT_EQ(status_hex(pid, "CapInh"), kept);
  EXPECT_EQ(status_hex(pid, "CapAmb"), kept);
  EXPECT_EQ(status_hex(pid, "CapBnd"), kept);
  EXPECT_EQ(status_field(pid, "NoNewPrivs").value_or("?"), "1");
  // Sanity: the test process itself has a wider bounding set and no nnp.
  EXPECT_NE(status_hex(::getpid(), "CapBnd"), kept);
  EXPECT_EQ(status_field(::getpid(), "NoNewPrivs").value_or("?"), "0");
}

TEST_F(ServiceExecTest, UserWithoutCapabilitiesHasNone) {
  ServiceConfig c = sleep_config();
  c.has_user = true;
  c.uid = kNobody;
  c.gid = kNobody;
  c.groups = {};
  ExecInputs in;
  in.config = &c;
  auto r = start(in);
  ASSERT_TRUE(r.ok()) << r.error().context << ": " << r.error().message();
  ChildGuard child(r.value());
  EXPECT_EQ(status_field(r.value(), "Uid").value_or("?"), "65534\t65534\t65534\t65534");
  EXPECT_EQ(status_field(r.value(), "Groups").value_or("?"), "");
  EXPECT_EQ(status_hex(r.value(), "CapEff"), 0U);
  EXPECT_EQ(status_hex(r.value(), "CapPrm"), 0U);
  EXPECT_EQ(status_hex(r.value(), "CapAmb"), 0U);
  // Untouched bounding set: whatever the test process has.
  EXPECT_EQ(status_hex(r.value(), "CapBnd"), status_hex(::getpid(), "CapBnd"));
  EXPECT_EQ(status_field(r.value(), "NoNewPrivs").value_or("?"), "0");
}

TEST_F(ServiceExecTest, RootServiceWithCapabilitiesHasAReducedBoundingSet) {
  ServiceConfig c = sleep_config();
  const std::uint64_t kept = (std::uint64_t{1} << CAP_NET_BIND_SERVICE) | (std::uint64_t{1} << CAP_CHOWN);
  c.capabilities = kept;
  ExecInputs in;
  in.config = &c;
  auto r = start(in);
  ASSERT_TRUE(r.ok()) << r.error().context << ": " << r.error().message();
  ChildGuard child(r.value());
  EXPECT_EQ(status_field(r.value(), "Uid").value_or("?"), "0\t0\t0\t0");
  EXPECT_EQ(status_hex(r.value(), "CapBnd"), kept);
  EXPECT_EQ(status_hex(r.value(), "CapEff"), kept);
  EXPECT_EQ(status_hex(r.value(), "CapPrm"), kept);
  EXPECT_NE(status_hex(::getpid(), "CapBnd") & all_caps() & ~kept, 0U);
}

// ---------------------------------------------------------- signal state

TEST_F(ServiceExecTest, EmptyMaskAndDefaultDispositionsWhateverKeelHas) {
  sigset_t block;
  sigemptyset(&block);
  for (int s : {SIGUSR1, SIGTERM, SIGCHLD, SIGINT}) sigaddset(&block, s);
  ASSERT_EQ(::sigprocmask(SIG_BLOCK, &block, nullptr), 0);
  for (int s : {SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU, SIGHUP}) ::signal(s, SIG_IGN);
  ServiceConfig c = sleep_config();
  ExecInputs in;
  in.config = &c;
  auto r = start(in);
  ASSERT_TRUE(r.ok()) << r.error().context << ": " << r.error().message();
  ChildGuard child(r.value());
  EXPECT_EQ(status_hex(r.value(), "SigBlk"), 0U);
  EXPECT_EQ(status_hex(r.value(), "SigIgn"), 0U);
  EXPECT_NE(status_hex(::getpid(), "SigIgn") & (1U << (SIGPIPE - 1)), 0U);
  // Its own session and process group.
  EXPECT_EQ(::getsid(r.value()), r.value());
  EXPECT_EQ(::getpgid(r.value()), r.value());
}

// ------------------------------------------------- umask, rlimits, cwd

TEST_F(ServiceExecTest, UmaskRlimitAndWorkingDirectory) {
  TempDir dir;
  ::chmod(dir.str().c_str(), 0755);
  ServiceConfig c = sleep_config();
  c.umask = 027;
  c.rlimits.push_back({RLIMIT_NOFILE, 100, 200});
  c.working_directory = dir.str();
  c.has_user = true;  // cwd and limits are set before the drop, and stay after it
  c.uid = kNobody;
  c.gid = kNobody;
  ExecInputs in;
  in.config = &c;
  auto r = start(in);
  ASSERT_TRUE(r.ok()) << r.error().context << ": " << r.error().message();
  ChildGuard child(r.value());
  std::string proc = "/proc/" + std::to_string(r.value());
  EXPECT_EQ(status_field(r.value(), "Umask").value_or("?"), "0027");
  std::string limits = slurp(proc + "/limits");
  std::istringstream lines(limits);
  std::string line;
  bool found = false;
  while (std::getline(lines, line)) {
    if (line.rfind("Max open files", 0) != 0) continue;
    found = true;
    std::istringstream fields(line.substr(std::string("Max open files").size()));
    std::string soft;
    std::string hard;
    fields >> soft >> hard;
    EXPECT_EQ(soft, "100");
    EXPECT_EQ(hard, "200");
  }
  EXPECT_TRUE(found) << limits;
  EXPECT_EQ(read_link(proc + "/cwd"), dir.str());
}

TEST_F(ServiceExecTest, DefaultWorkingDirectoryIsRoot) {
  ServiceConfig c = sleep_config();
  ExecInputs in;
  in.config = &c;
  auto r = start(in);
  ASSERT_TRUE(r.ok()) << r.error().context;
  ChildGuard child(r.value());
  EXPECT_EQ(read_link("/proc/" + std::to_string(r.value()) + "/cwd"), "/");
}

// -------------------------------------------------------------- streams

TEST_F(ServiceExecTest, StdoutAndStderrToAFileAppended) {
  TempDir dir;
  std::string out = dir.str() + "/out.log";
  write_file(out, "before\n");
  ServiceConfig c;
  c.name = "writer";
  c.command = {"/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2; read line; echo \"stdin=[$line]\""};
  c.stdout_ = {StreamKind::File, out};
  c.stderr_ = {StreamKind::File, out};
  c.stdin_ = {StreamKind::Null, {}};
  ExecInputs in;
  in.config = &c;
  auto r = start(in);
  ASSERT_TRUE(r.ok()) << r.error().context;
  int status = 0;
  ASSERT_EQ(::waitpid(r.value(), &status, 0), r.value());
  EXPECT_EQ(slurp(out), "before\nto-stdout\nto-stderr\nstdin=[]\n");
}

// stdout and stderr "log": each to its own pipe (issue 13), so every line
// keeps its stream.
TEST_F(ServiceExecTest, LogStreamsGoToTheirOwnPipes) {
  int out_fds[2];
  int err_fds[2];
  ASSERT_EQ(::pipe2(out_fds, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(err_fds, O_CLOEXEC), 0);
  ServiceConfig c;
  c.name = "logger";
  c.command = {"/bin/sh", "-c", "echo out; echo err >&2"};
  ExecInputs in;
  in.config = &c;
  in.log_fd = out_fds[1];
  in.log_err_fd = err_fds[1];
  auto r = start(in);
  ::close(out_fds[1]);
  ::close(err_fds[1]);
  ASSERT_TRUE(r.ok()) << r.error().context;
  auto read_all = [](int fd) {
    std::string got;
    char buf[256];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return got;
  };
  EXPECT_EQ(read_all(out_fds[0]), "out\n");
  EXPECT_EQ(read_all(err_fds[0]), "err\n");
  ::waitpid(r.value(), nullptr, 0);
}

TEST_F(ServiceExecTest, TheChildWritesItsOwnPidIntoWatchdogPid) {
  TempDir dir;
  std::string out = dir.str() + "/out.log";
  ServiceConfig c;
  c.name = "watched";
  c.command = {"/bin/sh", "-c", "echo \"$WATCHDOG_PID $$\""};
  c.environment = {{"WATCHDOG_PID", "forged"}};  // replaced, never duplicated
  c.stdout_ = {StreamKind::File, out};
  c.stderr_ = {StreamKind::Null, {}};
  ExecInputs in;
  in.config = &c;
  in.self_pid_env = "WATCHDOG_PID";
  auto r = start(in);
  ASSERT_TRUE(r.ok()) << r.error().context;
  int status = 0;
  ASSERT_EQ(::waitpid(r.value(), &status, 0), r.value());
  EXPECT_EQ(slurp(out), std::to_string(r.value()) + " " + std::to_string(r.value()) + "\n");
  // An environment too large for the child's stack copy goes without it.
  for (int i = 0; i < 1100; ++i) c.environment.emplace_back("V" + std::to_string(i), "x");
  ExecPlan big;
  std::string error;
  ASSERT_TRUE(build_exec_plan(in, big, error)) << error;
  EXPECT_EQ(big.self_pid_env, nullptr);
  for (const std::string& e : big.env) EXPECT_NE(e.rfind("WATCHDOG_PID=", 0), 0U) << e;
}

TEST_F(ServiceExecTest, LogStreamWithoutAPipeIsABuildError) {
  ServiceConfig c = sleep_config();
  c.stdout_ = {StreamKind::Log, {}};
  ExecInputs in;
  in.config = &c;
  ExecPlan plan;
  std::string error;
  EXPECT_FALSE(build_exec_plan(in, plan, error));
  EXPECT_NE(error.find("stdout"), std::string::npos) << error;
}

TEST_F(ServiceExecTest, NotifyFdIsInstalledAtItsNumber) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  ServiceConfig c = sleep_config();
  c.type = Type::NotifyFd;
  c.notify_fd = 5;
  ExecInputs in;
  in.config = &c;
  in.notify_pipe_write_fd = pipe_fds[1];
  auto r = start(in);
  ASSERT_TRUE(r.ok()) << r.error().context;
  ChildGuard child(r.value());
  std::string proc = "/proc/" + std::to_string(r.value());
  EXPECT_EQ(read_link(proc + "/fd/5"), read_link("/proc/self/fd/" + std::to_string(pipe_fds[1])));
  EXPECT_EQ(read_link(proc + "/fd/0"), "/dev/null");
  // Nothing else leaked: 0, 1, 2 and 5 only. The exec report's end of
  // file can reach keel while the kernel is still closing the child's other
  // close-on-exec fds, so the count is read again for up to 2 s; a leaked
  // fd (one without close-on-exec) stays and fails the test.
  int count = 0;
  for (int attempt = 0; attempt < 200; ++attempt) {
    count = 0;
    for (int fd = 0; fd < 1024; ++fd) {
      if (!read_link(proc + "/fd/" + std::to_string(fd)).empty()) ++count;
    }
    if (count == 4) break;
    ::usleep(10'000);
  }
  EXPECT_EQ(count, 4);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}

TEST_F(ServiceExecTest, SourcesThatSitOnTargetsAreNotClobbered) {
  // The log pipe sits at fd 0 in keel, where the service's stdin
  // (/dev/null) must go, and the notify pipe already is at the number the
  // service wants: installing 0 first must not destroy the log pipe.
  int log_pipe[2];
  int notify_pipe[2];
  ASSERT_EQ(::pipe2(log_pipe, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(notify_pipe, O_CLOEXEC), 0);
  int saved0 = ::fcntl(0, F_DUPFD_CLOEXEC, 10);
  ASSERT_GE(saved0, 0);
  ASSERT_EQ(::dup2(log_pipe[1], 0), 0);
  ServiceConfig c;
  c.name = "layout";
  c.type = Type::NotifyFd;
  c.notify_fd = notify_pipe[1];
  c.command = {"/bin/sh", "-c", "echo ready >&" + std::to_string(notify_pipe[1]) + "; echo out; echo err >&2; cat"};
  ExecInputs in;
  in.config = &c;
  in.log_fd = 0;
  in.log_err_fd = 0;
  in.notify_pipe_write_fd = notify_pipe[1];
  auto r = start(in);
  ::dup2(saved0, 0);
  ::close(saved0);
  ::close(log_pipe[1]);
  ::close(notify_pipe[1]);
  plan_ = ExecPlan{};
  ASSERT_TRUE(r.ok()) << r.error().context;
  auto read_all = [](int fd) {
    std::string got;
    char buf[256];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return got;
  };
  EXPECT_EQ(read_all(notify_pipe[0]), "ready\n");
  EXPECT_EQ(read_all(log_pipe[0]), "out\nerr\n");  // cat read an empty stdin
  int status = 0;
  ::waitpid(r.value(), &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_F(ServiceExecTest, ConsoleStdinBecomesTheControllingTerminal) {
  int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(master, 0);
  ASSERT_EQ(::grantpt(master), 0);
  ASSERT_EQ(::unlockpt(master), 0);
  std::string slave_name = ::ptsname(master);
  int slave = ::open(slave_name.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(slave, 0);
  ServiceConfig c = sleep_config();
  c.stdin_ = {StreamKind::Console, {}};
  ExecInputs in;
  in.config = &c;
  in.console_fd = slave;
  auto r = start(in);
  ASSERT_TRUE(r.ok()) << r.error().context;
  ChildGuard child(r.value());
  // /proc/PID/stat field 7 is tty_nr, 0 without a controlling terminal.
  std::string stat = slurp("/proc/" + std::to_string(r.value()) + "/stat");
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string state;
  long ppid = 0;
  long pgrp = 0;
  long session = 0;
  long tty_nr = 0;
  fields >> state >> ppid >> pgrp >> session >> tty_nr;
  struct stat st {};
  ASSERT_EQ(::fstat(slave, &st), 0);
  EXPECT_EQ(static_cast<dev_t>(tty_nr), st.st_rdev);
  EXPECT_EQ(read_link("/proc/" + std::to_string(r.value()) + "/fd/0"), slave_name);
  ::close(slave);
  ::close(master);
}

// ---------------------------------------------------------- environment

TEST_F(ServiceExecTest, EnvironmentLayers) {
  TempDir dir;
  ::chmod(dir.str().c_str(), 0755);  // the file is read as the service's user
  std::string env_file = dir.str() + "/env";
  write_file(env_file,
             "# a comment\n"
             "\n"
             "FROM_FILE=plain\n"
             "  DOUBLE=\"two words\"\n"
             "SINGLE='it''s'\n"
             "export EXPORTED=yes\n"
             "OVERRIDDEN=by-file\n"
             "EMPTY=\n"
             "WITH_EQUALS=a=b\n");
  ServiceConfig c = sleep_config();
  c.has_user = true;
  c.user = "nobody";
  c.uid = kNobody;
  c.gid = kNobody;
  c.environment_file = env_file;
  c.environment = {{"OVERRIDDEN", "by-table"}, {"TABLE", "1"}, {"KEEL_SERVICE", "not-this"}};
  ExecInputs in;
  in.config = &c;
  in.extra_env = {{"KEEL_SERVICE", "sleeper"}, {"NOTIFY_SOCKET", "/run/keel/notify"}};
  auto r = start(in);
  ASSERT_TRUE(r.ok()) << r.error().context;
  ChildGuard child(r.value());
  std::vector<std::string> env = environ_of(r.value());
  std::vector<std::string> expected = {
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "HOME=/nonexistent",
      "USER=nobody",
      "LOGNAME=nobody",
      "SHELL=/usr/sbin/nologin",
      "FROM_FILE=plain",
      "DOUBLE=two words",
      "SINGLE=it''s",
      "EXPORTED=yes",
      "OVERRIDDEN=by-table",
      "EMPTY=",
      "WITH_EQUALS=a=b",
      "TABLE=1",
      "KEEL_SERVICE=sleeper",
      "NOTIFY_SOCKET=/run/keel/notify",
  };
  EXPECT_EQ(env, expected);
}

TEST_F(ServiceExecTest, RootServiceGetsOnlyThePath) {
  ServiceConfig c = sleep_config();
  ExecInputs in;
  in.config = &c;
  auto r = start(in);
  ASSERT_TRUE(r.ok()) << r.error().context;
  ChildGuard child(r.value());
  EXPECT_EQ(environ_of(r.value()),
            std::vector<std::string>{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"});
}

TEST_F(ServiceExecTest, ProgramIsLookedUpInTheServicePath) {
  TempDir dir;
  write_file(dir.path() / "my-tool", "#!/bin/sh\nexec sleep 5\n");
  ::chmod((dir.path() / "my-tool").c_str(), 0755);
  ServiceConfig c = sleep_config();
  c.command = {"my-tool"};
  c.environment = {{"PATH", dir.str()}};
  ExecInputs in;
  in.config = &c;
  auto r = start(in);
  ASSERT_TRUE(r.ok()) << r.error().context << ": " << r.error().message();
  ChildGuard child(r.value());
}

TEST(ServiceExecEnvFile, MissingOptionalFileIsEmpty) {
  std::vector<std::pair<std::string, std::string>> vars;
  std::string error;
  EXPECT_TRUE(read_environment_file("-/nonexistent/keel-env", vars, error)) << error;
  EXPECT_TRUE(vars.empty());
}

TEST(ServiceExecEnvFile, MissingRequiredFileIsAnError) {
  std::vector<std::pair<std::string, std::string>> vars;
  std::string error;
  EXPECT_FALSE(read_environment_file("/nonexistent/keel-env", vars, error));
  EXPECT_NE(error.find("/nonexistent/keel-env"), std::string::npos) << error;
}

TEST(ServiceExecEnvFile, BadLineNamesFileAndLine) {
  TempDir dir;
  write_file(dir.path() / "env", "A=1\n# ok\nnot a variable\n");
  std::vector<std::pair<std::string, std::string>> vars;
  std::string error;
  EXPECT_FALSE(read_environment_file((dir.path() / "env").string(), vars, error));
  EXPECT_EQ(error, (dir.path() / "env").string() + ":3: expected KEY=VALUE");
}

TEST(ServiceExecEnvFile, MismatchedQuotesAreKept) {
  TempDir dir;
  write_file(dir.path() / "env", "A=\"open\nB='x\"\nC=\"\"\n");
  std::vector<std::pair<std::string, std::string>> vars;
  std::string error;
  ASSERT_TRUE(read_environment_file((dir.path() / "env").string(), vars, error)) << error;
  std::vector<std::pair<std::string, std::string>> expected = {{"A", "\"open"}, {"B", "'x\""}, {"C", ""}};
  EXPECT_EQ(vars, expected);
}

// --------------------------------------------------------------- errors

TEST_F(ServiceExecTest, MissingProgramIsEnoentFromExecve) {
  ServiceConfig c = sleep_config();
  c.command = {"/nonexistent/keel-program"};
  ExecInputs in;
  in.config = &c;
  auto r = start(in);
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(r.error().context, "execve");
  EXPECT_EQ(r.error().code, ENOENT);
}

TEST_F(ServiceExecTest, BadWorkingDirectoryFailsAtChdir) {
  ServiceConfig c = sleep_config();
  c.working_directory = "/nonexistent/keel-dir";
  ExecInputs in;
  in.config = &c;
  auto r = start(in);
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(r.error().context, "chdir");
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_FALSE(testutil::has_children()) << "the failed child was not reaped";
}

TEST_F(ServiceExecTest, BadRlimitFailsAtSetrlimit) {
  ServiceConfig c = sleep_config();
  c.rlimits.push_back({RLIMIT_NOFILE, 300, 200});  // soft above hard
  ExecInputs in;
  in.config = &c;
  auto r = start(in);
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(r.error().context, "setrlimit");
  EXPECT_EQ(r.error().code, EINVAL);
}

TEST_F(ServiceExecTest, UnwritableCgroupProcsFailsAtCgroup) {
  ServiceConfig c = sleep_config();
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // read-only: write() gives EBADF
  ExecInputs in;
  in.config = &c;
  in.cgroup_procs_fd = fd;
  auto r = start(in);
  ::close(fd);
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(r.error().context, "cgroup");
  EXPECT_EQ(r.error().code, EBADF);
}

TEST_F(ServiceExecTest, NotifyFdOnAStandardStreamIsABuildError) {
  ServiceConfig c = sleep_config();
  c.notify_fd = 1;
  ExecInputs in;
  in.config = &c;
  in.notify_pipe_write_fd = 7;
  ExecPlan plan;
  std::string error;
  EXPECT_FALSE(build_exec_plan(in, plan, error));
  EXPECT_NE(error.find("notify_fd"), std::string::npos) << error;
}

// Opened in the child now (as the service's user): the failure is the
// spawn's, naming the stream.
TEST_F(ServiceExecTest, UnopenableOutputFileIsASpawnErrorNamingTheStream) {
  ServiceConfig c = sleep_config();
  c.stdout_ = {StreamKind::File, "/nonexistent/dir/out.log"};
  ExecInputs in;
  in.config = &c;
  auto r = start(in);
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(r.error().context, "open stdout file");
  EXPECT_EQ(r.error().code, ENOENT);
}

// ------------------------------------------- files a user may control

// A service user's scratch: a directory it can enter (TempDir is 0700).
struct UserScratch {
  TempDir dir;
  uid_t uid = keel::testing::throwaway_uid();
  UserScratch() { ::chmod(dir.str().c_str(), 0755); }
  [[nodiscard]] std::string path(const std::string& name) const { return dir.str() + "/" + name; }
};

ServiceConfig as_user(ServiceConfig c, uid_t uid) {
  c.has_user = true;
  c.uid = uid;
  c.gid = uid;
  c.groups = {};
  return c;
}

// The classic: the service's user plants a link where its stdout file
// goes, to a file only root may write. keel used to open it as root.
TEST_F(ServiceExecTest, AStdoutLinkToARootOnlyFileIsNotWrittenThrough) {
  UserScratch s;
  const std::string secret = s.path("secret");
  write_file(secret, "root only\n");
  ASSERT_EQ(::chmod(secret.c_str(), 0600), 0);
  ASSERT_EQ(::symlink(secret.c_str(), s.path("out.log").c_str()), 0);
  ServiceConfig c = as_user(sleep_config(), s.uid);
  c.command = {"/bin/sh", "-c", "echo planted"};
  c.stdout_ = {StreamKind::File, s.path("out.log")};
  ExecInputs in;
  in.config = &c;
  auto r = start(in);
  if (r.ok()) ::waitpid(r.value(), nullptr, 0);
  ASSERT_FALSE(r.ok()) << "the service was started with the root-only file as its stdout";
  EXPECT_STREQ(r.error().context, "open stdout file");
  EXPECT_EQ(r.error().code, EACCES);
  EXPECT_EQ(slurp(secret), "root only\n");
}

// A FIFO without a reader: ENXIO from the child at once. keel used to open
// it before the fork and wait there for a reader, PID 1 included.
TEST_F(ServiceExecTest, AStdoutFifoWithoutAReaderFailsWithoutBlocking) {
  TempDir dir;
  const std::string fifo = dir.str() + "/out";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  int rc = testutil::in_child(
      [&] {
        ServiceConfig c = sleep_config();
        c.stdout_ = {StreamKind::File, fifo};
        ExecInputs in;
        in.config = &c;
        ExecPlan plan;
        std::string error;
        if (!build_exec_plan(in, plan, error)) return 1;
        auto r = spawn_service(plan);
        if (r.ok()) return 2;
        return std::strcmp(r.error().context, "open stdout file") == 0 && r.error().code == ENXIO ? 0 : 3;
      },
      3000);
  EXPECT_EQ(rc, 0) << "-1: blocked opening the FIFO";
}

// A FIFO as stdin opens at once; the service gets an ordinary blocking fd.
TEST_F(ServiceExecTest, AStdinFifoOpensWithoutBlockingAndTheServiceSeesABlockingFd) {
  TempDir dir;
  const std::string fifo = dir.str() + "/in";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string flags;
  int rc = testutil::in_child(
      [&] {
        ServiceConfig c = sleep_config();
        c.stdin_ = {StreamKind::File, fifo};
        ExecInputs in;
        in.config = &c;
        ExecPlan plan;
        std::string error;
        if (!build_exec_plan(in, plan, error)) return 1;
        auto r = spawn_service(plan);
        if (!r.ok()) return 2;
        std::istringstream info(slurp("/proc/" + std::to_string(r.value()) + "/fdinfo/0"));
        std::string line;
        int result = 4;
        while (std::getline(info, line)) {
          if (line.rfind("flags:", 0) == 0) {
            long value = std::strtol(line.c_str() + 6, nullptr, 8);
            result = (value & O_NONBLOCK) == 0 && (value & O_ACCMODE) == O_RDONLY ? 0 : 3;
          }
        }
        ::kill(r.value(), SIGKILL);
        ::waitpid(r.value(), nullptr, 0);
        return result;
      },
      3000);
  EXPECT_EQ(rc, 0) << "-1: blocked opening the FIFO; 3: O_NONBLOCK left set";
}

// Created by the service's user, 0640 less its umask.
TEST_F(ServiceExecTest, AStreamFileIsCreatedByTheServiceUser0640LessItsUmask) {
  UserScratch s;
  ASSERT_EQ(::chmod(s.dir.str().c_str(), 0777), 0);  // the user may create files here
  for (auto [umask, mode] : {std::pair<std::optional<mode_t>, mode_t>{std::nullopt, 0640}, {mode_t{077}, 0600}}) {
    const std::string out = s.path(umask ? "private.log" : "default.log");
    ServiceConfig c = as_user(sleep_config(), s.uid);
    c.command = {"/bin/sh", "-c", "echo hello"};
    c.umask = umask;
    c.stdout_ = {StreamKind::File, out};
    ExecInputs in;
    in.config = &c;
    const mode_t old = ::umask(022);
    auto r = start(in);
    ::umask(old);
    ASSERT_TRUE(r.ok()) << r.error().context << ": " << r.error().message();
    ASSERT_EQ(::waitpid(r.value(), nullptr, 0), r.value());
    struct stat st{};
    ASSERT_EQ(::stat(out.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, mode) << out;
    EXPECT_EQ(st.st_uid, s.uid) << out;
    EXPECT_EQ(slurp(out), "hello\n");
  }
}

// The environment goes where the service's user can read it: a file that
// user could not read is refused, through a link or not.
TEST_F(ServiceExecTest, AnEnvironmentFileTheUserCannotReadIsRefused) {
  UserScratch s;
  const std::string secret = s.path("secret.env");
  write_file(secret, "SECRET=root-only\n");
  ASSERT_EQ(::chmod(secret.c_str(), 0600), 0);
  ASSERT_EQ(::symlink(secret.c_str(), s.path("link.env").c_str()), 0);
  for (const std::string& path : {secret, s.path("link.env")}) {
    ServiceConfig c = as_user(sleep_config(), s.uid);
    c.environment_file = path;
    ExecInputs in;
    in.config = &c;
    ExecPlan plan;
    std::string error;
    EXPECT_FALSE(build_exec_plan(in, plan, error)) << path;
    EXPECT_EQ(error, "environment_file " + path + ": " + std::strerror(EACCES));
    EXPECT_TRUE(std::none_of(plan.env.begin(), plan.env.end(),
                             [](const std::string& e) { return e.find("SECRET") != std::string::npos; }));
  }
  // The same file, once the user owns it, is read; and keel's own groups
  // are back afterwards.
  std::vector<gid_t> before(64);
  before.resize(static_cast<std::size_t>(::getgroups(64, before.data())));
  ASSERT_EQ(::chown(secret.c_str(), s.uid, s.uid), 0);
  ServiceConfig c = as_user(sleep_config(), s.uid);
  c.groups = {s.uid, 4242};
  c.environment_file = s.path("link.env");
  ExecInputs in;
  in.config = &c;
  ExecPlan plan;
  std::string error;
  EXPECT_TRUE(build_exec_plan(in, plan, error)) << error;
  EXPECT_NE(std::find(plan.env.begin(), plan.env.end(), "SECRET=root-only"), plan.env.end());
  std::vector<gid_t> after(64);
  after.resize(static_cast<std::size_t>(::getgroups(64, after.data())));
  EXPECT_EQ(after, before);
  EXPECT_EQ(::setfsuid(static_cast<uid_t>(-1)), 0);
}

TEST(ServiceExecEnvFile, AFifoIsRefusedWithoutBlocking) {
  TempDir dir;
  const std::string fifo = dir.str() + "/env";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (bool as_service_user : {false, true}) {
    int rc = testutil::in_child(
        [&] {
          std::vector<std::pair<std::string, std::string>> vars;
          std::string error;
          std::vector<gid_t> none;
          FileRights root{0, 0, &none};
          if (read_environment_file(fifo, vars, error, as_service_user ? &root : nullptr)) return 1;
          return error == fifo + ": not a regular file (a FIFO)" ? 0 : 2;
        },
        3000);
    EXPECT_EQ(rc, 0) << "-1: blocked opening the FIFO";
  }
}

TEST_F(ServiceExecTest, PlanClosesTheFilesItOpened) {
  auto before = testutil::open_fds();
  {
    ServiceConfig c = sleep_config();
    ExecInputs in;
    in.config = &c;
    ExecPlan plan;
    std::string error;
    ASSERT_TRUE(build_exec_plan(in, plan, error)) << error;
    EXPECT_FALSE(plan.owned_fds.empty());
    ExecPlan moved(std::move(plan));
    EXPECT_TRUE(plan.owned_fds.empty());  // NOLINT(bugprone-use-after-move): checking the move
  }
  EXPECT_EQ(testutil::open_fds(), before);
}

// A hook's Error comes back from spawn() with its own context.
Status failing_hook(const void* context) noexcept {
  errno = *static_cast<const int*>(context);
  return errno_error("my-hook-step");
}

TEST_F(ServiceExecTest, SpawnHookErrorComesBackToTheParent) {
  static char a0[] = "/bin/sleep";
  static char a1[] = "5";
  char* const argv[] = {a0, a1, nullptr};
  int code = EPERM;
  SpawnOptions o;
  o.argv = argv;
  o.child_setup = &failing_hook;
  o.child_context = &code;
  auto r = spawn(o);
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(r.error().context, "my-hook-step");
  EXPECT_EQ(r.error().code, EPERM);
  EXPECT_FALSE(testutil::has_children());
}

}  // namespace
}  // namespace keel::service
