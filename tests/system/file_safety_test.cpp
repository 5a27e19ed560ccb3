// Files a service or a user controls, put in keel's way (docs/security.md,
// "Files keel opens"): the real keel in the system role, as PID 1 of a
// fresh PID namespace and as a subreaper. A FIFO where keel expects a file
// must not stall it (keelctl still answers, the other services start), a
// device as CONFIG_DIR/main is refused, a link from a service's stdout file
// to a root-only file does not let the service write it, and a run
// directory someone else controls gets no sockets. Every wait is bounded
// by the harness's deadlines.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "harness.hpp"
#include "throwaway_uid.hpp"

namespace keel::systest {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A config dir with a services folder; keel started on it.
class Config {
 public:
  Config() { fs::create_directories(dir_.path() + "/services"); }
  void service(const std::string& name, const std::string& toml) const {
    std::ofstream(dir_.path() + "/services/" + name + ".toml") << toml;
  }
  [[nodiscard]] std::string path(const std::string& rel) const { return dir_.path() + "/" + rel; }
  [[nodiscard]] std::string socket() const { return dir_.path() + "/run/control.sock"; }
  std::unique_ptr<KeelRun> start(Placement placement) const {
    Launch l = keel_launch(placement, {"--role=system"});
    l.set_env = {{"KEEL_CONFIG_DIR", dir_.path()}, {"KEEL_RUN_DIR", dir_.path() + "/run"}, {"KEEL_CGROUP_ROOT", "none"}};
    return std::make_unique<KeelRun>(l);
  }
  [[nodiscard]] int ctl_status() const {
    Outcome o = run_through(program_launch(Placement::Subreaper, keel_binary(), {"ctl", "--socket", socket(), "status"}));
    return o.code.value_or(-1);
  }

