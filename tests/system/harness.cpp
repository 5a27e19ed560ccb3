// harness.cpp — see harness.hpp.
#include "harness.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <ostream>
#include <set>
#include <thread>

extern char** environ;

namespace keel::systest {
namespace {

// Runners not reaped yet: leftover_processes() must not count them.
std::set<pid_t>& live_runners() {
  static std::set<pid_t> runners;
  return runners;
}

void setup_test_process_once() {
  static bool done = false;
  if (done) return;
  done = true;
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    ADD_FAILURE() << "prctl(PR_SET_CHILD_SUBREAPER): " << std::strerror(errno);
  }
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  ::sigaction(SIGPIPE, &ign, nullptr);
}

std::string find_in_path(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  std::size_t start = 0;
  for (;;) {
    std::size_t colon = dirs.find(':', start);
    std::string dir = dirs.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return name;
}

bool read_stat(pid_t pid, ProcEntry* out) {
  std::string text = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto open = text.find('(');
  auto close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close + 4 >= text.size()) return false;
  out->pid = pid;
  out->comm = text.substr(open + 1, close - open - 1);
  out->state = text[close + 2];
  out->ppid = static_cast<pid_t>(std::strtol(text.c_str() + close + 4, nullptr, 10));
  return true;
}

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return left > 1'000'000 ? 1'000'000 : static_cast<int>(left);
}

}  // namespace

std::string read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

const char* placement_name(Placement p) { return p == Placement::Subreaper ? "Subreaper" : "Namespace"; }

void PrintTo(Placement p, std::ostream* os) { *os << placement_name(p); }

const std::string& keel_binary() {
  static const std::string path = [] {
    const char* env = std::getenv("KEEL_SYSTEST_BINARY");
    return std::string(env != nullptr && *env != '\0' ? env : KEEL_BINARY);
  }();
  return path;
}

bool namespaces_available() {
  static int cached = -1;
  if (cached < 0) {
    KeelRun probe(program_launch(Placement::Namespace, kProbe, {"exit", "0"}));
    auto code = probe.try_wait_exit(10s);
    cached = (code && *code == 0) ? 1 : 0;
    if (!code) probe.kill_all();
  }
  return cached == 1;
}

Launch keel_launch(Placement placement, std::vector<std::string> args) {
  Launch l;
  l.placement = placement;
  l.args = std::move(args);
  return l;
}

Launch program_launch(Placement placement, std::string program, std::vector<std::string> args) {
  Launch l = keel_launch(placement, std::move(args));
  l.program = std::move(program);
  return l;
}

