// analyze_fuzz.cpp — libFuzzer target: the event-record reader and what is
// drawn from it (src/analyze/), i.e. `keelctl analyze --input FILE` and
// `keel-image boot --chart` on a console log or record nobody vouches for.
//
// The input is the text of a record (one JSON event per line, or a console
// with `keel-event: ` lines). Properties: the reader never takes more lines
// than the input has; the analysis, blame, every critical chain and the
// chart are made without a crash; every '<' in the chart opens one of the
// elements the chart writes itself, so the record's text (service names,
// reasons: chosen by services) cannot add one.
#include <algorithm>
#include <cstdint>
#include <new>
#include <string>
#include <string_view>

#include "analyze/boot_analysis.hpp"
#include "analyze/boot_chart.hpp"
#include "analyze/event_record.hpp"
#include "fuzz_util.hpp"

namespace {
using keel::fuzz::property_failed;
namespace an = keel::analyze;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  try {
    // Fed in two pieces, as keelctl feeds frames: the split must not matter.
    an::EventReader reader;
    reader.feed(input.substr(0, size / 2));
    reader.feed(input.substr(size / 2));
    reader.finish();
    an::EventRecord& record = reader.record();
    std::size_t newlines = 0;
    for (char ch : input) newlines += ch == '\n' ? 1 : 0;
    if (record.events.size() + record.malformed > newlines + 1) property_failed("analyze: more events than lines");

    an::BootAnalysis boot = an::analyze_boot(record);
    (void)an::blame_text(boot, 0);
    (void)an::summary_text(boot);
    for (const auto& service : boot.services) {
      if (auto chain = an::critical_chain(boot, service.name)) (void)an::critical_chain_text(boot, *chain);
    }
    std::string svg = an::boot_chart_svg(boot);
    if (svg.rfind("<svg", 0) != 0 && svg.find("<svg") == std::string::npos) property_failed("analyze: no <svg>");
    if (svg.find("<script") != std::string::npos) property_failed("analyze: a <script> element in the chart");
    // Every '<' opens one of the chart's own elements: the record's text
    // (service names, reasons) cannot add one.
    for (std::size_t at = svg.find('<'); at != std::string::npos; at = svg.find('<', at + 1)) {
      std::string_view tag(svg.data() + at, std::min<std::size_t>(svg.size() - at, 8));
      bool known = false;
      for (std::string_view own : {"<?xml", "<svg", "</svg", "<style", "</style", "<rect", "</rect", "<line", "<path",
                                   "<text", "</text", "<title", "</title"}) {
        if (tag.substr(0, own.size()) == own && tag.size() > own.size() &&
            (tag[own.size()] == ' ' || tag[own.size()] == '>' || tag[own.size()] == '\n' || own == "<?xml")) {
          known = true;
        }
      }
      if (!known) property_failed("analyze: the chart has an element it does not write itself");
    }
  } catch (const std::bad_alloc&) {
  }
  return 0;
}
