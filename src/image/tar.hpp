// tar.hpp — a reproducible POSIX tar (ustar, with pax headers only where
// ustar cannot hold a value), the format of an OCI layer and of a
// docker-archive.
//
// Why not libarchive: keel-image already has the Sink chain (compressors,
// counters, hashes) an archive streams through, and every field has to come
// from the caller — no host owner, time or inode may leak into a layer whose
// digest names it. A writer of 512-byte headers is a page of code that does
// exactly that; libarchive would add a library (and its pax writer's own
// choices of extended records) to keep under the same control.
//
// What each entry holds, and nothing else: the name (relative, "etc/passwd";
// directories end in "/"), the mode's permission bits, numeric uid and gid
// with empty user and group names (a runtime then uses the numbers), the
// mtime the caller gives, the size, a link target, device numbers. A name
// that does not fit ustar's 100 + 155 bytes, a link target over 100 bytes,
// a size from 8 GiB or an id from 2^21 gets a pax 'x' header before its
// entry (named "PaxHeader/<name>", no time in it). The archive ends with the
// two zero blocks POSIX asks for, no padding to a 10 KiB record (readers do
// not need it, and it would only grow a layer).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "image/cpio.hpp"

namespace keel::image {

class TarWriter {
 public:
  explicit TarWriter(Sink& sink) : sink_(sink) {}

  // Names are image paths ("/etc/passwd") or archive paths ("etc/passwd");
  // leading slashes are dropped. Parents are not added implicitly.
  void add_file(std::string_view name, const Metadata& meta, std::string_view data);
  void add_file(std::string_view name, const Metadata& meta, const HostFile& source);
  void add_directory(std::string_view name, const Metadata& meta);
  void add_symlink(std::string_view name, const Metadata& meta, std::string_view target);
  // Another name for a file written earlier in this archive (`target` is
  // that file's name, as given to add_file).
  void add_hard_link(std::string_view name, const Metadata& meta, std::string_view target);
  void add_char_device(std::string_view name, const Metadata& meta, std::uint32_t major, std::uint32_t minor);
  void add_block_device(std::string_view name, const Metadata& meta, std::uint32_t major, std::uint32_t minor);
  void add_fifo(std::string_view name, const Metadata& meta);

  // The two zero blocks; finishes the sink. Nothing may be added afterwards.
  void finish();

  [[nodiscard]] std::uint64_t bytes_written() const noexcept { return offset_; }

 private:
  struct Header {
    std::string name;  // archive name (a directory's with its "/")
    char type = '0';
    Metadata meta;
    std::uint64_t size = 0;
    std::string link;  // symlink or hard-link target
    std::uint32_t major = 0;
    std::uint32_t minor = 0;
  };
  void write_header(const Header& h);
  void emit(std::string_view bytes);
  void pad();
  void check_open() const;

  Sink& sink_;
  std::uint64_t offset_ = 0;
  bool finished_ = false;
};

}  // namespace keel::image
