#include "system/boot_events.hpp"

#include <new>

#include "core/event_loop.hpp"
#include "core/oom.hpp"
#include "service/event_record.hpp"
#include "system/switch_root.hpp"

namespace keel {

void BootStep::begin() noexcept { start_mono_ns_ = monotonic_ns(); }

void BootStep::stop() noexcept {
  end_mono_ns_ = monotonic_ns();
  end_real_ns_ = service::realtime_ns();
}

void BootStep::emit(const char* step) const noexcept {
  service::event_record()
      .begin_at("boot-step", {}, end_mono_ns_, end_real_ns_)
      .str("step", step)
      .num("duration_us", (end_mono_ns_ - start_mono_ns_) / 1000)
      .commit();
}

void start_event_record(bool console, const BootStep* early_mounts) noexcept {
  service::EventRecord& r = service::event_record();
  try {
    r.init();
  } catch (const std::bad_alloc&) {
    oom::dropped("the event record's memory (events are streamed, not kept)");
  }
  r.set_console(console);
  std::int64_t mono = r.start_mono_ns();
  std::int64_t real = r.start_real_ns();
  if (mono == 0) {  // main() did not set it (a test calling the system role directly)
    mono = monotonic_ns();
    real = service::realtime_ns();
  }
  r.begin_at("keel-start", {}, mono, real).commit();
  if (early_mounts != nullptr) early_mounts->emit("mounts");
  // After a disk-root stage's exec, its step (system/switch_root.hpp).
  if (early_mounts != nullptr) record_disk_root_step();
}

void record_target(std::string_view target, bool failed) noexcept {
  static bool recorded = false;  // the boot's target, once
  if (recorded) return;
  recorded = true;
  service::EventRecord& r = service::event_record();
  if (!failed) r.begin("target-reached").str("target", target).commit();
  r.close_boot();
}

void record_shutdown(PowerAction action, bool ends_by_exit) noexcept {
  const char* reason = ends_by_exit                      ? "exit"
                       : action == PowerAction::PowerOff ? "poweroff"
                       : action == PowerAction::Reboot   ? "reboot"
                                                         : "halt";
  service::event_record().begin("shutdown").str("reason", reason).commit();
}

void record_shutdown_step(const char* step) noexcept {
  service::event_record().begin("shutdown-step").str("step", step).commit();
}

}  // namespace keel
