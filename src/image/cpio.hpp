// cpio.hpp — the newc ("070701") cpio archive, the format of an initramfs.
//
// The kernel's initramfs unpacker (init/initramfs.c) reads newc archives:
// a 110-byte header of ASCII hex fields, the NUL-terminated name padded so
// that header+name is a multiple of 4, the data padded to 4, and a final
// entry named "TRAILER!!!". keel-image writes them itself, without root:
// every owner, mode and time comes from the caller (the spec), never from
// a host file, and inode numbers are sequential, so the same sequence of
// additions always gives the same bytes (reproducible images).
//
// The reader is for `keel-image ls` and for tests: it parses an archive
// into entries and reports a malformed one as an ImageError that names the
// byte offset where the problem is.
#pragma once

#include <cstdint>
#include <filesystem>
#include <istream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace keel::image {

// Where archive bytes go. The writer only appends, so a compressor can wrap
// any sink (compress.hpp). Bytes are carried in string_views: raw bytes,
// not text. finish() is called once, after the last write; a sink that
// wraps another finishes it too.
class Sink {
 public:
  Sink() = default;
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;
  virtual ~Sink() = default;
  virtual void write(std::string_view bytes) = 0;
  virtual void finish() {}
};

// Appends to a string the caller owns (tests, `ls`, small images).
class StringSink final : public Sink {
 public:
  explicit StringSink(std::string& out) : out_(out) {}
  void write(std::string_view bytes) override { out_.append(bytes); }

 private:
  std::string& out_;
};

// Creates (truncates) a file and writes to it; finish() fsyncs nothing but
// closes the file and reports a failed close (a full disk shows up there).
class FileSink final : public Sink {
 public:
  explicit FileSink(const std::filesystem::path& path);
  ~FileSink() override;
  void write(std::string_view bytes) override;
  void finish() override;

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

// What the caller states about every entry. `mode` holds permission bits
// only (07777, setuid/setgid/sticky included); the writer adds the type.
// newc fields are 32 bits wide, so mtime is seconds since 1970 up to 2106.
struct Metadata {
  std::uint32_t mode = 0;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::uint32_t mtime = 0;
};

// A regular file's contents taken from the host, streamed in chunks when
// the entry is written (only its bytes are used: not its owner, mode, time).
struct HostFile {
  std::filesystem::path path;
};

// Writes one archive. Names are archive paths: a leading "/" is dropped
// (the kernel unpacks relative to rootfs), and the name must be non-empty,
// without NUL, and at most PATH_MAX-1 bytes. Parent directories are not
// added implicitly: the caller adds them first. Problems (a name or a field
// that does not fit, an unreadable host file) throw ImageError.
class CpioWriter {
 public:
  explicit CpioWriter(Sink& sink) : sink_(sink) {}

  void add_file(std::string_view name, const Metadata& meta, std::string_view data);
  void add_file(std::string_view name, const Metadata& meta, const HostFile& source);
  void add_directory(std::string_view name, const Metadata& meta);
  void add_symlink(std::string_view name, const Metadata& meta, std::string_view target);
  // One file under several names. In newc the entries share an inode
  // number and carry nlink = names.size(); only the LAST one carries the
  // data, the earlier ones have size 0 (what GNU cpio writes, and what the
  // kernel expects: it links each later name to the first and writes the
  // data through the last).
  void add_hard_links(std::span<const std::string> names, const Metadata& meta, std::string_view data);
  void add_hard_links(std::span<const std::string> names, const Metadata& meta, const HostFile& source);
  void add_char_device(std::string_view name, const Metadata& meta, std::uint32_t major, std::uint32_t minor);
  void add_block_device(std::string_view name, const Metadata& meta, std::uint32_t major, std::uint32_t minor);
  void add_fifo(std::string_view name, const Metadata& meta);

  // Writes the trailer, pads the archive to a multiple of 512 bytes (as
  // gen_init_cpio and GNU cpio do), and finishes the sink. Nothing may be
  // added afterwards.
  void finish();

  // Bytes handed to the sink so far (before any compression).
  [[nodiscard]] std::uint64_t bytes_written() const noexcept { return offset_; }

 private:
  struct Header {
    std::uint32_t ino = 0;
    std::uint32_t mode = 0;  // type | permissions
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::uint32_t nlink = 1;
    std::uint32_t mtime = 0;
    std::uint64_t size = 0;
    std::uint32_t rdev_major = 0;
    std::uint32_t rdev_minor = 0;
  };
  void check_open() const;
  void write_header(std::string_view name, const Header& h);
  void write_data(std::string_view data);
  void write_host_data(const HostFile& source, int fd, std::uint64_t size);
  void pad_to(std::uint64_t alignment);
  void emit(std::string_view bytes);
  Header header_for(const Metadata& meta, std::uint32_t type);
  void add_device(std::string_view name, const Metadata& meta, std::uint32_t type, std::uint32_t major,
                  std::uint32_t minor);

  Sink& sink_;
  std::uint64_t offset_ = 0;
  std::uint32_t next_ino_ = 1;  // 0 is the trailer's
  bool finished_ = false;
};

// One entry as read back. `data_offset` is where the entry's data starts in
// the (uncompressed) archive; `header_offset` where its header starts.
struct CpioEntry {
  std::string name;
  std::uint32_t ino = 0;
  std::uint32_t mode = 0;  // type | permissions, as in st_mode
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::uint32_t nlink = 0;
  std::uint32_t mtime = 0;
  std::uint64_t size = 0;
  std::uint32_t dev_major = 0;
  std::uint32_t dev_minor = 0;
  std::uint32_t rdev_major = 0;
  std::uint32_t rdev_minor = 0;
  std::string symlink_target;  // the data of a symlink entry, else empty
  std::uint64_t header_offset = 0;
  std::uint64_t data_offset = 0;
};

struct CpioArchive {
  std::vector<CpioEntry> entries;  // the trailer excluded
  std::uint64_t end = 0;           // offset just past the trailer's header and name (data size 0)
};

// Parses one archive up to and including its trailer. Accepts the "070701"
// magic and also "070702" (newc with checksums, which GNU cpio writes with
// -H crc and newer kernels unpack); the 070702 checksum is not verified.
// Throws ImageError(where, 0, "... at byte offset N") on a bad magic, a
// field that is not hex, a name size of 0 or over PATH_MAX, a name not
// ending in NUL where its size says, or an archive that ends early (no
// trailer included).
[[nodiscard]] CpioArchive read_cpio(std::string_view archive, std::string_view where = "");
[[nodiscard]] CpioArchive read_cpio(std::istream& in, std::string_view where = "");

// The bytes of an entry read from `archive` (a regular file's contents).
[[nodiscard]] std::string_view entry_data(std::string_view archive, const CpioEntry& entry);

}  // namespace keel::image
