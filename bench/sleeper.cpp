// keel-bench-sleeper: the supervised program of bench/supervise.
//
// Every supervisor under test (keel, runit, s6) runs this same program, so
// only the supervision differs. It is static, so no dynamic loader runs
// between a supervisor's exec and "the service is up".
//
// When it starts it writes one byte to a FIFO, then sleeps until a signal
// ends it (default dispositions: SIGTERM from any supervisor stops it).
// bench/supervise holds the FIFO's read end and counts the bytes: the
// moment the Nth byte arrives is the moment all N services are running,
// measured without polling /proc (which would steal CPU from the
// supervisors on a 2-CPU machine).
//
//   keel-bench-sleeper [FIFO] [MARKER...]
//
// The FIFO is $KEEL_BENCH_FIFO when set, else the first argument if it is
// an absolute path: runit's and s6's `run` is a symlink to this binary,
// exec'd with no argument (runsv) or with the service's name (s6-supervise
// 2.11), and both pass their environment down. With neither it only
// sleeps. Other arguments are ignored: they only make each service's
// command line unique in `ps`.

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

int main(int argc, char** argv) {
  const char* fifo = std::getenv("KEEL_BENCH_FIFO");
  if (fifo == nullptr && argc > 1 && argv[1][0] == '/') fifo = argv[1];
  if (fifo != nullptr && *fifo != '\0') {
    // Non-blocking: if the bench is gone (no reader), open fails with ENXIO
    // and the service simply sleeps, instead of hanging in open().
    const int fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
      const char byte = '.';
      // One byte is below PIPE_BUF, so N writers never interleave.
      if (write(fd, &byte, 1) < 0) {
        // Nothing to do: the count is then short and the bench times out.
      }
      close(fd);
    }
  }
  for (;;) pause();
}
