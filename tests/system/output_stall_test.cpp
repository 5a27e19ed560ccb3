// keel's own output never blocks (issue 10, part 2): the supervisor with
// its stderr on a device that takes nothing, as PID 1 of a PID namespace and
// as a plain subreaper:
//   * a FIFO nobody reads (it fills at 64 KiB), as a container log pipe
//     nobody reads;
//   * a terminal whose output is stopped (TCOOFF, what Ctrl-S does with
//     IXON), as a serial console held by XOFF.
// With keel logging everything (keel.debug) and a service mirroring a burst
// of lines to the console ([log] console = true), keel must go on: keelctl
// answers, orphans are reaped, a crashing service is restarted. When the
// device takes output again, keel's lines come out whole, followed by the
// count of those it dropped; keelctl status shows the total.
//
// On a keel that writes its lines with a blocking write(2) the first
// keelctl status never answers (run_through's deadline fails the test).
//
// The container init too (ContainerOutputStallTest): an unread log pipe
// must not stop it reaping or exiting with its program.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "harness.hpp"

namespace keel::systest {
namespace {

namespace fs = std::filesystem;

enum class Device { Fifo, StoppedTerminal };

struct Param {
  Placement placement;
  Device device;
};

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  return std::string(placement_name(info.param.placement)) +
         (info.param.device == Device::Fifo ? "UnreadFifo" : "StoppedTerminal");
}

// keel's stderr: the end keel writes to, and the test's end that is not
// read until release().
class StalledDevice {
 public:
  StalledDevice(Device kind, const std::string& dir) : kind_(kind) {
    if (kind == Device::Fifo) {
      std::string path = dir + "/stderr.fifo";
      if (::mkfifo(path.c_str(), 0600) != 0) return;
      // The read end first (non-blocking, so the open does not wait for a
      // writer), then the write end, which then does not wait either.
      read_fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
      keel_fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    } else {
      read_fd_ = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
      if (read_fd_ < 0 || ::grantpt(read_fd_) != 0 || ::unlockpt(read_fd_) != 0) return;
      keel_fd_ = ::open(::ptsname(read_fd_), O_RDWR | O_NOCTTY | O_CLOEXEC);
      if (keel_fd_ < 0) return;
      // Stopped before keel writes its first line.
      if (::tcflow(keel_fd_, TCOOFF) != 0) {
        ::close(keel_fd_);
        keel_fd_ = -1;
      }
      ::fcntl(read_fd_, F_SETFL, O_NONBLOCK);
    }
  }
  ~StalledDevice() {
    if (keel_fd_ >= 0) ::close(keel_fd_);
    if (read_fd_ >= 0) ::close(read_fd_);
  }
  StalledDevice(const StalledDevice&) = delete;
  StalledDevice& operator=(const StalledDevice&) = delete;

  [[nodiscard]] bool ok() const { return keel_fd_ >= 0 && read_fd_ >= 0; }
  [[nodiscard]] int keel_fd() const { return keel_fd_; }

  // The operator presses Ctrl-Q / someone starts reading the pipe.
  void release() {
    if (kind_ == Device::StoppedTerminal) ::tcflow(keel_fd_, TCOON);
  }
  // What the device has for the reader now (a terminal's "\r\n" as "\n").
  std::string read_available() {
    std::string out;
    char buf[65536];
    for (;;) {
      pollfd p{read_fd_, POLLIN, 100};
      if (::poll(&p, 1, 100) <= 0) break;
      ssize_t n = ::read(read_fd_, buf, sizeof buf);
      if (n <= 0) break;
      for (ssize_t i = 0; i < n; ++i) {
        if (buf[i] != '\r') out += buf[i];
      }
    }
    return out;
  }

 private:
  Device kind_;
  int keel_fd_ = -1;
  int read_fd_ = -1;
};

struct Ctl {
  int code = -1;
  std::string out;
  std::string err;
};

class OutputStallTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    if (GetParam().placement == Placement::Namespace && !namespaces_available()) {
      GTEST_SKIP() << "unshare --pid is not available here";
    }
    fs::create_directories(dir_.path() + "/services");
  }
  void TearDown() override { reap_leftovers(); }

  void service(const std::string& name, const std::string& toml) const {
    std::ofstream(dir_.path() + "/services/" + name + ".toml") << toml;
  }

  // keelctl: bounded by run_through's deadline, which fails the test when
  // keel does not answer.
  [[nodiscard]] Ctl ctl(std::vector<std::string> args) const {
    std::vector<std::string> argv{"ctl", "--socket", dir_.path() + "/run/control.sock"};
    argv.insert(argv.end(), args.begin(), args.end());
    Outcome o = run_through(program_launch(Placement::Subreaper, keel_binary(), argv));
    return Ctl{o.code.value_or(-1), o.out, o.err};
  }

  TempDir dir_;
};

