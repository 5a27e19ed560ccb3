// server.cpp — the control socket's listener and its connections.
//
// Connection slots are allocated once, in open(); a slot is a small state
// machine:
//
//   Reading  -> the request's bytes arrive; a timer bounds how long
//   Handling -> the handler has the request; it finished it already, or it
//               kept the Session (wait --ready, log -f) and finishes later
//   Closing  -> the Final frame is flushed, then the fd is closed; the same
//               timer bounds how long a client may take to read it
//
// Every error path ends in release(), which closes the fd and frees the slot
// for the next client. Epoll is level-triggered, so each wake-up does a
// bounded amount of work and leaves the rest for the next turn.
#include "control/server.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <string_view>

#include "core/log.hpp"

namespace keel::control {
namespace {

// Reads per wake-up of one connection: 4 * 4 KiB, a whole small request.
constexpr int kReadsPerWake = 4;
constexpr std::size_t kReadChunk = 4096;
// Accepts per wake-up of the listener, so a flood of connects cannot keep
// keel from its other fds.
constexpr int kAcceptsPerWake = limits::kControlBacklog;

// A peer's /proc/PID/status, read into one static buffer (the loop is
// single-threaded). The Groups: line comes in the first few hundred bytes;
// 16 KiB also holds a long list of supplementary groups.
char g_proc_status[16 * 1024];

const char* read_proc_status(pid_t pid) noexcept {
  if (pid <= 0) return "";  // the peer is in a PID namespace keel cannot see
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(pid));
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::size_t used = 0;
  while (used + 1 < sizeof g_proc_status) {
    ssize_t n = ::read(fd, g_proc_status + used, sizeof g_proc_status - 1 - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    used += static_cast<std::size_t>(n);
  }
  ::close(fd);
  g_proc_status[used] = '\0';
  return g_proc_status;
}

// Whether the peer has `group` among its supplementary groups. SO_PEERGROUPS
// (Linux 4.13) answers from the socket itself, with no race against the
// peer exiting and its PID being reused; /proc/PID/status is the fallback
// for older kernels and for a peer with more than 1024 groups.
bool peer_in_group(int fd, const ucred& cred, gid_t group) noexcept {
  gid_t groups[1024];
  socklen_t len = sizeof groups;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
    for (std::size_t i = 0; i < len / sizeof(gid_t); ++i) {
      if (groups[i] == group) return true;
    }
    return false;
  }
  return peer_allowed(cred.uid, cred.gid, group, read_proc_status(cred.pid));
}

// A small Final frame built on the stack and sent once, for clients that
// get no slot (too many connections, out of fds, out of memory). The
// socket's buffer is empty, so a few hundred bytes always fit.
void send_small_final(int fd, Code code, const char* text) noexcept {
  unsigned char frame[kHeaderSize + 1 + 256];
  std::size_t body = std::strlen(text);
  if (body > 256) body = 256;
  const std::uint32_t length = static_cast<std::uint32_t>(1 + body);
  const std::uint32_t magic = kMagic;
  for (unsigned i = 0; i < 4; ++i) frame[i] = static_cast<unsigned char>(magic >> (8 * i));
  frame[4] = static_cast<unsigned char>(kProtocolVersion & 0xFFU);
  frame[5] = static_cast<unsigned char>(kProtocolVersion >> 8U);
  frame[6] = static_cast<unsigned char>(static_cast<unsigned>(FrameType::Final) & 0xFFU);
  frame[7] = 0;
  for (unsigned i = 0; i < 4; ++i) frame[8 + i] = static_cast<unsigned char>(length >> (8 * i));
  frame[kHeaderSize] = static_cast<unsigned char>(code);
  std::memcpy(frame + kHeaderSize + 1, text, body);
  ssize_t n = ::send(fd, frame, kHeaderSize + length, MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)n;  // best effort: the client is turned away either way
}

uid_t peer_uid(int fd) noexcept {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return static_cast<uid_t>(-1);
  return cred.uid;
}

}  // namespace

