// boot_analysis.hpp — what a boot's event record says: each service's
// start-up phases, keel's own boot steps, and the text reports of
// `keelctl analyze blame` and `keelctl analyze critical-chain`.
//
// Times are CLOCK_MONOTONIC µs as in the record. "Since keel started" means
// since the keel-start event's mono_us; on a machine keel-start's mono_us
// is itself the kernel's time to init. A service is analysed by its FIRST
// start in the record (the boot); later restarts are counted only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "analyze/event_record.hpp"

namespace keel::analyze {

struct ServiceTimeline {
  std::string name;
  std::vector<std::string> after;  // from its first `starting`
  std::int64_t starting_us = -1;   // -1: not in the record
  std::int64_t started_us = -1;    // exec'd
  std::int64_t ready_us = -1;
  std::int64_t done_us = -1;       // a oneshot finished well
  std::int64_t exited_us = -1;     // first exit after its first start
  std::int64_t failed_us = -1;
  std::string exit_text;           // "exit 1", "SIGKILL"
  std::size_t starts = 0;          // `starting` events in the record

  // When its start-up ended: done (oneshot), else ready, else started.
  [[nodiscard]] std::int64_t up_us() const noexcept;
  // up_us() - starting_us, or -1 when it never came up.
  [[nodiscard]] std::int64_t startup_us() const noexcept;
};

struct BootStep {
  std::string step;
  std::int64_t start_us = 0;
  std::int64_t end_us = 0;
};

struct Marker {
  std::string label;  // "rng-ready", "target: multi-user"
  std::int64_t at_us = 0;
};

struct BootAnalysis {
  std::int64_t keel_start_us = -1;     // -1: keel-start is not in the record
  std::int64_t first_us = -1;          // the first event's time
  std::int64_t last_us = -1;           // the last event's time
  std::int64_t rng_ready_us = -1;
  std::int64_t target_us = -1;         // the first target-reached
  std::string target;
  std::vector<BootStep> steps;         // keel's boot steps, in order
  std::vector<ServiceTimeline> services;  // by first start (then name)
  std::vector<Marker> markers;         // rng-ready, target-reached, shutdown
  std::size_t malformed = 0;
  std::size_t lost = 0;

  // keel-start's time, else the first event's: what "@" times count from.
  [[nodiscard]] std::int64_t origin_us() const noexcept { return keel_start_us >= 0 ? keel_start_us : first_us; }
  [[nodiscard]] const ServiceTimeline* service(const std::string& name) const noexcept;
};

[[nodiscard]] BootAnalysis analyze_boot(const EventRecord& record);

// "1.234s", "56.7ms", "890us".
[[nodiscard]] std::string format_duration(std::int64_t us);

// `analyze blame`: one line per service that came up, slowest first:
// "  1.234s web", then the ones that never came up. Names escaped for a
// terminal.
[[nodiscard]] std::string blame_text(const BootAnalysis& boot, std::size_t max_lines = 0);

// One link of a critical chain, from the service asked about back to the
// first service it waited for.
struct ChainLink {
  const ServiceTimeline* service;
  int depth;
};
// The chain that decided when `name` started: at each step the `after`
// predecessor that came up last. nullopt: no such service in the record.
[[nodiscard]] std::optional<std::vector<ChainLink>> critical_chain(const BootAnalysis& boot, const std::string& name);
// The service critical-chain shows by default: the one that came up last
// at or before the target was reached (or last of all, with no target),
// leaving out the ones that failed.
[[nodiscard]] std::string default_chain_service(const BootAnalysis& boot);
// `analyze critical-chain`: systemd-analyze's layout, "@" since keel
// started, "+" its start-up time.
[[nodiscard]] std::string critical_chain_text(const BootAnalysis& boot, const std::vector<ChainLink>& chain);

// The summary line: "Startup finished in 1.2s (kernel) + 345ms (keel) = ..."
[[nodiscard]] std::string summary_text(const BootAnalysis& boot);

// Whether keel-start's monotonic time looks like a kernel's time to init
// (keel is a machine's init) rather than a host's uptime (a container or a
// supervisor started later): the chart and the summary show a kernel bar
// only then.
inline constexpr std::int64_t kMaxKernelToInitUs = 300'000'000;  // 5 minutes
[[nodiscard]] bool has_kernel_phase(const BootAnalysis& boot) noexcept;

}  // namespace keel::analyze
