// Unit tests for control/server: a real EventLoop and ControlServer on a
// socket in a temp dir, a fake ControlHandler, and clients on real sockets.
//
// The clients are non-blocking and the loop runs in this thread, so each
// test alternates loop turns with client reads (run_until); clients that
// must be another user (the SO_PEERCRED checks) or that block (keelctl
// itself) run in a forked child while this thread turns the loop. Every
// wait is bounded by a Watchdog.
#include "control/server.hpp"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "control/keelctl.hpp"
#include "control/protocol.hpp"
#include "test_util.hpp"
#include "throwaway_uid.hpp"

namespace keel::control {
namespace {

using testutil::kMs;
using testutil::TempDir;
using testutil::Watchdog;

bool run_until(EventLoop& loop, const std::function<bool()>& done, int timeout_ms = 3000) {
  Watchdog dog(timeout_ms);
  while (!done() && !Watchdog::expired()) {
    Status s = loop.run_once();
    EXPECT_TRUE(s.ok()) << s.error().context << ": " << s.error().message();
    if (!s) return false;
  }
  return done();
}

struct FakeHandler final : ControlHandler {
  void handle(const Request& request, Session& session) noexcept override {
    requests.push_back(request);
    // keelctl log asks for the service's status first (its log file).
    if (status_now && request.verb == Verb::Status) {
      session.finish(Code::Ok, "[]");
      return;
    }
    if (defer) {
      kept = &session;
      return;
    }
    session.finish(code, "answer to " + std::string(verb_name(request.verb)) +
                                 (request.args.empty() ? "" : " " + request.args[0]));
  }
  void session_closed(Session& session) noexcept override {
    ++closed;
    if (&session == kept) kept = nullptr;
  }
  std::vector<Request> requests;
  Session* kept = nullptr;
  bool defer = false;
  bool status_now = false;  // with defer: answer Status at once ("[]")
  Code code = Code::Ok;
  int closed = 0;
};

struct Frame {
  FrameType type;
  std::string payload;
};

// A non-blocking client socket.
class Client {
 public:
  explicit Client(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Client() { close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  [[nodiscard]] bool connected() const { return connected_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void send(const std::string& bytes) const {
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }
  // Read what is there; true once the server closed.
  bool poll() {
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n > 0) {
        in_.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) eof_ = true;
      return eof_;
    }
  }
  [[nodiscard]] std::vector<Frame> frames() const {
    std::vector<Frame> out;
    FrameDecoder d(limits::kControlMaxReply);
    std::string_view in = in_;
    while (d.feed(in) == FrameDecoder::Result::Frame) out.push_back({d.type(), std::string(d.payload())});
    return out;
  }
  // The Final frame's code and body; Failed + "<no final>" when none came.
  [[nodiscard]] std::pair<Code, std::string> final_reply() const {
    for (const Frame& f : frames()) {
      Code code = Code::Ok;
      std::string_view body;
      if (f.type == FrameType::Final && decode_final(f.payload, code, body) == Reject::None) {
        return {code, std::string(body)};
      }
    }
    return {Code::Failed, "<no final>"};
  }
  [[nodiscard]] std::size_t received() const { return in_.size(); }
  [[nodiscard]] int fd() const { return fd_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string in_;
};

std::string request_frame(Verb verb, std::vector<std::string> args = {}) {
  Request r;
  r.verb = verb;
  r.args = std::move(args);
  return encode_request(r);
}

std::string le(std::uint64_t v, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  return out;
}

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(loop_.init().ok());
    path_ = dir_.str() + "/run/keel/control.sock";
  }
  void open(ControlServer::Options options = {}, gid_t group = kNoGroup) {
    server_ = std::make_unique<ControlServer>(options);
    Status s = server_->open(loop_, path_.c_str(), group, handler_);
    ASSERT_TRUE(s.ok()) << s.error().context << ": " << s.error().message();
  }
  // Send `bytes` on a new client and run until the server closes it.
  std::pair<Code, std::string> ask(const std::string& bytes) {
    Client c(path_);
    EXPECT_TRUE(c.connected());
    c.send(bytes);
    EXPECT_TRUE(run_until(loop_, [&] { return c.poll(); }));
    return c.final_reply();
  }
  // Fork a client body (a different user, or a blocking one) and turn the
  // loop until it exits; its exit status.
  int in_child_with_loop(const std::function<int()>& body) {
    // The child holds a pipe's write end; its exit hangs the pipe up, which
    // wakes the loop (a loop turn blocks until some fd or timer is ready).
    int p[2];
    EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
    pid_t pid = testutil::fork_child([&] {
      ::close(p[0]);
      return body();
    });
    ::close(p[1]);
    struct Hangup final : FdHandler {
      void on_ready(std::uint32_t /*events*/) noexcept override { fired = true; }
      bool fired = false;
    } hangup;
    EXPECT_TRUE(loop_.add(p[0], EPOLLIN, hangup).ok());
    int status = -1;
    bool reaped = false;
    bool done = run_until(
        loop_, [&] { return reaped || (reaped = hangup.fired && ::waitpid(pid, &status, WNOHANG) == pid); }, 8000);
    loop_.remove(p[0], hangup);
    ::close(p[0]);
    if (!done) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  TempDir dir_{"keel-control-"};
  EventLoop loop_;
  FakeHandler handler_;
  std::string path_;
  std::unique_ptr<ControlServer> server_;  // declared last: closed before the loop goes
};

TEST_F(ControlServerTest, SocketIsRootOnlyInANewDirectory) {
  open();
  struct stat st {};
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600U);
  ASSERT_EQ(::stat((dir_.str() + "/run/keel").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755U);
  server_->close();
  EXPECT_NE(::access(path_.c_str(), F_OK), 0) << "close() removes the socket";
}

TEST_F(ControlServerTest, StaleSocketIsReplacedButAFileIsNot) {
  open();
  server_.reset();
  // A socket file left behind (as after a crash): bind to it, never listen.
  int stale = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(stale, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(stale);
  open();
  EXPECT_EQ(ask(request_frame(Verb::Status)).first, Code::Ok);
  server_.reset();

  testutil::write_file(path_, "not a socket");
  ControlServer other;
  Status s = other.open(loop_, path_.c_str(), kNoGroup, handler_);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, EEXIST);
  EXPECT_EQ(testutil::slurp(path_), "not a socket");
}

TEST_F(ControlServerTest, GoodRequestIsAnswered) {
  open();
  auto [code, body] = ask(request_frame(Verb::Start, {"web"}));
  EXPECT_EQ(code, Code::Ok);
  EXPECT_EQ(body, "answer to start web");
  ASSERT_EQ(handler_.requests.size(), 1U);
  EXPECT_EQ(handler_.requests[0].verb, Verb::Start);
  EXPECT_EQ(server_->active_connections(), 0);
}

TEST_F(ControlServerTest, RequestArrivingInPiecesIsAnswered) {
  open();
  Client c(path_);
  std::string frame = request_frame(Verb::Stop, {"db"});
  for (char ch : frame) {
    c.send(std::string(1, ch));
    Watchdog dog(1000);
    EXPECT_TRUE(loop_.run_once().ok());  // the byte is there: one turn takes it
  }
  ASSERT_TRUE(run_until(loop_, [&] { return c.poll(); }));
  EXPECT_EQ(c.final_reply(), std::make_pair(Code::Ok, std::string("answer to stop db")));
}

TEST_F(ControlServerTest, GarbageGetsAnErrorAndTheNextClientIsServed) {
  open();
  auto [code, body] = ask("hello keel, this is not a frame\n");
  EXPECT_EQ(code, Code::BadRequest);
  EXPECT_NE(body.find("bad magic"), std::string::npos) << body;
  EXPECT_TRUE(handler_.requests.empty());
  EXPECT_EQ(server_->bad_requests(), 1U);
  EXPECT_EQ(ask(request_frame(Verb::Status)).first, Code::Ok);
  EXPECT_EQ(handler_.requests.size(), 1U);
}

TEST_F(ControlServerTest, EachMalformationHasItsMessage) {
  open();
  const std::string magic = le(kMagic, 4);
  struct Case {
    std::string bytes;
    const char* expect;
  } cases[] = {
      {magic + le(9, 2) + le(1, 2) + le(0, 4), "unsupported protocol version 9"},
      {magic + le(1, 2) + le(1, 2) + le(limits::kControlMaxRequest + 1, 4), "too large"},
      {magic + le(1, 2) + le(0x55, 2) + le(0, 4), "unexpected frame type"},
      {encode_final(Code::Ok, "a reply is not a request"), "unexpected frame type"},
      {magic + le(1, 2) + le(1, 2) + le(16, 4) + le(99, 2) + std::string(14, '\0'), "unknown verb"},
      {magic + le(1, 2) + le(1, 2) + le(3, 4) + "abc", "truncated field"},
      {request_frame(Verb::Status).substr(0, 15), "truncated frame"},  // then the client shuts down
  };
  for (const Case& k : cases) {
    Client c(path_);
    c.send(k.bytes);
    if (std::strstr(k.expect, "truncated frame") != nullptr) ::shutdown(c.fd(), SHUT_WR);
    ASSERT_TRUE(run_until(loop_, [&] { return c.poll(); })) << k.expect;
    auto [code, body] = c.final_reply();
    EXPECT_EQ(code, Code::BadRequest) << k.expect;
    EXPECT_NE(body.find(k.expect), std::string::npos) << "want '" << k.expect << "', got '" << body << "'";
  }
  EXPECT_TRUE(handler_.requests.empty());
  EXPECT_EQ(server_->active_connections(), 0);
  EXPECT_EQ(ask(request_frame(Verb::Reload)).first, Code::Ok);
}

TEST_F(ControlServerTest, StalledPartialFrameIsClosedAfterTheTimeout) {
  ControlServer::Options options;
  options.stall_timeout_ns = 100 * kMs;
  open(options);
  Client c(path_);
  c.send(request_frame(Verb::Status).substr(0, 7));
  ASSERT_TRUE(run_until(loop_, [&] { return server_->active_connections() == 1; }));
  ASSERT_TRUE(run_until(loop_, [&] { return c.poll(); }));
  auto [code, body] = c.final_reply();
  EXPECT_EQ(code, Code::BadRequest);
  EXPECT_NE(body.find("timed out"), std::string::npos) << body;
  EXPECT_EQ(server_->active_connections(), 0);
}

TEST_F(ControlServerTest, SilentClientIsClosedAfterTheTimeoutToo) {
  ControlServer::Options options;
  options.stall_timeout_ns = 50 * kMs;
  open(options);
  Client c(path_);
  ASSERT_TRUE(run_until(loop_, [&] { return c.poll(); }));
  EXPECT_EQ(server_->active_connections(), 0);
}

TEST_F(ControlServerTest, TooManyConnectionsAreTurnedAway) {
  ControlServer::Options options;
  options.max_connections = 2;
  open(options);
  Client a(path_);
  Client b(path_);
  ASSERT_TRUE(run_until(loop_, [&] { return server_->active_connections() == 2; }));
  Client extra(path_);
  ASSERT_TRUE(run_until(loop_, [&] { return extra.poll(); }));
  auto [code, body] = extra.final_reply();
  EXPECT_EQ(code, Code::Failed);
  EXPECT_NE(body.find("too many connections"), std::string::npos) << body;
  EXPECT_EQ(server_->overflow_connections(), 1U);
  // A slot freed is a slot for the next client.
  a.close();
  ASSERT_TRUE(run_until(loop_, [&] { return server_->active_connections() == 1; }));
  EXPECT_EQ(ask(request_frame(Verb::Status)).first, Code::Ok);
}

TEST_F(ControlServerTest, DeferredReplyStreamsThenFinishes) {
  open();
  handler_.defer = true;
  Client c(path_);
  Request r;
  r.verb = Verb::Log;
  r.flags = kFlagFollow;
  r.args = {"web"};
  c.send(encode_request(r));
  ASSERT_TRUE(run_until(loop_, [&] { return handler_.kept != nullptr; }));
  EXPECT_EQ(handler_.requests[0].flags, static_cast<std::uint32_t>(kFlagFollow));
  handler_.kept->send("line 1\n");
  handler_.kept->send("line 2\n");
  ASSERT_TRUE(run_until(loop_, [&] {
    c.poll();
    return c.frames().size() == 2;
  }));
  handler_.kept->finish(Code::Timeout, "gave up");
  handler_.kept = nullptr;
  ASSERT_TRUE(run_until(loop_, [&] { return c.poll(); }));
  std::vector<Frame> frames = c.frames();
  ASSERT_EQ(frames.size(), 3U);
  EXPECT_EQ(frames[0].type, FrameType::Data);
  EXPECT_EQ(frames[0].payload, "line 1\n");
  EXPECT_EQ(frames[1].payload, "line 2\n");
  EXPECT_EQ(c.final_reply(), std::make_pair(Code::Timeout, std::string("gave up")));
  EXPECT_EQ(handler_.closed, 0) << "a finished session is not 'closed' by the client";
}

TEST_F(ControlServerTest, ClientHangUpCallsSessionClosed) {
  open();
  handler_.defer = true;
  Client c(path_);
  c.send(request_frame(Verb::Wait, {"web"}));
  ASSERT_TRUE(run_until(loop_, [&] { return handler_.kept != nullptr; }));
  Session* session = handler_.kept;
  c.close();
  ASSERT_TRUE(run_until(loop_, [&] { return handler_.closed == 1; }));
  EXPECT_EQ(handler_.kept, nullptr);
  EXPECT_EQ(server_->active_connections(), 0);
  (void)session;
}

TEST_F(ControlServerTest, AClientThatDoesNotReadLosesChunksNotKeel) {
  ControlServer::Options options;
  options.out_buffer = 64 * 1024;
  open(options);
  handler_.defer = true;
  Client c(path_);
  c.send(request_frame(Verb::Log, {"web"}));
  ASSERT_TRUE(run_until(loop_, [&] { return handler_.kept != nullptr; }));
  const std::string chunk(limits::kControlMaxChunk, 'x');
  for (int i = 0; i < 400; ++i) handler_.kept->send(chunk);  // 6.4 MiB: more than any socket buffer
  EXPECT_GT(server_->dropped_chunks(), 0U);
  handler_.kept->finish(Code::Ok, "end");
  ASSERT_TRUE(run_until(loop_, [&] { return c.poll(); }));
  EXPECT_EQ(c.final_reply(), std::make_pair(Code::Ok, std::string("end")));
  std::size_t data = 0;
  for (const Frame& f : c.frames()) data += f.type == FrameType::Data ? 1 : 0;
  EXPECT_EQ(data + server_->dropped_chunks(), 400U);
}

TEST_F(ControlServerTest, CloseForgetsKeptSessions) {
  open();
  handler_.defer = true;
  Client c(path_);
  c.send(request_frame(Verb::Log, {"web"}));
  ASSERT_TRUE(run_until(loop_, [&] { return handler_.kept != nullptr; }));
  server_->close();
  EXPECT_EQ(handler_.closed, 1);
  EXPECT_TRUE(c.poll());
  server_->close();  // twice is fine
}

TEST_F(ControlServerTest, NonRootIsRefusedBySocketMode) {
  open();
  ASSERT_EQ(::chmod(dir_.str().c_str(), 0755), 0);  // the socket's own mode is what refuses
  int rc = in_child_with_loop([&] {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) return 90;
    Client c(path_);
    return c.connected() ? 91 : (errno == EACCES ? 0 : 92);
  });
  EXPECT_EQ(rc, 0);
}

TEST_F(ControlServerTest, NonRootIsRefusedByPeerCredentials) {
  open();
  ASSERT_EQ(::chmod(path_.c_str(), 0666), 0);  // only SO_PEERCRED stands in the way now
  ASSERT_EQ(::chmod(dir_.str().c_str(), 0755), 0);  // (and not mkdtemp's 0700 directory)
  int rc = in_child_with_loop([&] {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) return 90;
    Client c(path_);
    if (!c.connected()) return 91;
    int flags = ::fcntl(c.fd(), F_GETFL);
    ::fcntl(c.fd(), F_SETFL, flags & ~O_NONBLOCK);
    std::string req = request_frame(Verb::Poweroff);
    (void)::send(c.fd(), req.data(), req.size(), MSG_NOSIGNAL);
    while (!c.poll()) {
    }
    auto [code, body] = c.final_reply();
    if (body != "permission denied: keelctl needs root") return 92;
    return static_cast<int>(code);
  });
  EXPECT_EQ(rc, static_cast<int>(Code::Denied));
  EXPECT_TRUE(handler_.requests.empty());
  EXPECT_EQ(server_->refused_peers(), 1U);
  EXPECT_EQ(ask(request_frame(Verb::Status)).first, Code::Ok) << "root is still served";
}

TEST_F(ControlServerTest, AllowedGroupMayConnect) {
  const gid_t group = 54321;
  open({}, group);
  struct stat st {};
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660U);
  EXPECT_EQ(st.st_gid, group);
  ASSERT_EQ(::chmod(dir_.str().c_str(), 0755), 0);  // mkdtemp's 0700 would stop the user first
  // Member by primary gid, then by a supplementary group only.
  for (bool supplementary : {false, true}) {
    int rc = in_child_with_loop([&] {
      gid_t groups[] = {group};
      if (supplementary) {
        if (::setgroups(1, groups) != 0 || ::setresgid(65534, 65534, 65534) != 0) return 89;
      } else if (::setgroups(0, nullptr) != 0 || ::setresgid(group, group, group) != 0) {
        return 90;
      }
      if (::setresuid(65534, 65534, 65534) != 0) return 90;
      std::string arg0 = "keelctl";
      std::string a1 = "--socket=" + path_;
      std::string a2 = "status";
      char* argv[] = {arg0.data(), a1.data(), a2.data(), nullptr};
      int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 1);
      return run_keelctl(3, argv);
    });
    EXPECT_EQ(rc, 0) << (supplementary ? "supplementary" : "primary");
  }
  EXPECT_EQ(handler_.requests.size(), 2U);
  // Anyone else is refused, with the group named.
  ASSERT_EQ(::chmod(path_.c_str(), 0666), 0);
  int rc = in_child_with_loop([&] {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0) {
      return 90;
    }
    Client c(path_);
    int flags = ::fcntl(c.fd(), F_GETFL);
    ::fcntl(c.fd(), F_SETFL, flags & ~O_NONBLOCK);
    while (!c.poll()) {
    }
    return c.final_reply().second == "permission denied: keelctl needs root (or group 54321)" ? 0 : 91;
  });
  EXPECT_EQ(rc, 0);
}

