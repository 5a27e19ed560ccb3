// limits.hpp — every fixed bound of keel, in one place, with its arithmetic.
#pragma once

#include <cstddef>
#include <cstdint>

namespace keel::limits {

// The classic signals, 1..31: the ones with names, and the range of the
// rewrite tables. keel also reads the real-time ones (docs/signals.md).
inline constexpr int kMaxClassicSignal = 31;
// Highest signal number on Linux (SIGRTMAX, _NSIG - 1). Children get every
// disposition up to here reset, real-time signals included.
inline constexpr int kMaxSignal = 64;

// epoll_wait batch: one loop turn handles at most this many ready fds. The
// container init watches 2 fds (signalfd, timerfd); 16 leaves room for the
// supervisor's pipes without a second syscall on a busy turn.
inline constexpr int kEpollBatch = 16;

// signalfd read batch: signalfd_siginfo is 128 bytes, so 16 of them is a
// 2 KiB stack buffer, and one read drains a burst of coalesced signals.
inline constexpr int kSignalBatch = 16;

// Longest message keel formats itself (one log line). Longer ones are cut
// and end in "..."; formatting never allocates.
inline constexpr std::size_t kLogLine = 1024;

// Signal rewrite rules and exit-code remaps are tables indexed by number,
// so their size is fixed by the ranges: signals 1..31, exit codes 0..255.
inline constexpr int kExitCodes = 256;

// Default grace period of the whole-tree stop, in seconds: long enough for a
// daemon to flush and exit on SIGTERM, and shorter than the 10 s that
// `docker stop` and Kubernetes' default waits before their own SIGKILL, so
// keel's orderly stop finishes first.
inline constexpr int kDefaultGraceSeconds = 5;

// Arguments of a script without "#!" that keel runs through /bin/sh. The
// new argv lives on the child's stack between fork and exec (no
// allocation there): 4096 pointers are 32 KiB of stack.
inline constexpr std::size_t kMaxScriptArgs = 4096;

// ---- control channel (src/control/, docs/keelctl.md) ----------------------
// One request per connection; these bound what a client can make keel hold.
//
// A request payload: verb, flags, lines, timeout and at most 16 arguments of
// at most 4 KiB each, so 16 * (2 + 4096) + 16 bytes of fixed fields fit in
// 64 KiB with room to spare; anything longer is refused from its header.
inline constexpr std::size_t kControlMaxRequest = std::size_t{64} * 1024;
inline constexpr std::size_t kControlMaxArgs = 16;
inline constexpr std::size_t kControlMaxArgLength = 4096;
// A reply frame's payload: `status --json` of 1000 services at ~1 KiB each
// (name, description and last error included) is under 1 MiB.
inline constexpr std::size_t kControlMaxReply = std::size_t{1024} * 1024;
// A streamed chunk (`log -f`): a few log lines; longer chunks are cut.
inline constexpr std::size_t kControlMaxChunk = std::size_t{16} * 1024;
// Per-connection outgoing buffer for streamed chunks: 256 KiB is 16 full
// chunks. A client that does not read loses chunks beyond it (counted);
// the final reply is always queued (so a buffer is at most 256 KiB + 1 MiB).
inline constexpr std::size_t kControlOutBuffer = std::size_t{256} * 1024;
// Connections served at once; one more is accepted, told "too many
// connections" and closed. 16 * (64 KiB in + 256 KiB out) bounds the
// memory a crowd of clients can pin to ~5 MiB.
inline constexpr int kControlMaxConnections = 16;
inline constexpr int kControlBacklog = 16;
// A client must deliver its whole request (and take its reply) within this
// time, so a stalled partial frame cannot pin a connection slot forever.
inline constexpr long long kControlStallTimeoutMs = 5000;
// ---- end of control channel ------------------------------------------------

}  // namespace keel::limits

