// tar.cpp — the ustar/pax writer; see tar.hpp for what goes into a header
// and why.
#include "image/tar.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "image/diagnostic.hpp"

namespace keel::image {

namespace {

constexpr std::size_t kBlock = 512;
constexpr std::size_t kChunk = std::size_t{64} * 1024;
// The largest values ustar's octal fields hold: 7 digits for ids, 11 for
// the size.
constexpr std::uint64_t kMaxId = 07777777;
constexpr std::uint64_t kMaxSize = 077777777777ULL;

// Field offsets and widths of a ustar header (POSIX.1-2001, pax).
struct Field {
  std::size_t offset;
  std::size_t width;
};
constexpr Field kName{0, 100};
constexpr Field kMode{100, 8};
constexpr Field kUid{108, 8};
constexpr Field kGid{116, 8};
constexpr Field kSize{124, 12};
constexpr Field kMtime{136, 12};
constexpr Field kChecksum{148, 8};
constexpr std::size_t kTypeflag = 156;
constexpr Field kLinkname{157, 100};
constexpr Field kMagic{257, 6};
constexpr Field kVersion{263, 2};
constexpr Field kDevmajor{329, 8};
constexpr Field kDevminor{337, 8};
constexpr Field kPrefix{345, 155};

using Block = std::array<char, kBlock>;

void put_text(Block& b, Field f, std::string_view text) {
  std::memcpy(b.data() + f.offset, text.data(), std::min(text.size(), f.width));
}

// width-1 octal digits, zero-padded, and a NUL.
void put_octal(Block& b, Field f, std::uint64_t value) {
  for (std::size_t i = f.width - 1; i-- > 0;) {
    b[f.offset + i] = static_cast<char>('0' + (value & 7));
    value >>= 3;
  }
  b[f.offset + f.width - 1] = '\0';
}

std::string archive_name(std::string_view name) {
  const std::string_view given = name;
  while (!name.empty() && name.front() == '/') name.remove_prefix(1);
  if (name.empty()) throw ImageError("tar: empty archive name '" + std::string(given) + "'");
  if (name.find('\0') != std::string_view::npos) throw ImageError("tar: archive name contains a NUL byte");
  return std::string(name);
}

// One pax record, "LEN key=value\n", where LEN counts the whole record
// (its own digits included).
std::string pax_record(std::string_view key, std::string_view value) {
  const std::size_t base = key.size() + value.size() + 3;  // ' ', '=', '\n'
  std::size_t length = base + std::to_string(base).size();
  if (std::to_string(length).size() != std::to_string(base).size()) ++length;
  return std::to_string(length) + " " + std::string(key) + "=" + std::string(value) + "\n";
}

// Splits a name over ustar's prefix (155) and name (100) fields at a '/';
// false when it cannot be done.
bool split_name(const std::string& name, std::string& prefix, std::string& rest) {
  if (name.size() <= kName.width) {
    prefix.clear();
    rest = name;
    return true;
  }
  for (std::size_t slash = name.find('/'); slash != std::string::npos; slash = name.find('/', slash + 1)) {
    if (name.size() - slash - 1 > kName.width) continue;
    if (slash > kPrefix.width || slash + 1 == name.size()) return false;
    prefix = name.substr(0, slash);
    rest = name.substr(slash + 1);
    return true;
  }
  return false;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const noexcept { return fd_; }

 private:
  int fd_;
};

}  // namespace

void TarWriter::check_open() const {
  if (finished_) throw ImageError("tar: entry added after finish()");
}

void TarWriter::emit(std::string_view bytes) {
  sink_.write(bytes);
  offset_ += bytes.size();
}

void TarWriter::pad() {
  static constexpr Block kZeros{};
  const std::size_t rest = static_cast<std::size_t>(offset_ % kBlock);
  if (rest != 0) emit(std::string_view(kZeros.data(), kBlock - rest));
}

void TarWriter::write_header(const Header& h) {
  check_open();
  std::string prefix, rest;
  std::string pax;
  if (!split_name(h.name, prefix, rest)) {
    pax += pax_record("path", h.name);
    prefix.clear();
    rest = h.name.substr(0, kName.width);
  }
  if (h.link.size() > kLinkname.width) pax += pax_record("linkpath", h.link);
  if (h.size > kMaxSize) pax += pax_record("size", std::to_string(h.size));
  if (h.meta.uid > kMaxId) pax += pax_record("uid", std::to_string(h.meta.uid));
  if (h.meta.gid > kMaxId) pax += pax_record("gid", std::to_string(h.meta.gid));
  if (!pax.empty()) {
    // The extended header's own name only has to be unique enough for a
    // reader that does not know pax and extracts it as a file.
    std::string base = h.name;
    while (!base.empty() && base.back() == '/') base.pop_back();
    base = base.substr(base.rfind('/') == std::string::npos ? 0 : base.rfind('/') + 1);
    Header x;
    x.name = "PaxHeader/" + base.substr(0, 80);
    x.type = 'x';
    x.meta = Metadata{0644, 0, 0, h.meta.mtime};
    x.size = pax.size();
    write_header(x);
    emit(pax);
    pad();
  }
  Block b{};
  put_text(b, kName, rest);
  put_octal(b, kMode, h.meta.mode & 07777);
  put_octal(b, kUid, h.meta.uid > kMaxId ? 0 : h.meta.uid);
  put_octal(b, kGid, h.meta.gid > kMaxId ? 0 : h.meta.gid);
  put_octal(b, kSize, h.size > kMaxSize ? 0 : h.size);
  put_octal(b, kMtime, h.meta.mtime);
  b[kTypeflag] = h.type;
  put_text(b, kLinkname, h.link.substr(0, std::min(h.link.size(), kLinkname.width)));
  put_text(b, kMagic, std::string_view("ustar\0", 6));
  put_text(b, kVersion, "00");
  put_octal(b, kDevmajor, h.major);
  put_octal(b, kDevminor, h.minor);
  put_text(b, kPrefix, prefix);
  // The checksum is the byte sum with its own field counted as spaces:
  // six octal digits, a NUL and a space.
  std::memset(b.data() + kChecksum.offset, ' ', kChecksum.width);
  unsigned sum = 0;
  for (const char c : b) sum += static_cast<unsigned char>(c);
  put_octal(b, Field{kChecksum.offset, 7}, sum);
  b[kChecksum.offset + 7] = ' ';
  emit(std::string_view(b.data(), b.size()));
}

void TarWriter::add_file(std::string_view name, const Metadata& meta, std::string_view data) {
  write_header(Header{archive_name(name), '0', meta, data.size(), {}, 0, 0});
  emit(data);
  pad();
}

void TarWriter::add_file(std::string_view name, const Metadata& meta, const HostFile& source) {
  std::string archive = archive_name(name);
  Fd fd(::open(source.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) throw ImageError(source.path.string(), 0, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    throw ImageError(source.path.string(), 0, std::string("cannot stat: ") + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) throw ImageError(source.path.string(), 0, "not a regular file");
  const auto size = static_cast<std::uint64_t>(st.st_size);
  write_header(Header{std::move(archive), '0', meta, size, {}, 0, 0});
  std::vector<char> buffer(kChunk);
  std::uint64_t left = size;
  while (left > 0) {
    const ssize_t n = ::read(fd.get(), buffer.data(), static_cast<std::size_t>(std::min<std::uint64_t>(left, kChunk)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw ImageError(source.path.string(), 0, std::string("cannot read: ") + std::strerror(errno));
    // The header already says how long it is: a file that shrinks now
    // would leave a corrupt archive.
    if (n == 0) throw ImageError(source.path.string(), 0, "the file got shorter while it was being archived");
    emit(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
    left -= static_cast<std::uint64_t>(n);
  }
  pad();
}

void TarWriter::add_directory(std::string_view name, const Metadata& meta) {
  std::string archive = archive_name(name);
  if (archive.back() != '/') archive += '/';
  write_header(Header{std::move(archive), '5', meta, 0, {}, 0, 0});
}

void TarWriter::add_symlink(std::string_view name, const Metadata& meta, std::string_view target) {
  if (target.empty()) throw ImageError("tar: the symlink " + std::string(name) + " has an empty target");
  write_header(Header{archive_name(name), '2', meta, 0, std::string(target), 0, 0});
}

void TarWriter::add_hard_link(std::string_view name, const Metadata& meta, std::string_view target) {
  write_header(Header{archive_name(name), '1', meta, 0, archive_name(target), 0, 0});
}

void TarWriter::add_char_device(std::string_view name, const Metadata& meta, std::uint32_t major, std::uint32_t minor) {
  write_header(Header{archive_name(name), '3', meta, 0, {}, major, minor});
}

void TarWriter::add_block_device(std::string_view name, const Metadata& meta, std::uint32_t major,
                                 std::uint32_t minor) {
  write_header(Header{archive_name(name), '4', meta, 0, {}, major, minor});
}

void TarWriter::add_fifo(std::string_view name, const Metadata& meta) {
  write_header(Header{archive_name(name), '6', meta, 0, {}, 0, 0});
}

void TarWriter::finish() {
  check_open();
  static constexpr Block kZeros{};
  emit(std::string_view(kZeros.data(), kZeros.size()));
  emit(std::string_view(kZeros.data(), kZeros.size()));
  finished_ = true;
  sink_.finish();
}

}  // namespace keel::image
