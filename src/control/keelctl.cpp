// keelctl.cpp — keelctl's command line, and its one exchange with keel.
//
// keelctl is an ordinary short-lived client, not PID 1: it may allocate and
// uses exceptions internally, but run_keelctl() turns every failure into a
// message and an exit status. Each subcommand has its own --help, and every
// error names what went wrong and where ("keel is not running, or not at
// PATH", "permission denied", "no reply within N s").
#include "control/keelctl.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string_view>

#include "control/analyze_command.hpp"
#include "control/event_format.hpp"
#include "control/protocol.hpp"
#include "control/log_query.hpp"
#include "control/server.hpp"
#include "core/event_loop.hpp"
#include "core/limits.hpp"
#include "core/signals.hpp"
#include "core/terminal_text.hpp"
#include "core/user_dirs.hpp"

namespace keel::control {
namespace {

struct Subcommand {
  const char* name;
  Verb verb;
  const char* usage;    // after "PROG NAME"
  const char* summary;  // one line for the overview
  const char* details;  // the rest of its --help
};

constexpr Subcommand kSubcommands[] = {
    {"status", Verb::Status, "[SERVICE] [--json]", "show the state of every service, or of one",
     "Without SERVICE: one line per service. With SERVICE: every detail\n"
     "(state, pid, uptime, restarts, last exit, readiness, last error).\n"
     "  --json   the same as a JSON array of objects\n"},
    {"start", Verb::Start, "SERVICE", "start a service (and what it needs)", ""},
    {"stop", Verb::Stop, "SERVICE", "stop a service", ""},
    {"restart", Verb::Restart, "SERVICE", "stop then start a service", ""},
    {"signal", Verb::Signal, "SERVICE SIGNAL", "send a signal to a service's process",
     "SIGNAL is a name (TERM, SIGHUP) or a number (1-31).\n"},
    {"log", Verb::Log, "SERVICE [-f] [-n N] [--since T] [--until T] [--match RE] [--stdout|--stderr]",
     "show a service's recent output",
     "Lines are STAMP STREAM TEXT (STREAM: stdout, stderr, or keel for keel's own\n"
     "notes). When the service has a [log] file, its rotated files (oldest first,\n"
     ".gz decompressed) and the file itself come before the lines keel keeps in\n"
     "memory; a file keelctl cannot read (or a .zst: use zstdcat) is named and\n"
     "skipped. Lines of old files without a STREAM word count as stdout.\n"
     "  -n, --lines N   the last N lines, after the filters (default: all)\n"
     "  -f, --follow    keep printing new lines (filtered) until interrupted\n"
     "  --since TIME    lines stamped at or after TIME\n"
     "  --until TIME    lines stamped before TIME\n"
     "  --match RE      lines whose TEXT matches RE (POSIX extended regex)\n"
     "  --stdout        only the service's stdout lines\n"
     "  --stderr        only its stderr lines (both: both, without keel's notes)\n"
     "TIME is UTC, like the stamps: 2026-12-06T10:00:00Z, '2026-12-06 10:00',\n"
     "2026-12-06 (midnight), with an optional +HH:MM offset; or -30s, -10m, -2h,\n"
     "-1d (before now); or now, today, yesterday (00:00 UTC).\n"},
    {"wait", Verb::Wait, "SERVICE --ready [--timeout S]", "wait until a service is ready",
     "  --ready       wait for the service's readiness\n"
     "  --timeout S   give up after S seconds (a decimal number; default: no limit);\n"
     "                the exit status is then 5\n"},
    {"reload", Verb::Reload, "[SERVICE] [--dry-run]", "re-read the service files, or reload one service",
     "Without SERVICE: re-read every service file (changed services are restarted).\n"
     "  --dry-run   load the files and say what a reload would do (services added,\n"
     "              removed, restarted and which keys changed, errors with\n"
     "              file:line), changing nothing; exit 1 when a file has errors\n"
     "With SERVICE: send it its reload_signal and, for a notify service, wait for\n"
     "its RELOADING=1 then READY=1 (bounded by its start_timeout); a service\n"
     "without reload_signal is restarted and waited for until it is ready.\n"},
    {"events", Verb::Events, "[--json] [--since-boot] [--no-follow]", "print keel's events as they happen",
     "One line per event: every service's changes of state (starting, started,\n"
     "ready, unhealthy, healthy, stopping, exited, restarting, failed, stopped,\n"
     "done), reloads, keel's own boot steps and the shutdown's (docs/events.md).\n"
     "Follows until interrupted, or until keel exits.\n"
     "  --json         the events as keel records them: one JSON object per line,\n"
     "                 a stable interface (docs/events.md)\n"
     "  --since-boot   first the events keel kept since it started (the boot's,\n"
     "                 then the most recent ones), oldest first\n"
     "  --no-follow    print what is kept and exit (with --since-boot)\n"
     "A gap in the events' seq numbers means events were lost: keel's record is\n"
     "bounded, and keel never waits for a follower that does not read.\n"},
    {"poweroff", Verb::Poweroff, "", "stop every service and power off", ""},
    {"reboot", Verb::Reboot, "", "stop every service and reboot", ""},
    {"halt", Verb::Halt, "", "stop every service and halt", ""},
};

std::string overview(const std::string& prog) {
  std::string out = "Usage: " + prog + " [--socket PATH] COMMAND [ARGS...]\n\nControl a running keel.\n\nCommands:\n";
  for (const Subcommand& s : kSubcommands) {
    std::string left = std::string("  ") + s.name + " " + s.usage;
    if (left.size() < 40) left.append(40 - left.size(), ' ');
    out += left + "  " + s.summary + "\n";
  }
  out += analyze_overview_line();
  out += "\nOptions:\n"
         "  --socket PATH   the control socket (default: $" + std::string(kSocketEnv) + ", else " +
         kDefaultSocketPath + "\n"
         "                  for root, $XDG_RUNTIME_DIR/keel/control.sock for other users)\n"
         "  -h, --help      this text; COMMAND --help: that command's\n"
         "\nExit status: 0 ok, 1 failed, 2 bad request or usage, 3 no such service,\n"
         "4 permission denied, 5 timeout.\n";
  return out;
}

std::string sub_help(const std::string& prog, const Subcommand& s) {
  std::string out = "Usage: " + prog + " " + s.name;
  if (*s.usage != '\0') out += std::string(" ") + s.usage;
  out += "\n\n" + std::string(s.summary) + ".\n";
  if (*s.details != '\0') out += "\n" + std::string(s.details);
  return out;
}

KeelctlCommand usage_error(const std::string& prog, const std::string& what, const char* sub = nullptr) {
  KeelctlCommand c;
  c.exit_code = kUsageExit;
  c.message = prog + ": " + what + "\nTry '" + prog + (sub != nullptr ? std::string(" ") + sub : std::string()) +
              " --help' for more information.";
  return c;
}

// A whole decimal number that fits in u32.
bool parse_u32(const std::string& text, std::uint32_t& out) {
  if (text.empty() || text.size() > 10) return false;
  std::uint64_t v = 0;
  for (char ch : text) {
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + static_cast<unsigned>(ch - '0');
  }
  if (v > 0xFFFFFFFFULL) return false;
  out = static_cast<std::uint32_t>(v);
  return true;
}

// Seconds as a decimal ("2", "0.5", "1e1" is refused) -> milliseconds, at
// least 1 for any positive value so a tiny timeout does not mean "none".
bool parse_seconds(const std::string& text, std::uint32_t& ms) {
  if (text.empty()) return false;
  for (char ch : text) {
    if ((ch < '0' || ch > '9') && ch != '.') return false;
  }
  char* end = nullptr;
  double s = std::strtod(text.c_str(), &end);
  if (end == nullptr || *end != '\0' || !std::isfinite(s) || s < 0 || s > 4'000'000.0) return false;
  double v = std::ceil(s * 1000.0);
  ms = static_cast<std::uint32_t>(v);
  if (ms == 0 && s > 0) ms = 1;
  return true;
}

}  // namespace

bool is_keelctl_name(const char* argv0) noexcept {
  if (argv0 == nullptr) return false;
  const char* base = std::strrchr(argv0, '/');
  base = base != nullptr ? base + 1 : argv0;
  return std::strcmp(base, "keelctl") == 0;
}

KeelctlCommand parse_keelctl(const std::string& prog, const std::vector<std::string>& args, const char* env_socket) {
  std::string socket = env_socket != nullptr && *env_socket != '\0' ? env_socket : kDefaultSocketPath;
  const Subcommand* sub = nullptr;
  std::vector<std::string> positional;
  bool help = false;
  bool json = false;
  bool follow = false;
  bool ready = false;
  bool dry_run = false;
  bool since_boot = false;
  bool no_follow = false;
  bool have_lines = false;
  bool have_timeout = false;
  std::uint32_t lines = 0;
  std::uint32_t timeout_ms = 0;
  bool options_done = false;
  log_query::Filter log_filter;

  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const char* sub_name = sub != nullptr ? sub->name : nullptr;
    // An option's value: "--opt=V", "--opt V", "-nV", "-n V".
    auto value = [&](const std::string& longname, const char* shortname, std::string& out, bool& matched,
                     std::string& error) {
      matched = false;
      if (a == longname || (shortname != nullptr && a == shortname)) {
        matched = true;
        if (i + 1 >= args.size()) {
          error = "option '" + a + "' needs a value";
          return;
        }
        out = args[++i];
      } else if (a.rfind(longname + "=", 0) == 0) {
        matched = true;
        out = a.substr(longname.size() + 1);
      } else if (shortname != nullptr && a.size() > 2 && a.rfind(shortname, 0) == 0) {
        matched = true;
        out = a.substr(2);
      }
    };
    if (options_done || a.empty() || a[0] != '-' || a == "-") {
      if (sub == nullptr) {
        for (const Subcommand& s : kSubcommands) {
          if (a == s.name) sub = &s;
        }
        if (sub == nullptr) return usage_error(prog, "unknown command '" + a + "'");
      } else {
        positional.push_back(a);
      }
      continue;
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    if (a == "-h" || a == "--help") {
      help = true;
      continue;
    }
    std::string v;
    std::string error;
    bool matched = false;
    value("--socket", nullptr, v, matched, error);
    if (matched) {
      if (!error.empty()) return usage_error(prog, error, sub_name);
      if (v.empty()) return usage_error(prog, "--socket needs a path", sub_name);
      socket = v;
      continue;
    }
    if (sub == nullptr) return usage_error(prog, "unknown option '" + a + "'");
    if (sub->verb == Verb::Status && a == "--json") {
      json = true;
      continue;
    }
    if (sub->verb == Verb::Reload && a == "--dry-run") {
      dry_run = true;
      continue;
    }
    if (sub->verb == Verb::Events) {
      if (a == "--json") {
        json = true;
        continue;
      }
      if (a == "--since-boot") {
        since_boot = true;
        continue;
      }
      if (a == "--no-follow") {
        no_follow = true;
        continue;
      }
    }
    if (sub->verb == Verb::Log) {
      if (a == "-f" || a == "--follow") {
        follow = true;
        continue;
      }
      value("--lines", "-n", v, matched, error);
      if (matched) {
        if (!error.empty()) return usage_error(prog, error, sub_name);
        if (!parse_u32(v, lines)) return usage_error(prog, "invalid line count '" + v + "'", sub_name);
        have_lines = true;
        continue;
      }
      if (a == "--stdout" || a == "--stderr") {
        (a == "--stdout" ? log_filter.only_stdout : log_filter.only_stderr) = true;
        continue;
      }
      value("--since", nullptr, v, matched, error);
      if (!matched) value("--until", nullptr, v, matched, error);
      if (matched) {
        if (!error.empty()) return usage_error(prog, error, sub_name);
        std::optional<std::int64_t> t = log_query::parse_time(v, log_query::now_ms());
        if (!t) return usage_error(prog, "invalid time '" + v + "' (see --help)", sub_name);
        (a.rfind("--since", 0) == 0 ? log_filter.since : log_filter.until) = *t;
        continue;
      }
      value("--match", nullptr, v, matched, error);
      if (matched) {
        if (!error.empty()) return usage_error(prog, error, sub_name);
        if (v.empty()) return usage_error(prog, "--match needs a regular expression", sub_name);
        try {
          log_query::Filter probe;
          probe.match = v;
          log_query::Matcher check(probe);
        } catch (const std::runtime_error& e) {
          return usage_error(prog, e.what(), sub_name);
        }
        log_filter.match = v;
        continue;
      }
    }
    if (sub->verb == Verb::Wait) {
      if (a == "--ready") {
        ready = true;
        continue;
      }
      value("--timeout", nullptr, v, matched, error);
      if (matched) {
        if (!error.empty()) return usage_error(prog, error, sub_name);
        if (!parse_seconds(v, timeout_ms)) return usage_error(prog, "invalid timeout '" + v + "' (seconds)", sub_name);
        have_timeout = true;
        continue;
      }
    }
    return usage_error(prog, "unknown option '" + a + "'", sub_name);
  }
  (void)have_lines;

  KeelctlCommand c;
  c.socket_path = socket;
  if (help || sub == nullptr) {
    if (sub == nullptr && !help) return usage_error(prog, "no command given");
    c.exit_code = 0;
    c.message = sub != nullptr ? sub_help(prog, *sub) : overview(prog);
    return c;
  }

  // Arguments per verb: [min, max] positionals.
  std::size_t min_args = 0;
  std::size_t max_args = 0;
  switch (sub->verb) {
    case Verb::Status: max_args = 1; break;
    case Verb::Start:
    case Verb::Stop:
    case Verb::Restart:
    case Verb::Log:
    case Verb::Wait: min_args = max_args = 1; break;
    case Verb::Signal: min_args = max_args = 2; break;
    case Verb::Reload: max_args = 1; break;
    case Verb::Poweroff:
    case Verb::Reboot:
    case Verb::Halt:
    case Verb::Events: break;
  }
  if (positional.size() < min_args) {
    return usage_error(prog, std::string(sub->name) + ": missing " + (positional.empty() ? "SERVICE" : "SIGNAL"),
                       sub->name);
  }
  if (positional.size() > max_args) {
    return usage_error(prog, std::string(sub->name) + ": unexpected argument '" + positional[max_args] + "'",
                       sub->name);
  }
  for (const std::string& p : positional) {
    if (p.size() > limits::kControlMaxArgLength) return usage_error(prog, "argument too long", sub->name);
  }
  if (sub->verb == Verb::Signal && !signals::parse(positional[1]).has_value()) {
    return usage_error(prog, "signal: unknown signal '" + positional[1] + "'", sub->name);
  }
  if (dry_run && !positional.empty()) {
    return usage_error(prog, "reload: --dry-run is for the service files, not one service", sub->name);
  }
  if (sub->verb == Verb::Wait && !ready) {
    return usage_error(prog, "wait: say what to wait for (--ready)", sub->name);
  }

  c.request.verb = sub->verb;
  c.request.args = positional;
  if (json) c.request.flags |= kFlagJson;
  if (follow) c.request.flags |= kFlagFollow;
  if (ready) c.request.flags |= kFlagReady;
  if (dry_run) c.request.flags |= kFlagDryRun;
  if (sub->verb == Verb::Events) {
    follow = !no_follow;
    if (follow) c.request.flags |= kFlagFollow;
    if (since_boot) c.request.flags |= kFlagSinceBoot;
  }
  c.request.lines = lines;
  c.request.timeout_ms = timeout_ms;
  c.log_filter = log_filter;
  // A reload of one service is bounded by keel, by the service's timeouts.
  if (follow || (sub->verb == Verb::Reload && !positional.empty())) {
    c.reply_timeout_ms = -1;
  } else if (sub->verb == Verb::Wait) {
    c.reply_timeout_ms = have_timeout && timeout_ms > 0 ? timeout_ms + kWaitSlackMs : -1;
  }
  return c;
}

namespace {

bool write_all(int fd, std::string_view data) noexcept {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// keel's error texts may quote what a service controls (its last error,
// its name): escaped for the terminal like everything else keelctl shows.
void error_line(const std::string& prog, std::string_view text) noexcept {
  try {
    std::string line = prog + ": " + terminal_text::escaped(text, terminal_text::kKeepNewline);
    if (line.empty() || line.back() != '\n') line += '\n';
    (void)write_all(2, line);
  } catch (...) {
    (void)write_all(2, "keelctl: out of memory\n");
  }
}

constexpr unsigned kLogKeep = terminal_text::kKeepNewline | terminal_text::kKeepTab;

const char* code_text(Code code) noexcept {
  switch (code) {
    case Code::Ok: return "ok";
    case Code::Failed: return "failed";
    case Code::BadRequest: return "bad request";
    case Code::NoService: return "no such service";
    case Code::Denied: return "permission denied";
    case Code::Timeout: return "timed out";
  }
  return "error";
}

// `keelctl events`: JSON lines as keel sent them (JSON-escaped by keel,
// C0 and C1 controls included, so safe on a terminal), or one readable
// line each. `pending` holds a line cut between two frames.
bool print_events(std::string_view data, bool json, std::string& pending) {
  if (json) return write_all(1, data);
  std::string out;
  while (!data.empty()) {
    std::size_t nl = data.find('\n');
    if (nl == std::string_view::npos) {
      pending.append(data);
      break;
    }
    pending.append(data.substr(0, nl));
    data.remove_prefix(nl + 1);
    out += format_event_line(pending);
    pending.clear();
  }
  return write_all(1, out);
}

// How run_log uses one exchange: the Ok body kept instead of printed, and
// Data frames handed to a function instead of printed.
struct Exchange {
  bool capture = false;
  std::string body;
  std::function<bool(std::string_view)> on_data;
};

int talk_to_keel(const std::string& prog, const KeelctlCommand& c, Exchange* ex = nullptr) {
  const std::string& path = c.socket_path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    error_line(prog, "socket path too long: " + path);
    return kUsageExit;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error_line(prog, std::string("socket: ") + std::strerror(errno));
    return static_cast<int>(Code::Failed);
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    if (e == EACCES || e == EPERM) {
      error_line(prog, "permission denied: keelctl needs root (cannot connect to " + path + ": " +
                           std::strerror(e) + ")");
      return static_cast<int>(Code::Denied);
    }
    error_line(prog, "keel is not running, or not at " + path + ": " + std::strerror(e));
    return static_cast<int>(Code::Failed);
  }

  // A write error is not the end: keel may have refused the peer and
  // closed before reading, and its reply is still there to read.
  std::string frame = encode_request(c.request);
  std::string_view out = frame;
  while (!out.empty()) {
    ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.remove_prefix(static_cast<std::size_t>(n));
  }

  FrameDecoder decoder(limits::kControlMaxReply);
  const std::int64_t deadline =
      c.reply_timeout_ms < 0 ? -1 : monotonic_ns() + c.reply_timeout_ms * 1'000'000;
  std::string buf(std::size_t{16} * 1024, '\0');
  std::string pending_event;  // events: a line not complete yet
  for (;;) {
    int wait_ms = -1;
    if (deadline >= 0) {
      std::int64_t left = (deadline - monotonic_ns()) / 1'000'000;
      if (left <= 0) {
        error_line(prog, "no reply from keel within " + std::to_string(c.reply_timeout_ms / 1000) + " s");
        return static_cast<int>(Code::Timeout);
      }
      wait_ms = static_cast<int>(left > 60'000 ? 60'000 : left);
    }
    pollfd pfd{fd, POLLIN, 0};
    int r = ::poll(&pfd, 1, wait_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      error_line(prog, std::string("poll: ") + std::strerror(errno));
      return static_cast<int>(Code::Failed);
    }
    if (r == 0) continue;  // the deadline check above decides
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // keel exiting ends `events`: its last events (the shutdown's) came first.
      if (n == 0 && c.request.verb == Verb::Events) return static_cast<int>(Code::Ok);
      error_line(prog, n == 0 ? std::string("keel closed the connection without a reply")
                              : std::string("read: ") + std::strerror(errno));
      return static_cast<int>(Code::Failed);
    }
    std::string_view input(buf.data(), static_cast<std::size_t>(n));
    while (!input.empty()) {
      FrameDecoder::Result res = decoder.feed(input);
      if (res == FrameDecoder::Result::NeedMore) break;
      if (res == FrameDecoder::Result::Error) {
        // The reject texts speak of requests; an oversized reply gets its own.
        std::string why = decoder.error() == Reject::Oversize
                              ? "frame larger than " + std::to_string(limits::kControlMaxReply) + " bytes"
                              : reject_message(decoder.error(), decoder.seen_version());
        error_line(prog, "bad reply from keel: " + why);
        return static_cast<int>(Code::Failed);
      }
      if (c.request.verb == Verb::Events &&
          (decoder.type() == FrameType::Data || (decoder.type() == FrameType::Final && !decoder.payload().empty() &&
                                                 decoder.payload()[0] == static_cast<char>(Code::Ok)))) {
        std::string_view lines = decoder.payload();
        if (decoder.type() == FrameType::Final) lines.remove_prefix(1);
        if (!print_events(lines, (c.request.flags & kFlagJson) != 0, pending_event)) {
          return static_cast<int>(Code::Failed);
        }
        if (decoder.type() == FrameType::Final) return static_cast<int>(Code::Ok);
        continue;
      }
      if (decoder.type() == FrameType::Data) {
        // `log -f` lines, as the service wrote them: escaped, keeping the
        // line breaks and tabs. (Data frames end at line ends, so no
        // character is split between two of them.)
        if (ex != nullptr && ex->on_data) {
          if (!ex->on_data(decoder.payload())) return static_cast<int>(Code::Failed);
          continue;
        }
        if (!write_all(1, terminal_text::escaped(decoder.payload(), kLogKeep))) return static_cast<int>(Code::Failed);
        continue;
      }
      if (decoder.type() != FrameType::Final) {
        error_line(prog, "bad reply from keel: unexpected frame type");
        return static_cast<int>(Code::Failed);
      }
      Code code = Code::Failed;
      std::string_view body;
      if (decode_final(decoder.payload(), code, body) != Reject::None) {
        error_line(prog, "bad reply from keel: empty final frame");
        return static_cast<int>(Code::Failed);
      }
      if (code == Code::Ok && ex != nullptr && ex->capture) {
        ex->body = std::string(body);
      } else if (code == Code::Ok) {
        // A log's lines are the service's text: escaped. Other answers are
        // keel's own formatting (status escapes its fields itself, and
        // its JSON must stay byte-exact).
        if (c.request.verb == Verb::Log) {
          (void)write_all(1, terminal_text::escaped(body, kLogKeep));
        } else {
          (void)write_all(1, body);
        }
      } else {
        error_line(prog, body.empty() ? std::string_view(code_text(code)) : body);
      }
      return static_cast<int>(code);
    }
  }
}

// `keelctl log`: the service's files (when it has a [log] file) and keel's
// ring, merged and filtered here (control/log_query.hpp); then, with -f,
// the live lines through the same filter. A service without a file and no
// filter is the plain exchange, as before.
int run_log(const std::string& prog, const KeelctlCommand& c) {
  namespace lq = log_query;
  KeelctlCommand status = c;
  status.request.verb = Verb::Status;
  status.request.flags = kFlagJson;
  status.request.lines = 0;
  status.reply_timeout_ms = kReplyTimeoutMs;
  Exchange status_ex;
  status_ex.capture = true;
  if (int rc = talk_to_keel(prog, status, &status_ex); rc != 0) return rc;
  const std::string file = lq::log_file_from_status_json(status_ex.body);
  const bool follow = (c.request.flags & kFlagFollow) != 0;
  if (file.empty() && !c.log_filter.active()) return talk_to_keel(prog, c);

  lq::Matcher matcher(c.log_filter);
  std::vector<std::string> file_lines;
  if (!file.empty()) {
    std::vector<std::string> warnings;
    file_lines = lq::read_log_files(file, warnings);
    for (const std::string& w : warnings) error_line(prog, w);
  }
  KeelctlCommand ring = c;
  ring.request.lines = 0;
  ring.request.flags &= ~kFlagFollow;
  ring.reply_timeout_ms = kReplyTimeoutMs;
  Exchange ring_ex;
  ring_ex.capture = true;
  if (int rc = talk_to_keel(prog, ring, &ring_ex); rc != 0) return rc;
  const std::vector<std::string> ring_lines = lq::split_lines(ring_ex.body);
  const std::vector<std::string> history = lq::merge_history(std::move(file_lines), ring_lines);
  std::string out;
  for (const std::string& line : lq::select(history, matcher, c.request.lines)) out += line + '\n';
  if (!write_all(1, terminal_text::escaped(out, kLogKeep))) return static_cast<int>(Code::Failed);
  if (!follow) return 0;

  // The follow request sends the ring again before the live lines: skip
  // what the ring had (its last stamp, and as many lines of that stamp).
  std::optional<std::int64_t> last_ms;
  std::size_t at_last = 0;
  for (const std::string& r : ring_lines) {
    lq::Line l = lq::parse_line(r);
    if (!l.stamped) continue;
    if (!last_ms || l.ms != *last_ms) at_last = 0;
    last_ms = l.ms;
    ++at_last;
  }
  lq::FollowFilter live(matcher, last_ms, at_last);
  KeelctlCommand tail = c;
  tail.request.lines = 0;
  Exchange tail_ex;
  tail_ex.on_data = [&](std::string_view chunk) {
    return write_all(1, terminal_text::escaped(live.feed(chunk), kLogKeep));
  };
  return talk_to_keel(prog, tail, &tail_ex);
}

}  // namespace

