// Unit tests for how keel opens files that someone else may control
// (docs/security.md, "Files keel opens"): core/read_file (config files),
// service/log_file (the size-rotated log) and service/run_dir. Each attack
// is a FIFO, a device, a link or a directory swapped in at the path; a read
// that could block runs in a forked child under a deadline, so a regression
// fails the test instead of hanging it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "core/limits.hpp"
#include "core/read_file.hpp"
#include "service/config.hpp"
#include "service/log_file.hpp"
#include "service/run_dir.hpp"
#include "system/keel_config.hpp"
#include "test_util.hpp"
#include "throwaway_uid.hpp"

namespace keel {
namespace {

using testutil::in_child;
using testutil::slurp;
using testutil::TempDir;
using testutil::write_file;

constexpr int kDeadlineMs = 3000;  // none of these reads waits for anything

// ------------------------------------------------------------- read_file

TEST(ReadFile, AFifoIsRefusedWithoutWaitingForAWriter) {
  TempDir dir;
  const std::string fifo = dir.str() + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // In a child: the old blocking open would wait for a writer forever.
  int rc = in_child(
      [&] {
        std::string out;
        Status s = read_file(fifo.c_str(), out, 1024);
        if (s) return 1;
        return read_file_error_text(s.error(), 1024) == "not a regular file (a FIFO)" ? 0 : 2;
      },
      kDeadlineMs);
  EXPECT_EQ(rc, 0) << "-1: read_file blocked on a FIFO";
}

TEST(ReadFile, ADeviceIsRefusedBeforeAnyRead) {
  int rc = in_child(
      [] {
        std::string out;
        Status s = read_file("/dev/zero", out, std::size_t{1} << 30);
        if (s) return 1;
        return read_file_error_text(s.error(), 0) == "not a regular file (a character device)" && out.empty() ? 0 : 2;
      },
      kDeadlineMs);
  EXPECT_EQ(rc, 0);
}

TEST(ReadFile, AFileOverTheBoundIsRefusedBySize) {
  TempDir dir;
  const std::string big = dir.str() + "/big";
  write_file(big, std::string(4097, 'x'));
  std::string out;
  Status s = read_file(big.c_str(), out, 4096);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, EFBIG);
  EXPECT_EQ(read_file_error_text(s.error(), 4096), "larger than 4096 bytes");
  write_file(big, std::string(4096, 'x'));
  EXPECT_TRUE(read_file(big.c_str(), out, 4096));
  EXPECT_EQ(out.size(), 4096U);
}

TEST(ReadFile, AMissingFileSaysSo) {
  std::string out;
  Status s = read_file("/nonexistent/keel-test", out, 16);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ENOENT);
  EXPECT_EQ(read_file_error_text(s.error(), 16), std::strerror(ENOENT));
}

// The config readers built on it: each names the path and the problem.
TEST(ReadFile, KeelTomlAsAFifoIsAnErrorNamingIt) {
  TempDir dir;
  const std::string path = dir.str() + "/keel.toml";
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  int rc = in_child(
      [&] {
        KeelConfigResult r = load_keel_config(path);
        return r.errors.size() == 1 && r.errors[0].text().find(path) != std::string::npos &&
                       r.errors[0].text().find("not a regular file (a FIFO)") != std::string::npos
                   ? 0
                   : 2;
      },
      kDeadlineMs);
  EXPECT_EQ(rc, 0);
}

TEST(ReadFile, AServiceFileAsAFifoIsAnErrorNamingIt) {
  TempDir dir;
  const std::string path = dir.str() + "/web.toml";
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  write_file(dir.path() / "ok.toml", "command = [\"/bin/true\"]\n");
  int rc = in_child(
      [&] {
        service::LoadResult r = service::load_service_dir(dir.str(), {});
        return r.services.size() == 1 && r.errors.size() == 1 && r.errors[0].file == path &&
                       r.errors[0].text().find("not a regular file (a FIFO)") != std::string::npos
                   ? 0
                   : 2;
      },
      kDeadlineMs);
  EXPECT_EQ(rc, 0);
}

