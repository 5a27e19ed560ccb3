// analyze_command.cpp — keelctl's analyze subcommands (see the header).
#include "control/analyze_command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <string_view>

#include "analyze/boot_analysis.hpp"
#include "analyze/boot_chart.hpp"
#include "control/keelctl.hpp"
#include "control/protocol.hpp"
#include "core/event_loop.hpp"
#include "core/limits.hpp"
#include "core/terminal_text.hpp"

namespace keel::control {
namespace {

constexpr const char* kHelp =
    "Usage: PROG analyze blame [--input FILE]\n"
    "       PROG analyze critical-chain [SERVICE] [--input FILE]\n"
    "       PROG analyze plot [--input FILE] > boot.svg\n"
    "\n"
    "Analyse the boot from the events keel kept since it started.\n"
    "\n"
    "  blame            each service's start-up time (starting -> ready; -> started for\n"
    "                   a service without readiness; -> done for a oneshot), slowest first\n"
    "  critical-chain   the chain of `after` predecessors that decided when SERVICE\n"
    "                   started (default: the last service up before the target), each\n"
    "                   with @TIME since keel started and +TIME it took to come up\n"
    "  plot             an SVG timeline of the boot (kernel, keel's boot steps, one bar\n"
    "                   per service in phases, rng-ready and the target marked) on stdout\n"
    "\n"
    "  --input FILE     read event lines (keelctl events --json, or a console's\n"
    "                   `keel-event: ` lines) from FILE ('-': stdin) instead of asking keel\n"
    "  --socket PATH    the control socket (as for every command)\n"
    "\n"
    "Lines that are not events are skipped and counted; events keel lost (its record is\n"
    "bounded) are reported. Exit status: 0 ok, 1 failed or no services in the record,\n"
    "2 usage, 3 no such service in the record.\n";

AnalyzeCommand usage(const std::string& prog, const std::string& what) {
  AnalyzeCommand c;
  c.exit_code = kUsageExit;
  c.message = prog + ": " + what + "\nTry '" + prog + " analyze --help' for more information.";
  return c;
}

bool write_all(int fd, std::string_view data) noexcept {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// The console's `keel-event: ` marker is accepted in --input too, so a
// saved serial log can be analysed as it is: the first 4 KiB decide.
// Reads FILE ("-": stdin) into a record. Returns "" or an error message.
std::string read_input(const std::string& path, analyze::EventRecord& record) {
  int fd = 0;
  if (path != "-") {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return path + ": " + std::strerror(errno);
  }
  analyze::EventReader reader;
  analyze::ConsoleEventCollector console;
  bool console_mode = false;
  std::string head;
  std::string buf(std::size_t{64} * 1024, '\0');
  std::string error;
  // Bytes buffered before the marker test decided: fed on decision.
  std::string pending;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = (path == "-" ? std::string("stdin") : path) + ": " + std::strerror(errno);
      break;
    }
    if (n == 0) break;
    const std::string_view chunk(buf.data(), static_cast<std::size_t>(n));
    if (!console_mode && head.size() < 4096) {
      // Still deciding: keep the text until 4 KiB have been seen.
      pending.append(chunk);
      head = pending.substr(0, 4096);
      if (head.find(analyze::ConsoleEventCollector::kMarker) != std::string::npos) {
        console_mode = true;
        console.feed(pending);
        pending.clear();
      } else if (pending.size() >= 4096) {
        reader.feed(pending);
        pending.clear();
      }
      continue;
    }
    if (console_mode) {
      console.feed(chunk);
    } else {
      reader.feed(chunk);
    }
  }
  if (fd != 0) ::close(fd);
  if (!pending.empty()) reader.feed(pending);
  if (console_mode) {
    console.finish();
    reader.feed(console.lines());
  }
  reader.finish();
  record = std::move(reader.record());
  return error;
}

// Asks keel for the events it kept since boot. Returns "" or an error.
std::string read_from_keel(const std::string& path, analyze::EventRecord& record, int& status) {
  status = static_cast<int>(Code::Failed);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return "socket path too long: " + path;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    if (e == EACCES || e == EPERM) {
      status = static_cast<int>(Code::Denied);
      return "permission denied: cannot connect to " + path + ": " + std::strerror(e);
    }
    return "keel is not running, or not at " + path + ": " + std::strerror(e) +
           " (or give --input FILE with saved events)";
  }
  Request request;
  request.verb = Verb::Events;
  request.flags = kFlagSinceBoot;  // the kept events, then the Final frame (no Follow)
  const std::string frame = encode_request(request);
  std::string_view out = frame;
  while (!out.empty()) {
    const ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // keel's reply (a refusal) may still be there to read
    out.remove_prefix(static_cast<std::size_t>(n));
  }
  analyze::EventReader reader;
  FrameDecoder decoder(limits::kControlMaxReply);
  const std::int64_t deadline = monotonic_ns() + kReplyTimeoutMs * 1'000'000;
  std::string buf(std::size_t{64} * 1024, '\0');
  for (;;) {
    const std::int64_t left_ms = (deadline - monotonic_ns()) / 1'000'000;
    if (left_ms <= 0) {
      status = static_cast<int>(Code::Timeout);
      return "no reply from keel within " + std::to_string(kReplyTimeoutMs / 1000) + " s";
    }
    pollfd pfd{fd, POLLIN, 0};
    const int r = ::poll(&pfd, 1, static_cast<int>(left_ms > 60'000 ? 60'000 : left_ms));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return std::string("poll: ") + std::strerror(errno);
    if (r == 0) continue;
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return n == 0 ? std::string("keel closed the connection before the end of the events")
                    : std::string("read: ") + std::strerror(errno);
    }
    std::string_view input(buf.data(), static_cast<std::size_t>(n));
    while (!input.empty()) {
      const FrameDecoder::Result res = decoder.feed(input);
      if (res == FrameDecoder::Result::NeedMore) break;
      if (res == FrameDecoder::Result::Error) {
        return "bad reply from keel: " + reject_message(decoder.error(), decoder.seen_version());
      }
      if (decoder.type() == FrameType::Data) {
        reader.feed(decoder.payload());
        continue;
      }
      if (decoder.type() != FrameType::Final) return "bad reply from keel: unexpected frame type";
      Code code = Code::Failed;
      std::string_view body;
      if (decode_final(decoder.payload(), code, body) != Reject::None) return "bad reply from keel: empty final frame";
      if (code != Code::Ok) {
        status = static_cast<int>(code);
        // An older keel does not know the Events verb.
        return body.empty() ? std::string("keel refused the events request") : std::string(body);
      }
      // Whatever the Final frame's body holds is the record's tail.
      reader.feed(body);
      reader.finish();
      record = std::move(reader.record());
      status = 0;
      return "";
    }
  }
}

}  // namespace

