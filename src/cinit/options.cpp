#include "cinit/options.hpp"

#include <cstdlib>
#include <string_view>

#include "cinit/argparse.hpp"
#include "core/signals.hpp"
#include "core/version.hpp"

namespace keel {
namespace {

using cli::OptionSpec;

// The versions of the originals whose behaviour the personalities follow.
constexpr const char* kTiniVersion = "0.19.0";
constexpr const char* kDumbInitVersion = "1.2.5";

std::string keel_version_line() { return std::string("keel ") + kVersion + "\n"; }

// ---------------------------------------------------------------- native

enum NativeId {
  kSub = 1,
  kGroup,
  kRewrite,
  kRemap,
  kPdeath,
  kGrace,
  kVerbose,
  kQuiet,
  kRole,
  kHelp,
  kShowVersion,
  kNoPythonHashSeed,
};

constexpr OptionSpec kNativeSpecs[] = {
    {'s', "subreaper", false, kSub},   {'g', "pgroup", false, kGroup},     {'r', "rewrite", true, kRewrite},
    {'e', "remap-exit", true, kRemap}, {'p', "pdeathsig", true, kPdeath},  {'t', "grace", true, kGrace},
    {'v', "verbose", false, kVerbose}, {'q', "quiet", false, kQuiet},      {'\0', "role", true, kRole},
    {'h', "help", false, kHelp},       {'V', "version", false, kShowVersion},
    {'\0', "no-python-hash-seed", false, kNoPythonHashSeed},
};

constexpr const char* kNativeHelp =
    "Usage: keel [OPTIONS] [--] PROGRAM [ARGS...]\n"
    "       keel --compat=tini|dumb-init [THEIR OPTIONS] PROGRAM [ARGS...]\n"
    "       keel check [--root DIR] [CONFIG_DIR]   check a configuration (see --help)\n"
    "       keel ctl COMMAND                       keelctl\n"
    "\n"
    "Run PROGRAM as the main child of a minimal init: forward signals to it, reap\n"
    "every zombie, and when it exits stop whatever it left behind (SIGTERM, a grace\n"
    "period, SIGKILL) before exiting with its exit code (128+N if killed by signal N).\n"
    "\n"
    "Options:\n"
    "  -s, --subreaper          adopt orphans as a child subreaper (the default when\n"
    "                           keel is not PID 1)\n"
    "  -g, --pgroup             forward signals to PROGRAM's whole process group\n"
    "  -r, --rewrite FROM:TO    forward signal FROM as TO; TO=0 drops it. Names\n"
    "                           (TERM, SIGTERM) or numbers 1-31. Repeatable.\n"
    "  -e, --remap-exit CODE    report PROGRAM's exit code CODE (0-255) as 0. Repeatable.\n"
    "  -p, --pdeathsig SIG      signal keel gets when its parent dies (e.g. KILL)\n"
    "  -t, --grace SECONDS      grace period between SIGTERM and SIGKILL when stopping\n"
    "                           the rest of the tree (default 5; 0 = SIGKILL at once)\n"
    "  -v, --verbose            more messages; repeat for more (up to -vvv)\n"
    "  -q, --quiet              only errors\n"
    "      --role=ROLE          container (PID 1 of a namespace), subreaper, or system\n"
    "                           (default: container when PID 1, subreaper otherwise)\n"
    "      --no-python-hash-seed  do not set PYTHONHASHSEED for a Python PROGRAM (also\n"
    "                           KEEL_PYTHON_HASH_SEED=0); by default a Python\n"
    "                           interpreter or #! script gets a fresh one unless\n"
    "                           PYTHONHASHSEED is set already\n"
    "      --compat=NAME        behave as tini or dumb-init (must come first); also\n"
    "                           chosen by running keel under the name tini or dumb-init\n"
    "  -h, --help               show this help and exit\n"
    "  -V, --version            show the version and exit\n"
    "\n"
    "Exit status: PROGRAM's (or 0 when remapped); 126 if it cannot be executed, 127\n"
    "if it is not found; 2 for a usage error; 1 if keel itself cannot set up.\n"
    "As the system's init (run as /sbin/init or /init, or --role=system), extra\n"
    "words on the command line are kernel leftovers and are ignored. --role=system\n"
    "run by a user other than root is that user's supervisor: CONFIG_DIR\n"
    "$XDG_CONFIG_HOME/keel, RUN_DIR $XDG_RUNTIME_DIR/keel (docs/system-mode.md).\n"
    "KEEL_LOG_OUTPUT=prefixed|json (or keel.toml log_output) also copies every\n"
    "service's stdout/stderr lines to keel's own (docs/services.md).\n"
    "See docs/container-mode.md.\n";

CommandLine usage_error(const std::string& message) {
  CommandLine cl;
  cl.action = CommandLine::Action::Exit;
  cl.exit_code = kExitUsage;
  cl.err = "keel: " + message + " (see 'keel --help')\n";
  return cl;
}

// "FROM:TO" with names or numbers; TO may be 0.
bool parse_rewrite(std::string_view text, int* from, int* to) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos) return false;
  auto f = signals::parse(text.substr(0, colon));
  auto t = signals::parse(text.substr(colon + 1), /*allow_zero=*/true);
  if (!f || !t) return false;
  *from = *f;
  *to = *t;
  return true;
}

