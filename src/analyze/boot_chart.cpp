// boot_chart.cpp — the SVG writer for boot_chart.hpp.
//
// Plain string building: the image is a few hundred elements. Geometry is
// in whole pixels where it can be, so the output is stable (tests and the
// example in docs/ compare it by content, not by pixels).
#include "analyze/boot_chart.hpp"

#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <map>

#include "core/terminal_text.hpp"

namespace keel::analyze {
namespace {

constexpr int kPlotWidth = 1000;   // px for the whole time span
constexpr int kRowHeight = 22;     // px per row
constexpr int kBarHeight = 14;
constexpr int kCharWidth = 7;      // px per character at 12px sans-serif, roughly
constexpr std::size_t kMaxName = 40;  // characters of a name shown
constexpr std::size_t kMaxMarkerLabel = 72;  // "target NAME @TIME"
constexpr int kTop = 92;           // y of the first row

constexpr const char* kStyle =
    "text{font-family:'DejaVu Sans',Verdana,Arial,sans-serif;font-size:12px;fill:#212121}"
    ".title{font-size:16px;font-weight:bold}.small{font-size:11px;fill:#555}"
    ".name{text-anchor:end}.end{text-anchor:end}.tick{text-anchor:middle;font-size:11px;fill:#555}"
    ".grid{stroke:#e0e0e0;stroke-width:1}.axis{stroke:#757575;stroke-width:1}"
    ".kernel{fill:#9e9e9e}.step{fill:#5c6bc0}.launch{fill:#ff9800}.startup{fill:#ffd54f}"
    ".running{fill:#81c784}.oneshot{fill:#4fc3f7}.exit{fill:#424242}.failed{fill:#e53935}"
    ".dep{stroke:#78909c;stroke-width:1;fill:none;opacity:0.7}"
    ".rng{stroke:#1e88e5;stroke-width:1.5;stroke-dasharray:6,3}"
    ".target{stroke:#8e24aa;stroke-width:1.5;stroke-dasharray:6,3}"
    ".shutdown{stroke:#e53935;stroke-width:1.5;stroke-dasharray:2,3}";

void append_escape_of(std::string& out, std::int32_t cp) {
  char buf[16];
  if (cp < 0x100) {
    std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(cp));
  } else {
    std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
  }
  out += buf;
}

// Pieces appended in one go (the SVG is built in loops).
void append(std::string& out, std::initializer_list<std::string_view> parts) {
  for (std::string_view p : parts) out.append(p);
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  std::string s = buf;
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s;
}

// Tick spacing: 1, 2 or 5 times a power of ten, for about 10 ticks.
std::int64_t tick_step(std::int64_t span_us) {
  const std::int64_t raw = std::max<std::int64_t>(1, span_us / 10);
  std::int64_t p = 1;
  while (p * 10 <= raw) p *= 10;
  if (raw >= 5 * p) return 5 * p;
  if (raw >= 2 * p) return 2 * p;
  return p;
}

std::string tick_label(std::int64_t us, std::int64_t step) {
  char buf[32];
  if (us == 0) return "0";
  if (step >= 1'000'000) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(us / 1'000'000));
  } else if (step >= 100'000) {
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(us) / 1e6);
  } else if (step >= 1000) {
    std::snprintf(buf, sizeof buf, "%lldms", static_cast<long long>(us / 1000));
  } else {
    std::snprintf(buf, sizeof buf, "%.1fms", static_cast<double>(us) / 1000.0);
  }
  return buf;
}

class Svg {
 public:
  Svg(std::int64_t origin_us, std::int64_t span_us, int left) : origin_(origin_us), span_(span_us), left_(left) {}

  [[nodiscard]] double x(std::int64_t us) const {
    const double t = static_cast<double>(std::clamp<std::int64_t>(us - origin_, 0, span_));
    return left_ + t * kPlotWidth / static_cast<double>(span_);
  }

  void rect(const char* cls, std::int64_t from, std::int64_t to, int y, const std::string& title) {
    const double x0 = x(from);
    const double w = std::max(1.0, x(to) - x0);  // a 0 µs phase still shows as a hairline
    body += "<rect class=\"" + std::string(cls) + "\" x=\"" + num(x0) + "\" y=\"" + std::to_string(y) +
            "\" width=\"" + num(w) + "\" height=\"" + std::to_string(kBarHeight) + "\"><title>" + title +
            "</title></rect>\n";
  }