// ------------------------------------------------- service logs (service/service_log)
namespace keel::limits {

// Longest line a service log keeps. A longer one is cut here, marked, and
// counted as dropped; the rest of it, up to its newline, is discarded. 4 KiB
// holds any sane log line and keeps one service's line buffer to a page.
inline constexpr std::size_t kServiceLogLineMax = 4096;

// Pipe capacity asked for with F_SETPIPE_SZ (the default is 64 KiB). It is
// how much a service can write while keel is not reading before its write()
// blocks; 256 KiB is within the unprivileged /proc/sys/fs/pipe-max-size
// default (1 MiB), so the call normally succeeds even for a non-root keel.
inline constexpr int kServiceLogPipeBytes = 256 * 1024;

// One read() from a service pipe: 16 KiB in one static buffer that every
// service shares (the loop is single-threaded). At most kServiceLogReadsPerWake
// reads per wake-up (256 KiB, a full pipe), then the loop serves others;
// epoll is level-triggered, so the rest is read on the next turn.
inline constexpr std::size_t kServiceLogReadChunk = std::size_t{16} * 1024;
inline constexpr int kServiceLogReadsPerWake = 16;

// "2026-11-26T12:00:00.123Z": ISO-8601 UTC with milliseconds, 24 chars.
inline constexpr std::size_t kServiceLogStamp = 24;

// `keelctl log -f` clients on one service at a time.
inline constexpr std::size_t kServiceLogFollowers = 4;

}  // namespace keel::limits

// ------------------------------------------- sd_notify trust (service/notify, supervisor)
namespace keel::limits {

// fds that one notify recvmsg() takes along with a message, only to close
// them, unless a trusted FDSTORE=1 stores them (then up to kFdStoreMax
// are taken). systemd's BARRIER=1 passes one; more
// than 8 are closed by the kernel itself (MSG_CTRUNC).
inline constexpr std::size_t kNotifyPassedFdsMax = 8;

// A service's cgroup path as /proc/PID/cgroup shows it: the cgroup root
// (a path keel was given, well under 200 bytes) plus "/" and a service
// name (at most 64). 512 leaves room; a longer one is not compared.
inline constexpr std::size_t kNotifyCgroupPath = 512;

// The reason the last notify message of a service was refused, kept for
// `keelctl status SERVICE` ("MAINPID=123 refused: not in the service").
inline constexpr std::size_t kNotifyRefusalText = 160;

}  // namespace keel::limits

// ------------------------------------------- files keel reads (core/read_file, docs/security.md)
namespace keel::limits {

// A service file, keel.toml or an environment file: a few dozen lines each.
// 1 MiB is a thousand times that, and bounds what a mistaken path (a log, a
// binary copied into the folder) makes PID 1 read and keep, at boot and at
// every start or reload.
inline constexpr std::size_t kMaxConfigFileBytes = std::size_t{1024} * 1024;

// /etc/passwd and /etc/group: ~100 bytes a line, so 64 MiB is over half a
// million accounts, more than any real site keeps in flat files.
inline constexpr std::size_t kMaxUserDbBytes = std::size_t{64} << 20;

}  // namespace keel::limits

