// status.cpp — the text table, the detail view and the JSON of `status`.
//
// Column widths follow the longest value, so a table of 1000 services stays
// aligned without a fixed guess; a state machine's strings are short anyway.
#include "control/status.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "core/terminal_text.hpp"

namespace keel::control {
namespace {

constexpr std::int64_t kNsPerSecond = 1'000'000'000;

std::string pid_text(std::int64_t pid) { return pid > 0 ? std::to_string(pid) : "-"; }

std::string ready_text(const ServiceStatus& s) {
  if (s.readiness.empty() || s.readiness == "none") return s.ready ? "yes" : "no";
  return std::string(s.ready ? "yes" : "no") + " (" + s.readiness + ")";
}

std::string or_dash(const std::string& text) { return text.empty() ? "-" : text; }

// "unhealthy since 2026-12-06 16:20:01 UTC", "healthy", "starting", "-".
std::string health_text(const ServiceStatus& s) {
  if (s.health.empty()) return "-";
  if (s.health != "unhealthy" || s.health_since_ns <= 0) return s.health;
  const std::time_t t = static_cast<std::time_t>(s.health_since_ns / kNsPerSecond);
  std::tm tm{};
  char when[64];
  if (::gmtime_r(&t, &tm) == nullptr || std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) {
    return s.health;
  }
  return s.health + " since " + when;
}

// Column width in terminal cells, near enough: one per code point (escapes
// are ASCII by then; wide CJK characters are not measured).
std::size_t cells(const std::string& text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

void pad(std::string& out, const std::string& cell, std::size_t width) {
  out += cell;
  std::size_t n = cells(cell);
  if (n < width) out.append(width - n, ' ');
}

std::string safe(const std::string& text) { return terminal_text::escaped(text); }

// keel-wide, after the services: only when there is something to say, so the
// usual table is unchanged.
void append_keel_lines(std::string& out, const KeelStatus& keel) {
  if (keel.output_lost == 0) return;
  out += "keel: " + std::to_string(keel.output_lost) + (keel.output_lost == 1 ? " line" : " lines") +
         " of its own output lost (console or log not accepting output)\n";
}

}  // namespace

std::string format_status_detail(const ServiceStatus& s, const KeelStatus& keel) {
  std::string out;
  auto line = [&out](const char* key, const std::string& value) {
    out += key;
    terminal_text::append_escaped(value, out);
    out += '\n';
  };
  line("service:     ", s.name);
  if (!s.description.empty()) line("description: ", s.description);
  line("state:       ", s.state);
  line("pid:         ", pid_text(s.pid));
  line("uptime:      ", format_duration(s.uptime_ns));
  line("restarts:    ", std::to_string(s.restarts));
  line("last exit:   ", or_dash(s.last_exit));
  line("ready:       ", ready_text(s));
  line("last error:  ", or_dash(s.last_error));
  if (s.log_dropped != 0) line("log dropped: ", std::to_string(s.log_dropped) + " lines");
  if (!s.log_writer.empty()) line("log writer:  ", s.log_writer);
  if (s.service_errno != 0) {
    line("errno:       ", std::to_string(s.service_errno) + " (" + std::strerror(s.service_errno) + ")");
  }
  if (s.notify_refused != 0) {
    line("notify:      ", std::to_string(s.notify_refused) + " refused (last: " + s.notify_refusal + ")");
  }
  if (!s.health.empty()) line("health:      ", health_text(s));
  if (!s.probe_result.empty()) {
    line("last probe:  ", s.probe_kind + ": " + s.probe_result);
    if (!s.probe_output.empty()) line("probe output: ", s.probe_output);
  }
  if (!s.essential.empty()) line("essential:   ", s.essential);
  if (!s.on_exit.empty()) line("on exit:     ", s.on_exit);
  if (!s.on_failure.empty()) line("on failure:  ", s.on_failure);
  if (s.critical) line("critical:    ", "true (unhealthy too long: the hardware watchdog resets the machine)");
  if (!s.sockets.empty()) {
    std::string list;
    for (const ServiceStatus::Socket& so : s.sockets) {
      list += (list.empty() ? "" : ", ") + so.listen + " (" + so.name + ")";
    }
    list += s.sockets_open ? "; open" : "; not open";
    if (s.on_connection) list += ", the service starts on the first connection";
    line("sockets:     ", list);
  }
  if (s.fd_store_max != 0) {
    std::string held = std::to_string(s.fd_store.size()) + " of " + std::to_string(s.fd_store_max) + " fds";
    for (std::size_t i = 0; i < s.fd_store.size(); ++i) held += (i == 0 ? " (" : ", ") + s.fd_store[i];
    if (!s.fd_store.empty()) held += ")";
    line("fd store:    ", held);
  }
  append_keel_lines(out, keel);
  return out;
}

std::string format_duration(std::int64_t ns) {
  if (ns <= 0) return "-";
  std::int64_t s = ns / kNsPerSecond;
  char buf[32];
  if (s >= 86400) {
    std::snprintf(buf, sizeof buf, "%lldd%lldh", static_cast<long long>(s / 86400),
                  static_cast<long long>((s % 86400) / 3600));
  } else if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>((s % 3600) / 60));
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  }
  return buf;
}

std::string format_status_text(const std::vector<ServiceStatus>& services) {
  return services.size() == 1 ? format_status_detail(services.front()) : format_status_table(services);
}

