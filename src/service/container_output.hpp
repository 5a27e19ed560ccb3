// container_output.hpp — every service's lines on keel's own stdout/stderr.
//
// In a container the runtime collects PID 1's stdout and stderr (`docker
// logs`, a Kubernetes node's log files); a service's log pipe and ring are
// invisible there. keel.toml's `log_output` (or the environment variable
// KEEL_LOG_OUTPUT, which wins when it is set and valid) makes keel copy
// each captured line there too: a service's stdout lines to keel's stdout,
// its stderr lines to keel's stderr, as
//   prefixed: "web    | TEXT", the name padded to the longest service name
//             configured (as docker compose does), TEXT as the service wrote it;
//   json:     {"time":"STAMP","service":"web","stream":"stdout","message":"TEXT"},
//             one object per line, TEXT JSON-escaped: '"' and '\\' with a
//             backslash, every control character (and DEL) as \u00XX, each
//             byte that is not part of valid UTF-8 as \ufffd, so any output
//             makes valid JSON on one line.
// The ring, the file and `keelctl log` are unchanged by it.
//
// Never a wait: lines go through keel's own non-blocking output
// (core/log_output.hpp), the same sinks and backlogs as keel's messages on
// fds 1 and 2. A reader that does not keep up (a stopped `docker logs`, a
// full pipe) costs whole lines, dropped and counted with keel's own lost
// output (`keelctl status`), never a stalled PID 1 or a stalled service.
//
// Formatting uses one static buffer (the loop is single-threaded) and never
// allocates: line() runs in the log pipes' read handlers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/limits.hpp"

namespace keel::service {

// Which of a service's output streams a line came from.
enum class LogStream : std::uint8_t { Stdout = 0, Stderr = 1 };
// "stdout" / "stderr": the word in a log line (docs/services.md, "Log lines").
[[nodiscard]] std::string_view stream_word(LogStream stream) noexcept;

// keel.toml `log_output` / KEEL_LOG_OUTPUT.
enum class LogOutput : std::uint8_t { None = 0, Prefixed = 1, Json = 2 };
inline constexpr std::uint8_t kLogOutputCount = 3;
// "none", "prefixed", "json" -> the mode; anything else: nullopt.
[[nodiscard]] std::optional<LogOutput> parse_log_output(std::string_view text) noexcept;
[[nodiscard]] const char* log_output_name(LogOutput mode) noexcept;
// For messages about a bad value.
inline constexpr const char* kLogOutputChoices = "\"none\", \"prefixed\" or \"json\"";

class ContainerOutput {
 public:
  // The longest formatted line: a 64-character name, the JSON frame and a
  // longest line whose every byte became a 6-character escape.
  static constexpr std::size_t kMaxLine = 256 + 6 * (limits::kServiceLogLineMax + 32);

  void set_mode(LogOutput mode) noexcept { mode_ = mode; }
  [[nodiscard]] LogOutput mode() const noexcept { return mode_; }
  // The longest service name configured (prefixed output pads to it).
  void set_width(std::size_t width) noexcept { width_ = width > 64 ? 64 : width; }
  [[nodiscard]] std::size_t width() const noexcept { return width_; }

  // Unit tests: lines go to `write` instead of keel's fds 1 and 2.
  using WriteFn = void (*)(void* context, LogStream stream, std::string_view line) noexcept;
  void set_test_writer(WriteFn write, void* context) noexcept {
    test_write_ = write;
    test_context_ = context;
  }

  // One captured line (`text` without its newline; `stamp` as in the ring).
  // Nothing when the mode is None.
  void line(std::string_view service, LogStream stream, std::string_view stamp, std::string_view text) const noexcept;

  // The formatted line, newline included, into `out`; its length (0: the
  // mode is None, or it does not fit).
  static std::size_t format(LogOutput mode, std::size_t width, std::string_view service, LogStream stream,
                            std::string_view stamp, std::string_view text, char* out, std::size_t out_size) noexcept;

 private:
  LogOutput mode_ = LogOutput::None;
  std::size_t width_ = 0;
  WriteFn test_write_ = nullptr;
  void* test_context_ = nullptr;
};

}  // namespace keel::service
