// compress.cpp — gzip (zlib), zstd (libzstd) and xz (liblzma) sinks, and
// whole-buffer decompression by magic. See compress.hpp for what each
// guarantees.
#include "image/compress.hpp"

#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <array>
#include <cstring>
#include <vector>

#include "image/diagnostic.hpp"

namespace keel::image {

namespace {

constexpr std::size_t kOutChunk = std::size_t{64} * 1024;

// ------------------------------------------------------------------ none

class PassThroughSink final : public Sink {
 public:
  explicit PassThroughSink(Sink& out) : out_(out) {}
  void write(std::string_view bytes) override { out_.write(bytes); }
  void finish() override { out_.finish(); }

 private:
  Sink& out_;
};

// ------------------------------------------------------------------ gzip

class GzipSink final : public Sink {
 public:
  GzipSink(Sink& out, int level) : out_(out), buffer_(kOutChunk) {
    // windowBits 15 + 16: a gzip wrapper instead of zlib's. memLevel 8 and
    // the default strategy are zlib's defaults; they are fixed here because
    // they change the output bytes.
    if (deflateInit2(&z_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      throw ImageError("gzip: cannot initialise zlib");
    }
    // Without an explicit header zlib writes OS_CODE, which depends on the
    // platform zlib was built for; mtime 0 and no name keep the build time
    // and the output's file name out of the image. (The deflate stream
    // itself is reproducible for one zlib version; a different zlib
    // implementation, such as zlib-ng, may choose other matches.)
    header_.time = 0;
    header_.os = 3;  // Unix
    header_.name = Z_NULL;
    header_.comment = Z_NULL;
    header_.extra = Z_NULL;
    header_.hcrc = 0;
    header_.text = 0;
    if (deflateSetHeader(&z_, &header_) != Z_OK) {
      deflateEnd(&z_);
      throw ImageError("gzip: cannot set the gzip header");
    }
  }
  ~GzipSink() override { deflateEnd(&z_); }

  void write(std::string_view bytes) override {
    // zlib's avail_in is 32 bits: feed very large writes in pieces.
    while (!bytes.empty()) {
      const std::size_t take = std::min<std::size_t>(bytes.size(), 1U << 30);
      run(bytes.substr(0, take), Z_NO_FLUSH);
      bytes.remove_prefix(take);
    }
  }

  void finish() override {
    if (finished_) return;
    finished_ = true;
    run({}, Z_FINISH);
    out_.finish();
  }

 private:
  void run(std::string_view in, int flush) {
    if (finished_ && flush != Z_FINISH) throw ImageError("gzip: write after finish");
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    for (;;) {
      z_.next_out = reinterpret_cast<Bytef*>(buffer_.data());
      z_.avail_out = static_cast<uInt>(buffer_.size());
      const int rc = deflate(&z_, flush);
      if (rc == Z_STREAM_ERROR) throw ImageError("gzip: deflate failed");
      const std::size_t produced = buffer_.size() - z_.avail_out;
      if (produced > 0) out_.write(std::string_view(buffer_.data(), produced));
      if (flush == Z_FINISH) {
        if (rc == Z_STREAM_END) return;
      } else if (z_.avail_in == 0 && z_.avail_out != 0) {
        return;
      }
    }
  }

  Sink& out_;
  std::vector<char> buffer_;
  z_stream z_{};
  gz_header header_{};
  bool finished_ = false;
};

// ------------------------------------------------------------------ zstd

// The kernel decompresses an initramfs in streaming ("multi-call") mode:
// lib/decompress_unzstd.c reads the frame header, refuses a window larger
// than ZSTD_WINDOWSIZE_MAX (1 << ZSTD_WINDOWLOG_MAX: 2^27 with the zstd
// 1.3 of kernels up to 5.15), and then allocates a workspace of about the
// window size with large_malloc() during early boot. A window log of 23
// (8 MiB) is what level 19 picks for large inputs anyway and what the
// kernel's own comment expects; fixing it keeps higher levels (which would
// choose 2^25..2^27) from asking a small VM for a 128 MiB allocation before
// init runs. One frame only: the whole archive is one ZSTD_e_end.
constexpr int kZstdWindowLog = 23;

class ZstdSink final : public Sink {
 public:
  ZstdSink(Sink& out, int level) : out_(out), buffer_(ZSTD_CStreamOutSize()), cctx_(ZSTD_createCCtx()) {
    if (cctx_ == nullptr) throw ImageError("zstd: cannot create a compression context");
    try {
      set(ZSTD_c_compressionLevel, level);
      set(ZSTD_c_windowLog, kZstdWindowLog);
      set(ZSTD_c_checksumFlag, 1);  // the kernel verifies it: a corrupt image fails loudly
      // Multithreaded zstd can split work differently from run to run and
      // machine to machine; a single thread keeps the output reproducible.
      set(ZSTD_c_nbWorkers, 0);
    } catch (...) {
      ZSTD_freeCCtx(cctx_);
      throw;
    }
  }
  ~ZstdSink() override { ZSTD_freeCCtx(cctx_); }