std::string format_status_table(const std::vector<ServiceStatus>& services, const KeelStatus& keel) {
  if (services.empty()) {
    std::string out = "no services\n";
    append_keel_lines(out, keel);
    return out;
  }

  // A HEALTH column only when a service has a liveness probe running: the
  // usual table is unchanged.
  const bool any_health =
      std::any_of(services.begin(), services.end(), [](const ServiceStatus& s) { return !s.health.empty(); });
  std::vector<std::string> header = {"NAME", "STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT", "READY"};
  if (any_health) header.emplace_back("HEALTH");
  header.emplace_back("LAST ERROR");
  const std::size_t kColumns = header.size();
  std::vector<std::vector<std::string>> rows;
  rows.reserve(services.size() + 1);
  rows.push_back(header);
  for (const ServiceStatus& s : services) {
    rows.push_back({safe(s.name), safe(s.state), pid_text(s.pid), format_duration(s.uptime_ns),
                    std::to_string(s.restarts), safe(or_dash(s.last_exit)), safe(ready_text(s))});
    if (any_health) rows.back().push_back(safe(health_text(s)));
    rows.back().push_back(safe(or_dash(s.last_error)));
  }
  std::vector<std::size_t> width(kColumns, 0);
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < kColumns; ++c) width[c] = std::max(width[c], cells(row[c]));
  }
  std::string out;
  for (const auto& row : rows) {
    for (std::size_t c = 0; c + 1 < kColumns; ++c) {
      pad(out, row[c], width[c]);
      out += "  ";
    }
    out += row[kColumns - 1];  // the last column is not padded: no trailing blanks
    out += '\n';
  }
  append_keel_lines(out, keel);
  return out;
}

std::string json_quote(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (std::size_t i = 0; i < text.size();) {
    terminal_text::CodePoint cp = terminal_text::decode_utf8(text, i);
    std::int32_t c = cp.value;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case terminal_text::kInvalid: out += "\xEF\xBF\xBD"; break;  // U+FFFD
      default:
        if (c < 0x20 || (c >= 0x7F && c <= 0x9F)) {
          char buf[16];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c) & 0xFFU);
          out += buf;
        } else {
          out.append(text, i, cp.length);
        }
    }
    i += cp.length;
  }
  out += '"';
  return out;
}

std::string format_status_json(const std::vector<ServiceStatus>& services, const KeelStatus& keel) {
  std::string out = "[";
  bool first = true;
  for (const ServiceStatus& s : services) {
    out += first ? "\n  {" : ",\n  {";
    first = false;
    out += "\"name\": " + json_quote(s.name);
    out += ", \"description\": " + json_quote(s.description);
    out += ", \"state\": " + json_quote(s.state);
    out += ", \"pid\": " + std::to_string(s.pid > 0 ? s.pid : 0);
    out += ", \"uptime_s\": " + std::to_string(s.uptime_ns > 0 ? s.uptime_ns / kNsPerSecond : 0);
    out += ", \"uptime_ns\": " + std::to_string(s.uptime_ns > 0 ? s.uptime_ns : 0);
    out += ", \"restarts\": " + std::to_string(s.restarts);
    out += ", \"last_exit\": " + json_quote(s.last_exit);
    out += ", \"ready\": ";
    out += s.ready ? "true" : "false";
    out += ", \"readiness\": " + json_quote(s.readiness);
    out += ", \"last_error\": " + json_quote(s.last_error);
    out += ", \"log_dropped\": " + std::to_string(s.log_dropped);
    out += ", \"notify_refused\": " + std::to_string(s.notify_refused);
    out += ", \"notify_refusal\": " + json_quote(s.notify_refusal);
    out += ", \"errno\": " + std::to_string(s.service_errno);
    out += ", \"errno_text\": " + json_quote(s.service_errno != 0 ? std::strerror(s.service_errno) : "");
    out += ", \"health\": " + json_quote(s.health);
    out += ", \"health_since_ns\": " + std::to_string(s.health_since_ns > 0 ? s.health_since_ns : 0);
    out += ", \"probe\": " + json_quote(s.probe_kind);
    out += ", \"probe_result\": " + json_quote(s.probe_result);
    out += ", \"probe_output\": " + json_quote(s.probe_output);
    out += ", \"log_file\": " + json_quote(s.log_file);
    out += ", \"essential\": " + json_quote(s.essential);
    out += ", \"on_exit\": " + json_quote(s.on_exit);
    out += ", \"on_failure\": " + json_quote(s.on_failure);
    out += ", \"critical\": ";
    out += s.critical ? "true" : "false";
    out += ", \"sockets\": [";
    for (std::size_t i = 0; i < s.sockets.size(); ++i) {
      out += (i == 0 ? "{" : ", {") + std::string("\"listen\": ") + json_quote(s.sockets[i].listen) +
             ", \"name\": " + json_quote(s.sockets[i].name) + "}";
    }
    out += "], \"sockets_open\": ";
    out += s.sockets_open ? "true" : "false";
    out += ", \"start_on_connection\": ";
    out += s.on_connection ? "true" : "false";
    out += ", \"fd_store\": [";
    for (std::size_t i = 0; i < s.fd_store.size(); ++i) out += (i == 0 ? "" : ", ") + json_quote(s.fd_store[i]);
    out += "], \"fd_store_max\": " + std::to_string(s.fd_store_max);
    out += ", \"keel_output_lost\": " + std::to_string(keel.output_lost);  // keel-wide: last
    out += "}";
  }
  out += services.empty() ? "]\n" : "\n]\n";
  return out;
}

}  // namespace keel::control
