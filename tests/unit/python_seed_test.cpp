// service/python_seed.hpp: which programs keel takes for Python (the
// interpreter's name, a #! line, `env python3`), and the seed's range.
#include "service/python_seed.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <set>
#include <string>

#include "test_util.hpp"

namespace keel::service {
namespace {

namespace fs = std::filesystem;

TEST(PythonSeed, InterpreterNames) {
  for (const char* name : {"python", "python3", "python3.11", "python3.13t", "python2.7"}) {
    EXPECT_TRUE(is_python_name(name)) << name;
  }
  for (const char* name : {"", "pythonx", "python3-config", "ipython", "python3.11-dbg", "pyt"}) {
    EXPECT_FALSE(is_python_name(name)) << name;
  }
}

TEST(PythonSeed, ProgramsByNameAndByTheirHashBangLine) {
  testutil::TempDir dir("keel-python-seed-");
  auto script = [&](const std::string& name, const std::string& text) {
    const fs::path p = dir.path() / name;
    testutil::write_file(p, text);
    ::chmod(p.c_str(), 0755);
    return p.string();
  };
  EXPECT_TRUE(is_python_program("/usr/bin/python3", ""));
  EXPECT_TRUE(is_python_program("python3.11", ""));
  EXPECT_TRUE(is_python_program(script("a", "#!/usr/bin/python3 -sP\nprint(1)\n"), ""));
  EXPECT_TRUE(is_python_program(script("b", "#! /usr/local/bin/python3.12\n"), ""));
  EXPECT_TRUE(is_python_program(script("c", "#!/usr/bin/env python3\n"), ""));
  EXPECT_TRUE(is_python_program(script("d", "#!/usr/bin/env -S python3 -I\n"), ""));
  EXPECT_FALSE(is_python_program(script("e", "#!/bin/sh\nexec python3 x.py\n"), ""));
  EXPECT_FALSE(is_python_program(script("f", "print('no #! line')\n"), ""));
  EXPECT_FALSE(is_python_program(script("g", "#!/usr/bin/env\n"), ""));
  EXPECT_FALSE(is_python_program((dir.path() / "missing").string(), ""));
  EXPECT_FALSE(is_python_program("/dev/null", ""));
  // A bare name is found in the service's PATH, then its #! line read.
  (void)script("app", "#!/usr/bin/python3\n");
  EXPECT_TRUE(is_python_program("app", "/nonexistent:" + dir.path().string()));
  EXPECT_FALSE(is_python_program("app", "/nonexistent"));
}

TEST(PythonSeed, SeedsAreNonZeroDecimalAndDiffer) {
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    const std::string s = draw_python_hash_seed();
    ASSERT_FALSE(s.empty());
    const unsigned long long v = std::stoull(s);
    EXPECT_GE(v, 1u);
    EXPECT_LE(v, 4294967295ull);
    seen.insert(s);
  }
  EXPECT_GE(seen.size(), 19u);
}

}  // namespace
}  // namespace keel::service