TEST(ReadFile, AServiceFileOverOneMebibyteIsRefused) {
  TempDir dir;
  write_file(dir.path() / "big.toml", "# " + std::string(limits::kMaxConfigFileBytes, 'x') + "\n");
  service::LoadResult r = service::load_service_dir(dir.str(), {});
  ASSERT_EQ(r.errors.size(), 1U);
  EXPECT_NE(r.errors[0].text().find("larger than 1048576 bytes"), std::string::npos) << r.errors[0].text();
}

// --------------------------------------------------------------- log file

class LogFileTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string logs_ = dir_.str() + "/logs";
  void SetUp() override { std::filesystem::create_directory(logs_); }
};

TEST_F(LogFileTest, NewFilesAre0640) {
  const mode_t old = ::umask(022);
  service::LogFile f;
  f.configure(logs_ + "/app.log", 1 << 20, 2);
  ASSERT_TRUE(f.write_line("one\n"));
  ::umask(old);
  struct stat st{};
  ASSERT_EQ(::stat((logs_ + "/app.log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640U);
}

TEST_F(LogFileTest, ALinkAtTheFileIsRefusedAndItsTargetUntouched) {
  const std::string secret = dir_.str() + "/secret";
  write_file(secret, "root only\n");
  ASSERT_EQ(::symlink(secret.c_str(), (logs_ + "/app.log").c_str()), 0);
  service::LogFile f;
  f.configure(logs_ + "/app.log", 1 << 20, 2);
  Status s = f.write_line("planted\n");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ELOOP);
  EXPECT_STREQ(s.error().context, "log file is a symbolic link (not followed)");
  EXPECT_EQ(slurp(secret), "root only\n");
}

TEST_F(LogFileTest, ALinkAsTheDirectoryIsRefused) {
  const std::string elsewhere = dir_.str() + "/elsewhere";
  std::filesystem::create_directory(elsewhere);
  ASSERT_EQ(::symlink(elsewhere.c_str(), (dir_.str() + "/linked").c_str()), 0);
  service::LogFile f;
  f.configure(dir_.str() + "/linked/app.log", 1 << 20, 2);
  Status s = f.write_line("planted\n");
  ASSERT_FALSE(s);
  EXPECT_STREQ(s.error().context, "log directory is a symbolic link (not followed)");
  EXPECT_FALSE(std::filesystem::exists(elsewhere + "/app.log"));
}

TEST_F(LogFileTest, AFifoWithoutAReaderFailsWithoutBlocking) {
  ASSERT_EQ(::mkfifo((logs_ + "/app.log").c_str(), 0600), 0);
  int rc = in_child(
      [&] {
        service::LogFile f;
        f.configure(logs_ + "/app.log", 1 << 20, 2);
        Status s = f.write_line("x\n");
        return !s && s.error().code == ENXIO ? 0 : 2;
      },
      kDeadlineMs);
  EXPECT_EQ(rc, 0);
}

// A hard link planted in the folder (possible for anyone who can write it
// while fs.protected_hardlinks is 0) is not appended to.
TEST_F(LogFileTest, AHardLinkAtTheFileIsRefused) {
  const std::string secret = dir_.str() + "/secret";
  write_file(secret, "root only\n");
  ASSERT_EQ(::link(secret.c_str(), (logs_ + "/app.log").c_str()), 0);
  service::LogFile f;
  f.configure(logs_ + "/app.log", 1 << 20, 2);
  Status s = f.write_line("planted\n");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, EMLINK);
  EXPECT_EQ(slurp(secret), "root only\n");
}

// The directory is held: swapped for a link after the first write, the
// rotation and the next lines stay in the directory keel opened.
TEST_F(LogFileTest, RotationThroughASwappedDirectoryDoesNotFollow) {
  const std::string elsewhere = dir_.str() + "/elsewhere";
  std::filesystem::create_directory(elsewhere);
  service::LogFile f;
  f.configure(logs_ + "/app.log", 10, 2);
  ASSERT_TRUE(f.write_line("first-12345\n"));
  const std::string moved = dir_.str() + "/moved";
  ASSERT_EQ(::rename(logs_.c_str(), moved.c_str()), 0);
  ASSERT_EQ(::symlink(elsewhere.c_str(), logs_.c_str()), 0);
  ASSERT_TRUE(f.write_line("second-1234\n"));  // past max_size: rotates first
  EXPECT_EQ(slurp(moved + "/app.log.1"), "first-12345\n");
  EXPECT_EQ(slurp(moved + "/app.log"), "second-1234\n");
  EXPECT_TRUE(std::filesystem::is_empty(elsewhere));
}

// A link planted at FILE.1 is replaced by the rotation, never written
// through.
TEST_F(LogFileTest, ALinkAtARotatedNameIsReplacedNotFollowed) {
  const std::string secret = dir_.str() + "/secret";
  write_file(secret, "root only\n");
  ASSERT_EQ(::symlink(secret.c_str(), (logs_ + "/app.log.1").c_str()), 0);
  service::LogFile f;
  f.configure(logs_ + "/app.log", 10, 2);
  ASSERT_TRUE(f.write_line("first-12345\n"));
  ASSERT_TRUE(f.write_line("second-1234\n"));
  EXPECT_EQ(slurp(secret), "root only\n");
  EXPECT_FALSE(std::filesystem::is_symlink(logs_ + "/app.log.1"));
  EXPECT_EQ(slurp(logs_ + "/app.log.1"), "first-12345\n");
  EXPECT_TRUE(std::filesystem::is_symlink(logs_ + "/app.log.2"));  // the old .1, moved on
}

// ---------------------------------------------------------------- run dir

TEST(RunDir, AMissingDirectoryIsCreated0755) {
  TempDir dir;
  const std::string run = dir.str() + "/run";
  const mode_t old = ::umask(022);
  EXPECT_EQ(service::prepare_run_dir(run), "");
  ::umask(old);
  struct stat st{};
  ASSERT_EQ(::stat(run.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0755U);
  EXPECT_EQ(service::prepare_run_dir(run), "");  // and accepted as it is
}

TEST(RunDir, OneOwnedByAnotherUidIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  TempDir dir;
  const std::string run = dir.str() + "/run";
  ASSERT_EQ(::mkdir(run.c_str(), 0755), 0);
  const uid_t other = keel::testing::throwaway_uid();
  ASSERT_EQ(::chown(run.c_str(), other, other), 0);
  EXPECT_EQ(service::prepare_run_dir(run), "run directory " + run + " is owned by uid " + std::to_string(other) +
                                               ": refusing to put sockets there; fix it or set KEEL_RUN_DIR");
}

TEST(RunDir, AWorldWritableOneIsRefused) {
  TempDir dir;
  const std::string run = dir.str() + "/run";
  ASSERT_EQ(::mkdir(run.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(run.c_str(), 0777), 0);
  EXPECT_NE(service::prepare_run_dir(run).find("is writable by others (mode 0777)"), std::string::npos);
  ASSERT_EQ(::chmod(run.c_str(), 0775), 0);
  EXPECT_NE(service::prepare_run_dir(run).find("is writable by its group"), std::string::npos);
}

TEST(RunDir, ALinkIsRefused) {
  TempDir dir;
  const std::string target = dir.str() + "/target";
  ASSERT_EQ(::mkdir(target.c_str(), 0755), 0);
  ASSERT_EQ(::symlink(target.c_str(), (dir.str() + "/run").c_str()), 0);
  EXPECT_NE(service::prepare_run_dir(dir.str() + "/run").find("is a symbolic link"), std::string::npos);
}

}  // namespace
}  // namespace keel