bool parse_exit_code(std::string_view text, int* code) {
  if (text.empty() || text.size() > 3) return false;
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  if (value > 255) return false;
  *code = value;
  return true;
}

// Seconds as an integer or decimal ("5", "0.5"), up to a day.
bool parse_seconds(std::string_view text, std::int64_t* ns) {
  if (text.empty()) return false;
  std::int64_t whole = 0;
  std::int64_t frac = 0;
  std::int64_t frac_scale = 1'000'000'000;
  bool seen_dot = false;
  bool seen_digit = false;
  for (char c : text) {
    if (c == '.' && !seen_dot) {
      seen_dot = true;
      continue;
    }
    if (c < '0' || c > '9') return false;
    seen_digit = true;
    if (!seen_dot) {
      whole = whole * 10 + (c - '0');
      if (whole > 86400) return false;
    } else if (frac_scale > 1) {
      frac_scale /= 10;
      frac += (c - '0') * frac_scale;
    }
  }
  if (!seen_digit) return false;
  *ns = whole * 1'000'000'000 + frac;
  return *ns <= std::int64_t{86400} * 1'000'000'000;
}

void clear_rewrites(ContainerOptions& o) { o.rewrite.fill(-1); }

CommandLine parse_native(int argc, char** argv, const EnvLookup& env, int self_pid) {
  CommandLine cl;
  ContainerOptions& o = cl.options;
  clear_rewrites(o);
  o.personality = Personality::Keel;
  o.python_hash_seed = true;
  o.argv0 = "keel";
  auto parsed = cli::parse_argv(argc, argv, kNativeSpecs, cli::Ordering::StopAtFirstOperand);
  bool role_given = false;
  bool subreaper_flag = false;
  for (const auto& opt : parsed.options) {
    std::string_view arg = opt.argument != nullptr ? opt.argument : "";
    switch (opt.id) {
      case kSub: subreaper_flag = true; break;
      case kGroup: o.signal_group = true; break;
      case kRewrite: {
        int from = 0;
        int to = 0;
        if (!parse_rewrite(arg, &from, &to)) {
          return usage_error("bad --rewrite '" + std::string(arg) +
                             "': expected FROM:TO with signal names or numbers 1-31 (TO may be 0 to drop)");
        }
        o.rewrite[static_cast<std::size_t>(from)] = to;
        break;
      }
      case kRemap: {
        int code = 0;
        if (!parse_exit_code(arg, &code)) return usage_error("bad --remap-exit '" + std::string(arg) + "': expected 0-255");
        o.exit_zero[static_cast<std::size_t>(code)] = true;
        break;
      }
      case kPdeath: {
        auto sig = signals::parse(arg);
        if (!sig) return usage_error("bad --pdeathsig '" + std::string(arg) + "': not a signal name or number 1-31");
        o.parent_death_signal = *sig;
        break;
      }
      case kGrace:
        if (!parse_seconds(arg, &o.grace_ns)) {
          return usage_error("bad --grace '" + std::string(arg) + "': expected seconds, e.g. 5 or 0.5 (at most 86400)");
        }
        break;
      case kVerbose: ++o.verbosity; break;
      case kQuiet: o.verbosity = 0; break;
      case kNoPythonHashSeed: o.python_hash_seed = false; break;
      case kRole: {
        auto role = parse_role(arg);
        if (!role) return usage_error("bad --role '" + std::string(arg) + "': expected container, subreaper or system");
        o.role = *role;
        role_given = true;
        break;
      }
      case kHelp:
        cl.action = CommandLine::Action::Exit;
        cl.exit_code = 0;
        cl.out = kNativeHelp;
        return cl;
      case kShowVersion:
        cl.action = CommandLine::Action::Exit;
        cl.exit_code = 0;
        cl.out = keel_version_line();
        return cl;
      default: break;
    }
  }
  if (parsed.error) {
    const auto& e = *parsed.error;
    std::string spelled = (e.is_long ? "--" : "-") + e.option;
    switch (e.kind) {
      case cli::ParseError::Kind::Unknown: return usage_error("unknown option '" + spelled + "'");
      case cli::ParseError::Kind::MissingArgument: return usage_error("option '" + spelled + "' needs a value");
      case cli::ParseError::Kind::UnexpectedArgument: return usage_error("option '" + spelled + "' takes no value");
      case cli::ParseError::Kind::Ambiguous: return usage_error("option '" + spelled + "' is ambiguous");
    }
  }
  if (!role_given) o.role = (subreaper_flag || self_pid != 1) ? Role::Subreaper : Role::Container;
  if (o.role == Role::System) {
    cl.action = CommandLine::Action::RunSystem;
    return cl;
  }
  o.register_subreaper = o.role == Role::Subreaper || subreaper_flag;
  if (const char* v = env("KEEL_PYTHON_HASH_SEED"); v != nullptr && std::string_view(v) == "0") {
    o.python_hash_seed = false;
  }
  if (parsed.operands.empty()) return usage_error("no PROGRAM to run");
  o.program = std::move(parsed.operands);
  o.program.push_back(nullptr);
  cl.action = CommandLine::Action::Run;
  return cl;
}

