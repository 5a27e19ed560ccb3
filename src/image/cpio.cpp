// cpio.cpp — newc writer and reader (see cpio.hpp for the format and why
// every field comes from the caller).
#include "image/cpio.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>

#include "image/diagnostic.hpp"

namespace keel::image {

namespace {

constexpr std::size_t kHeaderSize = 110;
constexpr std::string_view kMagic = "070701";
constexpr std::string_view kMagicCrc = "070702";
constexpr std::string_view kTrailer = "TRAILER!!!";
// The kernel skips a name longer than PATH_MAX (with its NUL); refusing it
// here turns a silently missing file into an error at build time.
constexpr std::uint32_t kPathMax = 4096;
// Host files are streamed through a buffer of this size, so an image can
// hold files larger than the memory keel-image is willing to use.
constexpr std::size_t kChunk = std::size_t{64} * 1024;

// Where header field `index` (0 = ino ... 12 = check) starts in a header.
constexpr std::uint64_t field_offset(std::uint64_t index) { return 6 + index * 8; }
constexpr std::uint64_t kNamesizeField = field_offset(11);
constexpr std::uint64_t kFilesizeField = field_offset(6);

std::string errno_text(int err) { return std::strerror(err); }

// Appends `value` as 8 uppercase hex digits (gen_init_cpio's spelling).
void put_hex8(std::string& out, std::uint32_t value) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  for (int shift = 28; shift >= 0; shift -= 4) out.push_back(kDigits[(value >> shift) & 0xF]);
}

std::uint64_t padding(std::uint64_t offset, std::uint64_t alignment) {
  return (alignment - offset % alignment) % alignment;
}

// The archive path of `name`: without leading slashes, checked.
std::string_view archive_name(std::string_view name) {
  const std::string_view given = name;
  while (!name.empty() && name.front() == '/') name.remove_prefix(1);
  if (name.empty()) throw ImageError("cpio: empty archive name '" + std::string(given) + "'");
  if (name.find('\0') != std::string_view::npos) throw ImageError("cpio: archive name contains a NUL byte");
  if (name.size() + 1 > kPathMax) {
    throw ImageError("cpio: archive name longer than PATH_MAX (" + std::to_string(kPathMax) +
                     " bytes with its NUL): '" + std::string(name.substr(0, 64)) + "...'");
  }
  if (name == kTrailer) throw ImageError("cpio: 'TRAILER!!!' would end the archive; it cannot be an entry name");
  return name;
}

std::uint64_t checked_size(std::uint64_t size, std::string_view name) {
  if (size > std::numeric_limits<std::uint32_t>::max()) {
    throw ImageError("cpio: '" + std::string(name) + "' is " + std::to_string(size) +
                     " bytes; newc entries hold at most 4 GiB - 1");
  }
  return size;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Fd& operator=(Fd&&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const noexcept { return fd_; }

 private:
  int fd_;
};

// Opens a host file for an entry's data and returns its size; it must be
// a regular file (a device or FIFO here is a spec mistake, not data).
Fd open_host_file(const HostFile& source, std::uint64_t& size) {
  Fd fd(::open(source.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) throw ImageError(source.path.string(), 0, "cannot open: " + errno_text(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw ImageError(source.path.string(), 0, "cannot stat: " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) throw ImageError(source.path.string(), 0, "not a regular file");
  size = static_cast<std::uint64_t>(st.st_size);
  return fd;
}

// ------------------------------------------------------------------ reader

// The reader parses from either a buffer or a stream through this, so
// there is one parser and every error carries the same kind of offset.
class Source {
 public:
  Source() = default;
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;
  virtual ~Source() = default;
  // Reads up to n bytes; fewer only at the end.
  virtual std::size_t read(char* out, std::size_t n) = 0;
  // Skips up to n bytes; returns how many were skipped.
  virtual std::uint64_t skip(std::uint64_t n) = 0;
};

class BufferSource final : public Source {
 public:
  explicit BufferSource(std::string_view data) : data_(data) {}
  std::size_t read(char* out, std::size_t n) override {
    const std::size_t take = std::min(n, data_.size() - pos_);
    std::memcpy(out, data_.data() + pos_, take);
    pos_ += take;
    return take;
  }
  std::uint64_t skip(std::uint64_t n) override {
    const std::uint64_t take = std::min<std::uint64_t>(n, data_.size() - pos_);
    pos_ += static_cast<std::size_t>(take);
    return take;
  }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
};

class StreamSource final : public Source {
 public:
  explicit StreamSource(std::istream& in) : in_(in) {}
  std::size_t read(char* out, std::size_t n) override {
    in_.read(out, static_cast<std::streamsize>(n));
    return static_cast<std::size_t>(in_.gcount());
  }
  std::uint64_t skip(std::uint64_t n) override {
    std::array<char, 8192> scratch{};
    std::uint64_t done = 0;
    while (done < n) {
      const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(scratch.size(), n - done));
      const std::size_t got = read(scratch.data(), want);
      done += got;
      if (got < want) break;
    }
    return done;
  }

 private:
  std::istream& in_;
};

class Parser {
 public:
  Parser(Source& source, std::string_view where) : src_(source), where_(where) {}

  CpioArchive parse() {
    CpioArchive archive;
    for (;;) {
      CpioEntry entry = next();
      if (entry.name == kTrailer) {
        archive.end = offset_;
        return archive;
      }
      archive.entries.push_back(std::move(entry));
    }
  }

 private:
  [[noreturn]] void fail(std::uint64_t at, const std::string& what) const {
    throw ImageError(std::string(where_), 0, "cpio: " + what + " at byte offset " + std::to_string(at));
  }

  void read_exact(char* out, std::size_t n, std::string_view what) {
    const std::uint64_t at = offset_;
    const std::size_t got = src_.read(out, n);
    offset_ += got;
    if (got < n) fail(at, "archive truncated in " + std::string(what) + " (no trailer)");
  }

  void skip_exact(std::uint64_t n, std::string_view what) {
    const std::uint64_t at = offset_;
    const std::uint64_t got = src_.skip(n);
    offset_ += got;
    if (got < n) fail(at, "archive truncated in " + std::string(what) + " (no trailer)");
  }

  std::uint32_t hex_field(const char* header, std::size_t index, std::uint64_t header_at) {
    const std::size_t pos = static_cast<std::size_t>(field_offset(index));
    std::uint32_t value = 0;
    for (std::size_t i = 0; i < 8; ++i) {
      const char c = header[pos + i];
      std::uint32_t digit = 0;
      if (c >= '0' && c <= '9') {
        digit = static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        digit = static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        digit = static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        fail(header_at + pos + i, "header field is not hex");
      }
      value = (value << 4) | digit;
    }
    return value;
  }

  CpioEntry next() {
    // Zero padding may sit before a header only after the trailer (between
    // concatenated archives); inside one archive every header is aligned.
    std::array<char, kHeaderSize> header{};
    CpioEntry e;
    e.header_offset = offset_;
    read_exact(header.data(), header.size(), "a header");
    const std::string_view magic(header.data(), 6);
    if (magic != kMagic && magic != kMagicCrc) {
      std::string shown;
      for (const char c : magic) shown += (c >= 0x20 && c < 0x7f) ? c : '?';
      fail(e.header_offset, "bad magic '" + shown + "' (expected newc 070701)");
    }
    const std::uint64_t h = e.header_offset;
    e.ino = hex_field(header.data(), 0, h);
    e.mode = hex_field(header.data(), 1, h);
    e.uid = hex_field(header.data(), 2, h);
    e.gid = hex_field(header.data(), 3, h);
    e.nlink = hex_field(header.data(), 4, h);
    e.mtime = hex_field(header.data(), 5, h);
    e.size = hex_field(header.data(), 6, h);
    e.dev_major = hex_field(header.data(), 7, h);
    e.dev_minor = hex_field(header.data(), 8, h);
    e.rdev_major = hex_field(header.data(), 9, h);
    e.rdev_minor = hex_field(header.data(), 10, h);
    const std::uint32_t namesize = hex_field(header.data(), 11, h);
    (void)hex_field(header.data(), 12, h);  // check: validated as hex only

    const std::uint64_t name_at = offset_;
    if (namesize == 0) fail(h + kNamesizeField, "name size is 0");
    if (namesize > kPathMax) fail(h + kNamesizeField, "name size " + std::to_string(namesize) + " exceeds PATH_MAX");
    std::string name(namesize, '\0');
    read_exact(name.data(), name.size(), "a name");
    if (name.back() != '\0') fail(name_at + namesize - 1, "name overflows its size (no NUL at its end)");
    name.pop_back();
    if (name.find('\0') != std::string::npos) fail(name_at + name.find('\0'), "name contains a NUL before its end");
    e.name = std::move(name);
    skip_exact(padding(offset_, 4), "name padding");

    e.data_offset = offset_;
    if (e.name == kTrailer) return e;
    if ((e.mode & S_IFMT) == S_IFLNK) {
      if (e.size >= kPathMax) fail(h + kFilesizeField, "symlink target longer than PATH_MAX");
      e.symlink_target.resize(static_cast<std::size_t>(e.size));
      read_exact(e.symlink_target.data(), e.symlink_target.size(), "a symlink target");
    } else {
      skip_exact(e.size, "file data");
    }
    skip_exact(padding(offset_, 4), "data padding");
    return e;
  }

  Source& src_;
  std::string_view where_;
  std::uint64_t offset_ = 0;
};

}  // namespace

// -------------------------------------------------------------- FileSink

FileSink::FileSink(const std::filesystem::path& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw ImageError(path_.string(), 0, "cannot create: " + errno_text(errno));
}

FileSink::~FileSink() {
  if (fd_ >= 0) ::close(fd_);
}

void FileSink::write(std::string_view bytes) {
  if (fd_ < 0) throw ImageError(path_.string(), 0, "write after finish");
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw ImageError(path_.string(), 0, "write failed: " + errno_text(errno));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void FileSink::finish() {
  if (fd_ < 0) return;
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw ImageError(path_.string(), 0, "close failed: " + errno_text(errno));
}

// ------------------------------------------------------------- CpioWriter

void CpioWriter::check_open() const {
  if (finished_) throw ImageError("cpio: entry added after the trailer was written");
}

void CpioWriter::emit(std::string_view bytes) {
  sink_.write(bytes);
  offset_ += bytes.size();
}

void CpioWriter::pad_to(std::uint64_t alignment) {
  static constexpr std::array<char, 512> kZeros{};
  std::uint64_t n = padding(offset_, alignment);
  while (n > 0) {
    const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n, kZeros.size()));
    emit(std::string_view(kZeros.data(), take));
    n -= take;
  }
}

void CpioWriter::write_header(std::string_view name, const Header& h) {
  std::string out;
  out.reserve(kHeaderSize + name.size() + 4);
  out += kMagic;
  put_hex8(out, h.ino);
  put_hex8(out, h.mode);
  put_hex8(out, h.uid);
  put_hex8(out, h.gid);
  put_hex8(out, h.nlink);
  put_hex8(out, h.mtime);
  put_hex8(out, static_cast<std::uint32_t>(h.size));
  put_hex8(out, 0);  // devmajor: the archive's "device" is fixed, so links key on ino alone
  put_hex8(out, 0);  // devminor
  put_hex8(out, h.rdev_major);
  put_hex8(out, h.rdev_minor);
  put_hex8(out, static_cast<std::uint32_t>(name.size() + 1));
  put_hex8(out, 0);  // check: 0 for 070701
  out += name;
  out.push_back('\0');
  emit(out);
  pad_to(4);
}

void CpioWriter::write_data(std::string_view data) {
  emit(data);
  pad_to(4);
}

void CpioWriter::write_host_data(const HostFile& source, int fd, std::uint64_t size) {
  std::unique_ptr<char[]> buffer(new char[kChunk]);
  std::uint64_t left = size;
  while (left > 0) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, kChunk));
    const ssize_t n = ::read(fd, buffer.get(), want);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw ImageError(source.path.string(), 0, "read failed: " + errno_text(errno));
    }
    // The header already promised `size` bytes: a file that shrinks while
    // being read would leave a corrupt archive, so it is an error.
    if (n == 0) throw ImageError(source.path.string(), 0, "file shrank while being archived");
    emit(std::string_view(buffer.get(), static_cast<std::size_t>(n)));
    left -= static_cast<std::uint64_t>(n);
  }
  char extra = 0;
  if (::read(fd, &extra, 1) > 0) throw ImageError(source.path.string(), 0, "file grew while being archived");
  pad_to(4);
}