TEST(ControlPeer, AllowedRules) {
  const char* status = "Name:\tx\nUid:\t1000\t1000\t1000\t1000\nGroups:\t4 24 100 54321 \nNSpid:\t7\n";
  EXPECT_TRUE(peer_allowed(0, 0, kNoGroup, ""));
  EXPECT_FALSE(peer_allowed(1000, 1000, kNoGroup, status));
  EXPECT_TRUE(peer_allowed(1000, 54321, 54321, ""));
  EXPECT_TRUE(peer_allowed(1000, 1000, 54321, status));
  EXPECT_TRUE(peer_allowed(1000, 1000, 24, status));
  EXPECT_FALSE(peer_allowed(1000, 1000, 5432, status)) << "a prefix of a group is not the group";
  EXPECT_FALSE(peer_allowed(1000, 1000, 7, status)) << "only the Groups: line counts";
  EXPECT_FALSE(peer_allowed(1000, 1000, 24, "Groups:\n"));
  EXPECT_FALSE(peer_allowed(1000, 1000, 24, ""));
  EXPECT_FALSE(peer_allowed(1000, 1000, 24, nullptr));
}

TEST_F(ControlServerTest, KeelctlEndToEnd) {
  open();
  auto keelctl = [&](std::vector<std::string> args) {
    return in_child_with_loop([&] {
      std::vector<std::string> all = {"keelctl", "--socket", path_};
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (std::string& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 1);
      ::dup2(null, 2);
      return run_keelctl(static_cast<int>(all.size()), argv.data());
    });
  };
  EXPECT_EQ(keelctl({"status", "--json"}), 0);
  ASSERT_EQ(handler_.requests.size(), 1U);
  EXPECT_EQ(handler_.requests[0].flags, static_cast<std::uint32_t>(kFlagJson));
  EXPECT_EQ(keelctl({"bogus"}), kUsageExit);
  EXPECT_EQ(handler_.requests.size(), 1U) << "a usage error sends nothing";
  handler_.code = Code::NoService;
  EXPECT_EQ(keelctl({"restart", "ghost"}), static_cast<int>(Code::NoService)) << "the reply's code is the exit status";
  handler_.code = Code::Ok;
  // Not root: the socket's mode refuses the connect, keelctl says so (4).
  ASSERT_EQ(::chmod(dir_.str().c_str(), 0755), 0);
  int denied = in_child_with_loop([&] {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) return 90;
    std::string a0 = "keelctl", a1 = "--socket=" + path_, a2 = "halt";
    char* argv[] = {a0.data(), a1.data(), a2.data(), nullptr};
    ::dup2(::open("/dev/null", O_WRONLY), 2);
    return run_keelctl(3, argv);
  });
  EXPECT_EQ(denied, static_cast<int>(Code::Denied));
  EXPECT_EQ(handler_.requests.size(), 2U);
  // Not running: nothing at the path.
  std::string missing = dir_.str() + "/nothing.sock";
  int rc = in_child_with_loop([&] {
    std::string a0 = "keelctl", a1 = "--socket", a2 = missing, a3 = "reload";
    char* argv[] = {a0.data(), a1.data(), a2.data(), a3.data(), nullptr};
    ::dup2(::open("/dev/null", O_WRONLY), 2);
    return run_keelctl(4, argv);
  });
  EXPECT_EQ(rc, static_cast<int>(Code::Failed));
}

