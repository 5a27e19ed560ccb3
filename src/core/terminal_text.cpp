// terminal_text.cpp — C0/C1/DEL as visible escapes, ill-formed UTF-8 as
// U+FFFD (see terminal_text.hpp).
#include "core/terminal_text.hpp"

#include <cstring>

namespace keel::terminal_text {
namespace {

bool continuation(unsigned char c) noexcept { return (c & 0xC0) == 0x80; }

// The escape for a control code point (< 0x20, 0x7F, 0x80..0x9F) into
// buf (at least 7 bytes); returns its length.
std::size_t control_escape(std::int32_t cp, char* buf) noexcept {
  const char* named = nullptr;
  switch (cp) {
    case '\a': named = "\\a"; break;
    case '\b': named = "\\b"; break;
    case '\t': named = "\\t"; break;
    case '\n': named = "\\n"; break;
    case '\v': named = "\\v"; break;
    case '\f': named = "\\f"; break;
    case '\r': named = "\\r"; break;
    default: break;
  }
  if (named != nullptr) {
    buf[0] = named[0];
    buf[1] = named[1];
    return 2;
  }
  constexpr char kHex[] = "0123456789abcdef";
  if (cp < 0x80) {  // C0 and DEL: the byte, as "\xHH"
    buf[0] = '\\';
    buf[1] = 'x';
    buf[2] = kHex[(cp >> 4) & 0xF];
    buf[3] = kHex[cp & 0xF];
    return 4;
  }
  // C1 (a two-byte UTF-8 sequence): the code point, as "\u00HH"
  buf[0] = '\\';
  buf[1] = 'u';
  buf[2] = '0';
  buf[3] = '0';
  buf[4] = kHex[(cp >> 4) & 0xF];
  buf[5] = kHex[cp & 0xF];
  return 6;
}

bool is_control(std::int32_t cp) noexcept { return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F); }

// Calls emit(pointer, length, splittable) for each piece of the escaped
// text (splittable: plain ASCII, which may be cut anywhere); stops when emit
// returns false.
template <typename Emit>
void for_each_piece(std::string_view in, unsigned keep, Emit emit) noexcept {
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD
  std::size_t i = 0;
  while (i < in.size()) {
    // Runs of plain printable ASCII go out in one piece.
    std::size_t run = i;
    while (run < in.size()) {
      auto c = static_cast<unsigned char>(in[run]);
      if (c < 0x20 || c >= 0x7F) break;
      ++run;
    }
    if (run > i) {
      if (!emit(in.data() + i, run - i, true)) return;
      i = run;
      continue;
    }
    CodePoint cp = decode_utf8(in, i);
    bool ok = true;
    if (cp.value == kInvalid) {
      ok = emit(kReplacement, 3, false);
    } else if ((cp.value == '\n' && (keep & kKeepNewline) != 0) || (cp.value == '\t' && (keep & kKeepTab) != 0)) {
      ok = emit(in.data() + i, 1, false);
    } else if (is_control(cp.value)) {
      char buf[8];
      ok = emit(buf, control_escape(cp.value, buf), false);
    } else {
      ok = emit(in.data() + i, cp.length, false);
    }
    if (!ok) return;
    i += cp.length;
  }
}

}  // namespace

CodePoint decode_utf8(std::string_view text, std::size_t at) noexcept {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[at + k]); };
  const std::size_t left = text.size() - at;
  unsigned char b0 = byte(0);
  if (b0 < 0x80) return {b0, 1};
  // The lead byte fixes the length and the range of the second byte
  // (Unicode 15, table 3-7): that range is what rules out overlong forms
  // (E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and code points past
  // U+10FFFF (F4 90..BF).
  std::size_t need = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  std::int32_t value = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
    value = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    value = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    value = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {kInvalid, 1};  // 80..C1 (continuation or overlong lead), F5..FF
  }
  for (std::size_t k = 1; k < need; ++k) {
    if (k >= left) return {kInvalid, k};  // cut short
    unsigned char b = byte(k);
    bool fits = k == 1 ? (b >= lo && b <= hi) : continuation(b);
    if (!fits) return {kInvalid, k};  // the bytes so far are one ill-formed subpart
    value = (value << 6) | (b & 0x3F);
  }
  return {value, need};
}

std::size_t escape(std::string_view in, char* out, std::size_t capacity, unsigned keep) noexcept {
  if (capacity == 0) return 0;
  std::size_t used = 0;
  const std::size_t room = capacity - 1;  // the NUL
  for_each_piece(in, keep, [&](const char* piece, std::size_t len, bool splittable) {
    if (len > room - used) {
      if (splittable) {
        std::memcpy(out + used, piece, room - used);
        used = room;
      }
      return false;
    }
    std::memcpy(out + used, piece, len);
    used += len;
    return true;
  });
  out[used] = '\0';
  return used;
}

void append_escaped(std::string_view in, std::string& out, unsigned keep) {
  for_each_piece(in, keep, [&](const char* piece, std::size_t len, bool /*splittable*/) {
    out.append(piece, len);
    return true;
  });
}

std::string escaped(std::string_view in, unsigned keep) {
  std::string out;
  out.reserve(in.size());
  append_escaped(in, out, keep);
  return out;
}

}  // namespace keel::terminal_text
