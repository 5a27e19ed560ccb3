// oom.hpp — allocation failures PID 1 lived through, counted.
//
// keel allocates only at the edges (loading files, answering keelctl), and
// each of those catches std::bad_alloc. What it drops then is one thing:
// one reply, one message, one summary. dropped() counts it and says so on
// keel's log, so a machine short of memory shows why keelctl answered
// "out of memory" or why a line is missing, and a test can tell that the
// failure was seen rather than swallowed.
#pragma once

#include <cstdint>

namespace keel::oom {

// Count one allocation failure and log "out of memory: WHAT (N so far)".
// Never allocates.
void dropped(const char* what) noexcept;

// Allocation failures counted since keel started.
[[nodiscard]] std::uint64_t count() noexcept;

}  // namespace keel::oom