// ------------------------------------------ bounds on numbers and structures (issue 9, §3)
namespace keel::limits {

// Longest duration a configuration may give (every key read as seconds:
// start_timeout, stop_timeout, restart_delay, restart_delay_max,
// restart_reset_after, keel.toml's shutdown_grace): one year. Longer than
// any wait that means something (a year is "never" for a timeout), and far
// from overflow: timers are nanoseconds in int64 (2^63 ns is 292 years), so
// CLOCK_MONOTONIC (time since boot) plus one year stays exact for 291 years
// of uptime. EventLoop saturates its arithmetic as well, whatever a caller
// passes (kTimerMaxDeadlineNs below).
inline constexpr std::int64_t kMaxDurationSeconds = std::int64_t{365} * 24 * 3600;  // 31,536,000
// The latest deadline a timer can have: a "never" that still sorts, 2^62 ns
// (146 years of uptime). A timer armed further than that fires then.
inline constexpr std::int64_t kTimerMaxDeadlineNs = std::int64_t{1} << 62;

// TOML text keel, keelctl's checks and keel-image hand to toml++ (service
// files, keel.toml, image specs). toml++ parses nested tables, arrays and
// inline tables recursively and frees them recursively, so a deep enough
// input (100,000 dotted-key parts or '[' in a row) overflows the stack:
// in PID 1, a kernel panic. Before the parser sees the text, keel scans it
// (service/toml_guard) and refuses nesting deeper than this: tables from
// the header, dotted-key parts, arrays and inline tables all count, each
// one level. Real files use 2 or 3 (log.max_size, [[mount]]); 32 levels of
// toml++'s recursion take a few KiB of stack.
inline constexpr int kTomlMaxDepth = 32;
// Largest TOML text: 1 MiB. A service file or keel.toml is a few hundred
// bytes and an image spec a few KiB; anything near this is a binary or a
// log copied by mistake. The parsed tree is a bounded multiple of it.
inline constexpr std::size_t kTomlMaxBytes = std::size_t{1} << 20;

// Automatic restarts of one service (restart = "always" / "on-failure" and
// start_timeout's restart). s6-supervise waits so that two starts of a
// service are at least one second apart; keel does the same: the next
// automatic start comes no sooner than kRestartMinIntervalNs after the
// previous start, whatever restart_delay says (restart_delay = 0 still
// means "at once" for a service that ran longer than that). On top, at most
// kRestartBurst automatic starts within kRestartWindowNs: a service that
// has used them waits until the oldest is that old. So a crash-looping
// service costs at most 5 fork+execs per 10 s (systemd's default
// StartLimitBurst / StartLimitIntervalSec, used here as a rate rather than
// a reason to give up) instead of as many as keel can fork. The cost still
// grows with the number of looping services: measured on a loaded 2-core
// machine without cgroups, a start costs keel about 5 ms (the clone, and a
// /proc walk per exit), so 20 looping services take ~1% of a CPU, while 200
// (up to 200 starts a second in their first 5 s) take most of what keel gets
// there. `keelctl start` / `restart` by an operator are not limited.
inline constexpr std::int64_t kRestartMinIntervalNs = 1'000'000'000;
inline constexpr int kRestartBurst = 5;
inline constexpr std::int64_t kRestartWindowNs = 10'000'000'000;

}  // namespace keel::limits

// ------------------------------- file descriptors and reply size (fds helper, issue 9)
namespace keel::limits {

// When keel is out of fds and cannot even take back its reserve fd (see
// control/server.hpp), it stops watching the control socket for this long
// rather than wake on every turn for the queued clients: 4 tries a second.
inline constexpr long long kControlFdRetryMs = 250;

// Replies larger than kControlMaxReply (`status` of thousands of services:
// about 270 bytes of JSON per service, so 1 MiB is ~3,900 services) are not
// cut: they are sent as Data frames of kControlMaxChunk and a Final with the
// rest. Their size is bounded by the number of services, which the whole
// reply is built from anyway; it is held once more in the connection's
// buffer while the client reads it.

// fds keel holds per service, after the launch (docs/system-mode.md,
// "Limits"): a running service costs 1 (its log pipe's read end), plus 1 for
// type=notify (its socket) or type=notify-fd (the pipe's read end); a
// service with no process left costs 0 once its log pipe is drained. A
// launch needs up to 6 more for a moment (log pipe, exec-status pipe,
// cgroup directory and cgroup.procs). The fixed cost of keel itself is about
// a dozen (epoll, signalfd, timerfd, console, control socket, its reserve,
// the cgroup root).

// keel's own output (core/log_output.hpp): what a console that is not
// accepting output (XOFF, flow control, a log pipe nobody reads) may hold
// back before lines are dropped and counted. 64 KiB is 64 lines of the
// longest kind (kLogLine) and about a thousand of the usual ~60 bytes:
// a boot's worth of keel's lines, or a few seconds of a chatty service's
// console mirror. One per destination (stdout, stderr), in static storage
// that costs no memory until a backlog touches it.
inline constexpr std::size_t kLogBacklogBytes = std::size_t{64} * 1024;

}  // namespace keel::limits