int shell_code(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

// ------------------------------------------------------------------ KeelRun

KeelRun::KeelRun(Launch launch) : launch_(std::move(launch)) {
  setup_test_process_once();

  std::vector<std::string> argv_s;
  std::string path;
  if (launch_.placement == Placement::Namespace) {
    path = find_in_path("unshare");
    argv_s = {"unshare", "--pid", "--fork", "--mount-proc", "--kill-child", launch_.program};
  } else {
    path = launch_.program;
    argv_s = {launch_.argv0.empty() ? launch_.program : launch_.argv0};
  }
  argv_s.insert(argv_s.end(), launch_.args.begin(), launch_.args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::map<std::string, std::string> env_map;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) env_map[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& name : launch_.unset_env) env_map.erase(name);
  for (const auto& [name, value] : launch_.set_env) env_map[name] = value;
  std::vector<std::string> env_s;
  for (const auto& [name, value] : env_map) env_s.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  int in[2] = {-1, -1};
  int out[2];
  int err[2];
  if (launch_.stdin_pipe && ::pipe2(in, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return;
  }
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return;
  }
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  sigset_t block;
  sigemptyset(&block);
  for (int s : launch_.block) sigaddset(&block, s);
  const char* cwd = launch_.cwd.empty() ? nullptr : launch_.cwd.c_str();
  pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return;
  }
  if (pid == 0) {
    // The child: only plain syscalls from here to execve.
    ::dup2(launch_.stdin_pipe ? in[0] : devnull, STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(launch_.stderr_fd >= 0 ? launch_.stderr_fd : err[1], STDERR_FILENO);
    if (launch_.stdin_closed) ::close(STDIN_FILENO);
    if (!launch_.stdin_terminal.empty()) {
      // A session leader that opens a terminal acquires it as its
      // controlling terminal.
      ::setsid();
      int tty = ::open(launch_.stdin_terminal.c_str(), O_RDWR);
      if (tty < 0) ::_exit(123);
      ::dup2(tty, STDIN_FILENO);
      ::close(tty);
    }
    // Own process group: nothing keel sends to a group can reach the test.
    ::setpgid(0, 0);
    // If the test dies, so does what it started (unshare --kill-child
    // passes it on to the namespace's init, which takes the rest).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (::getppid() != parent) ::_exit(120);
    rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    struct sigaction sa {};
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; ++s) ::sigaction(s, &sa, nullptr);  // errors (KILL, STOP, 32, 33) are fine
    sa.sa_handler = SIG_IGN;
    for (int s : launch_.ignore) ::sigaction(s, &sa, nullptr);
    ::sigprocmask(SIG_SETMASK, &block, nullptr);
    if (cwd != nullptr && ::chdir(cwd) != 0) ::_exit(121);
    ::execve(path.c_str(), argv.data(), envp.data());
    static const char kMsg[] = "harness: execve of the runner failed\n";
    ssize_t ignored = ::write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
    (void)ignored;
    ::_exit(122);
  }
  runner_ = pid;
  live_runners().insert(pid);
  if (devnull >= 0) ::close(devnull);
  if (launch_.stdin_pipe) {
    ::close(in[0]);
    stdin_fd_ = in[1];
  }
  ::close(out[1]);
  ::close(err[1]);
  out_.fd = out[0];
  err_.fd = err[0];
  for (int fd : {out_.fd, err_.fd}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (launch_.placement == Placement::Subreaper) keel_ = pid;
}

KeelRun::~KeelRun() {
  if (runner_ > 0 && !exited_) kill_all();
  for (int* fd : {&stdin_fd_, &out_.fd, &err_.fd, &pidfd_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
  // The last KeelRun gone: nothing left behind may outlive the test.
  if (live_runners().empty()) reap_leftovers();
}

pid_t KeelRun::keel_pid(Duration timeout) {
  if (keel_ > 0 || runner_ <= 0) return keel_;
  std::string children_file = "/proc/" + std::to_string(runner_) + "/task/" + std::to_string(runner_) + "/children";
  poll_until(
      [&] {
        std::string text = read_file(children_file);
        long pid = std::strtol(text.c_str(), nullptr, 10);
        if (pid <= 0) {
          for (const auto& e : proc_table()) {
            if (e.ppid == runner_) pid = e.pid;
          }
        }
        if (pid > 0) keel_ = static_cast<pid_t>(pid);
        return keel_ > 0 || exited_;
      },
      timeout, 1ms);
  return keel_;
}

pid_t KeelRun::host_pid(pid_t inner) {
  if (launch_.placement == Placement::Subreaper) return inner;
  pid_t k = keel_pid();
  if (k <= 0) return -1;
  if (inner == 1) return k;
  for (const auto& e : descendants(k)) {
    auto nspid = status_field(e.pid, "NSpid");
    if (!nspid) continue;
    auto w = words(*nspid);
    if (!w.empty() && w.back() == std::to_string(inner)) return e.pid;
  }
  return -1;
}

bool KeelRun::signal(int signo) {
  pid_t k = keel_pid();
  return k > 0 && ::kill(k, signo) == 0;
}

void KeelRun::write_stdin(std::string_view text) {
  while (stdin_fd_ >= 0 && !text.empty()) {
    ssize_t n = ::write(stdin_fd_, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

void KeelRun::close_stdin() {
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  stdin_fd_ = -1;
}

void KeelRun::read_channel(Channel& c) {
  if (c.fd < 0 || c.eof) return;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(c.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;  // EAGAIN
    if (n == 0) {
      c.eof = true;
      if (!c.partial.empty()) {
        c.lines.push_back(std::move(c.partial));
        c.partial.clear();
      }
      return;
    }
    c.partial.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = c.partial.find('\n', start)) != std::string::npos; start = nl + 1) {
      c.lines.push_back(c.partial.substr(start, nl - start));
    }
    c.partial.erase(0, start);
  }
}

bool KeelRun::reap_runner(bool block) {
  if (exited_ || runner_ <= 0) return exited_;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(runner_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == runner_) {
    exited_ = true;
    status_ = status;
    exit_time_ = Clock::now();
    live_runners().erase(runner_);
    if (pidfd_ >= 0) ::close(pidfd_);
    pidfd_ = -1;
  }
  return exited_;
}

bool KeelRun::pump(Clock::time_point deadline) {
  pollfd fds[3];
  int n = 0;
  for (Channel* c : {&out_, &err_}) {
    if (c->fd >= 0 && !c->eof) fds[n++] = pollfd{c->fd, POLLIN, 0};
  }
  bool watch_exit = !exited_ && runner_ > 0;
  if (watch_exit && pidfd_ >= 0) fds[n++] = pollfd{pidfd_, POLLIN, 0};
  int timeout = remaining_ms(deadline);
  if (watch_exit && pidfd_ < 0) timeout = std::min(timeout, 10);  // no pidfd: poll waitpid
  if (n == 0) {
    if (timeout > 0) std::this_thread::sleep_for(std::chrono::milliseconds(std::min(timeout, 10)));
    if (watch_exit) reap_runner(false);
    return false;
  }
  int ready = ::poll(fds, static_cast<nfds_t>(n), timeout);
  if (ready < 0) return false;
  read_channel(out_);
  read_channel(err_);
  if (watch_exit) reap_runner(false);
  return ready > 0;
}

std::optional<std::string> KeelRun::next_line(Stream s, Duration timeout) {
  auto deadline = Clock::now() + timeout;
  Channel& c = channel(s);
  for (;;) {
    read_channel(c);
    if (c.cursor < c.lines.size()) return c.lines[c.cursor++];
    if (c.eof || c.fd < 0 || Clock::now() >= deadline) return std::nullopt;
    pump(deadline);
  }
}

std::optional<std::string> KeelRun::find_line(Stream s, const std::function<bool(const std::string&)>& match,
                                              Duration timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<Duration>(deadline - Clock::now());
    auto line = next_line(s, left > Duration::zero() ? left : Duration::zero());
    if (!line) return std::nullopt;
    if (match(*line)) return line;
  }
}

std::optional<std::string> KeelRun::find_line(Stream s, std::string_view needle, Duration timeout) {
  std::string n(needle);
  return find_line(
      s, [&](const std::string& line) { return line.find(n) != std::string::npos; }, timeout);
}

const std::vector<std::string>& KeelRun::lines(Stream s) {
  Channel& c = channel(s);
  read_channel(c);
  return c.lines;
}

std::string KeelRun::text(Stream s) {
  Channel& c = channel(s);
  read_channel(c);
  std::string all;
  for (const auto& l : c.lines) all += l + "\n";
  return all + c.partial;
}

void KeelRun::drain_after_exit() {
  auto deadline = Clock::now() + 2s;
  while ((!out_.eof || !err_.eof) && Clock::now() < deadline) pump(deadline);
}

std::optional<int> KeelRun::try_wait_exit(Duration timeout) {
  if (runner_ <= 0) return std::nullopt;
  auto deadline = Clock::now() + timeout;
  while (!reap_runner(false)) {
    if (Clock::now() >= deadline) return std::nullopt;
    pump(deadline);
  }
  drain_after_exit();
  return shell_code(status_);
}

std::optional<int> KeelRun::wait_exit(Duration timeout) {
  if (runner_ <= 0) {
    ADD_FAILURE() << "wait_exit: the run never started";
    return std::nullopt;
  }
  auto code = try_wait_exit(timeout);
  if (!code) {
    ADD_FAILURE() << launch_.program << " (" << placement_name(launch_.placement) << ") did not exit within "
                  << timeout.count() << " ms; killing it. stdout so far:\n"
                  << text(Stream::Out) << "stderr so far:\n"
                  << text(Stream::Err);
    kill_all();
  }
  return code;
}

void KeelRun::kill_all() {
  if (runner_ <= 0 || exited_) return;
  if (launch_.placement == Placement::Namespace) {
    // SIGKILL to a namespace's init kills everything in the namespace.
    pid_t k = keel_pid(100ms);
    if (k > 0) ::kill(k, SIGKILL);
  } else {
    // Top-down, a few rounds: something may fork meanwhile.
    for (int round = 0; round < 3; ++round) {
      for (const auto& e : descendants(runner_)) ::kill(e.pid, SIGKILL);
    }
  }
  ::kill(runner_, SIGKILL);
  reap_runner(true);
  drain_after_exit();
}

std::vector<std::optional<int>> run_all(const std::vector<Launch>& launches, Duration timeout) {
  std::vector<std::unique_ptr<KeelRun>> runs;
  runs.reserve(launches.size());
  for (const auto& l : launches) runs.push_back(std::make_unique<KeelRun>(l));
  auto deadline = Clock::now() + timeout;
  std::vector<std::optional<int>> codes;
  for (auto& r : runs) {
    auto left = std::chrono::duration_cast<Duration>(deadline - Clock::now());
    codes.push_back(r->wait_exit(left > Duration::zero() ? left : Duration::zero()));
  }
  return codes;
}

Outcome run_through(Launch launch) {
  bool direct = launch.placement == Placement::Subreaper;
  KeelRun r(std::move(launch));
  Outcome o;
  if (direct) o.pid = r.keel_pid();  // (in a namespace it may be gone already)
  r.close_stdin();
  o.code = r.wait_exit();
  o.out = r.text(Stream::Out);
  o.err = r.text(Stream::Err);
  return o;
}

// ------------------------------------------------------- lines, any order

std::optional<std::string> seen(KeelRun& run, Stream s, const std::function<bool(const std::string&)>& match,
                                Duration timeout) {
  for (const auto& l : run.lines(s)) {
    if (match(l)) return l;
  }
  return run.find_line(s, match, timeout);
}

bool saw(KeelRun& run, Stream s, const std::string& exact, Duration timeout) {
  return seen(run, s, [&](const std::string& l) { return l == exact; }, timeout).has_value();
}

bool any_line(KeelRun& run, Stream s, const std::string& exact) {
  const auto& ls = run.lines(s);
  return std::find(ls.begin(), ls.end(), exact) != ls.end();
}

// ------------------------------------------------------------ probe lines

std::optional<Ready> wait_ready(KeelRun& run) {
  auto line = seen(run, Stream::Out, [](const std::string& l) { return starts_with(l, "ready "); });
  if (!line) return std::nullopt;
  auto w = words(*line);
  Ready rd;
  if (w.size() >= 3) {
    rd.pid = std::stoi(w[1]);
    rd.pgid = std::stoi(w[2]);
  }
  if (w.size() >= 4) rd.child = std::stoi(w[3]);
  return rd;
}

std::string got(int signo, pid_t pid) { return "got " + std::to_string(signo) + " " + std::to_string(pid); }

bool barrier(KeelRun& run, pid_t pid) {
  const std::string want = got(SIGRTMIN, pid);
  auto count = [&] {
    const auto& ls = run.lines(Stream::Out);
    return std::count(ls.begin(), ls.end(), want);
  };
  auto before = count();  // earlier barriers' lines do not count
  if (::kill(pid, SIGRTMIN) != 0) return false;
  auto deadline = Clock::now() + kLineTimeout;
  while (count() <= before) {
    auto left = std::chrono::duration_cast<Duration>(deadline - Clock::now());
    if (left <= Duration::zero() || !run.find_line(Stream::Out, want, left)) return count() > before;
  }
  return true;
}

std::optional<std::string> status_value(const std::vector<std::string>& lines, const std::string& key) {
  for (const auto& l : lines) {
    if (starts_with(l, key + " ")) return l.substr(key.size() + 1);
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- /proc

std::vector<ProcEntry> proc_table() {
  std::vector<ProcEntry> table;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return table;
  while (dirent* d = ::readdir(dir)) {
    if (d->d_name[0] < '1' || d->d_name[0] > '9') continue;
    ProcEntry e;
    if (read_stat(static_cast<pid_t>(std::strtol(d->d_name, nullptr, 10)), &e)) table.push_back(std::move(e));
  }
  ::closedir(dir);
  return table;
}

std::vector<ProcEntry> descendants(pid_t root) {
  std::multimap<pid_t, ProcEntry> by_parent;
  for (auto& e : proc_table()) by_parent.emplace(e.ppid, e);
  std::vector<ProcEntry> result;
  std::vector<pid_t> queue{root};
  std::set<pid_t> seen{root};
  for (std::size_t head = 0; head < queue.size(); ++head) {
    auto [first, last] = by_parent.equal_range(queue[head]);
    for (auto it = first; it != last; ++it) {
      if (!seen.insert(it->second.pid).second) continue;
      queue.push_back(it->second.pid);
      result.push_back(it->second);
    }
  }
  return result;
}

int count_zombies(pid_t root) {
  int n = 0;
  for (const auto& e : descendants(root)) n += (e.state == 'Z' || e.state == 'X') ? 1 : 0;
  return n;
}

char proc_state(pid_t pid) {
  ProcEntry e;
  return read_stat(pid, &e) ? e.state : '\0';
}

bool pid_exists(pid_t pid) { return pid > 0 && proc_state(pid) != '\0'; }

bool pid_alive(pid_t pid) {
  char s = pid > 0 ? proc_state(pid) : '\0';
  return s != '\0' && s != 'Z' && s != 'X';
}

std::optional<std::string> status_field(pid_t pid, std::string_view key) {
  std::string text = read_file("/proc/" + std::to_string(pid) + "/status");
  std::string prefix = std::string(key) + ":";
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (line.compare(0, prefix.size(), prefix) == 0) {
      std::string value = line.substr(prefix.size());
      auto b = value.find_first_not_of(" \t");
      auto e = value.find_last_not_of(" \t");
      return b == std::string::npos ? std::string() : value.substr(b, e - b + 1);
    }
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> status_sigset(pid_t pid, std::string_view key) {
  auto v = status_field(pid, key);
  if (!v || v->empty()) return std::nullopt;
  return std::strtoull(v->c_str(), nullptr, 16);
}

std::string read_link(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  return n < 0 ? std::string() : std::string(buf, static_cast<std::size_t>(n));
}

std::vector<ProcEntry> leftover_processes() {
  std::vector<ProcEntry> left;
  pid_t self = ::getpid();
  for (auto& e : proc_table()) {
    if (e.ppid == self && live_runners().count(e.pid) == 0) left.push_back(std::move(e));
  }
  return left;
}

int reap_leftovers() {
  int count = 0;
  for (int round = 0; round < 5; ++round) {
    auto left = leftover_processes();
    if (left.empty()) break;
    for (const auto& e : left) {
      // Their own descendants come to us (we are a subreaper) next round.
      for (const auto& d : descendants(e.pid)) ::kill(d.pid, SIGKILL);
      ::kill(e.pid, SIGKILL);
      int status = 0;
      while (::waitpid(e.pid, &status, 0) < 0 && errno == EINTR) {
      }
      ++count;
    }
  }
  return count;
}

bool poll_until(const std::function<bool()>& cond, Duration timeout, Duration step) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

// -------------------------------------------------------------- helpers

TempDir::TempDir() {
  char tmpl[] = "/tmp/keel-systest-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    return;
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string keel_symlink(const std::string& name) {
  static TempDir dir;
  static std::set<std::string> made;
  std::string link = dir.path() + "/" + name;
  if (made.insert(name).second && ::symlink(keel_binary().c_str(), link.c_str()) != 0) {
    ADD_FAILURE() << "symlink " << link << ": " << std::strerror(errno);
  }
  return link;
}

bool installed(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

bool create_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> w;
  std::size_t pos = 0;
  while (pos < line.size()) {
    std::size_t b = line.find_first_not_of(" \t", pos);
    if (b == std::string::npos) break;
    std::size_t e = line.find_first_of(" \t", b);
    w.push_back(line.substr(b, e == std::string::npos ? std::string::npos : e - b));
    pos = e == std::string::npos ? line.size() : e;
  }
  return w;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    out.push_back(text.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return out;
}

int count_lines(const std::string& text) { return static_cast<int>(std::count(text.begin(), text.end(), '\n')); }

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (std::size_t pos = 0; (pos = text.find(from, pos)) != std::string::npos; pos += to.size()) {
    text.replace(pos, from.size(), to);
  }
}

std::string joined(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += " " + a;
  return s;
}

}  // namespace keel::systest
