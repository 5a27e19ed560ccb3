// keel run by a user other than root (issue 13, part 5; docs/system-mode.md,
// "A user instance" and "A read-only root in a container").
//
// (a) A throwaway uid runs `keel --role=system` with XDG_CONFIG_HOME and
//     XDG_RUNTIME_DIR pointing at directories it owns, as PID 1 of a PID
//     namespace and as a plain subreaper: the services under
//     $XDG_CONFIG_HOME/keel start, keelctl as that uid finds
//     $XDG_RUNTIME_DIR/keel/control.sock with no --socket, another uid is
//     refused by the socket's peer check (given CAP_DAC_OVERRIDE so the
//     file mode does not refuse it first), root is let in, a service with
//     `user = "root"` is refused with one line, and `keelctl poweroff` ends
//     keel with status 0.
// (b) A read-only root: in a mount namespace, / bound read-only with a
//     tmpfs on /run (as `docker run --read-only --tmpfs /run`), keel as PID
//     1 of a PID namespace under a throwaway uid: the service runs, keelctl
//     (from inside that mount namespace, no --socket) works, what is off
//     is said once, and nothing outside /run was written. Then a root-owned
//     0755 /run: keel says what to do and runs its services without sockets.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "harness.hpp"
#include "throwaway_uid.hpp"

