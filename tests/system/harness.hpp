// harness.hpp — running the real keel binary from a system test.
//
// What it gives a test:
//
//   * KeelRun: start keel (or any program) as a child of the test process with
//     its argv, environment, working directory and starting signal state
//     chosen, stdin on a pipe the test writes to and closes, stdout and
//     stderr captured separately. Two placements:
//       Placement::Subreaper  the program is the test's direct child (keel
//                             then registers as a subreaper itself: -s is
//                             its default when it is not PID 1);
//       Placement::Namespace  `unshare --pid --fork --mount-proc --kill-child
//                             PROGRAM ARGS...`: the program is PID 1 of a
//                             fresh PID namespace. The test's direct child
//                             is then unshare, whose exit status mirrors the
//                             program's (unshare re-raises a killing signal).
//     KeelRun::keel_pid() is the program's pid as the test sees it in both.
//
//   * Events with deadlines. next_line / find_line wait for a line on
//     stdout or stderr; wait_exit waits for the exit status. Every wait has
//     a deadline: a line that does not come returns nullopt (the test
//     decides), an exit that does not come fails the test (ADD_FAILURE) and
//     kills the whole tree, so no test can hang. Sleeping is never used as a
//     correctness condition; poll_until() loops on a condition with a
//     deadline.
//
//   * /proc queries from the test's side: proc_table, descendants,
//     count_zombies, pid_alive, status_field ("SigIgn", ...), KeelRun::host_pid
//     to translate a pid printed inside keel's PID namespace.
//
//   * Shorthands the scenario tests share: run_through (a run to its end,
//     stdin closed at once), seen / saw / any_line (lines awaited in any
//     order), the probe's lines (wait_ready, got, status_value) and a signal
//     barrier (barrier: proof that a signal did NOT arrive), keel under
//     another name (keel_symlink), and a few text helpers.
//
// Each runner starts in its own process group (nothing keel sends to a
// group reaches the test), with PR_SET_PDEATHSIG=SIGKILL (a crashed test
// leaves nothing behind) and RLIMIT_CORE 0 (no core files in the build tree).
// Lines: next_line/find_line consume lines in order (find_line skips
// non-matching ones); lines() always returns every line received, consumed or
// not, for after-the-fact assertions ("no 'got 1' line before the marker").
// KEEL_SYSTEST_BINARY=/path/to/keel in the environment runs the suite
// against another keel binary (see keel_binary()).
//
// The test process registers itself as a child subreaper the first time a
// KeelRun starts, so anything keel leaves behind when it exits is re-parented to
// the test: leftover_processes() lists such processes (and reap_leftovers()
// kills and reaps them), which is how a test proves keel exited only after
// its whole tree was gone; a fixture's TearDown should call reap_leftovers()
// (the last KeelRun destroyed does it too). The test process also ignores SIGPIPE (a write to
// the stdin of a keel that has exited must not kill the test); every child
// starts with default dispositions and an empty mask regardless, plus
// exactly what Launch::ignore / Launch::block ask for.
//
// Typical use, with the probe (tests/system/probe.cpp documents its
// subcommands and lines):
//
//   KeelRun keel(keel_launch(GetParam(), {"-g", kProbe, "signals", "--child"}));
//   auto ready = keel.find_line(Stream::Out, "ready ");
//   ASSERT_TRUE(ready);
//   keel.signal(SIGUSR1);                                    // to keel
//   EXPECT_TRUE(keel.find_line(Stream::Out, "got 10 "));
//   keel.close_stdin();                                      // the probe exits
//   EXPECT_EQ(keel.wait_exit(), 0);                          // shell-style code
//
// Conventions: pids in lines the probe prints are as the probe sees them
// (namespace pids in Placement::Namespace); use host_pid() before kill() or
// /proc lookups. argv0 can be chosen only in Placement::Subreaper (unshare
// runs PROGRAM by its path): to run keel under another name in a namespace,
// run the symlink keel_symlink(name) returns.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::systest {

