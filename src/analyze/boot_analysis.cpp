// boot_analysis.cpp — from an event record to timelines and text reports.
#include "analyze/boot_analysis.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "core/terminal_text.hpp"

namespace keel::analyze {

std::int64_t ServiceTimeline::up_us() const noexcept {
  if (done_us >= 0) return done_us;
  if (ready_us >= 0) return ready_us;
  return started_us;
}

std::int64_t ServiceTimeline::startup_us() const noexcept {
  const std::int64_t up = up_us();
  if (up < 0 || starting_us < 0 || up < starting_us) return -1;
  return up - starting_us;
}

const ServiceTimeline* BootAnalysis::service(const std::string& name) const noexcept {
  for (const ServiceTimeline& s : services) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

bool has_kernel_phase(const BootAnalysis& boot) noexcept {
  return boot.keel_start_us > 0 && boot.keel_start_us <= kMaxKernelToInitUs;
}

BootAnalysis analyze_boot(const EventRecord& record) {
  BootAnalysis boot;
  boot.malformed = record.malformed;
  boot.lost = record.lost;
  std::map<std::string, ServiceTimeline> by_name;
  for (const Event& e : record.events) {
    if (boot.first_us < 0 || e.mono_us < boot.first_us) boot.first_us = e.mono_us;
    boot.last_us = std::max(boot.last_us, e.mono_us);
    if (e.service.empty()) {
      if (e.name == "keel-start") {
        if (boot.keel_start_us < 0) boot.keel_start_us = e.mono_us;
      } else if (e.name == "boot-step") {
        const std::int64_t duration = std::max<std::int64_t>(0, e.integer("duration_us").value_or(0));
        BootStep step{std::string(e.string("step")), e.mono_us - std::min(duration, e.mono_us), e.mono_us};
        if (step.step.empty()) step.step = "?";
        boot.steps.push_back(std::move(step));
      } else if (e.name == "rng-ready") {
        if (boot.rng_ready_us < 0) {
          boot.rng_ready_us = e.mono_us;
          boot.markers.push_back({"rng-ready", e.mono_us});
        }
      } else if (e.name == "target-reached") {
        if (boot.target_us < 0) {
          boot.target_us = e.mono_us;
          boot.target = std::string(e.string("target"));
          boot.markers.push_back({boot.target.empty() ? "target reached" : "target " + boot.target, e.mono_us});
        }
      } else if (e.name == "shutdown") {
        const std::string_view reason = e.string("reason");
        boot.markers.push_back({reason.empty() ? "shutdown" : "shutdown (" + std::string(reason) + ")", e.mono_us});
      }
      continue;
    }
    ServiceTimeline& s = by_name[e.service];
    if (s.name.empty()) s.name = e.service;
    if (e.name == "starting") {
      ++s.starts;
      if (s.starting_us < 0) {
        s.starting_us = e.mono_us;
        s.after = e.strings("after");
      }
      continue;
    }
    // Only the first start's phases count (a restart is a later story).
    if (s.starting_us < 0 || s.starts > 1) continue;
    if (e.name == "started") {
      if (s.started_us < 0) s.started_us = e.mono_us;
    } else if (e.name == "ready") {
      if (s.ready_us < 0) s.ready_us = e.mono_us;
    } else if (e.name == "done") {
      if (s.done_us < 0) s.done_us = e.mono_us;
    } else if (e.name == "exited") {
      if (s.exited_us < 0) {
        s.exited_us = e.mono_us;
        if (auto code = e.integer("exit_code")) {
          s.exit_text = "exit " + std::to_string(*code);
        } else if (!e.string("signal").empty()) {
          s.exit_text = std::string(e.string("signal"));
        } else {
          s.exit_text = "exited";
        }
      }
    } else if (e.name == "failed") {
      if (s.failed_us < 0) s.failed_us = e.mono_us;
    }
  }
  for (auto& [name, s] : by_name) {
    (void)name;
    if (s.starting_us >= 0) boot.services.push_back(std::move(s));
  }
  std::stable_sort(boot.services.begin(), boot.services.end(), [](const ServiceTimeline& a, const ServiceTimeline& b) {
    return a.starting_us < b.starting_us;
  });
  std::stable_sort(boot.markers.begin(), boot.markers.end(),
                   [](const Marker& a, const Marker& b) { return a.at_us < b.at_us; });
  return boot;
}

std::string format_duration(std::int64_t us) {
  char buf[48];
  if (us < 0) us = 0;
  if (us < 1000) {
    std::snprintf(buf, sizeof buf, "%lldus", static_cast<long long>(us));
  } else if (us < 1'000'000) {
    std::snprintf(buf, sizeof buf, "%.1fms", static_cast<double>(us) / 1000.0);
  } else {
    std::snprintf(buf, sizeof buf, "%.3fs", static_cast<double>(us) / 1e6);
  }
  return buf;
}

namespace {

std::string shown(const std::string& name) { return terminal_text::escaped(name); }

std::string right(std::string text, std::size_t width) {
  if (text.size() < width) text.insert(0, width - text.size(), ' ');
  return text;
}

}  // namespace

std::string blame_text(const BootAnalysis& boot, std::size_t max_lines) {
  std::vector<const ServiceTimeline*> up;
  std::vector<const ServiceTimeline*> never;
  for (const ServiceTimeline& s : boot.services) (s.startup_us() >= 0 ? up : never).push_back(&s);
  std::stable_sort(up.begin(), up.end(), [](const ServiceTimeline* a, const ServiceTimeline* b) {
    return a->startup_us() > b->startup_us();
  });
  std::string out;
  std::size_t lines = 0;
  for (const ServiceTimeline* s : up) {
    if (max_lines != 0 && lines++ >= max_lines) return out;
    std::string note;
    if (s->done_us >= 0) {
      note = " (oneshot)";
    } else if (s->ready_us < 0) {
      note = " (started; no readiness seen)";
    }
    out += right(format_duration(s->startup_us()), 10) + " " + shown(s->name) + note + "\n";
  }
  for (const ServiceTimeline* s : never) {
    if (max_lines != 0 && lines++ >= max_lines) return out;
    std::string why = s->failed_us >= 0 ? "failed" : s->exited_us >= 0 ? "exited (" + s->exit_text + ")" : "starting";
    out += right("-", 10) + " " + shown(s->name) + " (never up: " + why + ")\n";
  }
  return out;
}

std::optional<std::vector<ChainLink>> critical_chain(const BootAnalysis& boot, const std::string& name) {
  const ServiceTimeline* s = boot.service(name);
  if (s == nullptr) return std::nullopt;
  std::vector<ChainLink> chain;
  std::set<std::string> seen;
  int depth = 0;
  while (s != nullptr && seen.insert(s->name).second) {
    chain.push_back({s, depth++});
    // The predecessor that came up last (before this one started) decided
    // when this one could start.
    const ServiceTimeline* decider = nullptr;
    for (const std::string& p : s->after) {
      const ServiceTimeline* pred = boot.service(p);
      if (pred == nullptr || pred->up_us() < 0) continue;
      if (pred->up_us() > s->starting_us) continue;  // not what it waited for
      if (decider == nullptr || pred->up_us() > decider->up_us()) decider = pred;
    }
    s = decider;
  }
  return chain;
}

std::string default_chain_service(const BootAnalysis& boot) {
  const ServiceTimeline* last = nullptr;
  for (const ServiceTimeline& s : boot.services) {
    const std::int64_t up = s.up_us();
    if (up < 0 || s.failed_us >= 0) continue;  // a failed start decided nothing
    if (boot.target_us >= 0 && up > boot.target_us) continue;
    if (last == nullptr || up >= last->up_us()) last = &s;
  }
  return last != nullptr ? last->name : std::string();
}

std::string critical_chain_text(const BootAnalysis& boot, const std::vector<ChainLink>& chain) {
  std::string out =
      "The time when a service started is printed after the \"@\" character (since keel started).\n"
      "The time it took to come up (ready, started or done) is printed after the \"+\" character.\n\n";
  const std::int64_t origin = boot.origin_us();
  for (const ChainLink& link : chain) {
    const ServiceTimeline& s = *link.service;
    std::string line;
    if (link.depth > 0) line += std::string(static_cast<std::size_t>(link.depth - 1) * 2, ' ') + "\u2514\u2500";
    line += shown(s.name) + " @" + format_duration(s.starting_us - origin);
    if (s.startup_us() >= 0) {
      line += " +" + format_duration(s.startup_us());
    } else {
      line += " (never up)";
    }
    out += line + "\n";
  }
  return out;
}

std::string summary_text(const BootAnalysis& boot) {
  std::string out = "Startup finished in ";
  const bool kernel = has_kernel_phase(boot);
  if (kernel) out += format_duration(boot.keel_start_us) + " (kernel) + ";
  const std::int64_t origin = boot.origin_us();
  const std::int64_t end = boot.target_us >= 0 ? boot.target_us : boot.last_us;
  out += format_duration(end - origin) + " (keel" + (boot.target_us >= 0 ? " to " + shown(boot.target.empty() ? std::string("target") : boot.target) : std::string(", to its last event")) + ")";
  if (kernel) out += " = " + format_duration(end);
  out += "\n";
  if (boot.lost > 0) out += "note: " + std::to_string(boot.lost) + " event(s) lost (keel's record is bounded)\n";
  if (boot.malformed > 0) out += "note: " + std::to_string(boot.malformed) + " malformed line(s) skipped\n";
  return out;
}

}  // namespace keel::analyze
