// toml_guard.hpp — what keel checks in TOML text before toml++ sees it.
//
// Every TOML file keel, keelctl's checks and keel-image read (service
// files, keel.toml, image specs) is scanned once here before toml::parse.
// The scan knows only enough TOML to tell code from strings and comments
// and keys from values, and refuses three things the parser must never be
// handed:
//   - more than limits::kTomlMaxBytes of text;
//   - non-ASCII outside strings and comments: toml++ 3.3.0 (Debian 12)
//     reaches __builtin_unreachable() — undefined behaviour — on some code
//     points (U+00A1..U+0499, U+FB26..U+FEFE) where it looks for whitespace
//     (upstream issue #295, found here by fuzzing); such text is a syntax
//     error anyway;
//   - nesting deeper than limits::kTomlMaxDepth: toml++ builds and frees
//     nested tables and arrays recursively, so 100,000 dotted-key parts or
//     '[' in a row overflow the stack (in PID 1, a kernel panic).
// No toml++ here, so keel-image's spec reader uses it as it is.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace keel::service {

struct TextProblem {
  enum class Kind : std::uint8_t { None, TooLarge, NonAscii, TooDeep };
  Kind kind = Kind::None;
  int line = 0;    // 1-based; 0 for TooLarge (the whole file)
  int column = 0;  // 1-based byte column
  explicit operator bool() const noexcept { return kind != Kind::None; }
};

// The first problem in `text`, or Kind::None. Never allocates.
[[nodiscard]] TextProblem check_toml_text(std::string_view text) noexcept;

// The message for a problem, without the file and line:
// "nested deeper than 32 levels at column 7 (...)".
[[nodiscard]] std::string describe(const TextProblem& problem);

// Where TOML allows only ASCII (outside strings and comments), the first
// byte that is not, as {line, column}; {0, 0} when there is none (whatever
// the size or depth).
struct TextPosition {
  int line = 0;
  int column = 0;
};
[[nodiscard]] TextPosition stray_non_ascii(std::string_view text) noexcept;

}  // namespace keel::service
