#include "service/backoff.hpp"

#include <algorithm>

namespace keel::service {

std::int64_t backoff_delay(const BackoffPolicy& policy, int failures, std::uint64_t random) noexcept {
  if (failures < 1) failures = 1;
  std::int64_t first = std::max<std::int64_t>(policy.first_ns, 0);
  std::int64_t cap = std::max(policy.max_ns, first);
  // Double until the cap; stop early so the shift never overflows.
  std::int64_t delay = first;
  for (int i = 1; i < failures && delay < cap; ++i) delay = delay > cap / 2 ? cap : delay * 2;
  delay = std::min(delay, cap);
  // Jitter: take off up to a quarter, so the delay stays within [3/4, 1] of
  // the nominal one and never exceeds the cap.
  std::int64_t spread = delay / 4;
  if (spread > 0) delay -= static_cast<std::int64_t>(random % static_cast<std::uint64_t>(spread + 1));
  return delay;
}

int next_failure_count(const BackoffPolicy& policy, int failures, std::int64_t uptime_ns) noexcept {
  if (uptime_ns >= policy.reset_after_ns) return 1;
  return failures < 1'000'000 ? failures + 1 : failures;
}

}  // namespace keel::service
