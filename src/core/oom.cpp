#include "core/oom.hpp"

#include "core/log.hpp"

namespace keel::oom {

namespace {
std::uint64_t g_count = 0;  // keel is single-threaded
}  // namespace

void dropped(const char* what) noexcept {
  ++g_count;
  log::msg(log::Level::Error, "out of memory: %s (%llu allocation failures so far)", what,
           static_cast<unsigned long long>(g_count));
}

std::uint64_t count() noexcept { return g_count; }

}  // namespace keel::oom
