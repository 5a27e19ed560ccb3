#include "system/config_loader.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

#include "core/fatal.hpp"
#include "core/limits.hpp"
#include "core/raw_syscall.hpp"
#include "core/signals.hpp"
#include "core/spawn.hpp"
#include "service/python_seed.hpp"
#include "service/user_instance.hpp"

namespace keel {

namespace {

// In the child, before its exec (it shares keel's memory: raw calls, no
// errno): the pipe's write end on fd 1; dup3 leaves it without
// close-on-exec there.
Status loader_setup(const void* context) noexcept {
  if (long r = raw::call(SYS_dup3, *static_cast<const int*>(context), STDOUT_FILENO, 0); r < 0) {
    return Error{static_cast<int>(-r), "dup2 (loader pipe)"};
  }
  return {};
}
const void* copy_loader_context(const void* context, ChildArena& arena) noexcept {
  return arena.copy_array(static_cast<const int*>(context), 1);
}

// What both loads do after reading: `services` has the folder's services
// (none when there is no folder).
void finish_services(Loaded& out, service::LoadResult services, const LoadRequest& request) {
  out.services = std::move(services);
  // CONFIG_DIR: keel.toml's directory, else the services directory's parent.
  std::string dir = !request.keel_toml.empty() ? request.keel_toml : request.services_dir;
  dir.resize(std::min(dir.size(), dir.rfind('/')));
  service::mark_python_programs(*out.services, dir);
  service::apply_python_hash_seed_default(*out.services,
                                          out.keel ? out.keel->config.python_hash_seed : request.python_hash_seed);
  // A user instance (docs/system-mode.md): what only root could give a
  // service is refused here, once, rather than failing at every start.
  if (request.user_instance) {
    std::string why_off;
    service::UserInstance self{::geteuid(), ::getegid(), !service::user_cgroup_root(why_off).empty()};
    service::refuse_what_needs_root(*out.services, self);
  }
}

bool services_asked(const Loaded& out, const LoadRequest& request) {
  if (request.services_dir.empty()) return false;
  if (out.keel && request.services_unless_mounts_or_exec) {
    return out.keel->config.mounts.empty() && out.keel->config.exec.empty();
  }
  return true;
}

}  // namespace

Loaded load_in_process(const LoadRequest& request) {
  Loaded out;
  if (!request.keel_toml.empty()) out.keel = load_keel_config(request.keel_toml);
  if (services_asked(out, request)) {
    finish_services(out, service::load_service_dir(request.services_dir, request.users), request);
  }
  return out;
}

std::optional<Loaded> load_without_files(const LoadRequest& request) {
  for (const std::string* path : {&request.keel_toml, &request.services_dir}) {
    struct stat st{};
    if (!path->empty() && (::lstat(path->c_str(), &st) == 0 || errno != ENOENT)) return std::nullopt;
  }
  Loaded out;
  if (!request.keel_toml.empty()) {
    out.keel.emplace();
    apply_log_output_env(*out.keel, std::getenv("KEEL_LOG_OUTPUT"));
  }
  if (services_asked(out, request)) finish_services(out, service::LoadResult{}, request);
  return out;
}

void run_loader_child(const LoadRequest& request, int fd) noexcept {
  // A fault here ends this child with its signal, for PID 1 to report;
  // fatal.hpp's handlers (inherited) would freeze it as if it were PID 1.
  fatal::set_pid1(false);
  for (int signo : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS}) ::signal(signo, SIG_DFL);
  // Only for the tests (tests/unit/config_loader_test.cpp,
  // tests/system/loader_test.cpp): a loader that crashes, hangs or sends
  // garbage, which real files cannot be made to do reliably now that
  // service/toml_guard refuses what crashed toml++. "FAULT" always,
  // "FAULT:PATH" while PATH exists (so a test can repair it).
  const char* fault = std::getenv("KEEL_TEST_LOADER_FAULT");
  std::string_view test_fault = fault != nullptr ? fault : "";
  if (std::size_t colon = test_fault.find(':'); colon != std::string_view::npos) {
    std::string path(test_fault.substr(colon + 1));
    test_fault = ::access(path.c_str(), F_OK) == 0 ? test_fault.substr(0, colon) : "";
  }
  if (test_fault == "crash") {
    ::signal(SIGSEGV, SIG_DFL);
    ::raise(SIGSEGV);
  }
  if (test_fault == "hang") {
    for (;;) ::pause();
  }
  std::string out;
  try {
    out = test_fault == "garbage" ? std::string("KEEL_TEST_LOADER_FAULT=garbage")
                                  : encode_loaded(load_in_process(request));
  } catch (const std::bad_alloc&) {
    ::_exit(3);
  } catch (...) {
    ::_exit(4);
  }
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::write(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(5);  // PID 1 went away (a hand-off) or closed its end
    done += static_cast<std::size_t>(n);
  }
  ::_exit(0);
}

