// boot_chart.hpp — a boot's timeline as an SVG image (`keelctl analyze
// plot`, `keel-image boot --chart`), in the manner of systemd-analyze plot.
//
// One self-contained SVG (no scripts, no external fonts or images: a
// generic sans-serif family) with: a title and the startup summary; a time
// axis with ticks, labels and grid lines; the kernel's time to init as its
// own bar (when keel is a machine's init, see has_kernel_phase); keel's
// boot steps; one row per service in the order they started, each bar in
// phases (launching: starting -> started; starting up: started -> ready;
// running: ready or started -> exit or the record's end; a oneshot's run:
// started -> done), its exit or failure marked at the end, thin lines from
// each `after` predecessor's "up" point to the service's start; vertical
// markers for rng-ready, the target and a shutdown; a legend. Every text
// from the record (service names, the target, exit reasons) is escaped for
// XML and stripped of controls: a service name is hostile input.
#pragma once

#include <string>
#include <string_view>

#include "analyze/boot_analysis.hpp"

namespace keel::analyze {

[[nodiscard]] std::string boot_chart_svg(const BootAnalysis& boot);

// `text` made safe as XML character data or an attribute value: & < > " '
// as entities, controls (C0, DEL, C1) and U+FFFE/U+FFFF as visible escapes
// ("\x1b"), ill-formed UTF-8 as U+FFFD. Cut to `max_chars` characters
// (0: no limit) with "…" when longer.
[[nodiscard]] std::string xml_escaped(std::string_view text, std::size_t max_chars = 0);

}  // namespace keel::analyze
