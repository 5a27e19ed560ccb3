// toml_reader.hpp — reading a TOML table key by key, with file:line errors.
//
// Shared by the two TOML files keel itself reads: service files
// (service/config.cpp) and keel.toml (system/keel_config.cpp). A reader walks
// a parsed toml++ table with a fixed list of known keys per table, turns each
// value into a C++ value checking type and range, and records every problem
// as a ConfigError (file, line of the key or array element, dotted key,
// message) instead of stopping, so a user fixes a file in one pass. Unknown
// keys get the closest known one ("did you mean 'restart'?").
//
// It is also where toml++ is included, with the settings that keep it small
// in a static PID 1.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "service/config.hpp"
#include "service/toml_guard.hpp"

// toml++ header-only whatever the installed package says (its CMake target
// asks for the shared library, which a static binary cannot link), without
// the printers, and with std::from_chars/to_chars for floats: toml++ assumes
// GCC lacks them (true before GCC 11) and falls back to a stringstream, and
// that stringstream and the printers are what pull iostream and locale into
// the static keel (measured: +758 KB over keel without a parser; +168 KB
// with these settings). In header-only mode toml++'s internals are inline
// functions shared by every file that includes it, so these settings should
// be the same for all of them; CMake may give them, and then wins here.
#undef TOML_HEADER_ONLY
#undef TOML_SHARED_LIB
#define TOML_HEADER_ONLY 1
#define TOML_SHARED_LIB 0
#ifndef TOML_ENABLE_FORMATTERS
#define TOML_ENABLE_FORMATTERS 0
#endif
#ifndef TOML_ENABLE_WINDOWS_COMPAT
#define TOML_ENABLE_WINDOWS_COMPAT 0
#endif
#ifndef TOML_FLOAT_CHARCONV
#define TOML_FLOAT_CHARCONV 1
#endif
// Exceptions on, as keel-image builds toml++ (so both share one ABI
// namespace, toml::ex): measured in the static keel, 4 KB smaller than
// TOML_EXCEPTIONS=0 with parse_result. The only exception caught is
// toml::parse_error, in parse_service.
#ifndef KEEL_TOML_EXCEPTIONS
#define KEEL_TOML_EXCEPTIONS 1
#endif
#undef TOML_EXCEPTIONS
#define TOML_EXCEPTIONS KEEL_TOML_EXCEPTIONS
#include <toml++/toml.h>

namespace keel::service {

// Generic helpers (also used by the readers' callers).
std::size_t edit_distance(std::string_view a, std::string_view b);
std::string q(std::string_view s);  // 'text', for messages
int line_of(const toml::node& n);
const char* type_name(const toml::node& n);  // "a string", "an integer", ...
bool is_absolute_path(std::string_view p);
std::string lower(std::string_view s);
// "65536", "64K", "1M", "2G" (binary multiples, case-insensitive; an
// optional trailing "B" or "iB").
std::optional<std::uint64_t> parse_size(std::string_view s);

// check_toml_text, stray_non_ascii: service/toml_guard.hpp.

// A key's value and the line to report it at.
struct Field {
  const toml::node* node = nullptr;
  int line = 0;
  std::string key;  // dotted for nested tables: "log.max_size"
  explicit operator bool() const { return node != nullptr; }
};

template <typename T>
struct Choice {
  std::string_view word;
  T value;
};

class TomlReader {
 public:
  TomlReader(std::string file, std::vector<ConfigError>& errors) : file_(std::move(file)), errors_(errors) {}

  void error(int line, std::string_view key, std::string message);
  void type_error(const Field& f, const char* expected);
  // Every key of `t` that is not in `known` is an error (with the closest
  // known one); `prefix` is the dotted table name ("log.").
  void check_keys(const toml::table& t, const std::string& prefix, std::span<const std::string_view> known);
  static Field field(const toml::table& t, std::string_view key, const std::string& prefix = {});

  std::optional<std::string> string_of(const Field& f);
  std::optional<std::int64_t> int_of(const Field& f, std::int64_t lo, std::int64_t hi);
  std::optional<bool> bool_of(const Field& f);
  template <typename T>
  std::optional<T> choice_of(const Field& f, std::initializer_list<Choice<T>> choices) {
    auto s = string_of(f);
    if (!s) return std::nullopt;
    for (const auto& c : choices) {
      if (c.word == *s) return c.value;
    }
    std::string list;
    for (const auto& c : choices) {
      if (!list.empty()) list += ", ";
      list += c.word;
    }
    error(f.line, f.key, "expected one of " + list + ", not " + q(*s));
    return std::nullopt;
  }
  // Seconds, integer or float, into nanoseconds.
  std::optional<std::int64_t> seconds_of(const Field& f);
  // Bytes: an integer, or a string like "64K" / "1M".
  std::optional<std::uint64_t> size_of(const Field& f, std::uint64_t lo, std::uint64_t hi);
  std::optional<std::string> abs_path_of(const Field& f);
  // Each element of an array of strings with its own line.
  std::optional<std::vector<std::pair<std::string, int>>> strings_of(const Field& f);

 protected:
  std::string file_;
  std::vector<ConfigError>& errors_;
};

}  // namespace keel::service
