// config_codec.hpp — the loader's answer to PID 1, as bytes.
//
// The configuration loader (system/config_loader.hpp) parses keel.toml and
// the service files in a child and hands PID 1 what they say in this
// compact form: little-endian fixed-size numbers, strings and lists with a
// 32-bit length or count in front, enums as one byte. It crosses a process
// boundary from a child that may have been corrupted or killed half-way
// (that is why it is a child), so decoding trusts nothing: every length is
// checked against the bytes left before anything is reserved or copied,
// every enum against its range, a service name against the rules of
// valid_service_name(), and anything left over is an error. A problem is
// an error value with the offset where it was found, never a crash.
//
// Errors in the files travel as ConfigError (file, line, key, message), so
// PID 1 logs and shows them as the parser wrote them ("web.toml:4: ...").
//
// Encoding and decoding allocate (an edge of PID 1): std::bad_alloc may be
// thrown, nothing else.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "service/config.hpp"
#include "system/keel_config.hpp"

namespace keel {

// What one loader run found; each part is present when it was asked for.
struct Loaded {
  std::optional<KeelConfigResult> keel;
  std::optional<service::LoadResult> services;
};

[[nodiscard]] std::string encode_loaded(const Loaded& loaded);

// `problem` is empty on success; else what was wrong and where ("truncated
// at byte 812", "bad enum value 9 at byte 40"), and `out` is unspecified.
[[nodiscard]] bool decode_loaded(std::string_view bytes, Loaded& out, std::string& problem);

}  // namespace keel