// ------------------------------- service tracking without cgroups (track helper, issue 10)
namespace keel::limits {

// Ids (pids, session ids, process group ids) a service is remembered by
// when it has no cgroup (service/tree_tracker.hpp): 64 × 4 bytes in each
// service. A service's live sessions and groups are a handful (its own, one
// per daemon that called setsid); the rest of the room is for the pids of
// members seen before they make a session or group of their own. Ids no
// process uses any more are dropped at each walk of /proc.
inline constexpr int kTrackedIds = 64;

// Parent links followed up from one process to decide whether it descends
// from a service (or from keel at all): deeper than this is not a service
// tree worth the walk, and each step is one read of /proc/PID/stat.
inline constexpr int kTrackDepth = 64;

// Walks of /proc one stop makes to learn a service's ids before it signals:
// a process found on one pass can make one seen earlier in the same pass a
// member (an orphan in the session of a daemon listed after it). Each pass
// learns at least one id or ends the loop, so 4 is plenty for the
// fork-setsid-fork chains of real daemons.
inline constexpr int kTrackPasses = 4;

// Process groups one stop signals as a whole (pidfd_send_signal's
// PIDFD_SIGNAL_PROCESS_GROUP) in one walk, remembered on the stack so that
// their members are not signalled twice; members of more groups than this
// are signalled one by one.
inline constexpr int kTrackGroupsPerWalk = 16;

}  // namespace keel::limits

// ------------------------------- shutdown always finishes (shutdown helper, issue 10)
namespace keel::limits {

// keel.toml's shutdown_timeout by default: how long the services as a whole
// get to stop after a power request before keel names what is still alive
// and goes on. 90 s is systemd's DefaultTimeoutStopSec: longer than any
// sane stop_timeout (10 s by default) times the few levels of ordering a
// real system has, short enough that a machine asked to power off does.
inline constexpr std::int64_t kShutdownTimeoutNs = 90'000'000'000;

// sync() runs in a child that PID 1 watches (system/shutdown_io.hpp). Every
// kSyncCheckNs without the child's exit, PID 1 reads Dirty + Writeback (+
// NFS_Unstable) from /proc/meminfo; kSyncStallChecks looks in a row without
// a new low mean the writeback is stuck (a dead disk, a hard-mounted NFS
// server gone) and keel goes on without it: 3 x 5 s = 15 s of no progress
// (systemd-shutdown waits 3 x 10 s; a disk in SCSI error recovery retries
// for up to 30 s per command, but by then the data is lost either way). A
// sync that does progress still ends after kSyncMaxNs: 10 minutes writes
// back a few GB even on an SD card (~5 MB/s), far more than the dirty
// limit of a machine keel runs on.
inline constexpr std::int64_t kSyncCheckNs = 5'000'000'000;
inline constexpr int kSyncStallChecks = 3;
inline constexpr std::int64_t kSyncMaxNs = 600'000'000'000;

// Each unmount, lazy detach and read-only remount at shutdown runs in a
// child with this bound (a dead NFS server or device can hang any of them,
// in the path lookup already). After a clean sync an unmount takes
// milliseconds; 10 s covers a journal commit on a slow disk. The whole
// filesystem step ends after kFilesystemsMaxNs whatever is left: 60 s is six
// hung mounts' worth, and the machine must still power off.
inline constexpr std::int64_t kMountOpTimeoutNs = 10'000'000'000;
inline constexpr std::int64_t kFilesystemsMaxNs = 60'000'000'000;

// Processes named one by one when they outlive SIGKILL at shutdown (the
// rest are counted): a screenful on a console.
inline constexpr int kSurvivorsNamed = 20;

}  // namespace keel::limits