TEST_F(ControlServerTest, KeelctlLogFollowPrintsStreamedChunks) {
  open();
  handler_.defer = true;
  handler_.status_now = true;
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  // The handler streams once the request is in, then ends the stream.
  struct Streamer final : TimerHandler {
    explicit Streamer(FakeHandler& h) : handler(h) {}
    void on_timer() noexcept override {
      if (handler.kept == nullptr) return;
      handler.kept->send("first line\n");
      handler.kept->send("second line\n");
      handler.kept->finish(Code::Ok, "");
      handler.kept = nullptr;
    }
    FakeHandler& handler;
  } streamer(handler_);
  Timer timer(loop_, streamer);
  struct Poke final : TimerHandler {
    void on_timer() noexcept override { (*check)(); }
    std::function<void()>* check = nullptr;
  } poke;
  Timer poll_timer(loop_, poke);
  std::function<void()> check = [&] {
    if (handler_.kept != nullptr) {
      timer.arm_after(0);
    } else {
      poll_timer.arm_after(5 * kMs);
    }
  };
  poke.check = &check;
  poll_timer.arm_after(5 * kMs);
  int rc = in_child_with_loop([&] {
    ::dup2(out[1], 1);
    ::close(out[0]);
    std::string a0 = "keelctl", a1 = "--socket=" + path_, a2 = "log", a3 = "web", a4 = "-f", a5 = "-n", a6 = "5";
    char* argv[] = {a0.data(), a1.data(), a2.data(), a3.data(), a4.data(), a5.data(), a6.data(), nullptr};
    return run_keelctl(7, argv);
  });
  poll_timer.disarm();
  ::close(out[1]);
  char buf[256] = {};
  ssize_t n = ::read(out[0], buf, sizeof buf - 1);
  ::close(out[0]);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0), "first line\nsecond line\n");
  // The status (is there a log file?), then the log itself: a service
  // without a file and no filter is one plain exchange.
  ASSERT_EQ(handler_.requests.size(), 2U);
  EXPECT_EQ(handler_.requests[0].verb, Verb::Status);
  EXPECT_EQ(handler_.requests[1].verb, Verb::Log);
  EXPECT_EQ(handler_.requests[1].lines, 5U);
  EXPECT_EQ(handler_.requests[1].flags, static_cast<std::uint32_t>(kFlagFollow));
}


