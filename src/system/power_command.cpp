// power_command.cpp — `reboot`, `poweroff`, `halt` (see power_command.hpp):
// a signal to PID 1, or with -f sync + reboot(2).
//
// Messages are plain stdio: this is a short-lived client, never PID 1.
#include "system/power_command.hpp"

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include "system/power.hpp"

namespace keel {
namespace {

struct Command {
  const char* name;
  PowerAction action;
  int signo;  // what PID 1 is sent: BusyBox init's convention
};

constexpr Command kCommands[] = {
    {"reboot", PowerAction::Reboot, SIGTERM},
    {"poweroff", PowerAction::PowerOff, SIGUSR2},
    {"halt", PowerAction::Halt, SIGUSR1},
};

const char* base_name(const char* path) noexcept {
  const char* slash = std::strrchr(path, '/');
  return slash != nullptr ? slash + 1 : path;
}

const Command* find_command(const char* argv0) noexcept {
  if (argv0 == nullptr) return nullptr;
  const char* base = base_name(argv0);
  for (const Command& c : kCommands) {
    if (std::strcmp(base, c.name) == 0) return &c;
  }
  return nullptr;
}

void usage(std::FILE* out, const Command& c) {
  const char* verb = c.action == PowerAction::Reboot ? "Reboot" : c.action == PowerAction::Halt ? "Halt" : "Power off";
  std::fprintf(out,
               "Usage: %s [-f] [-n]\n"
               "%s the system.\n"
               "\n"
               "Without -f, ask init (PID 1) to do it: it stops every service, ends the\n"
               "remaining processes, unmounts the filesystems, then calls reboot(2).\n"
               "\n"
               "  -f, --force    do not ask init: sync, then call reboot(2) at once\n"
               "                 (services are not stopped, filesystems stay mounted)\n"
               "  -n, --no-sync  with -f: do not sync first\n"
               "  -h, --help     show this help\n",
               c.name, verb);
}

}  // namespace

bool is_power_command(const char* argv0) noexcept { return find_command(argv0) != nullptr; }

int run_power_command(int argc, char** argv) noexcept {
  const Command* c = find_command(argc > 0 ? argv[0] : nullptr);
  if (c == nullptr) {
    std::fprintf(stderr, "keel: run_power_command: called as '%s', not reboot, poweroff or halt\n",
                 argc > 0 ? argv[0] : "");
    return 2;
  }
  bool force = false;
  bool no_sync = false;
  for (int i = 1; i < argc; ++i) {
    const char* arg = argv[i];
    if (std::strcmp(arg, "-h") == 0 || std::strcmp(arg, "--help") == 0) {
      usage(stdout, *c);
      std::fflush(stdout);  // a caller may _exit
      return 0;
    }
    if (std::strcmp(arg, "--force") == 0) {
      force = true;
    } else if (std::strcmp(arg, "--no-sync") == 0) {
      no_sync = true;
    } else if (arg[0] == '-' && arg[1] != '-' && arg[1] != '\0') {
      // Bundled short options: -fn.
      for (const char* p = arg + 1; *p != '\0'; ++p) {
        if (*p == 'f') {
          force = true;
        } else if (*p == 'n') {
          no_sync = true;
        } else {
          std::fprintf(stderr, "%s: unknown option '-%c'\nTry '%s --help'.\n", c->name, *p, c->name);
          return 2;
        }
      }
    } else if (arg[0] == '-') {
      std::fprintf(stderr, "%s: unknown option '%s'\nTry '%s --help'.\n", c->name, arg, c->name);
      return 2;
    } else {
      std::fprintf(stderr, "%s: unexpected argument '%s'\nTry '%s --help'.\n", c->name, arg, c->name);
      return 2;
    }
  }
  if (no_sync && !force) {
    std::fprintf(stderr, "%s: -n only applies with -f (init always syncs)\n", c->name);
    return 2;
  }

  if (!force) {
    if (::kill(1, c->signo) != 0) {
      const int err = errno;
      std::fprintf(stderr, "%s: cannot signal init (PID 1): %s%s\n", c->name, std::strerror(err),
                   err == EPERM ? " (are you root?)" : "");
      return 1;
    }
    return 0;
  }
  if (!no_sync) ::sync();
  kernel_reboot(c->action);  // returns only on failure, logged as "keel: error: reboot(2): ..."
  if (errno == EPERM) std::fprintf(stderr, "%s -f: reboot(2) needs CAP_SYS_BOOT (are you root?)\n", c->name);
  return 1;
}

}  // namespace keel