// ------------------------------------------------ launching without waiting (issue 10, §1)
namespace keel::limits {

// How long a service's child may take from the fork to its exec when its
// start_timeout is 0 ("wait forever to be ready": the rng-ready builtin,
// the CONFIG_DIR/main launcher). The exec itself must still be bounded: a
// child stopped by the service's user after the uid change, or stuck in a
// chdir or exec on a dead mount, is killed after this. 60 s is the default
// start_timeout: a real exec takes milliseconds, even from a slow disk.
inline constexpr std::int64_t kLaunchTimeoutNs = 60'000'000'000;

// The container init's one launch: how long it waits for the exec report
// before it goes into its loop anyway (forwarding signals, reaping; a late
// report is still read there). Long enough that every ordinary exec is seen
// first, so messages and exit codes come as tini's and dumb-init's; short
// enough that signals sent to a child stopped before its exec are forwarded
// a quarter of a second late at most.
inline constexpr int kContainerExecReportWaitMs = 250;

// Services launching at once (forked, exec not yet reported). Each holds
// its exec-status pipe's read end until the report, so a scheduling pass
// over a thousand services would otherwise take a thousand fds more for a
// moment, and under a 1024-fd limit fail launches that would fit one after
// the other. 64 keeps the start of a large set parallel (an exec takes a
// millisecond, so the batch turns over quickly) for 64 fds at most.
inline constexpr int kMaxLaunching = 64;

}  // namespace keel::limits

// ----------------------------------- the log writer (service/log_writer_link, issue 10)
namespace keel::limits {

// The socket to the log-writer process: its send buffer asked for with
// SO_SNDBUFFORCE (SO_SNDBUF, capped by net.core.wmem_max, when keel lacks
// CAP_NET_ADMIN). Each record is one message and costs the kernel about
// 800 bytes of bookkeeping on top of its bytes, so 1 MiB holds about 1,000
// typical lines (120 bytes) while the writer is slow or restarting.
inline constexpr int kLogWriterSocketBytes = 1024 * 1024;

// What PID 1 keeps itself when the socket is full (a frozen or slow log
// filesystem, a writer restarting): whole records only, compact (no kernel
// overhead), so 256 KiB is about 2,000 typical lines, or 50 of the longest.
// Past it, lines are dropped from the files (never from the ring) and
// counted per service; the next line that gets through carries the count.
// Allocated (as untouched pages) only when the first log file is used.
inline constexpr std::size_t kLogWriterQueueBytes = std::size_t{256} * 1024;
// The end of that queue only close records may use: a service whose pipe
// ends while the queue is full of lines still gets its close record through,
// and with it the count of its last lost lines (the file's final marker).
// 32 KiB is 400 closes of a typical path (80 bytes with the header).
inline constexpr std::size_t kLogWriterCloseReserve = std::size_t{32} * 1024;

// At shutdown, after the services: how long the writer has to write what is
// queued and exit once keel closes its end, before it is killed and the
// shutdown goes on without it (a frozen filesystem must not stop a
// power-off). A healthy writer needs milliseconds for a full queue.
inline constexpr std::int64_t kLogWriterFinishNs = 5'000'000'000;

// Restarts of a writer that died: doubling from 100 ms up to 10 s (a
// writer that cannot start at all, e.g. without /proc, costs one fork per
// 10 s). Lines meanwhile wait in the socket and the queue.
inline constexpr std::int64_t kLogWriterRestartFirstNs = 100'000'000;
inline constexpr std::int64_t kLogWriterRestartMaxNs = 10'000'000'000;

// Processes below keel that one walk of the tree tracker judged not a
// service's, kept (32 bytes each, 8 KiB, in static storage) to tell whether
// an id learned later in the walk makes one of them a member: only then is
// /proc walked again. Those are the other services' processes and orphans;
// past 256 the walk is repeated whenever it learned an id (as every walk
// was before), and a repeated stop walk signals only the ones it kept.
inline constexpr int kTrackOthersPerWalk = 256;

}  // namespace keel::limits

