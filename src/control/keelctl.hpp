// keelctl.hpp — the control client, built into the keel binary.
//
// One file in an image: keel runs as keelctl when called by that name
// (argv[0] "keelctl") or as a subcommand; either way main() hands the
// arguments to run_keelctl() with argv[0] the name to show in messages.
//
// The command line is parsed into a control::Request by a pure function
// (parse_keelctl, unit-tested), then sent over the control socket; Data
// frames are copied to stdout as they come, the Final frame's body goes to
// stdout (Ok) or stderr (anything else), and its Code is the exit status.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "control/handler.hpp"
#include "control/log_query.hpp"

namespace keel::control {

// Exit status for a command line keelctl cannot understand (the same value
// as Code::BadRequest, which is what keel answers a malformed request with).
inline constexpr int kUsageExit = 2;
// How long keelctl waits for the reply to a request that is answered at
// once (not log -f, not wait without --timeout): long enough for a stop
// with a long grace period, short enough not to hang a script forever.
inline constexpr std::int64_t kReplyTimeoutMs = 120'000;
// Extra time beyond `wait --timeout S` for keel's own timeout reply to come.
inline constexpr std::int64_t kWaitSlackMs = 5'000;
// The environment variable naming the socket.
inline constexpr const char* kSocketEnv = "KEEL_CONTROL_SOCKET";

struct KeelctlCommand {
  // >= 0: do not connect; print `message` (to stdout when exit_code is 0,
  // i.e. --help; else to stderr) and exit with this status.
  int exit_code = -1;
  std::string message;
  Request request;
  std::string socket_path;
  // How long to wait for the reply; -1: no limit (log -f, wait without a
  // timeout).
  std::int64_t reply_timeout_ms = kReplyTimeoutMs;
  // `log`: the filters (--since, --until, --match, --stdout, --stderr),
  // applied by keelctl itself (control/log_query.hpp).
  log_query::Filter log_filter;
};

// `args` are the arguments after the program name; `prog` is that name for
// messages; `env_socket` is $KEEL_CONTROL_SOCKET (nullptr when unset).
[[nodiscard]] KeelctlCommand parse_keelctl(const std::string& prog, const std::vector<std::string>& args,
                                           const char* env_socket);

// The whole client: parse, connect, send, print, and the exit status (a
// Code value, or kUsageExit). Never throws.
int run_keelctl(int argc, char** argv) noexcept;

// Whether argv[0] names keelctl ("keelctl", "/usr/bin/keelctl").
[[nodiscard]] bool is_keelctl_name(const char* argv0) noexcept;

}  // namespace keel::control