// ------------------------------------------- reply size and root's reserve (issue 9)

namespace fds {

// A timer that fires every 10 ms, so run_until re-checks conditions that no
// fd of the loop reports (a child's exit).
struct Ticker final : TimerHandler {
  explicit Ticker(EventLoop& l) : timer(l, *this) { timer.arm_after(10 * kMs); }
  void on_timer() noexcept override { timer.arm_after(10 * kMs); }
  Timer timer;
};

// A blocking client as another user in group `group`: sends `frame`, reads
// until keel closes, exits 0 if the Final's body contains `expect`, 1 if
// another body came, 2 if none.
pid_t other_user_client(const std::string& path, gid_t group, const std::string& frame, const std::string& expect) {
  const uid_t uid = keel::testing::throwaway_uid();
  if (group == kNoGroup) group = uid;
  return testutil::fork_child([=] {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(group, group, group) != 0 || ::setresuid(uid, uid, uid) != 0) {
      return 90;
    }
    Client c(path);
    if (!c.connected()) return 91;
    int flags = ::fcntl(c.fd(), F_GETFL);
    ::fcntl(c.fd(), F_SETFL, flags & ~O_NONBLOCK);
    (void)::send(c.fd(), frame.data(), frame.size(), MSG_NOSIGNAL);
    while (!c.poll()) {
    }
    auto [code, body] = c.final_reply();
    if (body == "<no final>") return 2;
    return body.find(expect) != std::string::npos ? 0 : 1;
  });
}

