// notify_fuzz.cpp — libFuzzer target: one sd_notify datagram
// (service::parse_notify_message), with a target that records every call
// and checks what it is given.
#include <sys/types.h>

#include <cstdint>
#include <string_view>

#include "fuzz_util.hpp"
#include "service/notify.hpp"

namespace {

using keel::fuzz::property_failed;

class Recorder final : public keel::service::NotifyTarget {
 public:
  explicit Recorder(std::string_view message) : message_(message) {}
  bool notify_sender_allowed(const keel::service::NotifySender& /*sender*/) noexcept override { return true; }
  void notify_ready() noexcept override { ++ready; }
  void notify_status(std::string_view status) noexcept override {
    // A view into the message, never past it, without a newline.
    if (!status.empty() &&
        (status.data() < message_.data() || status.data() + status.size() > message_.data() + message_.size())) {
      property_failed("notify_status: view outside the message");
    }
    if (status.find('\n') != std::string_view::npos) property_failed("notify_status: a newline in STATUS");
    ++statuses;
  }
  void notify_stopping() noexcept override { ++stopping; }
  void notify_main_pid(pid_t pid) noexcept override {
    if (pid <= 0) property_failed("notify_main_pid: not a positive pid");
    ++main_pids;
  }
  int ready = 0, statuses = 0, stopping = 0, main_pids = 0;

 private:
  std::string_view message_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view message(reinterpret_cast<const char*>(data), size);
  Recorder r(message);
  keel::service::parse_notify_message(message, r);
  // Each call is one line: there cannot be more calls than lines.
  std::size_t lines = 1;
  for (char c : message) lines += c == '\n' ? 1 : 0;
  if (static_cast<std::size_t>(r.ready + r.statuses + r.stopping + r.main_pids) > lines) {
    property_failed("more notifications than lines");
  }
  return 0;
}
