#include "service/toml_reader.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "core/limits.hpp"

namespace keel::service {
namespace {

constexpr std::int64_t kNsPerSecond = 1'000'000'000;

}  // namespace

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1);
  std::vector<std::size_t> cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string q(std::string_view s) { return "'" + std::string(s) + "'"; }

int line_of(const toml::node& n) { return static_cast<int>(n.source().begin.line); }

const char* type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

bool is_absolute_path(std::string_view p) { return !p.empty() && p.front() == '/'; }


std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::optional<std::uint64_t> parse_size(std::string_view s) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end == s.data()) return std::nullopt;
  std::string suffix = lower(std::string_view(end, static_cast<std::size_t>(s.data() + s.size() - end)));
  if (suffix.size() > 1 && (suffix.ends_with("ib") || suffix.ends_with("b"))) {
    suffix.erase(suffix.size() - (suffix.ends_with("ib") ? 2 : 1));
  }
  int shift = 0;
  if (suffix.empty() || suffix == "b") {
    shift = 0;
  } else if (suffix == "k") {
    shift = 10;
  } else if (suffix == "m") {
    shift = 20;
  } else if (suffix == "g") {
    shift = 30;
  } else if (suffix == "t") {
    shift = 40;
  } else {
    return std::nullopt;
  }
  if (value > (std::numeric_limits<std::uint64_t>::max() >> shift)) return std::nullopt;
  return value << shift;
}


void TomlReader::error(int line, std::string_view key, std::string message) {
  errors_.push_back(ConfigError{file_, line, std::string(key), std::move(message)});
}
void TomlReader::type_error(const Field& f, const char* expected) {
  error(f.line, f.key, std::string("expected ") + expected + ", got " + type_name(*f.node));
}

void TomlReader::check_keys(const toml::table& t, const std::string& prefix, std::span<const std::string_view> known) {
  for (auto&& [k, v] : t) {
    if (std::find(known.begin(), known.end(), k.str()) != known.end()) continue;
    std::string message = "unknown key";
    std::string_view best;
    std::size_t best_distance = 3;
    for (std::string_view candidate : known) {
      const std::size_t d = edit_distance(k.str(), candidate);
      if (d < best_distance) {
        best_distance = d;
        best = candidate;
      }
    }
    if (!best.empty()) message += "; did you mean " + q(best) + "?";
    int line = static_cast<int>(k.source().begin.line);
    if (line == 0) line = line_of(v);
    error(line, prefix + std::string(k.str()), std::move(message));
  }
}

Field TomlReader::field(const toml::table& t, std::string_view key, const std::string& prefix) {
  auto it = t.find(key);
  if (it == t.end()) return {};
  int line = static_cast<int>(it->first.source().begin.line);
  if (line == 0) line = line_of(it->second);
  return {&it->second, line, prefix + std::string(key)};
}

std::optional<std::string> TomlReader::string_of(const Field& f) {
  if (!f.node->is_string()) {
    type_error(f, "a string");
    return std::nullopt;
  }
  return f.node->as_string()->get();
}

std::optional<std::int64_t> TomlReader::int_of(const Field& f, std::int64_t lo, std::int64_t hi) {
  if (!f.node->is_integer()) {
    type_error(f, "an integer");
    return std::nullopt;
  }
  const std::int64_t v = f.node->as_integer()->get();
  if (v < lo || v > hi) {
    error(f.line, f.key, "must be from " + std::to_string(lo) + " to " + std::to_string(hi) + ", not " +
                             std::to_string(v));
    return std::nullopt;
  }
  return v;
}

std::optional<bool> TomlReader::bool_of(const Field& f) {
  if (!f.node->is_boolean()) {
    type_error(f, "a boolean");
    return std::nullopt;
  }
  return f.node->as_boolean()->get();
}


// Seconds, integer or float, into nanoseconds.
std::optional<std::int64_t> TomlReader::seconds_of(const Field& f) {
  // Capped here so no timer arithmetic downstream can overflow (see limits.hpp).
  constexpr std::int64_t kMaxSeconds = limits::kMaxDurationSeconds;
  static_assert(kMaxSeconds <= std::numeric_limits<std::int64_t>::max() / kNsPerSecond);
  const std::string range = "must be from 0 to " + std::to_string(kMaxSeconds) + " seconds (one year)";
  if (f.node->is_integer()) {
    const std::int64_t v = f.node->as_integer()->get();
    if (v < 0 || v > kMaxSeconds) {
      error(f.line, f.key, range + ", not " + std::to_string(v));
      return std::nullopt;
    }
    return v * kNsPerSecond;
  }
  if (f.node->is_floating_point()) {
    const double v = f.node->as_floating_point()->get();
    if (!std::isfinite(v) || v < 0 || v > static_cast<double>(kMaxSeconds)) {
      error(f.line, f.key, range);
      return std::nullopt;
    }
    return std::llround(v * static_cast<double>(kNsPerSecond));
  }
  type_error(f, "a number of seconds");
  return std::nullopt;
}

// Bytes: an integer, or a string like "64K" / "1M".
std::optional<std::uint64_t> TomlReader::size_of(const Field& f, std::uint64_t lo, std::uint64_t hi) {
  std::optional<std::uint64_t> v;
  if (f.node->is_integer()) {
    const std::int64_t i = f.node->as_integer()->get();
    if (i >= 0) v = static_cast<std::uint64_t>(i);
  } else if (f.node->is_string()) {
    v = parse_size(f.node->as_string()->get());
    if (!v) {
      error(f.line, f.key, "expected a size like 65536, \"64K\" or \"1M\", not " + q(f.node->as_string()->get()));
      return std::nullopt;
    }
  } else {
    type_error(f, "a size (bytes, or a string like \"64K\")");
    return std::nullopt;
  }
  if (!v || *v < lo || *v > hi) {
    error(f.line, f.key, "must be from " + std::to_string(lo) + " to " + std::to_string(hi) + " bytes");
    return std::nullopt;
  }
  return v;
}

std::optional<std::string> TomlReader::abs_path_of(const Field& f) {
  auto s = string_of(f);
  if (!s) return std::nullopt;
  if (!is_absolute_path(*s)) {
    error(f.line, f.key, "must be an absolute path, not " + q(*s));
    return std::nullopt;
  }
  return s;
}

// Each element of an array of strings with its own line.
std::optional<std::vector<std::pair<std::string, int>>> TomlReader::strings_of(const Field& f) {
  const toml::array* a = f.node->as_array();
  if (a == nullptr) {
    type_error(f, "an array of strings");
    return std::nullopt;
  }
  std::vector<std::pair<std::string, int>> out;
  bool ok = true;
  for (const toml::node& e : *a) {
    const int line = line_of(e) > 0 ? line_of(e) : f.line;
    if (!e.is_string()) {
      error(line, f.key, std::string("expected an array of strings, got ") + type_name(e) + " in it");
      ok = false;
      continue;
    }
    out.emplace_back(e.as_string()->get(), line);
  }
  if (!ok) return std::nullopt;
  return out;
}


}  // namespace keel::service