  void text(int x_px, int y, const std::string& cls, const std::string& escaped_text) {
    body += "<text x=\"" + std::to_string(x_px) + "\" y=\"" + std::to_string(y) + "\"" +
            (cls.empty() ? std::string() : " class=\"" + cls + "\"") + ">" + escaped_text + "</text>\n";
  }

  std::string body;

 private:
  std::int64_t origin_;
  std::int64_t span_;
  int left_;
};

std::string phase_title(const std::string& name, const char* phase, std::int64_t from, std::int64_t to) {
  return name + ": " + phase + " " + xml_escaped(format_duration(to - from));
}

}  // namespace

std::string xml_escaped(std::string_view text, std::size_t max_chars) {
  std::string out;
  std::size_t chars = 0;
  for (std::size_t at = 0; at < text.size();) {
    if (max_chars != 0 && chars == max_chars) {
      out += "\u2026";
      break;
    }
    const terminal_text::CodePoint cp = terminal_text::decode_utf8(text, at);
    const std::int32_t v = cp.value;
    if (v == terminal_text::kInvalid) {
      out += "\uFFFD";
    } else if (v < 0x20 || (v >= 0x7F && v <= 0x9F) || v == 0xFFFE || v == 0xFFFF) {
      append_escape_of(out, v);
    } else if (v == '&') {
      out += "&amp;";
    } else if (v == '<') {
      out += "&lt;";
    } else if (v == '>') {
      out += "&gt;";
    } else if (v == '"') {
      out += "&quot;";
    } else if (v == '\'') {
      out += "&apos;";
    } else {
      out.append(text.substr(at, cp.length));
    }
    at += cp.length;
    ++chars;
  }
  return out;
}