// ------------------------------------------------------------------ tini

enum TiniId { kTHelp = 1, kTSub, kTPdeath, kTVerbose, kTWarn, kTGroup, kTExit, kTLicense };

constexpr OptionSpec kTiniSpecs[] = {
    {'h', nullptr, false, kTHelp},    {'s', nullptr, false, kTSub},   {'p', nullptr, true, kTPdeath},
    {'v', nullptr, false, kTVerbose}, {'w', nullptr, false, kTWarn},  {'g', nullptr, false, kTGroup},
    {'e', nullptr, true, kTExit},     {'l', nullptr, false, kTLicense},
};

std::string tini_version_string() { return std::string("tini version ") + kTiniVersion + " - keel " + kVersion; }

std::string tini_usage(std::string_view name) {
  std::string n(name);
  return n + " (" + tini_version_string() + ")\n" + "Usage: " + n + " [OPTIONS] PROGRAM -- [ARGS] | --version\n\n" +
         "Execute a program under the supervision of a valid init process (" + n + ")\n\n" +
         "Command line options:\n\n"
         "  --version: Show version and exit.\n"
         "  -h: Show this help message and exit.\n"
         "  -s: Register as a process subreaper (requires Linux >= 3.4).\n"
         "  -p SIGNAL: Trigger SIGNAL when parent dies, e.g. \"-p SIGKILL\".\n"
         "  -v: Generate more verbose output. Repeat up to 3 times.\n"
         "  -w: Print a warning when processes are getting reaped.\n"
         "  -g: Send signals to the child's process group.\n"
         "  -e EXIT_CODE: Remap EXIT_CODE (from 0 to 255) to 0.\n"
         "  -l: Show license and exit.\n"
         "\n"
         "Environment variables:\n\n"
         "  TINI_SUBREAPER: Register as a process subreaper (requires Linux >= 3.4).\n"
         "  TINI_VERBOSITY: Set the verbosity level (default: 1).\n"
         "  TINI_KILL_PROCESS_GROUP: Send signals to the child's process group.\n\n";
}

