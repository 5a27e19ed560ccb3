// keel's event stream (docs/events.md), driven from outside: the real keel
// in the system role, as PID 1 of a fresh PID namespace and as a plain
// subreaper, followed with `keelctl events --json` (the same binary) and
// replayed with `--since-boot --no-follow`. Each test asserts the order of
// the events and their seq numbers, never a time.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "supervised.hpp"

namespace keel::systest {
namespace {

namespace fs = std::filesystem;

// ------------------------------------------------------------ fixtures

// `keelctl events ARGS...` running, its lines read by the test.
std::unique_ptr<KeelRun> follow(const Supervised& s, std::vector<std::string> args) {
  args.insert(args.begin(), "events");
  return std::make_unique<KeelRun>(program_launch(Placement::Subreaper, keel_binary(), s.ctl_argv(std::move(args))));
}

// The few fields of an event line the tests look at. Lines are keel's own
// JSON with keys in a fixed order, so a plain search is exact enough here
// (the unit tests check the format byte for byte).
struct Event {
  unsigned long long seq = 0;
  std::string event;
  std::string service;
  std::string line;
};

std::optional<std::string> field(const std::string& line, const std::string& key) {
  std::string k = "\"" + key + "\":";
  std::size_t at = line.find(k);
  if (at == std::string::npos) return std::nullopt;
  at += k.size();
  if (line[at] == '"') {
    std::size_t end = line.find('"', at + 1);
    return line.substr(at + 1, end - at - 1);
  }
  std::size_t end = line.find_first_of(",}", at);
  return line.substr(at, end - at);
}

Event parse(const std::string& line) {
  Event e;
  e.line = line;
  if (auto s = field(line, "seq")) e.seq = std::stoull(*s);
  e.event = field(line, "event").value_or("");
  e.service = field(line, "service").value_or("");
  return e;
}

std::vector<Event> parse_all(const std::string& text) {
  std::vector<Event> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) break;
    out.push_back(parse(text.substr(start, nl - start)));
    start = nl + 1;
  }
  return out;
}

// Wait on a follower for the event (service, name); nullopt on timeout.
std::optional<Event> await(KeelRun& f, const std::string& service, const std::string& name,
                           Duration timeout = kLineTimeout) {
  auto line = f.find_line(
      Stream::Out,
      [&](const std::string& l) {
        Event e = parse(l);
        return e.event == name && e.service == service;
      },
      timeout);
  if (!line) return std::nullopt;
  return parse(*line);
}

// Index in `events` of the first (service, name) at or after `from`; -1 if none.
int index_of(const std::vector<Event>& events, const std::string& service, const std::string& name, int from = 0) {
  for (std::size_t i = static_cast<std::size_t>(from); i < events.size(); ++i) {
    if (events[i].event == name && events[i].service == service) return static_cast<int>(i);
  }
  return -1;
}

void expect_increasing_seq(const std::vector<Event>& events) {
  for (std::size_t i = 1; i < events.size(); ++i) {
    EXPECT_EQ(events[i].seq, events[i - 1].seq + 1) << events[i - 1].line << "\n" << events[i].line;
  }
}

class EventsTest : public ::testing::TestWithParam<Placement> {
 protected:
  void SetUp() override {
    if (GetParam() == Placement::Namespace && !namespaces_available()) {
      GTEST_SKIP() << "unshare --pid is not available here";
    }
  }
  void TearDown() override { reap_leftovers(); }
};

// A service that says it is ready on its notify fd, then crashes: restarted
// after its back-off.
const char* kCrasher =
    "type = \"notify-fd\"\nnotify_fd = 3\nrestart = \"always\"\nrestart_delay = 0.2\n"
    "command = [\"/bin/sh\", \"-c\", \"echo >&3; sleep 0.5; exit 3\"]\n";

