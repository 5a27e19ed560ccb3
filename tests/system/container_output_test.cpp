// keel.toml log_output / KEEL_LOG_OUTPUT (issue 13, interface I4): every
// service's lines also on keel's own stdout (its stdout lines) and stderr
// (its stderr lines), "web    | TEXT" or one JSON object a line; and a
// reader that takes nothing never stops supervision. keel --role=system as
// a subreaper and as PID 1 of a PID namespace.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
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

class ContainerOutput : public ::testing::TestWithParam<Placement> {
 protected:
  void SetUp() override {
    if (GetParam() == Placement::Namespace && !namespaces_available()) {
      GTEST_SKIP() << "unshare --pid is not available here";
    }
    fs::create_directories(dir_.path() + "/services");
  }
  void TearDown() override { reap_leftovers(); }

  void file(const std::string& name, const std::string& text) const { std::ofstream(dir_.path() + "/" + name) << text; }
  void service(const std::string& name, const std::string& toml) const { file("services/" + name + ".toml", toml); }
  [[nodiscard]] std::string socket() const { return dir_.path() + "/run/control.sock"; }

  [[nodiscard]] Launch launch(const std::vector<std::pair<std::string, std::string>>& env) const {
    Launch l = keel_launch(GetParam(), {"--role=system"});
    l.set_env = {{"KEEL_CONFIG_DIR", dir_.path()}, {"KEEL_RUN_DIR", dir_.path() + "/run"}, {"KEEL_CGROUP_ROOT", "none"}};
    l.set_env.insert(l.set_env.end(), env.begin(), env.end());
    l.unset_env = {"KEEL_LOG_OUTPUT"};
    return l;
  }

