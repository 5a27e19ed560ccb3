// What keel writes on its console before the main program starts (issue
// 14, section 5: every line written before CONFIG_DIR/main is spawned
// delays its first line; docs/benchmarks.md, "Issue 14: Python"), and the
// boot's event order around the main program. The real keel in the system
// role, as PID 1 of a fresh PID namespace and as a plain subreaper, with a
// CONFIG_DIR/main and nothing else. The host's RNG is ready, so keel finds
// it ready at start. Asserts lines and event order, never a time.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "harness.hpp"

namespace keel::systest {
namespace {

namespace fs = std::filesystem;

class MainOnly {
 public:
  MainOnly() {
    const std::string main = dir_.path() + "/main";
    std::ofstream(main) << "#!/bin/sh\necho main-says-hello\nexec sleep 600\n";
    fs::permissions(main, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
  }

  [[nodiscard]] std::unique_ptr<KeelRun> start(Placement placement,
                                               const std::vector<std::pair<std::string, std::string>>& env = {}) const {
    Launch l = keel_launch(placement, {"--role=system"});
    l.set_env = {
        {"KEEL_CONFIG_DIR", dir_.path()}, {"KEEL_RUN_DIR", dir_.path() + "/run"}, {"KEEL_CGROUP_ROOT", "none"}};
    for (const auto& e : env) l.set_env.push_back(e);
    return std::make_unique<KeelRun>(l);
  }

  // `keelctl events --json --since-boot --no-follow`: the boot's events.
  [[nodiscard]] Outcome replay() const {
    return run_through(program_launch(
        Placement::Subreaper, keel_binary(),
        {"ctl", "--socket", dir_.path() + "/run/control.sock", "events", "--json", "--since-boot", "--no-follow"}));
  }

 private:
  TempDir dir_;
};

// The index of the first line of `lines` holding every one of `parts`; -1 if none.
int index_of(const std::vector<std::string>& lines, const std::vector<std::string>& parts) {
  for (std::size_t i = 0; i < lines.size(); ++i) {
    bool all = true;
    for (const std::string& p : parts) all = all && lines[i].find(p) != std::string::npos;
    if (all) return static_cast<int>(i);
  }
  return -1;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

bool is_summary(const std::string& l) { return l.find("started every service in") != std::string::npos; }

class BootLines : public ::testing::TestWithParam<Placement> {
 protected:
  void SetUp() override {
    if (GetParam() == Placement::Namespace && !namespaces_available()) {
      GTEST_SKIP() << "unshare --pid is not available here";
    }
  }
  void TearDown() override { reap_leftovers(); }
};

// An RNG ready at start is said once, in the boot summary, not in a line of
// its own before the main program; the rng-ready event is still recorded,
// and the boot's events come in their order: the configuration, the RNG,
// then the main program, then the target.
TEST_P(BootLines, AnRngReadyAtStartIsInTheSummaryOnlyAndTheEventsKeepTheirOrder) {
  MainOnly m;
  auto k = m.start(GetParam());
  auto summary = seen(*k, Stream::Err, is_summary);
  ASSERT_TRUE(summary) << k->text(Stream::Err);
  EXPECT_NE(summary->find("rng ready at start"), std::string::npos) << *summary;
  ASSERT_TRUE(saw(*k, Stream::Out, "main-says-hello")) << k->text(Stream::Out);
  // Everything before the summary is on the console by now.
  EXPECT_EQ(k->text(Stream::Err).find("the kernel's RNG is ready"), std::string::npos) << k->text(Stream::Err);

  Outcome r{};
  std::vector<std::string> events;
  ASSERT_TRUE(poll_until(
      [&] {
        r = m.replay();
        events = lines_of(r.out);
        return r.code == 0 && index_of(events, {R"("event":"target-reached")"}) >= 0;
      },
      10s, 50ms))
      << r.out << r.err;
  const int config = index_of(events, {R"("event":"boot-step")", R"("step":"config")"});
  const int rng = index_of(events, {R"("event":"rng-ready")"});
  const int starting = index_of(events, {R"("event":"starting")", R"("service":"main")"});
  const int started = index_of(events, {R"("event":"started")", R"("service":"main")"});
  const int target = index_of(events, {R"("event":"target-reached")"});
  ASSERT_GE(config, 0) << r.out;
  ASSERT_GE(rng, 0) << r.out;
  ASSERT_GE(starting, 0) << r.out;
  EXPECT_LT(config, rng) << r.out;
  EXPECT_LT(rng, starting) << r.out;
  EXPECT_LT(starting, started) << r.out;
  EXPECT_LT(started, target) << r.out;
}

// keel.debug still shows the line.
TEST_P(BootLines, KeelDebugShowsTheRngReadyAtStartLine) {
  MainOnly m;
  auto k = m.start(GetParam(), {{"KEEL_CMDLINE", "keel.debug"}});
  ASSERT_TRUE(seen(*k, Stream::Err, is_summary)) << k->text(Stream::Err);
  EXPECT_NE(k->text(Stream::Err).find("the kernel's RNG is ready (at start)"), std::string::npos)
      << k->text(Stream::Err);
}

INSTANTIATE_TEST_SUITE_P(Placements, BootLines, ::testing::Values(Placement::Subreaper, Placement::Namespace),
                         [](const ::testing::TestParamInfo<Placement>& p) {
                           return std::string(placement_name(p.param));
                         });

}  // namespace
}  // namespace keel::systest
