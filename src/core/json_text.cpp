// json_text.cpp — see json_text.hpp.
#include "core/json_text.hpp"

#include <cstdint>
#include <cstdio>
#include <cstring>

namespace keel {

namespace {

// The length of the well-formed UTF-8 sequence at s[i], or 0 if it is not
// one (overlong forms, surrogates and values past U+10FFFF included).
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  std::size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
  if (c < 0xC2 || c > 0xF4 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  unsigned char c1 = byte(i + 1);
  if (c == 0xE0 && c1 < 0xA0) return 0;   // overlong
  if (c == 0xED && c1 >= 0xA0) return 0;  // a surrogate
  if (c == 0xF0 && c1 < 0x90) return 0;   // overlong
  if (c == 0xF4 && c1 >= 0x90) return 0;  // past U+10FFFF
  return n;
}

}  // namespace

std::size_t json_escape(std::string_view value, char* out, std::size_t size) noexcept {
  std::size_t used = 0;
  auto room = [&](std::size_t n) { return used + n <= size; };
  for (std::size_t i = 0; i < value.size();) {
    auto c = static_cast<unsigned char>(value[i]);
    if (c == '"' || c == '\\') {
      if (!room(2)) return SIZE_MAX;
      out[used++] = '\\';
      out[used++] = static_cast<char>(c);
      ++i;
    } else if (c < 0x20 || c == 0x7F) {
      if (!room(6)) return SIZE_MAX;
      used += static_cast<std::size_t>(std::snprintf(out + used, 7, "\\u%04x", c));
      ++i;
    } else if (c < 0x80) {
      if (!room(1)) return SIZE_MAX;
      out[used++] = static_cast<char>(c);
      ++i;
    } else if (c == 0xC2 && i + 1 < value.size() && static_cast<unsigned char>(value[i + 1]) < 0xA0 &&
               static_cast<unsigned char>(value[i + 1]) >= 0x80) {
      // C1 controls (U+0080..U+009F) escaped too: a terminal acts on them.
      if (!room(6)) return SIZE_MAX;
      used +=
          static_cast<std::size_t>(std::snprintf(out + used, 7, "\\u%04x", static_cast<unsigned char>(value[i + 1])));
      i += 2;
    } else if (std::size_t n = utf8_sequence(value, i); n > 0) {
      if (!room(n)) return SIZE_MAX;
      std::memcpy(out + used, value.data() + i, n);
      used += n;
      i += n;
    } else {
      if (!room(6)) return SIZE_MAX;
      constexpr std::string_view kReplacement = "\\ufffd";  // not NUL-terminated: a part of a string
      std::memcpy(out + used, kReplacement.data(), kReplacement.size());
      used += kReplacement.size();
      ++i;
    }
  }
  return used;
}

}  // namespace keel
