// Service log files are written by keel's log writer, not by PID 1
// (service/log_writer_link.hpp): a frozen log filesystem stalls neither
// keelctl, nor reaping, nor restarts, and after the thaw every line is in
// the file in order or counted by a marker in its place; a writer killed
// while a service logs is restarted and loses no line.
//
// The frozen filesystem is a real one: an ext4 image on a loop device,
// frozen with fsfreeze. The guards always thaw and unmount, in that order,
// before anything else is torn down (a frozen mount left behind would hang
// every process on the machine that touches it).
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"

namespace keel::systest {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool run_tool(const std::vector<std::string>& argv) {
  Outcome o = run_through(program_launch(Placement::Subreaper, argv[0],
                                         std::vector<std::string>(argv.begin() + 1, argv.end())));
  return o.code == 0;
}

// An ext4 image mounted on DIR/mnt for the test's lifetime.
class LoopMount {
 public:
  explicit LoopMount(const std::string& dir) : image_(dir + "/log.img"), mnt_(dir + "/mnt") {
    fs::create_directories(mnt_);
    if (!run_tool({"/usr/bin/truncate", "-s", "32M", image_})) return;
    if (!run_tool({"/usr/sbin/mkfs.ext4", "-q", "-F", image_})) return;
    mounted_ = run_tool({"/usr/bin/mount", "-o", "loop", image_, mnt_});
  }
  ~LoopMount() {
    if (!mounted_) return;
    (void)run_tool({"/usr/sbin/fsfreeze", "-u", mnt_});  // harmless when not frozen
    // Lazily if something still holds it: the loop device goes with it.
    if (::umount2(mnt_.c_str(), 0) != 0) (void)::umount2(mnt_.c_str(), MNT_DETACH);
  }
  LoopMount(const LoopMount&) = delete;
  LoopMount& operator=(const LoopMount&) = delete;
  [[nodiscard]] bool mounted() const { return mounted_; }
  [[nodiscard]] const std::string& path() const { return mnt_; }

 private:
  std::string image_;
  std::string mnt_;
  bool mounted_ = false;
};

// Frozen from freeze() to its destruction (or thaw()). Declared after the
// KeelRun, so it thaws before keel is killed and reaped: a process waiting
// on a frozen filesystem cannot die.
class Freeze {
 public:
  explicit Freeze(std::string mnt) : mnt_(std::move(mnt)) {}
  ~Freeze() { thaw(); }
  Freeze(const Freeze&) = delete;
  Freeze& operator=(const Freeze&) = delete;
  bool freeze() { return frozen_ = run_tool({"/usr/sbin/fsfreeze", "-f", mnt_}); }
  void thaw() {
    if (frozen_) (void)run_tool({"/usr/sbin/fsfreeze", "-u", mnt_});
    frozen_ = false;
  }

 private:
  std::string mnt_;
  bool frozen_ = false;
};

struct Ctl {
  int code = -1;
  std::string out;
};

class LogWriterTest : public ::testing::TestWithParam<Placement> {
 protected:
  void SetUp() override {
    if (GetParam() == Placement::Namespace && !namespaces_available()) {
      GTEST_SKIP() << "unshare --pid is not available here";
    }
    fs::create_directories(dir_.path() + "/services");
  }

  void service(const std::string& name, const std::string& toml) const {
    std::ofstream(dir_.path() + "/services/" + name + ".toml") << toml;
  }
  [[nodiscard]] std::string path(const std::string& rel) const { return dir_.path() + "/" + rel; }

  std::unique_ptr<KeelRun> start() const {
    Launch l = keel_launch(GetParam(), {"--role=system"});
    l.set_env = {{"KEEL_CONFIG_DIR", dir_.path()}, {"KEEL_RUN_DIR", dir_.path() + "/run"}, {"KEEL_CGROUP_ROOT", "none"}};
    return std::make_unique<KeelRun>(l);
  }

