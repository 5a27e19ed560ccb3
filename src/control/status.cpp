// status.cpp — the text table, the detail view and the JSON of `status`.
//
// Column widths follow the longest value, so a table of 1000 services stays
// aligned without a fixed guess; a state machine's strings are short anyway.
#include "control/status.hpp"

#include <algorithm>
#include <cstdio>

namespace keel::control {
namespace {

constexpr std::int64_t kNsPerSecond = 1'000'000'000;

std::string pid_text(std::int64_t pid) { return pid > 0 ? std::to_string(pid) : "-"; }

std::string ready_text(const ServiceStatus& s) {
  if (s.readiness.empty() || s.readiness == "none") return s.ready ? "yes" : "no";
  return std::string(s.ready ? "yes" : "no") + " (" + s.readiness + ")";
}

std::string or_dash(const std::string& text) { return text.empty() ? "-" : text; }

void pad(std::string& out, const std::string& cell, std::size_t width) {
  out += cell;
  if (cell.size() < width) out.append(width - cell.size(), ' ');
}

}  // namespace

std::string format_status_detail(const ServiceStatus& s) {
  std::string out;
  auto line = [&out](const char* key, const std::string& value) {
    out += key;
    out += value;
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

std::string format_status_table(const std::vector<ServiceStatus>& services) {
  if (services.empty()) return "no services\n";

  static const char* const kHeader[] = {"NAME", "STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT", "READY", "LAST ERROR"};
  constexpr std::size_t kColumns = sizeof kHeader / sizeof kHeader[0];
  std::vector<std::vector<std::string>> rows;
  rows.reserve(services.size() + 1);
  rows.emplace_back(std::begin(kHeader), std::end(kHeader));
  for (const ServiceStatus& s : services) {
    rows.push_back({s.name, s.state, pid_text(s.pid), format_duration(s.uptime_ns), std::to_string(s.restarts),
                    or_dash(s.last_exit), ready_text(s), or_dash(s.last_error)});
  }
  std::size_t width[kColumns] = {};
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < kColumns; ++c) width[c] = std::max(width[c], row[c].size());
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
  return out;
}

std::string json_quote(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || c == 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

std::string format_status_json(const std::vector<ServiceStatus>& services) {
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
    out += "}";
  }
  out += services.empty() ? "]\n" : "\n]\n";
  return out;
}

}  // namespace keel::control
