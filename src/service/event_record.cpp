#include "service/event_record.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <utility>

#include "core/event_loop.hpp"
#include "core/json_text.hpp"
#include "core/log.hpp"

namespace keel::service {

namespace {

// Room kept at the end of the line for what closes it: "]" of an open
// list, ',"cut":true', "}".
constexpr std::size_t kClosing = 16;

}  // namespace

std::size_t format_event_time(std::int64_t real_ns, char* out, std::size_t size) noexcept {
  std::time_t secs = static_cast<std::time_t>(real_ns / 1'000'000'000);
  long micros = static_cast<long>((real_ns % 1'000'000'000) / 1000);
  std::tm tm{};
  if (::gmtime_r(&secs, &tm) == nullptr) tm = std::tm{};
  int n = std::snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                        tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
  if (n < 0) return 0;
  return std::min(static_cast<std::size_t>(n), size == 0 ? 0 : size - 1);
}

std::int64_t realtime_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void EventRecord::init(std::size_t boot_bytes, std::size_t ring_bytes) {
  LogRing boot, ring;
  boot.resize(boot_bytes);
  ring.resize(ring_bytes);
  boot_ = std::move(boot);
  ring_ = std::move(ring);
}

bool EventRecord::put(std::string_view bytes) noexcept {
  if (len_ + bytes.size() + kClosing > sizeof line_) return false;
  std::memcpy(line_ + len_, bytes.data(), bytes.size());
  len_ += bytes.size();
  return true;
}

bool EventRecord::put_string(std::string_view value) noexcept {
  std::size_t size = sizeof line_ - kClosing - len_;
  if (size < 2) return false;
  std::size_t n = json_escape(value, line_ + len_ + 1, size - 2);
  if (n == SIZE_MAX) return false;
  line_[len_] = '"';
  line_[len_ + 1 + n] = '"';
  len_ += n + 2;
  return true;
}

EventRecord& EventRecord::begin(const char* event, std::string_view service) noexcept {
  return begin_at(event, service, monotonic_ns(), realtime_ns());
}

EventRecord& EventRecord::begin_at(const char* event, std::string_view service, std::int64_t mono_ns,
                                   std::int64_t real_ns) noexcept {
  len_ = 0;
  cut_ = false;
  in_list_ = false;
  char head[128];
  char stamp[40];
  format_event_time(real_ns, stamp, sizeof stamp);
  int n = std::snprintf(head, sizeof head, R"({"seq":%llu,"mono_us":%lld,"time":"%s","event":)",
                        static_cast<unsigned long long>(seq_) + 1, static_cast<long long>(mono_ns / 1000), stamp);
  (void)put(std::string_view(head, static_cast<std::size_t>(std::max(n, 0))));
  (void)put_string(event);
  if (!service.empty()) {
    (void)put(R"(,"service":)");
    if (!put_string(service)) (void)put_string("?");  // a service name is at most 64 bytes: always fits
  }
  return *this;
}

EventRecord& EventRecord::num(const char* key, long long value) noexcept {
  char field[96];
  int n = std::snprintf(field, sizeof field, R"(,"%s":%lld)", key, value);
  if (!put(std::string_view(field, static_cast<std::size_t>(std::max(n, 0))))) cut_ = true;
  return *this;
}

EventRecord& EventRecord::str(const char* key, std::string_view value) noexcept {
  std::size_t before = len_;
  char field[80];
  int n = std::snprintf(field, sizeof field, R"(,"%s":)", key);
  if (!put(std::string_view(field, static_cast<std::size_t>(std::max(n, 0)))) || !put_string(value)) {
    len_ = before;
    cut_ = true;
  }
  return *this;
}

EventRecord& EventRecord::list_begin(const char* key) noexcept {
  char field[80];
  int n = std::snprintf(field, sizeof field, R"(,"%s":[)", key);
  // The list's "]" is within kClosing, so an open list always closes.
  in_list_ = put(std::string_view(field, static_cast<std::size_t>(std::max(n, 0))));
  if (!in_list_) cut_ = true;
  list_first_ = true;
  return *this;
}

EventRecord& EventRecord::item(std::string_view value) noexcept {
  if (!in_list_) return *this;
  std::size_t before = len_;
  if ((!list_first_ && !put(",")) || !put_string(value)) {
    len_ = before;
    cut_ = true;
    return *this;
  }
  list_first_ = false;
  return *this;
}

EventRecord& EventRecord::list_end() noexcept {
  if (in_list_) line_[len_++] = ']';
  in_list_ = false;
  return *this;
}

void EventRecord::commit() noexcept {
  if (in_list_) list_end();
  if (cut_) {
    constexpr std::string_view kCut = R"(,"cut":true)";
    std::memcpy(line_ + len_, kCut.data(), kCut.size());
    len_ += kCut.size();
  }
  line_[len_++] = '}';
  ++seq_;
  const std::string_view json(line_, len_);
  // The boot area while the boot lasts and has room (a record is its
  // bytes and a 2-byte length); the ring otherwise.
  // Once an event does not fit, the boot area is closed, so it stays
  // one run of events with no hole.
  if (!boot_closed_ && boot_.capacity() - boot_.used_bytes() < len_ + LogRing::kHeader) boot_closed_ = true;
  if (!boot_closed_) {
    boot_.push(json);
  } else {
    ring_.push(json);
  }
  if (console_) log::write_line(log::fd(), "keel-event: %.*s", static_cast<int>(len_), line_);
  line_[len_] = '\n';  // within kClosing: the line for followers
  const std::string_view line(line_, len_ + 1);
  // Slot by slot, re-read each time: a follower may remove itself.
  for (std::size_t i = 0; i < followers_.size(); ++i) {
    if (EventFollower* f = followers_[i]; f != nullptr) f->on_event(line);
  }
  len_ = 0;
}

void EventRecord::replay(std::string& out) const {
  boot_.tail(0, out);
  ring_.tail(0, out);
}

bool EventRecord::add_follower(EventFollower& follower) noexcept {
  if (std::find(followers_.begin(), followers_.end(), &follower) != followers_.end()) return false;
  auto slot = std::find(followers_.begin(), followers_.end(), nullptr);
  if (slot == followers_.end()) return false;
  *slot = &follower;
  return true;
}

void EventRecord::remove_follower(EventFollower& follower) noexcept {
  std::replace(followers_.begin(), followers_.end(), &follower, static_cast<EventFollower*>(nullptr));
}

EventRecord& event_record() noexcept {
  static EventRecord record;
  return record;
}

}  // namespace keel::service
