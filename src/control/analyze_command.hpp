// analyze_command.hpp — `keelctl analyze blame | critical-chain | plot`.
//
// A client-side command: keelctl asks keel for the events it kept since
// boot (Verb::Events with kFlagSinceBoot and without kFlagFollow: keel
// sends them as Data frames, then a Final frame; interface I2), or reads
// I2 lines from a file (--input FILE, "-" for stdin: a saved record, the
// `keel-event:` lines of a console), and runs the analysis
// (analyze/boot_analysis.hpp, analyze/boot_chart.hpp) on them here, so
// nothing of it runs in PID 1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "analyze/event_record.hpp"
#include "control/handler.hpp"

namespace keel::control {

struct AnalyzeCommand {
  int exit_code = -1;   // >= 0: print `message` and exit (help, usage error)
  std::string message;
  std::string action;   // "blame", "critical-chain", "plot"
  std::string service;  // critical-chain's SERVICE ("" = the default)
  std::string input;    // --input FILE ("" = ask keel; "-" = stdin)
  std::string socket_path;
};

// Whether keelctl's arguments (after the program name) are an analyze
// command: the first word that is neither an option nor --socket's value.
[[nodiscard]] bool is_analyze_command(const std::vector<std::string>& args);

[[nodiscard]] AnalyzeCommand parse_analyze(const std::string& prog, const std::vector<std::string>& args,
                                           const char* env_socket);

// The report for `command` on `record`: its text into `out`, messages into
// `err`; the exit status (0, or 3 when critical-chain's service is not in
// the record, 1 when the record has no service at all).
int analyze_report(const AnalyzeCommand& command, const analyze::EventRecord& record, std::string& out,
                   std::string& err);

// The whole command: parse, get the events, print. Never throws.
int run_analyze(const std::string& prog, const std::vector<std::string>& args, const char* env_socket) noexcept;

// The line for keelctl's overview of commands.
[[nodiscard]] std::string analyze_overview_line();

}  // namespace keel::control
