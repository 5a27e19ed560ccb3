// Back-off arithmetic: doubling from the first delay to the cap, jitter
// bounds, and the failure counter's reset after a long enough run.
#include <gtest/gtest.h>

#include <cstdint>

#include "service/backoff.hpp"

namespace keel::service {
namespace {

constexpr std::int64_t kMs = 1'000'000;

TEST(ServiceBackoff, DoublesFromTheFirstDelayToTheCap) {
  BackoffPolicy p{100 * kMs, 1000 * kMs, 60'000 * kMs};
  EXPECT_EQ(backoff_delay(p, 1, 0), 100 * kMs);
  EXPECT_EQ(backoff_delay(p, 2, 0), 200 * kMs);
  EXPECT_EQ(backoff_delay(p, 3, 0), 400 * kMs);
  EXPECT_EQ(backoff_delay(p, 4, 0), 800 * kMs);
  EXPECT_EQ(backoff_delay(p, 5, 0), 1000 * kMs);
  EXPECT_EQ(backoff_delay(p, 1'000'000, 0), 1000 * kMs);  // no overflow
  EXPECT_EQ(backoff_delay(p, 0, 0), 100 * kMs);           // treated as the first
}

TEST(ServiceBackoff, JitterTakesOffAtMostAQuarter) {
  BackoffPolicy p{100 * kMs, 1000 * kMs, 60'000 * kMs};
  std::int64_t lowest = INT64_MAX, highest = 0;
  for (std::uint64_t r = 0; r < 5000; ++r) {
    std::int64_t d = backoff_delay(p, 3, r * 2654435761ULL);
    lowest = std::min(lowest, d);
    highest = std::max(highest, d);
  }
  EXPECT_GE(lowest, 300 * kMs);
  EXPECT_LE(highest, 400 * kMs);
  EXPECT_LT(lowest, 310 * kMs);  // the spread is really used
  EXPECT_EQ(backoff_delay(p, 9, UINT64_MAX), backoff_delay(p, 9, UINT64_MAX));
  EXPECT_LE(backoff_delay(p, 9, UINT64_MAX), 1000 * kMs);
}

TEST(ServiceBackoff, ZeroAndInvertedPolicies) {
  EXPECT_EQ(backoff_delay(BackoffPolicy{0, 0, 0}, 5, 123), 0);
  // A cap below the first delay: the first delay wins (the parser rejects
  // this, the arithmetic still stays sane).
  EXPECT_EQ(backoff_delay(BackoffPolicy{500 * kMs, 100 * kMs, 0}, 4, 0), 500 * kMs);
}

TEST(ServiceBackoff, FailureCountResetsAfterAStableRun) {
  BackoffPolicy p{100 * kMs, 1000 * kMs, 10'000 * kMs};
  EXPECT_EQ(next_failure_count(p, 0, 5 * kMs), 1);
  EXPECT_EQ(next_failure_count(p, 4, 9'999 * kMs), 5);
  EXPECT_EQ(next_failure_count(p, 4, 10'000 * kMs), 1);
}

// Counters and delays at their limits: the failure count stops at
// 1,000,000 (never overflows, whatever it is given), and the longest delays a
// file may give (one year: limits::kMaxDurationSeconds) double without
// overflow.
TEST(ServiceBackoff, CountsAndDelaysAtTheirLimitsDoNotOverflow) {
  BackoffPolicy p{100 * kMs, 1000 * kMs, 60'000 * kMs};
  EXPECT_EQ(next_failure_count(p, 999'999, 0), 1'000'000);
  EXPECT_EQ(next_failure_count(p, 1'000'000, 0), 1'000'000);
  EXPECT_EQ(next_failure_count(p, INT32_MAX, 0), INT32_MAX);
  constexpr std::int64_t kYear = std::int64_t{31'536'000} * 1'000'000'000;
  BackoffPolicy longest{kYear, kYear, kYear};
  EXPECT_EQ(backoff_delay(longest, INT32_MAX, 0), kYear);
  const std::int64_t jittered = backoff_delay(longest, INT32_MAX, UINT64_MAX);
  EXPECT_LE(jittered, kYear);
  EXPECT_GE(jittered, kYear - kYear / 4);
  BackoffPolicy half{kYear / 2 + 1, kYear, kYear};
  EXPECT_EQ(backoff_delay(half, 2, 0), kYear);  // doubling past the cap stops at it
}

}  // namespace
}  // namespace keel::service
