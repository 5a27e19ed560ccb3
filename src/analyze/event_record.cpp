// event_record.cpp — a small JSON reader for keel's flat event objects.
//
// Why not a JSON library: none is a dependency of keel, and I2's lines are
// flat objects of scalars and string arrays, so a reader of ~150 lines that
// accepts exactly JSON's grammar for those (and skips nested values, depth
// bounded) is less code to trust than a new dependency in keelctl.
#include "analyze/event_record.hpp"

#include <algorithm>

namespace keel::analyze {
namespace {

class Reader {
 public:
  explicit Reader(std::string_view text) noexcept : s_(text) {}

  void space() noexcept {
    while (at_ < s_.size() && (s_[at_] == ' ' || s_[at_] == '\t' || s_[at_] == '\n' || s_[at_] == '\r')) ++at_;
  }
  bool eat(char c) noexcept {
    space();
    if (at_ < s_.size() && s_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }
  [[nodiscard]] bool done() noexcept {
    space();
    return at_ == s_.size();
  }
  [[nodiscard]] char peek() noexcept {
    space();
    return at_ < s_.size() ? s_[at_] : '\0';
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool hex4(std::uint32_t& v) noexcept {
    if (s_.size() - at_ < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[at_++];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        return false;
      }
    }
    return true;
  }

  // A JSON string; its bytes are kept as they are (not checked as UTF-8:
  // whoever shows them escapes them). A lone surrogate escape becomes U+FFFD.
  bool string(std::string& out) {
    if (!eat('"')) return false;
    out.clear();
    while (at_ < s_.size()) {
      const char c = s_[at_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;  // raw controls are not JSON
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_ >= s_.size()) return false;
      const char e = s_[at_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00 && s_.substr(at_, 2) == "\\u") {
            const std::size_t save = at_;
            at_ += 2;
            std::uint32_t low = 0;
            if (hex4(low) && low >= 0xDC00 && low < 0xE000) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else {
              at_ = save;
              cp = 0xFFFD;
            }
          } else if (cp >= 0xD800 && cp < 0xE000) {
            cp = 0xFFFD;
          }
          append_utf8(out, cp);
          break;
        }
        default: return false;
      }
    }
    return false;
  }

  // A JSON number; integers are kept (saturated at ±kMaxNumber), a fraction or exponent is
  // accepted and cut off (I2 has none).
  bool number(Field& f) noexcept {
    space();
    const std::size_t start = at_;
    bool negative = false;
    if (at_ < s_.size() && s_[at_] == '-') {
      negative = true;
      ++at_;
    }
    const std::size_t digits = at_;
    std::int64_t v = 0;
    while (at_ < s_.size() && s_[at_] >= '0' && s_[at_] <= '9') {
      const int d = s_[at_++] - '0';
      v = v > (kMaxNumber - d) / 10 ? kMaxNumber : v * 10 + d;  // saturate: see kMaxNumber
    }
    if (at_ == digits) return false;
    if (at_ < s_.size() && s_[at_] == '.') {
      ++at_;
      const std::size_t frac = at_;
      while (at_ < s_.size() && s_[at_] >= '0' && s_[at_] <= '9') ++at_;
      if (at_ == frac) return false;
    }
    if (at_ < s_.size() && (s_[at_] == 'e' || s_[at_] == 'E')) {
      ++at_;
      if (at_ < s_.size() && (s_[at_] == '+' || s_[at_] == '-')) ++at_;
      const std::size_t exp = at_;
      while (at_ < s_.size() && s_[at_] >= '0' && s_[at_] <= '9') ++at_;
      if (at_ == exp) return false;
    }
    f.kind = Field::Kind::Number;
    f.number = negative ? -v : v;
    f.text.assign(s_.substr(start, at_ - start));
    return true;
  }

  bool literal(std::string_view word) noexcept {
    space();
    if (s_.substr(at_, word.size()) != word) return false;
    at_ += word.size();
    return true;
  }

  // Any value, into `f` when it is a scalar or an array of scalars; nested
  // containers are parsed and dropped (Kind::Other), depth bounded.
  bool value(Field& f, int depth) {
    if (depth > kMaxNesting) return false;
    const char c = peek();
    if (c == '"') {
      f.kind = Field::Kind::String;
      return string(f.text);
    }
    if (c == 't' || c == 'f') {
      f.kind = Field::Kind::Bool;
      f.boolean = c == 't';
      return literal(c == 't' ? "true" : "false");
    }
    if (c == 'n') {
      f.kind = Field::Kind::Null;
      return literal("null");
    }
    if (c == '[') {
      ++at_;
      f.kind = depth == 0 ? Field::Kind::Array : Field::Kind::Other;
      if (eat(']')) return true;
      do {
        Field item;
        if (!value(item, depth + 1)) return false;
        if (f.kind == Field::Kind::Array && item.kind == Field::Kind::String) f.items.push_back(std::move(item.text));
      } while (eat(','));
      return eat(']');
    }
    if (c == '{') {
      ++at_;
      f.kind = Field::Kind::Other;
      if (eat('}')) return true;
      do {
        std::string key;
        Field inner;
        if (!string(key) || !eat(':') || !value(inner, depth + 1)) return false;
      } while (eat(','));
      return eat('}');
    }
    return number(f);
  }

