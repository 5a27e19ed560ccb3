// loader_fuzz.cpp — libFuzzer target: the configuration loader's answer as
// PID 1 reads it from the pipe (decode_loaded), from a child that may have
// been corrupted or killed half-way.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.hpp"
#include "system/config_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  keel::Loaded loaded;
  std::string problem;
  if (keel::decode_loaded(bytes, loaded, problem)) {
    if (!problem.empty()) keel::fuzz::property_failed("decoded, yet a problem was given");
    // No value is read two ways: what was accepted encodes back to exactly it.
    if (keel::encode_loaded(loaded) != bytes) keel::fuzz::property_failed("decoded bytes do not re-encode the same");
  } else if (problem.empty()) {
    keel::fuzz::property_failed("refused without a reason");
  }
  return 0;
}