// A number after `key` in `text` ("key": N), or -1.
long long json_number(const std::string& text, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("\"" + key + "\": ([0-9]+)"))) return -1;
  return std::stoll(m[1]);
}

// The crasher's restart count in `status --json`, or -1.
long long restarts_of(const std::string& json, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(json, m, std::regex("\"name\": \"" + name + "\"[^}]*\"restarts\": ([0-9]+)"))) return -1;
  return std::stoll(m[1]);
}

TEST_P(OutputStallTest, KeelGoesOnWhileItsConsoleTakesNothingAndCountsWhatItDropped) {
  StalledDevice device(GetParam().device, dir_.path());
  ASSERT_TRUE(device.ok()) << "cannot make the device: " << std::strerror(errno);

  // 4,000 lines of ~90 bytes mirrored to the console: 360 kB, far past the
  // 64 KiB the device holds and keel's own 64 KiB backlog.
  service("chatty",
          "command = [\"/bin/sh\", \"-c\", \"i=0; while [ $i -lt 4000 ]; do "
          "echo \\\"console line $i: padding padding padding padding padding padding padding\\\"; "
          "i=$((i+1)); done; exec sleep 600\"]\n"
          "[log]\nconsole = true\n");
  // A crash loop: supervision must go on (restarted about once a second).
  service("crasher", "command = [\"/bin/sh\", \"-c\", \"exit 3\"]\nrestart = \"always\"\nrestart_delay = 0\n");
  // Started later by keelctl: 50 double-forked orphans for keel to reap.
  service("orphans", std::string("command = [\"") + kProbe +
                         "\", \"orphans\", \"50\"]\n"
                         "restart = \"never\"\n");
  service("idle", "command = [\"/bin/sleep\", \"600\"]\n");

  Launch l = keel_launch(GetParam().placement, {"--role=system"});
  l.set_env = {{"KEEL_CONFIG_DIR", dir_.path()},
               {"KEEL_RUN_DIR", dir_.path() + "/run"},
               {"KEEL_CGROUP_ROOT", "none"},
               {"KEEL_TARGET", "default"},
               // Everything keel can say, on the stalled device.
               {"KEEL_CMDLINE", "keel.debug"}};
  l.stderr_fd = device.keel_fd();
  KeelRun keel(l);
  ASSERT_TRUE(keel.started());
  pid_t keel_pid = keel.keel_pid();
  ASSERT_GT(keel_pid, 0);

  // keelctl answers while the device takes nothing, until keel has had to
  // drop lines (the device and the backlog are full).
  long long lost = -1;
  std::string json;
  ASSERT_TRUE(poll_until(
      [&] {
        Ctl c = ctl({"status", "--json"});
        if (c.code != 0) return false;
        json = c.out;
        lost = json_number(json, "keel_output_lost");
        return lost > 0;
      },
      30s, 100ms))
      << "keel never reported lost output; last status:\n"
      << json;

  // Reaping goes on: the orphans' zombies are gone, and nothing of the
  // orphans service is left.
  Ctl start = ctl({"start", "orphans"});
  EXPECT_EQ(start.code, 0) << start.err;
  EXPECT_TRUE(poll_until(
      [&] {
        Ctl c = ctl({"status", "orphans"});
        return c.out.find("state:       done") != std::string::npos && count_zombies(keel_pid) == 0;
      },
      20s, 50ms))
      << "zombies below keel: " << count_zombies(keel_pid) << "\n"
      << ctl({"status", "orphans"}).out;

  // Supervision goes on: the crasher is restarted.
  long long before = restarts_of(json, "crasher");
  ASSERT_GE(before, 0) << json;
  EXPECT_TRUE(poll_until(
      [&] {
        Ctl c = ctl({"status", "--json"});
        return c.code == 0 && restarts_of(c.out, "crasher") > before;
      },
      20s, 100ms));

  // The device takes output again: keel's lines come out, whole, then the
  // count of those it dropped.
  device.release();
  std::string text;
  std::smatch m;
  const std::regex lost_line("keel: ([0-9]+) lines? of keel's own output lost");
  EXPECT_TRUE(poll_until(
      [&] {
        text += device.read_available();
        return text.find("own output lost") != std::string::npos && std::regex_search(text, m, lost_line);
      },
      30s, 10ms))
      << "no 'lost' line; the last of the output:\n"
      << text.substr(text.size() > 2000 ? text.size() - 2000 : 0);
  if (!m.empty()) {
    EXPECT_GT(std::stoll(m[1]), 0);
  }
  std::size_t at = 0;
  int whole = 0;
  while (true) {
    std::size_t nl = text.find('\n', at);
    if (nl == std::string::npos) break;
    std::string line = text.substr(at, nl - at);
    at = nl + 1;
    // keel's own lines and the mirror's "[chatty] ..." only: a line cut by
    // another, or two run together, would start otherwise.
    EXPECT_TRUE(line.rfind("keel: ", 0) == 0 || line.rfind("[chatty] ", 0) == 0) << "not a whole line: " << line;
    ++whole;
  }
  EXPECT_GT(whole, 100);

  Ctl table = ctl({"status"});
  EXPECT_EQ(table.code, 0);
  EXPECT_TRUE(std::regex_search(table.out, std::regex("keel: [0-9]+ lines? of its own output lost"))) << table.out;
  Ctl final_json = ctl({"status", "--json"});
  EXPECT_GE(json_number(final_json.out, "keel_output_lost"), lost);

  keel.signal(SIGTERM);
  // Shutdown lines go to the device too: keep taking them.
  auto code = keel.try_wait_exit(100ms);
  for (int i = 0; i < 200 && !code; ++i) {
    device.read_available();
    code = keel.try_wait_exit(100ms);
  }
  EXPECT_TRUE(code.has_value()) << "keel did not stop";
}

