// gtest_main.cpp — main() of every test binary: gtest's, plus the skip policy.
//
// gtest counts a skipped test as passed, so a CI machine missing a package
// would stay green while testing nothing. With KEEL_FAIL_ON_SKIP=1 (set by
// ./dev.sh check, hence in CI) a test that skips fails its process (exit 1)
// unless tests/skip-allowlist.txt names it, with the reason it may skip.
// Without the variable (a developer's ctest run) a skip stays a skip.
//
// ctest runs each test as its own process (gtest_discover_tests) and takes a
// test whose output says "[  SKIPPED ]" for skipped, whatever its exit code.
// So gtest's printer is wrapped: for a forbidden skip it prints a failure
// instead of those words.
#include <fnmatch.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#ifndef KEEL_SKIP_ALLOWLIST
#error "KEEL_SKIP_ALLOWLIST (the allow-list's path) must be defined by the build"
#endif

namespace {

struct Skipped {
  std::string name;     // Suite.Test, as --gtest_filter spells it
  std::string message;  // what GTEST_SKIP() said
};

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitizerBuild = true;
#else
constexpr bool kSanitizerBuild = false;
#endif

struct AllowEntry {
  std::string pattern;  // a test name; '*' and '?' as in --gtest_filter
  std::string reason;
};

// "NAME  reason" per line; '#' starts a comment line. A name without a
// reason is an error: every allowed skip must say why. "sanitize:NAME"
// allows the skip only in the ASan/UBSan build (KEEL_SANITIZE), so the
// normal build still fails if that test skips.
bool load_allowlist(const char* path, std::vector<AllowEntry>* out) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << "keel-tests: cannot read the skip allow-list " << path << "\n";
    return false;
  }
  std::string line;
  int number = 0;
  bool ok = true;
  while (std::getline(in, line)) {
    ++number;
    auto start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    auto name_end = line.find_first_of(" \t", start);
    auto reason_start = name_end == std::string::npos ? std::string::npos : line.find_first_not_of(" \t", name_end);
    if (reason_start == std::string::npos) {
      std::cerr << path << ":" << number << ": allow-list entry without a reason\n";
      ok = false;
      continue;
    }
    std::string name = line.substr(start, name_end - start);
    constexpr std::string_view kSanitizeOnly = "sanitize:";
    if (name.rfind(kSanitizeOnly, 0) == 0) {
      if (!kSanitizerBuild) continue;
      name.erase(0, kSanitizeOnly.size());
    }
    out->push_back({name, line.substr(reason_start)});
  }
  return ok;
}

const AllowEntry* allowed(const std::vector<AllowEntry>& list, const std::string& name) {
  for (const auto& e : list) {
    if (::fnmatch(e.pattern.c_str(), name.c_str(), 0) == 0) return &e;
  }
  return nullptr;
}

std::string skip_message(const ::testing::TestResult& result) {
  std::string message;
  for (int i = 0; i < result.total_part_count(); ++i) {
    const auto& part = result.GetTestPartResult(i);
    if (part.skipped() && part.message() != nullptr) message += part.message();
  }
  return message;
}

// gtest's own printer, except for a skip the policy forbids: that is shown
// as a failure, with what the test said and what to do about it.
class SkipPolicyPrinter final : public ::testing::TestEventListener {
 public:
  SkipPolicyPrinter(::testing::TestEventListener* inner, bool enforce, std::vector<AllowEntry> list)
      : inner_(inner), enforce_(enforce), list_(std::move(list)) {}

  [[nodiscard]] const std::vector<Skipped>& forbidden() const { return forbidden_; }

  void OnTestProgramStart(const ::testing::UnitTest& u) override { inner_->OnTestProgramStart(u); }
  void OnTestIterationStart(const ::testing::UnitTest& u, int i) override { inner_->OnTestIterationStart(u, i); }
  void OnEnvironmentsSetUpStart(const ::testing::UnitTest& u) override { inner_->OnEnvironmentsSetUpStart(u); }
  void OnEnvironmentsSetUpEnd(const ::testing::UnitTest& u) override { inner_->OnEnvironmentsSetUpEnd(u); }
  void OnTestSuiteStart(const ::testing::TestSuite& s) override { inner_->OnTestSuiteStart(s); }
  void OnTestStart(const ::testing::TestInfo& t) override { inner_->OnTestStart(t); }
  void OnTestPartResult(const ::testing::TestPartResult& r) override { inner_->OnTestPartResult(r); }
  void OnTestSuiteEnd(const ::testing::TestSuite& s) override { inner_->OnTestSuiteEnd(s); }
  void OnEnvironmentsTearDownStart(const ::testing::UnitTest& u) override { inner_->OnEnvironmentsTearDownStart(u); }
  void OnEnvironmentsTearDownEnd(const ::testing::UnitTest& u) override { inner_->OnEnvironmentsTearDownEnd(u); }
  void OnTestProgramEnd(const ::testing::UnitTest& u) override { inner_->OnTestProgramEnd(u); }

  void OnTestEnd(const ::testing::TestInfo& info) override {
    const ::testing::TestResult* result = info.result();
    if (result == nullptr || !result->Skipped()) {
      inner_->OnTestEnd(info);
      return;
    }
    std::string name = std::string(info.test_suite_name()) + "." + info.name();
    if (!enforce_) {
      inner_->OnTestEnd(info);
      return;
    }
    if (const AllowEntry* e = allowed(list_, name)) {
      std::cout << "keel-tests: skip allowed by " << KEEL_SKIP_ALLOWLIST << ": " << e->reason << "\n";
      inner_->OnTestEnd(info);
      return;
    }
    forbidden_.push_back({name, skip_message(*result)});
    std::cout << "[  FAILED  ] " << name << ": skipped (" << forbidden_.back().message << ")\n"
              << "keel-tests: a skip fails under KEEL_FAIL_ON_SKIP=1 (./dev.sh check, CI): install what the "
                 "test needs (dev.sh's package lists), make it work, or add it with its reason to "
              << KEEL_SKIP_ALLOWLIST << "\n"
              << std::flush;
  }

  void OnTestIterationEnd(const ::testing::UnitTest& u, int i) override {
    if (forbidden_.empty()) {
      inner_->OnTestIterationEnd(u, i);
      return;
    }
    // gtest's summary would list the forbidden skips as skipped.
    std::cout << "[==========] " << u.test_to_run_count() << " tests ran; " << u.failed_test_count()
              << " failed and " << forbidden_.size() << " skipped where skips are forbidden:\n";
    for (const auto& f : forbidden_) std::cout << "[  FAILED  ] " << f.name << " (skipped)\n";
    std::cout << std::flush;
  }

 private:
  std::unique_ptr<::testing::TestEventListener> inner_;
  bool enforce_;
  std::vector<AllowEntry> list_;
  std::vector<Skipped> forbidden_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const char* enforce_env = std::getenv("KEEL_FAIL_ON_SKIP");
  bool enforce = enforce_env != nullptr && std::strcmp(enforce_env, "1") == 0;
  std::vector<AllowEntry> list;
  if (enforce && !load_allowlist(KEEL_SKIP_ALLOWLIST, &list)) return 1;
  auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
  ::testing::TestEventListener* gtest_printer = listeners.Release(listeners.default_result_printer());
  if (gtest_printer == nullptr) gtest_printer = new ::testing::EmptyTestEventListener;
  auto* printer = new SkipPolicyPrinter(gtest_printer, enforce, std::move(list));
  listeners.Append(printer);  // the listener list owns it
  int code = RUN_ALL_TESTS();
  return printer->forbidden().empty() ? code : 1;
}
