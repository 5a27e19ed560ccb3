// builtin.hpp — services keel provides itself, with no file.
//
//   rng-ready  done once the kernel's random number generator is
//              initialised. A service that needs randomness early (Python
//              blocks at start-up until then) writes
//              `requires = ["rng-ready"]` and waits for it while everything
//              else starts at once. It is a oneshot running keel itself as
//              `keel --rng-wait`: a separate program that asks the kernel for
//              one random byte and may block doing so — which is also what
//              makes a kernel without a fast entropy source (Linux 5.18+,
//              e.g. a VM with no RDRAND and no virtio-rng) run its jitter
//              entropy generator and become ready in about a second. PID 1
//              itself never blocks on the RNG.
//
// The supervisor adds them beside the loaded files (a file of the same name
// is ignored); keel-image's build-time check knows them too, so a
// dependency on one is not "missing".
#pragma once

#include <string_view>
#include <vector>

#include "service/config.hpp"

namespace keel::service {

inline constexpr std::string_view kRngReady = "rng-ready";
// The `file` of a built-in service.
inline constexpr std::string_view kBuiltinFile = "(built in)";
// keel's argument for the rng-ready helper (src/main.cpp).
inline constexpr std::string_view kRngWaitArg = "--rng-wait";

[[nodiscard]] std::vector<ServiceConfig> builtin_services();

// `keel --rng-wait`: block until the kernel's RNG is initialised; exit 0.
[[nodiscard]] int run_rng_wait() noexcept;

}  // namespace keel::service
