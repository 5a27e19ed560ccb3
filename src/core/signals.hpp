// signals.hpp — signal names and numbers, for options and messages.
#pragma once

#include <optional>
#include <string_view>

namespace keel::signals {

// "TERM", "SIGTERM", "sigterm" and "15" all give 15. Accepts 1..31 only
// (the classic signals keel forwards); `allow_zero` also accepts "0", the
// "drop this signal" target of a rewrite rule.
[[nodiscard]] std::optional<int> parse(std::string_view text, bool allow_zero = false) noexcept;

// "SIGTERM" for 15, "SIGRTMIN+2" for 36 (`kill -l`'s names); "SIG?" outside
// 1..64.
[[nodiscard]] const char* name(int signo) noexcept;

// The signals a process can receive but not catch, plus SIGCHLD which keel
// consumes itself: these are never forwarded.
[[nodiscard]] constexpr bool forwardable(int signo) noexcept {
  return signo >= 1 && signo <= 31 && signo != 9 /*KILL*/ && signo != 19 /*STOP*/ && signo != 17 /*CHLD*/;
}

}  // namespace keel::signals
