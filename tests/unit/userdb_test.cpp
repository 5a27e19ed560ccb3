#include "core/userdb.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace keel {
namespace {

// A temp file holding `content`, removed when the test ends.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    std::string tmpl = "/tmp/keel_userdb_XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    int fd = ::mkstemp(buf.data());
    if (fd < 0) {
      ADD_FAILURE() << "mkstemp: " << std::strerror(errno);
      return;
    }
    path_ = buf.data();
    std::size_t off = 0;
    while (off < content.size()) {
      ssize_t n = ::write(fd, content.data() + off, content.size() - off);
      if (n <= 0) {
        ADD_FAILURE() << "write: " << std::strerror(errno);
        break;
      }
      off += static_cast<std::size_t>(n);
    }
    ::close(fd);
  }
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  [[nodiscard]] const char* path() const { return path_.c_str(); }

 private:
  std::string path_;
};

const char* const kPasswd =
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "alice:x:1000:1000:Alice,,,:/home/alice:/bin/zsh\n"
    "bob:x:1001:100::/home/bob:\n";

const char* const kGroup =
    "root:x:0:\n"
    "wheel:x:10:alice,carol\n"
    "users:x:100:bob\n"
    "alice:x:1000:\n"
    "audio:x:29:carol,alice\n"
    "video:x:44:alice\n";

// ---- find_user ----

TEST(UserDb, FindUserByName) {
  TempFile f(kPasswd);
  auto r = find_user("alice", f.path());
  ASSERT_TRUE(r.ok()) << r.error().context;
  EXPECT_EQ(r.value().name, "alice");
  EXPECT_EQ(r.value().uid, 1000u);
  EXPECT_EQ(r.value().gid, 1000u);
  EXPECT_EQ(r.value().home, "/home/alice");
  EXPECT_EQ(r.value().shell, "/bin/zsh");
}

TEST(UserDb, FindUserEmptyShellAndDifferentGid) {
  TempFile f(kPasswd);
  auto r = find_user("bob", f.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().uid, 1001u);
  EXPECT_EQ(r.value().gid, 100u);
  EXPECT_EQ(r.value().home, "/home/bob");
  EXPECT_EQ(r.value().shell, "");
}

TEST(UserDb, FindUserByNumericIdPresent) {
  TempFile f(kPasswd);
  auto r = find_user("1", f.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().name, "daemon");
  EXPECT_EQ(r.value().uid, 1u);
  EXPECT_EQ(r.value().home, "/usr/sbin");

  auto root = find_user("0", f.path());
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root.value().name, "root");
  EXPECT_EQ(root.value().home, "/root");
}

TEST(UserDb, FindUserByNumericIdWithLeadingZeros) {
  TempFile f(kPasswd);
  auto r = find_user("01000", f.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().name, "alice");
}

TEST(UserDb, FindUserByNumericIdAbsentIsSynthesized) {
  TempFile f(kPasswd);
  auto r = find_user("12345", f.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().name, "12345");
  EXPECT_EQ(r.value().uid, 12345u);
  EXPECT_EQ(r.value().gid, 12345u);
  EXPECT_EQ(r.value().home, "/");
  EXPECT_EQ(r.value().shell, "");
}

TEST(UserDb, FindUserMaxValidId) {
  TempFile f(kPasswd);
  auto r = find_user("4294967294", f.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().uid, 4294967294u);
}

TEST(UserDb, FindUserUnknownName) {
  TempFile f(kPasswd);
  auto r = find_user("mallory", f.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_STREQ(r.error().context, "user not found");
}

TEST(UserDb, FindUserNameIsNotPrefixMatched) {
  TempFile f(kPasswd);
  EXPECT_EQ(find_user("alic", f.path()).error().code, ENOENT);
  EXPECT_EQ(find_user("alice2", f.path()).error().code, ENOENT);
}

TEST(UserDb, FindUserEmptyQuery) {
  TempFile f(kPasswd);
  auto r = find_user("", f.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EINVAL);
}

TEST(UserDb, FindUserMissingFile) {
  auto r = find_user("root", "/nonexistent/keel/passwd");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_STREQ(r.error().context, "open passwd");
}

TEST(UserDb, FindUserMissingFileIsErrorEvenForNumericId) {
  auto r = find_user("1000", "/nonexistent/keel/passwd");
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(r.error().context, "open passwd");
}

TEST(UserDb, FindUserDirectoryIsReadError) {
  auto r = find_user("root", "/");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EISDIR);
  EXPECT_STREQ(r.error().context, "read passwd");
}

