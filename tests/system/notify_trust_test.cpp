// sd_notify as a trust boundary, and service text on root's terminal: the
// real keel in the system role (as PID 1 of a fresh PID namespace and as a
// subreaper) against forged notify messages and hostile STATUS/log text
// (docs/security.md, "sd_notify and service text").
//
// Each attack is one the old keel fell for: a 0666 socket anyone could
// mark ready, a MAINPID it would signal wherever it pointed, raw escape
// sequences printed by keelctl.
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "core/terminal_text.hpp"
#include "supervised.hpp"
#include "throwaway_uid.hpp"

namespace keel::systest {
namespace {

namespace fs = std::filesystem;

// Send one datagram to `path` from a child running as uid:uid (0: as
// root); the child's result: 0, or sendto's errno.
int send_as(uid_t uid, const std::string& path, const std::string& text) {
  pid_t child = ::fork();
  if (child == 0) {
    if (uid != 0 && (::setgroups(0, nullptr) != 0 || ::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0)) {
      _exit(100);
    }
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    _exit(::sendto(fd, text.data(), text.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr) >= 0 ? 0 : errno);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A process of the test's own, in no service: what a forged MAINPID names.
pid_t start_bystander() {
  pid_t p = ::fork();
  if (p == 0) {
    execl("/bin/sleep", "sleep", "600", static_cast<char*>(nullptr));
    _exit(127);
  }
  return p;
}

// Alive and not a zombie (the test is its parent, so a signal would leave
// one until it is reaped here).
bool bystander_untouched(pid_t p) {
  int status = 0;
  return ::waitpid(p, &status, WNOHANG) == 0;
}

void end_bystander(pid_t p) {
  ::kill(p, SIGKILL);
  ::waitpid(p, nullptr, 0);
}

// The valid-UTF-8, no-raw-control check for what keelctl prints.
bool terminal_safe(const std::string& text, bool newlines_allowed) {
  for (std::size_t i = 0; i < text.size();) {
    terminal_text::CodePoint cp = terminal_text::decode_utf8(text, i);
    if (cp.value == terminal_text::kInvalid) return false;
    bool control = cp.value < 0x20 || cp.value == 0x7F || (cp.value >= 0x80 && cp.value <= 0x9F);
    if (control && !(newlines_allowed && cp.value == '\n')) return false;
    i += cp.length;
  }
  return true;
}

class NotifyTrustTest : public ::testing::TestWithParam<Placement> {
 protected:
  void SetUp() override {
    if (GetParam() == Placement::Namespace && !namespaces_available()) {
      GTEST_SKIP() << "unshare --pid is not available here";
    }
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (keel as root, a throwaway user)";
  }
};

TEST_P(NotifyTrustTest, AnotherUserCannotMarkAServiceReady) {
  Supervised s(Supervised::Access::Open);
  s.service("web", "type = \"notify\"\nstart_timeout = 60\ncommand = [\"/bin/sleep\", \"600\"]\n");
  s.service("client", "requires = [\"web\"]\ncommand = [\"/bin/sleep\", \"600\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(event(*k, "web", "started")) << k->text(Stream::Err);
  struct stat st{};
  ASSERT_EQ(::stat(s.path("run/notify/web").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600U);
  EXPECT_EQ(st.st_uid, 0U);  // the service runs as root: only root may send
  EXPECT_EQ(send_as(keel::testing::throwaway_uid(), s.path("run/notify/web"), "READY=1"), EACCES);
  ASSERT_TRUE(control_up(s));
  EXPECT_EQ(detail(s, "web", "state"), "starting");
  EXPECT_EQ(count_events(*k, "client", "started"), 0) << k->text(Stream::Err);
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

TEST_P(NotifyTrustTest, AProcessOutsideTheServiceIsRefusedAndTheRefusalIsLoggedOnce) {
  Supervised s(Supervised::Access::Open);
  s.service("web", "type = \"notify\"\nstart_timeout = 60\ncommand = [\"/bin/sleep\", \"600\"]\n");
  s.service("client", "requires = [\"web\"]\ncommand = [\"/bin/sleep\", \"600\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(event(*k, "web", "started")) << k->text(Stream::Err);
  pid_t bystander = start_bystander();
  // Root may write to the socket, but the sender is not one of web's
  // processes (the test is no child of keel; in the namespace its pid is
  // not even visible to keel).
  std::string forged = "READY=1\nMAINPID=" + std::to_string(bystander) + "\nSTATUS=forged";
  EXPECT_EQ(send_as(0, s.path("run/notify/web"), forged), 0);
  auto line = event(*k, "web", "notify message from");
  ASSERT_TRUE(line) << k->text(Stream::Err);
  EXPECT_NE(line->find("refused"), std::string::npos) << *line;
  EXPECT_EQ(send_as(0, s.path("run/notify/web"), forged), 0);
  ASSERT_TRUE(control_up(s));
  EXPECT_TRUE(poll_until([&] { return detail(s, "web", "notify").rfind("2 refused", 0) == 0; }, 10s, 20ms))
      << detail(s, "web", "notify");
  EXPECT_EQ(detail(s, "web", "state"), "starting");
  EXPECT_EQ(detail(s, "web", "last error").find("forged"), std::string::npos);
  EXPECT_EQ(count_events(*k, "web", "notify message from"), 1) << "logged once per run";
  EXPECT_EQ(count_events(*k, "client", "started"), 0) << k->text(Stream::Err);
  EXPECT_EQ(s.ctl({"stop", "web"}).code, 0);
  EXPECT_TRUE(event(*k, "web", "stopped")) << k->text(Stream::Err);
  EXPECT_TRUE(bystander_untouched(bystander));
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
  EXPECT_TRUE(bystander_untouched(bystander));
  end_bystander(bystander);
}

TEST_P(NotifyTrustTest, WithACgroupASenderIsJudgedByItsCgroup) {
  std::string root = cgroup2_root(GetParam() == Placement::Namespace ? "notify-ns" : "notify-sr");
  if (root.empty()) GTEST_SKIP() << "no cgroup2 mount here";
  {
    Supervised s(Supervised::Access::Open);
    // The helper leaves the process group (setsid) and drops the
    // KEEL_SERVICE mark (env -i): only its cgroup says it is web's. Its
    // message must count; one from outside must not.
    std::string script = s.script("web.sh", "setsid env -i \"NOTIFY_SOCKET=$NOTIFY_SOCKET\" " + std::string(kProbe) +
                                                " notify READY=1 STATUS=inside || exit 1\nexec sleep 600\n");
    s.service("web", "type = \"notify\"\ncommand = [\"" + script + "\"]\n");
    auto k = s.start(GetParam(), {{"KEEL_CGROUP_ROOT", root}});
    ASSERT_TRUE(seen(*k, Stream::Err, [](const std::string& l) { return l.rfind("keel: services get cgroups", 0) == 0; }))
        << k->text(Stream::Err);
    ASSERT_TRUE(event(*k, "web", "ready")) << k->text(Stream::Err);
    ASSERT_TRUE(control_up(s));
    EXPECT_NE(detail(s, "web", "last error").find("status: inside"), std::string::npos);
    EXPECT_EQ(send_as(0, s.path("run/notify/web"), "STATUS=forged"), 0);
    auto line = event(*k, "web", "notify message from");
    ASSERT_TRUE(line) << k->text(Stream::Err);
    EXPECT_NE(line->find("refused"), std::string::npos) << *line;
    EXPECT_EQ(detail(s, "web", "last error").find("forged"), std::string::npos);
    k->signal(SIGTERM);
    EXPECT_TRUE(k->wait_exit());
  }
  ::rmdir((root + "/web").c_str());
  ::rmdir(root.c_str());
}

TEST_P(NotifyTrustTest, AMainPidOutsideTheServiceIsRefusedAndNeverSignalled) {
  Supervised s(Supervised::Access::Open);
  s.service("other", "command = [\"/bin/sleep\", \"600\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(event(*k, "other", "ready")) << k->text(Stream::Err);
  ASSERT_TRUE(control_up(s));
  std::string victim = detail(s, "other", "pid");  // as keel sees it
  ASSERT_NE(victim, "-");
  // From inside web, with its own credentials: another service's process,
  // init, and keel itself (web's parent) as its main process. Then ready.
  std::string script = s.script("web.sh", std::string(kProbe) + " notify MAINPID=" + victim + " MAINPID=1 "
                                          "\"MAINPID=$PPID\" READY=1 || exit 1\nexec sleep 600\n");
  s.service("web", "type = \"notify\"\ncommand = [\"" + script + "\"]\n");
  EXPECT_EQ(s.ctl({"reload"}).code, 0);
  ASSERT_TRUE(event(*k, "web", "ready")) << k->text(Stream::Err);
  auto line = event(*k, "web", "MAINPID=" + victim + " refused");
  ASSERT_TRUE(line) << k->text(Stream::Err);
  EXPECT_EQ(detail(s, "web", "notify").rfind("3 refused", 0), 0U) << detail(s, "web", "notify") << k->text(Stream::Err);
  EXPECT_EQ(count_events(*k, "web", "main pid is now"), 0);
  EXPECT_EQ(s.ctl({"stop", "web"}).code, 0);
  EXPECT_TRUE(event(*k, "web", "stopped")) << k->text(Stream::Err);
  EXPECT_EQ(detail(s, "other", "state"), "running");
  EXPECT_EQ(detail(s, "other", "pid"), victim);
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit()) << "shutdown did not finish";
}

TEST_P(NotifyTrustTest, AForkingDaemonNamesItsMainPidAndItsExitIsSeenEvenWhenKeelIsNotItsParent) {
  Supervised s(Supervised::Access::Open);
  // The daemon's parent lives on and reaps it: keel gets no SIGCHLD for
  // the main process and learns of its exit only through its pidfd.
  std::string script = s.script("forker.sh", "sleep 600 &\n" + std::string(kProbe) +
                                                 " notify \"MAINPID=$!\" READY=1 || exit 1\nwait $!\nexec sleep 600\n");
  s.service("forker", "type = \"notify\"\nrestart = \"never\"\ncommand = [\"" + script + "\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(event(*k, "forker", "ready")) << k->text(Stream::Err);
  auto line = event(*k, "forker", "main pid is now ");
  ASSERT_TRUE(line) << k->text(Stream::Err);
  std::string main_pid = line->substr(line->rfind(' ') + 1);
  ASSERT_TRUE(control_up(s));
  EXPECT_EQ(detail(s, "forker", "pid"), main_pid);
  pid_t host = k->host_pid(std::stoi(main_pid));
  ASSERT_GT(host, 0);
  ASSERT_EQ(::kill(host, SIGTERM), 0);
  // Its exit ends the service (restart = never: done), and the script
  // left behind is stopped with it.
  EXPECT_TRUE(event(*k, "forker", "done")) << k->text(Stream::Err);
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

TEST_P(NotifyTrustTest, ADaemonThatLeavesItsMainPidToKeelIsStoppedThroughIt) {
  Supervised s(Supervised::Access::Open);
  std::string script = s.script("daemon.sh", "sleep 600 &\n" + std::string(kProbe) +
                                                 " notify \"MAINPID=$!\" READY=1 || exit 1\nexit 0\n");
  s.service("daemon", "type = \"notify\"\ncommand = [\"" + script + "\"]\n");
  s.service("client", "requires = [\"daemon\"]\ncommand = [\"/bin/sleep\", \"600\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(event(*k, "client", "ready")) << k->text(Stream::Err);
  auto line = event(*k, "daemon", "main pid is now ");
  ASSERT_TRUE(line) << k->text(Stream::Err);
  std::string main_pid = line->substr(line->rfind(' ') + 1);
  ASSERT_TRUE(control_up(s));
  EXPECT_EQ(detail(s, "daemon", "pid"), main_pid);
  EXPECT_EQ(detail(s, "daemon", "state"), "running");  // the script's exit is not the service's
  EXPECT_EQ(s.ctl({"stop", "daemon"}).code, 0);
  auto stopped = event(*k, "daemon", "pid " + main_pid + " killed by SIGTERM");
  EXPECT_TRUE(stopped) << k->text(Stream::Err);
  EXPECT_TRUE(event(*k, "daemon", "stopped")) << k->text(Stream::Err);
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

TEST_P(NotifyTrustTest, ServiceTextIsEscapedInKeelctlAndKeelsOwnLines) {
  Supervised s(Supervised::Access::Open);
  std::string script = s.script(
      "evil.sh", "printf 'out \\033[2J\\302\\233x\\tend\\n'\n" + std::string(kProbe) +
                     " notify READY=1 \"STATUS=$(printf 'red \\033[31m \\302\\233 bad \\377')\" || exit 1\n"
                     "exec sleep 600\n");
  s.service("evil", "type = \"notify\"\nstdout = \"log\"\ncommand = [\"" + script + "\"]\n");
  // A file whose name is an escape sequence: keel's own line about it, and
  // its row in the status table.
  std::ofstream(s.path("services/bad\x1b[2J.toml")) << "command = [\"/bin/true\"]\n";
  auto k = s.start(GetParam());
  ASSERT_TRUE(event(*k, "evil", "ready")) << k->text(Stream::Err);
  ASSERT_TRUE(control_up(s));

  Ctl one = s.ctl({"status", "evil"});
  EXPECT_TRUE(terminal_safe(one.out, true)) << one.out;
  EXPECT_NE(one.out.find("status: red \\x1b[31m \\u009b bad \xEF\xBF\xBD"), std::string::npos) << one.out;
  Ctl table = s.ctl({"status"});
  EXPECT_TRUE(terminal_safe(table.out, true)) << table.out;
  EXPECT_NE(table.out.find("\\x1b[31m"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("bad\\x1b[2J"), std::string::npos) << table.out;
  Ctl json = s.ctl({"status", "--json"});
  EXPECT_TRUE(terminal_safe(json.out, true)) << json.out;
  EXPECT_NE(json.out.find("red \\u001b[31m \\u009b bad \xEF\xBF\xBD"), std::string::npos) << json.out;

  Ctl log;
  EXPECT_TRUE(poll_until([&] {
    log = s.ctl({"log", "evil"});
    return log.out.find("out ") != std::string::npos;
  }, 10s, 20ms));
  EXPECT_NE(log.out.find("out \\x1b[2J\\u009bx\tend"), std::string::npos) << log.out;
  EXPECT_EQ(log.out.find('\x1b'), std::string::npos) << log.out;

  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
  std::string err = k->text(Stream::Err);
  EXPECT_EQ(err.find('\x1b'), std::string::npos) << err;
  EXPECT_NE(err.find("bad\\x1b[2J"), std::string::npos) << err;
}

INSTANTIATE_TEST_SUITE_P(Placements, NotifyTrustTest, ::testing::Values(Placement::Subreaper, Placement::Namespace),
                         [](const ::testing::TestParamInfo<Placement>& p) { return placement_name(p.param); });

}  // namespace
}  // namespace keel::systest
