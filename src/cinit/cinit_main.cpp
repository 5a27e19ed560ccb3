// cinit_main.cpp — keel-cinit: the container init alone.
//
//   keel-cinit [options] PROGRAM...   container init (native personality)
//   tini ... / dumb-init ...           drop-in personalities (argv[0] or --compat)
//
// The same container init as keel's (cinit/), without the supervisor, the
// system role, TOML or keelctl, for an image that needs nothing else:
// docs/container-mode.md. What keel would run as the system's init
// (--role=system, or called as init) is refused with a usage error.
#include <unistd.h>

#include <cstdlib>
#include <new>

#include "cinit/container_init.hpp"
#include "cinit/options.hpp"
#include "core/standard_fds.hpp"

int main(int argc, char** argv) {
  keel::ensure_standard_fds();
  const int self_pid = static_cast<int>(::getpid());
  keel::CommandLine cl;
  try {
    cl = keel::parse_command_line(
        argc, argv, [](const char* name) { return std::getenv(name); }, self_pid);
  } catch (const std::bad_alloc&) {
    keel::write_all(2, "keel-cinit: out of memory while reading the command line\n");
    return keel::kExitInternal;
  }
  switch (cl.action) {
    case keel::CommandLine::Action::Exit:
      keel::write_all(1, cl.out);
      keel::write_all(2, cl.err);
      return cl.exit_code;
    case keel::CommandLine::Action::RunSystem:
      keel::write_all(2, "keel-cinit: only a container init; the system's init is keel (--role=system)\n");
      return keel::kExitUsage;
    case keel::CommandLine::Action::Run: break;
  }
  return keel::run_container_init(cl.options);
}
