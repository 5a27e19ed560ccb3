// fuzz_util.hpp — small helpers shared by the libFuzzer targets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace keel::fuzz {

// A property the target checks failed: say which, and abort so libFuzzer
// saves the input as a crash.
[[noreturn]] inline void property_failed(const char* what) {
  std::fprintf(stderr, "fuzz property violated: %s\n", what);
  std::abort();
}

// The input split on NUL bytes (a trailing NUL does not add an empty word;
// every other empty word is kept: "" is a real argument).
inline std::vector<std::string> split_nul(std::string_view text) {
  std::vector<std::string> words;
  while (!text.empty()) {
    std::size_t nul = text.find('\0');
    words.emplace_back(text.substr(0, nul));
    if (nul == std::string_view::npos) break;
    text.remove_prefix(nul + 1);
  }
  return words;
}

}  // namespace keel::fuzz