bool peer_allowed(uid_t uid, gid_t gid, gid_t allowed_group, const char* proc_status) noexcept {
  if (uid == 0) return true;
  if (allowed_group == kNoGroup) return false;
  if (gid == allowed_group) return true;
  if (proc_status == nullptr) return false;
  const char* line = proc_status;
  while (line != nullptr && std::strncmp(line, "Groups:", 7) != 0) {
    line = std::strchr(line, '\n');
    if (line != nullptr) ++line;
  }
  if (line == nullptr) return false;
  const char* p = line + 7;
  while (*p != '\0' && *p != '\n') {
    if (*p < '0' || *p > '9') {
      ++p;
      continue;
    }
    unsigned long long value = 0;
    bool overflow = false;
    while (*p >= '0' && *p <= '9') {
      value = value * 10 + static_cast<unsigned>(*p - '0');
      if (value > 0xFFFFFFFFULL) overflow = true;
      ++p;
    }
    if (!overflow && static_cast<gid_t>(value) == allowed_group) return true;
  }
  return false;
}

// ------------------------------------------------------------- Connection

class ControlServer::Connection final : public Session, private FdHandler, private TimerHandler {
 public:
  Connection(ControlServer& server, EventLoop& loop) noexcept
      : server_(server), loop_(loop), timer_(loop, *this), decoder_(limits::kControlMaxRequest) {}
  ~Connection() { release(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  [[nodiscard]] bool is_free() const noexcept { return state_ == State::Free; }

  void start(int fd, std::uint64_t seq) noexcept;
  // The server shuts down: forget a kept session, close.
  void shutdown() noexcept { client_gone(); }
  // A root client needs this slot: tell this client why, and close.
  void evict() noexcept;
  [[nodiscard]] bool is_root() const noexcept { return server_.privileged(uid_); }
  [[nodiscard]] std::uint64_t seq() const noexcept { return seq_; }

  void send(std::string_view chunk) noexcept override;
  void finish(Code code, std::string_view body) noexcept override;

 private:
  enum class State : std::uint8_t { Free, Reading, Handling, Closing };

  void on_ready(std::uint32_t events) noexcept override;
  void on_timer() noexcept override;
  void read_input() noexcept;
  void on_frame() noexcept;
  void queue_final(Code code, std::string_view body) noexcept;
  void flush() noexcept;
  void update_events() noexcept;
  void client_gone() noexcept;
  void release() noexcept;
  [[nodiscard]] std::size_t pending() const noexcept { return out_.size() - out_sent_; }

  ControlServer& server_;
  EventLoop& loop_;
  Timer timer_;
  FrameDecoder decoder_;
  Request request_;
  std::string out_;
  std::size_t out_sent_ = 0;
  int fd_ = -1;
  std::uint32_t events_ = 0;
  State state_ = State::Free;
  bool peer_eof_ = false;
  uid_t uid_ = static_cast<uid_t>(-1);  // the peer's, from SO_PEERCRED
  std::uint64_t seq_ = 0;                // order of acceptance: the newest is evicted first
};

void ControlServer::Connection::start(int fd, std::uint64_t seq) noexcept {
  fd_ = fd;
  seq_ = seq;
  uid_ = static_cast<uid_t>(-1);
  state_ = State::Reading;
  peer_eof_ = false;
  out_sent_ = 0;
  out_.clear();
  decoder_ = FrameDecoder(limits::kControlMaxRequest);
  events_ = EPOLLIN;
  if (Status s = loop_.add(fd_, events_, *this); !s) {
    log::msg(log::Level::Warn, "control: %s: %s", s.error().context, s.error().message());
    ::close(fd_);
    fd_ = -1;
    state_ = State::Free;
    return;
  }

  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd_, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    log::msg(log::Level::Warn, "control: SO_PEERCRED: %s", std::strerror(errno));
    release();
    return;
  }
  uid_ = cred.uid;
  const gid_t group = server_.allowed_group_;
  // Root, and keel's own user: for a user instance that is the user
  // (docs/system-mode.md, "A user instance"); for root's keel the same uid 0.
  const bool allowed =
      server_.privileged(cred.uid) || (group != kNoGroup && (cred.gid == group || peer_in_group(fd_, cred, group)));
  if (!allowed) {
    ++server_.refused_peers_;
    log::msg(log::Level::Info, "control: refused pid %d (uid %u)", static_cast<int>(cred.pid),
             static_cast<unsigned>(cred.uid));
    char text[128];
    if (group == kNoGroup) {
      if (server_.owner_uid_ != 0) {
        std::snprintf(text, sizeof text, "permission denied: this keel is uid %u's (or root's)",
                      static_cast<unsigned>(server_.owner_uid_));
      } else {
        std::snprintf(text, sizeof text, "permission denied: keelctl needs root");
      }
    } else {
      std::snprintf(text, sizeof text, "permission denied: keelctl needs root (or group %u)",
                    static_cast<unsigned>(group));
    }
    state_ = State::Handling;  // queue_final's precondition: a request is open
    queue_final(Code::Denied, text);
    return;
  }
  timer_.arm_after(server_.options_.stall_timeout_ns);
}

void ControlServer::Connection::on_ready(std::uint32_t events) noexcept {
  if (state_ == State::Free) return;  // a stale event from before release()
  if ((events & EPOLLOUT) != 0U) {
    flush();
    if (state_ == State::Free) return;
  }
  if ((events & (EPOLLHUP | EPOLLERR)) != 0U && peer_eof_) {
    // Input is done and the socket reports hang-up or error on every turn
    // from now on: whatever is left cannot be delivered.
    client_gone();
    return;
  }
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0U) read_input();
}