TEST_P(EventsTest, ALiveFollowerSeesAServiceStartBeReadyCrashAndRestartInOrder) {
  Supervised s;
  s.service("base", "command = [\"/bin/sleep\", \"600\"]\n");
  s.service("crasher", std::string("after = [\"base\"]\n") + kCrasher);
  auto k = s.start(GetParam());
  ASSERT_TRUE(control_up(s)) << k->text(Stream::Err);
  auto f = follow(s, {"--json"});
  // A whole cycle seen live: exited, restarting, then the next run.
  auto exited = await(*f, "crasher", "exited");
  ASSERT_TRUE(exited) << f->text(Stream::Out) << f->text(Stream::Err);
  EXPECT_EQ(field(exited->line, "exit_code"), "3") << exited->line;
  auto restarting = await(*f, "crasher", "restarting");
  ASSERT_TRUE(restarting);
  EXPECT_TRUE(field(restarting->line, "delay_ms").has_value()) << restarting->line;
  auto starting = await(*f, "crasher", "starting");
  ASSERT_TRUE(starting);
  EXPECT_NE(starting->line.find(R"("after":["base"])"), std::string::npos) << starting->line;
  ASSERT_TRUE(await(*f, "crasher", "started"));
  ASSERT_TRUE(await(*f, "crasher", "ready"));
  auto live = parse_all(f->text(Stream::Out));
  expect_increasing_seq(live);

  // The replay: the boot first (keel-start, config, the first starts,
  // target-reached), then what came after, every seq once, in order.
  Ctl replay = s.ctl({"events", "--json", "--since-boot", "--no-follow"});
  ASSERT_EQ(replay.code, 0) << replay.err;
  auto all = parse_all(replay.out);
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all[0].seq, 1U);
  EXPECT_EQ(all[0].event, "keel-start");
  expect_increasing_seq(all);
  // The boot's steps: config always, mounts first as PID 1 of a namespace.
  int first_step = index_of(all, "", "boot-step");
  ASSERT_GE(first_step, 0) << replay.out;
  const char* expected_first =
      GetParam() == Placement::Namespace ? R"("step":"mounts","duration_us":)" : R"("step":"config","duration_us":)";
  EXPECT_NE(all[first_step].line.find(expected_first), std::string::npos) << all[first_step].line;
  EXPECT_NE(replay.out.find(R"("event":"boot-step","step":"config","duration_us":)"), std::string::npos);
  int base_ready = index_of(all, "base", "ready");
  int crasher_starting = index_of(all, "crasher", "starting");
  int crasher_started = index_of(all, "crasher", "started");
  int crasher_ready = index_of(all, "crasher", "ready");
  int crasher_exited = index_of(all, "crasher", "exited");
  int restart = index_of(all, "crasher", "restarting");
  int again = index_of(all, "crasher", "starting", crasher_starting + 1);
  EXPECT_TRUE(0 <= base_ready && base_ready < crasher_starting) << replay.out;  // ordered after base
  EXPECT_TRUE(crasher_starting < crasher_started && crasher_started < crasher_ready && crasher_ready < crasher_exited &&
              crasher_exited < restart && restart < again)
      << replay.out;
  EXPECT_GE(index_of(all, "", "target-reached"), 0) << replay.out;
  // The live lines are the same events as the replay's.
  for (const Event& e : live) {
    ASSERT_LE(e.seq, all.back().seq);
    EXPECT_EQ(all[e.seq - 1].line, e.line);
  }
  // Without --json: one readable line per event.
  Ctl human = s.ctl({"events", "--since-boot", "--no-follow"});
  EXPECT_EQ(human.code, 0);
  EXPECT_NE(human.out.find(" crasher    exited        pid="), std::string::npos) << human.out;
  EXPECT_EQ(human.out.find('{'), std::string::npos);
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