ConfigLoader::~ConfigLoader() { cancel(); }

Status ConfigLoader::start(const LoadRequest& request, Client& client) {
  cancel();
  bytes_.clear();
  // argv before the spawn: nothing allocates between the clone and the exec.
  const std::string flag = request.services_unless_mounts_or_exec ? "1" : "0";
  const char* python_flag = request.python_hash_seed && python_hash_seed_ ? "1" : "0";
  const char* argv[] = {program_,
                        kConfigLoaderArg,
                        request.keel_toml.c_str(),
                        request.services_dir.c_str(),
                        request.users.passwd.c_str(),
                        request.users.group.c_str(),
                        flag.c_str(),
                        python_flag,
                        nullptr};
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return errno_error("pipe2");
  // spawn_nowait (core/spawn.hpp), as for services: the child shares PID
  // 1's memory until its exec, so no page table is copied and no page of
  // PID 1's becomes copy-on-write, and PID 1 does not wait for the exec.
  // The answer goes to the loader's stdout.
  SpawnOptions options;
  options.argv = const_cast<char* const*>(argv);
  options.child_setup = &loader_setup;
  options.child_context = &p[1];
  options.copy_child_context = &copy_loader_context;
  options.reset_to_default = signal_dispositions_snapshot();
  Result<Launch> launched = spawn_nowait(options);
  if (!launched) {
    ::close(p[0]);
    ::close(p[1]);
    return launched.error();
  }
  pid_ = launched.value().pid;
  report_fd_ = launched.value().report_fd;
  ::close(p[1]);
  reaped_ = false;
  status_ = 0;
  timed_out_ = false;
  overflow_ = false;
  Status s = Status{};
  if (::fcntl(p[0], F_SETFL, O_NONBLOCK) != 0) s = errno_error("fcntl(O_NONBLOCK)");
  if (s) s = loop_.add(p[0], EPOLLIN, *this);
  if (!s) {
    ::close(p[0]);
    ::kill(pid_, SIGKILL);  // reaped later; on_child_exit() still knows it
    return s;
  }
  fd_ = p[0];
  client_ = &client;
  timer_.arm_after(timeout_ns_);
  return {};
}

int run_config_loader(int argc, char** argv) noexcept {
  if (argc != 8) return 2;
  LoadRequest request;
  try {
    request.keel_toml = argv[2];
    request.services_dir = argv[3];
    request.users.passwd = argv[4];
    request.users.group = argv[5];
    request.services_unless_mounts_or_exec = std::string_view(argv[6]) == "1";
    request.python_hash_seed = std::string_view(argv[7]) != "0";
    // The loader runs as keel does: not as root, keel is a user instance.
    request.user_instance = ::geteuid() != 0;
  } catch (const std::bad_alloc&) {
    return 3;
  }
  run_loader_child(request, STDOUT_FILENO);
}

void ConfigLoader::close_pipe() noexcept {
  if (fd_ < 0) return;
  loop_.remove(fd_, *this);
  ::close(fd_);
  fd_ = -1;
}

void ConfigLoader::close_report() noexcept {
  if (report_fd_ < 0) return;
  ::close(report_fd_);
  report_fd_ = -1;
}