void ControlServer::Connection::read_input() noexcept {
  char buf[kReadChunk];
  for (int i = 0; i < kReadsPerWake && state_ != State::Free && !peer_eof_; ++i) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      client_gone();
      return;
    }
    if (n == 0) {
      peer_eof_ = true;
      if (state_ == State::Reading) {
        if (decoder_.mid_frame()) {
          ++server_.bad_requests_;
          state_ = State::Handling;
          queue_final(Code::BadRequest, "malformed request: truncated frame (connection closed mid-frame)");
        } else {
          release();  // connected and left without asking anything
        }
      } else if (state_ == State::Handling) {
        client_gone();  // a kept session's client went away (log -f ended)
      } else {
        update_events();  // Closing: stop watching input, keep flushing
      }
      return;
    }
    if (state_ != State::Reading) continue;  // one request per connection: the rest is ignored
    std::string_view input(buf, static_cast<std::size_t>(n));
    switch (decoder_.feed(input)) {
      case FrameDecoder::Result::NeedMore: break;
      case FrameDecoder::Result::Frame: on_frame(); break;
      case FrameDecoder::Result::Error: {
        ++server_.bad_requests_;
        state_ = State::Handling;
        try {
          std::string text = reject_message(decoder_.error(), decoder_.seen_version());
          queue_final(Code::BadRequest, text);
        } catch (const std::bad_alloc&) {
          queue_final(Code::BadRequest, "malformed request");
        }
        break;
      }
    }
  }
}

void ControlServer::Connection::on_frame() noexcept {
  timer_.disarm();
  state_ = State::Handling;
  if (decoder_.type() != FrameType::Request) {
    ++server_.bad_requests_;
    queue_final(Code::BadRequest, "malformed request: unexpected frame type (expected a request)");
    return;
  }
  Reject reject = decode_request(decoder_.payload(), request_);
  if (reject != Reject::None) {
    ++server_.bad_requests_;
    try {
      std::string text = reject_message(reject);
      queue_final(Code::BadRequest, text);
    } catch (const std::bad_alloc&) {
      queue_final(Code::BadRequest, "malformed request");
    }
    return;
  }
  server_.handler_->handle(request_, *this);
  // Here the handler either finished (the slot may be Closing or Free
  // already) or kept the session to finish later.
}

void ControlServer::Connection::send(std::string_view chunk) noexcept {
  if (state_ != State::Handling) return;
  if (chunk.size() > limits::kControlMaxChunk) chunk = chunk.substr(0, limits::kControlMaxChunk);
  if (pending() + kHeaderSize + chunk.size() > server_.options_.out_buffer) {
    ++server_.dropped_chunks_;
    return;
  }
  try {
    append_frame(out_, FrameType::Data, chunk);
  } catch (const std::bad_alloc&) {
    ++server_.dropped_chunks_;
    return;
  }
  flush();
}

