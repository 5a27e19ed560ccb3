// container_output.cpp — see container_output.hpp.
#include "service/container_output.hpp"

#include <unistd.h>

#include <cstring>

#include "core/log.hpp"

namespace keel::service {
namespace {

char g_line[ContainerOutput::kMaxLine];

// Appends to a fixed buffer; once something did not fit, nothing more does
// and the result is 0 (a line is written whole or not at all).
class Out {
 public:
  Out(char* data, std::size_t size) noexcept : data_(data), size_(size) {}
  void put(char c) noexcept {
    if (used_ < size_) {
      data_[used_++] = c;
    } else {
      full_ = true;
    }
  }
  void put(std::string_view s) noexcept {
    if (size_ - used_ < s.size()) {
      full_ = true;
      return;
    }
    std::memcpy(data_ + used_, s.data(), s.size());
    used_ += s.size();
  }
  [[nodiscard]] std::size_t done() const noexcept { return full_ ? 0 : used_; }

 private:
  char* data_;
  std::size_t size_;
  std::size_t used_ = 0;
  bool full_ = false;
};

// How many bytes of `s` from its start form one valid UTF-8 character
// (shortest form, no surrogates, at most U+10FFFF); 0: not valid.
std::size_t utf8_char(std::string_view s) noexcept {
  const auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    if (b0 == 0xe0) lo = 0xa0;  // overlong
    if (b0 == 0xed) hi = 0x9f;  // surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    if (b0 == 0xf0) lo = 0x90;  // overlong
    if (b0 == 0xf4) hi = 0x8f;  // past U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  const auto b1 = static_cast<unsigned char>(s[1]);
  if (b1 < lo || b1 > hi) return 0;
  for (std::size_t i = 2; i < n; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80 || b > 0xbf) return 0;
  }
  return n;
}

void json_string(Out& out, std::string_view s) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  out.put('"');
  while (!s.empty()) {
    const auto c = static_cast<unsigned char>(s[0]);
    if (c == '"' || c == '\\') {
      out.put('\\');
      out.put(static_cast<char>(c));
      s.remove_prefix(1);
    } else if (c < 0x20 || c == 0x7f) {
      out.put("\\u00");
      out.put(kHex[c >> 4]);
      out.put(kHex[c & 0xf]);
      s.remove_prefix(1);
    } else if (std::size_t n = utf8_char(s); n > 0) {
      out.put(s.substr(0, n));
      s.remove_prefix(n);
    } else {
      out.put("\\ufffd");
      s.remove_prefix(1);
    }
  }
  out.put('"');
}

}  // namespace

std::string_view stream_word(LogStream stream) noexcept {
  return stream == LogStream::Stderr ? "stderr" : "stdout";
}

std::optional<LogOutput> parse_log_output(std::string_view text) noexcept {
  if (text == "none") return LogOutput::None;
  if (text == "prefixed") return LogOutput::Prefixed;
  if (text == "json") return LogOutput::Json;
  return std::nullopt;
}

const char* log_output_name(LogOutput mode) noexcept {
  switch (mode) {
    case LogOutput::None: return "none";
    case LogOutput::Prefixed: return "prefixed";
    case LogOutput::Json: return "json";
  }
  return "none";
}

std::size_t ContainerOutput::format(LogOutput mode, std::size_t width, std::string_view service, LogStream stream,
                                    std::string_view stamp, std::string_view text, char* buf,
                                    std::size_t buf_size) noexcept {
  Out out(buf, buf_size);
  switch (mode) {
    case LogOutput::None: return 0;
    case LogOutput::Prefixed:
      out.put(service);
      for (std::size_t i = service.size(); i < width; ++i) out.put(' ');
      out.put(" | ");
      out.put(text);
      break;
    case LogOutput::Json:
      out.put("{\"time\":");
      json_string(out, stamp);
      out.put(",\"service\":");
      json_string(out, service);
      out.put(",\"stream\":");
      json_string(out, stream_word(stream));
      out.put(",\"message\":");
      json_string(out, text);
      out.put('}');
      break;
  }
  out.put('\n');
  return out.done();
}

void ContainerOutput::line(std::string_view service, LogStream stream, std::string_view stamp,
                           std::string_view text) const noexcept {
  if (mode_ == LogOutput::None) return;
  std::size_t n = format(mode_, width_, service, stream, stamp, text, g_line, sizeof g_line);
  if (n == 0) return;
  const std::string_view whole(g_line, n);
  if (test_write_ != nullptr) {
    test_write_(test_context_, stream, whole);
    return;
  }
  log::write_text(stream == LogStream::Stderr ? STDERR_FILENO : STDOUT_FILENO, whole);
}

}  // namespace keel::service