// -------------------------------------- a child sharing keel's memory (core/spawn, issue 11)
namespace keel::limits {

// The stack a launching child runs on until its exec (core/spawn.cpp). The
// deepest path is a script without "#!", whose /bin/sh argv of
// kMaxScriptArgs pointers (32 KiB) is built on it; 64 KiB leaves half of it
// for the calls. Untouched pages cost nothing (MAP_NORESERVE), and the
// mapping goes once the child has exec'd.
inline constexpr std::size_t kChildStackBytes = std::size_t{64} * 1024;

// The copies the child reads: argv and the environment (measured first),
// plus this much for the rest (the exec plan: a few hundred bytes, more
// with thousands of supplementary groups, when the arena doubles until it
// fits), up to 256 MiB in all (execve's own limit on argv and environment
// together is a quarter of the stack limit, far below).
inline constexpr std::size_t kChildArenaBytes = std::size_t{16} * 1024;
inline constexpr std::size_t kChildArenaMaxBytes = std::size_t{256} * 1024 * 1024;

}  // namespace keel::limits

// ------------------------------------------ the configuration loader (issue 11)
namespace keel::limits {

// How long the loader child (system/config_loader.hpp) may take to read and
// parse keel.toml and every service file before it is killed and the load
// reported failed. 1,000 service files parse in about 0.1 s on the host;
// 30 s leaves room for a slow disk and a loaded machine, and is what a hung
// loader (a bug) costs a boot that has nothing else to do.
inline constexpr std::int64_t kLoaderTimeoutNs = 30'000'000'000;

// The loader's answer, encoded (system/config_codec.hpp): a typical service
// takes 300-600 bytes, the largest possible one (kMaxConfigFileBytes of
// text) about that much again. 64 MiB is 100,000 typical services; past
// it the loader is killed and the load fails rather than PID 1 buffering
// without bound.
inline constexpr std::size_t kLoaderAnswerBytes = std::size_t{64} << 20;

}  // namespace keel::limits

// ------------------------------------- sd_notify watchdog, timeouts, reload (issue 12)
namespace keel::limits {

// A period or extension in µs from a service (WATCHDOG_USEC=,
// EXTEND_TIMEOUT_USEC=, MONOTONIC_USEC=) is accepted up to the longest
// duration a service file may name (one year): times 1,000 it stays far
// below INT64_MAX ns, so no timer arithmetic overflows. A larger or
// malformed number is ignored, as a garbled message is.
inline constexpr std::uint64_t kNotifyUsecMax = static_cast<std::uint64_t>(kMaxDurationSeconds) * 1'000'000;

// WATCHDOG_PID and LISTEN_PID are written by the launching child itself (it
// is the first to know its pid) into a copy of the environment's pointer
// array on its own stack (core/spawn.cpp; ARCHITECTURE.md rule 5): 1,024
// entries are 8 KiB of the child's 64 KiB stack, beside the 32 KiB a
// script's /bin/sh argv may take. A service with a larger environment gets
// WATCHDOG_USEC without WATCHDOG_PID (sd_watchdog_enabled() then believes
// any process), and one with sockets fails "execve" with E2BIG.
inline constexpr std::size_t kSelfPidEnvEntries = 1024;

}  // namespace keel::limits

// ------------------------------------------ health and readiness probes (issue 12)
namespace keel::limits {

// Probe runs in flight at once, over every service (service/probe.hpp): a
// pid table PID 1 looks up at each reap. A run that would pass it is not
// started (and counts neither way). 1,024 is ten runs of each of a hundred
// services' two probes, far above what a 1 s interval and a short check give.
inline constexpr int kProbesInFlight = 1024;

// What keel keeps of a probe run's output (stdout and stderr together), per
// probe, for keelctl status: enough for an error line or a short HTTP
// answer; the rest is read and dropped so the child never blocks.
inline constexpr std::size_t kProbeOutputBytes = 512;

}  // namespace keel::limits