using Clock = std::chrono::steady_clock;
using Duration = std::chrono::milliseconds;
using namespace std::chrono_literals;

// The keel under test: the one built with the tests, unless the environment
// variable KEEL_SYSTEST_BINARY names another (an installed keel, a
// sanitizer build, a deliberately broken one to see the tests fail).
const std::string& keel_binary();
inline constexpr const char* kProbe = KEEL_PROBE;

// Default bounds. A wait that hits one is a failure, never a hang.
inline constexpr Duration kLineTimeout = 10s;
inline constexpr Duration kExitTimeout = 20s;

enum class Placement { Subreaper, Namespace };
const char* placement_name(Placement p);
void PrintTo(Placement p, std::ostream* os);  // gtest prints parameters with it

// True when `unshare --pid --fork --mount-proc` works here (root, no
// seccomp filter in the way). Checked once; tests in the Namespace
// placement GTEST_SKIP() when it is false.
bool namespaces_available();

enum class Stream { Out, Err };

struct Launch {
  Placement placement = Placement::Subreaper;
  std::string program = keel_binary();                       // path of what to run (a '/' in it: no PATH lookup)
  std::string argv0;                                         // Subreaper only; empty: program
  std::vector<std::string> args;                             // argv[1..]
  std::vector<std::pair<std::string, std::string>> set_env;  // on top of the test's environment
  std::vector<std::string> unset_env;
  std::string cwd;            // empty: the test's cwd
  std::vector<int> ignore;    // signals set to SIG_IGN before exec (exec keeps them)
  std::vector<int> block;     // signals blocked before exec (exec keeps the mask)
  bool stdin_pipe = true;     // false: stdin is /dev/null
  bool stdin_closed = false;  // true: fd 0 is closed at exec (overrides stdin_pipe)
  // A terminal (a pty slave's path): the runner starts a new session, and
  // this becomes its controlling terminal and its fd 0 (overrides the two
  // above), as for a container run with `docker run -it`.
  std::string stdin_terminal;
  // >= 0: the program's fd 2 is a copy of this fd of the test's (a FIFO
  // nobody reads, a stopped terminal) instead of the captured pipe; its
  // stderr lines are then the test's to read (lines(Stream::Err) is empty).
  int stderr_fd = -1;
};

// Shorthands (designated initializers of Launch trip -Wmissing-field-initializers):
// keel with these arguments, and any program with these arguments.
Launch keel_launch(Placement placement, std::vector<std::string> args);
Launch program_launch(Placement placement, std::string program, std::vector<std::string> args);

// Shell-style exit code from a wait status: N, or 128+N when killed by N.
int shell_code(int wait_status);

class KeelRun {
 public:
  explicit KeelRun(Launch launch);
  ~KeelRun();  // kills whatever is still running (whole tree) and reaps it
  KeelRun(const KeelRun&) = delete;
  KeelRun& operator=(const KeelRun&) = delete;

  // False when the start failed (a test failure has been added).
  [[nodiscard]] bool started() const { return runner_ > 0; }
  // The test's direct child: keel itself, or unshare.
  [[nodiscard]] pid_t runner_pid() const { return runner_; }
  // keel's pid in the test's PID namespace (waits for unshare's fork in
  // the Namespace placement); -1 if it never appeared.
  pid_t keel_pid(Duration timeout = kLineTimeout);
  // The test-side pid of `inner`, a pid as seen inside keel's namespace
  // (identity in the Subreaper placement); -1 if no such process.
  pid_t host_pid(pid_t inner);
  [[nodiscard]] const Launch& launch() const { return launch_; }

  // Send a signal to keel (keel_pid()). Returns kill()'s success.
  bool signal(int signo);

  void write_stdin(std::string_view text);
  void close_stdin();

