// config.hpp — a service definition: one TOML file per service.
//
// /etc/keel/services/NAME.toml (the folder is a setting) describes one
// service; NAME is the file name without ".toml". The reference for every
// key, with examples, is docs/services.md.
//
// Loading is an edge of PID 1: it allocates and may throw std::bad_alloc,
// which the caller catches; it throws nothing else. A bad file is never
// fatal: it becomes a ConfigError (file, line, key, message) and the rest
// load. keel-image runs this very code on the service files of an image at
// build time, so a file that passes there loads the same way at boot.
//
// What is checked here: TOML syntax, unknown keys (with the closest known
// one), types and ranges, users and groups (against the passwd/group files
// given, so keel-image checks against the image's own). What is checked by
// the dependency graph (service/graph.hpp), because it needs every file:
// missing dependencies and cycles.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "service/log_compress.hpp"

namespace keel::service {

enum class Type {
  Simple,    // long-running; up (ready) as soon as it has exec'd
  Oneshot,   // must exit 0 before its dependents start; "done" after
  Notify,    // sd_notify: ready on READY=1 sent to $NOTIFY_SOCKET
  NotifyFd,  // s6 style: ready when it writes a newline to fd `notify_fd`
  Target,    // no command: a group, ready when its requirements are
};

enum class Restart { Never, OnFailure, Always };

// What happens to the system when the service has ended for good (exited
// and will not be restarted). This is how a "launcher that runs one main
// program" is written: its service has on_exit = "poweroff". Exit ends keel
// with the service's exit status: as a container's init or a plain
// supervisor that is what a power-off does already; the machine's init,
// which cannot exit, powers off. (Appended last: the codec carries the
// number.)
enum class ExitAction { None, Poweroff, Reboot, Halt, Exit };

// essential: how the service's end concerns the whole system. OnFailure
// (`essential = true`): its final failure ends the system (on_failure
// defaults to "exit"); Always: its end for good, even a clean one, does (on_exit
// defaults to "exit" too). Resolved into on_failure / on_exit by the parser.
enum class Essential { No, OnFailure, Always };

// Which ends of the main process count as success (success_exit_status):
// exit 0 always, plus the exit codes and fatal signals listed.
struct SuccessStatuses {
  std::uint64_t codes[4] = {1, 0, 0, 0};  // bit n: exit status n (0..255)
  std::uint32_t signals = 0;              // bit n: killed by signal n (1..31)
  // `wait_status` as waitpid gives it.
  [[nodiscard]] bool matches(int wait_status) const noexcept;
  void add_code(int code) noexcept { codes[code / 64] |= std::uint64_t{1} << (code % 64); }
  void add_signal(int signo) noexcept { signals |= std::uint32_t{1} << signo; }
  bool operator==(const SuccessStatuses&) const = default;
};

// Where a standard stream goes. stdin accepts null, console, file;
// stdout and stderr accept log, console, null, file.
enum class StreamKind { Log, Console, Null, File };
struct Stream {
  StreamKind kind = StreamKind::Null;
  std::string path;  // StreamKind::File only: absolute; opened for append (stdout/stderr)
};

struct Rlimit {
  int resource = 0;  // RLIMIT_NOFILE, ...
  rlim_t soft = 0;   // RLIM_INFINITY for "infinity"
  rlim_t hard = 0;
};

// Where captured output goes besides the in-memory ring.
struct LogConfig {
  // NOLINTNEXTLINE(bugprone-implicit-widening-of-multiplication-result): a constant that fits
  std::size_t ring_bytes = 64 * 1024;  // in-memory ring per service
  std::string file;                    // empty: no file; else absolute path
  // NOLINTNEXTLINE(bugprone-implicit-widening-of-multiplication-result): a constant that fits
  std::uint64_t max_size = 1024 * 1024;  // rotate when the file would pass this
  int keep = 3;                          // rotated files kept: FILE.1 .. FILE.keep
  bool console = false;                  // also copy each line to the console
  // Age rotation and compression of rotated files (issue 13; log_file.hpp).
  std::int64_t max_age_ns = 0;                // rotate once FILE's first line is this old; 0: by size only
  Compression compress = Compression::None;  // FILE.N -> FILE.N.gz, in a child of the writer
};

// cgroup v2 limits, applied where the controllers are available.
struct CgroupLimits {
  std::optional<std::uint64_t> memory_max;  // bytes
  std::optional<std::uint64_t> pids_max;
  std::optional<std::uint32_t> cpu_weight;  // 1..10000
};

// Source line of each dependency name, for graph errors ("missing
// dependency 'db' at web.toml:4").
struct DependencyRef {
  std::string name;
  int line = 0;
};

// ---- health and readiness probes (docs/services.md, "Health and readiness probes")
// A check keel runs on a running service, in a child (never in PID 1):
// a command, a TCP connect, an HTTP GET, a file's existence or age.
enum class ProbeKind : std::uint8_t { None, Exec, Tcp, Http, File };
// What a liveness probe does when the service turns unhealthy. Exit ends
// keel as a container's init (as the machine's init it is a poweroff).
enum class ProbeAction : std::uint8_t { Restart, Stop, Poweroff, Reboot, Exit };
struct ProbeConfig {
  ProbeKind kind = ProbeKind::None;     // None: no probe
  std::vector<std::string> exec;        // Exec: argv, run as the service's user
  std::string target;                   // Tcp: "host:port"; Http: URL or "unix:PATH:/path"; File: path
  std::int64_t file_max_age_ns = 0;     // File: modified within this long; 0: existing is enough
  std::int64_t interval_ns = 10'000'000'000;
  std::int64_t timeout_ns = 5'000'000'000;
  int failures = 3;                     // failed runs in a row before unhealthy
  int successes = 1;                    // passed runs in a row before healthy
  std::int64_t start_period_ns = 0;     // from the exec: failures do not count
  ProbeAction action = ProbeAction::Restart;  // liveness only
  [[nodiscard]] bool enabled() const noexcept { return kind != ProbeKind::None; }
};

// A listening socket keel creates for a service (socket activation,
// docs/services.md "Socket activation"): `listen = "tcp:127.0.0.1:8000"`.
enum class SocketKind : std::uint8_t { Tcp, Udp, Unix, UnixDgram };
struct SocketConfig {
  std::string listen;  // as written, for messages and to tell at reload whether it changed
  SocketKind kind = SocketKind::Tcp;
  std::string address;  // a numeric IPv4 or IPv6 address (no brackets), or an absolute path
  std::uint16_t port = 0;
  std::string name;   // its LISTEN_FDNAMES entry; the service's name by default
  int backlog = 128;  // listen(2)'s; not used for udp and unix-dgram
  // Unix sockets: the path's owner, group and mode (keel's own ids and
  // 0660 by default).
  bool set_owner = false;
  uid_t uid = 0;
  bool set_group = false;
  gid_t gid = 0;
  mode_t mode = 0660;
  int line = 0;  // of the [[socket]] table, for errors found with every file
  bool operator==(const SocketConfig&) const = default;
};

struct ServiceConfig {
  std::string name;  // file name without .toml
  std::string file;  // path it was read from
  std::string description;
  Type type = Type::Simple;
  std::vector<std::string> command;  // argv; empty only for Target
  int notify_fd = 3;                 // NotifyFd: the fd the service writes its newline to

