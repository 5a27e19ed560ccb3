// cinit_python_seed_test.cpp — PYTHONHASHSEED from the container init
// (issue 14b): `keel -- PROGRAM` gives a Python PROGRAM (an interpreter by
// name, or a #! script run by one) a fresh PYTHONHASHSEED at every start;
// one already set is kept; KEEL_PYTHON_HASH_SEED=0 and
// --no-python-hash-seed turn it off; tini and dumb-init pass the
// environment on unchanged; and a FIFO at the program's path (which keel
// looks at before the spawn) does not hang keel. The Python program prints
// what it got; every run is bounded by the harness's exit timeout.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include "harness.hpp"

namespace keel::systest {
namespace {

constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kPrintSeed = "import os; print('SEED', os.environ.get('PYTHONHASHSEED'))";

class CinitPythonSeed : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!installed(kPython)) GTEST_SKIP() << kPython << " is not installed";
  }
  void TearDown() override { reap_leftovers(); }

  // The SEED line of one run of keel with `args`; "" when there was none.
  static std::string seed_of(Launch launch) {
    launch.unset_env.push_back("PYTHONHASHSEED");
    launch.unset_env.push_back("KEEL_PYTHON_HASH_SEED");
    for (const auto& [k, v] : launch.set_env) {
      if (k == "PYTHONHASHSEED" || k == "KEEL_PYTHON_HASH_SEED") std::erase(launch.unset_env, k);
    }
    const Outcome o = run_through(launch);
    EXPECT_EQ(o.code, 0) << o.err;
    for (const std::string& line : split_lines(o.out)) {
      if (starts_with(line, "SEED ")) return line.substr(5);
    }
    ADD_FAILURE() << "no SEED line: " << o.out << o.err;
    return "";
  }

  static bool is_seed(const std::string& v) {
    return !v.empty() && v != "None" && v.find_first_not_of("0123456789") == std::string::npos && v != "0";
  }

  TempDir dir_;
};

TEST_F(CinitPythonSeed, APythonProgramGetsAFreshSeedAtEveryStart) {
  const std::string a = seed_of(keel_launch(Placement::Subreaper, {"--", kPython, "-c", kPrintSeed}));
  const std::string b = seed_of(keel_launch(Placement::Subreaper, {"--", kPython, "-c", kPrintSeed}));
  EXPECT_TRUE(is_seed(a)) << a;
  EXPECT_TRUE(is_seed(b)) << b;
  EXPECT_NE(a, b);
  // By name in PATH, and as PID 1 of a namespace (the container case).
  Launch by_name = keel_launch(Placement::Subreaper, {"python3", "-c", kPrintSeed});
  by_name.set_env = {{"PATH", "/usr/bin:/bin"}};
  EXPECT_TRUE(is_seed(seed_of(by_name)));
  if (namespaces_available()) {
    EXPECT_TRUE(is_seed(seed_of(keel_launch(Placement::Namespace, {kPython, "-c", kPrintSeed}))));
  }
  // keel-cinit, the container init alone, does the same.
  Launch cinit = keel_launch(Placement::Subreaper, {kPython, "-c", kPrintSeed});
  cinit.program = KEEL_CINIT_BINARY;
  EXPECT_TRUE(is_seed(seed_of(cinit)));
}

TEST_F(CinitPythonSeed, AHashBangScriptRunByPythonGetsOneAndOtherProgramsDoNot) {
  const std::string script = dir_.path() + "/app";
  {
    std::ofstream f(script);
    f << "#!/usr/bin/env python3\n" << kPrintSeed << "\n";
  }
  ASSERT_EQ(::chmod(script.c_str(), 0755), 0);
  Launch run_script = keel_launch(Placement::Subreaper, {script});
  run_script.set_env = {{"PATH", "/usr/bin:/bin"}};
  EXPECT_TRUE(is_seed(seed_of(run_script)));
  // A shell is not Python: its environment is the caller's.
  EXPECT_EQ(seed_of(keel_launch(Placement::Subreaper,
                                {"/bin/sh", "-c", "echo SEED ${PYTHONHASHSEED-None}"})),
            "None");
}

TEST_F(CinitPythonSeed, ASeedAlreadySetIsKept) {
  Launch l = keel_launch(Placement::Subreaper, {kPython, "-c", kPrintSeed});
  l.set_env = {{"PYTHONHASHSEED", "4242"}};
  EXPECT_EQ(seed_of(l), "4242");
  l.set_env = {{"PYTHONHASHSEED", "0"}};  // 0: the user turned hash randomisation off
  EXPECT_EQ(seed_of(l), "0");
}

TEST_F(CinitPythonSeed, TheOptOutsAndTheOtherPersonalitiesSetNone) {
  Launch env_off = keel_launch(Placement::Subreaper, {kPython, "-c", kPrintSeed});
  env_off.set_env = {{"KEEL_PYTHON_HASH_SEED", "0"}};
  EXPECT_EQ(seed_of(env_off), "None");
  EXPECT_EQ(seed_of(keel_launch(Placement::Subreaper, {"--no-python-hash-seed", kPython, "-c", kPrintSeed})), "None");
  // KEEL_PYTHON_HASH_SEED=1 (or anything but 0) changes nothing.
  Launch env_on = keel_launch(Placement::Subreaper, {kPython, "-c", kPrintSeed});
  env_on.set_env = {{"KEEL_PYTHON_HASH_SEED", "1"}};
  EXPECT_TRUE(is_seed(seed_of(env_on)));
  // tini and dumb-init are drop-ins: the environment as the originals pass it.
  EXPECT_EQ(seed_of(keel_launch(Placement::Subreaper, {"--compat=tini", "--", kPython, "-c", kPrintSeed})), "None");
  EXPECT_EQ(seed_of(keel_launch(Placement::Subreaper, {"--compat=dumb-init", "--", kPython, "-c", kPrintSeed})), "None");
}

// keel reads the program's first bytes before the spawn: a FIFO there
// (nothing ever writes to it) must not block it. keel goes on to the exec,
// which fails (a FIFO is not executable): 126, within the run's bound.
TEST_F(CinitPythonSeed, AFifoAtTheProgramPathDoesNotHangKeel) {
  const std::string fifo = dir_.path() + "/python3";  // a Python name: detection by name, then the exec
  const std::string other = dir_.path() + "/prog";    // not a Python name: keel opens it to read the #! line
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0755), 0);
  ASSERT_EQ(::mkfifo(other.c_str(), 0755), 0);
  for (const std::string& path : {fifo, other}) {
    const Outcome o = run_through(keel_launch(Placement::Subreaper, {path}));
    EXPECT_EQ(o.code, 126) << path << ": " << o.err;
  }
}

}  // namespace
}  // namespace keel::systest
