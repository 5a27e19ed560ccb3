// The random seed (system/random_seed): files in a temporary directory, the
// credit rules, what a first boot and a read-only disk print, and the
// kernel's RNDADDENTROPY as root and refused without CAP_SYS_ADMIN (in
// children, so the test process keeps its identity). Feeding the host's
// kernel is harmless here: its RNG is initialised already, and the credited
// bytes are fresh random ones, never a known pattern.
#include "system/random_seed.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "core/log.hpp"
#include "test_util.hpp"
#include "throwaway_uid.hpp"

namespace keel {
namespace {

namespace fs = std::filesystem;
using testutil::run_in_child;
using testutil::slurp;
using testutil::TempDir;
using testutil::write_file;

// The file handling as on a disk, wherever TMPDIR is (often a tmpfs).
constexpr SeedOptions kFilesOnly{.feed_kernel = false, .volatile_as_disk = true};
// ... and with the rules for a seed_dir in memory (tmpfs, ramfs).
constexpr SeedOptions kInMemoryRules{.feed_kernel = false, .volatile_as_disk = false};

std::string hex(const unsigned char* p, std::size_t n) {
  std::string out;
  char b[3];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", p[i]);
    out += b;
  }
  return out;
}

std::string blake(const std::string& data) {
  unsigned char out[32];
  blake2s_256(data.data(), data.size(), out);
  return hex(out, sizeof out);
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i % 251);
  return s;
}