// ------------------------------------------ socket activation (issue 12, part 5)
namespace keel::limits {

// Listening sockets per service ([[socket]], service/listen_sockets.hpp).
// They are passed as fds 3 .. 3+N-1, and spawn's child keeps its report
// pipe at 64 and above (core/spawn.cpp, kHookReportFdFloor): 32 keeps the
// sockets and a notify_fd after them well under it. systemd services use
// one or two.
inline constexpr std::size_t kMaxServiceSockets = 32;

}  // namespace keel::limits

// ------------------------------------------ sd_notify FDSTORE (issue 12, part 4)
namespace keel::limits {

// fd_store_max's bound (docs/services.md, "The fd store"). A stored fd is
// passed after the [[socket]] ones at 3, 4, ..., and the child installs at
// most kMaxServiceSockets there (its report pipe sits at 64 and above):
// the loader checks sockets + fd_store_max <= kMaxServiceSockets.
inline constexpr std::size_t kFdStoreMax = kMaxServiceSockets;
// An FDNAME='s length, as systemd's (FDNAME_MAX).
inline constexpr std::size_t kFdNameMax = 255;

}  // namespace keel::limits

// ------------------------------------------ the event record (issue 13, part 2)
namespace keel::limits {

// One event as a JSON line (service/event_record.hpp), closing brace
// included. A usual event is 100-200 bytes; the longest are a reload's
// lists and a `starting` event's `after` list: 8 KiB holds about 120 names
// of the longest kind (64 bytes, quoted) and a thousand of the usual ~6.
// A list that would pass it is cut and the event says so ("cut":true).
inline constexpr std::size_t kEventLineMax = std::size_t{8} * 1024;

// The boot's events, kept for good (keel-start up to target-reached): 256
// KiB holds about 1,500 events of ~170 bytes, a boot of 300 services
// (starting, started, ready and a few more each). Past it the boot's
// later events go to the ring like any other. From mmap: pages cost
// memory only once written.
inline constexpr std::size_t kEventBootBytes = std::size_t{256} * 1024;

// The events since the boot, a ring: the oldest are forgotten first (a
// gap in seq says so to a reader). 1 MiB: about 6,000 events, hours of a
// crash loop at a 1 s back-off; pages are touched only as the ring fills.
inline constexpr std::size_t kEventRingBytes = std::size_t{1024} * 1024;

// `keelctl events` followers at once. Each costs the control server's
// output buffer of its connection (server.hpp) and one slot here.
inline constexpr std::size_t kEventFollowers = 16;

// ---- Issue 14: the disk root's stage (system/switch_root.hpp, block_device.hpp)

// A root= / keel.data= device value: a label or partition name is at most
// 36 characters (GPT), a UUID 36, a path far less than this.
inline constexpr std::size_t kDeviceSpecMax = 255;

// keel.root_timeout=S: its default, and the most it may ask for (a larger
// value is cut to this, so a typo cannot hold the boot for a day).
inline constexpr long kRootTimeoutDefaultS = 30;
inline constexpr long kRootTimeoutMaxS = 3600;

// One e2fsck -p run. Minutes on a large disk full of inodes; past this it is
// killed and the filesystem mounted read-only (docs/system-mode.md).
inline constexpr long kFsckTimeoutS = 600;

// PID 1's bound for the whole stage child on top of the waits it was told
// (device waits and fsck runs): the mounts and the rest.
inline constexpr long kStageMarginS = 60;

// Directory levels the initramfs's removal goes down (deeper is left).
inline constexpr int kInitramfsDepthMax = 64;

}  // namespace keel::limits