TEST(UserDb, SkipsCommentsBlankAndNisLines) {
  TempFile f(
      "# alice:x:1:1::/wrong:/bin/sh\n"
      "\n"
      "+alice:x:2:2::/wrong:/bin/sh\n"
      "-alice:x:3:3::/wrong:/bin/sh\n"
      "+\n"
      "\n"
      "alice:x:1000:1000::/home/alice:/bin/sh\n");
  auto r = find_user("alice", f.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().uid, 1000u);
  EXPECT_EQ(r.value().home, "/home/alice");
  // '+'/'-' lines are not users named "+alice"/"-alice" either.
  EXPECT_EQ(find_user("+alice", f.path()).error().code, ENOENT);
  // A commented-out uid is not found: the absent-id fallback applies.
  auto one = find_user("1", f.path());
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one.value().name, "1");
  EXPECT_EQ(one.value().home, "/");
}

TEST(UserDb, SkipsMalformedLines) {
  TempFile f(
      "alice:x:1000:1000::/home/alice\n"              // 6 fields
      "alice:x:1000:1000::/home/alice:/bin/sh:extra\n"  // 8 fields
      "alice:x:abc:1000::/bad:/bin/sh\n"              // non-numeric uid
      "alice:x:1000:1x::/bad:/bin/sh\n"               // non-numeric gid
      "alice:x::1000::/bad:/bin/sh\n"                 // empty uid
      "alice:x: 7:1000::/bad:/bin/sh\n"               // space in uid
      "alice:x:+7:1000::/bad:/bin/sh\n"               // signed uid
      "alice:x:-1:1000::/bad:/bin/sh\n"               // negative uid
      "alice:x:1000:-1::/bad:/bin/sh\n"               // negative gid
      ":x:5:5::/bad:/bin/sh\n"                        // empty name
      "garbage\n"
      "alice:x:1002:1003::/home/alice:/bin/sh\n");
  auto r = find_user("alice", f.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().uid, 1002u);
  EXPECT_EQ(r.value().gid, 1003u);
  EXPECT_EQ(r.value().home, "/home/alice");
  // The empty-name line's uid is not a match either.
  auto five = find_user("5", f.path());
  ASSERT_TRUE(five.ok());
  EXPECT_EQ(five.value().name, "5");
}

TEST(UserDb, FirstMatchWins) {
  TempFile f(
      "alice:x:1000:1000::/first:/bin/sh\n"
      "alice:x:2000:2000::/second:/bin/sh\n"
      "other:x:1000:1000::/third:/bin/sh\n");
  auto by_name = find_user("alice", f.path());
  ASSERT_TRUE(by_name.ok());
  EXPECT_EQ(by_name.value().home, "/first");
  auto by_id = find_user("1000", f.path());
  ASSERT_TRUE(by_id.ok());
  EXPECT_EQ(by_id.value().name, "alice");
  EXPECT_EQ(by_id.value().home, "/first");
}

TEST(UserDb, FindUserLastLineWithoutNewline) {
  TempFile f("root:x:0:0:root:/root:/bin/bash\nlast:x:77:78::/home/last:/bin/dash");
  auto r = find_user("last", f.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().uid, 77u);
  EXPECT_EQ(r.value().gid, 78u);
  EXPECT_EQ(r.value().shell, "/bin/dash");
}

TEST(UserDb, FindUserEmptyFile) {
  TempFile f("");
  EXPECT_EQ(find_user("root", f.path()).error().code, ENOENT);
  auto r = find_user("0", f.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().name, "0");
}

TEST(UserDb, IdOutOfRangeInFileIsSkipped) {
  TempFile f(
      "big:x:4294967295:0::/reserved:/bin/sh\n"
      "big:x:4294967296:0::/overflow:/bin/sh\n"
      "big:x:99999999999999999999999:0::/overflow:/bin/sh\n"
      "big:x:0:4294967295::/reserved-gid:/bin/sh\n"
      "big:x:4294967294:4294967294::/ok:/bin/sh\n");
  auto r = find_user("big", f.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().uid, 4294967294u);
  EXPECT_EQ(r.value().gid, 4294967294u);
  EXPECT_EQ(r.value().home, "/ok");
}

TEST(UserDb, IdOutOfRangeInQueryIsInvalid) {
  TempFile f(kPasswd);
  for (const char* q : {"4294967295", "4294967296", "18446744073709551616"}) {
    auto r = find_user(q, f.path());
    ASSERT_FALSE(r.ok()) << q;
    EXPECT_EQ(r.error().code, EINVAL) << q;
    EXPECT_STREQ(r.error().context, "invalid uid") << q;
  }
  // Not all digits: treated as a name, which does not exist.
  EXPECT_EQ(find_user("-1", f.path()).error().code, ENOENT);
}

// ---- find_group ----

TEST(UserDb, FindGroupByName) {
  TempFile f(kGroup);
  auto r = find_group("wheel", f.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().name, "wheel");
  EXPECT_EQ(r.value().gid, 10u);
  EXPECT_EQ(r.value().members, (std::vector<std::string>{"alice", "carol"}));
}

