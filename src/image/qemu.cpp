#include "image/qemu.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <ostream>
#include <system_error>
#include <thread>

#include "image/diagnostic.hpp"
#include "image/terminal_guard.hpp"

namespace keel::image {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr std::string_view kPanic = "Kernel panic - not syncing";
constexpr std::string_view kRestart = "reboot: Restarting system";
constexpr std::string_view kPowerDown = "reboot: Power down";
constexpr std::string_view kQuit = "QEMU: Terminated";  // the mux's Ctrl-A X, as QEMU writes it
constexpr milliseconds kPanicGrace{2000};  // to let the rest of a panic's trace through

milliseconds since(Clock::time_point start) { return std::chrono::duration_cast<milliseconds>(Clock::now() - start); }

// QEMU's -drive takes commas as separators: a comma in a file name is doubled.
std::string drive_file(const fs::path& path) {
  std::string escaped;
  for (char c : path.string()) {
    escaped += c;
    if (c == ',') escaped += ',';
  }
  return escaped;
}

// A child process in a process group of its own, killed and reaped by the
// destructor unless reaped before.
class Child {
 public:
  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { kill_and_reap(); }

  // Starts argv with stdout+stderr into a pipe whose read end is returned
  // through output_fd, and stdin as `input` says: /dev/null, this process's
  // own stdin (the terminal: then the child stays in our process group,
  // which is the terminal's foreground group, or reading would stop it with
  // SIGTTIN), or a pipe whose write end is returned through input_fd.
  // Returns an error description, "" on success.
  std::string start(const std::vector<std::string>& argv, ConsoleInput input, int& output_fd, int& input_fd) {
    std::array<int, 2> pipe_fds{-1, -1};
    std::array<int, 2> in_fds{-1, -1};
    if (pipe2(pipe_fds.data(), O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);
    auto close_all = [&] {
      for (int fd : {pipe_fds[0], pipe_fds[1], in_fds[0], in_fds[1]})
        if (fd >= 0) close(fd);
    };
    // A socket, not a pipe, for the input: send(MSG_NOSIGNAL) then reports a
    // QEMU that is gone as EPIPE instead of killing us with SIGPIPE.
    if (input == ConsoleInput::Stream && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_fds.data()) != 0) {
      const int saved = errno;
      close_all();
      return std::string("socketpair: ") + std::strerror(saved);
    }
    if (input == ConsoleInput::Null) {
      in_fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (in_fds[0] < 0) {
        const int saved = errno;
        close_all();
        return std::string("/dev/null: ") + std::strerror(saved);
      }
    }
    const bool own_group = input != ConsoleInput::Terminal;
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) {
      const int saved = errno;
      close_all();
      return std::string("fork: ") + std::strerror(saved);
    }
    if (pid == 0) {
      // Only async-signal-safe calls from here to exec.
      if (own_group) setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT}) signal(sig, SIG_DFL);
      if (in_fds[0] >= 0) dup2(in_fds[0], 0);
      dup2(pipe_fds[1], 1);
      dup2(pipe_fds[1], 2);
      execvp(args[0], args.data());
      const char* what = "keel-image: cannot run ";
      (void)!write(2, what, std::strlen(what));
      (void)!write(2, args[0], std::strlen(args[0]));
      const char* why = errno == ENOENT ? ": not found\n" : ": exec failed\n";
      (void)!write(2, why, std::strlen(why));
      _exit(127);
    }
    if (own_group) setpgid(pid, pid);  // also from here, so a kill never races the child's own setpgid
    own_group_ = own_group;
    pid_ = pid;
    close(pipe_fds[1]);
    if (in_fds[0] >= 0) close(in_fds[0]);
    output_fd = pipe_fds[0];
    input_fd = in_fds[1];
    return "";
  }

  // Non-blocking reap: true when the child has ended (status then valid).
  bool try_reap() {
    if (pid_ <= 0) return true;
    int wstatus = 0;
    pid_t r;
    do r = waitpid(pid_, &wstatus, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0) return false;
    if (r == pid_) record(wstatus);
    pid_ = -1;
    return true;
  }

  void kill_and_reap() {
    if (pid_ <= 0) return;
    if (own_group_) kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    int wstatus = 0;
    pid_t r;
    do r = waitpid(pid_, &wstatus, 0);
    while (r < 0 && errno == EINTR);
    if (r == pid_) record(wstatus);
    pid_ = -1;
  }

  [[nodiscard]] int status() const noexcept { return status_; }

 private:
  void record(int wstatus) {
    if (WIFEXITED(wstatus)) status_ = WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus)) status_ = 128 + WTERMSIG(wstatus);
  }

  pid_t pid_ = -1;
  bool own_group_ = true;
  int status_ = -1;
};

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  [[nodiscard]] int get() const noexcept { return fd_; }
  int* out() noexcept { return &fd_; }

 private:
  int fd_ = -1;
};