bool is_analyze_command(const std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--socket") {
      ++i;
      continue;
    }
    if (a == "--") return i + 1 < args.size() && args[i + 1] == "analyze";
    if (!a.empty() && a[0] == '-' && a != "-") continue;
    return a == "analyze";
  }
  return false;
}

std::string analyze_overview_line() {
  std::string left = "  analyze blame|critical-chain|plot";
  if (left.size() < 40) left.append(40 - left.size(), ' ');
  return left + "  boot analysis from keel's events (plot: an SVG)\n";
}

AnalyzeCommand parse_analyze(const std::string& prog, const std::vector<std::string>& args, const char* env_socket) {
  AnalyzeCommand c;
  bool seen_analyze = false;
  bool help = false;
  bool have_socket = false;
  std::vector<std::string> positional;
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!options_done && !a.empty() && a[0] == '-' && a != "-") {
      if (a == "--") {
        options_done = true;
      } else if (a == "-h" || a == "--help") {
        help = true;
      } else if (a == "--socket" || a == "--input") {
        if (i + 1 >= args.size()) return usage(prog, "option '" + a + "' needs a value");
        (a == "--socket" ? c.socket_path : c.input) = args[++i];
        if (a == "--socket") have_socket = true;
        if (args[i].empty()) return usage(prog, a + " needs a path");
      } else if (a.rfind("--socket=", 0) == 0) {
        c.socket_path = a.substr(9);
        have_socket = true;
      } else if (a.rfind("--input=", 0) == 0) {
        c.input = a.substr(8);
        if (c.input.empty()) return usage(prog, "--input needs a path");
      } else {
        return usage(prog, "unknown option '" + a + "'");
      }
      continue;
    }
    if (!seen_analyze && a == "analyze") {
      seen_analyze = true;
      continue;
    }
    positional.push_back(a);
  }
  if (help) {
    c.exit_code = 0;
    c.message = kHelp;
    for (std::size_t at = c.message.find("PROG"); at != std::string::npos; at = c.message.find("PROG", at)) {
      c.message.replace(at, 4, prog);
    }
    return c;
  }
  if (positional.empty()) return usage(prog, "analyze: say what to show (blame, critical-chain or plot)");
  c.action = positional[0];
  const std::size_t max_args = c.action == "critical-chain" ? 2 : 1;
  if (c.action != "blame" && c.action != "critical-chain" && c.action != "plot") {
    return usage(prog, "analyze: unknown report '" + positional[0] + "' (blame, critical-chain or plot)");
  }
  if (positional.size() > max_args) return usage(prog, "analyze " + c.action + ": unexpected argument '" + positional[max_args] + "'");
  if (positional.size() == 2) c.service = positional[1];
  if (!have_socket) {
    // The default socket is keelctl's own choice (environment, user mode).
    c.socket_path = parse_keelctl(prog, {"status"}, env_socket).socket_path;
  }
  return c;
}