int run_keelctl(int argc, char** argv) noexcept {
  std::string prog = "keelctl";
  try {
    if (argc > 0 && argv[0] != nullptr && *argv[0] != '\0') {
      const char* base = std::strrchr(argv[0], '/');
      prog = base != nullptr ? base + 1 : argv[0];
    }
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
    // A user other than root talks to their own keel by default
    // ($XDG_RUNTIME_DIR/keel/control.sock: core/user_dirs.hpp).
    const char* env = std::getenv(kSocketEnv);
    const std::string own = default_control_socket();
    const char* socket = env != nullptr && *env != '\0' ? env : own.c_str();
    // analyze works on the event record client-side (its own parser).
    if (is_analyze_command(args)) return run_analyze(prog, args, socket);
    KeelctlCommand c = parse_keelctl(prog, args, socket);
    if (c.exit_code >= 0) {
      std::string text = c.message;
      if (!text.empty() && text.back() != '\n') text += '\n';
      (void)write_all(c.exit_code == 0 ? 1 : 2, text);
      return c.exit_code;
    }
    if (c.request.verb == Verb::Log) return run_log(prog, c);
    return talk_to_keel(prog, c);
  } catch (const std::exception& e) {
    error_line(prog, e.what());
  } catch (...) {
    error_line(prog, "unexpected error");
  }
  return static_cast<int>(Code::Failed);
}

}  // namespace keel::control