  void write(std::string_view bytes) override {
    if (finished_) throw ImageError("zstd: write after finish");
    ZSTD_inBuffer in{bytes.data(), bytes.size(), 0};
    while (in.pos < in.size) run(in, ZSTD_e_continue);
  }

  void finish() override {
    if (finished_) return;
    finished_ = true;
    ZSTD_inBuffer in{nullptr, 0, 0};
    while (run(in, ZSTD_e_end) != 0) {
    }
    out_.finish();
  }

 private:
  void set(ZSTD_cParameter param, int value) {
    const std::size_t rc = ZSTD_CCtx_setParameter(cctx_, param, value);
    if (ZSTD_isError(rc)) throw ImageError(std::string("zstd: ") + ZSTD_getErrorName(rc));
  }

  std::size_t run(ZSTD_inBuffer& in, ZSTD_EndDirective mode) {
    ZSTD_outBuffer out{buffer_.data(), buffer_.size(), 0};
    const std::size_t rc = ZSTD_compressStream2(cctx_, &out, &in, mode);
    if (ZSTD_isError(rc)) throw ImageError(std::string("zstd: ") + ZSTD_getErrorName(rc));
    if (out.pos > 0) out_.write(std::string_view(buffer_.data(), out.pos));
    return rc;
  }

  Sink& out_;
  std::vector<char> buffer_;
  ZSTD_CCtx* cctx_;
  bool finished_ = false;
};

// -------------------------------------------------------------------- xz

// The kernel's xz decoder (lib/xz, used for an initramfs by
// lib/decompress_unxz.c) checks CRC32 or nothing, not xz's default CRC64,
// and knows the branch converters the kernel was configured with; x86
// kernels default to XZ_DEC_X86. The x86 filter turns relative call and
// jump targets into absolute ones, so a function called from many places
// compresses as one string (the Python service image: 4.1% smaller than
// LZMA2 alone). The decoder allocates the dictionary (vmalloc) while
// unpacking, as zstd its window: 16 MiB at every level. It holds a whole
// small image, which is where xz gains most (an 8 MiB dictionary made the
// 14.5 MB Python image 5.9% larger); a larger one would ask a small VM for
// more memory before init runs.
constexpr std::uint32_t kXzDictionary = std::uint32_t{16} << 20;

class XzSink final : public Sink {
 public:
  XzSink(Sink& out, int level) : out_(out), buffer_(kOutChunk) {
    lzma_options_lzma lzma2{};
    if (lzma_lzma_preset(&lzma2, static_cast<std::uint32_t>(level)) != 0) {
      throw ImageError("xz: no preset for level " + std::to_string(level));
    }
    lzma2.dict_size = kXzDictionary;
    // liblzma's single-threaded stream encoder gives the same bytes for the
    // same input: it has no time stamps or names to leave out.
    std::array<lzma_filter, 3> filters{
        {{LZMA_FILTER_X86, nullptr}, {LZMA_FILTER_LZMA2, &lzma2}, {LZMA_VLI_UNKNOWN, nullptr}}};
    if (lzma_stream_encoder(&strm_, filters.data(), LZMA_CHECK_CRC32) != LZMA_OK) {
      throw ImageError("xz: cannot initialise liblzma");
    }
  }
  ~XzSink() override { lzma_end(&strm_); }

  void write(std::string_view bytes) override {
    if (finished_) throw ImageError("xz: write after finish");
    run(bytes, LZMA_RUN);
  }

  void finish() override {
    if (finished_) return;
    finished_ = true;
    run({}, LZMA_FINISH);
    out_.finish();
  }

 private:
  void run(std::string_view in, lzma_action action) {
    strm_.next_in = reinterpret_cast<const std::uint8_t*>(in.data());
    strm_.avail_in = in.size();
    for (;;) {
      strm_.next_out = reinterpret_cast<std::uint8_t*>(buffer_.data());
      strm_.avail_out = buffer_.size();
      const lzma_ret rc = lzma_code(&strm_, action);
      if (rc != LZMA_OK && rc != LZMA_STREAM_END)
        throw ImageError("xz: compression failed (liblzma error " + std::to_string(rc) + ")");
      const std::size_t produced = buffer_.size() - strm_.avail_out;
      if (produced > 0) out_.write(std::string_view(buffer_.data(), produced));
      if (action == LZMA_FINISH ? rc == LZMA_STREAM_END : strm_.avail_in == 0 && strm_.avail_out != 0) return;
    }
  }