  std::vector<DependencyRef> requires_;  // hard: start after it is ready; its failure fails us
  std::vector<DependencyRef> wants;      // soft: start it too, start after it, ignore its failure
  std::vector<DependencyRef> after;      // ordering only
  std::vector<DependencyRef> before;     // ordering only, the other way

  Restart restart = Restart::OnFailure;
  std::int64_t restart_delay_ns = 100'000'000;        // first back-off delay
  std::int64_t restart_delay_max_ns = 30'000'000'000;  // back-off cap
  std::int64_t restart_reset_ns = 60'000'000'000;      // up this long: failure counter back to 0
  std::int64_t start_timeout_ns = 60'000'000'000;      // exec to ready (0: none)
  std::int64_t stop_timeout_ns = 10'000'000'000;       // stop signal to SIGKILL
  int stop_signal = 15;                                // SIGTERM

  // Privileges. Names are resolved at load against the passwd/group files;
  // the resolved ids are what is used at start.
  std::string user;   // empty: stay root
  std::string group;  // empty: the user's primary group
  std::vector<std::string> supplementary_groups;
  // Switch credentials at start: set when user, group or
  // supplementary_groups is given (group alone: uid stays 0, root:group).
  bool has_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // setgroups() list: explicit + the user's memberships
  std::optional<std::uint64_t> capabilities;  // bitmask to keep (bounding, permitted, ambient); nullopt: untouched
  bool no_new_privileges = false;

  std::string working_directory;  // empty: "/"
  std::vector<std::pair<std::string, std::string>> environment;  // in file order
  std::string environment_file;   // read at each start; "-" prefix: optional
  std::optional<mode_t> umask;
  std::vector<Rlimit> rlimits;

  Stream stdin_{StreamKind::Null, {}};
  Stream stdout_{StreamKind::Log, {}};
  Stream stderr_{StreamKind::Log, {}};
  LogConfig log;
  CgroupLimits cgroup;

  ExitAction on_exit = ExitAction::None;