  // keelctl, bounded: a keel that does not answer within 5 s fails the
  // call (exit 124 from timeout(1)) rather than the whole test's deadline.
  Ctl ctl(std::vector<std::string> args) const {
    std::vector<std::string> argv{"5", keel_binary(), "ctl", "--socket", dir_.path() + "/run/control.sock"};
    argv.insert(argv.end(), args.begin(), args.end());
    Outcome o = run_through(program_launch(Placement::Subreaper, "/usr/bin/timeout", argv));
    return Ctl{o.code.value_or(-1), o.out};
  }

  bool control_up() const {
    return poll_until([&] { return ctl({"status"}).code == 0; }, 10s, 20ms);
  }

  // "restarts:    N" of `keelctl status NAME`; -1 when not answered.
  long restarts(const std::string& name) const { return detail_number(name, "restarts:"); }
  // "log dropped: N lines"; 0 when the line is absent.
  long dropped(const std::string& name) const {
    long n = detail_number(name, "log dropped:");
    return n < 0 ? 0 : n;
  }
  long detail_number(const std::string& name, const std::string& key) const {
    Ctl c = ctl({"status", name});
    if (c.code != 0) return -1;
    std::size_t at = c.out.find(key);
    if (at == std::string::npos) return -1;
    return std::stol(c.out.substr(at + key.size()));
  }

  TempDir dir_;
};

// A service script: waits for GO, writes "seq 1".."seq N" (a batch of
// BATCH lines, then a pause of PAUSE s), waits for END, writes "seq N+1".
std::string seq_script(const std::string& go, const std::string& end, int n, int batch, const char* pause) {
  return "#!/bin/sh\n"
         "while [ ! -e " + go + " ]; do sleep 0.02; done\n"
         "i=1; while [ $i -le " + std::to_string(n) + " ]; do echo \"seq $i\";"
         " [ $((i % " + std::to_string(batch) + ")) -eq 0 ] && sleep " + pause + "; i=$((i+1)); done\n"
         "while [ ! -e " + end + " ]; do sleep 0.02; done\n"
         "echo \"seq $i\"\nexec sleep 600\n";
}

// The file's lines in order: every "seq I" with I the next expected, each
// marker "[keel: N lines lost: ...]" accounting for exactly N missing
// numbers, up to `total`. Duplicates of the previous number are allowed up
// to `duplicates_allowed` (a writer killed between its write and taking the
// record off the socket writes that record again). Returns "" when the
// file is right, else what is wrong; `markers` gets the sum.
std::string check_sequence(const std::string& text, int total, int duplicates_allowed, long& markers) {
  std::istringstream in(text);
  static const std::regex kSeq(R"(^\S+Z stdout seq (\d+)$)");
  static const std::regex kMarker(R"(^\S+Z keel \[keel: (\d+) lines lost: log writer not keeping up\]$)");
  long expected = 1;
  int duplicates = 0;
  markers = 0;
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    std::smatch m;
    if (std::regex_match(line, m, kSeq)) {
      long i = std::stol(m[1]);
      if (i == expected - 1 && ++duplicates <= duplicates_allowed) continue;
      if (i != expected) {
        return "line " + std::to_string(line_no) + ": seq " + std::to_string(i) + " where " +
               std::to_string(expected) + " was due";
      }
      ++expected;
    } else if (std::regex_match(line, m, kMarker)) {
      markers += std::stol(m[1]);
      expected += std::stol(m[1]);
    } else {
      return "line " + std::to_string(line_no) + " unexpected: " + line;
    }
  }
  if (expected != total + 1) return "the file accounts for " + std::to_string(expected - 1) + " of " +
                                    std::to_string(total) + " lines";
  return "";
}