constexpr const char* kLicense =
    "keel is free software, distributed under the MIT License.\n"
    "\n"
    "Permission is hereby granted, free of charge, to any person obtaining a copy of\n"
    "this software and associated documentation files (the \"Software\"), to deal in\n"
    "the Software without restriction, including without limitation the rights to\n"
    "use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of\n"
    "the Software, and to permit persons to whom the Software is furnished to do so,\n"
    "subject to the following conditions: the above copyright notice and this\n"
    "permission notice shall be included in all copies or substantial portions of\n"
    "the Software.\n"
    "\n"
    "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR\n"
    "IMPLIED. See the LICENSE file of the keel sources for the full text.\n";

std::string tini_fatal(int self_pid, const std::string& text) {
  return "[FATAL tini (" + std::to_string(self_pid) + ")] " + text + "\n";
}

CommandLine parse_tini(int argc, char** argv, const EnvLookup& env, int self_pid, std::string_view name) {
  CommandLine cl;
  ContainerOptions& o = cl.options;
  clear_rewrites(o);
  o.personality = Personality::Tini;
  o.argv0 = std::string(name);
  o.whole_tree_stop = false;  // tini exits as soon as its child has; see docs
  o.inherit_signal_state = true;
  o.forward_tty_and_fault_signals = false;
  o.session = Session::NewProcessGroup;
  o.session_by_terminal = false;
  o.take_terminal = true;
  o.verbosity = 1;
  cl.action = CommandLine::Action::Exit;
  cl.exit_code = 1;  // tini's exit code for every parse failure

  // tini handles --version only when it is the only argument.
  if (argc == 2 && std::string_view(argv[1]) == "--version") {
    cl.exit_code = 0;
    cl.out = tini_version_string() + "\n";
    return cl;
  }
  // tini calls getopt(3), which permutes unless POSIXLY_CORRECT is set:
  // then `tini -e 1 sh -c ...` must give -c to sh, not take it for tini's.
  auto ordering = env("POSIXLY_CORRECT") != nullptr ? cli::Ordering::StopAtFirstOperand : cli::Ordering::Permute;
  auto parsed = cli::parse_argv(argc, argv, kTiniSpecs, ordering);
  bool subreaper = false;
  for (const auto& opt : parsed.options) {
    std::string_view arg = opt.argument != nullptr ? opt.argument : "";
    switch (opt.id) {
      case kTHelp:
        cl.exit_code = 0;
        cl.out = tini_usage(name);
        return cl;
      case kTSub: subreaper = true; break;
      case kTPdeath: {
        // tini accepts only "SIGKILL"-style names; keel also takes numbers
        // and bare names, which no working tini command line uses.
        auto sig = signals::parse(arg);
        if (!sig) {
          cl.err = tini_fatal(self_pid, "Not a valid option for -p: " + std::string(arg));
          return cl;
        }
        o.parent_death_signal = *sig;
        break;
      }
      case kTVerbose: ++o.verbosity; break;
      case kTWarn: o.warn_on_reap = true; break;
      case kTGroup: o.signal_group = true; break;
      case kTExit: {
        int code = 0;
        if (!parse_exit_code(arg, &code)) {
          cl.err = tini_fatal(self_pid, "Not a valid option for -e: " + std::string(arg));
          return cl;
        }
        o.exit_zero[static_cast<std::size_t>(code)] = true;
        break;
      }
      case kTLicense:
        cl.exit_code = 0;
        cl.out = kLicense;
        return cl;
      default: break;
    }
  }
  if (parsed.error) {
    cl.err = cli::getopt_message(argv[0], *parsed.error) + "\n" + tini_usage(name);
    return cl;
  }
  if (parsed.operands.empty()) {
    cl.err = tini_usage(name);
    return cl;
  }
  if (env("TINI_SUBREAPER") != nullptr) subreaper = true;
  if (env("TINI_KILL_PROCESS_GROUP") != nullptr) o.signal_group = true;
  if (const char* v = env("TINI_VERBOSITY"); v != nullptr) o.verbosity = std::atoi(v);
  o.register_subreaper = subreaper;
  // tini's role follows its flags: registered subreaper, else whatever it is.
  o.role = subreaper ? Role::Subreaper : Role::Container;
  o.program = std::move(parsed.operands);
  o.program.push_back(nullptr);
  cl.action = CommandLine::Action::Run;
  cl.exit_code = 0;
  return cl;
}