int wait_exit(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace fds

// `status --json` of 10,000 services is ~2.7 MiB: once cut at 1 MiB into
// invalid JSON with code Ok. Now the whole body arrives, in chunks.
TEST_F(ControlServerTest, ReplyLargerThanAFrameArrivesWholeInChunks) {
  struct BigHandler final : ControlHandler {
    void handle(const Request& /*request*/, Session& session) noexcept override { session.finish(Code::Ok, body); }
    void session_closed(Session& /*session*/) noexcept override {}
    std::string body;
  } big;
  for (int i = 0; i < 3 * 1024 * 1024 / 64; ++i) {
    char line[80];
    std::snprintf(line, sizeof line, "line %07d of a reply larger than one frame.................\n", i);
    big.body += line;
  }
  ASSERT_GT(big.body.size(), 2 * limits::kControlMaxReply);
  server_ = std::make_unique<ControlServer>();
  ASSERT_TRUE(server_->open(loop_, path_.c_str(), kNoGroup, big).ok());
  Client c(path_);
  c.send(request_frame(Verb::Status));
  ASSERT_TRUE(run_until(loop_, [&] { return c.poll(); }));
  std::string got;
  std::size_t data_frames = 0;
  for (const Frame& f : c.frames()) {
    if (f.type != FrameType::Data) continue;
    ++data_frames;
    EXPECT_LE(f.payload.size(), limits::kControlMaxChunk);
    got += f.payload;
  }
  auto [code, rest] = c.final_reply();
  EXPECT_EQ(code, Code::Ok);
  got += rest;
  EXPECT_GT(data_frames, 0U);
  EXPECT_TRUE(got == big.body) << "got " << got.size() << " bytes of " << big.body.size();
  EXPECT_EQ(server_->dropped_chunks(), 0U);

  // Through keelctl: stdout is the whole body, exit 0.
  std::string out = dir_.str() + "/out";
  int rc = in_child_with_loop([&] {
    std::string a0 = "keelctl", a1 = "--socket=" + path_, a2 = "status";
    char* argv[] = {a0.data(), a1.data(), a2.data(), nullptr};
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ::dup2(fd, 1);
    return run_keelctl(3, argv);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(testutil::slurp(out) == big.body);
}

TEST_F(ControlServerTest, RootTakesTheSlotOfTheNewestNonRootClientWhenAllAreFull) {
  const gid_t group = keel::testing::throwaway_uid();
  ControlServer::Options options;
  options.max_connections = 2;
  open(options, group);
  ASSERT_EQ(::chmod(dir_.str().c_str(), 0755), 0);
  handler_.defer = true;  // each user's `wait` holds its slot
  fds::Ticker ticker(loop_);
  const std::string wait = request_frame(Verb::Wait, {"web"});
  pid_t older = fds::other_user_client(path_, group, wait, "root client took");
  ASSERT_TRUE(run_until(loop_, [&] { return handler_.requests.size() == 1; }, 5000));
  pid_t newer = fds::other_user_client(path_, group, wait, "root client took");
  ASSERT_TRUE(run_until(loop_, [&] { return handler_.requests.size() == 2; }, 5000));
  EXPECT_EQ(server_->active_connections(), 2);

  handler_.defer = false;
  Client root(path_);
  root.send(request_frame(Verb::Status));
  ASSERT_TRUE(run_until(loop_, [&] { return root.poll(); }));
  EXPECT_EQ(root.final_reply(), std::make_pair(Code::Ok, std::string("answer to status")));
  EXPECT_EQ(server_->evicted_connections(), 1U);
  EXPECT_EQ(handler_.closed, 1) << "the evicted client's kept session is closed";
  EXPECT_EQ(fds::wait_exit(newer), 0) << "the newest user client is told why it was closed";

  server_->close();  // the older client's session ends without a reply
  EXPECT_EQ(fds::wait_exit(older), 2);
}

// keel out of fds: root is served with the reserve, anyone else told why,
// and the reserve comes back for the next time.
TEST_F(ControlServerTest, RootIsServedWhenKeelIsOutOfFileDescriptors) {
  open();
  ASSERT_TRUE(server_->has_spare_fd());
  // One request served before the table is full. Under UBSan (the check
  // build) this matters: its vptr check of a dynamic type it has not seen
  // yet probes memory through a pipe, which a full fd table refuses, and it
  // then reports a live server as an invalid object.
  {
    Client warm(path_);
    warm.send(request_frame(Verb::Status));
    ASSERT_TRUE(run_until(
        loop_,
        [&] {
          warm.poll();
          return warm.final_reply().first == Code::Ok;
        },
        5000));
    handler_.requests.clear();
  }
  ASSERT_EQ(::chmod(path_.c_str(), 0666), 0);
  ASSERT_EQ(::chmod(dir_.str().c_str(), 0755), 0);
  fds::Ticker ticker(loop_);
  Client root(path_);
  root.send(request_frame(Verb::Status));
  pid_t user = fds::other_user_client(path_, kNoGroup, request_frame(Verb::Status), "out of file descriptors");

  // Fill this process's fd table (under a lowered soft limit, restored after).
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  rlimit low = old;
  low.rlim_cur = 256;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> fillers;
  for (;;) {
    int fd = ::dup(0);
    if (fd < 0) break;
    fillers.push_back(fd);
  }
  ASSERT_EQ(errno, EMFILE);

  int user_rc = -1;
  bool ok = run_until(
      loop_,
      [&] {
        root.poll();
        int status = 0;
        if (user_rc < 0 && ::waitpid(user, &status, WNOHANG) == user) user_rc = WIFEXITED(status) ? WEXITSTATUS(status) : 99;
        return user_rc >= 0 && root.final_reply().first == Code::Ok;
      },
      5000);
  const bool spare = server_->has_spare_fd();
  for (int fd : fillers) ::close(fd);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  ASSERT_TRUE(ok) << "root: " << root.final_reply().second << "; user exit " << user_rc;
  EXPECT_EQ(root.final_reply(), std::make_pair(Code::Ok, std::string("answer to status")));
  EXPECT_EQ(user_rc, 0) << "the user is told keel is out of file descriptors";
  EXPECT_EQ(server_->fd_exhausted_accepts(), 2U);
  EXPECT_TRUE(spare) << "the reserve is taken back while the table is still full";
  ASSERT_EQ(handler_.requests.size(), 1U);
}

}  // namespace
}  // namespace keel::control