void ControlServer::Connection::finish(Code code, std::string_view body) noexcept {
  if (state_ != State::Handling) return;
  queue_final(code, body);
}

void ControlServer::Connection::queue_final(Code code, std::string_view body) noexcept {
  state_ = State::Closing;
  try {
    if (body.size() + 1 > limits::kControlMaxReply) {
      if (code != Code::Ok) {
        body = body.substr(0, limits::kControlMaxReply - 1);  // an error's text: its start says it
      } else {
        // A whole answer larger than one frame (`status --json` of
        // thousands of services) goes out as Data chunks and a Final with
        // the rest; keelctl prints the chunks as they come, so the output
        // is the whole body. Unlike log -f's chunks these are never
        // dropped: the handler built the body already, and the client
        // takes it at its own pace within the stall timeout per write.
        std::size_t whole_chunks = (body.size() - 1) / limits::kControlMaxChunk;
        out_.reserve(pending() + body.size() + (whole_chunks + 1) * kHeaderSize + 1);
        for (std::size_t i = 0; i < whole_chunks; ++i) {
          append_frame(out_, FrameType::Data, body.substr(0, limits::kControlMaxChunk));
          body.remove_prefix(limits::kControlMaxChunk);
        }
      }
    }
    std::string payload;
    payload.reserve(1 + body.size());
    payload.push_back(static_cast<char>(code));
    payload.append(body);
    append_frame(out_, FrameType::Final, payload);
  } catch (const std::bad_alloc&) {
    // Whatever was queued is dropped: the small reply must go out alone.
    if (pending() == 0) send_small_final(fd_, Code::Failed, "keel is out of memory");
    release();
    return;
  }
  timer_.arm_after(server_.options_.stall_timeout_ns);
  flush();
}