// For a failure: keel's last messages and the file's last lines.
std::string diagnosis(KeelRun& k, const std::string& file) {
  std::string out = "keel's last messages:\n";
  std::vector<std::string> lines;
  for (const std::string& l : k.lines(Stream::Err)) {
    if (l.find("crasher") == std::string::npos && l.find("orphans") == std::string::npos) lines.push_back(l);
  }
  for (std::size_t i = lines.size() > 20 ? lines.size() - 20 : 0; i < lines.size(); ++i) out += lines[i] + "\n";
  for (const ProcEntry& p : proc_table()) {
    std::string cmd = slurp("/proc/" + std::to_string(p.pid) + "/cmdline");
    if (cmd.find("--log-writer") == std::string::npos) continue;
    out += "writer " + std::to_string(p.pid) + " state " + p.state + " wchan " +
           slurp("/proc/" + std::to_string(p.pid) + "/wchan") + "\n";
  }
  std::string text = slurp(file);
  out += "the file's end:\n" + text.substr(text.size() > 600 ? text.size() - 600 : 0);
  return out;
}

// ---------------------------------------------------------------- frozen

TEST_P(LogWriterTest, AFrozenLogFilesystemStallsNeitherKeelctlNorReapingNorRestarts) {
  LoopMount mount(dir_.path());
  ASSERT_TRUE(mount.mounted()) << "mount -o loop failed (no loop devices here?)";
  constexpr int kLines = 6000;  // more than the socket and the queue hold: some are dropped
  const std::string file = mount.path() + "/seq.log";
  const std::string go = path("go");
  const std::string end = path("end");
  const std::string script = path("seq.sh");
  std::ofstream(script) << seq_script(go, end, kLines, 500, "0.01");
  ::chmod(script.c_str(), 0755);
  service("seq", "command = [\"" + script + "\"]\n[log]\nfile = \"" + file + "\"\nring_size = 1048576\n");
  // Orphans: each round a background sleep whose parent exits at once, so
  // it is re-parented to keel; its pid goes to a file off the frozen mount.
  const std::string orphans = path("orphans");
  service("orphans", "command = [\"/bin/sh\", \"-c\", \"while :; do sh -c 'sleep 0.05 & echo $! >> " + orphans +
                         "'; sleep 0.1; done\"]\n");
  service("crasher", "command = [\"/bin/sh\", \"-c\", \"sleep 0.1; exit 1\"]\nrestart = \"always\"\n"
                     "restart_delay = 0.05\n[log]\nfile = \"" + mount.path() + "/crasher.log\"\n");
  auto k = start();
  Freeze freeze(mount.path());  // after k: thawed first, whatever happens
  ASSERT_TRUE(control_up());
  // The writer has opened the crasher's file by now (it runs; an empty
  // line is not logged, so the first line is the seq service's).
  ASSERT_TRUE(freeze.freeze());

  std::ofstream(go) << "go\n";
  // PID 1 captures every line while the file cannot be written: the ring
  // (keelctl log) has the last one.
  ASSERT_TRUE(poll_until([&] {
    Ctl c = ctl({"log", "seq", "-n", "1"});
    return c.out.find("seq " + std::to_string(kLines)) != std::string::npos;
  }, 30s, 50ms)) << "keel did not capture every line while the log filesystem was frozen";

  // keelctl answers (each call within 5 s), the crasher keeps restarting,
  // and orphans made now are reaped.
  const long before = restarts("crasher");
  ASSERT_GE(before, 0) << "keelctl status did not answer while the log filesystem was frozen";
  const std::size_t orphans_before = slurp(orphans).size();
  ASSERT_TRUE(poll_until([&] { return restarts("crasher") >= before + 3; }, 10s, 50ms))
      << "the crasher did not restart while the log filesystem was frozen";
  ASSERT_TRUE(poll_until([&] {
    std::istringstream in(slurp(orphans).substr(orphans_before));
    int reaped = 0;
    for (std::string pid; std::getline(in, pid);) {
      // In the namespace placement these are namespace pids: look them up
      // through keel's namespace.
      pid_t host = k->host_pid(std::stoi(pid));
      if (host < 0 || !pid_exists(host)) ++reaped;
    }
    return reaped >= 3;
  }, 10s, 50ms)) << "orphans were not reaped while the log filesystem was frozen";
  Ctl st = ctl({"status", "seq"});
  ASSERT_EQ(st.code, 0);

  freeze.thaw();
  std::ofstream(end) << "end\n";
  const std::string last = "seq " + std::to_string(kLines + 1);
  ASSERT_TRUE(poll_until([&] { return ctl({"log", "seq", "-n", "1"}).out.find(last) != std::string::npos; }, 30s, 50ms));
  // Every line is captured: the count is final.
  const long dropped_lines = dropped("seq");
  // The shutdown gives the writer everything (a gap at the very end is
  // told by the service's close record) before keel exits.
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
  long markers = 0;
  const std::string text = slurp(file);
  EXPECT_EQ(check_sequence(text, kLines + 1, 0, markers), "") << diagnosis(*k, file);
  // What the markers count is what keelctl status counted.
  EXPECT_EQ(markers, dropped_lines);
  RecordProperty("dropped_while_frozen", std::to_string(markers));
}