void ConfigLoader::cancel() noexcept {
  client_ = nullptr;
  close_report();
  timer_.disarm();
  close_pipe();
  if (pid_ > 0 && !reaped_) ::kill(pid_, SIGKILL);
  // pid_ stays until reaped, so its exit is recognised and swallowed.
}

void ConfigLoader::on_ready(std::uint32_t /*events*/) noexcept {
  // Straight into bytes_, a page at a time: no buffer on PID 1's stack (a
  // 16 KiB one cost PID 1 four more pages of stack for good).
  constexpr std::size_t kChunk = 4096;
  for (;;) {
    const std::size_t have = bytes_.size();
    if (have + kChunk > limits::kLoaderAnswerBytes) {
      overflow_ = true;
      if (pid_ > 0 && !reaped_) ::kill(pid_, SIGKILL);
      break;
    }
    try {
      bytes_.resize(have + kChunk);
    } catch (const std::bad_alloc&) {
      overflow_ = true;
      if (pid_ > 0 && !reaped_) ::kill(pid_, SIGKILL);
      break;
    }
    ssize_t n = ::read(fd_, bytes_.data() + have, kChunk);
    bytes_.resize(have + (n > 0 ? static_cast<std::size_t>(n) : 0));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) break;  // EOF (or an error: what came is all there is)
  }
  close_pipe();
  if (reaped_) finish();
}

bool ConfigLoader::on_child_exit(pid_t pid, int wait_status) noexcept {
  if (pid <= 0 || pid != pid_) return false;
  pid_ = -1;
  reaped_ = true;
  status_ = wait_status;
  // A child that could not exec says why on its report pipe (it wrote that
  // before exiting, so the read does not wait).
  exec_error_[0] = '\0';
  if (report_fd_ >= 0) {
    Error error{0, ""};
    if (read_exec_report(report_fd_, &error) == ExecReport::Failed) {
      std::snprintf(exec_error_, sizeof exec_error_, "%s: %s", error.context, error.message());
    }
    close_report();
  }
  if (fd_ < 0) finish();
  return true;
}

void ConfigLoader::on_timer() noexcept {
  if (pid_ <= 0 || reaped_) return;
  timed_out_ = true;
  ::kill(pid_, SIGKILL);
}

void ConfigLoader::finish() noexcept {
  timer_.disarm();
  Client* client = std::exchange(client_, nullptr);
  std::string bytes = std::move(bytes_);
  bytes_ = std::string();
  if (client == nullptr) return;
  char why[320];
  if (timed_out_) {
    std::snprintf(why, sizeof why, "the configuration loader did not finish within %.1f s and was killed",
                  static_cast<double>(timeout_ns_) / 1e9);
  } else if (overflow_) {
    std::snprintf(why, sizeof why, "the configuration loader sent more than %zu bytes and was killed",
                  limits::kLoaderAnswerBytes);
  } else if (exec_error_[0] != '\0') {
    std::snprintf(why, sizeof why, "the configuration loader could not start (%s %s: %s)", program_, kConfigLoaderArg,
                  exec_error_);
  } else if (WIFSIGNALED(status_)) {
    std::snprintf(why, sizeof why, "the configuration loader was killed by %s", signals::name(WTERMSIG(status_)));
  } else if (!WIFEXITED(status_) || WEXITSTATUS(status_) != 0) {
    std::snprintf(why, sizeof why, "the configuration loader failed (exit status %d%s)",
                  WIFEXITED(status_) ? WEXITSTATUS(status_) : -1,
                  WIFEXITED(status_) && WEXITSTATUS(status_) == 3 ? ": out of memory" : "");
  } else {
    try {
      Loaded loaded;
      std::string problem;
      if (decode_loaded(bytes, loaded, problem)) {
        client->config_loaded(std::move(loaded));
        return;
      }
      std::snprintf(why, sizeof why, "the configuration loader's answer is malformed (%s)", problem.c_str());
    } catch (const std::bad_alloc&) {
      std::snprintf(why, sizeof why, "out of memory decoding the configuration loader's answer");
    }
  }
  client->config_load_failed(why);
}

}  // namespace keel