std::string boot_chart_svg(const BootAnalysis& boot) {
  const bool kernel = has_kernel_phase(boot);
  const std::int64_t origin = kernel ? 0 : std::max<std::int64_t>(0, boot.origin_us());
  const std::int64_t end = std::max(boot.last_us, origin);
  const std::int64_t span = std::max<std::int64_t>(end - origin, 1000);

  // Row labels, to size the name column.
  std::size_t longest = 12;
  for (const ServiceTimeline& s : boot.services) longest = std::max(longest, std::min(s.name.size(), kMaxName + 1));
  const int left = static_cast<int>(longest) * kCharWidth + 24;
  const int rows = (kernel ? 1 : 0) + static_cast<int>(boot.steps.size()) + static_cast<int>(boot.services.size());
  const int plot_bottom = kTop + std::max(rows, 1) * kRowHeight;
  const int width = left + kPlotWidth + 180;  // room for the text after the last bar
  const int height = plot_bottom + 80;

  Svg svg(origin, span, left);
  std::string& b = svg.body;

  // Title and summary.
  svg.text(16, 24, "title", "keel boot chart");
  std::string summary = summary_text(boot);
  std::size_t line_y = 44;
  for (std::size_t at = 0; at < summary.size();) {
    std::size_t nl = summary.find('\n', at);
    if (nl == std::string::npos) nl = summary.size();
    svg.text(16, static_cast<int>(line_y), "small", xml_escaped(summary.substr(at, nl - at)));
    line_y += 14;
    at = nl + 1;
  }

  // Axis: grid lines through every row, labels above.
  const std::int64_t step = tick_step(span);
  const int axis_y = kTop - 8;
  b += "<line class=\"axis\" x1=\"" + std::to_string(left) + "\" y1=\"" + std::to_string(axis_y) + "\" x2=\"" +
       std::to_string(left + kPlotWidth) + "\" y2=\"" + std::to_string(axis_y) + "\"/>\n";
  for (std::int64_t i = 0; i <= span / step; ++i) {  // by count: t += step could pass INT64_MAX
    const std::int64_t t = i * step;
    const std::string xs = num(svg.x(origin + t));
    append(b, {"<line class=\"grid\" x1=\"", xs, "\" y1=\"", std::to_string(axis_y), "\" x2=\"", xs, "\" y2=\"",
               std::to_string(plot_bottom), "\"/>\n"});
    b += "<text class=\"tick\" x=\"" + xs + "\" y=\"" + std::to_string(axis_y - 4) + "\">" +
         xml_escaped(tick_label(t, step)) + "</text>\n";
  }

  int row = 0;
  auto row_y = [&](int r) { return kTop + r * kRowHeight + (kRowHeight - kBarHeight) / 2; };
  auto label = [&](int r, const std::string& escaped_name) {
    svg.text(left - 8, row_y(r) + kBarHeight - 3, "name", escaped_name);
  };
  auto after_text = [&](std::int64_t at_us, int r, const std::string& escaped_text) {
    svg.text(static_cast<int>(svg.x(at_us)) + 5, row_y(r) + kBarHeight - 3, "small", escaped_text);
  };

  if (kernel) {
    label(row, "kernel");
    svg.rect("kernel", 0, boot.keel_start_us, row_y(row), "kernel: to init " + xml_escaped(format_duration(boot.keel_start_us)));
    after_text(boot.keel_start_us, row, xml_escaped(format_duration(boot.keel_start_us)));
    ++row;
  }
  for (const BootStep& s : boot.steps) {
    const std::string name = xml_escaped("keel: " + s.step, kMaxName);
    label(row, name);
    svg.rect("step", s.start_us, s.end_us, row_y(row), name + " " + xml_escaped(format_duration(s.end_us - s.start_us)));
    after_text(s.end_us, row, xml_escaped(format_duration(s.end_us - s.start_us)));
    ++row;
  }

  // Services; remember where each came up, for the dependency lines.
  std::map<std::string, std::pair<double, int>> up_at;  // name -> (x, y of the bar's middle)
  const int first_service_row = row;
  for (const ServiceTimeline& s : boot.services) {
    const std::string name = xml_escaped(s.name, kMaxName);
    const int y = row_y(row);
    label(row, name);
    std::int64_t stop = s.exited_us >= 0 ? s.exited_us : s.failed_us >= 0 ? s.failed_us : end;
    stop = std::max(stop, s.starting_us);
    const std::int64_t launched = s.started_us >= 0 ? std::min(s.started_us, stop) : stop;
    svg.rect("launch", s.starting_us, launched, y, phase_title(name, "launching", s.starting_us, launched));
    if (s.started_us >= 0) {
      if (s.done_us >= 0) {
        svg.rect("oneshot", launched, std::max(launched, s.done_us), y,
                 phase_title(name, "oneshot run", launched, std::max(launched, s.done_us)));
        stop = std::max(launched, s.done_us);
      } else if (s.ready_us >= 0) {
        const std::int64_t ready = std::clamp(s.ready_us, launched, std::max(launched, stop));
        svg.rect("startup", launched, ready, y, phase_title(name, "starting up", launched, ready));
        if (stop > ready) svg.rect("running", ready, stop, y, phase_title(name, "running", ready, stop));
      } else if (stop > launched) {
        svg.rect("running", launched, stop, y, phase_title(name, "running (no readiness seen)", launched, stop));
      }
    }
    std::string note;
    if (s.startup_us() >= 0) note = "+" + format_duration(s.startup_us());
    if (s.failed_us >= 0 || s.exited_us >= 0) {
      const bool failed = s.failed_us >= 0;
      const std::int64_t at = failed ? s.failed_us : s.exited_us;
      b += "<rect class=\"" + std::string(failed ? "failed" : "exit") + "\" x=\"" + num(svg.x(at) - 1) + "\" y=\"" +
           std::to_string(y - 2) + "\" width=\"3\" height=\"" + std::to_string(kBarHeight + 4) + "\"><title>" + name +
           ": " + (failed ? "failed" : xml_escaped(s.exit_text)) + "</title></rect>\n";
      note += std::string(note.empty() ? "" : ", ") + (failed ? "failed" : s.exit_text);
    }
    if (s.starts > 1) note += ", started " + std::to_string(s.starts) + " times";
    after_text(stop, row, xml_escaped(note));
    const std::int64_t up = s.up_us();
    if (up >= 0) up_at[s.name] = {svg.x(up), y + kBarHeight / 2};
    ++row;
  }
  // Dependency lines: from where each predecessor came up to where the
  // service started (drawn after the bars they join, under the markers).
  row = first_service_row;
  for (const ServiceTimeline& s : boot.services) {
    const int y = row_y(row) + kBarHeight / 2;
    for (const std::string& p : s.after) {
      auto it = up_at.find(p);
      if (it == up_at.end()) continue;
      const double xs = svg.x(s.starting_us);
      b += "<path class=\"dep\" d=\"M" + num(it->second.first) + "," + std::to_string(it->second.second) + " L" +
           num(it->second.first) + "," + std::to_string(y) + " L" + num(xs) + "," + std::to_string(y) + "\"/>\n";
    }
    ++row;
  }

  // Markers: vertical lines through the rows, labelled at the top.
  int marker_index = 0;
  for (const Marker& m : boot.markers) {
    const char* cls = m.label == "rng-ready" ? "rng" : m.label.rfind("target", 0) == 0 ? "target" : "shutdown";
    const std::string xs = num(svg.x(m.at_us));
    append(b, {"<line class=\"", cls, "\" x1=\"", xs, "\" y1=\"", std::to_string(kTop - 4), "\" x2=\"", xs,
               "\" y2=\"", std::to_string(plot_bottom), "\"/>\n"});
    // Labels alternate between two lines below the rows so that close
    // markers do not overwrite each other.
    // A label near the right edge ends at its line instead of starting there.
    const bool near_end = svg.x(m.at_us) > left + kPlotWidth * 0.75;
    svg.text(static_cast<int>(svg.x(m.at_us)) + (near_end ? -3 : 3), plot_bottom + 12 + (marker_index % 2) * 12,
             near_end ? "small end" : "small",
             xml_escaped(m.label + " @" + format_duration(m.at_us - boot.origin_us()), kMaxMarkerLabel));
    ++marker_index;
  }

  // Legend.
  struct Key {
    const char* cls;
    const char* text;
  };
  constexpr Key kKeys[] = {{"kernel", "kernel to init"}, {"step", "keel boot step"},
                           {"launch", "launching (starting -> started)"},
                           {"startup", "starting up (started -> ready)"},
                           {"running", "running"}, {"oneshot", "oneshot run (-> done)"},
                           {"exit", "exited"}, {"failed", "failed"}};
  int lx = 16;
  const int ly = plot_bottom + 40;
  for (const Key& k : kKeys) {
    b += "<rect class=\"" + std::string(k.cls) + "\" x=\"" + std::to_string(lx) + "\" y=\"" + std::to_string(ly) +
         "\" width=\"14\" height=\"12\"/>\n";
    svg.text(lx + 18, ly + 10, "small", xml_escaped(k.text));
    lx += 18 + static_cast<int>(std::char_traits<char>::length(k.text)) * 6 + 16;
  }
  const int ly2 = ly + 28;
  lx = 16;
  constexpr Key kLines[] = {{"rng", "rng-ready"}, {"target", "target reached"}, {"shutdown", "shutdown"},
                            {"dep", "ordered after (from the predecessor's up time)"}};
  for (const Key& k : kLines) {
    b += "<line class=\"" + std::string(k.cls) + "\" x1=\"" + std::to_string(lx) + "\" y1=\"" + std::to_string(ly2 - 4) +
         "\" x2=\"" + std::to_string(lx + 20) + "\" y2=\"" + std::to_string(ly2 - 4) + "\"/>\n";
    svg.text(lx + 24, ly2, "small", xml_escaped(k.text));
    lx += 24 + static_cast<int>(std::char_traits<char>::length(k.text)) * 6 + 16;
  }

  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
         std::to_string(height + 20) + "\" viewBox=\"0 0 " + std::to_string(width) + " " + std::to_string(height + 20) +
         "\">\n";
  out += "<style>" + std::string(kStyle) + "</style>\n";
  out += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  out += b;
  out += "</svg>\n";
  return out;
}

}  // namespace keel::analyze
