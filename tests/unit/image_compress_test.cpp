// Compressed images must be readable by the standard tools (and so by the
// kernel's decompressors, which implement the same formats), byte-identical
// from build to build, and within the kernel's zstd window limit.
#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_getFrameHeader, to check what the kernel will see
#include <gtest/gtest.h>
#include <zstd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "image/compress.hpp"
#include "image/cpio.hpp"
#include "image/diagnostic.hpp"
#include "image/listing.hpp"
#include "test_util.hpp"

namespace keel::image {
namespace {

using testutil::have;
using testutil::run;
using testutil::write_file;

// A scratch directory, keel-compress-XXXXXX.
struct TempDir : testutil::TempDir {
  TempDir() : testutil::TempDir("keel-compress-") {}
};

// zstd at level 19 sets up ~100 MB of match tables per stream
// (its size is unknown when streaming), about 0.1 s; tests where the level
// does not matter use a fast one to stay quick.
constexpr int kFast = 3;

// A small archive with compressible and incompressible content.
std::string archive() {
  std::string out;
  StringSink sink(out);
  CpioWriter w(sink);
  w.add_directory("etc", {0755, 0, 0, 1704067200});
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "line " + std::to_string(i) + " of a config file\n";
  w.add_file("etc/big.conf", {0644, 0, 0, 1704067200}, text);
  std::string noise;
  std::uint32_t x = 12345;
  for (int i = 0; i < 50000; ++i) {
    x = x * 1103515245U + 12345U;
    noise.push_back(static_cast<char>(x >> 24));
  }
  w.add_file("noise", {0600, 0, 0, 1704067200}, noise);
  w.add_symlink("init", {0777, 0, 0, 1704067200}, "bin/keel");
  w.finish();
  return out;
}

std::string compressed(Compression c, const std::string& data, int level = 0) {
  std::string out;
  StringSink sink(out);
  auto z = make_compressor(c, sink, level);
  // Uneven pieces, as the writer hands them over.
  for (std::size_t pos = 0; pos < data.size(); pos += 777) z->write(std::string_view(data).substr(pos, 777));
  z->finish();
  return out;
}

// An archive written straight through a compressor, as keel-image does.
std::string written_through(Compression c, int level = 0) {
  std::string out;
  StringSink file(out);
  auto z = make_compressor(c, file, level);
  CpioWriter w(*z);
  w.add_directory("dev", {0755, 0, 0, 0});
  w.add_char_device("dev/console", {0600, 0, 0, 0}, 5, 1);
  w.add_file("hello", {0644, 0, 0, 0}, "hello\n");
  w.finish();  // finishes the compressor, which finishes `file`
  return out;
}

std::string tool_decompress(const std::string& tool, const std::string& data, int& rc) {
  TempDir dir;
  write_file(dir.path() / "in", data);
  return run(tool + " -dc '" + (dir.path() / "in").string() + "'", rc);
}

// ------------------------------------------------------------------ gzip

TEST(CompressGzip, GzipToolDecompresses) {
  if (!have("gzip")) GTEST_SKIP() << "gzip not installed";
  const std::string plain = archive();
  const std::string gz = compressed(Compression::Gzip, plain);
  EXPECT_LT(gz.size(), plain.size());
  int rc = 0;
  EXPECT_EQ(tool_decompress("gzip", gz, rc), plain);
  EXPECT_EQ(rc, 0);
}

TEST(CompressGzip, HeaderIsFixed) {
  const std::string gz = compressed(Compression::Gzip, archive(), 9);
  // ID1 ID2 CM=8 FLG=0 (no name, no comment) MTIME=0 XFL=2 (level 9) OS=3 (Unix)
  const std::string expected("\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03", 10);
  EXPECT_EQ(gz.substr(0, 10), expected);
  // XFL says "fastest" for level 1 and nothing for the default 6; the rest is the same.
  EXPECT_EQ(compressed(Compression::Gzip, archive(), 1).substr(0, 10), expected.substr(0, 8) + "\x04\x03");
  EXPECT_EQ(compressed(Compression::Gzip, archive()).substr(0, 10), expected.substr(0, 8) + std::string("\x00\x03", 2));
}

TEST(CompressGzip, Reproducible) {
  const std::string plain = archive();
  EXPECT_EQ(compressed(Compression::Gzip, plain), compressed(Compression::Gzip, plain));
  EXPECT_EQ(written_through(Compression::Gzip), written_through(Compression::Gzip));
}

TEST(CompressGzip, LevelsAreChecked) {
  std::string out;
  StringSink sink(out);
  EXPECT_THROW((void)make_compressor(Compression::Gzip, sink, 10), ImageError);
  EXPECT_THROW((void)make_compressor(Compression::Gzip, sink, -1), ImageError);
  EXPECT_EQ(decompress(compressed(Compression::Gzip, "abc", 1)), "abc");
}

// ------------------------------------------------------------------ zstd

TEST(CompressZstd, ZstdToolDecompresses) {
  if (!have("zstd")) GTEST_SKIP() << "zstd CLI not installed";
  const std::string plain = archive();
  const std::string zst = compressed(Compression::Zstd, plain);
  EXPECT_LT(zst.size(), plain.size());
  int rc = 0;
  EXPECT_EQ(tool_decompress("zstd -q", zst, rc), plain);
  EXPECT_EQ(rc, 0);
}

TEST(CompressZstd, OneFrameWithChecksumAndKernelSizedWindow) {
  const std::string zst = compressed(Compression::Zstd, archive());
  EXPECT_EQ(ZSTD_findFrameCompressedSize(zst.data(), zst.size()), zst.size());  // a single frame
  ZSTD_frameHeader header{};
  ASSERT_EQ(ZSTD_getFrameHeader(&header, zst.data(), zst.size()), 0U);
  EXPECT_EQ(header.frameType, ZSTD_frame);
  EXPECT_EQ(header.checksumFlag, 1U);
  EXPECT_EQ(header.windowSize, 1ULL << 23);
  // Level 20 would choose a 2^25 window on its own (a streamed input's size
  // is unknown, so the window is not shrunk to fit "x"); it stays at 2^23.
  const std::string max = compressed(Compression::Zstd, "x", 20);
  ASSERT_EQ(ZSTD_getFrameHeader(&header, max.data(), max.size()), 0U);
  EXPECT_EQ(header.windowSize, 1ULL << 23);
}

TEST(CompressZstd, Reproducible) {
  const std::string plain = archive();
  EXPECT_EQ(compressed(Compression::Zstd, plain, kFast), compressed(Compression::Zstd, plain, kFast));
  EXPECT_EQ(written_through(Compression::Zstd), written_through(Compression::Zstd));  // the default level
  EXPECT_EQ(written_through(Compression::Zstd, 19), written_through(Compression::Zstd, 19));
  EXPECT_NE(written_through(Compression::Zstd, 1), written_through(Compression::Zstd, 19));
}

// -------------------------------------------------------------------- xz

TEST(CompressXz, XzToolDecompresses) {
  const std::string plain = archive();
  const std::string xz = compressed(Compression::Xz, plain);
  EXPECT_LT(xz.size(), plain.size());
  int rc = 0;
  EXPECT_EQ(tool_decompress("xz", xz, rc), plain);
  EXPECT_EQ(rc, 0);
}

// What the kernel's xz decoder needs (lib/xz): the CRC32 check, not xz's
// default CRC64; LZMA2 behind the x86 filter (XZ_DEC_X86); the fixed
// 16 MiB dictionary at every level, so a higher level never asks the
// booting machine for more memory. Read back with xz's own listing.
TEST(CompressXz, KernelCheckFilterAndDictionaryAtEveryLevel) {
  for (const int level : {1, 6, 9}) {
    TempDir dir;
    write_file(dir.path() / "a.xz", compressed(Compression::Xz, archive(), level));
    int rc = 0;
    const std::string listing = run("xz --robot -lvv '" + (dir.path() / "a.xz").string() + "'", rc);
    ASSERT_EQ(rc, 0) << listing;
    EXPECT_NE(listing.find("\tCRC32\t"), std::string::npos) << listing;
    EXPECT_NE(listing.find("--x86 --lzma2=dict=16MiB"), std::string::npos) << "level " << level << ": " << listing;
    EXPECT_EQ(listing.find("CRC64"), std::string::npos) << listing;
  }
}

TEST(CompressXz, ReproducibleAndLevelsAreChecked) {
  EXPECT_EQ(written_through(Compression::Xz), written_through(Compression::Xz));
  EXPECT_NE(written_through(Compression::Xz, 1), written_through(Compression::Xz, 9));
  std::string out;
  StringSink sink(out);
  EXPECT_THROW((void)make_compressor(Compression::Xz, sink, 10), ImageError);
  EXPECT_THROW((void)make_compressor(Compression::Xz, sink, -1), ImageError);
  EXPECT_EQ(parse_compression("xz"), Compression::Xz);
  EXPECT_EQ(compression_name(Compression::Xz), "xz");
}

// --------------------------------------------------------- decompression

TEST(CompressDetect, ByMagic) {
  EXPECT_EQ(detect_compression(std::string("\x1f\x8b", 2)), Compression::Gzip);
  EXPECT_EQ(detect_compression(std::string("\x28\xb5\x2f\xfd", 4)), Compression::Zstd);
  EXPECT_EQ(detect_compression(std::string("\xfd"
                                           "7zXZ\0",
                                           6)),
            Compression::Xz);
  EXPECT_EQ(detect_compression(std::string("\xfd"
                                           "7zXZ",
                                           5)),
            Compression::None);
  EXPECT_EQ(detect_compression("070701"), Compression::None);
  EXPECT_EQ(detect_compression(""), Compression::None);
  EXPECT_EQ(detect_compression(std::string("\x28\xb5\x2f", 3)), Compression::None);
}

TEST(CompressDetect, DecompressesEveryFormat) {
  const std::string plain = archive();
  EXPECT_EQ(decompress(plain), plain);
  EXPECT_EQ(decompress(compressed(Compression::None, plain)), plain);
  EXPECT_EQ(decompress(compressed(Compression::Gzip, plain)), plain);
  EXPECT_EQ(decompress(compressed(Compression::Zstd, plain, kFast)), plain);
  // Several members/frames, as concatenated images are, and block padding.
  EXPECT_EQ(decompress(compressed(Compression::Gzip, "ab") + compressed(Compression::Gzip, "cd")), "abcd");
  EXPECT_EQ(decompress(compressed(Compression::Zstd, "ab", kFast) + compressed(Compression::Zstd, "cd", kFast)),
            "abcd");
  EXPECT_EQ(decompress(compressed(Compression::Gzip, "ab") + std::string(100, '\0')), "ab");
  EXPECT_EQ(decompress(compressed(Compression::Zstd, "ab", kFast) + std::string(100, '\0')), "ab");
  EXPECT_EQ(decompress(compressed(Compression::Xz, plain, 1)), plain);
  EXPECT_EQ(decompress(compressed(Compression::Xz, "ab", 1) + compressed(Compression::Xz, "cd", 1)), "abcd");
  EXPECT_EQ(decompress(compressed(Compression::Xz, "ab", 1) + std::string(100, '\0')), "ab");
}

TEST(CompressDetect, CorruptInputThrows) {
  const std::string plain = archive();
  const std::string gz = compressed(Compression::Gzip, plain);
  const std::string zst = compressed(Compression::Zstd, plain, kFast);
  EXPECT_THROW((void)decompress(gz.substr(0, gz.size() / 2), "img"), ImageError);
  EXPECT_THROW((void)decompress(zst.substr(0, zst.size() / 2), "img"), ImageError);
  std::string bad = gz;
  bad[3] = '\xff';  // reserved flag bits
  EXPECT_THROW((void)decompress(bad), ImageError);
  const std::string xz = compressed(Compression::Xz, plain, 1);
  EXPECT_THROW((void)decompress(xz.substr(0, xz.size() / 2), "img"), ImageError);
  std::string xz_flipped = xz;
  xz_flipped[xz.size() / 2] = static_cast<char>(xz_flipped[xz.size() / 2] ^ 0x55);
  EXPECT_THROW((void)decompress(xz_flipped), ImageError);
  std::string flipped = zst;
  flipped[flipped.size() - 2] = static_cast<char>(flipped[flipped.size() - 2] ^ 0x55);  // checksum
  EXPECT_THROW((void)decompress(flipped), ImageError);
  try {
    (void)decompress(gz.substr(0, 20), "img.gz");
    ADD_FAILURE() << "no error";
  } catch (const ImageError& e) {
    EXPECT_EQ(e.where(), "img.gz");
  }
}

TEST(CompressDetect, Names) {
  EXPECT_EQ(compression_name(Compression::Zstd), "zstd");
  EXPECT_EQ(parse_compression("gzip"), Compression::Gzip);
  EXPECT_EQ(parse_compression("none"), Compression::None);
  EXPECT_THROW((void)parse_compression("lz4"), ImageError);
  EXPECT_EQ(default_level(Compression::Xz), 6);
  EXPECT_EQ(max_level(Compression::Xz), 9);
  EXPECT_EQ(default_level(Compression::Gzip), 6);
  EXPECT_EQ(default_level(Compression::Zstd), 9);
  EXPECT_EQ(max_level(Compression::Gzip), 9);
  EXPECT_EQ(max_level(Compression::Zstd), 22);
  EXPECT_EQ(max_level(Compression::None), 0);
}

// -------------------------------------------------------------- listing

TEST(CompressListing, CompressedImagesListLikeTheArchive) {
  const std::vector<std::string> expected = {
      "drwxr-xr-x   2 0     0             0 1970-01-01 00:00:00 dev",
      "crw-------   1 0     0       5,    1 1970-01-01 00:00:00 dev/console",
      "-rw-r--r--   1 0     0             6 1970-01-01 00:00:00 hello",
  };
  EXPECT_EQ(list_image(written_through(Compression::None)), expected);
  EXPECT_EQ(list_image(written_through(Compression::Gzip)), expected);
  EXPECT_EQ(list_image(written_through(Compression::Zstd, kFast)), expected);
  // Uncompressed early archive + compressed main archive.
  const std::vector<std::string> both =
      list_image(written_through(Compression::None) + written_through(Compression::Zstd, kFast));
  ASSERT_EQ(both.size(), 6U);
  EXPECT_EQ(both[3], expected[0]);
}

}  // namespace
}  // namespace keel::image