  Sink& out_;
  std::vector<char> buffer_;
  lzma_stream strm_ = LZMA_STREAM_INIT;
  bool finished_ = false;
};

// ---------------------------------------------------------- decompression

std::string prefix(std::string_view where) { return where.empty() ? std::string() : std::string(where); }

std::string gunzip(std::string_view data, std::string_view where) {
  std::string out;
  std::array<char, kOutChunk> buffer{};
  std::size_t pos = 0;
  // Each iteration decodes one gzip member; the kernel accepts several.
  while (pos < data.size()) {
    z_stream z{};
    if (inflateInit2(&z, 15 + 16) != Z_OK) throw ImageError(prefix(where), 0, "gzip: cannot initialise zlib");
    const std::string_view member = data.substr(pos);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(member.data()));
    z.avail_in = static_cast<uInt>(std::min<std::size_t>(member.size(), 0xFFFFFFFFU));
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
      z.next_out = reinterpret_cast<Bytef*>(buffer.data());
      z.avail_out = static_cast<uInt>(buffer.size());
      rc = inflate(&z, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END) {
        const std::string detail = z.msg != nullptr ? z.msg : (rc == Z_BUF_ERROR ? "truncated" : "corrupt data");
        const std::uint64_t at = pos + z.total_in;
        inflateEnd(&z);
        throw ImageError(prefix(where), 0, "gzip: " + detail + " at compressed byte offset " + std::to_string(at));
      }
      out.append(buffer.data(), buffer.size() - z.avail_out);
    }
    pos += z.total_in;
    inflateEnd(&z);
    // Zero padding after the last member (block alignment) is not another member.
    if (data.find_first_not_of('\0', pos) == std::string_view::npos) break;
    if (detect_compression(data.substr(pos)) != Compression::Gzip) {
      throw ImageError(prefix(where), 0, "gzip: trailing garbage at compressed byte offset " + std::to_string(pos));
    }
  }
  return out;
}

std::string unzstd(std::string_view data, std::string_view where) {
  std::string out;
  std::vector<char> buffer(ZSTD_DStreamOutSize());
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  if (dctx == nullptr) throw ImageError(prefix(where), 0, "zstd: cannot create a decompression context");
  ZSTD_inBuffer in{data.data(), data.size(), 0};
  // One DCtx decodes consecutive frames; rc == 0 means a frame just ended.
  for (;;) {
    ZSTD_outBuffer o{buffer.data(), buffer.size(), 0};
    const std::size_t before = in.pos;
    const std::size_t rc = ZSTD_decompressStream(dctx, &o, &in);
    if (ZSTD_isError(rc)) {
      ZSTD_freeDCtx(dctx);
      throw ImageError(
          prefix(where), 0,
          std::string("zstd: ") + ZSTD_getErrorName(rc) + " near compressed byte offset " + std::to_string(before));
    }
    out.append(buffer.data(), o.pos);
    const bool rest_is_padding = data.substr(in.pos).find_first_not_of('\0') == std::string_view::npos;
    if (rc == 0 && rest_is_padding) break;
    // All input used and the output not full: nothing more will come.
    if (in.pos == in.size && o.pos < o.size) {
      ZSTD_freeDCtx(dctx);
      throw ImageError(prefix(where), 0, "zstd: truncated frame at compressed byte offset " + std::to_string(in.pos));
    }
  }
  ZSTD_freeDCtx(dctx);
  return out;
}

// Concatenated streams and the zero padding between them, as the kernel
// accepts (LZMA_CONCATENATED). The memory limit is the kernel's own bound
// in spirit: an image whose dictionary asks more than 1 GiB is refused
// rather than allocated.
std::string unxz(std::string_view data, std::string_view where) {
  lzma_stream strm = LZMA_STREAM_INIT;
  if (lzma_stream_decoder(&strm, std::uint64_t{1} << 30, LZMA_CONCATENATED) != LZMA_OK) {
    throw ImageError(prefix(where), 0, "xz: cannot initialise liblzma");
  }
  std::string out;
  std::array<char, kOutChunk> buffer{};
  strm.next_in = reinterpret_cast<const std::uint8_t*>(data.data());
  strm.avail_in = data.size();
  for (;;) {
    strm.next_out = reinterpret_cast<std::uint8_t*>(buffer.data());
    strm.avail_out = buffer.size();
    const lzma_ret rc = lzma_code(&strm, strm.avail_in == 0 ? LZMA_FINISH : LZMA_RUN);
    out.append(buffer.data(), buffer.size() - strm.avail_out);
    if (rc == LZMA_STREAM_END) break;
    if (rc != LZMA_OK) {
      const std::uint64_t at = strm.total_in;
      lzma_end(&strm);
      const char* why = rc == LZMA_DATA_ERROR       ? "corrupt data"
                        : rc == LZMA_BUF_ERROR      ? "truncated"
                        : rc == LZMA_MEMLIMIT_ERROR ? "the dictionary is larger than 1 GiB"
                        : rc == LZMA_OPTIONS_ERROR  ? "unsupported options"
                                                    : "not an xz stream";
      throw ImageError(prefix(where), 0,
                       std::string("xz: ") + why + " at compressed byte offset " + std::to_string(at));
    }
  }
  lzma_end(&strm);
  return out;
}

}  // namespace

