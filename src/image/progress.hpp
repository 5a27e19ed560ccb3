// progress.hpp — what a build shows while it runs, and the byte counting
// behind its summary line.
//
// Progress: on a terminal (isatty on the fd it is given, normally 2) one
// line that is rewritten in place, at most ten times a second:
//   building: 123 files, 4.5 MB
// and erased when the build ends. Not a terminal: nothing at all, so logs
// and CI output carry only the final summary line, which the caller prints
// whatever the fd is ("wrote OUT: N entries, X bytes (Y compressed)").
//
// ArchiveOutput: the byte pipeline of a cpio image, file <- compressor <-
// counter, with both ends counted. It is here (and takes the compression
// by name, "none"/"gzip"/"zstd") so that the builder, which speaks the
// spec's vocabulary, needs nothing from compress.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "image/compress.hpp"
#include "image/cpio.hpp"

namespace keel::image {

// "4.5 MB", "812 KB", "17 B" (decimal units, one decimal place from MB up).
[[nodiscard]] std::string human_bytes(std::uint64_t bytes);

class Progress {
 public:
  // Live only when `fd` >= 0 and isatty(fd).
  explicit Progress(int fd);
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  ~Progress();

  [[nodiscard]] bool live() const noexcept { return live_; }
  // One more entry written, carrying `bytes` of data; `file`: a regular
  // file (the count shown is of files, the bytes of all data).
  void add(std::uint64_t bytes, bool file = true);
  // Erases the live line (idempotent; the destructor calls it).
  void done();

 private:
  void draw();
  int fd_;
  bool live_;
  bool drawn_ = false;
  std::uint64_t files_ = 0;
  std::uint64_t bytes_ = 0;
  std::chrono::steady_clock::time_point last_{};
};

// A sink that counts what passes through it.
class CountingSink final : public Sink {
 public:
  explicit CountingSink(Sink& next) : next_(next) {}
  void write(std::string_view bytes) override {
    count_ += bytes.size();
    next_.write(bytes);
  }
  void finish() override { next_.finish(); }
  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }

 private:
  Sink& next_;
  std::uint64_t count_ = 0;
};

// A file written through a compressor. Write the archive to sink(); the
// CpioWriter's finish() finishes the whole chain (and closes the file).
class ArchiveOutput {
 public:
  // `level` 0: default_level(compression); out of range: ImageError.
  ArchiveOutput(const std::filesystem::path& file, Compression compression, int level = 0);
  ~ArchiveOutput();
  ArchiveOutput(const ArchiveOutput&) = delete;
  ArchiveOutput& operator=(const ArchiveOutput&) = delete;

  [[nodiscard]] Sink& sink() noexcept { return *raw_; }
  [[nodiscard]] std::uint64_t raw_bytes() const noexcept { return raw_->count(); }
  [[nodiscard]] std::uint64_t file_bytes() const noexcept { return file_counter_->count(); }

 private:
  std::unique_ptr<FileSink> file_;
  std::unique_ptr<CountingSink> file_counter_;
  std::unique_ptr<Sink> compressor_;
  std::unique_ptr<CountingSink> raw_;
};

// The contents of one regular file of an initramfs image (compressed or
// not; the first archive holding `path` wins), or nullopt when it has none.
// `path` is an image path ("/etc/keel/cmdline"). Malformed input: ImageError.
[[nodiscard]] std::optional<std::string> read_image_file(std::string_view image, const std::string& path,
                                                         std::string_view where = "");

}  // namespace keel::image
