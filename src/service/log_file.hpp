// log_file.hpp — a service's log file, rotated by size.
//
// Lines are appended whole, one write(2) each, to FILE (O_APPEND, so an
// outside `tail -f` or a second writer never sees a torn line from keel).
// Before a write that would take FILE past max_size, FILE rotates:
// FILE.(keep-1) -> FILE.keep, ..., FILE -> FILE.1, and a fresh FILE is
// opened; exactly `keep` old files remain, the oldest replaced by rename.
// keep == 0 truncates FILE in place instead. A single line longer than
// max_size still goes to a fresh, empty FILE: a line is never split. A path
// that is not a regular file (a FIFO, a device) is written but not rotated.
//
// Every failure (open, rename, ENOSPC, EIO, a short write) is returned as an
// Error and the line is not written: the start of a line that a short write
// left is truncated away again, so the file holds whole lines. The caller
// counts it and reports the first one. Nothing is retried in a loop: the
// next line tries again (a failed open or rotation is retried then), so a
// full disk costs one failed syscall per line and never stalls keel.
//
// Opened O_NONBLOCK: harmless for a regular file, and a path that turns out
// to be a FIFO with no reader fails with ENXIO instead of blocking PID 1 in
// open(2); a full FIFO then fails a write with EAGAIN, which drops the line.
//
// Never through a symbolic link: FILE's directory is opened first
// (O_DIRECTORY|O_NOFOLLOW) and held, and FILE is opened, renamed and
// created relative to that fd with O_NOFOLLOW. Whoever can write in the
// directory (often the service's user) cannot make keel, as root, append to
// or rotate onto another file: a link at FILE or FILE.N is refused (ELOOP)
// or replaced by the rename rather than followed, and a directory moved
// away and replaced (by a link or another directory) keeps receiving the
// lines and rotations until the path is configured again. A link higher up
// the directory's path is followed: those directories are root's to set up.
// A regular FILE with other hard links is refused too (EMLINK): one planted
// in the folder could be any file on the filesystem.
// New files are 0640 (keel's umask, 022 as PID 1, applies on top).
//
// By age too (max_age_ms > 0): FILE also rotates once its first line is
// max_age old, checked before each line and, for a quiet service, when the
// writer's timer calls rotate_if_old() at age_deadline(). The first line's
// time is kept from the write that started FILE, or read back from the
// stamp at the start of an existing FILE (else the time keel opened it).
//
// Compression (compress != None): after a rotation FILE.1 is to be
// compressed into FILE.1.gz (log_compress.hpp). LogFile only
// says so (compress_job()); the log writer does it in a child process, so a
// slow compression of one service's file never delays any line. While that
// child runs, this file does not rotate (it keeps growing past max_size or
// max_age a little), so the child's FILE.1 is never renamed under it. The
// shift FILE.N -> FILE.N+1 moves FILE.N and FILE.N.gz alike (a failed
// compression leaves a plain FILE.N among compressed ones).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "service/log_compress.hpp"

namespace keel::service {

class LogFile {
 public:
  LogFile() noexcept = default;
  ~LogFile() { close(); }
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  // Set the path (empty: no file) and the rotation. A new path closes the
  // old file; the new one opens at the next write. Takes the path by value
  // so the caller does the allocation, before anything changes.
  void configure(std::string path, std::uint64_t max_size, int keep) noexcept;

  // The rotation alone (the path stays): nothing to allocate.
  void set_rotation(std::uint64_t max_size, int keep) noexcept {
    max_size_ = max_size;
    keep_ = keep < 0 ? 0 : keep;
  }
  // Age and compression (see above).
  void set_age_and_compression(std::int64_t max_age_ms, Compression compress) noexcept {
    max_age_ms_ = max_age_ms < 0 ? 0 : max_age_ms;
    compress_ = compress;
  }

  // When FILE is due to rotate by age (ms since the epoch), or -1: none.
  [[nodiscard]] std::int64_t age_deadline() const noexcept;
  // Rotate now if FILE is due by age at `now_ms`.
  Status rotate_if_old(std::int64_t now_ms) noexcept;

  // After a rotation with compression on: the directory fd and FILE.1's
  // name to compress, once (false: nothing to do). The caller runs it and
  // calls compress_finished() when it ended; rotation waits until then.
  bool compress_job(int& dir_fd, const char*& name, Compression& how) noexcept;
  void compress_finished() noexcept { compressing_ = false; }
  [[nodiscard]] bool compressing() const noexcept { return compressing_; }

  [[nodiscard]] bool enabled() const noexcept { return !path_.empty(); }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

  // Append one line (newline included), rotating first when needed.
  Status write_line(std::string_view line) noexcept;

  void close() noexcept;

 private:
  Status open_file() noexcept;
  Status rotate() noexcept;
  void close_file() noexcept;

  [[nodiscard]] const char* base() const noexcept { return path_.c_str() + base_at_; }

  std::string path_;
  std::size_t base_at_ = 0;  // where the name after path_'s last '/' starts
  int dir_fd_ = -1;          // the directory before it, opened at the first open and kept until close()
  std::uint64_t max_size_ = 0;
  int keep_ = 0;
  int fd_ = -1;
  std::uint64_t size_ = 0;  // FILE's size as keel last knew it
  bool torn_ = false;       // FILE ends in a cut line keel could not take back
  bool regular_ = false;    // FILE is a regular file (else it never rotates)
  std::int64_t max_age_ms_ = 0;
  Compression compress_ = Compression::None;
  std::int64_t first_ms_ = -1;   // when FILE's first line was written; -1: FILE empty or unknown
  bool compress_pending_ = false;
  bool compressing_ = false;
  char job_name_[256] = {};      // FILE.1, for compress_job()
};

}  // namespace keel::service
