// log_compress.cpp — see log_compress.hpp.
#include "service/log_compress.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace keel::service {
namespace {

constexpr std::size_t kChunk = std::size_t{64} * 1024;

bool write_all(int fd, const unsigned char* data, std::size_t len) noexcept {
  while (len > 0) {
    ssize_t n = ::write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

// One read of up to kChunk bytes: its length, 0 at the end, -1 on error.
ssize_t read_some(int fd, unsigned char* buf) noexcept {
  for (;;) {
    ssize_t n = ::read(fd, buf, kChunk);
    if (n < 0 && errno == EINTR) continue;
    return n;
  }
}

Status gzip_stream(int in, int out) noexcept {
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return Error{ENOMEM, "gzip: init"};
  std::unique_ptr<unsigned char[]> ibuf(new (std::nothrow) unsigned char[kChunk]);
  std::unique_ptr<unsigned char[]> obuf(new (std::nothrow) unsigned char[kChunk]);
  Status result;
  if (!ibuf || !obuf) result = Error{ENOMEM, "gzip: buffers"};
  bool done = !result;
  while (!done) {
    ssize_t n = read_some(in, ibuf.get());
    if (n < 0) {
      result = errno_error("read rotated log file");
      break;
    }
    z.next_in = ibuf.get();
    z.avail_in = static_cast<uInt>(n);
    const int flush = n == 0 ? Z_FINISH : Z_NO_FLUSH;
    int rc = Z_OK;
    do {
      z.next_out = obuf.get();
      z.avail_out = static_cast<uInt>(kChunk);
      rc = deflate(&z, flush);
      if (rc == Z_STREAM_ERROR) {
        result = Error{EIO, "gzip: deflate"};
        done = true;
        break;
      }
      if (!write_all(out, obuf.get(), kChunk - z.avail_out)) {
        result = errno_error("write compressed log file");
        done = true;
        break;
      }
    } while (z.avail_out == 0);
    if (n == 0) done = true;
  }
  deflateEnd(&z);
  return result;
}

}  // namespace

const char* compression_suffix(Compression c) noexcept {
  switch (c) {
    case Compression::Gzip: return ".gz";
    case Compression::None: break;
  }
  return "";
}

Compression compression_of_name(std::string_view name) noexcept {
  if (name.ends_with(".gz")) return Compression::Gzip;
  return Compression::None;
}

Status compress_file(int dir_fd, const char* name, Compression c) noexcept {
  if (c == Compression::None) return {};
  // A value no parser makes (the codec and the log record refuse it):
  // with an empty suffix the output would replace the source itself.
  if (c != Compression::Gzip) return Error{EINVAL, "unknown compression"};
  char target[NAME_MAX + 1];
  char temp[NAME_MAX + 1];
  const char* suffix = compression_suffix(c);
  int tl = std::snprintf(target, sizeof target, "%s%s", name, suffix);
  int ml = std::snprintf(temp, sizeof temp, "%s%s.tmp", name, suffix);
  if (tl <= 0 || ml <= 0 || static_cast<std::size_t>(ml) >= sizeof temp) {
    return Error{ENAMETOOLONG, "compressed log file name"};
  }
  int in = ::openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (in < 0) return errno_error(errno == ELOOP ? "rotated log file is a symbolic link" : "open rotated log file");
  struct stat st{};
  if (::fstat(in, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
    ::close(in);
    return Error{EINVAL, "rotated log file is not a regular file with one link"};
  }
  // A leftover temporary (a killed writer) is removed, never opened: it
  // could be a hard link planted to any file.
  (void)::unlinkat(dir_fd, temp, 0);
  int out = ::openat(dir_fd, temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, st.st_mode & 0777);
  if (out < 0) {
    Status s = errno_error("create compressed log file");
    ::close(in);
    return s;
  }
  (void)::fchown(out, st.st_uid, st.st_gid);  // the same owner as the file it replaces
  Status s = gzip_stream(in, out);
  ::close(in);
  if (s && ::fsync(out) != 0) s = errno_error("sync compressed log file");
  if (::close(out) != 0 && s) s = errno_error("close compressed log file");
  if (s && ::renameat(dir_fd, temp, dir_fd, target) != 0) s = errno_error("rename compressed log file");
  if (!s) {
    (void)::unlinkat(dir_fd, temp, 0);
    return s;
  }
  if (::unlinkat(dir_fd, name, 0) != 0) return errno_error("remove the uncompressed rotated log file");
  return {};
}

std::string decompress(std::string_view data, Compression c, std::size_t max_out) {
  std::string out;
  std::string chunk(kChunk, '\0');
  if (c == Compression::Gzip) {
    z_stream z{};
    // 15 + 32: gzip or zlib header, detected.
    if (inflateInit2(&z, 15 + 32) != Z_OK) throw std::runtime_error("gzip: cannot initialise zlib");
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
      z.next_out = reinterpret_cast<Bytef*>(chunk.data());
      z.avail_out = static_cast<uInt>(chunk.size());
      rc = inflate(&z, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END) {
        inflateEnd(&z);
        throw std::runtime_error(rc == Z_BUF_ERROR ? "gzip: truncated" : "gzip: corrupt data");
      }
      out.append(chunk.data(), chunk.size() - z.avail_out);
      if (out.size() > max_out) {
        inflateEnd(&z);
        throw std::runtime_error("decompressed size over the limit");
      }
      // A second gzip member (concatenated files) continues.
      if (rc == Z_STREAM_END && z.avail_in > 0) {
        inflateReset(&z);
        rc = Z_OK;
      }
    }
    inflateEnd(&z);
    return out;
  }
  return std::string(data);
}

}  // namespace keel::service
