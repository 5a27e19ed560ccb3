// container_output.cpp — see container_output.hpp.
#include "service/container_output.hpp"

#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "core/json_text.hpp"
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
  void put_json(std::string_view s) noexcept {
    if (full_) return;
    const std::size_t n = json_escape(s, data_ + used_, size_ - used_);
    if (n == SIZE_MAX) {
      full_ = true;
      return;
    }
    used_ += n;
  }
  [[nodiscard]] std::size_t done() const noexcept { return full_ ? 0 : used_; }

 private:
  char* data_;
  std::size_t size_;
  std::size_t used_ = 0;
  bool full_ = false;
};

// A JSON string: quoted, its contents escaped by the one escaper keel's
// JSON lines share (core/json_text.hpp).
void json_string(Out& out, std::string_view s) noexcept {
  out.put('"');
  out.put_json(s);
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