  [[nodiscard]] Outcome ctl(std::vector<std::string> args) const {
    std::vector<std::string> argv{"ctl", "--socket", socket()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_through(program_launch(Placement::Subreaper, keel_binary(), argv));
  }

  // Two services writing one line to each stream, then sleeping.
  void talkers() const {
    service("web", "command = [\"/bin/sh\", \"-c\", \"echo web-out; echo web-err >&2; exec sleep 600\"]\n");
    service("worker", "command = [\"/bin/sh\", \"-c\", \"echo 'say \\\"hi\\\"'; echo 'bad\\tthing' >&2; exec sleep 600\"]\n");
  }

  TempDir dir_;
};

TEST_P(ContainerOutput, PrefixedLinesGoToKeelsStdoutAndStderrByStream) {
  talkers();
  KeelRun keel(launch({{"KEEL_LOG_OUTPUT", "prefixed"}}));
  ASSERT_TRUE(keel.started());
  // Padded to "worker", the longest name configured.
  EXPECT_TRUE(saw(keel, Stream::Out, "web    | web-out"));
  EXPECT_TRUE(saw(keel, Stream::Err, "web    | web-err"));
  EXPECT_TRUE(saw(keel, Stream::Out, "worker | say \"hi\""));
  EXPECT_TRUE(saw(keel, Stream::Err, "worker | bad\tthing"));
  // Each on its own stream only.
  EXPECT_FALSE(any_line(keel, Stream::Err, "web    | web-out"));
  EXPECT_FALSE(any_line(keel, Stream::Out, "web    | web-err"));
  // keelctl log is unchanged: I1 lines.
  Outcome log = ctl({"log", "web"});
  EXPECT_NE(log.out.find("Z stdout web-out\n"), std::string::npos) << log.out;
  EXPECT_NE(log.out.find("Z stderr web-err\n"), std::string::npos) << log.out;
  keel.signal(SIGTERM);
  EXPECT_TRUE(keel.wait_exit().has_value());
}

TEST_P(ContainerOutput, JsonFromKeelTomlHasTimeServiceStreamAndEscapedMessage) {
  talkers();
  file("keel.toml", "log_output = \"json\"\n");
  KeelRun keel(launch({}));
  ASSERT_TRUE(keel.started());
  auto json = [&](Stream s, const std::string& tail) {
    return seen(keel, s, [&](const std::string& l) {
      return l.rfind("{\"time\":\"", 0) == 0 && l.ends_with(tail);
    });
  };
  EXPECT_TRUE(json(Stream::Out, R"("service":"web","stream":"stdout","message":"web-out"})"));
  EXPECT_TRUE(json(Stream::Err, R"("service":"web","stream":"stderr","message":"web-err"})"));
  EXPECT_TRUE(json(Stream::Out, R"("service":"worker","stream":"stdout","message":"say \"hi\""})"));
  EXPECT_TRUE(json(Stream::Err, R"("service":"worker","stream":"stderr","message":"bad\u0009thing"})"));
  keel.signal(SIGTERM);
  EXPECT_TRUE(keel.wait_exit().has_value());
}

// The environment wins over keel.toml when valid; an invalid value is named
// with the accepted ones and ignored (keel.toml's value stays).
TEST_P(ContainerOutput, AnInvalidEnvironmentValueIsNamedAndIgnored) {
  talkers();
  file("keel.toml", "log_output = \"prefixed\"\n");
  KeelRun keel(launch({{"KEEL_LOG_OUTPUT", "loud"}}));
  ASSERT_TRUE(keel.started());
  auto complaint = seen(keel, Stream::Err, [](const std::string& l) {
    return l.find("KEEL_LOG_OUTPUT") != std::string::npos && l.find("loud") != std::string::npos;
  });
  ASSERT_TRUE(complaint);
  EXPECT_NE(complaint->find("\"none\", \"prefixed\" or \"json\""), std::string::npos) << *complaint;
  EXPECT_TRUE(saw(keel, Stream::Out, "web    | web-out"));
  keel.signal(SIGTERM);
  EXPECT_TRUE(keel.wait_exit().has_value());
}

// keel's stderr is a FIFO nobody reads while a service floods its stderr
// (copied there by log_output): keel still supervises (a crashing service
// is restarted, keelctl answers, the ring has the latest lines) and stops
// cleanly; what reached the FIFO is whole lines.
TEST_P(ContainerOutput, AnUnreadStderrNeverStopsSupervision) {
  const std::string fifo = dir_.path() + "/stderr.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  const int writer = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(reader, 0);
  ASSERT_GE(writer, 0);
  service("flood", "command = [\"/bin/sh\", \"-c\", \"i=0; while [ $i -lt 20000 ]; do echo flood-line-$i >&2; "
                   "i=$((i+1)); done; echo flood-done; exec sleep 600\"]\n");
  const std::string counter = dir_.path() + "/runs";
  service("crashy", "restart = \"always\"\nrestart_delay = 0.05\ncommand = [\"/bin/sh\", \"-c\", \"echo x >> " +
                        counter + "; exit 1\"]\n");
  Launch l = launch({{"KEEL_LOG_OUTPUT", "prefixed"}});
  l.stderr_fd = writer;
  KeelRun keel(l);
  ASSERT_TRUE(keel.started());
  EXPECT_TRUE(saw(keel, Stream::Out, "flood  | flood-done", 60s));
  Outcome tail;
  ASSERT_TRUE(poll_until(
      [&] {
        tail = ctl({"log", "flood", "-n", "2"});
        return tail.out.find("stderr flood-line-19999\n") != std::string::npos;
      },
      30s, 100ms))
      << tail.out << tail.err;
  // Restarts go on while the FIFO is full.
  std::size_t runs = 0;
  ASSERT_TRUE(poll_until(
      [&] {
        runs = slurp(counter).size() / 2;
        return runs >= 5;
      },
      30s, 50ms))
      << runs;
  Outcome st = ctl({"status", "crashy"});
  EXPECT_EQ(st.code, 0) << st.err;
  keel.signal(SIGTERM);
  // Keep the FIFO unread until keel is gone: its exit must not wait on it.
  EXPECT_TRUE(keel.wait_exit(30s).has_value()) << "keel did not stop while its stderr was not read";
  ::close(writer);
  std::string text;
  char buf[65536];
  for (ssize_t n; (n = ::read(reader, buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
  ::close(reader);
  EXPECT_GT(text.size(), 60'000U) << "the FIFO was never full";
  std::size_t at = 0;
  for (std::size_t nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1) {
    const std::string line = text.substr(at, nl - at);
    EXPECT_TRUE(line.rfind("flood  | flood-line-", 0) == 0 || line.rfind("keel", 0) == 0 ||
                line.rfind("crashy | ", 0) == 0)
        << "not a whole line: " << line;
  }
  EXPECT_EQ(at, text.size()) << "ends inside a line";
}

INSTANTIATE_TEST_SUITE_P(Placements, ContainerOutput, ::testing::Values(Placement::Subreaper, Placement::Namespace),
                         [](const ::testing::TestParamInfo<Placement>& p) { return std::string(placement_name(p.param)); });

}  // namespace
}  // namespace keel::systest
