// powercycle_writer.cpp — the service of the power-cycle test
// (powercycle_test.cpp): appends numbered records "N\n" to a file, fsyncs
// after each, and only then prints "synced N" on stdout (the console). The
// numbers continue from the file's last record, so across boots the file
// must read 1, 2, 3, ... with every number the console showed as synced.
//
//   keel-powercycle-writer [FILE] [INTERVAL_MS]   (default /data/records, 20)
//
// Static, so the image needs no libraries for it. Killed by SIGTERM at
// shutdown, at any point of its loop: that is the point.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "/data/records";
  const long interval_ms = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 20;
  int fd = ::open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::fprintf(stderr, "writer: %s: %s\n", path, std::strerror(errno));
    return 1;
  }
  // The last record: the number after the last-but-one newline.
  long last = 0;
  off_t size = ::lseek(fd, 0, SEEK_END);
  if (size > 0) {
    char tail[64];
    off_t from = size > static_cast<off_t>(sizeof tail) ? size - static_cast<off_t>(sizeof tail) : 0;
    ssize_t n = ::pread(fd, tail, sizeof tail, from);
    if (n <= 0 || tail[n - 1] != '\n') {
      std::fprintf(stderr, "writer: %s does not end with a whole record\n", path);
      return 1;
    }
    ssize_t start = n - 1;
    while (start > 0 && tail[start - 1] != '\n') --start;
    last = std::strtol(tail + start, nullptr, 10);
  }
  std::printf("writer: continuing after record %ld\n", last);
  std::fflush(stdout);
  const timespec pause{interval_ms / 1000, (interval_ms % 1000) * 1'000'000};
  for (long n = last + 1;; ++n) {
    char record[32];
    int len = std::snprintf(record, sizeof record, "%ld\n", n);
    if (::write(fd, record, static_cast<std::size_t>(len)) != len) {
      std::fprintf(stderr, "writer: write: %s\n", std::strerror(errno));
      return 1;
    }
    if (::fsync(fd) != 0) {
      std::fprintf(stderr, "writer: fsync: %s\n", std::strerror(errno));
      return 1;
    }
    // One write(2) per line: the console never shows half a line.
    char line[48];
    int l = std::snprintf(line, sizeof line, "synced %ld\n", n);
    (void)!::write(1, line, static_cast<std::size_t>(l));
    ::nanosleep(&pause, nullptr);
  }
}