TEST_P(EventsTest, AReloadIsOneEventWithWhatWasAddedRemovedAndRestarted) {
  Supervised s;
  s.service("keep", "command = [\"/bin/sleep\", \"600\"]\n");
  s.service("old", "command = [\"/bin/sleep\", \"600\"]\n");
  s.service("change", "command = [\"/bin/sleep\", \"600\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(control_up(s));
  // --since-boot: the follower has every event from 1, whenever it connects.
  auto f = follow(s, {"--json", "--since-boot"});
  ASSERT_TRUE(poll_until([&] { return s.ctl({"wait", "change", "--ready", "--timeout", "5"}).code == 0; }, 10s));
  s.remove_service("old");
  s.service("new", "command = [\"/bin/sleep\", \"600\"]\n");
  s.service("change", "command = [\"/bin/sleep\", \"601\"]\n");
  s.service("broken", "command = 7\n");
  Ctl r = s.ctl({"reload"});
  EXPECT_EQ(r.code, 0) << r.err;
  auto reload = await(*f, "", "reload");
  ASSERT_TRUE(reload) << f->text(Stream::Out);
  EXPECT_NE(reload->line.find(R"("added":["new"],"removed":["old"],"restarted":["change"],"errors":1})"),
            std::string::npos)
      << reload->line;
  // What the reload does follows it.
  EXPECT_TRUE(await(*f, "old", "stopped"));
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
}

TEST_P(EventsTest, AFollowerSeesTheShutdownStepsBeforeKeelExits) {
  Supervised s;
  s.service("app", "command = [\"/bin/sleep\", \"600\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(control_up(s));
  // --since-boot: its first line (the replay's) proves it is registered.
  auto f = follow(s, {"--json", "--since-boot"});
  ASSERT_TRUE(await(*f, "app", "ready")) << f->text(Stream::Err);
  ASSERT_EQ(s.ctl({"poweroff"}).code, 0);
  EXPECT_TRUE(k->wait_exit());
  // keel gone: keelctl ends, having printed the whole shutdown.
  EXPECT_EQ(f->wait_exit(), 0) << f->text(Stream::Err);
  auto events = parse_all(f->text(Stream::Out));
  expect_increasing_seq(events);
  int shutdown = index_of(events, "", "shutdown");
  ASSERT_GE(shutdown, 0) << f->text(Stream::Out);
  EXPECT_EQ(field(events[shutdown].line, "reason"), "exit");  // a container's (or a supervisor's) power-off
  int stopping = index_of(events, "app", "stopping", shutdown);
  int stopped = index_of(events, "app", "stopped", shutdown);
  std::vector<std::string> steps;
  for (const Event& e : events) {
    if (e.event == "shutdown-step") steps.push_back(field(e.line, "step").value_or("?"));
  }
  EXPECT_TRUE(shutdown < stopping && stopping < stopped) << f->text(Stream::Out);
  EXPECT_NE(events[stopping].line.find(R"("reason":"shutdown")"), std::string::npos);
  if (GetParam() == Placement::Namespace) {
    // PID 1 of a namespace: the leftover processes, then the end (sync
    // and unmount are the host's).
    EXPECT_EQ(steps, (std::vector<std::string>{"services-stopped", "kill-remaining", "final"}));
  } else {
    EXPECT_EQ(steps, (std::vector<std::string>{"services-stopped", "final"}));
  }
  EXPECT_EQ(events.back().event, "shutdown-step");
}

// A request frame written by hand (control/protocol.hpp): the test talks
// to keel like a client that asks for events and then never reads.
std::string events_request(std::uint32_t flags) {
  std::string payload;
  auto u16 = [&](std::uint16_t v) {
    payload += static_cast<char>(v & 0xff);
    payload += static_cast<char>(v >> 8);
  };
  auto u32 = [&](std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  };
  u16(12);  // Verb::Events
  u32(payload, flags);
  u32(payload, 0);
  u32(payload, 0);
  u16(0);
  std::string frame = "KEEL";
  frame += '\x01';
  frame += '\x00';
  frame += '\x01';  // FrameType::Request
  frame += '\x00';
  u32(frame, static_cast<std::uint32_t>(payload.size()));
  return frame + payload;
}

TEST_P(EventsTest, AFollowerThatNeverReadsDoesNotStallKeel) {
  Supervised s;
  auto k = s.start(GetParam());
  ASSERT_TRUE(control_up(s));
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, s.socket().c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  int small = 4096;
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  std::string req = events_request(2);  // kFlagFollow
  ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));

  // Far more events than the connection's buffers hold (keel's 256 KiB
  // output buffer and the socket's), and less than the record's ring: 200
  // services with long names added then removed, three times, each round
  // two reloads and 6 events a service (about 750 KiB in all).
  const std::string prefix(56, 'x');
  for (int round = 0; round < 3; ++round) {
    auto name = [&](int i) { return prefix + std::to_string(round) + "-" + std::to_string(i); };
    for (int i = 0; i < 200; ++i) s.service(name(i), "command = [\"/bin/sleep\", \"600\"]\n");
    ASSERT_EQ(s.ctl({"reload"}).code, 0);
    ASSERT_TRUE(poll_until([&] { return s.ctl({"wait", name(199), "--ready", "--timeout", "5"}).code == 0; }, 20s));
    for (int i = 0; i < 200; ++i) s.remove_service(name(i));
    Ctl r = s.ctl({"reload"});
    ASSERT_EQ(r.code, 0) << r.err;  // keel answers while the follower is stuck
  }
  // keel goes on: the record has everything, in order.
  Ctl replay = s.ctl({"events", "--json", "--since-boot", "--no-follow"});
  ASSERT_EQ(replay.code, 0);
  auto all = parse_all(replay.out);
  ASSERT_GT(all.size(), 2000U);
  expect_increasing_seq(all);
  // The stuck follower lost events rather than stalling keel: what it can
  // read now has a gap in seq (or the connection was closed).
  std::string got;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  std::vector<unsigned long long> seqs;
  for (std::size_t at = got.find("{\"seq\":"); at != std::string::npos; at = got.find("{\"seq\":", at + 1)) {
    seqs.push_back(std::stoull(got.substr(at + 7)));
  }
  ASSERT_FALSE(seqs.empty());
  EXPECT_LT(seqs.size(), all.size());
  bool gap = false;
  for (std::size_t i = 1; i < seqs.size(); ++i) gap = gap || seqs[i] != seqs[i - 1] + 1;
  EXPECT_TRUE(gap || seqs.back() < all.back().seq);
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit(60s));
}