int analyze_report(const AnalyzeCommand& command, const analyze::EventRecord& record, std::string& out,
                   std::string& err) {
  const analyze::BootAnalysis boot = analyze::analyze_boot(record);
  if (boot.malformed > 0) err += "note: " + std::to_string(boot.malformed) + " line(s) that are not events skipped\n";
  if (boot.lost > 0) err += "note: " + std::to_string(boot.lost) + " event(s) lost: keel's record is bounded\n";
  if (command.action == "plot") {
    out += analyze::boot_chart_svg(boot);
    return boot.services.empty() && boot.steps.empty() ? 1 : 0;
  }
  if (boot.services.empty()) {
    err += "no service started in the record (" + std::to_string(record.events.size()) + " event(s))\n";
    return 1;
  }
  if (command.action == "blame") {
    out += analyze::blame_text(boot);
    return 0;
  }
  std::string name = command.service.empty() ? analyze::default_chain_service(boot) : command.service;
  if (name.empty()) {
    err += "no service came up in the record: give SERVICE\n";
    return 1;
  }
  const auto chain = analyze::critical_chain(boot, name);
  if (!chain) {
    err += "no service '" + terminal_text::escaped(name) + "' started in the record\n";
    return static_cast<int>(Code::NoService);
  }
  out += analyze::critical_chain_text(boot, *chain);
  return 0;
}

int run_analyze(const std::string& prog, const std::vector<std::string>& args, const char* env_socket) noexcept {
  try {
    const AnalyzeCommand c = parse_analyze(prog, args, env_socket);
    if (c.exit_code >= 0) {
      std::string text = c.message;
      if (!text.empty() && text.back() != '\n') text += '\n';
      (void)write_all(c.exit_code == 0 ? 1 : 2, text);
      return c.exit_code;
    }
    analyze::EventRecord record;
    std::string error;
    int status = 0;
    if (c.input.empty()) {
      error = read_from_keel(c.socket_path, record, status);
    } else {
      error = read_input(c.input, record);
      status = error.empty() ? 0 : static_cast<int>(Code::Failed);
    }
    if (!error.empty()) {
      (void)write_all(2, prog + ": " + terminal_text::escaped(error) + "\n");
      return status != 0 ? status : static_cast<int>(Code::Failed);
    }
    std::string out;
    std::string err;
    const int code = analyze_report(c, record, out, err);
    (void)write_all(1, out);
    if (!err.empty()) (void)write_all(2, prog + ": " + err);
    return code;
  } catch (const std::exception& e) {
    (void)write_all(2, prog + ": " + e.what() + "\n");
  } catch (...) {
    (void)write_all(2, prog + ": unexpected error\n");
  }
  return static_cast<int>(Code::Failed);
}

}  // namespace keel::control
