// cinit_fuzz.cpp — libFuzzer target: the container init's command line
// (cinit/options: parse_command_line) for keel, tini and dumb-init.
//
// Input: byte 0 picks argv[0] (keel, tini, dumb-init; value % 3) and, by
// bit 2, the pid parse_command_line is told it has (1 or not). The rest
// split on NUL: the first word is the fake environment, NAME=VALUE entries
// separated by '\x01' (TINI_SUBREAPER, DUMB_INIT_SETSID, ...); the other
// words are argv[1..]. Properties: the program to run is a non-empty,
// nullptr-terminated list of argv's own strings; exit codes are 0..255.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cinit/options.hpp"
#include "fuzz_util.hpp"

namespace {
using keel::fuzz::property_failed;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static const char* const kNames[] = {"keel", "tini", "dumb-init"};
  const char* name = kNames[data[0] % 3];
  int self_pid = (data[0] & 4) != 0 ? 1 : 4242;
  try {
    std::vector<std::string> words =
        keel::fuzz::split_nul(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
    std::vector<std::pair<std::string, std::string>> environment;
    if (!words.empty()) {
      std::string_view spec = words.front();
      while (!spec.empty()) {
        std::size_t sep = spec.find('\x01');
        std::string_view entry = spec.substr(0, sep);
        if (std::size_t eq = entry.find('='); eq != std::string_view::npos) {
          environment.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
        }
        if (sep == std::string_view::npos) break;
        spec.remove_prefix(sep + 1);
      }
      words.erase(words.begin());
    }
    auto getenv = [&environment](const char* var) -> const char* {
      for (const auto& [k, v] : environment) {
        if (k == var) return v.c_str();
      }
      return nullptr;
    };

    // argv as a program gets it: writable strings, nullptr at argv[argc].
    std::vector<std::vector<char>> storage;
    storage.emplace_back(name, name + std::strlen(name) + 1);
    for (const std::string& w : words) storage.emplace_back(w.c_str(), w.c_str() + w.size() + 1);
    std::vector<char*> argv;
    for (auto& s : storage) argv.push_back(s.data());
    argv.push_back(nullptr);
    const std::vector<char*> original(argv.begin(), argv.end() - 1);

    keel::CommandLine cl = keel::parse_command_line(static_cast<int>(original.size()), argv.data(), getenv, self_pid);
    if (cl.exit_code < 0 || cl.exit_code > 255) property_failed("parse_command_line: exit code outside 0..255");
    if (cl.action == keel::CommandLine::Action::Run) {
      const std::vector<char*>& p = cl.options.program;
      if (p.size() < 2 || p.back() != nullptr) property_failed("parse_command_line: program not PROGRAM... nullptr");
      for (std::size_t i = 0; i + 1 < p.size(); ++i) {
        if (p[i] == nullptr) property_failed("parse_command_line: nullptr inside the program's argv");
        if (std::find(original.begin(), original.end(), p[i]) == original.end()) {
          property_failed("parse_command_line: a program word that is not one of argv's strings");
        }
        (void)std::strlen(p[i]);
      }
    }
  } catch (const std::bad_alloc&) {
  }
  return 0;
}
