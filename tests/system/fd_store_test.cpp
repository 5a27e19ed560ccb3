// sd_notify's fd store: the real keel in the system role (as PID 1 of a
// fresh PID namespace and as a subreaper) keeping the fds a service sends
// with FDSTORE=1 across its restarts, with python3-systemd's
// systemd.daemon.notify(..., fds=[...]) and listen_fds_with_names().
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "supervised.hpp"

namespace keel::systest {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPython = "/usr/bin/python3";

// A service that counts its runs in a file (one line each) and says what
// it got at 3, 4, ... (name:first line read). Run 0 stores the read end of
// a pipe holding "kept" under the name "x"; run 1 removes "x" from the
// store when `remove` is given; every run after the last one waits. Each
// store or removal is followed by a BARRIER=1 (its fd is closed by keel
// once the messages before it were handled), so the run exits only then:
// a message from a process that is gone is refused.
constexpr const char* kScript =
    "import os, select, sys, time\n"
    "import systemd.daemon as d\n"
    "out, last, remove = sys.argv[1], int(sys.argv[2]), sys.argv[3] == 'remove'\n"
    "def barrier():\n"
    "    r, w = os.pipe()\n"
    "    d.notify('BARRIER=1', fds=[w])\n"
    "    os.close(w)\n"
    "    select.select([r], [], [], 20)\n"
    "    os.close(r)\n"
    "d.notify('READY=1')\n"
    "runs = len(open(out).read().splitlines()) if os.path.exists(out) else 0\n"
    "fds = d.listen_fds_with_names(unset_environment=False)\n"
    "got = ' '.join('%d=%s:%s' % (fd, n, os.read(fd, 100).decode().strip()) for fd, n in sorted(fds.items()))\n"
    "with open(out, 'a') as f: f.write('run%d %s\\n' % (runs, got or 'none'))\n"
    "if runs == 0:\n"
    "    r, w = os.pipe()\n"
    "    os.write(w, b'kept\\n')\n"
    "    d.notify('FDSTORE=1\\nFDNAME=x', fds=[r])\n"
    "    barrier()\n"
    "    sys.exit(1)\n"
    "if runs == 1 and remove:\n"
    "    d.notify('FDSTOREREMOVE=1\\nFDNAME=x')\n"
    "    barrier()\n"
    "if runs < last:\n"
    "    sys.exit(1)\n"
    "time.sleep(600)\n";

std::vector<std::string> lines_of(const std::string& path) { return split_lines(read_file(path)); }

bool has_line(KeelRun& k, const std::string& part) {
  return seen(k, Stream::Err, [&](const std::string& l) { return l.find(part) != std::string::npos; }).has_value();
}

class FdStoreTest : public ::testing::TestWithParam<Placement> {
 protected:
  void SetUp() override {
    if (GetParam() == Placement::Namespace && !namespaces_available()) {
      GTEST_SKIP() << "unshare --pid is not available here";
    }
    ASSERT_TRUE(installed(kPython)) << "python3 is needed";
  }

  // The service's runs as it wrote them, once it wrote `runs` lines.
  std::vector<std::string> runs_of(const std::string& store_max, int last, bool remove, int runs,
                                   std::unique_ptr<KeelRun>& k, Supervised& s) {
    s.file("svc.py", kScript);
    s.service("svc", std::string("type = \"notify\"\nrestart = \"always\"\nrestart_delay = 0.05\n") + store_max +
                         "command = [\"" + kPython + "\", \"" + s.path("svc.py") + "\", \"" + s.path("out") + "\", \"" +
                         std::to_string(last) + "\", \"" + (remove ? "remove" : "keep") + "\"]\n");
    k = s.start(GetParam());
    EXPECT_TRUE(poll_until([&] { return lines_of(s.path("out")).size() >= static_cast<std::size_t>(runs); }, 30s))
        << k->text(Stream::Err);
    return lines_of(s.path("out"));
  }
};

// The read end of a pipe stored in run 0 comes back in run 1 at fd 3,
// named "x", with what was written into the pipe before the restart.
TEST_P(FdStoreTest, StoredPipeComesBackAfterRestart) {
  Supervised s;
  std::unique_ptr<KeelRun> k;
  const std::vector<std::string> runs = runs_of("fd_store_max = 4\n", 1, false, 2, k, s);
  ASSERT_EQ(runs.size(), 2U) << k->text(Stream::Err);
  EXPECT_EQ(runs[0], "run0 none");
  EXPECT_EQ(runs[1], "run1 3=x:kept");
  EXPECT_TRUE(has_line(*k, "svc: stored 1 fd(s) named \"x\"")) << k->text(Stream::Err);
  // keelctl status shows what keel keeps for it (run 1 waits, the fd still stored).
  EXPECT_EQ(detail(s, "svc", "fd store"), "1 of 4 fds (x)");
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

// FDSTOREREMOVE=1 with FDNAME=x drops it: run 2 gets nothing.
TEST_P(FdStoreTest, FdStoreRemoveDropsIt) {
  Supervised s;
  std::unique_ptr<KeelRun> k;
  const std::vector<std::string> runs = runs_of("fd_store_max = 4\n", 2, true, 3, k, s);
  ASSERT_EQ(runs.size(), 3U) << k->text(Stream::Err);
  EXPECT_EQ(runs[0], "run0 none");
  EXPECT_EQ(runs[1], "run1 3=x:kept");
  EXPECT_EQ(runs[2], "run2 none");
  EXPECT_TRUE(has_line(*k, "svc: removed 1 fd(s) named \"x\"")) << k->text(Stream::Err);
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

// Without fd_store_max (0, the default) the fd is closed, said in the
// log, and the next run gets none.
TEST_P(FdStoreTest, WithoutFdStoreMaxTheFdsAreClosed) {
  Supervised s;
  std::unique_ptr<KeelRun> k;
  const std::vector<std::string> runs = runs_of("", 1, false, 2, k, s);
  ASSERT_EQ(runs.size(), 2U) << k->text(Stream::Err);
  EXPECT_EQ(runs[0], "run0 none");
  EXPECT_EQ(runs[1], "run1 none");
  EXPECT_TRUE(has_line(*k, "svc: 1 fd(s) named \"x\" closed")) << k->text(Stream::Err);
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

INSTANTIATE_TEST_SUITE_P(Placements, FdStoreTest, ::testing::Values(Placement::Subreaper, Placement::Namespace),
                         [](const ::testing::TestParamInfo<Placement>& p) { return placement_name(p.param); });

}  // namespace
}  // namespace keel::systest
