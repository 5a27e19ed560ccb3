// main.cpp — one binary, chosen by how it is called.
//
//   keel [options] PROGRAM...        container init (native personality)
//   tini ... / dumb-init ...          drop-in personalities (argv[0] or --compat)
//   /sbin/init, /init, --role=system  the system's init
//   keelctl ... / keel ctl ...        the control client (control/keelctl.hpp)
//   reboot, poweroff, halt [-f]        ask PID 1 to do it (system/power_command.hpp)
//   keel --probe KIND ...             one run of a service's probe (service/probe_main.hpp)
//   keel check [CONFIG_DIR]           check a configuration (system/config_check.hpp)
//
// Parsing may allocate and fail with a message; from the moment the init
// runs, errors are values and nothing here exits except with the program's
// status.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "cinit/container_init.hpp"
#include "cinit/options.hpp"
#include "control/keelctl.hpp"
#include "core/event_loop.hpp"
#include "core/log.hpp"
#include "core/reaper.hpp"
#include "core/signal_source.hpp"
#include "core/standard_fds.hpp"
#include "service/builtin.hpp"
#include "service/event_record.hpp"
#include "service/log_writer.hpp"
#include "service/probe_main.hpp"
#include "system/config_check.hpp"
#include "system/config_loader.hpp"
#include "system/power_command.hpp"
#include "system/system_init.hpp"

int main(int argc, char** argv) {
  // The event record's keel-start (service/event_record.hpp): on a machine,
  // the kernel's time to init. Two vDSO reads, in every mode.
  keel::service::event_record().set_start(keel::monotonic_ns(), keel::service::realtime_ns());
  keel::ensure_standard_fds();
  // keelctl is this same binary, so an image carries one file: called as
  // "keelctl", or as "keel ctl ARGS" (a program really named "ctl" is run
  // with "keel -- ctl").
  const char* base = std::strrchr(argv[0], '/');
  base = base != nullptr ? base + 1 : argv[0];
  if (std::strcmp(base, "keelctl") == 0) return keel::control::run_keelctl(argc, argv);
  // reboot, poweroff, halt: ask PID 1 (or, with -f, do it now).
  if (keel::is_power_command(argv[0])) return keel::run_power_command(argc, argv);
  // The rng-ready service's helper (service/builtin.hpp).
  if (argc == 2 && argv[1] == keel::service::kRngWaitArg) return keel::service::run_rng_wait();
  // The services' log-file writer, started by PID 1 (service/log_writer.hpp).
  if (argc == 2 && argv[1] == keel::service::kLogWriterArg) return keel::service::run_log_writer();
  // One run of a service's tcp, http or file probe, for PID 1 (service/probe.hpp).
  if (argc >= 2 && argv[1] == keel::service::kProbeArg) return keel::service::run_probe(argc, argv);
  // keel.toml and the service files, parsed for PID 1 (system/config_loader.hpp).
  if (argc >= 2 && std::strcmp(argv[1], keel::kConfigLoaderArg) == 0) return keel::run_config_loader(argc, argv);
  if (argc >= 2 && std::strcmp(argv[1], "ctl") == 0) {
    argv[1] = const_cast<char*>("keelctl");
    return keel::control::run_keelctl(argc - 1, argv + 1);
  }
  // Check a configuration, as keel would load it (a program really named
  // "check" is run with "keel -- check").
  if (argc >= 2 && std::strcmp(argv[1], "check") == 0) return keel::run_check(argc - 1, argv + 1);
  // The one getpid() that decides anything: the default role of native
  // keel, and the "PID 1 of its namespace" fact every role is given
  // (core/role.hpp).
  const int self_pid = static_cast<int>(::getpid());
  keel::CommandLine cl;
  try {
    cl = keel::parse_command_line(argc, argv, [](const char* name) { return std::getenv(name); }, self_pid);
  } catch (const std::bad_alloc&) {
    static const char kMsg[] = "keel: out of memory while reading the command line\n";
    ssize_t ignored = ::write(2, kMsg, sizeof kMsg - 1);
    (void)ignored;
    return keel::kExitInternal;
  }
  switch (cl.action) {
    case keel::CommandLine::Action::Exit:
      keel::write_all(1, cl.out);
      keel::write_all(2, cl.err);
      return cl.exit_code;
    case keel::CommandLine::Action::RunSystem:
      return keel::run_system_init(argc, argv, cl.options.namespace_init);
    case keel::CommandLine::Action::Run:
      break;
  }
  return keel::run_container_init(cl.options);
}