// A seed file as a previous run would have left it: 0400, ours.
void plant(const fs::path& dir, const char* name, const std::string& bytes, mode_t mode = 0400) {
  write_file(dir / name, bytes);
  ::chmod((dir / name).c_str(), mode);
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// keel's log lines during `body`, captured through a temporary file.
template <typename F>
std::string captured_log(F body) {
  TempDir tmp;
  std::string path = (tmp.path() / "log").string();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int old_fd = log::fd();
  int old_level = log::verbosity();
  log::set_fd(fd);
  log::set_verbosity(static_cast<int>(log::Level::Info));
  body();
  log::set_fd(old_fd);
  log::set_verbosity(old_level);
  ::close(fd);
  return slurp(path);
}

int count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(RandomSeed, Blake2sMatchesTheReferenceVectors) {
  EXPECT_EQ(blake(""), "69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9");
  EXPECT_EQ(blake("abc"), "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
  // Exactly one and two blocks (the last block is held back for the final
  // flag), and many (values from Python's hashlib.blake2s).
  EXPECT_EQ(blake(pattern(64)), "56f34e8b96557e90c1f24b52d0c89d51086acf1b00f634cf1dde9233b8eaaa3e");
  EXPECT_EQ(blake(pattern(128)), "1fa877de67259d19863a2a34bcc6962a2b25fcbf5cbecd7ede8f1fa36688a796");
  EXPECT_EQ(blake(pattern(1000)), "1c067a5e746fb0f6734efac9a8cdb0e11061f0077f255184365c690115392501");
}

TEST(RandomSeed, DrawIsCreditableOnceTheRngIsReady) {
  unsigned char a[kSeedBytes];
  unsigned char b[kSeedBytes];
  bool credit_a = false;
  bool credit_b = false;
  ASSERT_TRUE(draw_seed(a, sizeof a, credit_a));
  ASSERT_TRUE(draw_seed(b, sizeof b, credit_b));
  EXPECT_TRUE(credit_a);  // this host's RNG is initialised
  EXPECT_TRUE(credit_b);
  EXPECT_NE(hex(a, sizeof a), hex(b, sizeof b));
}

TEST(RandomSeed, FirstBootCreatesTheDirectoryAndWritesACreditableSeedWithOneInfoLine) {
  TempDir tmp;
  fs::path dir = tmp.path() / "var/lib/keel/seed";
  SeedOutcome o;
  std::string log = captured_log([&] { o = seed_kernel_rng(dir.c_str(), kFilesOnly); });
  EXPECT_FALSE(o.found);
  EXPECT_EQ(o.bytes, 0U);
  EXPECT_TRUE(o.written);
  EXPECT_TRUE(o.new_creditable);
  EXPECT_EQ(o.problem, nullptr);
  EXPECT_EQ(entries(dir), std::vector<std::string>{"seed.credit"});
  struct stat st{};
  ASSERT_EQ(::stat((dir / "seed.credit").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0400U);
  EXPECT_EQ(st.st_size, static_cast<off_t>(kSeedBytes));
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700U);
  // No error noise: one info line, no warning, no error.
  EXPECT_EQ(count(log, "\n"), 1) << log;
  EXPECT_EQ(count(log, "first boot"), 1) << log;
  EXPECT_EQ(count(log, "warning"), 0) << log;
  EXPECT_EQ(count(log, "error"), 0) << log;
}

TEST(RandomSeed, EachBootConsumesTheSeedAndLeavesADifferentOne) {
  TempDir tmp;
  fs::path dir = tmp.path() / "seed";
  ASSERT_TRUE(seed_kernel_rng(dir.c_str(), kFilesOnly).written);
  std::string previous = slurp(dir / "seed.credit");
  ASSERT_EQ(previous.size(), kSeedBytes);
  for (int boot = 0; boot < 3; ++boot) {
    // Held open, the old file keeps its inode: replaced, it has no link
    // left and its bytes are unchanged; rewritten in place, they would be.
    int old_fd = ::open((dir / "seed.credit").c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(old_fd, 0);
    SeedOutcome o = seed_kernel_rng(dir.c_str(), kFilesOnly);
    EXPECT_TRUE(o.found);
    EXPECT_TRUE(o.creditable);
    EXPECT_FALSE(o.credited);  // feed_kernel is off
    EXPECT_EQ(o.bytes, kSeedBytes);
    EXPECT_TRUE(o.written);
    EXPECT_EQ(o.problem, nullptr) << o.problem;
    std::string now = slurp(dir / "seed.credit");
    EXPECT_EQ(now.size(), kSeedBytes);
    EXPECT_NE(now, previous) << "boot " << boot << " reused the seed";
    struct stat old_st{};
    ASSERT_EQ(::fstat(old_fd, &old_st), 0);
    EXPECT_EQ(old_st.st_nlink, 0U) << "the old seed is still linked";
    char old_bytes[kSeedBytes];
    EXPECT_EQ(::pread(old_fd, old_bytes, sizeof old_bytes, 0), static_cast<ssize_t>(kSeedBytes));
    EXPECT_EQ(std::string(old_bytes, sizeof old_bytes), previous) << "the old file was rewritten in place";
    ::close(old_fd);
    EXPECT_EQ(entries(dir), std::vector<std::string>{"seed.credit"});
    previous = now;
  }
}

TEST(RandomSeed, ANonCreditableSeedIsMixedInButNeverCredited) {
  TempDir tmp;
  const fs::path& dir = tmp.path();
  plant(dir, kNonCreditableSeedName, pattern(kSeedBytes));
  SeedOutcome o = seed_kernel_rng(dir.c_str(), kFilesOnly);
  EXPECT_TRUE(o.found);
  EXPECT_FALSE(o.creditable);
  EXPECT_EQ(o.bytes, kSeedBytes);
  EXPECT_EQ(o.problem, nullptr);
  // Replaced by a creditable one (this host's RNG is ready).
  EXPECT_EQ(entries(dir), std::vector<std::string>{"seed.credit"});
}

TEST(RandomSeed, BothFilesAreConsumedAndOnlyTheCreditableOneCounts) {
  TempDir tmp;
  const fs::path& dir = tmp.path();
  plant(dir, kNonCreditableSeedName, pattern(100));
  plant(dir, kCreditableSeedName, pattern(kSeedBytes));
  SeedOutcome o = seed_kernel_rng(dir.c_str(), kFilesOnly);
  EXPECT_TRUE(o.found);
  EXPECT_TRUE(o.creditable);
  EXPECT_EQ(o.bytes, 100 + kSeedBytes);
  EXPECT_EQ(entries(dir), std::vector<std::string>{"seed.credit"});
}

struct BadSeed {
  const char* what;
  std::string bytes;
  mode_t mode;
  const char* problem;  // a word of the expected problem
};

TEST(RandomSeed, AShortOversizedOrForeignCreditableSeedIsMixedInWithoutCredit) {
  for (const BadSeed& bad : {BadSeed{"short", pattern(10), 0400, "too short"},
                             BadSeed{"oversized", pattern(kSeedBytes + 1), 0400, "longer"},
                             BadSeed{"world-writable", pattern(kSeedBytes), 0666, "writable by others"},
                             BadSeed{"garbage text", std::string(200, 'x') + "\n", 0600, ""}}) {
    SCOPED_TRACE(bad.what);
    TempDir tmp;
    const fs::path& dir = tmp.path();
    plant(dir, kCreditableSeedName, bad.bytes, bad.mode);
    SeedOutcome o = seed_kernel_rng(dir.c_str(), kFilesOnly);
    EXPECT_TRUE(o.found);
    EXPECT_TRUE(o.written);
    EXPECT_EQ(entries(dir), std::vector<std::string>{"seed.credit"});
    EXPECT_NE(slurp(dir / "seed.credit"), bad.bytes);
    if (*bad.problem != '\0') {
      EXPECT_FALSE(o.creditable);
      ASSERT_NE(o.problem, nullptr);
      EXPECT_NE(std::string(o.problem).find(bad.problem), std::string::npos) << o.problem;
    } else {
      // Any 32..512 bytes this code could have written count: content
      // cannot be judged.
      EXPECT_TRUE(o.creditable);
      EXPECT_EQ(o.problem, nullptr);
    }
  }
}

TEST(RandomSeed, AnEmptyFileASymlinkOrAFifoIsRemovedWithoutHarm) {
  TempDir tmp;
  const fs::path& dir = tmp.path();
  plant(dir, kNonCreditableSeedName, "");
  fs::create_symlink("/etc/passwd", dir / kCreditableSeedName);
  SeedOutcome o = seed_kernel_rng(dir.c_str(), kFilesOnly);
  EXPECT_FALSE(o.found);
  EXPECT_FALSE(o.creditable);
  EXPECT_TRUE(o.written);
  ASSERT_NE(o.problem, nullptr);
  EXPECT_NE(std::string(o.problem).find("symlink"), std::string::npos) << o.problem;
  EXPECT_FALSE(fs::is_symlink(dir / kCreditableSeedName));
  EXPECT_EQ(entries(dir), std::vector<std::string>{"seed.credit"});

  // A FIFO must not block the read (nothing writes to it).
  TempDir tmp2;
  ASSERT_EQ(::mkfifo((tmp2.path() / kCreditableSeedName).c_str(), 0600), 0);
  int code = testutil::in_child([&] { return seed_kernel_rng(tmp2.path().c_str(), kFilesOnly).written ? 0 : 1; });
  EXPECT_EQ(code, 0) << "-1 means it hung on the FIFO";
  EXPECT_EQ(entries(tmp2.path()), std::vector<std::string>{"seed.credit"});
}

TEST(RandomSeed, ALeftoverTemporaryFileIsReplaced) {
  TempDir tmp;
  plant(tmp.path(), "seed.tmp", pattern(7), 0400);
  SeedOutcome o = seed_kernel_rng(tmp.path().c_str(), kFilesOnly);
  EXPECT_TRUE(o.written);
  EXPECT_EQ(entries(tmp.path()), std::vector<std::string>{"seed.credit"});
}

TEST(RandomSeed, RefreshWritesANewSeedUnderOneNameAndFeedsNothing) {
  TempDir tmp;
  const fs::path& dir = tmp.path();
  plant(dir, kNonCreditableSeedName, pattern(kSeedBytes));
  SeedOutcome o = refresh_seed(dir.c_str());
  EXPECT_TRUE(o.found);
  EXPECT_FALSE(o.credited);
  EXPECT_EQ(o.bytes, 0U);
  EXPECT_TRUE(o.written);
  EXPECT_TRUE(o.new_creditable);
  EXPECT_EQ(entries(dir), std::vector<std::string>{"seed.credit"});
  std::string first = slurp(dir / "seed.credit");
  ASSERT_TRUE(refresh_seed(dir.c_str()).written);
  EXPECT_NE(slurp(dir / "seed.credit"), first);
}

// A private mount namespace with a tmpfs at `where` (made read-only after
// `prepare` when `read_only`); "" on success, else what failed.
std::string with_tmpfs(const fs::path& where, bool read_only, const std::function<void()>& prepare) {
  if (::unshare(CLONE_NEWNS) != 0) return "unshare(CLONE_NEWNS) failed";
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return "making / private failed";
  if (::mount("tmpfs", where.c_str(), "tmpfs", 0, "mode=0700") != 0) return "mounting a tmpfs failed";
  prepare();
  if (read_only && ::mount(nullptr, where.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
    return "remounting read-only failed";
  }
  return "";
}

bool can_mount() { return ::geteuid() == 0; }

TEST(RandomSeed, AReadOnlyFileSystemIsOneWarningAndTheSeedIsNotCredited) {
  if (!can_mount()) GTEST_SKIP() << "needs root for a private mount namespace";
  TempDir tmp;
  std::string result = run_in_child([&]() -> std::string {
    std::string err = with_tmpfs(tmp.path(), true, [&] { plant(tmp.path() / "seed", kCreditableSeedName, pattern(kSeedBytes)); });
    if (!err.empty()) return err;
    SeedOptions opts = kFilesOnly;  // only read-only-ness may refuse the credit here
    SeedOutcome o;
    std::string log = captured_log([&] { o = seed_kernel_rng((tmp.path() / "seed").c_str(), opts); });
    if (!o.found) return "the seed was not read";
    if (o.creditable) return "a seed that could not be removed qualified for credit";
    if (o.written) return "a seed was written on a read-only file system?";
    if (o.problem == nullptr) return "no problem reported";
    if (count(log, "warning") != 1) return "expected one warning, got: " + log;
    if (log.find("read-only") == std::string::npos) return "the warning does not say read-only: " + log;
    // A missing directory on a read-only file system: one warning too.
    std::string log2 = captured_log([&] { o = seed_kernel_rng((tmp.path() / "a/b").c_str(), opts); });
    if (o.found || o.written) return "found or wrote something in a missing directory";
    if (count(log2, "warning") != 1 || log2.find("read-only") == std::string::npos) return "missing dir: " + log2;
    return "";
  });
  EXPECT_EQ(result, "");
}

TEST(RandomSeed, ASeedOnTmpfsIsNotCreditedAndNoneIsWrittenThere) {
  if (!can_mount()) GTEST_SKIP() << "needs root for a private mount namespace";
  TempDir tmp;
  std::string result = run_in_child([&]() -> std::string {
    std::string err = with_tmpfs(tmp.path(), false, [] {});
    if (!err.empty()) return err;
    plant(tmp.path(), kCreditableSeedName, pattern(kSeedBytes));
    SeedOutcome o = seed_kernel_rng(tmp.path().c_str(), kInMemoryRules);
    if (!o.found || o.creditable) return "a seed on tmpfs qualified for credit";
    if (o.problem == nullptr || std::string(o.problem).find("tmpfs") == std::string::npos) return "no tmpfs problem";
    // Nothing is written in memory: it would be lost at power-off.
    if (!o.in_memory || o.written || !fs::is_empty(tmp.path())) return "a seed was written on tmpfs";
    if (refresh_seed(tmp.path().c_str()).written || !fs::is_empty(tmp.path())) return "refreshed on tmpfs";
    // A missing seed_dir under a tmpfs is not even created; one info line.
    SeedOutcome missing;
    const std::string log = captured_log(
        [&] { missing = seed_kernel_rng((tmp.path() / "var/lib/keel/seed").c_str(), kInMemoryRules); });
    if (!missing.in_memory || missing.written || fs::exists(tmp.path() / "var")) return "created a seed_dir in memory";
    if (count(log, "\n") != 1 || log.find("none kept") == std::string::npos) return "expected one line: " + log;
    plant(tmp.path(), kCreditableSeedName, pattern(kSeedBytes));
    o = seed_kernel_rng(tmp.path().c_str(), kFilesOnly);
    if (!o.found || !o.creditable) return "volatile_as_disk did not allow the credit";
    if (!o.written) return "volatile_as_disk did not write";
    return "";
  });
  EXPECT_EQ(result, "");
}

TEST(RandomSeed, AsRootTheCreditableSeedIsCreditedThroughRndaddentropy) {
  if (::geteuid() != 0) GTEST_SKIP() << "RNDADDENTROPY needs CAP_SYS_ADMIN";
  TempDir tmp;
  const fs::path& dir = tmp.path();
  ASSERT_TRUE(seed_kernel_rng(dir.c_str(), kFilesOnly).new_creditable);  // fresh random bytes, not a pattern
  std::string result = run_in_child([&]() -> std::string {
    SeedOutcome o = seed_kernel_rng(dir.c_str());
    if (!o.found || !o.creditable) return "the seed did not qualify";
    if (!o.credited) return std::string("not credited: ") + (o.problem != nullptr ? o.problem : "?");
    if (o.problem != nullptr) return o.problem;
    return "";
  });
  EXPECT_EQ(result, "");
  EXPECT_EQ(entries(dir), std::vector<std::string>{"seed.credit"});
}

TEST(RandomSeed, WithoutCapSysAdminTheSeedIsMixedInAndTheProblemSaid) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to become another user";
  TempDir tmp;
  fs::path dir = tmp.path() / "seed";
  fs::create_directories(dir);
  ASSERT_EQ(::chmod(tmp.path().c_str(), 0755), 0);  // mkdtemp's 0700 would stop nobody at the door
  ASSERT_EQ(::chown(dir.c_str(), 65534, 65534), 0);
  std::string result = run_in_child([&]() -> std::string {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) return "cannot become nobody";
    if (!seed_kernel_rng(dir.c_str(), kFilesOnly).written) return "first seed not written";
    SeedOutcome o = seed_kernel_rng(dir.c_str());
    if (!o.found || !o.creditable) return "the seed did not qualify";
    if (o.credited) return "credited without CAP_SYS_ADMIN?";
    if (o.problem == nullptr || std::string(o.problem).find("RNDADDENTROPY") == std::string::npos) {
      return "no RNDADDENTROPY problem";
    }
    if (!o.written) return "no new seed";
    return "";
  });
  EXPECT_EQ(result, "");
}

// The seed directory's path is walked without following a symlink another
// user made (a service that can write the data partition could point keel's
// seed, and the files keel removes, anywhere); keel's own symlinks are
// followed. The directory itself must be keel's and writable by no one else.
TEST(RandomSeed, APlantedSymlinkOnTheWayIsNotFollowedAndKeelsOwnIs) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make a symlink owned by another user";
  const uid_t other = keel::testing::throwaway_uid();
  TempDir tmp;
  const fs::path elsewhere = tmp.path() / "elsewhere";
  fs::create_directories(elsewhere / "seed");
  ::chmod((elsewhere / "seed").c_str(), 0700);
  plant(elsewhere / "seed", kCreditableSeedName, pattern(kSeedBytes));

  // data/keel -> elsewhere, made by another user: refused, nothing there touched.
  fs::create_directories(tmp.path() / "data");
  fs::create_symlink(elsewhere, tmp.path() / "data/keel");
  ASSERT_EQ(::lchown((tmp.path() / "data/keel").c_str(), other, other), 0);
  const fs::path via_planted = tmp.path() / "data/keel/seed";
  SeedOutcome o;
  std::string log = captured_log([&] { o = seed_kernel_rng(via_planted.c_str(), kFilesOnly); });
  EXPECT_FALSE(o.found);
  EXPECT_FALSE(o.written);
  ASSERT_NE(o.problem, nullptr);
  EXPECT_NE(std::string(o.problem).find("symlink"), std::string::npos) << o.problem;
  EXPECT_EQ(count(log, "warning"), 1) << log;
  EXPECT_EQ(slurp(elsewhere / "seed" / kCreditableSeedName), pattern(kSeedBytes));
  EXPECT_FALSE(refresh_seed(via_planted.c_str()).written);
  EXPECT_EQ(entries(elsewhere / "seed"), std::vector<std::string>{"seed.credit"});

  // The leaf itself a planted symlink: refused too.
  fs::create_directories(tmp.path() / "data2");
  fs::create_symlink(elsewhere / "seed", tmp.path() / "data2/seed");
  ASSERT_EQ(::lchown((tmp.path() / "data2/seed").c_str(), other, other), 0);
  o = seed_kernel_rng((tmp.path() / "data2/seed").c_str(), kFilesOnly);
  EXPECT_FALSE(o.written);
  EXPECT_EQ(slurp(elsewhere / "seed" / kCreditableSeedName), pattern(kSeedBytes));

  // The same link made by keel's own user (the image's): followed.
  ASSERT_EQ(::lchown((tmp.path() / "data/keel").c_str(), ::geteuid(), ::getegid()), 0);
  o = seed_kernel_rng(via_planted.c_str(), kFilesOnly);
  EXPECT_TRUE(o.found);
  EXPECT_TRUE(o.written);
  EXPECT_EQ(o.problem, nullptr) << o.problem;
}

TEST(RandomSeed, ASeedDirectoryOthersCanWriteOrThatIsNotKeelsIsNotUsed) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a directory to another user";
  TempDir tmp;
  const fs::path open_dir = tmp.path() / "open";
  fs::create_directories(open_dir);
  ASSERT_EQ(::chmod(open_dir.c_str(), 0777), 0);
  SeedOutcome o = seed_kernel_rng(open_dir.c_str(), kFilesOnly);
  EXPECT_FALSE(o.written);
  ASSERT_NE(o.problem, nullptr);
  EXPECT_NE(std::string(o.problem).find("writable by others"), std::string::npos) << o.problem;
  EXPECT_TRUE(entries(open_dir).empty());

  const fs::path foreign = tmp.path() / "foreign";
  fs::create_directories(foreign);
  ASSERT_EQ(::chmod(foreign.c_str(), 0700), 0);
  const uid_t other = keel::testing::throwaway_uid();
  ASSERT_EQ(::chown(foreign.c_str(), other, other), 0);
  o = seed_kernel_rng(foreign.c_str(), kFilesOnly);
  EXPECT_FALSE(o.written);
  EXPECT_TRUE(entries(foreign).empty());
}

}  // namespace
}  // namespace keel