  // ---- the hardware watchdog (issue 12, system/hw_watchdog.hpp)
  // Unhealthy longer than keel.toml's [watchdog] critical_unhealthy: keel
  // stops petting the watchdog device and the hardware resets the machine.
  bool critical = false;
  // ---- failure policy (docs/services.md, "Failure policy")
  // More than restart_limit starts within restart_limit_window and the
  // service is failed for good instead of restarted again (0: no limit;
  // an essential service gets 5 in 60 s unless it sets one).
  int restart_limit = 0;
  std::int64_t restart_limit_window_ns = 60'000'000'000;
  SuccessStatuses success_exit_status;
  // Run when the service has failed for good; None: on_exit's action, if any.
  ExitAction on_failure = ExitAction::None;
  Essential essential = Essential::No;  // already folded into the fields above
  // ---- sd_notify watchdog and reload (issue 12; docs/services.md, "Watchdog and reload")
  // WATCHDOG=1 expected at least this often once exec'd; 0: no watchdog
  // (the service may still ask for one with WATCHDOG_USEC=).
  std::int64_t watchdog_ns = 0;
  // What `keelctl reload SERVICE` sends to the main process; 0: none (the
  // service is restarted instead).
  int reload_signal = 0;
  // ---- health and readiness probes (issue 12)
  ProbeConfig readiness_probe;  // type simple only: ready when it first passes
  ProbeConfig liveness_probe;   // unhealthy after `failures` in a row: its action
  // ---- Socket activation (docs/services.md, "Socket activation").
  // Created by keel before the first start, kept across restarts, passed
  // as fds 3, 4, ... with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID.
  std::vector<SocketConfig> sockets;
  // ---- Start on the first connection (issue 12; docs/services.md, "Start
  // on the first connection"). `start = "on-connection"`: when wanted up,
  // keel makes the sockets and watches them, and launches the service only
  // when the first connection or datagram arrives (supervisor.cpp).
  bool start_on_connection = false;
  // ---- sd_notify FDSTORE (docs/services.md, "The fd store"): how many
  // fds the service may hand keel to keep across its restarts; 0: none.
  std::size_t fd_store_max = 0;
  // ---- Python hash seed (issue 14; docs/services.md, "Python services").
  // true: when the program is a Python interpreter or a #! script run by
  // one, keel hands it PYTHONHASHSEED drawn at each start from the kernel's
  // non-blocking RNG output (service/python_seed.hpp), so CPython does not
  // wait for the RNG at start-up. A PYTHONHASHSEED the service sets is kept.
  bool python_hash_seed = true;
  // Whether the program is one (is_python_program): found by the loader
  // child, which may read the program's first bytes; PID 1 never does.
  bool python_program = false;
  // The file sets python_hash_seed: keel.toml's python_hash_seed (the
  // default for every service) yields to it. Applied by the loader child
  // (apply_python_hash_seed_default), so not carried to PID 1.
  bool python_hash_seed_given = false;

  // What it was loaded from, to tell at reload whether it changed without
  // keeping every file's text in PID 1 or reading the file a second time:
  // FNV-1a of the file's text (set by parse_service); for the
  // CONFIG_DIR/main shorthand, its program's identity and times
  // (supervisor.cpp); 0 for the built-in services.
  std::uint64_t source = 0;
};

struct ConfigError {
  std::string file;
  int line = 0;        // 0: not tied to a line
  std::string key;     // "" when not about one key
  std::string message;
  // "web.toml:4: restart: expected one of never, on-failure, always"
  [[nodiscard]] std::string text() const;
};

// Where user and group names are looked up.
struct UserDbPaths {
  std::string passwd = "/etc/passwd";
  std::string group = "/etc/group";
};

// Parse one service file's text. `name` is the service name (file stem),
// `file` the path shown in errors. Exactly one of the two is set.
struct ParseResult {
  std::optional<ServiceConfig> config;
  std::vector<ConfigError> errors;  // every problem found, in line order
};
[[nodiscard]] ParseResult parse_service(std::string_view text, std::string_view name, std::string_view file,
                                        const UserDbPaths& users = {});

// Is `name` usable as a service name (and thus a file stem, a cgroup name,
// a socket name)? [A-Za-z0-9_.@-], 1..64 chars, not starting with '.'.
[[nodiscard]] bool valid_service_name(std::string_view name) noexcept;

// Every NAME.toml in `dir`, sorted by name. Files that fail to parse are
// in `errors` (and absent from `services`). A missing directory is not an
// error (no services); an unreadable one is.
struct LoadResult {
  std::vector<ServiceConfig> services;
  std::vector<ConfigError> errors;
  // Whether CONFIG_DIR/main is a Python program (the loader child reads its
  // #! line; PID 1 builds the main shorthand from a stat() alone).
  bool main_python = false;
};
[[nodiscard]] LoadResult load_service_dir(const std::string& dir, const UserDbPaths& users = {});

}  // namespace keel::service