// ---------------------------------------------------------------- killed

TEST_P(LogWriterTest, AWriterKilledWhileAServiceLogsIsRestartedAndLosesNoLine) {
  constexpr int kLines = 4000;  // 40 batches of 100 lines, 50 ms apart: about 2 s of logging
  const std::string file = path("seq.log");
  const std::string go = path("go");
  const std::string end = path("end");
  const std::string script = path("seq.sh");
  std::ofstream(script) << seq_script(go, end, kLines, 100, "0.05");
  ::chmod(script.c_str(), 0755);
  service("seq", "command = [\"" + script + "\"]\n[log]\nfile = \"" + file + "\"\n");
  auto k = start();
  ASSERT_TRUE(control_up());
  const pid_t keel = k->keel_pid();
  auto writer = [&]() -> pid_t {
    for (const ProcEntry& p : proc_table()) {
      if (p.ppid != keel) continue;
      std::string cmd = slurp("/proc/" + std::to_string(p.pid) + "/cmdline");
      if (cmd.find("--log-writer") != std::string::npos) return p.pid;
    }
    return -1;
  };
  std::ofstream(go) << "go\n";
  constexpr int kKills = 3;
  pid_t last = -1;
  for (int i = 0; i < kKills; ++i) {
    pid_t w = -1;
    ASSERT_TRUE(poll_until([&] {
      w = writer();
      return w > 0 && w != last;
    }, 10s)) << "no (new) log writer after kill " << i;
    ASSERT_EQ(::kill(w, SIGKILL), 0);
    last = w;
    ASSERT_TRUE(seen(*k, Stream::Err, [](const std::string& l) {
      return l.find("log writer (pid") != std::string::npos && l.find("killed by SIGKILL") != std::string::npos;
    }));
  }
  // Still logging when the last kill came (else the test proved nothing).
  Ctl tail = ctl({"log", "seq", "-n", "1"});
  EXPECT_EQ(tail.out.find("seq " + std::to_string(kLines)), std::string::npos) << "the service finished too early";
  std::ofstream(end) << "end\n";
  const std::string final_line = " seq " + std::to_string(kLines + 1) + "\n";
  ASSERT_TRUE(poll_until([&] { return slurp(file).find(final_line) != std::string::npos; }, 30s, 50ms))
      << "the last line never reached the file\n" << diagnosis(*k, file);
  long markers = 0;
  EXPECT_EQ(check_sequence(slurp(file), kLines + 1, kKills, markers), "");
  EXPECT_EQ(markers, 0) << "lines were dropped";
  EXPECT_EQ(dropped("seq"), 0);
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

INSTANTIATE_TEST_SUITE_P(Placements, LogWriterTest, ::testing::Values(Placement::Subreaper, Placement::Namespace),
                         [](const ::testing::TestParamInfo<Placement>& p) { return std::string(placement_name(p.param)); });

}  // namespace
}  // namespace keel::systest
