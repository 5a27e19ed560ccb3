// The newc writer must produce what the kernel (and GNU cpio, the
// reference implementation of the format) read back with exactly the
// owners, modes, devices and links the spec asked for, without root on the
// build side; the reader must refuse malformed archives with an offset.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "image/cpio.hpp"
#include "image/diagnostic.hpp"
#include "image/listing.hpp"
#include "test_util.hpp"

namespace keel::image {
namespace {

namespace fs = std::filesystem;

using testutil::have;
using testutil::quoted;
using testutil::run;
using testutil::slurp;
using testutil::write_file;

// A scratch directory, keel-cpio-XXXXXX.
struct TempDir : testutil::TempDir {
  TempDir() : testutil::TempDir("keel-cpio-") {}
};

constexpr std::uint32_t kTime = 1704067200;  // 2024-01-01 00:00:00 UTC

// One of every kind, with owners and modes no host file has.
void write_sample(Sink& sink) {
  CpioWriter w(sink);
  w.add_directory("/bin", {0755, 0, 0, kTime});
  w.add_directory("dev", {0755, 0, 0, kTime});
  w.add_directory("etc", {0750, 0, 42, kTime});
  w.add_file("etc/hostname", {0644, 1000, 1001, kTime + 1}, "keel\n");
  w.add_file("bin/su", {04755, 0, 0, kTime}, "#!/bin/sh\nexit 0\n");
  w.add_file("empty", {0600, 7, 8, kTime}, "");
  w.add_symlink("init", {0777, 0, 0, kTime}, "bin/keel");
  const std::vector<std::string> links = {"bin/a", "bin/b", "bin/c"};
  w.add_hard_links(links, {0711, 3, 4, kTime}, "shared data!");
  w.add_char_device("dev/console", {0600, 0, 5, kTime}, 5, 1);
  w.add_block_device("dev/vda", {0660, 0, 6, kTime}, 254, 0);
  w.add_fifo("dev/initctl", {0620, 0, 0, kTime});
  w.add_directory("tmp", {01777, 0, 0, kTime});
  w.finish();
}

std::string sample_archive() {
  std::string out;
  StringSink sink(out);
  write_sample(sink);
  return out;
}

const CpioEntry& find(const CpioArchive& a, const std::string& name) {
  for (const CpioEntry& e : a.entries) {
    if (e.name == name) return e;
  }
  throw std::runtime_error("no entry " + name);
}

// ------------------------------------------------------------------ writer

TEST(CpioWriter, RoundTripEveryKind) {
  const std::string bytes = sample_archive();
  const CpioArchive a = read_cpio(bytes);
  ASSERT_EQ(a.entries.size(), 14U);
  EXPECT_EQ(a.entries[0].name, "bin");  // leading '/' dropped

  const CpioEntry& dir = find(a, "etc");
  EXPECT_EQ(dir.mode, S_IFDIR | 0750U);
  EXPECT_EQ(dir.gid, 42U);
  EXPECT_EQ(dir.nlink, 2U);
  EXPECT_EQ(dir.size, 0U);

  const CpioEntry& file = find(a, "etc/hostname");
  EXPECT_EQ(file.mode, S_IFREG | 0644U);
  EXPECT_EQ(file.uid, 1000U);
  EXPECT_EQ(file.gid, 1001U);
  EXPECT_EQ(file.mtime, kTime + 1);
  EXPECT_EQ(file.nlink, 1U);
  EXPECT_EQ(entry_data(bytes, file), "keel\n");
  EXPECT_EQ(file.data_offset % 4, 0U);

  EXPECT_EQ(find(a, "bin/su").mode, S_IFREG | 04755U);
  EXPECT_EQ(find(a, "tmp").mode, S_IFDIR | 01777U);
  EXPECT_EQ(find(a, "empty").size, 0U);

  const CpioEntry& link = find(a, "init");
  EXPECT_EQ(link.mode, S_IFLNK | 0777U);
  EXPECT_EQ(link.symlink_target, "bin/keel");
  EXPECT_EQ(link.size, 8U);

  const CpioEntry& con = find(a, "dev/console");
  EXPECT_EQ(con.mode, S_IFCHR | 0600U);
  EXPECT_EQ(con.rdev_major, 5U);
  EXPECT_EQ(con.rdev_minor, 1U);
  EXPECT_EQ(con.gid, 5U);
  const CpioEntry& vda = find(a, "dev/vda");
  EXPECT_EQ(vda.mode, S_IFBLK | 0660U);
  EXPECT_EQ(vda.rdev_major, 254U);
  EXPECT_EQ(vda.rdev_minor, 0U);
  EXPECT_EQ(find(a, "dev/initctl").mode, S_IFIFO | 0620U);

  // Inodes are sequential from 1 and the archive's own device is 0.
  for (std::size_t i = 0, ino = 1; i < a.entries.size(); ++i) {
    const CpioEntry& e = a.entries[i];
    EXPECT_EQ(e.dev_major, 0U);
    EXPECT_EQ(e.dev_minor, 0U);
    EXPECT_EQ(e.header_offset % 4, 0U) << e.name;
    if (e.name == "bin/b" || e.name == "bin/c") continue;  // share bin/a's
    EXPECT_EQ(e.ino, ino) << e.name;
    ++ino;
  }
  EXPECT_EQ(bytes.size() % 512, 0U);
}

TEST(CpioWriter, HardLinkGroupCarriesDataOnLastEntryOnly) {
  const std::string bytes = sample_archive();
  const CpioArchive a = read_cpio(bytes);
  const CpioEntry& x = find(a, "bin/a");
  const CpioEntry& y = find(a, "bin/b");
  const CpioEntry& z = find(a, "bin/c");
  EXPECT_EQ(x.ino, y.ino);
  EXPECT_EQ(y.ino, z.ino);
  for (const CpioEntry* e : {&x, &y, &z}) {
    EXPECT_EQ(e->nlink, 3U);
    EXPECT_EQ(e->mode, S_IFREG | 0711U);
    EXPECT_EQ(e->uid, 3U);
    EXPECT_EQ(e->gid, 4U);
  }
  EXPECT_EQ(x.size, 0U);
  EXPECT_EQ(y.size, 0U);
  EXPECT_EQ(entry_data(bytes, z), "shared data!");
}

TEST(CpioWriter, ExactHeaderBytes) {
  std::string out;
  StringSink sink(out);
  CpioWriter w(sink);
  w.add_file("/a", {0644, 1, 2, 0x12345678}, "xyz");
  w.finish();
  // magic ino mode uid gid nlink mtime size devmaj devmin rmaj rmin namesize check
  // clang-format off
  const std::string header =
      "070701" "00000001" "000081A4" "00000001" "00000002" "00000001" "12345678"
      "00000003" "00000000" "00000000" "00000000" "00000000" "00000002" "00000000";
  // clang-format on
  ASSERT_EQ(header.size(), 110U);
  // 110 + "a\0" = 112 (aligned), then "xyz" + 1 pad.
  EXPECT_EQ(out.substr(0, 116), header + std::string("a\0", 2) + std::string("xyz\0", 4));
  // clang-format off
  const std::string trailer =
      "070701" "00000000" "00000000" "00000000" "00000000" "00000001" "00000000"
      "00000000" "00000000" "00000000" "00000000" "00000000" "0000000B" "00000000"
      "TRAILER!!!";
  // clang-format on
  EXPECT_EQ(out.substr(116, trailer.size()), trailer);
  EXPECT_EQ(out.size(), 512U);
  EXPECT_EQ(out.find_first_not_of('\0', 116 + trailer.size()), std::string::npos);
}

TEST(CpioWriter, SameInputGivesSameBytes) { EXPECT_EQ(sample_archive(), sample_archive()); }

TEST(CpioWriter, HostFileIsStreamedWithCallersMetadata) {
  TempDir dir;
  std::string data;
  for (int i = 0; i < 200000; ++i) data.push_back(static_cast<char>(i * 7 + i / 251));
  write_file(dir.path() / "big", data);
  ASSERT_EQ(::chmod((dir.path() / "big").c_str(), 0600), 0);

  std::string out;
  StringSink sink(out);
  CpioWriter w(sink);
  w.add_file("big", {0755, 123, 456, kTime}, HostFile{dir.path() / "big"});
  const std::vector<std::string> names = {"l1", "l2"};
  w.add_hard_links(names, {0644, 9, 9, kTime}, HostFile{dir.path() / "big"});
  w.finish();

  const CpioArchive a = read_cpio(out);
  ASSERT_EQ(a.entries.size(), 3U);
  EXPECT_EQ(a.entries[0].mode, S_IFREG | 0755U);  // not the host's 0600
  EXPECT_EQ(a.entries[0].uid, 123U);
  EXPECT_EQ(a.entries[0].gid, 456U);
  EXPECT_EQ(a.entries[0].mtime, kTime);
  EXPECT_EQ(entry_data(out, a.entries[0]), data);
  EXPECT_EQ(a.entries[1].size, 0U);
  EXPECT_EQ(entry_data(out, a.entries[2]), data);
}

TEST(CpioWriter, RefusesBadInput) {
  std::string out;
  StringSink sink(out);
  CpioWriter w(sink);
  EXPECT_THROW(w.add_file("x", {010644, 0, 0, 0}, ""), ImageError);  // type bits in mode
  EXPECT_THROW(w.add_file("/", {0644, 0, 0, 0}, ""), ImageError);
  EXPECT_THROW(w.add_file(std::string("a\0b", 3), {0644, 0, 0, 0}, ""), ImageError);
  EXPECT_THROW(w.add_file(std::string(5000, 'n'), {0644, 0, 0, 0}, ""), ImageError);
  EXPECT_THROW(w.add_file("TRAILER!!!", {0644, 0, 0, 0}, ""), ImageError);
  EXPECT_THROW(w.add_symlink("s", {0777, 0, 0, 0}, ""), ImageError);
  EXPECT_THROW(w.add_file("h", {0644, 0, 0, 0}, HostFile{"/nonexistent/keel"}), ImageError);
  EXPECT_THROW(w.add_file("h", {0644, 0, 0, 0}, HostFile{"/dev/null"}), ImageError);
  EXPECT_TRUE(out.empty());  // nothing half-written
  w.finish();
  EXPECT_THROW(w.add_directory("late", {0755, 0, 0, 0}), ImageError);
}

// ------------------------------------------------------------------ reader

std::string error_of(std::string_view bytes) {
  try {
    (void)read_cpio(bytes, "img");
  } catch (const ImageError& e) {
    EXPECT_EQ(e.where(), "img");
    return e.what();
  }
  return "no error";
}

TEST(CpioReader, BadMagicGivesOffset) {
  std::string bytes = sample_archive();
  EXPECT_EQ(error_of("07070X" + bytes.substr(6)), "cpio: bad magic '07070X' (expected newc 070701) at byte offset 0");
  // The second header starts after "bin": 110 + 4 = 114 → 116.
  bytes[116] = 'Z';
  EXPECT_EQ(error_of(bytes), "cpio: bad magic 'Z70701' (expected newc 070701) at byte offset 116");
}

TEST(CpioReader, TruncationGivesOffset) {
  const std::string bytes = sample_archive();
  EXPECT_EQ(error_of(bytes.substr(0, 50)), "cpio: archive truncated in a header (no trailer) at byte offset 0");
  EXPECT_EQ(error_of(bytes.substr(0, 112)), "cpio: archive truncated in a name (no trailer) at byte offset 110");
  const CpioArchive a = read_cpio(bytes);
  const CpioEntry& file = find(a, "etc/hostname");
  EXPECT_EQ(error_of(bytes.substr(0, file.data_offset + 2)),
            "cpio: archive truncated in file data (no trailer) at byte offset " + std::to_string(file.data_offset));
  // Everything but the trailer: the next header is missing.
  const std::size_t trailer_at = a.end - 124;  // 110 + "TRAILER!!!\0" (11) + 3 pad
  EXPECT_EQ(error_of(bytes.substr(0, trailer_at)),
            "cpio: archive truncated in a header (no trailer) at byte offset " + std::to_string(trailer_at));
}

TEST(CpioReader, NameOverflowAndBadFieldsGiveOffset) {
  std::string bytes = sample_archive();
  // namesize of the first entry ("bin\0" = 4) raised to 8: the name then
  // runs into the next header, whose byte 117 ('7') is not a NUL.
  std::string longer = bytes;
  longer.replace(6 + 11 * 8, 8, "00000008");
  EXPECT_EQ(error_of(longer), "cpio: name overflows its size (no NUL at its end) at byte offset 117");
  std::string zero = bytes;
  zero.replace(6 + 11 * 8, 8, "00000000");
  EXPECT_EQ(error_of(zero), "cpio: name size is 0 at byte offset 94");
  std::string huge = bytes;
  huge.replace(6 + 11 * 8, 8, "00100000");
  EXPECT_EQ(error_of(huge), "cpio: name size 1048576 exceeds PATH_MAX at byte offset 94");
  std::string nonhex = bytes;
  nonhex[6 + 8 + 3] = 'g';
  EXPECT_EQ(error_of(nonhex), "cpio: header field is not hex at byte offset 17");
}

TEST(CpioReader, StreamAndBufferAgree) {
  const std::string bytes = sample_archive();
  std::istringstream in(bytes);
  const CpioArchive s = read_cpio(in);
  const CpioArchive b = read_cpio(bytes);
  ASSERT_EQ(s.entries.size(), b.entries.size());
  for (std::size_t i = 0; i < s.entries.size(); ++i) {
    EXPECT_EQ(s.entries[i].name, b.entries[i].name);
    EXPECT_EQ(s.entries[i].data_offset, b.entries[i].data_offset);
    EXPECT_EQ(s.entries[i].symlink_target, b.entries[i].symlink_target);
  }
  EXPECT_EQ(s.end, b.end);
  std::istringstream cut(bytes.substr(0, 300));
  EXPECT_THROW((void)read_cpio(cut), ImageError);
}

// ------------------------------------------------------------ GNU cpio

TEST(CpioGnu, ListsOurArchive) {
  if (!have("cpio")) GTEST_SKIP() << "GNU cpio not installed";
  TempDir dir;
  write_file(dir.path() / "a.cpio", sample_archive());
  int rc = 0;
  const std::string names = run("cpio -it --quiet < " + quoted(dir.path() / "a.cpio") + " 2>&1", rc);
  EXPECT_EQ(rc, 0) << names;
  EXPECT_EQ(names,
            "bin\ndev\netc\netc/hostname\nbin/su\nempty\ninit\nbin/a\nbin/b\nbin/c\n"
            "dev/console\ndev/vda\ndev/initctl\ntmp\n");
  const std::string verbose = run("cpio -itvn --quiet < " + quoted(dir.path() / "a.cpio") + " 2>&1", rc);
  EXPECT_EQ(rc, 0) << verbose;
  std::istringstream lines(verbose);
  std::vector<std::string> got;
  for (std::string line; std::getline(lines, line);) got.push_back(line);
  ASSERT_EQ(got.size(), 14U) << verbose;
  // Mode, link count and numeric owners as GNU cpio reads them.
  EXPECT_EQ(got[3].substr(0, 14), "-rw-r--r--   1") << got[3];
  EXPECT_NE(got[3].find(" 1000 "), std::string::npos) << got[3];
  EXPECT_NE(got[3].find(" 1001 "), std::string::npos) << got[3];
  EXPECT_EQ(got[4].substr(0, 10), "-rwsr-xr-x");
  EXPECT_NE(got[6].find("init -> bin/keel"), std::string::npos) << got[6];
  EXPECT_EQ(got[9].substr(0, 14), "-rwx--x--x   3") << got[9];
  EXPECT_EQ(got[10].substr(0, 10), "crw-------");
  EXPECT_NE(got[10].find("5,"), std::string::npos) << got[10];
  EXPECT_EQ(got[11].substr(0, 10), "brw-rw----");
  EXPECT_NE(got[11].find("254,"), std::string::npos) << got[11];
  EXPECT_EQ(got[12].substr(0, 10), "prw--w----");
  EXPECT_EQ(got[13].substr(0, 10), "drwxrwxrwt");
}

TEST(CpioGnu, ExtractsWithOwnersModesLinksAndDevices) {
  if (!have("cpio")) GTEST_SKIP() << "GNU cpio not installed";
  if (::geteuid() != 0) GTEST_SKIP() << "extraction with owners and device nodes needs root";
  TempDir dir;
  write_file(dir.path() / "a.cpio", sample_archive());
  const fs::path root = dir.path() / "root";
  fs::create_directory(root);
  int rc = 0;
  const std::string out = run("cd " + quoted(root) + " && cpio -idm --no-absolute-filenames --quiet < " +
                                  quoted(dir.path() / "a.cpio") + " 2>&1",
                              rc);
  ASSERT_EQ(rc, 0) << out;

  struct stat st {};
  const auto stat_of = [&](const char* name) {
    st = {};
    EXPECT_EQ(::lstat((root / name).c_str(), &st), 0) << name;
    return st;
  };
  stat_of("etc/hostname");
  EXPECT_EQ(st.st_mode, S_IFREG | 0644U);
  EXPECT_EQ(st.st_uid, 1000U);
  EXPECT_EQ(st.st_gid, 1001U);
  EXPECT_EQ(st.st_mtime, static_cast<time_t>(kTime + 1));
  EXPECT_EQ(slurp(root / "etc/hostname"), "keel\n");
  stat_of("etc");
  EXPECT_EQ(st.st_mode, S_IFDIR | 0750U);
  EXPECT_EQ(st.st_gid, 42U);
  stat_of("bin/su");
  EXPECT_EQ(st.st_mode, S_IFREG | 04755U);
  stat_of("tmp");
  EXPECT_EQ(st.st_mode, S_IFDIR | 01777U);
  stat_of("empty");
  EXPECT_EQ(st.st_size, 0);
  EXPECT_EQ(st.st_uid, 7U);

  stat_of("init");
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(fs::read_symlink(root / "init"), "bin/keel");

  const struct stat a = stat_of("bin/a");
  const struct stat b = stat_of("bin/b");
  const struct stat c = stat_of("bin/c");
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(b.st_ino, c.st_ino);
  EXPECT_EQ(a.st_nlink, 3U);
  EXPECT_EQ(a.st_mode, S_IFREG | 0711U);
  EXPECT_EQ(slurp(root / "bin/a"), "shared data!");

  stat_of("dev/console");
  EXPECT_EQ(st.st_mode, S_IFCHR | 0600U);
  EXPECT_EQ(st.st_rdev, makedev(5, 1));
  EXPECT_EQ(st.st_gid, 5U);
  stat_of("dev/vda");
  EXPECT_EQ(st.st_mode, S_IFBLK | 0660U);
  EXPECT_EQ(st.st_rdev, makedev(254, 0));
  stat_of("dev/initctl");
  EXPECT_EQ(st.st_mode, S_IFIFO | 0620U);
}

// ------------------------------------------------------------- listing

TEST(CpioListing, KnownArchiveExactLines) {
  const std::vector<std::string> expected = {
      "drwxr-xr-x   2 0     0             0 2024-01-01 00:00:00 bin",
      "drwxr-xr-x   2 0     0             0 2024-01-01 00:00:00 dev",
      "drwxr-x---   2 0     42            0 2024-01-01 00:00:00 etc",
      "-rw-r--r--   1 1000  1001          5 2024-01-01 00:00:01 etc/hostname",
      "-rwsr-xr-x   1 0     0            17 2024-01-01 00:00:00 bin/su",
      "-rw-------   1 7     8             0 2024-01-01 00:00:00 empty",
      "lrwxrwxrwx   1 0     0             8 2024-01-01 00:00:00 init -> bin/keel",
      "-rwx--x--x   3 3     4             0 2024-01-01 00:00:00 bin/a",
      "-rwx--x--x   3 3     4             0 2024-01-01 00:00:00 bin/b",
      "-rwx--x--x   3 3     4            12 2024-01-01 00:00:00 bin/c",
      "crw-------   1 0     5       5,    1 2024-01-01 00:00:00 dev/console",
      "brw-rw----   1 0     6     254,    0 2024-01-01 00:00:00 dev/vda",
      "prw--w----   1 0     0             0 2024-01-01 00:00:00 dev/initctl",
      "drwxrwxrwt   2 0     0             0 2024-01-01 00:00:00 tmp",
  };
  EXPECT_EQ(list_image(sample_archive()), expected);
}

TEST(CpioListing, ModeStrings) {
  EXPECT_EQ(mode_string(S_IFREG | 06755), "-rwsr-sr-x");
  EXPECT_EQ(mode_string(S_IFREG | 06644), "-rwSr-Sr--");
  EXPECT_EQ(mode_string(S_IFDIR | 01777), "drwxrwxrwt");
  EXPECT_EQ(mode_string(S_IFDIR | 01776), "drwxrwxrwT");
  EXPECT_EQ(mode_string(S_IFSOCK | 0755), "srwxr-xr-x");
  EXPECT_EQ(mode_string(0), "?---------");
}

TEST(CpioListing, ConcatenatedArchivesAreAllListed) {
  // An early-microcode archive followed by the main one, as bootloaders
  // and dracut lay them out: each archive is padded, then the next starts.
  std::string first;
  {
    StringSink sink(first);
    CpioWriter w(sink);
    w.add_directory("kernel", {0755, 0, 0, 0});
    w.finish();
  }
  const std::string both = first + std::string(512, '\0') + sample_archive();
  const std::vector<std::string> lines = list_image(both);
  ASSERT_EQ(lines.size(), 15U);
  EXPECT_EQ(lines[0], "drwxr-xr-x   2 0     0             0 1970-01-01 00:00:00 kernel");
  EXPECT_EQ(lines[1], "drwxr-xr-x   2 0     0             0 2024-01-01 00:00:00 bin");
}

}  // namespace
}  // namespace keel::image
