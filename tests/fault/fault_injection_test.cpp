// fault_injection_test.cpp — PID 1's paths under allocation failure.
//
// This executable replaces operator new: once armed with N, the Nth
// allocation throws std::bad_alloc (the nothrow forms return null), and
// every other one succeeds. Each scenario runs a real Supervisor on a real
// EventLoop, with real tiny services in a scratch directory and requests
// over the real control socket, and is repeated for N = 1, 1+stride, ...
// until a run makes fewer than N allocations. After every run, with
// allocation working again, the state must be whole: the graph matches the
// units, a service still starts and answers, and the shutdown completes.
// Run under ASan by `./dev.sh check` (label unit), which also catches any
// use-after-free or leak a failure path leaves.
//
// Its own executable because replacing operator new affects the whole
// binary.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "control/protocol.hpp"
#include "core/event_loop.hpp"
#include "core/log.hpp"
#include "core/oom.hpp"
#include "core/reaper.hpp"
#include "core/signal_source.hpp"
#include "service/supervisor.hpp"

// ---------------------------------------------------------------- the allocator

namespace {

long g_countdown = 0;  // > 0: armed; the allocation that brings it to 0 fails
long g_seen = 0;       // allocations while armed
bool g_fired = false;

bool inject() noexcept {
  if (g_countdown <= 0) return false;
  ++g_seen;
  if (--g_countdown == 0) {
    g_fired = true;
    return true;
  }
  return false;
}

void* allocate(std::size_t n) {
  if (inject()) throw std::bad_alloc();
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void* allocate_aligned(std::size_t n, std::align_val_t al) {
  if (inject()) throw std::bad_alloc();
  std::size_t a = static_cast<std::size_t>(al);
  void* p = std::aligned_alloc(a, (n + a - 1) / a * a);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(std::size_t n) { return allocate(n); }
void* operator new[](std::size_t n) { return allocate(n); }
void* operator new(std::size_t n, std::align_val_t al) { return allocate_aligned(n, al); }
void* operator new[](std::size_t n, std::align_val_t al) { return allocate_aligned(n, al); }
void* operator new(std::size_t n, const std::nothrow_t& /*unused*/) noexcept {
  try {
    return allocate(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t& /*unused*/) noexcept {
  try {
    return allocate(n);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t /*unused*/) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t /*unused*/) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t /*unused*/) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t /*unused*/) noexcept { std::free(p); }
void operator delete(void* p, std::size_t /*unused*/, std::align_val_t /*unused*/) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t /*unused*/, std::align_val_t /*unused*/) noexcept { std::free(p); }

namespace keel::service {
namespace {

namespace fs = std::filesystem;

// The test's own client code runs with injection paused: only keel's
// allocations are failed.
struct Paused {
  Paused() : saved(g_countdown) { g_countdown = 0; }
  ~Paused() { g_countdown = saved; }
  Paused(const Paused&) = delete;
  Paused& operator=(const Paused&) = delete;
  long saved;
};

struct Armed {
  explicit Armed(long n) {
    g_seen = 0;
    g_fired = false;
    g_countdown = n;
  }
  ~Armed() { g_countdown = 0; }
  Armed(const Armed&) = delete;
  Armed& operator=(const Armed&) = delete;
};

class Hooks final : public SupervisorHooks {
 public:
  void request_power(ExitAction /*action*/, int /*exit_code*/) noexcept override {}
  void all_stopped() noexcept override { stopped = true; }
  void start_settled(const StartSummary& /*summary*/) noexcept override { settled = true; }
  bool stopped = false;
  bool settled = false;
};

// SIGCHLD -> reap -> the supervisor, as the system role does.
class Reaping final : public SignalHandler, public ExitHandler {
 public:
  void on_signal(const signalfd_siginfo& info) noexcept override {
    if (info.ssi_signo != SIGCHLD || sup == nullptr) return;
    (void)reap_all(*this);
    sup->after_reap();
  }
  void on_child_exit(pid_t pid, int status) noexcept override {
    if (sup != nullptr) sup->on_child_exit(pid, status);
  }
  Supervisor* sup = nullptr;
};

// A tick so that run_once never blocks for long, whatever keel waits for.
class Tick final : public TimerHandler {
 public:
  explicit Tick(EventLoop& loop) : timer(loop, *this) {}
  void on_timer() noexcept override {}
  Timer timer;
};

constexpr std::int64_t kMs = 1'000'000;

class World {
 public:
  World() {
    // KEEL_FAULT_DEBUG=1: keel's every message, to see what a failing run did.
    if (std::getenv("KEEL_FAULT_DEBUG") != nullptr) log::set_verbosity(static_cast<int>(log::Level::Debug));
    char templ[] = "/tmp/keel-fault-XXXXXX";
    dir_ = ::mkdtemp(templ);
    fs::create_directories(dir_ + "/services");
    service("sleeper", "stop_timeout = 1\ncommand = [\"/bin/sleep\", \"60\"]\n");
    service("once", "type = \"oneshot\"\nrequires = [\"sleeper\"]\ncommand = [\"/bin/true\"]\n");
    service("chatty", "stop_timeout = 1\nafter = [\"sleeper\"]\nstdout = \"log\"\ncommand = [\"/bin/sh\", \"-c\", \"echo hello; exec sleep 60\"]\n");
    // Not started at boot: never ready, for a `wait` that times out.
    service("slow", "type = \"notify\"\nstart_timeout = 0\nstop_timeout = 1\ncommand = [\"/bin/sleep\", \"60\"]\n");
    service("default", "type = \"target\"\nrequires = [\"sleeper\", \"once\", \"chatty\"]\n");
    EXPECT_TRUE(loop_.init().ok());
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    EXPECT_TRUE(signals_.init(loop_, set, reaping_).ok());
    SupervisorSettings s;
    s.config_dir = dir_;
    s.services_dir = dir_ + "/services";
    s.run_dir = dir_ + "/run";
    s.control_socket = dir_ + "/run/control.sock";
    s.console_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    null_fd_ = s.console_fd;
    sup_ = std::make_unique<Supervisor>(loop_, hooks_, std::move(s));
    reaping_.sup = sup_.get();
  }

  ~World() {
    // Whatever a failed run left: no service survives the test.
    if (sup_ && !hooks_.stopped) {
      sup_->stop_all();
      turn_until([&] { return hooks_.stopped; }, 10'000);
    }
    reaping_.sup = nullptr;
    sup_.reset();
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    ::close(null_fd_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  void service(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ + "/services/" + name + ".toml") << text;
  }
  void remove_service(const std::string& name) const { fs::remove(dir_ + "/services/" + name + ".toml"); }

  template <typename Pred>
  bool turn_until(Pred done, int timeout_ms) {
    std::int64_t deadline = monotonic_ns() + static_cast<std::int64_t>(timeout_ms) * kMs;
    while (!done()) {
      if (monotonic_ns() > deadline) return false;
      tick_.timer.arm_after(20 * kMs);
      if (!loop_.run_once().ok()) return false;
    }
    tick_.timer.disarm();
    return true;
  }

  // One request over the control socket; the reply's code (or -1: no reply,
  // the connection closed without one). `keep_open_ms`: for log -f, hang up
  // after that long.
  int request(const control::Request& r, std::string* body = nullptr, int keep_open_ms = -1) {
    std::string frame = control::encode_request(r);  // before arming, by the callers
    return send_frame(frame, body, keep_open_ms);
  }

  int send_frame(const std::string& frame, std::string* body, int keep_open_ms) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    {
      Paused p;
      std::string path = dir_ + "/run/control.sock";
      std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    }
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return -2;
    }
    ssize_t w = ::write(fd, frame.data(), frame.size());
    (void)w;
    char in[65536];
    std::size_t got = 0;
    bool eof = false;
    std::int64_t hang_up_at = keep_open_ms >= 0 ? monotonic_ns() + keep_open_ms * kMs : -1;
    turn_until(
        [&] {
          for (;;) {
            ssize_t n = ::read(fd, in + got, sizeof in - got);
            if (n > 0) {
              got += static_cast<std::size_t>(n);
              if (got == sizeof in) got = 0;  // keep reading; only the end matters
              continue;
            }
            if (n == 0) eof = true;
            break;
          }
          return eof || (hang_up_at >= 0 && monotonic_ns() > hang_up_at);
        },
        5000);
    ::close(fd);
    if (keep_open_ms >= 0) {
      turn_until([] { return false; }, 30);  // the server sees the hang-up
      return 0;
    }
    if (!eof) return -1;
    Paused p;
    // The last frame is the Final: header then the code byte.
    control::FrameDecoder dec(1 << 20);
    std::string_view rest(in, got);
    int code = -1;
    while (!rest.empty()) {
      if (dec.feed(rest) != control::FrameDecoder::Result::Frame) break;
      if (dec.type() == control::FrameType::Final && !dec.payload().empty()) {
        code = static_cast<unsigned char>(dec.payload()[0]);
        if (body != nullptr) body->assign(dec.payload().substr(1));
      }
    }
    return code;
  }

  Supervisor& sup() { return *sup_; }
  Hooks& hooks() { return hooks_; }

  // Start and wait until the start set settled.
  void start() {
    sup_->start();
    turn_until([&] { return hooks_.settled; }, 10'000);
  }

  // The state after a run, with allocation working again.
  void expect_whole(const char* phase, long n) {
    SCOPED_TRACE(std::string(phase) + ", allocation " + std::to_string(n) + " failed");
    ASSERT_TRUE(sup_->graph_matches_units());
    if (hooks_.stopped) return;  // the shutdown phase ran to its end
    // Still supervisable: a reload applies, a service starts, status answers.
    sup_->reload();
    ASSERT_TRUE(sup_->graph_matches_units());
    control::Request start;
    start.verb = control::Verb::Start;
    start.args = {"sleeper"};
    EXPECT_EQ(request(start), 0);
    control::Request wait;
    wait.verb = control::Verb::Wait;
    wait.args = {"sleeper"};
    wait.timeout_ms = 5000;
    EXPECT_EQ(request(wait), 0);
    control::Request status;
    std::string text;
    EXPECT_EQ(request(status, &text), 0);
    EXPECT_NE(text.find("sleeper"), std::string::npos);
    // And the shutdown completes.
    sup_->stop_all();
    EXPECT_TRUE(turn_until([&] { return hooks_.stopped; }, 10'000)) << "shutdown did not complete";
  }

 private:
  std::string dir_;
  int null_fd_ = -1;
  EventLoop loop_;
  Hooks hooks_;
  Reaping reaping_;
  SignalSource signals_;
  Tick tick_{loop_};
  std::unique_ptr<Supervisor> sup_;
};

// The sweep: run `phase` with allocation n failing, for n = 1, 1+stride...,
// until a run does not reach its nth allocation. Returns how many runs saw
// their injected failure.
template <typename Setup, typename Phase>
int sweep(const char* name, long stride, Setup setup, Phase phase) {
  int failures = 0;
  for (long n = 1;; n += stride) {
    World w;
    setup(w);
    bool fired = false;
    {
      Armed armed(n);
      try {
        phase(w);
      } catch (const std::bad_alloc&) {
        // Only from the calls documented "may throw std::bad_alloc only"
        // (start, reload): the system role counts them so.
        oom::dropped("test: start-up or reload");
      }
      fired = g_fired;
    }
    w.expect_whole(name, n);
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << name << ": broken after allocation " << n << " failed";
      return failures;
    }
    if (!fired) break;
    ++failures;
  }
  return failures;
}

// The number of allocations a phase makes, to pick a stride that keeps each
// sweep to about `runs` runs.
template <typename Setup, typename Phase>
long stride_for(Setup setup, Phase phase, long runs) {
  World w;
  setup(w);
  {
    Armed armed(1L << 40);  // counts, never fails
    phase(w);
  }
  long total = g_seen;
  return total / runs + 1;
}

// Runs per phase, evenly spread over its allocations (a stride of 1 when a
// phase makes fewer): about 0.3 s each, so the whole file stays near 60 s
// under ASan on the 2-core CI machine.
constexpr long kRuns = 25;

void no_setup(World& /*w*/) {}

TEST(FaultInjection, StartUp) {
  auto phase = [](World& w) { w.start(); };
  long stride = stride_for(no_setup, phase, kRuns);
  EXPECT_GT(sweep("start-up", stride, no_setup, phase), 0);
}

TEST(FaultInjection, Reload) {
  auto setup = [](World& w) {
    w.start();
    // Added, changed, removed.
    w.service("fresh", "stop_timeout = 1\nrequires = [\"sleeper\"]\ncommand = [\"/bin/sleep\", \"60\"]\n");
    w.service("chatty", "stop_timeout = 1\nstdout = \"log\"\ncommand = [\"/bin/sh\", \"-c\", \"echo changed; exec sleep 60\"]\n");
    w.service("default", "type = \"target\"\nrequires = [\"sleeper\", \"chatty\"]\n");
    w.remove_service("once");
  };
  auto phase = [](World& w) {
    w.sup().reload();
    w.turn_until([] { return false; }, 50);  // the removed unit stops and is forgotten
  };
  long stride = stride_for(setup, phase, kRuns);
  EXPECT_GT(sweep("reload", stride, setup, phase), 0);
}

TEST(FaultInjection, ControlRequests) {
  struct Frames {
    std::vector<std::string> frames;
  };
  auto make = [] {
    auto req = [](control::Verb v, std::vector<std::string> args, std::uint32_t flags = 0, std::uint32_t t = 0) {
      control::Request r;
      r.verb = v;
      r.args = std::move(args);
      r.flags = flags;
      r.timeout_ms = t;
      r.lines = 10;
      return control::encode_request(r);
    };
    Frames f;
    f.frames = {req(control::Verb::Status, {}),
                req(control::Verb::Status, {}, control::kFlagJson),
                req(control::Verb::Status, {"chatty"}),
                req(control::Verb::Stop, {"once"}),
                req(control::Verb::Start, {"once"}),
                req(control::Verb::Log, {"chatty"}),
                req(control::Verb::Wait, {"nonesuch"}),
                req(control::Verb::Wait, {"chatty"}, 0, 5000),
                req(control::Verb::Start, {"slow"}),
                // A wait that times out: the Waiter's timer answers.
                req(control::Verb::Wait, {"slow"}, 0, 30),
                req(control::Verb::Stop, {"slow"})};
    return f;
  };
  static Frames frames;
  frames = make();
  static std::string follow;
  {
    control::Request r;
    r.verb = control::Verb::Log;
    r.args = {"chatty"};
    r.flags = control::kFlagFollow;
    follow = control::encode_request(r);
  }
  auto setup = [](World& w) { w.start(); };
  auto phase = [](World& w) {
    for (const std::string& f : frames.frames) w.send_frame(f, nullptr, -1);
    w.send_frame(follow, nullptr, 60);  // log -f, then the client hangs up
  };
  long stride = stride_for(setup, phase, kRuns);
  std::uint64_t before = oom::count();
  EXPECT_GT(sweep("keelctl requests", stride, setup, phase), 0);
  EXPECT_GT(oom::count(), before) << "no allocation failure was counted";
}

// The shutdown allocates nothing at all (so nothing can fail there): the
// first allocation is armed to fail, and none is made.
TEST(FaultInjection, ShutdownDoesNotAllocate) {
  World w;
  w.start();
  {
    Armed armed(1);
    w.sup().stop_all();
    w.turn_until([&] { return w.hooks().stopped; }, 10'000);
    EXPECT_EQ(g_seen, 0) << "the shutdown allocated";
    EXPECT_FALSE(g_fired);
  }
  EXPECT_TRUE(w.hooks().stopped) << "shutdown did not complete";
}

}  // namespace
}  // namespace keel::service