TEST_P(EventsTest, KeelEventsOnTheConsoleWithTheKernelCommandLineWord) {
  Supervised s;
  s.service("app", "command = [\"/bin/sleep\", \"600\"]\n");
  auto k = s.start(GetParam(), {{"KEEL_CMDLINE", "keel.events=console"}});
  auto console = [&](const std::string& name) {
    return k->find_line(Stream::Err, [&](const std::string& l) {
      return l.rfind("keel-event: {", 0) == 0 && parse(l.substr(12)).event == name;
    });
  };
  ASSERT_TRUE(console("keel-start")) << k->text(Stream::Err);
  if (GetParam() == Placement::Namespace) {
    auto mounts = k->find_line(Stream::Err, "keel-event: ");
    ASSERT_TRUE(mounts);
    EXPECT_NE(mounts->find(R"("event":"boot-step","step":"mounts")"), std::string::npos) << *mounts;
  }
  ASSERT_TRUE(console("target-reached")) << k->text(Stream::Err);
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
  // Every console event is a JSON line, seq from 1 without a hole.
  std::vector<Event> events;
  for (const std::string& l : k->lines(Stream::Err)) {
    if (l.rfind("keel-event: ", 0) == 0) events.push_back(parse(l.substr(12)));
  }
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].seq, 1U);
  expect_increasing_seq(events);
  EXPECT_EQ(events.back().event, "shutdown-step");
}

TEST_P(EventsTest, WithoutTheWordNoEventReachesTheConsole) {
  Supervised s;
  s.service("app", "command = [\"/bin/sleep\", \"600\"]\n");
  auto k = s.start(GetParam());
  ASSERT_TRUE(control_up(s));
  k->signal(SIGTERM);
  EXPECT_TRUE(k->wait_exit());
  EXPECT_EQ(k->text(Stream::Err).find("keel-event:"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Placements, EventsTest, ::testing::Values(Placement::Subreaper, Placement::Namespace),
                         [](const ::testing::TestParamInfo<Placement>& p) {
                           return std::string(placement_name(p.param));
                         });

}  // namespace
}  // namespace keel::systest
