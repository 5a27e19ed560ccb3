// config_loader.hpp — keel.toml and the service files, parsed off PID 1.
//
// PID 1 never runs the TOML parser. A loader run starts a child (keel's own
// binary, exec'd in the "config loader" role) that reads and parses the files, encodes
// what they say (system/config_codec.hpp) and writes it down a pipe (its
// stdout), then exits. PID 1 reads the pipe from its event loop, so signals, reaping and
// keelctl go on meanwhile, and decodes it defensively once the child has
// both closed the pipe and been reaped. Why a child:
//  - a fault in the parser (toml++'s deep-nesting stack overflow is the
//    known one; service/toml_guard refuses it, but a parser of this size
//    may hide others) kills the child, not PID 1;
//  - toml++'s code and the parser's heap (a table per file, strings per
//    key) are touched by the child only: they are never in PID 1's working
//    set, and PID 1's heap keeps no fragments of them.
// Why an exec of keel's own binary (`keel --config-loader ...`, started by
// core/spawn's spawn_nowait like every other child: it shares PID 1's
// memory until its exec, so nothing is copied and PID 1 does not wait for
// the exec), not a plain fork (which shares the already-loaded binary and
// needs no exec): at boot both cost 1-1.5 ms of guest time over parsing in
// PID 1 (bench/boot-bench, icount, ten services: up 20.4 ms with a fork,
// 20.8 with an exec, 19.4 parsing in PID 1; without cgroups 17.1 and 17.0,
// measured before the shared-memory spawn). What decided is the steady
// state: a fork at `keelctl reload` would copy the page tables of a PID 1
// holding a thousand services and make each page it then writes fault; the
// exec'd loader starts clean (no inherited heap, handlers, or fatal.hpp's
// freeze; a fault simply ends it). Nothing allocates between the clone and
// the exec (argv is built before), as rule 5 of ARCHITECTURE.md asks.
//
// A loader that crashes, writes garbage or does not finish within
// limits::kLoaderTimeoutNs (then it is killed) is a failure with a reason
// ("the configuration loader was killed by SIGSEGV"); what to do then is
// the caller's: at boot no services and an error on the console, at reload
// the previous definitions kept.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "core/event_loop.hpp"
#include "core/limits.hpp"
#include "core/result.hpp"
#include "service/config.hpp"
#include "system/config_codec.hpp"

namespace keel {

struct LoadRequest {
  std::string keel_toml;     // "" : keel.toml not asked for
  std::string services_dir;  // "" : services not asked for
  service::UserDbPaths users;
  // With both: load the services only when keel.toml has no [[mount]] and
  // no exec (a service folder may live on a mount keel.toml makes, and a
  // hand-off needs no services); else PID 1 asks again after the mounts.
  bool services_unless_mounts_or_exec = false;
  // keel.toml's python_hash_seed, for a load of the services alone (with
  // keel_toml, the file's own value is used): the default of every
  // service's key (service/python_seed.hpp).
  bool python_hash_seed = true;
  // Refuse what only root can give a service (a user instance,
  // service/user_instance.hpp). The loader child of a keel whose euid is
  // not 0 sets it; `keel check` only with --user (it checks root's
  // configuration by default, whoever runs it).
  bool user_instance = false;
};

// What the child does: parse what `request` asks for. In-process (host
// tools, tests) it is a plain function call.
[[nodiscard]] Loaded load_in_process(const LoadRequest& request);

// The answer load_in_process would give when none of the files `request`
// names exists (lstat says ENOENT for each): keel.toml's defaults (with
// $KEEL_LOG_OUTPUT, as the loader applies it) and no service files, made
// without reading a file but CONFIG_DIR/main's first bytes (core/
// python_program.hpp, as the container init reads them). nullopt when any
// of them exists as anything at all (a file, a FIFO, a dangling link):
// that is the loader's to read. An image whose CONFIG_DIR holds only main
// (the seed's launcher) then boots without a loader child, about 1 ms sooner
// (docs/benchmarks.md, "Issue 14: Python"); PID 1 still parses nothing, as
// rule 9 of ARCHITECTURE.md asks. May throw std::bad_alloc.
[[nodiscard]] std::optional<Loaded> load_without_files(const LoadRequest& request);

class ConfigLoader final : private FdHandler, private TimerHandler {
 public:
  class Client {
   public:
    // Exactly one of the two per start(). `problem` says what went wrong.
    virtual void config_loaded(Loaded loaded) noexcept = 0;
    virtual void config_load_failed(const char* problem) noexcept = 0;

   protected:
    ~Client() = default;
  };

  // `program`: keel's binary (the tests name it; PID 1 uses its own);
  // `timeout_ns`: the bound on a run (the tests' is short).
  explicit ConfigLoader(EventLoop& loop, const char* program = "/proc/self/exe",
                        std::int64_t timeout_ns = limits::kLoaderTimeoutNs) noexcept
      : loop_(loop), timer_(loop, *this), program_(program), timeout_ns_(timeout_ns) {}
  ~ConfigLoader();
  ConfigLoader(const ConfigLoader&) = delete;
  ConfigLoader& operator=(const ConfigLoader&) = delete;

  // Start the loader. An error (pipe, spawn) means no run was
  // started. May throw std::bad_alloc (in PID 1, before the spawn) only.
  [[nodiscard]] Status start(const LoadRequest& request, Client& client);
  [[nodiscard]] bool running() const noexcept { return pid_ > 0 || fd_ >= 0; }
  // keel.toml's python_hash_seed as the boot read it: every later run's
  // LoadRequest::python_hash_seed (a services-only load reads no keel.toml).
  void set_python_hash_seed_default(bool on) noexcept { python_hash_seed_ = on; }

  // From the reaper: true when `pid` was the loader (then it is handled).
  bool on_child_exit(pid_t pid, int wait_status) noexcept;

  // Forget the run (a hand-off, a shutdown): the child is killed and
  // reaped like any other child; its client hears nothing more.
  void cancel() noexcept;

 private:
  void on_ready(std::uint32_t events) noexcept override;
  void on_timer() noexcept override;
  void close_pipe() noexcept;
  void close_report() noexcept;
  void finish() noexcept;
  void fail(const std::string& problem) noexcept;

  EventLoop& loop_;
  Timer timer_;
  const char* program_;
  std::int64_t timeout_ns_;
  Client* client_ = nullptr;
  pid_t pid_ = -1;             // the child, until reaped
  int fd_ = -1;                // the pipe's read end, until EOF
  int report_fd_ = -1;         // its exec report (core/spawn.hpp), until reaped
  char exec_error_[160] = "";  // why its exec failed, if it did
  bool reaped_ = false;
  int status_ = 0;  // its wait status, once reaped
  bool timed_out_ = false;
  bool overflow_ = false;
  std::string bytes_;
  bool python_hash_seed_ = true;
};

// `keel --config-loader KEEL_TOML SERVICES_DIR PASSWD GROUP 0|1 0|1` (the
// last: LoadRequest::python_hash_seed), as
// ConfigLoader::start runs it: main() hands it over to run_config_loader.
inline constexpr const char* kConfigLoaderArg = "--config-loader";
int run_config_loader(int argc, char** argv) noexcept;

// The loader's body: parse, encode, write everything to `fd`, then _exit.
// Never returns.
[[noreturn]] void run_loader_child(const LoadRequest& request, int fd) noexcept;

}  // namespace keel