 private:
  std::string_view s_;
  std::size_t at_ = 0;
};

}  // namespace

const Field* Event::find(std::string_view key) const noexcept {
  for (const Field& f : fields) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

std::string_view Event::string(std::string_view key) const noexcept {
  const Field* f = find(key);
  return f != nullptr && f->kind == Field::Kind::String ? std::string_view(f->text) : std::string_view();
}

std::optional<std::int64_t> Event::integer(std::string_view key) const noexcept {
  const Field* f = find(key);
  if (f == nullptr || f->kind != Field::Kind::Number) return std::nullopt;
  return f->number;
}

std::vector<std::string> Event::strings(std::string_view key) const {
  const Field* f = find(key);
  return f != nullptr && f->kind == Field::Kind::Array ? f->items : std::vector<std::string>{};
}

std::optional<Event> parse_event_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > kMaxLineBytes) return std::nullopt;
  Reader r(line);
  if (!r.eat('{')) return std::nullopt;
  Event e;
  if (!r.eat('}')) {
    do {
      Field f;
      if (!r.string(f.key) || !r.eat(':') || !r.value(f, 0)) return std::nullopt;
      // A key given twice: the first counts (as the writer never repeats one).
      if (e.find(f.key) == nullptr) e.fields.push_back(std::move(f));
    } while (r.eat(','));
    if (!r.eat('}')) return std::nullopt;
  }
  if (!r.done()) return std::nullopt;
  const Field* name = e.find("event");
  const Field* mono = e.find("mono_us");
  if (name == nullptr || name->kind != Field::Kind::String || name->text.empty()) return std::nullopt;
  if (mono == nullptr || mono->kind != Field::Kind::Number || mono->number < 0) return std::nullopt;
  e.name = name->text;
  e.mono_us = mono->number;
  if (auto seq = e.integer("seq"); seq && *seq > 0) e.seq = static_cast<std::uint64_t>(*seq);
  e.time = std::string(e.string("time"));
  e.service = std::string(e.string("service"));
  return e;
}

void EventReader::line(std::string_view text) {
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  if (text.find_first_not_of(" \t") == std::string_view::npos) return;
  if (record_.events.size() >= kMaxEvents) {
    ++record_.truncated;
    return;
  }
  std::optional<Event> e = parse_event_line(text);
  if (!e) {
    ++record_.malformed;
    return;
  }
  if (e->seq != 0) {
    if (last_seq_ != 0 && e->seq > last_seq_ + 1) record_.lost += static_cast<std::size_t>(e->seq - last_seq_ - 1);
    if (last_seq_ == 0 && e->seq > 1) record_.lost += static_cast<std::size_t>(e->seq - 1);
    last_seq_ = std::max(last_seq_, e->seq);
  }
  record_.events.push_back(std::move(*e));
}

void EventReader::feed(std::string_view text) {
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::string_view piece = text.substr(0, nl);
    if (!partial_too_long_) {
      if (partial_.size() + piece.size() > kMaxLineBytes) {
        partial_too_long_ = true;  // the line is counted as malformed at its end
        partial_.clear();
      } else {
        partial_.append(piece);
      }
    }
    if (nl == std::string_view::npos) return;
    if (partial_too_long_) {
      ++record_.malformed;
    } else {
      line(partial_);
    }
    partial_.clear();
    partial_too_long_ = false;
    text.remove_prefix(nl + 1);
  }
}

void EventReader::finish() {
  if (partial_too_long_) {
    ++record_.malformed;
  } else if (!partial_.empty()) {
    line(partial_);
  }
  partial_.clear();
  partial_too_long_ = false;
}

EventRecord parse_event_lines(std::string_view text) {
  EventReader reader;
  reader.feed(text);
  reader.finish();
  return std::move(reader.record());
}

void ConsoleEventCollector::line(std::string_view text) {
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  const std::size_t at = text.find(kMarker);
  if (at == std::string_view::npos) return;
  std::string_view json = text.substr(at + kMarker.size());
  if (json.empty()) return;
  lines_.append(json);
  lines_ += '\n';
  ++count_;
}

void ConsoleEventCollector::feed(std::string_view output) {
  while (!output.empty()) {
    const std::size_t nl = output.find('\n');
    if (nl == std::string_view::npos) {
      // A console line without an end is cut at the bound: its start is kept.
      if (partial_.size() < kMaxLineBytes) partial_.append(output.substr(0, kMaxLineBytes - partial_.size()));
      return;
    }
    if (partial_.size() < kMaxLineBytes) partial_.append(output.substr(0, std::min(nl, kMaxLineBytes - partial_.size())));
    line(partial_);
    partial_.clear();
    output.remove_prefix(nl + 1);
  }
}

void ConsoleEventCollector::finish() {
  if (!partial_.empty()) line(partial_);
  partial_.clear();
}

}  // namespace keel::analyze
