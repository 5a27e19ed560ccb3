// argparse.hpp — a getopt_long-compatible command-line scanner.
//
// Written here rather than calling getopt_long(3) because the three
// personalities need its exact semantics side by side in one process (tini
// permutes like GNU getopt, dumb-init and keel stop at the first operand),
// getopt's global state makes that untestable, and its messages are
// reproduced here word for word so scripts that grep them keep working.
// Runs once at start-up; allocation is fine here.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

namespace keel::cli {

struct OptionSpec {
  char short_name;        // '\0': long form only
  const char* long_name;  // nullptr: short form only
  bool takes_argument;
  int id;
};

enum class Ordering {
  StopAtFirstOperand,  // "+" in getopt: `keel ls -l` gives -l to ls
  Permute,             // GNU default (tini): options anywhere before "--"
};

struct ParsedOption {
  int id;
  const char* argument;  // nullptr when the option takes none
};

struct ParseError {
  enum class Kind { Unknown, MissingArgument, UnexpectedArgument, Ambiguous } kind;
  std::string option;  // as written: "x" for a short option, "foo" for --foo
  bool is_long;
  std::string written;                  // long options: all after "--", value included ("foo=bar")
  std::vector<std::string> candidates;  // Ambiguous: the long names it could mean, in table order
};

// On an error, `options` still holds the options before it: an option that
// exits at once (--help, --version) and comes first must win, as with getopt.
struct ParsedArgv {
  std::vector<ParsedOption> options;  // in command-line order
  std::vector<char*> operands;        // program and its arguments, in order
  std::optional<ParseError> error;
};

// Scan argv[1..argc). "--" ends the options and is dropped. A lone "-" is an
// operand. Long options may be abbreviated to a unique prefix, as
// getopt_long allows.
[[nodiscard]] ParsedArgv parse_argv(int argc, char* const* argv, std::span<const OptionSpec> specs,
                                    Ordering ordering);

// The message GNU getopt prints for `error`, e.g.
// "tini: invalid option -- 'x'" (without the trailing newline).
[[nodiscard]] std::string getopt_message(const char* program, const ParseError& error);

}  // namespace keel::cli
