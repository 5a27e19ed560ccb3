// probe_main.hpp — keel's probe role (`keel --probe KIND TARGET NUMBER`):
// one run of a tcp, http or file probe, in a child of PID 1
// (service/probe.hpp starts it; probe_main.cpp says what each kind does).
#pragma once

#include <string_view>

namespace keel::service {

inline constexpr std::string_view kProbeArg = "--probe";

// The exit status: 0 passed, 1 failed, 2 bad arguments. One line on stdout
// says what was seen.
[[nodiscard]] int run_probe(int argc, char** argv) noexcept;

}  // namespace keel::service
