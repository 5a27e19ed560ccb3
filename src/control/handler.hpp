// handler.hpp — what the control server asks of the supervisor.
//
// The server (control/server.hpp) owns the socket, the framing and the
// peer checks; it turns each well-formed request into a call of
// ControlHandler::handle with a Session to answer on. Most requests are
// answered at once (session.finish). Four are answered later: `wait --ready`
// (when the service is ready, or its timeout passes), `log -f` and
// `events` (lines stream with session.send until the client goes away) and `reload` (when
// the configuration loader has answered; `reload SERVICE`: when the service
// has reported its reload cycle, or is ready again). For those the
// handler keeps the Session pointer until it finishes it or the server
// calls session_closed().
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace keel::control {

enum class Verb : std::uint16_t {
  Status = 1,   // args: [SERVICE]; flags: Json
  Start = 2,    // args: SERVICE
  Stop = 3,     // args: SERVICE
  Restart = 4,  // args: SERVICE
  Signal = 5,   // args: SERVICE SIGNAL (name or number)
  Log = 6,      // args: SERVICE; flags: Follow; lines: -n N (0: all kept)
  Wait = 7,     // args: SERVICE; flags: Ready; timeout_ms (0: none)
  Reload = 8,   // args: [SERVICE] (none: the service files); flags: DryRun
  Poweroff = 9,
  Reboot = 10,
  Halt = 11,
  Events = 12,  // flags: SinceBoot (replay the kept events first), Follow (then live ones), Json
};

enum Flags : std::uint32_t {
  kFlagJson = 1U << 0,
  kFlagFollow = 1U << 1,
  kFlagReady = 1U << 2,
  kFlagSinceBoot = 1U << 3,  // Events: the kept events first (docs/events.md)
  kFlagDryRun = 1U << 4,     // Reload without SERVICE: the plan, nothing applied
};

struct Request {
  Verb verb = Verb::Status;
  std::uint32_t flags = 0;
  std::uint32_t lines = 0;       // Log: last N lines
  std::uint32_t timeout_ms = 0;  // Wait
  std::vector<std::string> args;
};

// Reply codes, also keelctl's exit codes.
enum class Code : std::uint8_t {
  Ok = 0,
  Failed = 1,       // the request was understood and did not succeed
  BadRequest = 2,   // malformed, unknown verb, wrong arguments
  NoService = 3,    // no such service
  Denied = 4,       // SO_PEERCRED check refused
  Timeout = 5,      // wait --timeout passed
};

class Session {
 public:
  // Stream a chunk of output (log -f lines). Never blocks: a client that
  // does not read loses chunks (counted by the server) rather than
  // stalling keel.
  virtual void send(std::string_view chunk) noexcept = 0;
  // The final reply; the session is then closed and must not be used.
  virtual void finish(Code code, std::string_view body) noexcept = 0;

 protected:
  ~Session() = default;
};

class ControlHandler {
 public:
  // Called for each request. May allocate (an edge); must not throw.
  virtual void handle(const Request& request, Session& session) noexcept = 0;
  // The client of a session the handler kept went away: forget it.
  virtual void session_closed(Session& session) noexcept = 0;

 protected:
  ~ControlHandler() = default;
};

}  // namespace keel::control
