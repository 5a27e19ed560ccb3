// boot_events.cpp — keel-image's side of the boot chart (see the header).
#include "image/boot_events.hpp"

#include <fstream>

#include "analyze/boot_analysis.hpp"
#include "analyze/boot_chart.hpp"
#include "image/diagnostic.hpp"

namespace keel::image {

ConsoleTee::ConsoleTee(std::ostream& sink, analyze::ConsoleEventCollector& collector)
    : std::ostream(nullptr), buf_(sink, collector) {
  rdbuf(&buf_);
}

ConsoleTee::Buf::int_type ConsoleTee::Buf::overflow(int_type ch) {
  if (traits_type::eq_int_type(ch, traits_type::eof())) return traits_type::not_eof(ch);
  const char c = traits_type::to_char_type(ch);
  out_.put(c);
  collector_.feed(std::string_view(&c, 1));
  return ch;
}

std::streamsize ConsoleTee::Buf::xsputn(const char* s, std::streamsize n) {
  out_.write(s, n);
  collector_.feed(std::string_view(s, static_cast<std::size_t>(n)));
  return n;
}

int ConsoleTee::Buf::sync() {
  out_.flush();
  return 0;
}

namespace {

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) throw ImageError(path.string(), 0, "cannot write the file");
}

}  // namespace

std::size_t write_boot_analysis(const analyze::ConsoleEventCollector& collector,
                                const std::filesystem::path& chart_path, const std::filesystem::path& events_path,
                                std::ostream& log) {
  if (!events_path.empty()) {
    write_file(events_path, collector.lines());
    log << "keel-image: " << collector.count() << " event line(s) written to " << events_path.string() << "\n";
  }
  const analyze::EventRecord record = analyze::parse_event_lines(collector.lines());
  if (collector.count() == 0) {
    log << "keel-image: no `keel-event:` lines on the console (the guest's keel does not write its events "
           "there: it needs " << kEventsCmdline << " on its kernel command line and a keel with the event record)\n";
  }
  if (!chart_path.empty()) {
    const analyze::BootAnalysis boot = analyze::analyze_boot(record);
    write_file(chart_path, analyze::boot_chart_svg(boot));
    log << "keel-image: boot chart written to " << chart_path.string() << "\n";
    if (!boot.services.empty()) {
      log << "keel-image: " << analyze::summary_text(boot) << "keel-image: slowest services:\n"
          << analyze::blame_text(boot, kBlameLinesShown);
    }
  }
  return record.events.size();
}

}  // namespace keel::image
