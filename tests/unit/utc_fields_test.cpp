// utc_fields_test.cpp — log_record::utc_fields, keel's own UTC calendar
// conversion for log stamps (service/log_record.hpp), against glibc's
// gmtime_r on the same seconds.
#include <gtest/gtest.h>

#include <cstdint>
#include <ctime>

#include "service/log_record.hpp"

namespace keel::service {
namespace {

void expect_like_gmtime(std::int64_t seconds) {
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm want{};
  ASSERT_NE(::gmtime_r(&t, &want), nullptr);
  std::tm got{};
  log_record::utc_fields(seconds, got);
  EXPECT_EQ(got.tm_year, want.tm_year) << seconds;
  EXPECT_EQ(got.tm_mon, want.tm_mon) << seconds;
  EXPECT_EQ(got.tm_mday, want.tm_mday) << seconds;
  EXPECT_EQ(got.tm_hour, want.tm_hour) << seconds;
  EXPECT_EQ(got.tm_min, want.tm_min) << seconds;
  EXPECT_EQ(got.tm_sec, want.tm_sec) << seconds;
}

TEST(UtcFields, KnownDates) {
  std::tm t{};
  log_record::utc_fields(0, t);
  EXPECT_EQ(t.tm_year, 70);
  EXPECT_EQ(t.tm_mon, 0);
  EXPECT_EQ(t.tm_mday, 1);
  log_record::utc_fields(951'782'400, t);  // 2000-02-29T00:00:00Z, a leap day of a 400-year leap year
  EXPECT_EQ(t.tm_year, 100);
  EXPECT_EQ(t.tm_mon, 1);
  EXPECT_EQ(t.tm_mday, 29);
  log_record::utc_fields(-1, t);  // 1969-12-31T23:59:59Z
  EXPECT_EQ(t.tm_year, 69);
  EXPECT_EQ(t.tm_mday, 31);
  EXPECT_EQ(t.tm_hour, 23);
  EXPECT_EQ(t.tm_sec, 59);
}

// Every day from 1900 to 2200 at a varying time of day, plus the edges of
// each day: the same fields as gmtime_r.
TEST(UtcFields, SameAsGmtimeOverThreeCenturies) {
  for (std::int64_t day = -25'567; day <= 84'006; ++day) {
    const std::int64_t base = day * 86'400;
    expect_like_gmtime(base);
    expect_like_gmtime(base + 86'399);
    expect_like_gmtime(base + (day * 7919) % 86'400);
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace keel::service