CpioWriter::Header CpioWriter::header_for(const Metadata& meta, std::uint32_t type) {
  if ((meta.mode & ~07777U) != 0) {
    throw ImageError("cpio: mode " + std::to_string(meta.mode) + " has bits beyond the permissions (07777)");
  }
  Header h;
  h.ino = next_ino_++;
  h.mode = type | meta.mode;
  h.uid = meta.uid;
  h.gid = meta.gid;
  h.mtime = meta.mtime;
  return h;
}

void CpioWriter::add_file(std::string_view name, const Metadata& meta, std::string_view data) {
  check_open();
  const std::string_view n = archive_name(name);
  Header h = header_for(meta, S_IFREG);
  h.size = checked_size(data.size(), n);
  write_header(n, h);
  write_data(data);
}

void CpioWriter::add_file(std::string_view name, const Metadata& meta, const HostFile& source) {
  check_open();
  const std::string_view n = archive_name(name);
  std::uint64_t size = 0;
  const Fd fd = open_host_file(source, size);
  Header h = header_for(meta, S_IFREG);
  h.size = checked_size(size, n);
  write_header(n, h);
  write_host_data(source, fd.get(), size);
}

void CpioWriter::add_directory(std::string_view name, const Metadata& meta) {
  check_open();
  const std::string_view n = archive_name(name);
  Header h = header_for(meta, S_IFDIR);
  h.nlink = 2;  // "." and its entry in the parent, as gen_init_cpio writes
  write_header(n, h);
}

