// toml_guard_test.cpp — what keel refuses in TOML text before toml++ sees it
// (service/toml_guard): nesting beyond limits::kTomlMaxDepth, text beyond
// limits::kTomlMaxBytes, and the depth count itself (what is a level, what
// is not). Each of the three readers (service files, keel.toml, keel-image's
// spec) is fed 100,000 levels of every kind of nesting in a child process:
// toml++ alone overflows the stack on them (the child dies of SIGSEGV), so a
// parser that lost its guard fails here without taking the runner down.
#include "service/toml_guard.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/limits.hpp"
#include "image/diagnostic.hpp"
#include "image/spec.hpp"
#include "service/config.hpp"
#include "system/keel_config.hpp"
#include "test_util.hpp"

namespace keel {
namespace {

using service::check_toml_text;
using service::TextProblem;
using testutil::in_child;

std::string repeat(const std::string& s, int n) {
  std::string out;
  out.reserve(s.size() * static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

constexpr int kDeep = 100'000;

struct DeepCase {
  const char* what;
  std::string text;
  int line;
};

// Every way to nest, 100,000 deep, on line 2 after a valid first line.
std::vector<DeepCase> deep_cases() {
  const std::string first = "description = \"x\"\n";
  return {
      {"dotted key", first + "a" + repeat(".a", kDeep) + " = 1\n", 2},
      {"table header", first + "[a" + repeat(".a", kDeep) + "]\n", 2},
      {"array-of-tables header", first + "[[a" + repeat(".a", kDeep) + "]]\n", 2},
      {"'[' in a row", first + repeat("[", kDeep) + "\n", 2},
      {"nested arrays", first + "x = " + repeat("[", kDeep) + repeat("]", kDeep) + "\n", 2},
      {"nested inline tables", first + "x = " + repeat("{a = ", kDeep) + "1" + repeat("}", kDeep) + "\n", 2},
      {"'{' in a row", first + "x = " + repeat("{", kDeep) + "\n", 2},
      {"dotted keys in inline tables", first + "x = {" + repeat("a.", kDeep) + "a = 1}\n", 2},
  };
}

bool too_deep_message(const std::string& m) {
  return m.find("nested deeper than " + std::to_string(limits::kTomlMaxDepth) + " levels") != std::string::npos;
}

TEST(TomlGuard, CountsEveryKindOfNesting) {
  const int max = limits::kTomlMaxDepth;
  auto deep = [](const std::string& text) { return check_toml_text(text).kind == TextProblem::Kind::TooDeep; };
  // Exactly at the limit is fine; one more is not.
  EXPECT_FALSE(deep("a" + repeat(".a", max) + " = 1\n"));  // max tables + the key
  EXPECT_TRUE(deep("a" + repeat(".a", max + 1) + " = 1\n"));
  EXPECT_FALSE(deep("[a" + repeat(".a", max - 1) + "]\n"));
  EXPECT_TRUE(deep("[a" + repeat(".a", max) + "]\n"));
  EXPECT_FALSE(deep("x = " + repeat("[", max) + repeat("]", max) + "\n"));
  EXPECT_TRUE(deep("x = " + repeat("[", max + 1) + repeat("]", max + 1) + "\n"));
  // Levels add up: a header's tables, a dotted key's, then the value's.
  EXPECT_FALSE(deep("[a" + repeat(".a", 9) + "]\nb" + repeat(".b", 10) + " = " + repeat("[", 12) + "\n"));
  EXPECT_TRUE(deep("[a" + repeat(".a", 9) + "]\nb" + repeat(".b", 10) + " = " + repeat("[", 13) + "\n"));
  // ... and a new header starts again from its own.
  EXPECT_FALSE(deep("[a" + repeat(".a", 30) + "]\n[b]\nx = " + repeat("[", 30) + "\n"));
  // Array elements are siblings, not deeper: 1,000 small arrays in one.
  EXPECT_FALSE(deep("x = [" + repeat("[1, 2], ", 1000) + "]\n"));
  EXPECT_FALSE(deep("x = [" + repeat("{a.b = 1}, ", 1000) + "]\n"));
  // Dots in values (floats, date-times), strings and comments are no levels.
  EXPECT_FALSE(deep("x = 1.5\ny = 1979-05-27T07:32:00.999Z\nv = \"" + repeat("a.", 1000) + "\"\n# " +
                    repeat("[.{", 1000) + "\nw = '''" + repeat("[", 1000) + "'''\n"));
  EXPECT_FALSE(deep("\"a.b.c." + repeat("d.", 100) + "\" = 1\n"));  // one quoted key
  // Multi-line arrays: a '[' at a line's start inside one is an element.
  EXPECT_FALSE(deep("x = [\n" + repeat("[1],\n", 100) + "]\n[t]\ny = 1\n"));
  // Where: line and column of the level that passes the limit.
  TextProblem p = check_toml_text("a = 1\nx = " + repeat("[", max + 5) + "\n");
  EXPECT_EQ(p.kind, TextProblem::Kind::TooDeep);
  EXPECT_EQ(p.line, 2);
  EXPECT_EQ(p.column, 5 + max);
}

TEST(TomlGuard, RefusesTextLargerThanTheLimit) {
  std::string big(limits::kTomlMaxBytes, '#');
  EXPECT_FALSE(check_toml_text(big));
  big += '\n';
  TextProblem p = check_toml_text(big);
  EXPECT_EQ(p.kind, TextProblem::Kind::TooLarge);
  EXPECT_EQ(service::describe(p), "larger than " + std::to_string(limits::kTomlMaxBytes) + " bytes");
}

TEST(TomlGuard, ServiceFilesRefuseDeepNestingWithFileAndLine) {
  for (const DeepCase& c : deep_cases()) {
    // In a child: without the guard toml++ overflows the stack.
    int code = in_child(
        [&] {
          service::ParseResult r = service::parse_service(c.text, "deep", "deep.toml");
          if (r.config || r.errors.size() != 1) return 1;
          if (r.errors[0].line != c.line || r.errors[0].file != "deep.toml") return 2;
          return too_deep_message(r.errors[0].message) ? 0 : 3;
        },
        20000);
    EXPECT_EQ(code, 0) << c.what << " (128+N: killed by signal N)";
  }
  // And the message in full, once.
  service::ParseResult r = service::parse_service("x = " + repeat("[", 40) + "\n", "deep", "deep.toml");
  ASSERT_EQ(r.errors.size(), 1U);
  EXPECT_EQ(r.errors[0].text(), "deep.toml:1: nested deeper than 32 levels at column 37 (each table of a [header] "
                                "or dotted key, array and inline table is a level)");
}

TEST(TomlGuard, KeelTomlRefusesDeepNestingWithFileAndLine) {
  for (const DeepCase& c : deep_cases()) {
    int code = in_child(
        [&] {
          KeelConfigResult r = parse_keel_config(c.text, "/etc/keel/keel.toml");
          if (r.errors.size() != 1) return 1;
          if (r.errors[0].line != c.line) return 2;
          return too_deep_message(r.errors[0].message) ? 0 : 3;
        },
        20000);
    EXPECT_EQ(code, 0) << c.what << " (128+N: killed by signal N)";
  }
}

TEST(TomlGuard, ImageSpecRefusesDeepNestingWithFileAndLine) {
  testutil::TempDir dir;
  for (const DeepCase& c : deep_cases()) {
    const std::filesystem::path spec = dir.path() / "spec.toml";
    std::ofstream(spec) << "[output]\nformat = \"cpio\"\n" << c.text;
    int code = in_child(
        [&] {
          try {
            (void)image::parse_spec_file(spec);
            return 1;
          } catch (const image::ImageError& e) {
            if (e.line() != c.line + 2) return 2;
            return too_deep_message(e.what()) ? 0 : 3;
          }
        },
        20000);
    EXPECT_EQ(code, 0) << c.what << " (128+N: killed by signal N)";
  }
  const std::filesystem::path spec = dir.path() / "big.toml";
  std::ofstream(spec) << std::string(limits::kTomlMaxBytes + 1, '#');
  try {
    (void)image::parse_spec_file(spec);
    ADD_FAILURE() << "a spec larger than the limit was read";
  } catch (const image::ImageError& e) {
    EXPECT_NE(std::string(e.what()).find("larger than"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace keel
