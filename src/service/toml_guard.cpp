#include "service/toml_guard.hpp"

#include "core/limits.hpp"

namespace keel::service {
namespace {

// The levels of nesting a TOML text builds, counted as toml++ will build
// them: a table header [a.b] opens 2, [[a.b]] 3 (the array and its element
// table), a dotted key x.y.z adds 2 tables under the current one, and each
// array or inline table in a value adds 1. Malformed text ('[' where a key
// should be) is counted the same way, so whatever toml++ might recurse on
// is bounded; a syntax error is toml++'s to report.
class DepthCounter {
 public:
  // A header ends with its line (an unclosed one is toml++'s error to
  // report), and so does a top-level key = value.
  void newline() noexcept {
    in_header_ = false;
    if (open_ == 0) start_key();
    line_start_ = true;
  }
  // Returns false when the nesting passes the limit.
  // Any code character other than whitespace, a newline or a comment.
  bool code(std::string_view text, std::size_t& i) noexcept {
    const char c = text[i];
    const bool at_line_start = line_start_;
    line_start_ = false;
    if (in_header_) return header(text, i);
    switch (c) {
      case '[':
        if (at_line_start && open_ == 0) {
          in_header_ = true;
          base_ = 1;
          if (i + 1 < text.size() && text[i + 1] == '[') {
            ++i;
            ++base_;
          }
          return base_ <= limits::kTomlMaxDepth;
        }
        return push(false);
      case '{': return push(true);
      case ']':
      case '}':
        if (open_ > 0) --open_;
        if (open_ > 0 && !stack_[open_ - 1].table) value_level_ = stack_[open_ - 1].level;
        in_key_ = false;
        return true;
      case ',':
        if (open_ > 0 && stack_[open_ - 1].table) {
          start_key();
        } else if (open_ > 0) {
          value_level_ = stack_[open_ - 1].level;
        }
        return true;
      case '=':
        if (in_key_) {
          value_level_ = level() + key_parts_ - 1;
          in_key_ = false;
        }
        return true;
      case '.':
        if (!in_key_) return true;  // a float or a date-time
        ++key_parts_;
        return level() + key_parts_ - 1 <= limits::kTomlMaxDepth;
      default:
        return true;
    }
  }

 private:
  struct Open {
    bool table;  // an inline table (keys inside); else an array
    int level;
  };

  [[nodiscard]] int level() const noexcept { return open_ > 0 ? stack_[open_ - 1].level : base_; }
  void start_key() noexcept {
    in_key_ = true;
    key_parts_ = 1;
  }
  bool push(bool table) noexcept {
    // An array or inline table where a key was expected is malformed;
    // count it below the key's tables all the same.
    const int at = in_key_ ? level() + key_parts_ - 1 : value_level_;
    const int next = at + 1;
    if (next > limits::kTomlMaxDepth) return false;
    stack_[open_++] = Open{table, next};
    if (table) {
      start_key();
    } else {
      in_key_ = false;
      value_level_ = next;
    }
    return true;
  }
  bool header(std::string_view text, std::size_t& i) noexcept {
    switch (text[i]) {
      case '.':
      case '[':  // malformed ("[[[a]]]"), counted
        return ++base_ <= limits::kTomlMaxDepth;
      case ']':
        in_header_ = false;
        if (i + 1 < text.size() && text[i + 1] == ']') ++i;
        start_key();
        return true;
      default:
        return true;
    }
  }