  // The next line (without '\n') not returned yet, waiting up to `timeout`.
  // nullopt on timeout or when the stream has ended.
  std::optional<std::string> next_line(Stream s, Duration timeout = kLineTimeout);
  // Consume lines until one satisfies `match` (or contains `needle`);
  // returns it. Lines skipped stay in lines(). nullopt on timeout / EOF.
  std::optional<std::string> find_line(Stream s, const std::function<bool(const std::string&)>& match,
                                       Duration timeout = kLineTimeout);
  std::optional<std::string> find_line(Stream s, std::string_view needle, Duration timeout = kLineTimeout);
  // Every complete line received so far (reads what is available first).
  const std::vector<std::string>& lines(Stream s);
  // Everything received so far, as one text (a last partial line included).
  std::string text(Stream s);

  // Wait for the exit; the shell-style code. On timeout: ADD_FAILURE(),
  // the whole tree is SIGKILLed, and nullopt. After the exit, the output
  // is read until EOF (for at most 2 s: a leftover process may hold it).
  std::optional<int> wait_exit(Duration timeout = kExitTimeout);
  // Like wait_exit but a timeout is not a failure and kills nothing: for
  // "is it still running after ...". nullopt: still running.
  std::optional<int> try_wait_exit(Duration timeout);
  [[nodiscard]] bool exited() const { return exited_; }
  [[nodiscard]] int wait_status() const { return status_; }
  // When the exit was seen (valid once exited()).
  [[nodiscard]] Clock::time_point exit_time() const { return exit_time_; }

  // SIGKILL keel, everything below it, and the runner; reap the runner.
  void kill_all();

 private:
  struct Channel {
    int fd = -1;
    std::string partial;
    std::vector<std::string> lines;
    std::size_t cursor = 0;
    bool eof = false;
  };
  Channel& channel(Stream s) { return s == Stream::Out ? out_ : err_; }
  // Read what is available; wait up to `deadline` for something to happen
  // (output, EOF, or the runner's exit). Returns false if nothing happened.
  bool pump(Clock::time_point deadline);
  void read_channel(Channel& c);
  bool reap_runner(bool block);
  void drain_after_exit();

  Launch launch_;
  pid_t runner_ = -1;
  pid_t keel_ = -1;
  int pidfd_ = -1;
  int stdin_fd_ = -1;
  Channel out_;
  Channel err_;
  bool exited_ = false;
  int status_ = 0;
  Clock::time_point exit_time_{};
};

// Start many runs at once and wait for all; exit codes in order (nullopt
// for one that timed out, which has been reported as a failure).
std::vector<std::optional<int>> run_all(const std::vector<Launch>& launches, Duration timeout = kExitTimeout);

// A run to its end with stdin closed at once: the exit code (nullopt: it
// timed out, a failure), the program's pid (Placement::Subreaper only; -1 in
// a namespace, where it may be gone before it is looked up) and everything
// it wrote to stdout and stderr.
struct Outcome {
  std::optional<int> code;
  pid_t pid = -1;
  std::string out;
  std::string err;
};
Outcome run_through(Launch launch);

// ------------------------------------------------------- lines, any order

// A line satisfying `match` was received already (even one an earlier
// find_line skipped) or comes within the timeout: unlike find_line alone,
// lines of several processes can be awaited in any order.
std::optional<std::string> seen(KeelRun& run, Stream s, const std::function<bool(const std::string&)>& match,
                                Duration timeout = kLineTimeout);
// seen() for a line equal to `exact`.
bool saw(KeelRun& run, Stream s, const std::string& exact, Duration timeout = kLineTimeout);
// A line equal to `exact` has been received (no waiting: after a barrier()).
bool any_line(KeelRun& run, Stream s, const std::string& exact);

// ------------------------------------------------------------ probe lines