// ------------------------------------------------------------- dumb-init

enum DumbId { kDHelp = 1, kDSingle, kDRewrite, kDVerbose, kDVersion };

constexpr OptionSpec kDumbSpecs[] = {
    {'h', "help", false, kDHelp},        {'c', "single-child", false, kDSingle}, {'r', "rewrite", true, kDRewrite},
    {'v', "verbose", false, kDVerbose},  {'V', "version", false, kDVersion},
};

std::string dumb_version_line() { return std::string("dumb-init v") + kDumbInitVersion + " (keel " + kVersion + ")\n"; }

std::string dumb_help(const char* argv0) {
  return dumb_version_line() + "Usage: " + argv0 + " [option] command [[arg] ...]\n" +
         "\n"
         "dumb-init is a simple process supervisor that forwards signals to children.\n"
         "It is designed to run as PID1 in minimal container environments.\n"
         "\n"
         "Optional arguments:\n"
         "   -c, --single-child   Run in single-child mode.\n"
         "                        In this mode, signals are only proxied to the\n"
         "                        direct child and not any of its descendants.\n"
         "   -r, --rewrite s:r    Rewrite received signal s to new signal r before proxying.\n"
         "                        To ignore (not proxy) a signal, rewrite it to 0.\n"
         "                        This option can be specified multiple times.\n"
         "   -v, --verbose        Print debugging information to stderr.\n"
         "   -h, --help           Print this help message and exit.\n"
         "   -V, --version        Print the current version and exit.\n"
         "\n"
         "This dumb-init is keel's dumb-init personality; see keel --help.\n";
}

