#include "cinit/argparse.hpp"

#include <cstring>
#include <string_view>

namespace keel::cli {
namespace {

const OptionSpec* find_short(std::span<const OptionSpec> specs, char c) {
  for (const auto& s : specs) {
    if (s.short_name != '\0' && s.short_name == c) return &s;
  }
  return nullptr;
}

// Exact match first, then a unique prefix. Names that share an id are
// spellings of one option, so a prefix of both is not ambiguous (as in
// getopt_long). On ambiguity, `candidates` gets every long name matched.
const OptionSpec* find_long(std::span<const OptionSpec> specs, std::string_view name,
                            std::vector<std::string>* candidates) {
  const OptionSpec* prefix_match = nullptr;
  bool ambiguous = false;
  for (const auto& s : specs) {
    if (s.long_name != nullptr && std::string_view(s.long_name) == name) return &s;
  }
  for (const auto& s : specs) {
    if (s.long_name == nullptr || std::string_view(s.long_name).substr(0, name.size()) != name) continue;
    if (prefix_match != nullptr && prefix_match->id != s.id) ambiguous = true;
    if (prefix_match == nullptr) prefix_match = &s;
  }
  if (!ambiguous) return prefix_match;
  for (const auto& s : specs) {
    if (s.long_name != nullptr && std::string_view(s.long_name).substr(0, name.size()) == name) {
      candidates->emplace_back(s.long_name);
    }
  }
  return nullptr;
}

}  // namespace

ParsedArgv parse_argv(int argc, char* const* argv, std::span<const OptionSpec> specs, Ordering ordering) {
  ParsedArgv out;
  // Without long options (tini uses plain getopt), "--foo" is a cluster of
  // short options starting with '-', as getopt reads it.
  bool has_long = false;
  for (const auto& s : specs) has_long = has_long || s.long_name != nullptr;
  int i = 1;
  for (; i < argc; ++i) {
    char* arg = argv[i];
    if (std::strcmp(arg, "--") == 0) {
      ++i;
      break;
    }
    if (arg[0] != '-' || arg[1] == '\0') {  // operand
      if (ordering == Ordering::StopAtFirstOperand) break;
      out.operands.push_back(arg);
      continue;
    }
    if (arg[1] == '-' && has_long) {  // --name or --name=value
      std::string_view body(arg + 2);
      auto eq = body.find('=');
      std::string_view name = body.substr(0, eq);
      std::vector<std::string> candidates;
      const OptionSpec* spec = find_long(specs, name, &candidates);
      if (spec == nullptr) {
        auto kind = candidates.empty() ? ParseError::Kind::Unknown : ParseError::Kind::Ambiguous;
        out.error = ParseError{kind, std::string(name), true, std::string(body), std::move(candidates)};
        return out;
      }
      const char* value = nullptr;
      if (spec->takes_argument) {
        if (eq != std::string_view::npos) {
          value = arg + 2 + eq + 1;
        } else if (i + 1 < argc) {
          value = argv[++i];
        } else {
          out.error = ParseError{ParseError::Kind::MissingArgument, spec->long_name, true, {}, {}};
          return out;
        }
      } else if (eq != std::string_view::npos) {
        out.error = ParseError{ParseError::Kind::UnexpectedArgument, spec->long_name, true, {}, {}};
        return out;
      }
      out.options.push_back({spec->id, value});
      continue;
    }
    // A cluster of short options: -sg, -t5, -t 5.
    for (const char* p = arg + 1; *p != '\0'; ++p) {
      const OptionSpec* spec = find_short(specs, *p);
      if (spec == nullptr) {
        out.error = ParseError{ParseError::Kind::Unknown, std::string(1, *p), false, {}, {}};
        return out;
      }
      if (!spec->takes_argument) {
        out.options.push_back({spec->id, nullptr});
        continue;
      }
      if (p[1] != '\0') {
        out.options.push_back({spec->id, p + 1});
      } else if (i + 1 < argc) {
        out.options.push_back({spec->id, argv[++i]});
      } else {
        out.error = ParseError{ParseError::Kind::MissingArgument, std::string(1, *p), false, {}, {}};
        return out;
      }
      break;
    }
  }
  for (; i < argc; ++i) out.operands.push_back(argv[i]);
  return out;
}

std::string getopt_message(const char* program, const ParseError& error) {
  std::string msg(program);
  const std::string& written = error.written.empty() ? error.option : error.written;
  switch (error.kind) {
    case ParseError::Kind::Unknown:
      msg += error.is_long ? ": unrecognized option '--" + written + "'"
                           : ": invalid option -- '" + error.option + "'";
      break;
    case ParseError::Kind::MissingArgument:
      msg += error.is_long ? ": option '--" + error.option + "' requires an argument"
                           : ": option requires an argument -- '" + error.option + "'";
      break;
    case ParseError::Kind::UnexpectedArgument:
      msg += ": option '--" + error.option + "' doesn't allow an argument";
      break;
    case ParseError::Kind::Ambiguous:
      msg += ": option '--" + written + "' is ambiguous; possibilities:";
      for (const auto& c : error.candidates) msg += " '--" + c + "'";
      break;
  }
  return msg;
}

}  // namespace keel::cli