// "ready <pid> <pgid> [<child>]" from the probe's `signals` subcommand,
// awaited with seen(); nullopt if it does not come. Pids as the probe sees
// them (host_pid() them in Placement::Namespace); child -1 without --child.
struct Ready {
  pid_t pid = -1;
  pid_t pgid = -1;
  pid_t child = -1;
};
std::optional<Ready> wait_ready(KeelRun& run);

// The probe's line for signal `signo` arriving at `pid`: "got <signo> <pid>".
std::string got(int signo, pid_t pid);

// Every standard signal sent to `pid` before this call has been reported
// once this returns true (probe.cpp: real-time signals come after them). It
// sends SIGRTMIN straight to `pid` (a pid as the test sees it) and waits for
// a new "got" line for it on stdout: the way to prove a signal did NOT
// arrive (any_line() after the barrier).
bool barrier(KeelRun& run, pid_t pid);

// The value of the probe's `status` line "<key> <value>" ("pid", "pgid",
// "sid", "SigIgn", "cwd", ...); nullopt if there is none.
std::optional<std::string> status_value(const std::vector<std::string>& lines, const std::string& key);

// ------------------------------------------------------------ /proc

struct ProcEntry {
  pid_t pid = 0;
  pid_t ppid = 0;
  char state = '?';  // R S D T Z X ...
  std::string comm;
};

// Every process the test can see.
std::vector<ProcEntry> proc_table();
// Every process below `root` (not root itself), breadth-first.
std::vector<ProcEntry> descendants(pid_t root);
// Zombies below `root`.
int count_zombies(pid_t root);
// The process exists (in any state, zombie included).
bool pid_exists(pid_t pid);
// The process exists and is not a zombie / dead.
bool pid_alive(pid_t pid);
// State letter from /proc/PID/stat; '\0' if gone.
char proc_state(pid_t pid);
// A field of /proc/PID/status ("SigIgn", "NSpid", ...), value trimmed.
std::optional<std::string> status_field(pid_t pid, std::string_view key);
// A signal-set field of /proc/PID/status as a bit mask (bit N-1 = signal N).
std::optional<std::uint64_t> status_sigset(pid_t pid, std::string_view key);
inline constexpr std::uint64_t sig_bit(int signo) { return std::uint64_t{1} << (signo - 1); }
// The whole file; empty if it cannot be read.
std::string read_file(const std::string& path);
// readlink(); empty on error.
std::string read_link(const std::string& path);

// Processes re-parented to the test process (it is a subreaper) that are
// not a KeelRun's runner: what some keel left behind.
std::vector<ProcEntry> leftover_processes();
// SIGKILL and reap them; returns how many there were.
int reap_leftovers();

// Loop on `cond` (every `step`) until it is true or `timeout` passes.
bool poll_until(const std::function<bool()>& cond, Duration timeout, Duration step = 5ms);

// A fresh directory under /tmp, removed (recursively) at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// keel under another name (a personality chosen by argv[0]): the path of a
// symlink `name` -> keel_binary() in a temp dir made once per test program
// and removed at its exit. Works in both placements (Launch::argv0 does not).
std::string keel_symlink(const std::string& name);
// An executable file is at `path` (a real tini or dumb-init, for parity).
bool installed(const std::string& path);
// Create an empty, non-executable file (mode 0644); false on error.
bool create_file(const std::string& path);

// Split a line on spaces.
std::vector<std::string> words(const std::string& line);
// Split text into lines, without their '\n' (a last line without one counts).
std::vector<std::string> split_lines(const std::string& text);
// Number of '\n' in text.
int count_lines(const std::string& text);
bool contains(const std::string& hay, const std::string& needle);
bool starts_with(const std::string& text, const std::string& prefix);
// Replace every `from` (not empty) in `text` by `to`.
void replace_all(std::string& text, const std::string& from, const std::string& to);
// " a b c": every argument after a space, for failure messages.
std::string joined(const std::vector<std::string>& args);

}  // namespace keel::systest
