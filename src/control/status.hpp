// status.hpp — what `keelctl status` shows, and its two renderings.
//
// The supervisor fills one ServiceStatus per service (an edge: a control
// request, so allocating is fine) and answers with format_status_text() or
// format_status_json(). Keeping the formatting here means the text table,
// the detail view and the JSON agree on fields, and are unit-tested without
// a supervisor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace keel::control {

struct ServiceStatus {
  std::string name;
  std::string description;
  std::string state;          // "running", "stopped", "failed", "launching", "starting", ... (state_name);
                              // "reloading" / "stopping" while running, as the service said (sd_notify)
  std::int64_t pid = 0;       // 0: no process
  std::int64_t uptime_ns = 0; // time in the current state's process; 0 when not running
  std::uint32_t restarts = 0;
  std::string last_exit;      // "exited 1", "killed by SIGSEGV", "" (never exited)
  bool ready = false;
  std::string readiness;      // how readiness is known: "none", "notify", "fd", ...
  std::string last_error;     // "exec failed: No such file or directory", ""
  std::uint64_t log_dropped = 0;  // log lines dropped because the log buffer was full
  std::string log_writer;         // "": its file's writer is fine (or it has no file); else what is wrong
  std::string log_file;           // [log] file ("": none): keelctl log reads it and its rotations
  std::uint64_t notify_refused = 0;  // sd_notify messages / MAINPIDs refused (docs/security.md)
  std::string notify_refusal;        // the last one's reason
  int service_errno = 0;             // the service's last ERRNO= (sd_notify); 0: none
  // Health and readiness probes (issue 12; docs/services.md).
  std::string health;                // "": no liveness probe running; "starting", "healthy", "unhealthy"
  std::int64_t health_since_ns = 0;  // wall clock (Unix ns) the verdict began; 0: none yet
  std::string probe_result;          // the last probe run: "passed", "failed: exited 1", "timed out after 5 s"; "": none
  std::string probe_output;          // what it printed (at most 512 bytes)
  std::string probe_kind;            // which probe ran last: "liveness", "readiness"
  // What its end does to the system (docs/services.md, "Failure policy"),
  // in the words of its file: "" when not set.
  std::string essential;   // "true", "always"
  std::string on_exit;     // "poweroff", "reboot", "halt", "exit"
  std::string on_failure;  // the same words
  bool critical = false;   // unhealthy too long: the hardware watchdog resets the machine
  // Socket activation (docs/services.md, "Socket activation").
  struct Socket {
    std::string listen;  // as written: "tcp:127.0.0.1:8000"
    std::string name;    // its LISTEN_FDNAMES entry
  };
  std::vector<Socket> sockets;
  bool sockets_open = false;   // keel holds them now (made before the first start, kept across restarts)
  bool on_connection = false;  // start = "on-connection"
  // The fd store (docs/services.md, "The fd store"): the names of the fds
  // keel keeps for it, of at most fd_store_max.
  std::vector<std::string> fd_store;
  std::size_t fd_store_max = 0;
};

// What `status` says about keel itself, beside its services.
struct KeelStatus {
  // keel's own lines dropped since start because the console (or the log
  // pipe or socket on its stderr) was not accepting output (core/log_output.hpp).
  std::uint64_t output_lost = 0;
};

// "3d4h", "2h05m", "4m07s", "12s", "-" for 0.
[[nodiscard]] std::string format_duration(std::int64_t ns);

// The text views show what services control (STATUS= text, names from file
// names, error texts) through core/terminal_text: controls as escapes,
// ill-formed UTF-8 as U+FFFD, so nothing in them can drive a terminal.
//
// A table: a header line, then one aligned line per service ("no
// services\n" for none). For `keelctl status` without a SERVICE. When keel
// lost lines of its own output, a last line says how many.
[[nodiscard]] std::string format_status_table(const std::vector<ServiceStatus>& services, const KeelStatus& keel = {});
// One service's "key: value" detail view. For `keelctl status SERVICE`; keel's
// lost output as a last line when there was any.
[[nodiscard]] std::string format_status_detail(const ServiceStatus& service, const KeelStatus& keel = {});
// Exactly one service: its detail view; otherwise the table. The supervisor
// should call the two above when it knows whether a SERVICE was named (a
// system with one service still wants the table for a plain `status`).
[[nodiscard]] std::string format_status_text(const std::vector<ServiceStatus>& services);

// A JSON array of objects, one per service, each with every field (uptime in
// whole seconds as "uptime_s" and nanoseconds as "uptime_ns"); strings are
// escaped per RFC 8259 (C0 controls, DEL and the C1 controls U+0080..U+009F
// as \u00XX, so the JSON printed raw cannot drive a terminal either); other
// UTF-8 passes through and ill-formed bytes become U+FFFD, so the output is
// always valid UTF-8. Ends in a newline. keel's own figures are in every
// object, the same in each ("keel_output_lost"), so the shape stays an array.
[[nodiscard]] std::string format_status_json(const std::vector<ServiceStatus>& services, const KeelStatus& keel = {});

// `text` as a JSON string literal, quotes included.
[[nodiscard]] std::string json_quote(const std::string& text);

}  // namespace keel::control