 private:
  TempDir dir_;
};

bool has_line(KeelRun& k, const std::string& needle) {
  return seen(k, Stream::Err, [&](const std::string& l) { return l.find(needle) != std::string::npos; }).has_value();
}

class FileSafetyTest : public ::testing::TestWithParam<Placement> {
 protected:
  void SetUp() override {
    if (GetParam() == Placement::Namespace && !namespaces_available()) {
      GTEST_SKIP() << "unshare --pid is not available here";
    }
  }
};

// A FIFO at every path keel reads or writes for a service: keel.toml, a
// service file, CONFIG_DIR/main, an environment_file, a stdout and a stdin
// file, a log file. keel used to wait in open(2) on the first of them.
TEST_P(FileSafetyTest, FifosWhereFilesBelongNeverStallKeel) {
  Config c;
  for (const char* name : {"keel.toml", "services/fifo.toml", "main", "env", "out", "in", "app.log"}) {
    ASSERT_EQ(::mkfifo(c.path(name).c_str(), 0600), 0) << name;
  }
  c.service("envy", "restart = \"never\"\nenvironment_file = \"" + c.path("env") + "\"\ncommand = [\"/bin/true\"]\n");
  c.service("outy", "restart = \"never\"\nstdout = \"file:" + c.path("out") + "\"\ncommand = [\"/bin/true\"]\n");
  c.service("inny", "stdin = \"file:" + c.path("in") + "\"\ncommand = [\"/bin/sleep\", \"600\"]\n");
  c.service("logger", "command = [\"/bin/sh\", \"-c\", \"echo hello; exec sleep 600\"]\n[log]\nfile = \"" +
                          c.path("app.log") + "\"\n");
  auto k = c.start(GetParam());
  EXPECT_TRUE(has_line(*k, c.path("keel.toml") + ": cannot read: not a regular file (a FIFO)")) << k->text(Stream::Err);
  EXPECT_TRUE(has_line(*k, c.path("services/fifo.toml") + ": not a regular file (a FIFO)")) << k->text(Stream::Err);
  EXPECT_TRUE(has_line(*k, c.path("main") + ": not a regular file: ignored")) << k->text(Stream::Err);
  EXPECT_TRUE(has_line(*k, "envy: failed: cannot start: environment_file " + c.path("env") +
                               ": not a regular file (a FIFO)"))
      << k->text(Stream::Err);
  EXPECT_TRUE(has_line(*k, "outy: failed: cannot start: open stdout file failed: No such device or address"))
      << k->text(Stream::Err);
  EXPECT_TRUE(has_line(*k, "inny: started")) << k->text(Stream::Err);
  // Said by the log writer (service/log_writer.hpp), which names the file.
  EXPECT_TRUE(has_line(*k, "log file " + c.path("app.log") + ": open log file: No such device or address"))
      << k->text(Stream::Err);
  EXPECT_TRUE(poll_until([&] { return c.ctl_status() == 0; }, 10s, 20ms)) << "keelctl gets no answer";
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

// /dev/zero as CONFIG_DIR/main: keel used to hash it, reading forever.
TEST_P(FileSafetyTest, ADeviceAsMainIsRefused) {
  Config c;
  ASSERT_EQ(::symlink("/dev/zero", c.path("main").c_str()), 0);
  c.service("other", "command = [\"/bin/sleep\", \"600\"]\n");
  auto k = c.start(GetParam());
  EXPECT_TRUE(has_line(*k, c.path("main") + ": not a regular file: ignored")) << k->text(Stream::Err);
  EXPECT_TRUE(has_line(*k, "other: started")) << k->text(Stream::Err);
  EXPECT_TRUE(poll_until([&] { return c.ctl_status() == 0; }, 10s, 20ms)) << "keelctl gets no answer";
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

// The service's user links its stdout file to a file only root may write.
TEST_P(FileSafetyTest, AStdoutLinkToARootOnlyFileIsNotWrittenThrough) {
  Config c;
  const uid_t uid = keel::testing::throwaway_uid();
  ASSERT_EQ(::chmod(c.path("").c_str(), 0755), 0);  // the user may enter the folder
  const std::string secret = c.path("secret");
  std::ofstream(secret) << "root only\n";
  ASSERT_EQ(::chmod(secret.c_str(), 0600), 0);
  ASSERT_EQ(::symlink(secret.c_str(), c.path("out.log").c_str()), 0);
  c.service("sneaky", "restart = \"never\"\nuser = " + std::to_string(uid) + "\ngroup = " + std::to_string(uid) +
                          "\nstdout = \"file:" + c.path("out.log") + "\"\ncommand = [\"/bin/sh\", \"-c\", \"echo planted\"]\n");
  auto k = c.start(GetParam());
  EXPECT_TRUE(has_line(*k, "sneaky: failed: cannot start: open stdout file failed: Permission denied"))
      << k->text(Stream::Err);
  EXPECT_EQ(slurp(secret), "root only\n");
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

// A run directory owned by someone else, or writable by others: no
// sockets there (keelctl does not work), but keel runs its services.
TEST_P(FileSafetyTest, ARunDirectorySomeoneElseControlsGetsNoSockets) {
  const uid_t uid = keel::testing::throwaway_uid();
  for (const bool other_owner : {true, false}) {
    Config c;
    const std::string run = c.path("run");
    ASSERT_EQ(::mkdir(run.c_str(), 0755), 0);
    if (other_owner) {
      ASSERT_EQ(::chown(run.c_str(), uid, uid), 0);
    } else {
      ASSERT_EQ(::chmod(run.c_str(), 0777), 0);
    }
    c.service("plain", "command = [\"/bin/sleep\", \"600\"]\n");
    auto k = c.start(GetParam());
    std::string expected = "run directory " + run;
    expected += other_owner ? " is owned by uid " + std::to_string(uid) : " is writable by others (mode 0777)";
    expected += ": refusing to put sockets there";
    EXPECT_TRUE(has_line(*k, expected))
        << k->text(Stream::Err);
    EXPECT_TRUE(has_line(*k, "plain: started")) << k->text(Stream::Err);
    EXPECT_FALSE(fs::exists(c.socket()));
    k->signal(SIGTERM);
    EXPECT_TRUE(k->wait_exit());
  }
}

INSTANTIATE_TEST_SUITE_P(Placements, FileSafetyTest, ::testing::Values(Placement::Subreaper, Placement::Namespace),
                         [](const ::testing::TestParamInfo<Placement>& p) { return std::string(placement_name(p.param)); });

}  // namespace
}  // namespace keel::systest
