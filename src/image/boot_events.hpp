// boot_events.hpp — `keel-image boot --chart FILE.svg --events FILE`: the
// boot analysis of a QEMU boot, read from its serial console.
//
// With either option keel-image adds `keel.events=console` to the guest's
// kernel command line; keel then writes each event of its record (I2) to
// its console as a line `keel-event: {json}`. The console output is teed
// here as it streams (ConsoleTee), the lines are collected
// (analyze::ConsoleEventCollector), and when QEMU has exited the raw lines
// are saved (--events) and the chart is written (--chart) with blame's top
// lines and the startup summary on the log stream. The chart is written
// for a failed boot too: it shows how far the boot came.
#pragma once

#include <cstddef>
#include <filesystem>
#include <iosfwd>
#include <ostream>
#include <streambuf>
#include <string>

#include "analyze/event_record.hpp"

namespace keel::image {

inline constexpr const char* kEventsCmdline = "keel.events=console";
inline constexpr std::size_t kBlameLinesShown = 10;

// An ostream that writes through to `out` and hands every byte to `collector`.
class ConsoleTee : public std::ostream {
 public:
  ConsoleTee(std::ostream& sink, analyze::ConsoleEventCollector& collector);

 private:
  class Buf : public std::streambuf {
   public:
    Buf(std::ostream& out, analyze::ConsoleEventCollector& collector) : out_(out), collector_(collector) {}

   protected:
    int_type overflow(int_type ch) override;
    std::streamsize xsputn(const char* s, std::streamsize n) override;
    int sync() override;

   private:
    std::ostream& out_;
    analyze::ConsoleEventCollector& collector_;
  };
  Buf buf_;
};

// After the boot: writes `events_path` (the raw JSON lines) and
// `chart_path` (the SVG) when not empty, and a report on `log`. Throws
// ImageError when a file cannot be written. Returns the number of events.
std::size_t write_boot_analysis(const analyze::ConsoleEventCollector& collector,
                                const std::filesystem::path& chart_path, const std::filesystem::path& events_path,
                                std::ostream& log);

}  // namespace keel::image
