// python_report.hpp — `keel-image build --report`: what a [python] section
// costs, read from the plan (size by part, by package and by module), and,
// from a boot, what each import costs (`--import-times LOG`: the console of
// a boot whose Python program ran with `-X importtime` or
// PYTHONPROFILEIMPORTTIME=1; docs/image-spec.md, "Size and import-time
// report").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace keel::image {

struct ImagePlan;

// One "import time: SELF | CUMULATIVE | NAME" line of CPython's -X importtime.
struct ImportTime {
  std::string module;            // dotted name
  std::uint64_t self_us = 0;     // this module's own top-level code
  std::uint64_t cumulative_us = 0;  // with the imports it ran
  int depth = 0;                 // 0: imported by the program (or the interpreter's start-up) itself
};

// The import lines found anywhere in `console` (a boot's serial log: other
// lines, time stamps or prefixes before "import time:" are skipped), in
// order. The header line ("self [us] | cumulative | imported package") is
// not an entry.
[[nodiscard]] std::vector<ImportTime> parse_import_times(const std::string& console);

// The report's lines: the [python] files by part (interpreter, libraries,
// stdlib .pyc, extension modules, scripts), by top-level package and by
// module, largest first, sizes as stored (uncompressed); then, when
// `imports` is not empty, the imports by cumulative time (microseconds of
// guest time), slowest first, with their own time and size.
[[nodiscard]] std::vector<std::string> python_report(const ImagePlan& plan, const std::vector<ImportTime>& imports);

}  // namespace keel::image
