#include "control/event_format.hpp"

#include <cstdint>
#include <utility>
#include <vector>

#include "core/terminal_text.hpp"

namespace keel::control {

namespace {

// A minimal reader for the flat objects keel writes: string, number,
// true/false/null and lists of strings as values.
class Reader {
 public:
  explicit Reader(std::string_view text) : s_(text) {}

  bool object(std::vector<std::pair<std::string, std::string>>& fields) {
    skip();
    if (!eat('{')) return false;
    skip();
    if (eat('}')) return at_end();
    for (;;) {
      std::string key, value;
      skip();
      if (!string(key)) return false;
      skip();
      if (!eat(':')) return false;
      skip();
      if (!this->value(value)) return false;
      fields.emplace_back(std::move(key), std::move(value));
      skip();
      if (eat(',')) continue;
      if (eat('}')) return at_end();
      return false;
    }
  }

 private:
  bool at_end() {
    skip();
    return i_ == s_.size();
  }
  void skip() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\r' || s_[i_] == '\n')) ++i_;
  }
  bool eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  static void utf8(std::uint32_t cp, std::string& out) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  bool string(std::string& out) {
    if (!eat('"')) return false;
    while (i_ < s_.size()) {
      char c = s_[i_++];
      if (c == '"') return true;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) return false;
      char e = s_[i_++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': {
          if (i_ + 4 > s_.size()) return false;
          std::uint32_t cp = 0;
          for (int k = 0; k < 4; ++k) {
            int h = hex(s_[i_++]);
            if (h < 0) return false;
            cp = cp * 16 + static_cast<std::uint32_t>(h);
          }
          // Surrogates (keel never writes them) as U+FFFD.
          utf8(cp >= 0xD800 && cp <= 0xDFFF ? 0xFFFD : cp, out);
          break;
        }
        default: out += e; break;  // \" \\ \/
      }
    }
    return false;
  }
  bool value(std::string& out) {
    if (i_ >= s_.size()) return false;
    if (s_[i_] == '"') return string(out);
    if (eat('[')) {
      skip();
      if (eat(']')) return true;
      for (bool first = true;; first = false) {
        skip();
        std::string item;
        if (!value(item)) return false;
        if (!first) out += ',';
        out += item;
        skip();
        if (eat(',')) continue;
        return eat(']');
      }
    }
    std::size_t start = i_;
    while (i_ < s_.size() && s_[i_] != ',' && s_[i_] != '}' && s_[i_] != ']' && s_[i_] != ' ') ++i_;
    if (i_ == start) return false;
    out.assign(s_.substr(start, i_ - start));
    return true;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

void pad(std::string& out, std::size_t from, std::size_t width) {
  std::size_t len = out.size() - from;
  out.append(len < width ? width - len : 1, ' ');
}

}  // namespace

std::string format_event_line(std::string_view json) {
  std::vector<std::pair<std::string, std::string>> fields;
  Reader reader(json);
  if (!reader.object(fields)) return terminal_text::escaped(json) + "\n";
  std::string time = "-", service = "-", event = "?";
  std::string rest;
  for (auto& [key, value] : fields) {
    if (key == "seq" || key == "mono_us") continue;
    if (key == "time") {
      // 2026-12-06T19:00:00.123456Z -> milliseconds
      time = value.size() == 27 ? value.substr(0, 23) + "Z" : value;
    } else if (key == "service") {
      service = value;
    } else if (key == "event") {
      event = value;
    } else {
      rest += ' ';
      rest += key;
      rest += '=';
      rest += value;
    }
  }
  std::string out = terminal_text::escaped(time) + " ";
  std::size_t at = out.size();
  out += terminal_text::escaped(service);
  pad(out, at, 11);
  at = out.size();
  out += terminal_text::escaped(event);
  if (!rest.empty()) {
    pad(out, at, 14);
    out += terminal_text::escaped(std::string_view(rest).substr(1));
  }
  out += '\n';
  return out;
}

}  // namespace keel::control
