// listen_sockets.hpp — a service's listening sockets, made by keel (socket
// activation, docs/services.md "Socket activation").
//
// keel creates them before the service's first start, in PID 1 (socket,
// bind and listen never block; a unix path is a filesystem call on the
// directory the path names), and keeps them while the service restarts:
// a client that connects meanwhile waits in the backlog instead of being
// refused. They are made anew only when their definition changes (a
// reload with another [[socket]]), and closed when the service is removed
// or keel ends. keel never accepts on them: the service gets them as fds
// 3, 4, ... (service/exec_plan.hpp) and the first connection only wakes
// keel for a service started on connection (supervisor.cpp).
//
// A unix path is where someone else could prepare a trap: keel binds only
// in a directory owned by root (or keel's own uid) and writable by nobody
// else, replaces what is at the path only when it is a socket (a stale
// one from an earlier run), and refuses a symbolic link, a FIFO, a
// regular file or anything else with a message; bind(2) itself never
// follows a link. The socket is created with a umask that leaves it 0600
// and then gets its configured owner, group and mode.
#pragma once

#include <string>
#include <vector>

#include "service/config.hpp"

namespace keel::service {

class ListenSockets {
 public:
  ListenSockets() = default;
  ~ListenSockets() { close(); }
  ListenSockets(const ListenSockets&) = delete;
  ListenSockets& operator=(const ListenSockets&) = delete;

  // Makes the open sockets those of `wanted`: kept when they were made
  // from the same definitions, else closed and made anew. "" on success,
  // else the sentence to log (every socket made so far is closed again).
  // Allocates (an edge: a launch).
  [[nodiscard]] std::string open(const std::vector<SocketConfig>& wanted);
  void close() noexcept;

  // In definition order: fd i goes to 3 + i in the service.
  [[nodiscard]] const std::vector<int>& fds() const noexcept { return fds_; }
  [[nodiscard]] bool empty() const noexcept { return fds_.empty(); }

 private:
  std::vector<SocketConfig> made_from_;
  std::vector<int> fds_;
};

}  // namespace keel::service
