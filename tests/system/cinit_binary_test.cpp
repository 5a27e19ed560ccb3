// cinit_binary_test.cpp — keel-cinit, the container-init-only build
// (src/cinit/cinit_main.cpp), driven from outside like keel.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "harness.hpp"

namespace keel::systest {
namespace {

class CinitBinary : public ::testing::TestWithParam<Placement> {
 protected:
  void SetUp() override {
    if (GetParam() == Placement::Namespace && !namespaces_available()) GTEST_SKIP() << "no PID namespaces";
  }
};

// It runs the program and passes its exit status on, as keel does.
TEST_P(CinitBinary, RunsTheProgramAndPassesItsStatusOn) {
  Outcome o = run_through(program_launch(GetParam(), KEEL_CINIT_BINARY, {"--", kProbe, "exit", "7"}));
  ASSERT_TRUE(o.code.has_value());
  EXPECT_EQ(*o.code, 7) << o.err;
}

// Orphans it inherits are reaped while it runs: none is left a zombie.
TEST_P(CinitBinary, ReapsOrphans) {
  KeelRun k(program_launch(GetParam(), KEEL_CINIT_BINARY, {"--", kProbe, "orphans", "200", "--wait"}));
  ASSERT_TRUE(k.started());
  auto done = k.find_line(Stream::Out, "done ");
  ASSERT_TRUE(done.has_value() && *done == "done 200") << k.text(Stream::Out) << k.text(Stream::Err);
  pid_t kp = k.keel_pid();
  ASSERT_GT(kp, 0);
  EXPECT_TRUE(poll_until([&] { return count_zombies(kp) == 0; }, 10s)) << count_zombies(kp) << " zombies left";
  k.close_stdin();
  EXPECT_EQ(k.wait_exit(), 0);
}

// The system role is keel's alone: keel-cinit says so and exits 2.
TEST_P(CinitBinary, RefusesTheSystemRole) {
  Outcome o = run_through(program_launch(GetParam(), KEEL_CINIT_BINARY, {"--role=system"}));
  ASSERT_TRUE(o.code.has_value());
  EXPECT_EQ(*o.code, 2);
  EXPECT_NE(o.err.find("only a container init"), std::string::npos) << o.err;
}

INSTANTIATE_TEST_SUITE_P(Placements, CinitBinary, ::testing::Values(Placement::Subreaper, Placement::Namespace),
                         [](const ::testing::TestParamInfo<Placement>& p) { return placement_name(p.param); });

}  // namespace
}  // namespace keel::systest