TEST(UserDb, FindGroupNoMembers) {
  TempFile f(kGroup);
  auto r = find_group("root", f.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().gid, 0u);
  EXPECT_TRUE(r.value().members.empty());
}

TEST(UserDb, FindGroupByNumericIdPresent) {
  TempFile f(kGroup);
  auto r = find_group("29", f.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().name, "audio");
  EXPECT_EQ(r.value().members, (std::vector<std::string>{"carol", "alice"}));
}

TEST(UserDb, FindGroupByNumericIdAbsentIsSynthesized) {
  TempFile f(kGroup);
  auto r = find_group("5000", f.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().name, "5000");
  EXPECT_EQ(r.value().gid, 5000u);
  EXPECT_TRUE(r.value().members.empty());
}

TEST(UserDb, FindGroupUnknownName) {
  TempFile f(kGroup);
  auto r = find_group("nogroup", f.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_STREQ(r.error().context, "group not found");
}

TEST(UserDb, FindGroupMissingFile) {
  auto r = find_group("root", "/nonexistent/keel/group");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_STREQ(r.error().context, "open group");
}

TEST(UserDb, FindGroupSkipsCommentsNisAndMalformed) {
  TempFile f(
      "# staff:x:1:\n"
      "\n"
      "+staff:x:2:\n"
      "-staff:x:3:\n"
      "staff:x:4\n"            // 3 fields
      "staff:x:5:a:b\n"        // 5 fields
      "staff:x:six:\n"         // non-numeric gid
      "staff:x:4294967295:\n"  // reserved gid
      "staff:x:-7:\n"          // negative gid
      "staff:x:50:,dave,,erin,\n");
  auto r = find_group("staff", f.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().gid, 50u);
  // Empty members from stray commas are dropped.
  EXPECT_EQ(r.value().members, (std::vector<std::string>{"dave", "erin"}));
}

TEST(UserDb, FindGroupLastLineWithoutNewline) {
  TempFile f("root:x:0:\ntail:x:321:x,y");
  auto r = find_group("tail", f.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().gid, 321u);
  EXPECT_EQ(r.value().members, (std::vector<std::string>{"x", "y"}));
}

TEST(UserDb, FindGroupIdOutOfRangeInQuery) {
  TempFile f(kGroup);
  auto r = find_group("4294967295", f.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EINVAL);
  EXPECT_STREQ(r.error().context, "invalid gid");
  EXPECT_EQ(find_group("", f.path()).error().code, EINVAL);
}

// ---- supplementary_groups ----

TEST(UserDb, SupplementaryGroupsSeveralGroupsPrimaryFirst) {
  TempFile f(kGroup);
  auto r = supplementary_groups("alice", 1000, f.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), (std::vector<gid_t>{1000, 10, 29, 44}));
}

TEST(UserDb, SupplementaryGroupsUserInNone) {
  TempFile f(kGroup);
  auto r = supplementary_groups("nobody", 65534, f.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), (std::vector<gid_t>{65534}));
}

TEST(UserDb, SupplementaryGroupsDeduplicates) {
  TempFile f(
      "users:x:100:bob\n"            // the primary group also lists bob
      "dev:x:200:bob,bob\n"          // bob twice in one group
      "dev-again:x:200:bob\n"        // same gid under another name
      "ops:x:300:alice,bob\n"
      "bobcat:x:400:bobby,xbob\n");  // no substring matches
  auto r = supplementary_groups("bob", 100, f.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), (std::vector<gid_t>{100, 200, 300}));
}

TEST(UserDb, SupplementaryGroupsPrimaryNotInFileStillFirst) {
  TempFile f("late:x:7:carol\nearly:x:3:carol\n");
  auto r = supplementary_groups("carol", 9999, f.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), (std::vector<gid_t>{9999, 7, 3}));
}

TEST(UserDb, SupplementaryGroupsSkipsCommentsNisAndMalformed) {
  TempFile f(
      "# c:x:1:carol\n"
      "+c:x:2:carol\n"
      "-c:x:3:carol\n"
      "c:x:4:carol:extra\n"
      "c:x:x5:carol\n"
      "c:x:4294967295:carol\n"
      "good:x:6:carol");  // and no trailing newline
  auto r = supplementary_groups("carol", 1, f.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), (std::vector<gid_t>{1, 6}));
}

TEST(UserDb, SupplementaryGroupsEmptyNameMatchesNothing) {
  TempFile f("odd:x:5:a,,b\n");
  auto r = supplementary_groups("", 1, f.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), (std::vector<gid_t>{1}));
}

TEST(UserDb, SupplementaryGroupsMissingFile) {
  auto r = supplementary_groups("alice", 1000, "/nonexistent/keel/group");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_STREQ(r.error().context, "open group");
}

}  // namespace
}  // namespace keel
