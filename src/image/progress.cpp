// progress.cpp — the live progress line, and the counted archive output.
#include "image/progress.hpp"

#include <unistd.h>

#include <cstdio>
#include <optional>

#include "image/compress.hpp"
#include "image/diagnostic.hpp"

namespace keel::image {

std::string human_bytes(std::uint64_t bytes) {
  char buf[64];
  if (bytes < 1000) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else if (bytes < 1'000'000ULL) {
    std::snprintf(buf, sizeof buf, "%llu KB", static_cast<unsigned long long>((bytes + 500) / 1000));
  } else if (bytes < 1000ULL * 1000 * 1000) {
    std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f GB", static_cast<double>(bytes) / 1e9);
  }
  return buf;
}

Progress::Progress(int fd) : fd_(fd), live_(fd >= 0 && ::isatty(fd) == 1) {}

Progress::~Progress() { done(); }

void Progress::add(std::uint64_t bytes, bool file) {
  if (file) ++files_;
  bytes_ += bytes;
  if (!live_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  draw();
}

void Progress::draw() {
  const std::string line = "\rbuilding: " + std::to_string(files_) + " files, " + human_bytes(bytes_) + "\x1b[K";
  // Best effort: a progress line that cannot be shown is not an error.
  [[maybe_unused]] const ssize_t n = ::write(fd_, line.data(), line.size());
  drawn_ = true;
}

void Progress::done() {
  if (!live_ || !drawn_) return;
  static constexpr char kErase[] = "\r\x1b[K";
  [[maybe_unused]] const ssize_t n = ::write(fd_, kErase, sizeof kErase - 1);
  drawn_ = false;
}

ArchiveOutput::ArchiveOutput(const std::filesystem::path& file, Compression c, int level) {
  file_ = std::make_unique<FileSink>(file);
  file_counter_ = std::make_unique<CountingSink>(*file_);
  compressor_ = make_compressor(c, *file_counter_, level);
  raw_ = std::make_unique<CountingSink>(*compressor_);
}

ArchiveOutput::~ArchiveOutput() = default;

std::optional<std::string> read_image_file(std::string_view image, const std::string& path, std::string_view where) {
  const std::string data = decompress(image, where);
  const std::string name = path.starts_with('/') ? path.substr(1) : path;
  std::string_view rest(data);
  while (!rest.empty()) {
    // Archives may follow one another with zero padding between.
    std::size_t skip = 0;
    while (skip < rest.size() && rest[skip] == '\0') ++skip;
    rest.remove_prefix(skip);
    if (rest.empty()) break;
    if (detect_compression(rest) != Compression::None) {
      return read_image_file(rest, path, where);
    }
    const CpioArchive archive = read_cpio(rest, where);
    for (const CpioEntry& e : archive.entries) {
      if (e.name == name && (e.mode & 0170000) == 0100000 && e.size > 0) return std::string(entry_data(rest, e));
    }
    if (archive.end == 0 || archive.end > rest.size()) break;
    rest.remove_prefix(static_cast<std::size_t>(archive.end));
  }
  return std::nullopt;
}

}  // namespace keel::image