void ControlServer::Connection::flush() noexcept {
  bool progress = false;
  while (pending() > 0) {
    ssize_t n = ::send(fd_, out_.data() + out_sent_, pending(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      client_gone();  // EPIPE, ECONNRESET: nobody to write to
      return;
    }
    out_sent_ += static_cast<std::size_t>(n);
    progress = n > 0;
  }
  // The stall timeout bounds a client that stops reading, not the length
  // of a long reply it reads steadily.
  if (progress && state_ == State::Closing && pending() > 0) timer_.arm_after(server_.options_.stall_timeout_ns);
  if (pending() == 0) {
    out_.clear();  // keeps the capacity: no allocation for the next chunk
    out_sent_ = 0;
    if (state_ == State::Closing) {
      release();
      return;
    }
  } else if (out_sent_ > out_.size() / 2) {
    out_.erase(0, out_sent_);  // moves bytes within the capacity
    out_sent_ = 0;
  }
  update_events();
}

void ControlServer::Connection::update_events() noexcept {
  std::uint32_t want = (peer_eof_ ? 0U : static_cast<std::uint32_t>(EPOLLIN)) |
                       (pending() > 0 ? static_cast<std::uint32_t>(EPOLLOUT) : 0U);
  if (want == events_) return;
  if (Status s = loop_.modify(fd_, want, *this); !s) {
    log::msg(log::Level::Warn, "control: %s: %s", s.error().context, s.error().message());
    client_gone();
    return;
  }
  events_ = want;
}

void ControlServer::Connection::on_timer() noexcept {
  if (state_ == State::Reading) {
    ++server_.bad_requests_;
    state_ = State::Handling;
    queue_final(Code::BadRequest, "request timed out: incomplete frame");
    return;
  }
  release();  // Closing: the client does not read its reply
}

void ControlServer::Connection::client_gone() noexcept {
  const bool kept = state_ == State::Handling;
  release();
  // After release(): a handler that calls finish() from session_closed
  // finds a free slot and is ignored.
  if (kept) server_.handler_->session_closed(*this);
}

void ControlServer::Connection::evict() noexcept {
  if (state_ == State::Free) return;
  ++server_.evicted_connections_;
  // Only when nothing of a reply is on its way: a frame must not be cut.
  if (pending() == 0) send_small_final(fd_, Code::Failed, "too many connections to keel; a root client took this one");
  client_gone();
}

void ControlServer::Connection::release() noexcept {
  if (state_ == State::Free) return;
  timer_.disarm();
  loop_.remove(fd_, *this);
  ::close(fd_);
  fd_ = -1;
  uid_ = static_cast<uid_t>(-1);
  server_.take_spare();  // the fd just freed may be what the spare was missing
  state_ = State::Free;
  out_.clear();
  out_.shrink_to_fit();  // an idle slot holds no memory
  out_sent_ = 0;
  decoder_ = FrameDecoder(limits::kControlMaxRequest);
  request_.args.clear();
}

// ------------------------------------------------------------ ControlServer

ControlServer::ControlServer() noexcept : ControlServer(Options{}) {}
ControlServer::ControlServer(Options options) noexcept : options_(options) {}
ControlServer::~ControlServer() { close(); }

int ControlServer::active_connections() const noexcept {
  int n = 0;
  for (const auto& c : connections_) n += c->is_free() ? 0 : 1;
  return n;
}

Status ControlServer::open(EventLoop& loop, const char* path, gid_t allowed_group, ControlHandler& handler) noexcept {
  if (listen_fd_ >= 0) return Error{EBUSY, "control socket already open"};
  const std::size_t length = std::strlen(path);
  if (length == 0 || length >= sizeof path_ || length >= sizeof(sockaddr_un::sun_path)) {
    return Error{ENAMETOOLONG, "control socket path"};
  }
  std::memcpy(path_, path, length + 1);

  // The parent directories, like mkdir -p; only a missing one is created.
  char dir[sizeof path_];
  std::memcpy(dir, path, length + 1);
  for (std::size_t i = 1; i < length; ++i) {
    if (dir[i] != '/') continue;
    dir[i] = '\0';
    if (::mkdir(dir, 0755) != 0 && errno != EEXIST) {
      Error e = errno_error("mkdir control socket directory");
      path_[0] = '\0';
      return e;
    }
    dir[i] = '/';
  }

  // A socket left by an earlier keel (a re-exec, a crash) is stale: this is
  // the only control server. Anything else at the path is not ours to delete.
  struct stat st {};
  if (::lstat(path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      path_[0] = '\0';
      return Error{EEXIST, "control socket path exists and is not a socket"};
    }
    ::unlink(path);
  }

  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    path_[0] = '\0';
    return errno_error("control socket");
  }
  auto fail = [&](const char* step) noexcept {
    Error e = errno_error(step);
    ::close(fd);
    ::unlink(path_);
    path_[0] = '\0';
    return e;
  };
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path, length + 1);
  // bind() creates the file with 0777 & ~umask; a umask of 0177 makes it
  // 0600 from the start, so there is no moment when anyone may connect.
  // keel is single-threaded, so the process-wide umask change is safe.
  mode_t old_umask = ::umask(0177);
  int bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  ::umask(old_umask);
  if (bound != 0) return fail("bind control socket");
  if (allowed_group != kNoGroup) {
    if (::chown(path, static_cast<uid_t>(-1), allowed_group) != 0) return fail("chown control socket");
    if (::chmod(path, 0660) != 0) return fail("chmod control socket");
  }
  if (::listen(fd, limits::kControlBacklog) != 0) return fail("listen control socket");

  try {
    TimerHandler& retry = *this;  // a private base: converted here, where it is accessible
    retry_timer_ = std::make_unique<Timer>(loop, retry);
    connections_.clear();
    connections_.reserve(static_cast<std::size_t>(options_.max_connections));
    for (int i = 0; i < options_.max_connections; ++i) {
      connections_.push_back(std::make_unique<Connection>(*this, loop));
    }
  } catch (const std::bad_alloc&) {
    connections_.clear();
    errno = ENOMEM;
    return fail("control connection slots");
  }

  loop_ = &loop;
  handler_ = &handler;
  allowed_group_ = allowed_group;
  owner_uid_ = ::geteuid();
  listen_fd_ = fd;
  if (Status s = loop.add(fd, EPOLLIN, *this); !s) {
    listen_fd_ = -1;
    connections_.clear();
    ::close(fd);
    ::unlink(path_);
    path_[0] = '\0';
    return s;
  }
  spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  return {};
}