void CpioWriter::add_symlink(std::string_view name, const Metadata& meta, std::string_view target) {
  check_open();
  const std::string_view n = archive_name(name);
  if (target.empty()) throw ImageError("cpio: symlink '" + std::string(n) + "' has an empty target");
  if (target.size() >= kPathMax) throw ImageError("cpio: symlink '" + std::string(n) + "' target exceeds PATH_MAX");
  Header h = header_for(meta, S_IFLNK);
  h.size = target.size();
  write_header(n, h);
  write_data(target);  // the target is the data, without a NUL
}

void CpioWriter::add_hard_links(std::span<const std::string> names, const Metadata& meta, std::string_view data) {
  check_open();
  if (names.empty()) throw ImageError("cpio: hard link group without names");
  std::vector<std::string_view> checked;
  for (const std::string& name : names) checked.push_back(archive_name(name));
  Header h = header_for(meta, S_IFREG);
  h.nlink = static_cast<std::uint32_t>(names.size());
  const std::uint64_t size = checked_size(data.size(), checked.back());
  for (std::size_t i = 0; i < checked.size(); ++i) {
    const bool last = i + 1 == checked.size();
    h.size = last ? size : 0;
    write_header(checked[i], h);
    if (last) write_data(data);
  }
}

void CpioWriter::add_hard_links(std::span<const std::string> names, const Metadata& meta, const HostFile& source) {
  check_open();
  if (names.empty()) throw ImageError("cpio: hard link group without names");
  std::vector<std::string_view> checked;
  for (const std::string& name : names) checked.push_back(archive_name(name));
  std::uint64_t size = 0;
  const Fd fd = open_host_file(source, size);
  Header h = header_for(meta, S_IFREG);
  h.nlink = static_cast<std::uint32_t>(names.size());
  checked_size(size, checked.back());
  for (std::size_t i = 0; i < checked.size(); ++i) {
    const bool last = i + 1 == checked.size();
    h.size = last ? size : 0;
    write_header(checked[i], h);
    if (last) write_host_data(source, fd.get(), size);
  }
}