  // open_ never passes kTomlMaxDepth: push() refuses first.
  Open stack_[limits::kTomlMaxDepth + 1] = {};
  int open_ = 0;
  int base_ = 0;  // levels of the current [table]
  int value_level_ = 0;
  int key_parts_ = 1;
  bool in_key_ = true;
  bool in_header_ = false;
  bool line_start_ = true;
};

// One pass over the text: strings and comments skipped the way toml++
// reads them, the rest checked for non-ASCII and, when `depth`, nesting.
TextProblem scan(std::string_view text, bool depth) noexcept {
  enum class In : std::uint8_t { Code, Comment, Basic, Literal, MultiBasic, MultiLiteral };
  In in = In::Code;
  DepthCounter counter;
  int line = 1;
  int column = 0;
  std::size_t line_begin = 0;
  auto starts = [&](std::size_t i, std::string_view what) { return text.substr(i, what.size()) == what; };
  auto at = [&](TextProblem::Kind kind, std::size_t i) {
    return TextProblem{kind, line, static_cast<int>(i - line_begin) + 1};
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    ++column;
    if (c == '\n') {
      ++line;
      column = 0;
      line_begin = i + 1;
      // A newline ends a comment, and a single-line string (unterminated:
      // toml++ reports that).
      if (in == In::Comment || in == In::Basic || in == In::Literal) in = In::Code;
      if (in == In::Code && depth) counter.newline();
      continue;
    }
    switch (in) {
      case In::Code:
        if (static_cast<unsigned char>(c) >= 0x80) {
          // A UTF-8 byte order mark at the very start is allowed.
          if (i == 0 && starts(0, "\xEF\xBB\xBF")) {
            i += 2;
            continue;
          }
          return {TextProblem::Kind::NonAscii, line, column};
        }
        if (c == '#') {
          in = In::Comment;
        } else if (starts(i, "\"\"\"")) {
          in = In::MultiBasic;
          i += 2;
        } else if (starts(i, "'''")) {
          in = In::MultiLiteral;
          i += 2;
        } else if (c == '"') {
          in = In::Basic;
        } else if (c == '\'') {
          in = In::Literal;
        } else if (depth && c != ' ' && c != '\t' && c != '\r') {
          const std::size_t was = i;
          if (!counter.code(text, i)) return at(TextProblem::Kind::TooDeep, was);
          column += static_cast<int>(i - was);
          continue;
        }
        break;
      case In::Comment:
        break;
      case In::Basic:
        if (c == '\\') {
          ++i;  // the escaped character (a newline here is invalid anyway)
        } else if (c == '"') {
          in = In::Code;
        }
        break;
      case In::Literal:
        if (c == '\'') in = In::Code;
        break;
      case In::MultiBasic:
        if (c == '\\') {
          if (i + 1 < text.size() && (text[i + 1] == '\n' || text[i + 1] == ' ' || text[i + 1] == '\t' ||
                                      text[i + 1] == '\r')) {
            // A line-ending backslash: toml++ skips the whitespace after
            // it with the same whitespace test, so what ends the run must
            // be ASCII too.
            std::size_t j = i + 1;
            int l = line, col = column;
            while (j < text.size() && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r' || text[j] == '\n')) {
              if (text[j] == '\n') {
                ++l;
                col = 0;
              } else {
                ++col;
              }
              ++j;
            }
            if (j < text.size() && static_cast<unsigned char>(text[j]) >= 0x80) {
              return {TextProblem::Kind::NonAscii, l, col + 1};
            }
            break;
          }
          ++i;
        } else if (starts(i, "\"\"\"")) {
          // Up to two more quotes belong to the content ("""a""""").
          i += 2;
          while (i + 1 < text.size() && text[i + 1] == '"') ++i;
          in = In::Code;
        }
        break;
      case In::MultiLiteral:
        if (starts(i, "'''")) {
          i += 2;
          while (i + 1 < text.size() && text[i + 1] == '\'') ++i;
          in = In::Code;
        }
        break;
    }
  }
  return {};
}

}  // namespace

TextProblem check_toml_text(std::string_view text) noexcept {
  if (text.size() > limits::kTomlMaxBytes) return {TextProblem::Kind::TooLarge, 0, 0};
  return scan(text, true);
}

std::string describe(const TextProblem& problem) {
  const std::string column = std::to_string(problem.column);
  switch (problem.kind) {
    case TextProblem::Kind::TooLarge:
      return "larger than " + std::to_string(limits::kTomlMaxBytes) + " bytes";
    case TextProblem::Kind::NonAscii:
      return "syntax error at column " + column + ": a character that is not ASCII outside a string or comment";
    case TextProblem::Kind::TooDeep:
      return "nested deeper than " + std::to_string(limits::kTomlMaxDepth) + " levels at column " + column +
             " (each table of a [header] or dotted key, array and inline table is a level)";
    case TextProblem::Kind::None: break;
  }
  return {};
}

TextPosition stray_non_ascii(std::string_view text) noexcept {
  TextProblem p = scan(text, false);
  return {p.line, p.column};
}

}  // namespace keel::service