void ControlServer::close() noexcept {
  for (auto& c : connections_) c->shutdown();
  connections_.clear();
  retry_timer_.reset();
  if (listen_fd_ >= 0) {
    loop_->remove(listen_fd_, *this);
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
  if (path_[0] != '\0') {
    ::unlink(path_);
    path_[0] = '\0';
  }
  if (spare_fd_ >= 0) {
    ::close(spare_fd_);
    spare_fd_ = -1;
  }
}

void ControlServer::take_spare() noexcept {
  if (spare_fd_ < 0 && listen_fd_ >= 0) spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void ControlServer::on_ready(std::uint32_t /*events*/) noexcept {
  for (int i = 0; i < kAcceptsPerWake; ++i) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      pause_logged_ = false;
      accept_one(fd);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EAGAIN) return;
    if (errno == EMFILE || errno == ENFILE) {
      take_spare();  // an fd freed since the last time may give the reserve back
      if (spare_fd_ < 0) {
        pause_accepting();
        return;
      }
      // The reserve is what lets keel answer at all when its fds run out
      // (level-triggered epoll would otherwise wake keel again at once for
      // the client still queued): give it up to take one client.
      ::close(spare_fd_);
      spare_fd_ = -1;
      fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        take_spare();
        if (errno == EAGAIN) return;
        pause_accepting();
        return;
      }
      ++fd_exhausted_accepts_;
      if (privileged(peer_uid(fd))) {
        // Root is served in the reserve's place (a request needs no other
        // fd); the reserve is taken again when this connection closes.
        accept_one(fd);
        continue;
      }
      send_small_final(fd, Code::Failed, "keel is out of file descriptors; only root is served until some are free");
      ::close(fd);
      take_spare();
      continue;
    }
    log::msg(log::Level::Warn, "control: accept: %s", std::strerror(errno));
    pause_accepting();
    return;
  }
}

// With no fd to take even one client, level-triggered epoll would report
// the queued clients on every turn: stop watching the socket for a moment.
void ControlServer::pause_accepting() noexcept {
  if (retry_timer_ == nullptr || retry_timer_->armed()) return;
  if (Status s = loop_->modify(listen_fd_, 0, *this); !s) return;
  if (!pause_logged_) {  // once per shortage, not 4 times a second
    log::msg(log::Level::Error, "control: keel is out of file descriptors; keelctl is refused until some are free");
    pause_logged_ = true;
  }
  retry_timer_->arm_after(limits::kControlFdRetryMs * 1'000'000);
}

void ControlServer::on_timer() noexcept {
  if (listen_fd_ < 0) return;
  take_spare();
  (void)loop_->modify(listen_fd_, EPOLLIN, *this);
}

void ControlServer::accept_one(int fd) noexcept {
  for (auto& c : connections_) {
    if (c->is_free()) {
      c->start(fd, ++accepted_);
      return;
    }
  }
  // Every slot is taken. Root still gets an answer: the newest non-root
  // client gives up its slot (it has waited least), so a crowd of users
  // of the allowed group cannot lock root out.
  if (privileged(peer_uid(fd))) {
    Connection* victim = nullptr;
    for (auto& c : connections_) {
      if (!c->is_free() && !c->is_root() && (victim == nullptr || c->seq() > victim->seq())) victim = c.get();
    }
    if (victim != nullptr) {
      victim->evict();
      victim->start(fd, ++accepted_);
      return;
    }
  }
  refuse_overflow(fd);
}

void ControlServer::refuse_overflow(int fd) noexcept {
  ++overflow_connections_;
  char text[96];
  std::snprintf(text, sizeof text, "too many connections to keel (at most %d); try again", options_.max_connections);
  send_small_final(fd, Code::Failed, text);
  ::close(fd);
}

}  // namespace keel::control