void CpioWriter::add_device(std::string_view name, const Metadata& meta, std::uint32_t type, std::uint32_t major,
                            std::uint32_t minor) {
  check_open();
  const std::string_view n = archive_name(name);
  Header h = header_for(meta, type);
  h.rdev_major = major;
  h.rdev_minor = minor;
  write_header(n, h);
}

void CpioWriter::add_char_device(std::string_view name, const Metadata& meta, std::uint32_t major,
                                 std::uint32_t minor) {
  add_device(name, meta, S_IFCHR, major, minor);
}

void CpioWriter::add_block_device(std::string_view name, const Metadata& meta, std::uint32_t major,
                                  std::uint32_t minor) {
  add_device(name, meta, S_IFBLK, major, minor);
}

void CpioWriter::add_fifo(std::string_view name, const Metadata& meta) { add_device(name, meta, S_IFIFO, 0, 0); }

void CpioWriter::finish() {
  check_open();
  Header trailer;  // ino 0, mode 0, nlink 1: as gen_init_cpio and GNU cpio write it
  write_header(kTrailer, trailer);
  pad_to(512);
  finished_ = true;
  sink_.finish();
}

// ----------------------------------------------------------------- reader

CpioArchive read_cpio(std::string_view archive, std::string_view where) {
  BufferSource source(archive);
  return Parser(source, where).parse();
}

CpioArchive read_cpio(std::istream& in, std::string_view where) {
  StreamSource source(in);
  return Parser(source, where).parse();
}

std::string_view entry_data(std::string_view archive, const CpioEntry& entry) {
  if (entry.data_offset > archive.size() || entry.size > archive.size() - entry.data_offset) {
    throw ImageError("cpio: entry '" + entry.name + "' data lies beyond the archive's end");
  }
  return archive.substr(static_cast<std::size_t>(entry.data_offset), static_cast<std::size_t>(entry.size));
}

}  // namespace keel::image