namespace keel::systest {
namespace {

const char* kSetpriv = "/usr/bin/setpriv";
const char* kNsenter = "/usr/bin/nsenter";

// The KEEL_* settings the test's own environment may carry: a user
// instance must find its directories by itself.
const std::vector<std::string> kKeelEnv = {"KEEL_CONFIG_DIR",     "KEEL_SERVICES_DIR", "KEEL_RUN_DIR",
                                           "KEEL_CONTROL_SOCKET", "KEEL_CGROUP_ROOT",  "KEEL_CONTROL_GROUP",
                                           "XDG_RUNTIME_DIR",     "XDG_CONFIG_HOME",   "KEEL_TARGET"};

std::vector<std::string> as_user(uid_t uid, std::vector<std::string> then) {
  std::vector<std::string> args = {"--reuid=" + std::to_string(uid), "--regid=" + std::to_string(uid),
                                   "--clear-groups"};
  args.insert(args.end(), then.begin(), then.end());
  return args;
}

void chown_tree(const std::string& path, uid_t uid) {
  ASSERT_EQ(::chown(path.c_str(), uid, uid), 0) << path;
  for (const auto& e : std::filesystem::recursive_directory_iterator(path)) {
    ASSERT_EQ(::lchown(e.path().c_str(), uid, uid), 0) << e.path();
  }
}

// A user's home: XDG_CONFIG_HOME/keel/services and XDG_RUNTIME_DIR (0700),
// all the user's.
struct UserHome {
  explicit UserHome(uid_t u) : uid(u) {
    EXPECT_EQ(::chmod(dir.path().c_str(), 0755), 0);  // the user may enter the folder
    std::filesystem::create_directories(config() + "/keel/services");
    std::filesystem::create_directories(runtime());
    EXPECT_EQ(::chmod(runtime().c_str(), 0700), 0);
  }
  [[nodiscard]] std::string config() const { return dir.path() + "/config"; }
  [[nodiscard]] std::string runtime() const { return dir.path() + "/runtime"; }
  void service(const std::string& name, const std::string& text) const {
    std::ofstream(config() + "/keel/services/" + name + ".toml") << text;
  }
  void own() const { chown_tree(dir.path(), uid); }
  void env(Launch& l) const {
    l.unset_env = kKeelEnv;
    l.set_env.emplace_back("XDG_CONFIG_HOME", config());
    l.set_env.emplace_back("XDG_RUNTIME_DIR", runtime());
    l.set_env.emplace_back("HOME", dir.path());
  }
  TempDir dir;
  uid_t uid;
};

// keelctl ARGS as `uid` with the user's environment (no --socket);
// `caps` goes between setpriv's options and the program (capabilities).
Outcome keelctl_as(const UserHome& home, uid_t uid, const std::vector<std::string>& args,
                   std::vector<std::string> caps = {}) {
  std::vector<std::string> cmd = std::move(caps);
  cmd.push_back(keel_binary());
  cmd.emplace_back("ctl");
  cmd.insert(cmd.end(), args.begin(), args.end());
  Launch l = program_launch(Placement::Subreaper, kSetpriv, as_user(uid, cmd));
  home.env(l);
  return run_through(std::move(l));
}

class UserInstanceTest : public ::testing::TestWithParam<Placement> {};

TEST_P(UserInstanceTest, RunsTheUsersServicesAndOnlyTheUserControlsIt) {
  if (GetParam() == Placement::Namespace && !namespaces_available()) {
    GTEST_SKIP() << "unshare --pid is not available here";
  }
  const uid_t uid = keel::testing::throwaway_uid();
  uid_t other = keel::testing::throwaway_uid();
  while (other == uid) other = keel::testing::throwaway_uid();
  UserHome home(uid);
  home.service("web", "command = [\"/bin/sleep\", \"600\"]\n");
  home.service("priv", "command = [\"/bin/sleep\", \"600\"]\nuser = \"root\"\n");
  home.own();

  Launch l = program_launch(GetParam(), kSetpriv, as_user(uid, {keel_binary(), "--role=system"}));
  home.env(l);
  KeelRun k(std::move(l));
  ASSERT_TRUE(k.find_line(Stream::Err, "web: ready")) << k.text(Stream::Err);
  const std::string err = k.text(Stream::Err);
  EXPECT_TRUE(contains(err, "user instance: uid " + std::to_string(uid))) << err;
  EXPECT_TRUE(contains(err, "user instance: service priv: user = \"root\" needs root; refused")) << err;
  EXPECT_TRUE(contains(err, "user instance: cgroups off")) << err;
  EXPECT_EQ(contains(err, "early mounts off"), GetParam() == Placement::Namespace) << err;

  // The user's keelctl finds the user's socket.
  const std::string socket = home.runtime() + "/keel/control.sock";
  struct stat st {};
  ASSERT_EQ(::stat(socket.c_str(), &st), 0) << socket;
  EXPECT_EQ(st.st_uid, uid);
  Outcome mine = keelctl_as(home, uid, {"status"});
  EXPECT_EQ(mine.code, 0) << mine.err;
  EXPECT_TRUE(contains(mine.out, "web ")) << mine.out;
  EXPECT_TRUE(contains(mine.out, "running")) << mine.out;
  EXPECT_TRUE(contains(mine.out, "priv")) << mine.out;  // its refusal, in status

  // Another user, past the file's mode with CAP_DAC_OVERRIDE: the peer
  // check refuses it (4: permission denied).
  Outcome theirs = keelctl_as(home, other, {"status"}, {"--inh-caps=+dac_override", "--ambient-caps=+dac_override"});
  EXPECT_EQ(theirs.code, 4) << theirs.out << theirs.err;
  EXPECT_TRUE(contains(theirs.err, "permission denied: this keel is uid " + std::to_string(uid))) << theirs.err;
  EXPECT_TRUE(k.find_line(Stream::Err, "(uid " + std::to_string(other) + ")")) << k.text(Stream::Err);

  // Root is let in.
  Outcome root = run_through(keel_launch(Placement::Subreaper, {"ctl", "--socket", socket, "status"}));
  EXPECT_EQ(root.code, 0) << root.err;

  Outcome off = keelctl_as(home, uid, {"poweroff"});
  EXPECT_EQ(off.code, 0) << off.err;
  EXPECT_EQ(k.wait_exit(), 0) << k.text(Stream::Err);
  EXPECT_TRUE(contains(k.text(Stream::Err), "web: stopped")) << k.text(Stream::Err);
}

INSTANTIATE_TEST_SUITE_P(Placements, UserInstanceTest, ::testing::Values(Placement::Namespace, Placement::Subreaper),
                         [](const ::testing::TestParamInfo<Placement>& p) {
                           return std::string(placement_name(p.param));
                         });

// ---------------------------------------------------- (b) read-only root

// Every regular file under `dir` with its size and mtime, to compare.
std::vector<std::string> listing(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    struct stat st {};
    if (::lstat(e.path().c_str(), &st) != 0) continue;
    out.push_back(e.path().string() + " " + std::to_string(st.st_size) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
                  std::to_string(st.st_mtim.tv_nsec));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// keel as PID 1 under `uid` on a read-only view of / with a tmpfs on /run
// mounted with `run_options`; CONFIG_DIR is `config` (read-only there).
Launch read_only_root(uid_t uid, const std::string& config, const std::string& run_options,
                      const std::string& keel_args = "--role=system") {
  const std::string script =
      "set -e\n"
      "mount --rbind / /\n"
      "mount -o remount,bind,ro /\n"
      "mount -t tmpfs -o " +
      run_options +
      " keel-ro-run /run\n"
      "exec " +
      kSetpriv + " --reuid=" + std::to_string(uid) + " --regid=" + std::to_string(uid) + " --clear-groups \"$0\" " +
      keel_args + "\n";
  Launch l = program_launch(Placement::Namespace, "/bin/sh", {"-c", script, keel_binary()});
  l.unset_env = kKeelEnv;
  l.unset_env.emplace_back("HOME");
  l.set_env.emplace_back("KEEL_CONFIG_DIR", config);
  return l;
}

TEST(ReadOnlyRoot, RunsWritesOnlyUnderRunAndSaysWhatIsOff) {
  if (!namespaces_available()) GTEST_SKIP() << "unshare --pid is not available here";
  const uid_t uid = keel::testing::throwaway_uid();
  TempDir config;
  ASSERT_EQ(::chmod(config.path().c_str(), 0755), 0);
  std::filesystem::create_directories(config.path() + "/services");
  std::ofstream(config.path() + "/services/web.toml")
      << "command = [\"/bin/sh\", \"-c\", \"echo web-says-hello; exec sleep 600\"]\n"
      << "[log]\nfile = \"" << config.path() << "/web.log\"\n";
  std::ofstream(config.path() + "/keel.toml") << "hostname = \"keel-ro\"\n";
  const std::vector<std::string> before = listing(config.path());

  KeelRun k(read_only_root(uid, config.path(), "mode=1777"));
  ASSERT_TRUE(k.find_line(Stream::Err, "web: ready")) << k.text(Stream::Err);
  // One line for each thing that is off, and the log file on the
  // read-only path said once (the line reached the log writer).
  ASSERT_TRUE(k.find_line(Stream::Err, "web.log: open log file: Read-only file system")) << k.text(Stream::Err);
  const pid_t keel = k.keel_pid();
  ASSERT_GT(keel, 0);

  // keelctl inside keel's mount namespace, as the same uid, no --socket:
  // /run/keel/control.sock (no XDG_RUNTIME_DIR in a container).
  std::vector<std::string> ctl = {"--target", std::to_string(keel), "--mount", "--root", "--wd", "--", kSetpriv};
  for (const std::string& a : as_user(uid, {keel_binary(), "ctl", "status"})) ctl.push_back(a);
  Launch status = program_launch(Placement::Subreaper, kNsenter, ctl);
  status.unset_env = kKeelEnv;
  Outcome s = run_through(status);
  EXPECT_EQ(s.code, 0) << s.err;
  EXPECT_TRUE(contains(s.out, "running")) << s.out;

  ASSERT_TRUE(k.signal(SIGTERM));
  EXPECT_EQ(k.wait_exit(), 0) << k.text(Stream::Err);
  const std::string err = k.text(Stream::Err);
  EXPECT_TRUE(contains(err, "user instance: early mounts off")) << err;
  EXPECT_TRUE(contains(err, "user instance: keel.toml hostname = \"keel-ro\": setting the hostname needs root")) << err;
  EXPECT_TRUE(contains(err, "user instance: cgroups off")) << err;
  EXPECT_FALSE(contains(err, "cannot mount")) << err;
  EXPECT_FALSE(contains(err, "run directory")) << err;  // /run/keel was made
  // Nothing was written outside /run: the configuration is as it was, and
  // the log file was never created.
  EXPECT_EQ(listing(config.path()), before);
  EXPECT_FALSE(std::filesystem::exists(config.path() + "/web.log"));
}

// `--tmpfs /run:mode=755` (root's): uid 1000 cannot make /run/keel. keel
// says what to do, runs its services without sockets, and still stops on
// SIGTERM with status 0.
TEST(ReadOnlyRoot, ARunOnlyRootMayWriteIsSaidAndTheServicesStillRun) {
  if (!namespaces_available()) GTEST_SKIP() << "unshare --pid is not available here";
  const uid_t uid = keel::testing::throwaway_uid();
  TempDir config;
  ASSERT_EQ(::chmod(config.path().c_str(), 0755), 0);
  std::filesystem::create_directories(config.path() + "/services");
  std::ofstream(config.path() + "/services/web.toml") << "command = [\"/bin/sleep\", \"600\"]\n";

  KeelRun k(read_only_root(uid, config.path(), "mode=755"));
  ASSERT_TRUE(k.find_line(Stream::Err, "web: ready")) << k.text(Stream::Err);
  EXPECT_TRUE(
      contains(k.text(Stream::Err),
               "run directory /run/keel: cannot create it: Permission denied (keel runs as uid " + std::to_string(uid)))
      << k.text(Stream::Err);
  EXPECT_TRUE(contains(k.text(Stream::Err), "--tmpfs /run:mode=1777 (or uid=" + std::to_string(uid) + ")"))
      << k.text(Stream::Err);
  ASSERT_TRUE(k.signal(SIGTERM));
  EXPECT_EQ(k.wait_exit(), 0) << k.text(Stream::Err);
}

// A /run that is uid 1000's own (`--tmpfs /run:uid=1000,mode=0755`): no
// complaint about the run directory, keelctl works.
TEST(ReadOnlyRoot, ARunOwnedByTheUserWorks) {
  if (!namespaces_available()) GTEST_SKIP() << "unshare --pid is not available here";
  const uid_t uid = keel::testing::throwaway_uid();
  TempDir config;
  ASSERT_EQ(::chmod(config.path().c_str(), 0755), 0);
  std::filesystem::create_directories(config.path() + "/services");
  std::ofstream(config.path() + "/services/web.toml") << "command = [\"/bin/sleep\", \"600\"]\n";
  const std::string id = std::to_string(uid);
  KeelRun k(read_only_root(uid, config.path(), "mode=0755,uid=" + id + ",gid=" + id));
  ASSERT_TRUE(k.find_line(Stream::Err, "web: ready")) << k.text(Stream::Err);
  EXPECT_FALSE(contains(k.text(Stream::Err), "run directory")) << k.text(Stream::Err);
  ASSERT_TRUE(k.signal(SIGTERM));
  EXPECT_EQ(k.wait_exit(), 0) << k.text(Stream::Err);
}

// The container-init mode (`keel PROGRAM`) under a non-root uid on a
// read-only root: it needs nothing writable, and exits with the program's
// status.
TEST(ReadOnlyRoot, TheContainerInitModeNeedsNothingWritable) {
  if (!namespaces_available()) GTEST_SKIP() << "unshare --pid is not available here";
  const uid_t uid = keel::testing::throwaway_uid();
  TempDir config;
  KeelRun k(read_only_root(uid, config.path(), "mode=0755",
                           "-- /bin/sh -c 'echo main-ran-as-$(id -u); touch /keel-ro-probe || exit 7'"));
  EXPECT_EQ(k.wait_exit(), 7) << k.text(Stream::Err);
  EXPECT_TRUE(contains(k.text(Stream::Out), "main-ran-as-" + std::to_string(uid))) << k.text(Stream::Out);
  EXPECT_TRUE(contains(k.text(Stream::Err), "Read-only file system")) << k.text(Stream::Err);
}

}  // namespace
}  // namespace keel::systest
