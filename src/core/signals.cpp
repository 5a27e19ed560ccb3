#include "core/signals.hpp"

#include <csignal>
#include <cstring>

#include "core/limits.hpp"

namespace keel::signals {
namespace {

// Indexed by number; Linux x86/arm numbering (the only ABI keel targets).
constexpr const char* kNames[limits::kMaxClassicSignal + 1] = {
    nullptr,   "SIGHUP",  "SIGINT",    "SIGQUIT", "SIGILL",    "SIGTRAP", "SIGABRT",  "SIGBUS",
    "SIGFPE",  "SIGKILL", "SIGUSR1",   "SIGSEGV", "SIGUSR2",   "SIGPIPE", "SIGALRM",  "SIGTERM",
    "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP",   "SIGTTIN", "SIGTTOU",  "SIGURG",
    "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH",  "SIGIO",   "SIGPWR",   "SIGSYS",
};
static_assert(SIGTERM == 15 && SIGCHLD == 17 && SIGSTOP == 19 && SIGSYS == 31, "Linux signal numbering");
// 32..64 as `kill -l` names them for a glibc program: glibc keeps 32 and 33
// for itself (its SIGRTMIN is 34).
constexpr const char* kRealTimeNames[limits::kMaxSignal - limits::kMaxClassicSignal] = {
    "SIG32", "SIG33", "SIGRTMIN", "SIGRTMIN+1", "SIGRTMIN+2", "SIGRTMIN+3",
    "SIGRTMIN+4", "SIGRTMIN+5", "SIGRTMIN+6", "SIGRTMIN+7", "SIGRTMIN+8", "SIGRTMIN+9",
    "SIGRTMIN+10", "SIGRTMIN+11", "SIGRTMIN+12", "SIGRTMIN+13", "SIGRTMIN+14", "SIGRTMIN+15",
    "SIGRTMAX-14", "SIGRTMAX-13", "SIGRTMAX-12", "SIGRTMAX-11", "SIGRTMAX-10", "SIGRTMAX-9",
    "SIGRTMAX-8", "SIGRTMAX-7", "SIGRTMAX-6", "SIGRTMAX-5", "SIGRTMAX-4", "SIGRTMAX-3",
    "SIGRTMAX-2", "SIGRTMAX-1", "SIGRTMAX",
};

bool iequal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 'a' + 'A');
    if (x != b[i]) return false;
  }
  return true;
}

}  // namespace

std::optional<int> parse(std::string_view text, bool allow_zero) noexcept {
  if (text.empty()) return std::nullopt;
  if (text[0] >= '0' && text[0] <= '9') {
    if (text.size() > 3) return std::nullopt;
    int value = 0;
    for (char c : text) {
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + (c - '0');
    }
    if (value == 0 && allow_zero) return 0;
    if (value < 1 || value > limits::kMaxClassicSignal) return std::nullopt;
    return value;
  }
  std::string_view bare = text;
  if (bare.size() > 3 && iequal(bare.substr(0, 3), "SIG")) bare.remove_prefix(3);
  for (int signo = 1; signo <= limits::kMaxClassicSignal; ++signo) {
    if (iequal(bare, kNames[signo] + 3)) return signo;
  }
  // Aliases the kernel headers define.
  if (iequal(bare, "IOT")) return SIGABRT;
  if (iequal(bare, "POLL")) return SIGIO;
  if (iequal(bare, "CLD")) return SIGCHLD;
  return std::nullopt;
}

const char* name(int signo) noexcept {
  if (signo < 1 || signo > limits::kMaxSignal) return "SIG?";
  if (signo > limits::kMaxClassicSignal) return kRealTimeNames[signo - limits::kMaxClassicSignal - 1];
  return kNames[signo];
}

}  // namespace keel::signals
