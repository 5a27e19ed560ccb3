// skip_policy_test.cpp — the fixture of the skip policy's own ctest checks.
//
// These tests skip only when KEEL_SKIP_POLICY_SELFTEST=1; otherwise they
// pass at once. tests/CMakeLists.txt runs them with it set, under and
// without KEEL_FAIL_ON_SKIP=1, and checks what tests/common/gtest_main.cpp
// makes of the skip: a failure, an allowed skip, a plain skip.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

namespace {

bool selftest() {
  const char* v = std::getenv("KEEL_SKIP_POLICY_SELFTEST");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

TEST(SkipPolicySelfTest, Skips) {
  if (selftest()) GTEST_SKIP() << "the skip policy's self-test";
}

// Listed in tests/skip-allowlist.txt.
TEST(SkipPolicySelfTest, AllowedSkip) {
  if (selftest()) GTEST_SKIP() << "the skip policy's self-test";
}

}  // namespace