struct RunEnd {
  std::string start_error;  // "" when started
  bool killed = false;      // the deadline passed (QEMU killed)
  int status = -1;          // exit status (128+N for signal N)
};

// The console input of a Stream boot: bytes from `source`, held back until
// the console output matches `after` (when set).
struct RunInput {
  ConsoleInput kind = ConsoleInput::Null;
  int source = -1;
  std::optional<std::regex> after;
};

// Runs argv until it exits or `deadline` passes, handing its output to
// on_output as it comes; on_output may move the deadline (earlier).
RunEnd run_until(const std::vector<std::string>& argv, Clock::time_point& deadline,
                 const std::function<void(std::string_view)>& on_output, const RunInput& input = {}) {
  RunEnd end;
  Child child;
  Fd output;
  Fd to_qemu;
  end.start_error = child.start(argv, input.kind, *output.out(), *to_qemu.out());
  if (!end.start_error.empty()) return end;

  // Stream input: the gate opens when the console shows input.after (the
  // text searched is the output's last 4 KiB, so a prompt without a newline
  // counts); then source's bytes are copied to QEMU as it takes them.
  const bool feeding = input.kind == ConsoleInput::Stream && input.source >= 0;
  bool gate_open = !input.after.has_value();
  bool source_done = !feeding;
  std::string gate_text;
  std::string pending;
  if (to_qemu.get() >= 0) (void)fcntl(to_qemu.get(), F_SETFL, O_NONBLOCK);
  if (!feeding && to_qemu.get() >= 0) shutdown(to_qemu.get(), SHUT_WR);

  std::array<char, 4096> buffer{};
  bool eof = false;
  while (!eof) {
    const auto now = Clock::now();
    if (now >= deadline) {
      end.killed = true;
      break;
    }
    const auto wait = std::chrono::duration_cast<milliseconds>(deadline - now).count() + 1;
    std::array<pollfd, 3> pfds{};
    nfds_t count = 0;
    pfds[count++] = pollfd{output.get(), POLLIN, 0};
    int source_slot = -1;
    int qemu_slot = -1;
    if (feeding && gate_open && pending.empty() && !source_done) {
      source_slot = static_cast<int>(count);
      pfds[count++] = pollfd{input.source, POLLIN, 0};
    }
    if (!pending.empty() && to_qemu.get() >= 0) {
      qemu_slot = static_cast<int>(count);
      pfds[count++] = pollfd{to_qemu.get(), POLLOUT, 0};
    }
    const int ready = poll(pfds.data(), count, static_cast<int>(std::min<long long>(wait, 1000)));
    if (ready < 0) {
      if (errno == EINTR) continue;
      throw ImageError(std::string("poll on QEMU's output: ") + std::strerror(errno));
    }
    if (ready == 0) continue;
    if (source_slot >= 0 && pfds[source_slot].revents != 0) {
      const ssize_t n = read(input.source, buffer.data(), buffer.size());
      if (n > 0) {
        pending.assign(buffer.data(), static_cast<std::size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        source_done = true;
      }
    }
    if (qemu_slot >= 0 && pfds[qemu_slot].revents != 0) {
      const ssize_t n = send(to_qemu.get(), pending.data(), pending.size(), MSG_NOSIGNAL);
      if (n > 0) {
        pending.erase(0, static_cast<std::size_t>(n));
      } else if (n < 0 && errno != EINTR && errno != EAGAIN) {
        pending.clear();  // QEMU stopped reading (EPIPE): the rest is dropped
        source_done = true;
      }
    }
    if (feeding && source_done && pending.empty() && to_qemu.get() >= 0) {
      shutdown(to_qemu.get(), SHUT_WR);  // QEMU sees the end of its input
      close(to_qemu.get());
      *to_qemu.out() = -1;
    }
    if ((pfds[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    const ssize_t n = read(output.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw ImageError(std::string("reading QEMU's output: ") + std::strerror(errno));
    }
    if (n == 0) {
      eof = true;
      break;
    }
    const std::string_view chunk(buffer.data(), static_cast<std::size_t>(n));
    on_output(chunk);
    if (!gate_open) {
      gate_text.append(chunk);
      if (gate_text.size() > 4096) gate_text.erase(0, gate_text.size() - 4096);
      gate_open = std::regex_search(gate_text, *input.after);
    }
  }
  if (eof) {
    // Output closed: QEMU is exiting. Reap it, within the deadline.
    while (!child.try_reap()) {
      if (Clock::now() >= deadline) {
        end.killed = true;
        break;
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
  }
  child.kill_and_reap();  // no-op when reaped
  end.status = child.status();
  return end;
}

std::string indent_lines(const std::deque<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += "  | " + line + "\n";
  return text;
}

// The probe guest: a boot sector (16-bit real mode, at 0x7c00) that writes
// "KVMOK\n" to COM1 and leaves through isa-debug-exit (port 0xf4; QEMU then
// exits with (0x10 << 1) | 1 = 33).
std::vector<unsigned char> probe_boot_sector() {
  std::vector<unsigned char> code = {0xBA, 0xF8, 0x03};  // mov dx, 0x3f8
  for (char c : std::string_view("KVMOK\n")) {
    code.push_back(0xB0);  // mov al, c
    code.push_back(static_cast<unsigned char>(c));
    code.push_back(0xEE);  // out dx, al
  }
  for (unsigned char b : {0xBA, 0xF4, 0x00,   // mov dx, 0xf4
                          0xB0, 0x10,         // mov al, 0x10
                          0xEE,               // out dx, al
                          0xF4, 0xEB, 0xFD})  // hlt; jmp $-1
    code.push_back(b);
  code.resize(512, 0);
  code[510] = 0x55;
  code[511] = 0xAA;
  return code;
}

}  // namespace

bool is_arm64_kernel(const fs::path& kernel) {
  // A regular file only: opening a FIFO would wait for a writer.
  std::error_code ec;
  if (!fs::is_regular_file(kernel, ec)) return false;
  // The arm64 boot protocol's image header: the magic "ARM\x64" at 56.
  std::ifstream in(kernel, std::ios::binary);
  char header[64] = {};
  if (!in.read(header, sizeof header)) return false;
  return std::memcmp(header + 56, "ARM\x64", 4) == 0;
}

std::vector<std::string> qemu_command(const BootOptions& options, bool kvm) {
  const bool arm64 = is_arm64_kernel(options.kernel);
  BootOptions defaults;
  std::string append = arm64 ? "console=ttyAMA0 panic=-1" : "console=ttyS0 panic=-1";
  if (!options.append.empty()) append += " " + options.append;
  // The x86_64 defaults stand for "QEMU's own" on arm64: its QEMU and CPU.
  const std::string qemu = arm64 && options.qemu == defaults.qemu ? "qemu-system-aarch64" : options.qemu;
  const std::string cpu = arm64 && options.cpu == defaults.cpu ? "cortex-a57" : options.cpu;
  std::vector<std::string> argv = {qemu, "-nodefaults", "-display", "none", "-no-reboot", "-accel",
                                   kvm && !arm64 ? "kvm" : "tcg", "-cpu", cpu, "-m", options.memory};
  if (arm64) argv.insert(argv.end(), {"-M", "virt"});
  if (options.input == ConsoleInput::Terminal) {
    // The mux gives Ctrl-A X (quit) and Ctrl-A C (the monitor, when there is
    // one); signal=off hands Ctrl-C to the guest instead of killing QEMU.
    argv.insert(argv.end(), {"-chardev", "stdio,id=console,mux=on,signal=off", "-serial", "chardev:console"});
  } else {
    argv.insert(argv.end(), {"-serial", "stdio"});
  }
  if (options.monitor == Monitor::Console) argv.insert(argv.end(), {"-mon", "chardev=console,mode=readline"});
  if (options.monitor == Monitor::Socket) {
    argv.emplace_back("-monitor");
    argv.push_back("unix:" + options.monitor_socket.string() + ",server=on,wait=off");
  }
  if (options.smp > 0) {
    argv.emplace_back("-smp");
    argv.push_back(std::to_string(options.smp));
  }
  if (options.icount) argv.insert(argv.end(), {"-icount", "shift=0,sleep=off"});
  argv.insert(argv.end(), {"-kernel", options.kernel.string()});
  if (!options.initrd.empty()) {
    argv.emplace_back("-initrd");
    argv.push_back(options.initrd.string());
  }
  argv.emplace_back("-append");
  argv.push_back(append);
  for (const fs::path& disk : options.disks) {
    argv.emplace_back("-drive");
    argv.push_back("file=" + drive_file(disk) + ",format=raw,if=virtio");
  }
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
  return argv;
}

std::string format_command(const std::vector<std::string>& argv) {
  std::string line;
  for (const std::string& arg : argv) {
    if (!line.empty()) line += ' ';
    const bool plain = !arg.empty() && arg.find_first_not_of(
                                           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                           "0123456789-_./=:,+@%") == std::string::npos;
    if (plain) {
      line += arg;
      continue;
    }
    line += '\'';
    for (char c : arg) {
      if (c == '\'') {
        line += "'\\''";
      } else {
        line += c;
      }
    }
    line += '\'';
  }
  return line;
}

ConsoleWatcher::ConsoleWatcher(const std::vector<std::string>& patterns, std::size_t keep_lines)
    : sources_(patterns), keep_(keep_lines) {
  for (const std::string& pattern : patterns) {
    try {
      patterns_.emplace_back(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw ImageError("bad --expect pattern '" + pattern + "': " + e.what());
    }
  }
}

void ConsoleWatcher::feed(std::string_view output) {
  std::size_t start = 0;
  while (start < output.size()) {
    const std::size_t newline = output.find('\n', start);
    if (newline == std::string_view::npos) {
      partial_.append(output.substr(start));
      return;
    }
    partial_.append(output.substr(start, newline - start));
    std::string complete;
    complete.swap(partial_);
    line(complete);
    start = newline + 1;
  }
}

void ConsoleWatcher::finish() {
  if (partial_.empty()) return;
  std::string complete;
  complete.swap(partial_);
  line(complete);
}

void ConsoleWatcher::line(std::string_view text) {
  while (!text.empty() && (text.back() == '\r' || text.back() == '\n')) text.remove_suffix(1);
  std::string owned(text);
  if (keep_ > 0) {
    last_.push_back(owned);
    while (last_.size() > keep_) last_.pop_front();
  }
  if (panic_line_.empty() && owned.find(kPanic) != std::string::npos) panic_line_ = owned;
  if (owned.find(kRestart) != std::string::npos) restarted_ = true;
  if (owned.find(kPowerDown) != std::string::npos) powered_off_ = true;
  if (owned.find(kQuit) != std::string::npos) quit_ = true;
  if (next_ < patterns_.size() && std::regex_search(owned, patterns_[next_])) ++next_;
}

std::optional<std::string> ConsoleWatcher::first_unmatched() const {
  if (next_ >= sources_.size()) return std::nullopt;
  return sources_[next_];
}

KvmProbe probe_accel(const std::string& qemu, const std::string& accel, milliseconds timeout) {
  const auto start = Clock::now();
  KvmProbe probe;
  char dir_template[] = "/tmp/keel-kvm-probe-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    probe.reason = std::string("cannot make a temporary directory: ") + std::strerror(errno);
    return probe;
  }
  const fs::path dir = dir_template;
  const fs::path disk = dir / "probe.img";
  {
    const auto sector = probe_boot_sector();
    std::ofstream out(disk, std::ios::binary);
    out.write(reinterpret_cast<const char*>(sector.data()), static_cast<std::streamsize>(sector.size()));
  }
  const std::vector<std::string> argv = {qemu,
                                         "-nodefaults",
                                         "-display",
                                         "none",
                                         "-no-reboot",
                                         "-accel",
                                         accel,
                                         "-m",
                                         "16",
                                         "-serial",
                                         "stdio",
                                         "-device",
                                         "isa-debug-exit,iobase=0xf4,iosize=0x04",
                                         "-drive",
                                         "file=" + drive_file(disk) + ",format=raw,if=ide"};
  std::string output;
  auto deadline = start + timeout;
  RunEnd end;
  try {
    end = run_until(argv, deadline, [&](std::string_view chunk) {
      if (output.size() < 65536) output.append(chunk);
    });
  } catch (const ImageError& e) {
    end.start_error = e.what();
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  probe.elapsed = since(start);
  if (!end.start_error.empty()) {
    probe.reason = end.start_error;
  } else if (end.killed) {
    probe.reason =
        "the probe guest did not finish within " + std::to_string(timeout.count()) + " ms (" + accel + " hangs here)";
  } else if (output.find("KVMOK") == std::string::npos || end.status != 33) {
    while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
    probe.reason = "the probe guest failed (QEMU status " + std::to_string(end.status) + ")" +
                   (output.empty() ? std::string() : ": " + output.substr(0, 400));
  } else {
    probe.usable = true;
    probe.reason = "a guest ran under " + accel;
  }
  return probe;
}

const KvmProbe& kvm_probe(const std::string& qemu) {
  static std::mutex mutex;
  static std::optional<KvmProbe> cached;
  std::lock_guard lock(mutex);
  if (!cached) {
    const int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      cached = KvmProbe{false, std::string("/dev/kvm: ") + std::strerror(errno), milliseconds(0)};
    } else {
      close(fd);
      cached = probe_accel(qemu, "kvm");
    }
  }
  return *cached;
}

fs::path kvm_marker(const BootOptions& options) {
  return options.kvm_marker.empty() ? options.kernel.parent_path() / ".kvm-failed" : options.kvm_marker;
}

Accel decide_accel(const BootOptions& options, std::ostream& log) {
  Accel accel = options.accel;
  if (accel == Accel::Auto && !options.forget_kvm_failure) {
    if (const char* forced = std::getenv("KEEL_IMAGE_ACCEL")) {
      const std::string_view value = forced;
      if (value == "kvm") accel = Accel::Kvm;
      if (value == "tcg") accel = Accel::Tcg;
    }
  }
  if (accel != Accel::Auto) return accel;
  // A KVM that failed here before (a real boot, or the probe) is not tried
  // again: a failed boot can take most of a minute to show, a hanging probe
  // its whole bound (6 s) at every boot.
  std::error_code ec;
  const fs::path marker = kvm_marker(options);
  if (options.forget_kvm_failure && fs::remove(marker, ec)) {
    log << "keel-image: forgot that KVM failed here (" << marker.string() << "): probing again\n";
  }
  if (fs::exists(marker, ec)) {
    log << "keel-image: using software emulation (TCG): KVM failed here before (--accel probe, or delete "
        << marker.string() << ", to try it again)\n";
    return Accel::Tcg;
  }
  KvmProbe probe;
  const int fd = open(options.kvm_device.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    probe.reason = options.kvm_device.string() + ": " + std::strerror(errno);
  } else {
    close(fd);
    // The process-wide cache serves the usual case; another device or bound
    // (the tests') probes afresh.
    const bool usual = options.kvm_device == "/dev/kvm" && options.probe_timeout == std::chrono::seconds(6);
    probe = usual ? kvm_probe(options.qemu) : probe_accel(options.qemu, "kvm", options.probe_timeout);
    if (!probe.usable) {
      std::ofstream(marker) << "the KVM probe failed: " << probe.reason
                            << "\nkeel-image uses TCG while this file exists (keel-image boot --accel probe forgets it)\n";
    }
  }
  log << "keel-image: " << (probe.usable ? "using KVM: " : "using software emulation (TCG): KVM unusable: ")
      << probe.reason << " (probe " << probe.elapsed.count() << " ms)\n";
  return probe.usable ? Accel::Kvm : Accel::Tcg;
}

const char* to_string(BootStatus status) {
  switch (status) {
    case BootStatus::Passed: return "passed";
    case BootStatus::Timeout: return "timeout";
    case BootStatus::Panic: return "kernel panic";
    case BootStatus::Restarted: return "guest restarted";
    case BootStatus::Unmatched: return "patterns unmatched";
    case BootStatus::QemuFailed: return "QEMU failed";
    case BootStatus::NotStarted: return "QEMU not started";
    case BootStatus::Quit: return "quit (Ctrl-A X)";
    case BootStatus::PoweredOff: return "guest powered off (a reboot was expected)";
  }
  return "?";
}

int BootResult::exit_code() const noexcept {
  switch (status) {
    case BootStatus::Passed: return 0;
    case BootStatus::Restarted: return 3;
    case BootStatus::PoweredOff: return 4;
    case BootStatus::Panic: return 5;
    case BootStatus::Timeout: return 6;
    case BootStatus::Unmatched: return 7;
    case BootStatus::QemuFailed:
    case BootStatus::NotStarted: return 8;
    case BootStatus::Quit: return 9;
  }
  return 1;
}

BootResult boot(const BootOptions& options, std::ostream& console, std::ostream& log) {
  std::error_code ec;
  if (options.kernel.empty())
    throw ImageError("no kernel: give --kernel, or run scripts/fetch-kernel.sh for the project's cached one");
  if (!fs::is_regular_file(options.kernel, ec)) throw ImageError(options.kernel.string(), 0, "kernel not found");
  if (!options.initrd.empty() && !fs::is_regular_file(options.initrd, ec))
    throw ImageError(options.initrd.string(), 0, "image not found");
  for (const fs::path& disk : options.disks) {
    if (!fs::is_regular_file(disk, ec)) throw ImageError(disk.string(), 0, "disk image not found");
  }
  ConsoleWatcher watcher(options.expect, options.keep_lines);

  BootResult result;
  // KVM here runs x86_64 guests only: an arm64 kernel is emulated.
  const Accel accel = is_arm64_kernel(options.kernel) ? Accel::Tcg : decide_accel(options, log);
  const bool kvm_was_probed = accel == Accel::Kvm && options.accel == Accel::Auto && std::getenv("KEEL_IMAGE_ACCEL") == nullptr;
  const fs::path marker = kvm_marker(options);
  result.kvm = accel == Accel::Kvm;
  result.command = qemu_command(options, result.kvm);
  log << "keel-image: running: " << format_command(result.command) << '\n';
  log.flush();

  // Interactive: the terminal comes back as it was, however this ends.
  std::optional<TerminalGuard> terminal;
  if (options.input == ConsoleInput::Terminal) terminal.emplace(STDIN_FILENO);
  RunInput input;
  input.kind = options.input;
  input.source = options.input_fd;
  if (options.input == ConsoleInput::Stream && !options.input_after.empty()) {
    try {
      input.after.emplace(options.input_after, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw ImageError("bad --input-after pattern '" + options.input_after + "': " + e.what());
    }
  }
  // A zero timeout is none (the interactive default).
  const auto deadline_from = [&](Clock::time_point at) {
    return options.timeout.count() > 0 ? at + options.timeout : Clock::time_point::max();
  };

  auto start = Clock::now();
  auto deadline = deadline_from(start);
  bool panic_seen = false;
  // A probe guest can pass where a real kernel then trips over KVM (seen:
  // "KVM internal error. Suberror: 1 - emulation failure" on a locked
  // cmpxchg16b). When the probe chose KVM and QEMU says so, stop at once and
  // boot again under TCG rather than wait out the timeout.
  std::string tail;
  bool kvm_failed = false;
  auto on_output = [&](std::string_view chunk) {
    console.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    console.flush();
    watcher.feed(chunk);
    if (watcher.panicked() && !panic_seen) {
      panic_seen = true;
      deadline = std::min(deadline, Clock::now() + kPanicGrace);
    }
    if (kvm_was_probed && !kvm_failed) {
      tail.append(chunk);
      if (tail.find("KVM internal error") != std::string::npos) {
        kvm_failed = true;
        deadline = Clock::now();
      }
      if (tail.size() > 64) tail.erase(0, tail.size() - 64);
    }
  };
  RunEnd end = run_until(result.command, deadline, on_output, input);
  if (kvm_failed) {
    log << "\nkeel-image: KVM failed during the boot (KVM internal error): booting again with software emulation\n";
    std::ofstream(marker) << "KVM internal error during a boot; keel-image uses TCG while this file exists\n";
    watcher = ConsoleWatcher(options.expect, options.keep_lines);
    panic_seen = false;
    result.kvm = false;
    result.command = qemu_command(options, false);
    log << "keel-image: running: " << format_command(result.command) << '\n';
    log.flush();
    start = Clock::now();
    deadline = deadline_from(start);
    end = run_until(result.command, deadline, on_output, input);
  }
  watcher.finish();
  result.elapsed = since(start);
  result.qemu_status = end.status;
  result.matched = watcher.matched();
  result.last_lines.assign(watcher.last_lines().begin(), watcher.last_lines().end());

  const double seconds = static_cast<double>(result.elapsed.count()) / 1000.0;
  std::string what;
  if (!end.start_error.empty()) {
    result.status = BootStatus::NotStarted;
    what = "cannot start QEMU: " + end.start_error;
  } else if (watcher.panicked()) {
    result.status = BootStatus::Panic;
    what = "kernel panic: " + watcher.panic_line();
  } else if (watcher.quit() && !end.killed) {
    result.status = BootStatus::Quit;
    what = "quit from the console (Ctrl-A X)";
  } else if (end.killed) {
    result.status = BootStatus::Timeout;
    what = "timed out after " + std::to_string(options.timeout.count() / 1000.0).substr(0, 5) + " s (QEMU killed)" +
           (watcher.all_matched() ? ": every pattern matched but the guest did not power off" : "");
  } else if (watcher.restarted() && !options.expect_reboot) {
    result.status = BootStatus::Restarted;
    what = "the guest restarted instead of powering off";
  } else if (end.status != 0) {
    result.status = BootStatus::QemuFailed;
    what = "QEMU exited with status " + std::to_string(end.status);
  } else if (!watcher.all_matched()) {
    result.status = BootStatus::Unmatched;
    what = std::string("the guest ") + (watcher.restarted() ? "rebooted" : "powered off") +
           " before every pattern appeared";
  } else if (options.expect_reboot && watcher.powered_off()) {
    result.status = BootStatus::PoweredOff;
    what = "the guest powered off instead of rebooting (--expect-reboot)";
  } else {
    result.status = BootStatus::Passed;
  }
  if (result.status != BootStatus::Passed) {
    std::string message = "boot failed: " + what;
    if (const auto pattern = watcher.first_unmatched()) {
      message += "\n  first unmatched pattern (" + std::to_string(watcher.matched() + 1) + " of " +
                 std::to_string(options.expect.size()) + "): " + *pattern;
    }
    message += "\n  after " + std::to_string(seconds).substr(0, std::to_string(seconds).find('.') + 2) +
               " s; last console lines:\n" + indent_lines(watcher.last_lines());
    result.message = message;
  }
  return result;
}

}  // namespace keel::image
