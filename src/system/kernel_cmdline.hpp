// kernel_cmdline.hpp — the words on the kernel command line that keel acts on.
//
// Read from /proc/cmdline rather than from init's argv: the kernel passes
// init only the words it did not recognise and turns NAME=value words into
// environment, so argv alone would miss "keel.target=rescue". Words keel
// does not know are ignored (and never run).
//
//   keel.target=NAME   start NAME instead of the configured target
//   single, rescue,    start the rescue target: a shell on the console
//   keel.rescue
//   keel.debug         keel's own messages at debug verbosity
//   keel.exec=PROGRAM  early boot, then hand PID 1 to PROGRAM (no arguments)
//   quiet              keel's messages: warnings and errors only
//   keel.events=console  every event also on the console, "keel-event: {json}"
//                      (docs/events.md)
#pragma once

#include <string>
#include <string_view>

namespace keel {

struct KernelCmdline {
  std::string target;  // keel.target=, or "rescue"
  std::string exec;    // keel.exec=
  bool debug = false;
  bool quiet = false;
  bool rescue = false;
  bool events_console = false;  // keel.events=console
};

// Parse a command line (space-separated words; double quotes group a value
// with spaces, as the kernel does).
[[nodiscard]] KernelCmdline parse_kernel_cmdline(std::string_view text);
// /proc/cmdline, or an empty command line when it cannot be read.
[[nodiscard]] KernelCmdline read_kernel_cmdline();

}  // namespace keel
