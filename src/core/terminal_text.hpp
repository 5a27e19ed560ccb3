// terminal_text.hpp — text that a service controls, made safe to show on a
// terminal.
//
// A service chooses its STATUS= text, its log lines and (through its files)
// parts of keel's messages. Shown raw, an ESC or a C1 CSI (U+009B) in them
// would drive root's terminal: move the cursor, rewrite earlier lines, set
// the title, on some terminals answer back with keystrokes. Here every C0
// control, DEL and C1 control becomes a visible escape ("\x1b", "\n",
// "\u009b"), and bytes that are not well-formed UTF-8 (stray continuation
// bytes, overlong forms, surrogates, past U+10FFFF, cut sequences) become
// U+FFFD, one per maximal ill-formed subpart as Unicode recommends.
// Backslashes are left alone: the aim is a terminal that cannot be driven,
// not a reversible encoding.
//
// escape() writes into a caller's buffer and never allocates (keel's own
// log lines use it in PID 1); escaped() is the allocating form for the
// control paths (keelctl, the status formatter).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace keel::terminal_text {

// Controls that escape() may leave as they are.
inline constexpr unsigned kKeepNewline = 1;  // '\n' (a log's line breaks)
inline constexpr unsigned kKeepTab = 2;      // '\t'

// One code point from text[at...]: its value, and how many bytes it took.
// Ill-formed input gives kInvalid and the length of the maximal ill-formed
// subpart (at least 1), so the caller replaces it with one U+FFFD.
inline constexpr std::int32_t kInvalid = -1;
struct CodePoint {
  std::int32_t value;
  std::size_t length;
};
[[nodiscard]] CodePoint decode_utf8(std::string_view text, std::size_t at) noexcept;

// `in` escaped into out[0, capacity): returns the bytes written, with a NUL
// after them (capacity > 0). An escape or a character that does not fit is
// left out whole, with everything after it: the text is cut, never split
// inside an escape.
std::size_t escape(std::string_view in, char* out, std::size_t capacity, unsigned keep = 0) noexcept;

// `in` escaped, appended to `out`. May throw std::bad_alloc.
void append_escaped(std::string_view in, std::string& out, unsigned keep = 0);
[[nodiscard]] std::string escaped(std::string_view in, unsigned keep = 0);

}  // namespace keel::terminal_text