std::string_view compression_name(Compression c) noexcept {
  switch (c) {
    case Compression::None: return "none";
    case Compression::Gzip: return "gzip";
    case Compression::Zstd: return "zstd";
    case Compression::Xz: return "xz";
  }
  return "none";
}

Compression parse_compression(std::string_view name) {
  if (name == "none") return Compression::None;
  if (name == "gzip") return Compression::Gzip;
  if (name == "zstd") return Compression::Zstd;
  if (name == "xz") return Compression::Xz;
  throw ImageError("unknown compression '" + std::string(name) + "' (expected none, gzip, zstd or xz)");
}

// The knees of the size/time curves, measured on the minimal demo image
// (3.4 MB of cpio, mostly two static programs; bench/image-bench --levels,
// figures in docs/benchmarks.md). zstd 9 is 9.9% larger than 19 for a
// tenth of its CPU time (10..15 gain under 0.5% more, each twice slower;
// 16..19 gain the rest at 8 to 12 times the time), and keeps a build of that
// image under a second on a loaded two-CPU machine; 19 does not even idle.
// gzip 6 is 0.4% larger than 9 for less than half its time. A spec that
// wants the smallest image says `level = 19` (or 9 for gzip).
int default_level(Compression c) noexcept {
  switch (c) {
    case Compression::None: return 0;
    case Compression::Gzip: return 6;
    case Compression::Zstd: return 9;
    case Compression::Xz: return 6;
  }
  return 0;
}

int max_level(Compression c) noexcept {
  switch (c) {
    case Compression::None: return 0;
    case Compression::Gzip: return Z_BEST_COMPRESSION;
    case Compression::Zstd: return ZSTD_maxCLevel();
    case Compression::Xz: return 9;
  }
  return 0;
}

std::unique_ptr<Sink> make_compressor(Compression c, Sink& out, int level) {
  if (level == 0) level = default_level(c);
  switch (c) {
    case Compression::None: return std::make_unique<PassThroughSink>(out);
    case Compression::Gzip:
      if (level < 1 || level > max_level(c)) {
        throw ImageError("gzip level " + std::to_string(level) + " is not in 1.." + std::to_string(max_level(c)));
      }
      return std::make_unique<GzipSink>(out, level);
    case Compression::Zstd:
      if (level < 1 || level > max_level(c)) {
        throw ImageError("zstd level " + std::to_string(level) + " is not in 1.." + std::to_string(max_level(c)));
      }
      return std::make_unique<ZstdSink>(out, level);
    case Compression::Xz:
      if (level < 1 || level > max_level(c)) {
        throw ImageError("xz level " + std::to_string(level) + " is not in 1.." + std::to_string(max_level(c)));
      }
      return std::make_unique<XzSink>(out, level);
  }
  throw ImageError("unknown compression");
}

Compression detect_compression(std::string_view data) noexcept {
  const auto starts = [&](std::initializer_list<unsigned char> magic) {
    if (data.size() < magic.size()) return false;
    std::size_t i = 0;
    for (const unsigned char b : magic) {
      if (static_cast<unsigned char>(data[i++]) != b) return false;
    }
    return true;
  };
  if (starts({0x1f, 0x8b})) return Compression::Gzip;
  if (starts({0x28, 0xb5, 0x2f, 0xfd})) return Compression::Zstd;
  if (starts({0xfd, '7', 'z', 'X', 'Z', 0x00})) return Compression::Xz;
  return Compression::None;
}

std::string decompress(std::string_view data, std::string_view where) {
  switch (detect_compression(data)) {
    case Compression::Gzip: return gunzip(data, where);
    case Compression::Zstd: return unzstd(data, where);
    case Compression::Xz: return unxz(data, where);
    case Compression::None: break;
  }
  return std::string(data);
}

}  // namespace keel::image
