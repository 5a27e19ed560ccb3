// log_sink.cpp — see log_sink.hpp.
#include "service/log_sink.hpp"

#include <cstdio>
#include <new>
#include <string>

#include "core/log.hpp"

namespace keel::service {

bool ServiceFile::configure(const LogRecord& r) noexcept {
  if (r.path != file_.path()) {
    try {
      file_.configure(std::string(r.path), r.max_size, r.keep);
      file_.set_age_and_compression(r.max_age_ms, r.compress);
    } catch (const std::bad_alloc&) {
      return false;
    }
    failing_ = false;
    file_dropped_ = 0;
    return true;
  }
  file_.set_rotation(r.max_size, r.keep);
  file_.set_age_and_compression(r.max_age_ms, r.compress);
  return true;
}

bool ServiceFile::write(std::string_view stamp, std::string_view line) noexcept {
  if (failing_) {
    // Say in the file itself that lines are missing, before the next one.
    char note[128];
    int n = std::snprintf(note, sizeof note, "%.*s keel [keel: %llu lines dropped from this file]\n",
                          static_cast<int>(stamp.size()), stamp.data(), static_cast<unsigned long long>(file_dropped_));
    if (n > 0 && static_cast<std::size_t>(n) < sizeof note &&
        file_.write_line(std::string_view(note, static_cast<std::size_t>(n)))) {
      log::msg(log::Level::Warn, "log file %s works again; %llu lines were dropped from it", file_.path().c_str(),
               static_cast<unsigned long long>(file_dropped_));
      failing_ = false;
      file_dropped_ = 0;
    } else {
      ++file_dropped_;
      ++failed_total_;
      return false;
    }
  }
  if (Status s = file_.write_line(line); !s) {
    ++file_dropped_;
    ++failed_total_;
    failing_ = true;
    log::msg(log::Level::Error, "log file %s: %s: %s; dropping lines until it works again", file_.path().c_str(),
             s.error().context, s.error().message());
    return false;
  }
  return true;
}

bool ServiceFile::apply(const LogRecord& r) noexcept {
  if (!configure(r)) return false;
  // The stamp of the line that follows the gap (a Close has no line: the
  // marker is stamped now).
  char now[limits::kServiceLogStamp + 1];
  std::string_view stamp;
  if (r.kind == LogRecord::Kind::Line) {
    stamp = r.line.substr(0, limits::kServiceLogStamp);
  } else {
    log_record::make_stamp(now);
    stamp = std::string_view(now, limits::kServiceLogStamp);
  }
  if (r.dropped > 0) {
    char marker[160];
    std::size_t n = log_record::drop_marker(stamp, r.dropped, marker, sizeof marker);
    // A marker the file refuses is one more gap, counted like a line.
    if (n > 0) (void)write(stamp, std::string_view(marker, n));
  }
  if (r.kind == LogRecord::Kind::Close) {
    file_.close();  // opened again at the next line
    return true;
  }
  return write(stamp, r.line);
}

}  // namespace keel::service
