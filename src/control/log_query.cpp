// log_query.cpp — see log_query.hpp. keelctl is a client: allocating and
// throwing are fine here; run_keelctl turns exceptions into messages.
#include "control/log_query.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <regex.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "service/log_compress.hpp"
#include "service/log_record.hpp"

namespace keel::control::log_query {
namespace {

constexpr std::int64_t kMsPerDay = 86'400'000;
// A log file larger than this once decompressed is refused rather than
// read into memory (rotation keeps files at max_size; this is a bomb guard).
constexpr std::size_t kMaxFileBytes = std::size_t{1} << 30;

using service::log_record::days_from_civil;

// `n` digits at `s[at]` -> value; false when not all digits.
bool digits(std::string_view s, std::size_t at, std::size_t n, int& out) {
  if (at + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

bool valid_date(int y, int m, int d) {
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1970 || m < 1 || m > 12 || d < 1 || d > kDays[m - 1]) return false;
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return !(m == 2 && d == 29 && !leap);
}

// "YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z|(+|-)HH[:]MM]".
std::optional<std::int64_t> parse_iso(std::string_view s) {
  int y = 0;
  int mo = 0;
  int d = 0;
  if (!digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || !valid_date(y, mo, d)) {
    return std::nullopt;
  }
  std::int64_t ms = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * kMsPerDay;
  std::size_t at = 10;
  if (at < s.size() && (s[at] == 'T' || s[at] == ' ')) {
    int h = 0;
    int mi = 0;
    if (!digits(s, at + 1, 2, h) || at + 3 >= s.size() || s[at + 3] != ':' || !digits(s, at + 4, 2, mi) || h > 23 ||
        mi > 59) {
      return std::nullopt;
    }
    ms += (std::int64_t{h} * 3600 + std::int64_t{mi} * 60) * 1000;
    at += 6;
    if (at < s.size() && s[at] == ':') {
      int sec = 0;
      if (!digits(s, at + 1, 2, sec) || sec > 60) return std::nullopt;
      ms += std::int64_t{sec} * 1000;
      at += 3;
      if (at < s.size() && s[at] == '.') {
        ++at;
        std::int64_t frac = 0;
        int places = 0;
        while (at < s.size() && s[at] >= '0' && s[at] <= '9') {
          if (places < 3) {
            frac = frac * 10 + (s[at] - '0');
            ++places;
          }
          ++at;
        }
        if (places == 0) return std::nullopt;
        while (places++ < 3) frac *= 10;
        ms += frac;
      }
    }
  }
  if (at < s.size() && s[at] == 'Z') {
    ++at;
  } else if (at < s.size() && (s[at] == '+' || s[at] == '-')) {
    const int sign = s[at] == '+' ? 1 : -1;
    int oh = 0;
    int om = 0;
    std::size_t mat = at + 3;
    if (mat < s.size() && s[mat] == ':') ++mat;
    if (!digits(s, at + 1, 2, oh) || !digits(s, mat, 2, om) || oh > 23 || om > 59) return std::nullopt;
    // A local time at +02:00 is two hours ahead of UTC.
    ms -= sign * (std::int64_t{oh} * 3600 + std::int64_t{om} * 60) * 1000;
    at = mat + 2;
  }
  if (at != s.size()) return std::nullopt;
  return ms;
}

// Whether a line's stream word, at the start of `rest`, is one (followed
// by a space or the end: an empty line on stderr is "STAMP stderr").
bool take_stream(std::string_view& rest, std::string_view word) {
  if (!rest.starts_with(word)) return false;
  if (rest.size() == word.size()) {
    rest = {};
    return true;
  }
  if (rest[word.size()] != ' ') return false;
  rest.remove_prefix(word.size() + 1);
  return true;
}

std::string read_whole(const std::string& path) {
  // O_NONBLOCK: a FIFO at the path fails instead of waiting for a writer.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) throw std::runtime_error(std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st{};
  if (::fstat(fd, &st) != 0) throw std::runtime_error(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw std::runtime_error("not a regular file");
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(std::strerror(errno));
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > kMaxFileBytes) throw std::runtime_error("larger than 1 GiB");
  }
  return out;
}

bool exists(const std::string& path) {
  struct stat st{};
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace

std::optional<std::int64_t> parse_stamp(std::string_view stamp) {
  // Exactly the stamp's shape: 24 characters ending in Z.
  if (stamp.size() != 24 || stamp[10] != 'T' || stamp[19] != '.' || stamp[23] != 'Z') return std::nullopt;
  return parse_iso(stamp);
}

Line parse_line(std::string_view line) {
  Line out;
  out.text = line;
  const std::size_t sp = line.find(' ');
  const std::string_view first = line.substr(0, sp);
  std::optional<std::int64_t> ms = parse_stamp(first);
  if (!ms) return out;  // no stamp: all of it is text, stdout
  out.ms = *ms;
  out.stamped = true;
  std::string_view rest = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  // Stdout unless the word says otherwise: "stdout", or a line from
  // before I1's stream word.
  out.stream = Stream::Stdout;
  if (!take_stream(rest, "stdout")) {
    if (take_stream(rest, "stderr")) {
      out.stream = Stream::Stderr;
    } else if (take_stream(rest, "keel")) {
      out.stream = Stream::Keel;
    }
  }
  out.text = rest;
  return out;
}

std::int64_t now_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

std::optional<std::int64_t> parse_time(std::string_view text, std::int64_t now) {
  const std::int64_t midnight = now - ((now % kMsPerDay) + kMsPerDay) % kMsPerDay;
  if (text == "now") return now;
  if (text == "today") return midnight;
  if (text == "yesterday") return midnight - kMsPerDay;
  if (text.size() >= 3 && text[0] == '-') {
    const char unit = text.back();
    std::int64_t per = 0;
    switch (unit) {
      case 's': per = 1000; break;
      case 'm': per = 60'000; break;
      case 'h': per = 3'600'000; break;
      case 'd': per = kMsPerDay; break;
      default: return std::nullopt;
    }
    std::string_view num = text.substr(1, text.size() - 2);
    if (num.empty() || num.size() > 9) return std::nullopt;
    std::int64_t n = 0;
    for (char ch : num) {
      if (ch < '0' || ch > '9') return std::nullopt;
      n = n * 10 + (ch - '0');
    }
    return now - n * per;
  }
  return parse_iso(text);
}

namespace {

// glibc's regcomp copies a group once per interval count and once per '+'
// ("(a{200}){200}" is 40,000 copies), and its epsilon closures then take
// time quadratic in the copies of a pattern that can match nothing
// ("(a*)++++++++++++" takes seconds) and worse with stacked operators
// ("b$c*****************f*********************" takes seconds): a short
// pattern can take gigabytes or minutes (found by keelctl_fuzz). So before
// compiling, ReShape rewrites a run of stacked '*', '+', '?' as the one
// operator it means ("a+?" and "a**" are "a*", "a++" is "a+": the same
// language) and counts the copies the way regcomp makes them; a pattern past
// kMaxRegexPieces is refused (worst case measured at that size: a quarter of
// a second); no log search needs more. Back-references are refused too:
// POSIX ERE has none, and glibc matches them in exponential time.
constexpr std::size_t kMaxRegexPieces = 1000;
constexpr std::size_t kMaxRegexBytes = 4096;
constexpr int kMaxRegexDepth = 64;

class ReShape {
 public:
  explicit ReShape(std::string_view re) : re_(re) { out_.reserve(re.size()); }
  // The copies regcomp makes of the rewritten pattern, saturated at
  // kMaxRegexPieces + 1 (also for a back-reference or groups nested too deep).
  std::size_t pieces() {
    std::size_t n = alternation(0);
    return back_reference_ ? kMaxRegexPieces + 1 : n;
  }
  // The rewritten pattern (after pieces()).
  [[nodiscard]] const std::string& pattern() const { return out_; }

 private:
  static std::size_t cap(std::size_t v) { return std::min(v, kMaxRegexPieces + 1); }

  std::size_t alternation(int depth) {
    std::size_t sum = sequence(depth);
    while (at_ < re_.size() && re_[at_] == '|') {
      out_ += re_[at_++];
      sum = cap(sum + sequence(depth));
    }
    return sum;
  }
  std::size_t sequence(int depth) {
    std::size_t sum = 0;
    while (at_ < re_.size() && re_[at_] != '|' && !(re_[at_] == ')' && depth > 0)) {
      std::size_t piece = atom(depth);
      sum = cap(sum + cap(piece * repeats()));
    }
    return sum;
  }
  std::size_t atom(int depth) {
    std::size_t from = at_;
    char ch = re_[at_++];
    if (ch == '(') {
      if (depth >= kMaxRegexDepth) {  // regcomp recurses per group too
        at_ = re_.size();
        return kMaxRegexPieces + 1;
      }
      out_ += '(';
      std::size_t inner = alternation(depth + 1);
      if (at_ < re_.size()) out_ += re_[at_++];  // ')'
      return std::max<std::size_t>(inner, 1);
    }
    if (ch == '\\' && at_ < re_.size()) {
      if (re_[at_] >= '1' && re_[at_] <= '9') back_reference_ = true;
      ++at_;
    }
    if (ch == '[') {  // a bracket is one piece; ']' first is a member
      if (at_ < re_.size() && re_[at_] == '^') ++at_;
      if (at_ < re_.size() && re_[at_] == ']') ++at_;
      while (at_ < re_.size() && re_[at_] != ']') {
        if (re_[at_] == '[' && at_ + 1 < re_.size() && std::strchr(":.=", re_[at_ + 1]) != nullptr) {
          char kind = re_[at_ + 1];
          at_ += 2;
          while (at_ + 1 < re_.size() && !(re_[at_] == kind && re_[at_ + 1] == ']')) ++at_;
          at_ = std::min(at_ + 2, re_.size());
        } else {
          ++at_;
        }
      }
      if (at_ < re_.size()) ++at_;
    }
    out_.append(re_.substr(from, at_ - from));
    return 1;
  }
  // The copies the postfix operators after an atom make (stacked intervals
  // multiply); writes them, a run of '*' '+' '?' as one operator.
  std::size_t repeats() {
    std::size_t times = 1;
    while (at_ < re_.size()) {
      char ch = re_[at_];
      if (ch == '*' || ch == '+' || ch == '?') {
        bool plus_only = true;
        bool optional_only = true;
        for (; at_ < re_.size() && std::strchr("*+?", re_[at_]) != nullptr; ++at_) {
          plus_only = plus_only && re_[at_] == '+';
          optional_only = optional_only && re_[at_] == '?';
        }
        if (plus_only) {
          out_ += '+';
          times = cap(times * 2);  // "a+" is compiled as "aa*"
        } else {
          out_ += optional_only ? '?' : '*';
        }
      } else if (ch == '{') {
        std::size_t close = re_.find('}', at_);
        if (close == std::string_view::npos) return times;
        std::size_t n = 0;
        std::size_t most = 0;
        for (std::size_t i = at_ + 1; i < close; ++i) {
          char d = re_[i];
          if (d >= '0' && d <= '9') {
            n = cap(n * 10 + static_cast<std::size_t>(d - '0'));
          } else {
            most = std::max(most, n);
            n = 0;
          }
        }
        most = std::max(most, n) + 1;
        times = cap(times * most);
        out_.append(re_.substr(at_, close + 1 - at_));
        at_ = close + 1;
      } else {
        return times;
      }
    }
    return times;
  }

  std::string_view re_;
  std::size_t at_ = 0;
  std::string out_;
  bool back_reference_ = false;
};

}  // namespace

Matcher::Matcher(const Filter& filter) : filter_(filter) {
  if (filter_.match.empty()) return;
  ReShape shape(filter_.match);
  if (filter_.match.size() > kMaxRegexBytes || shape.pieces() > kMaxRegexPieces) {
    throw std::runtime_error("--match regex too large: over " + std::to_string(kMaxRegexBytes) +
                             " bytes, 64 nested groups, a back-reference, or repetitions that expand past " +
                             std::to_string(kMaxRegexPieces) + " pieces (use a simpler pattern or smaller {n,m})");
  }
  auto* re = new regex_t;
  int rc = ::regcomp(re, shape.pattern().c_str(), REG_EXTENDED | REG_NOSUB);
  if (rc != 0) {
    char why[256];
    ::regerror(rc, re, why, sizeof why);
    delete re;
    throw std::runtime_error("invalid --match regex '" + filter_.match + "': " + why);
  }
  regex_ = re;
}

Matcher::~Matcher() {
  if (regex_ != nullptr) {
    auto* re = static_cast<regex_t*>(regex_);
    ::regfree(re);
    delete re;
  }
}

bool Matcher::keep(const Line& line) const {
  if (filter_.since && line.ms < *filter_.since) return false;
  if (filter_.until && line.ms >= *filter_.until) return false;
  if (filter_.only_stdout && !filter_.only_stderr && line.stream != Stream::Stdout) return false;
  if (filter_.only_stderr && !filter_.only_stdout && line.stream != Stream::Stderr) return false;
  if (filter_.only_stderr && filter_.only_stdout && line.stream == Stream::Keel) return false;
  if (regex_ != nullptr) {
    // regexec needs a C string; TEXT may be any bytes but has no '\n'.
    std::string text(line.text);
    if (::regexec(static_cast<const regex_t*>(regex_), text.c_str(), 0, nullptr, 0) != 0) return false;
  }
  return true;
}

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    if (nl == std::string_view::npos) {
      out.emplace_back(text);
      break;
    }
    out.emplace_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  return out;
}

std::vector<std::string> merge_history(std::vector<std::string> file_lines, const std::vector<std::string>& ring_lines) {
  // The ring's first stamped line decides; a ring with none covers nothing.
  std::optional<std::int64_t> first;
  std::size_t same = 0;
  for (const std::string& r : ring_lines) {
    Line l = parse_line(r);
    if (!l.stamped) continue;
    if (!first) first = l.ms;
    if (l.ms != *first) break;
    ++same;
  }
  std::vector<std::string> out;
  if (!first) {
    out = std::move(file_lines);
  } else {
    std::size_t at_first = 0;  // file lines stamped as the ring's first
    std::int64_t carry = 0;
    std::vector<std::int64_t> stamps(file_lines.size());
    for (std::size_t i = 0; i < file_lines.size(); ++i) {
      Line l = parse_line(file_lines[i]);
      if (l.stamped) carry = l.ms;
      stamps[i] = carry;
      if (carry == *first) ++at_first;
    }
    const std::size_t take_at_first = at_first > same ? at_first - same : 0;
    std::size_t taken_at_first = 0;
    for (std::size_t i = 0; i < file_lines.size(); ++i) {
      if (stamps[i] < *first) {
        out.push_back(std::move(file_lines[i]));
      } else if (stamps[i] == *first && taken_at_first < take_at_first) {
        ++taken_at_first;
        out.push_back(std::move(file_lines[i]));
      }
    }
  }
  out.insert(out.end(), ring_lines.begin(), ring_lines.end());
  return out;
}

std::vector<std::string> select(const std::vector<std::string>& lines, const Matcher& matcher, std::uint32_t last_n) {
  std::vector<std::string> out;
  std::int64_t carry = 0;
  for (const std::string& s : lines) {
    Line l = parse_line(s);
    if (l.stamped) {
      carry = l.ms;
    } else {
      l.ms = carry;
    }
    if (matcher.keep(l)) out.push_back(s);
  }
  if (last_n != 0 && out.size() > last_n) out.erase(out.begin(), out.end() - last_n);
  return out;
}

std::vector<std::string> log_files(const std::string& path) {
  // The numbers in use: FILE.N, FILE.N.gz for N >= 1, found by listing
  // the directory (keep may have been lowered since). FILE.N.zst too:
  // keel never writes one, but another tool may have; it is listed so
  // that read_log_files() names it as skipped.
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos || slash == 0 ? (slash == 0 ? "/" : ".") : path.substr(0, slash);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  std::vector<std::pair<long, std::string>> rotated;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (!name.starts_with(base + ".")) continue;
      std::string_view rest = name.substr(base.size() + 1);
      if (rest.ends_with(".gz")) {
        rest.remove_suffix(3);
      } else if (rest.ends_with(".zst")) {
        rest.remove_suffix(4);
      }
      if (rest.empty() || rest.size() > 6 || rest[0] == '0') continue;
      if (!std::all_of(rest.begin(), rest.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
      rotated.emplace_back(std::stol(std::string(rest)), dir + "/" + std::string(name));
    }
    ::closedir(d);
  }
  // Oldest first: the highest number first; of one number, a plain file
  // (a compression that failed, or is under way) before its compressed one.
  std::sort(rotated.begin(), rotated.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first > b.first;
    return a.second.size() < b.second.size();
  });
  std::vector<std::string> out;
  out.reserve(rotated.size() + 1);
  for (auto& r : rotated) out.push_back(std::move(r.second));
  if (exists(path)) out.push_back(path);
  return out;
}

std::vector<std::string> read_log_files(const std::string& path, std::vector<std::string>& warnings) {
  std::vector<std::string> lines;
  std::vector<std::string> files = log_files(path);
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::string& f = files[i];
    // A plain FILE.N beside its FILE.N.gz is a compression under way (or
    // its leftover): the compressed copy is complete once renamed, so the
    // plain one is the one to skip.
    if (i + 1 < files.size() && service::compression_of_name(f) == service::Compression::None &&
        service::compression_of_name(files[i + 1]) != service::Compression::None &&
        files[i + 1].starts_with(f) && files[i + 1].size() <= f.size() + 4) {
      continue;
    }
    // keelctl has no zstd decompressor (its 221 KB would be in keel too:
    // service/log_compress.hpp).
    if (f.ends_with(".zst")) {
      warnings.push_back(f + ": compressed with zstd: not readable by keelctl; use zstdcat (skipped)");
      continue;
    }
    try {
      std::string data = read_whole(f);
      const service::Compression c = service::compression_of_name(f);
      if (c != service::Compression::None) data = service::decompress(data, c, kMaxFileBytes);
      std::vector<std::string> more = split_lines(data);
      lines.insert(lines.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    } catch (const std::exception& e) {
      warnings.push_back("cannot read " + f + ": " + e.what() + " (skipped)");
    }
  }
  return lines;
}

std::string log_file_from_status_json(std::string_view json) {
  const std::string_view key = "\"log_file\": \"";
  const std::size_t at = json.find(key);
  if (at == std::string_view::npos) return {};
  std::string out;
  for (std::size_t i = at + key.size(); i < json.size(); ++i) {
    char c = json[i];
    if (c == '"') return out;
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i >= json.size()) break;
    c = json[i];
    switch (c) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'u': {
        // keel escapes only controls this way (\u00XX); a path has none
        // that matter, and anything wider is refused.
        if (i + 4 >= json.size()) return {};
        unsigned v = 0;
        for (std::size_t k = 1; k <= 4; ++k) {
          char h = json[i + k];
          v = v * 16 + static_cast<unsigned>(h >= 'a' ? h - 'a' + 10 : h >= 'A' ? h - 'A' + 10 : h - '0');
        }
        if (v > 0xFF) return {};
        out += static_cast<char>(v);
        i += 4;
        break;
      }
      default: out += c; break;
    }
  }
  return {};
}

std::string FollowFilter::feed(std::string_view chunk) {
  std::string out;
  partial_.append(chunk);
  std::size_t start = 0;
  for (;;) {
    const std::size_t nl = partial_.find('\n', start);
    if (nl == std::string::npos) break;
    std::string_view s(partial_.data() + start, nl - start);
    start = nl + 1;
    Line l = parse_line(s);
    if (l.stamped) {
      carry_ms_ = l.ms;
    } else {
      l.ms = carry_ms_;
    }
    if (!past_history_ && last_ms_) {
      if (l.ms < *last_ms_) continue;
      if (l.ms == *last_ms_ && skip_at_last_ > 0) {
        --skip_at_last_;
        continue;
      }
    }
    past_history_ = true;
    if (matcher_.keep(l)) {
      out.append(s);
      out += '\n';
    }
  }
  partial_.erase(0, start);
  return out;
}

}  // namespace keel::control::log_query
