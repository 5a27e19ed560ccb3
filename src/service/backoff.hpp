// backoff.hpp — when to restart a service that keeps failing.
//
// Exponential back-off with jitter: the n-th consecutive failure waits
// first * 2^(n-1), capped at `max`, then a random part of up to a quarter
// of that is taken off so services that failed together (a shared
// dependency went away) do not come back in lockstep. The failure count
// resets once the service has stayed up for `reset_after`. A service that
// crash-loops therefore costs one fork+exec per `max` interval once the
// cap is reached: almost no CPU.
//
// Pure arithmetic on integers (nanoseconds), no clock and no randomness of
// its own: the caller passes both, so tests can drive it exactly.
#pragma once

#include <cstdint>

namespace keel::service {

struct BackoffPolicy {
  std::int64_t first_ns = 100'000'000;
  std::int64_t max_ns = 30'000'000'000;
  std::int64_t reset_after_ns = 60'000'000'000;
};

// The delay before restart number `failures` (1 = the first failure).
// `random` is any 64-bit value (uniform); 0 gives the delay without jitter.
[[nodiscard]] std::int64_t backoff_delay(const BackoffPolicy& policy, int failures, std::uint64_t random) noexcept;

// The failure count after a run that lasted `uptime_ns` and then failed:
// a long enough run starts the count again at 1.
[[nodiscard]] int next_failure_count(const BackoffPolicy& policy, int failures, std::int64_t uptime_ns) noexcept;

}  // namespace keel::service
