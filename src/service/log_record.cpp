// log_record.cpp — see log_record.hpp.
#include "service/log_record.hpp"

#include <cstdio>
#include <cstring>
#include <ctime>

namespace keel::service::log_record {
namespace {

struct Header {
  std::uint32_t magic;
  std::uint16_t kind;
  std::uint16_t path_len;
  std::uint32_t service;
  std::uint32_t line_len;
  std::uint64_t dropped;
  std::uint64_t max_size;
  std::int32_t keep;
  std::uint8_t compress;  // Compression
  std::uint8_t reserved[3];  // 0
  std::int64_t max_age_ms;
};
static_assert(sizeof(Header) == kHeaderBytes, "the header has no padding");

}  // namespace

std::size_t encode(const LogRecord& r, char* out, std::size_t out_size) noexcept {
  if (r.path.empty() || r.path.size() > kMaxPath || r.line.size() > kMaxLine || r.keep < 0 || r.keep > kMaxKeep ||
      r.max_age_ms < 0 || r.max_age_ms > kMaxAgeMs || r.compress > Compression::Gzip) {
    return 0;
  }
  const std::size_t total = kHeaderBytes + r.path.size() + r.line.size();
  if (total > out_size) return 0;
  Header h{};
  h.magic = kMagic;
  h.kind = static_cast<std::uint16_t>(r.kind);
  h.path_len = static_cast<std::uint16_t>(r.path.size());
  h.service = r.service;
  h.line_len = static_cast<std::uint32_t>(r.line.size());
  h.dropped = r.dropped;
  h.max_size = r.max_size;
  h.keep = r.keep;
  h.compress = static_cast<std::uint8_t>(r.compress);
  h.max_age_ms = r.max_age_ms;
  std::memcpy(out, &h, sizeof h);
  std::memcpy(out + kHeaderBytes, r.path.data(), r.path.size());
  if (!r.line.empty()) std::memcpy(out + kHeaderBytes + r.path.size(), r.line.data(), r.line.size());
  return total;
}

const char* decode(const char* data, std::size_t len, LogRecord& out) noexcept {
  if (len < kHeaderBytes) return "shorter than a header";
  Header h{};
  std::memcpy(&h, data, sizeof h);  // the buffer need not be aligned
  if (h.magic != kMagic) return "bad magic";
  if (h.reserved[0] != 0 || h.reserved[1] != 0 || h.reserved[2] != 0) return "reserved field set";
  if (h.compress > static_cast<std::uint8_t>(Compression::Gzip)) return "unknown compression";
  if (h.max_age_ms < 0 || h.max_age_ms > kMaxAgeMs) return "max_age out of bounds";
  if (h.kind != static_cast<std::uint16_t>(LogRecord::Kind::Line) &&
      h.kind != static_cast<std::uint16_t>(LogRecord::Kind::Close)) {
    return "unknown kind";
  }
  if (h.path_len == 0 || h.path_len > kMaxPath) return "path length out of bounds";
  if (h.line_len > kMaxLine) return "line length out of bounds";
  if (len != kHeaderBytes + h.path_len + h.line_len) return "length does not match the header";
  if (h.keep < 0 || h.keep > kMaxKeep) return "keep out of bounds";
  const char* path = data + kHeaderBytes;
  const char* line = path + h.path_len;
  if (path[0] != '/' || std::memchr(path, '\0', h.path_len) != nullptr) return "path not absolute or has a NUL";
  const auto kind = static_cast<LogRecord::Kind>(h.kind);
  if (kind == LogRecord::Kind::Line) {
    if (h.line_len <= limits::kServiceLogStamp + 1) return "line shorter than its stamp";
    if (std::memchr(line, '\n', h.line_len) != line + h.line_len - 1) return "not exactly one line";
  } else if (h.line_len != 0) {
    return "close record with a line";
  }
  out.kind = kind;
  out.service = h.service;
  out.dropped = h.dropped;
  out.max_size = h.max_size;
  out.keep = h.keep;
  out.max_age_ms = h.max_age_ms;
  out.compress = static_cast<Compression>(h.compress);
  out.path = std::string_view(path, h.path_len);
  out.line = std::string_view(line, h.line_len);
  return nullptr;
}

void utc_fields(std::int64_t seconds, std::tm& out) noexcept {
  constexpr std::int64_t kDay = 86'400;
  std::int64_t days = seconds / kDay;
  std::int64_t rem = seconds % kDay;
  if (rem < 0) {
    rem += kDay;
    --days;
  }
  out.tm_hour = static_cast<int>(rem / 3600);
  out.tm_min = static_cast<int>(rem % 3600 / 60);
  out.tm_sec = static_cast<int>(rem % 60);
  // Days since 1970-01-01 -> a proleptic Gregorian date, counted in
  // 400-year eras that start on March 1st (so the leap day is the era
  // year's last): the era, the day in it, the year in it, the day in that
  // year, then the month from a March-based day of the year.
  const std::int64_t z = days + 719'468;  // days since 0000-03-01
  const std::int64_t era = (z >= 0 ? z : z - 146'096) / 146'097;
  const std::int64_t doe = z - era * 146'097;                                        // [0, 146096]
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36'524 - doe / 146'096) / 365;  // [0, 399]
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                  // [0, 365]
  const std::int64_t mp = (5 * doy + 2) / 153;                                       // [0, 11], 0 = March
  const std::int64_t day = doy - (153 * mp + 2) / 5 + 1;                             // [1, 31]
  const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;                              // [1, 12]
  const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  out.tm_year = static_cast<int>(year - 1900);
  out.tm_mon = static_cast<int>(month - 1);
  out.tm_mday = static_cast<int>(day);
}

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146'097 + static_cast<std::int64_t>(doe) - 719'468;
}

bool stamp_ms(std::string_view s, std::int64_t& out) noexcept {
  // YYYY-MM-DDTHH:MM:SS.mmmZ
  static constexpr char kShape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (s.size() != sizeof kShape - 1) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (kShape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != kShape[i]) return false;
  }
  auto num = [&](std::size_t at, std::size_t n) {
    std::int64_t v = 0;
    for (std::size_t i = at; i < at + n; ++i) v = v * 10 + (s[i] - '0');
    return v;
  };
  const auto month = static_cast<int>(num(5, 2));
  const auto day = static_cast<int>(num(8, 2));
  if (month < 1 || month > 12 || day < 1 || day > 31 || num(11, 2) > 23 || num(14, 2) > 59 || num(17, 2) > 60) {
    return false;
  }
  out = (days_from_civil(num(0, 4), static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86'400 +
         num(11, 2) * 3600 + num(14, 2) * 60 + num(17, 2)) *
            1000 +
        num(20, 3);
  return true;
}

void make_stamp(char (&out)[limits::kServiceLogStamp + 1]) noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  utc_fields(ts.tv_sec, t);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                t.tm_hour, t.tm_min, t.tm_sec, static_cast<int>(ts.tv_nsec / 1'000'000));
  std::memcpy(out, buf, limits::kServiceLogStamp);
  out[limits::kServiceLogStamp] = '\0';
}

std::size_t drop_marker(std::string_view stamp, std::uint64_t dropped, char* out, std::size_t out_size) noexcept {
  int n = std::snprintf(out, out_size, "%.*s keel [keel: %llu lines lost: log writer not keeping up]\n",
                        static_cast<int>(stamp.size()), stamp.data(), static_cast<unsigned long long>(dropped));
  return n > 0 && static_cast<std::size_t>(n) < out_size ? static_cast<std::size_t>(n) : 0;
}

}  // namespace keel::service::log_record