CommandLine parse_dumb_init(int argc, char** argv, const EnvLookup& env) {
  CommandLine cl;
  ContainerOptions& o = cl.options;
  clear_rewrites(o);
  o.personality = Personality::DumbInit;
  o.argv0 = argv[0];
  o.whole_tree_stop = false;
  o.term_group_on_exit = true;
  o.session = Session::NewSession;
  o.session_by_terminal = false;
  o.take_terminal = true;
  o.signal_group = true;
  o.verbosity = 0;
  o.role = Role::Container;
  cl.action = CommandLine::Action::Exit;
  cl.exit_code = 1;

  auto parsed = cli::parse_argv(argc, argv, kDumbSpecs, cli::Ordering::StopAtFirstOperand);
  bool setsid = true;
  for (const auto& opt : parsed.options) {
    std::string_view arg = opt.argument != nullptr ? opt.argument : "";
    switch (opt.id) {
      case kDHelp:
        cl.exit_code = 0;
        cl.err = dumb_help(argv[0]);
        return cl;
      case kDVersion:
        cl.exit_code = 0;
        cl.err = dumb_version_line();
        return cl;
      case kDSingle: setsid = false; break;
      case kDVerbose: o.verbosity = 1; break;
      case kDRewrite: {
        int from = 0;
        int to = 0;
        if (!parse_rewrite(arg, &from, &to)) {
          cl.err =
              "Usage: -r option takes <signum>:<signum>, where <signum> is between 1 and 31.\n"
              "This option can be specified multiple times.\n"
              "Use --help for full usage.\n";
          return cl;
        }
        o.rewrite[static_cast<std::size_t>(from)] = to;
        break;
      }
      default: break;
    }
  }
  if (parsed.error) {
    cl.err = cli::getopt_message(argv[0], *parsed.error) + "\n";
    return cl;
  }
  if (parsed.operands.empty()) {
    std::string n(argv[0]);
    cl.err = "Usage: " + n + " [option] program [args]\nTry " + n + " --help for full usage.\n";
    return cl;
  }
  if (const char* d = env("DUMB_INIT_DEBUG"); d != nullptr && std::string_view(d) == "1") {
    o.verbosity = 1;
    o.debug_from_environment = true;
  }
  if (const char* s = env("DUMB_INIT_SETSID"); s != nullptr && std::string_view(s) == "0") {
    setsid = false;
    o.setsid_off_from_environment = true;
  }
  if (setsid) {
    // Job control: a terminal's stop signals stop the child's whole group
    // (SIGTSTP would be ignored by a shell in a new session) and keel too.
    for (int signo : {20 /*TSTP*/, 22 /*TTOU*/, 21 /*TTIN*/}) {
      if (o.rewrite[static_cast<std::size_t>(signo)] == -1) o.rewrite[static_cast<std::size_t>(signo)] = 19 /*STOP*/;
    }
  } else {
    o.session = Session::Inherit;
    o.take_terminal = false;
    o.signal_group = false;
  }
  // In both modes dumb-init stops itself after forwarding a terminal stop.
  o.stop_self_on_tty_signals = true;
  o.program = std::move(parsed.operands);
  o.program.push_back(nullptr);
  cl.action = CommandLine::Action::Run;
  cl.exit_code = 0;
  return cl;
}

CommandLine parse_by_name(int argc, char** argv, const EnvLookup& env, int self_pid) {
  std::string_view name = base_name(argc > 0 ? argv[0] : "keel");
  if (name == "tini" || name == "tini-static") return parse_tini(argc, argv, env, self_pid, name);
  if (name == "dumb-init") return parse_dumb_init(argc, argv, env);
  if (argv0_is_system_init(name)) {
    // Started by the kernel: every argv word is a kernel command-line
    // leftover ("single", "quiet", ...), never a program or an option.
    CommandLine cl;
    cl.action = CommandLine::Action::RunSystem;
    cl.options.role = Role::System;
    return cl;
  }
  if (argc > 1) {
    std::string_view first(argv[1]);
    if (first.substr(0, 9) == "--compat=") {
      std::string_view which = first.substr(9);
      // Re-parse the rest as if keel had been started under that name.
      static char tini_name[] = "tini";
      static char dumb_name[] = "dumb-init";
      std::vector<char*> rest(argv + 1, argv + argc);
      if (which == "tini") {
        rest[0] = tini_name;
        return parse_tini(static_cast<int>(rest.size()), rest.data(), env, self_pid, "tini");
      }
      if (which == "dumb-init") {
        rest[0] = dumb_name;
        return parse_dumb_init(static_cast<int>(rest.size()), rest.data(), env);
      }
      return usage_error("bad --compat '" + std::string(which) + "': expected tini or dumb-init");
    }
  }
  return parse_native(argc, argv, env, self_pid);
}

}  // namespace

CommandLine parse_command_line(int argc, char** argv, const EnvLookup& env, int self_pid) {
  CommandLine cl = parse_by_name(argc, argv, env, self_pid);
  cl.options.namespace_init = self_pid == 1;
  return cl;
}

}  // namespace keel
