// server.hpp — the control socket inside keel (PID 1).
//
// A Unix stream socket (its path a setting, /run/keel/control.sock by
// default) on keel's event loop. Each connection carries one request: the
// peer is checked with SO_PEERCRED first (root, keel's own uid, or one
// allowed group), then
// its frame is decoded incrementally (control/protocol.hpp) and handed to the
// ControlHandler with the connection as its Session.
//
// Whatever a client does, keel is not harmed: every buffer is bounded
// (core/limits.hpp), garbage gets an error reply and the connection is
// closed, a client that stalls mid-request is closed by a timer, a client
// that does not read its streamed output loses chunks (counted) instead of
// blocking keel, and nothing throws out of here: std::bad_alloc is caught
// where a request allocates and becomes an error reply.
//
// Root always gets an answer (docs/keelctl.md): when every connection slot
// is taken, the newest non-root client is closed to make room; when keel is
// out of file descriptors, a reserve fd (an open /dev/null) is given up to
// accept one client, which is served if it is root and told "out of file
// descriptors" otherwise, and the reserve is taken again once that fd is
// closed.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "control/handler.hpp"
#include "control/protocol.hpp"
#include "core/event_loop.hpp"
#include "core/limits.hpp"
#include "core/result.hpp"

namespace keel::control {

inline constexpr const char* kDefaultSocketPath = "/run/keel/control.sock";
inline constexpr gid_t kNoGroup = static_cast<gid_t>(-1);

// Whether a peer with these credentials may use the socket: uid 0, or
// `allowed_group` set and the peer's gid or one of its supplementary groups
// (the Groups: line of /proc/PID/status) is it. `proc_status` is that file's
// text, "" when it could not be read. Pure, for tests. (The server asks the
// socket for the groups first, SO_PEERGROUPS, and uses this as the fallback.)
[[nodiscard]] bool peer_allowed(uid_t uid, gid_t gid, gid_t allowed_group, const char* proc_status) noexcept;

// The EventLoop given to open() must outlive the server (its destructor
// closes connections, which removes their fds from the loop).
class ControlServer final : private FdHandler, private TimerHandler {
 public:
  struct Options {
    int max_connections = limits::kControlMaxConnections;
    std::int64_t stall_timeout_ns = limits::kControlStallTimeoutMs * 1'000'000;
    std::size_t out_buffer = limits::kControlOutBuffer;
  };

  ControlServer() noexcept;
  explicit ControlServer(Options options) noexcept;
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Create the parent directory (0755) if missing, replace a stale socket,
  // bind and listen; mode 0600, or 0660 and group `allowed_group` when one
  // is given (kNoGroup: root only). Allocates the connection slots (an edge).
  Status open(EventLoop& loop, const char* path, gid_t allowed_group, ControlHandler& handler) noexcept;

  // Close every connection (kept sessions get session_closed), stop
  // listening and remove the socket file. Safe to call twice.
  void close() noexcept;

  [[nodiscard]] bool is_open() const noexcept { return listen_fd_ >= 0; }
  [[nodiscard]] int active_connections() const noexcept;
  // Counters, for status and tests.
  [[nodiscard]] std::uint64_t dropped_chunks() const noexcept { return dropped_chunks_; }
  [[nodiscard]] std::uint64_t refused_peers() const noexcept { return refused_peers_; }
  [[nodiscard]] std::uint64_t bad_requests() const noexcept { return bad_requests_; }
  [[nodiscard]] std::uint64_t overflow_connections() const noexcept { return overflow_connections_; }
  // Non-root clients closed to make room for root, and clients taken with
  // the reserve fd while keel was out of fds.
  [[nodiscard]] std::uint64_t evicted_connections() const noexcept { return evicted_connections_; }
  [[nodiscard]] std::uint64_t fd_exhausted_accepts() const noexcept { return fd_exhausted_accepts_; }
  [[nodiscard]] bool has_spare_fd() const noexcept { return spare_fd_ >= 0; }

 private:
  class Connection;
  friend class Connection;

  void on_ready(std::uint32_t events) noexcept override;  // the listening socket
  void on_timer() noexcept override;                     // accepting again after EMFILE
  void accept_one(int fd) noexcept;
  void refuse_overflow(int fd) noexcept;
  void take_spare() noexcept;
  void pause_accepting() noexcept;

  // Root and keel's own uid (a user instance's user) are served like root;
  // the owner is observed once, at open().
  [[nodiscard]] bool privileged(uid_t uid) const noexcept { return uid == 0 || uid == owner_uid_; }

  Options options_;
  uid_t owner_uid_ = 0;
  EventLoop* loop_ = nullptr;
  ControlHandler* handler_ = nullptr;
  gid_t allowed_group_ = kNoGroup;
  int listen_fd_ = -1;
  // The reserve: an open /dev/null, closed to accept one client when fds
  // run out (root is served with it, anyone else told why), then re-taken.
  int spare_fd_ = -1;
  std::unique_ptr<Timer> retry_timer_;  // set in open()
  bool pause_logged_ = false;           // the shortage was reported; reset by an accept
  std::uint64_t accepted_ = 0;
  char path_[108] = {};
  std::vector<std::unique_ptr<Connection>> connections_;
  std::uint64_t dropped_chunks_ = 0;
  std::uint64_t refused_peers_ = 0;
  std::uint64_t bad_requests_ = 0;
  std::uint64_t overflow_connections_ = 0;
  std::uint64_t evicted_connections_ = 0;
  std::uint64_t fd_exhausted_accepts_ = 0;
};

}  // namespace keel::control