// The container init: a log pipe the runtime does not read. keel -vv
// writes a line per reaped process; 4,000 double-forked orphans make
// ~180 kB of them, far past the pipe and the backlog. keel must reap them
// all and exit with the program's status; the pipe then holds whole lines.
class ContainerOutputStallTest : public ::testing::TestWithParam<Placement> {
 protected:
  void SetUp() override {
    if (GetParam() == Placement::Namespace && !namespaces_available()) {
      GTEST_SKIP() << "unshare --pid is not available here";
    }
  }
  void TearDown() override { reap_leftovers(); }
};

TEST_P(ContainerOutputStallTest, AnUnreadLogPipeDoesNotStopReapingOrTheExit) {
  TempDir dir;
  StalledDevice device(Device::Fifo, dir.path());
  ASSERT_TRUE(device.ok()) << "cannot make the FIFO: " << std::strerror(errno);
  Launch l = keel_launch(GetParam(), {"-vv", kProbe, "orphans", "4000"});
  l.stderr_fd = device.keel_fd();
  KeelRun keel(l);
  ASSERT_TRUE(keel.started());
  EXPECT_TRUE(saw(keel, Stream::Out, "done 4000", 60s));
  std::optional<int> code = keel.wait_exit(60s);
  ASSERT_TRUE(code.has_value()) << "keel did not exit while its stderr was not read";
  EXPECT_EQ(*code, 0);
  EXPECT_TRUE(leftover_processes().empty()) << "keel left processes behind";
  std::string text = device.read_available();
  EXPECT_GT(text.size(), 60'000U) << "the pipe was never full";
  std::size_t at = 0;
  for (std::size_t nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1) {
    std::string line = text.substr(at, nl - at);
    EXPECT_EQ(line.rfind("keel: ", 0), 0U) << "not a whole line of keel's: " << line;
  }
  EXPECT_EQ(at, text.size()) << "ends inside a line";
}

INSTANTIATE_TEST_SUITE_P(Placements, ContainerOutputStallTest,
                         ::testing::Values(Placement::Subreaper, Placement::Namespace));

INSTANTIATE_TEST_SUITE_P(Devices, OutputStallTest,
                         ::testing::Values(Param{Placement::Subreaper, Device::Fifo},
                                           Param{Placement::Namespace, Device::Fifo},
                                           Param{Placement::Subreaper, Device::StoppedTerminal},
                                           Param{Placement::Namespace, Device::StoppedTerminal}),
                         param_name);

}  // namespace
}  // namespace keel::systest
