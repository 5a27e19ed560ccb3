// The event record (service/event_record.hpp): the JSON lines of I2
// (docs/events.md), hostile text escaped, the boot area kept when the ring
// wraps, followers, and keelctl's readable form (control/event_format.hpp).
#include "service/event_record.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "control/event_format.hpp"
#include "control/keelctl.hpp"
#include "core/json_text.hpp"
#include "system/kernel_cmdline.hpp"

namespace keel::service {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

std::string replay(const EventRecord& r) {
  std::string out;
  r.replay(out);
  return out;
}

struct Collector final : EventFollower {
  void on_event(std::string_view line) noexcept override { lines.emplace_back(line); }
  std::vector<std::string> lines;
};

// 2026-12-06T19:00:00.123456Z in ns since the epoch.
constexpr std::int64_t kReal = 1'796'583'600'123'456'789LL;

TEST(EventRecord, FormatsTheDocumentedLineWithKeysInOrder) {
  EventRecord r;
  r.init(4096, 4096);
  r.begin_at("exited", "web", 5'000'123'999, kReal).num("pid", 212).str("signal", "SIGKILL").commit();
  r.begin_at("keel-start", {}, 1'000, kReal).commit();
  r.begin_at("starting", "b", 2'000, kReal).num("pid", 7).list_begin("after").item("a").item("c").list_end().commit();
  r.begin_at("reload", {}, 3'000, kReal)
      .list_begin("added")
      .list_end()
      .list_begin("removed")
      .item("x")
      .list_end()
      .num("errors", 0)
      .commit();
  auto lines = lines_of(replay(r));
  ASSERT_EQ(lines.size(), 4U);
  EXPECT_EQ(lines[0],
            R"({"seq":1,"mono_us":5000123,"time":"2026-12-06T19:00:00.123456Z","event":"exited","service":"web",)"
            R"("pid":212,"signal":"SIGKILL"})");
  EXPECT_EQ(lines[1], R"({"seq":2,"mono_us":1,"time":"2026-12-06T19:00:00.123456Z","event":"keel-start"})");
  EXPECT_EQ(lines[2],
            R"({"seq":3,"mono_us":2,"time":"2026-12-06T19:00:00.123456Z","event":"starting","service":"b","pid":7,)"
            R"("after":["a","c"]})");
  EXPECT_EQ(lines[3], R"({"seq":4,"mono_us":3,"time":"2026-12-06T19:00:00.123456Z","event":"reload","added":[],)"
                      R"("removed":["x"],"errors":0})");
  EXPECT_EQ(r.last_seq(), 4U);
}

TEST(EventRecord, EscapesHostileText) {
  char out[128];
  auto esc = [&](std::string_view in) {
    std::size_t n = json_escape(in, out, sizeof out);
    return n == SIZE_MAX ? std::string("<too long>") : std::string(out, n);
  };
  EXPECT_EQ(esc("a\"b\\c"), R"(a\"b\\c)");
  EXPECT_EQ(esc(std::string_view("\n\r\t\x1b[2J\x7f\0", 9)), R"(\u000a\u000d\u0009\u001b[2J\u007f\u0000)");
  EXPECT_EQ(esc("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");  // well-formed UTF-8 kept
  EXPECT_EQ(esc("\xc2\x9b"
                "31m"),
            R"(\u009b31m)");                                                                          // C1 CSI escaped
  EXPECT_EQ(esc("\xff\xc3(\xed\xa0\x80\xc0\xaf"), R"(\ufffd\ufffd(\ufffd\ufffd\ufffd\ufffd\ufffd)");  // ill-formed
  char tiny[4];
  EXPECT_EQ(json_escape("\x01", tiny, sizeof tiny), SIZE_MAX);

  EventRecord r;
  r.init(4096, 4096);
  r.begin_at("failed", "we\"b\n", 1'000, kReal).str("reason", "exited\x1b]0;pwned\x07").commit();
  auto lines = lines_of(replay(r));
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_NE(lines[0].find(R"("service":"we\"b\u000a","reason":"exited\u001b]0;pwned\u0007"})"), std::string::npos)
      << lines[0];
}

TEST(EventRecord, CutsWhatDoesNotFitAndSaysSo) {
  EventRecord r;
  r.init(1 << 20, 1 << 20);
  EventRecord& e = r.begin_at("reload", {}, 1'000, kReal).list_begin("added");
  const std::string name(64, 'n');
  for (int i = 0; i < 1000; ++i) e.item(name);
  e.list_end().list_begin("removed").item("gone").list_end().num("errors", 2).commit();
  auto lines = lines_of(replay(r));
  ASSERT_EQ(lines.size(), 1U);
  const std::string& l = lines[0];
  EXPECT_LE(l.size(), limits::kEventLineMax);
  // The fields after the cut list still fit: kept.
  EXPECT_TRUE(l.ends_with(R"("],"removed":["gone"],"errors":2,"cut":true})")) << l.substr(l.size() - 100);
  EXPECT_NE(l.find(R"("added":[")"), std::string::npos);
  // Whole names only: every item is the 64 n's, quoted.
  std::size_t list = l.find('[') + 1, end = l.find(']');
  std::string items = l.substr(list, end - list);
  EXPECT_EQ((items.size() + 1) % (name.size() + 3), 0U);
}

TEST(EventRecord, KeepsTheBootWhenTheRingWraps) {
  EventRecord r;
  r.init(4096, 2048);
  r.begin_at("keel-start", {}, 1, kReal).commit();
  r.begin_at("boot-step", {}, 2, kReal).str("step", "config").num("duration_us", 5).commit();
  r.begin_at("target-reached", {}, 3, kReal).str("target", "default").commit();
  r.close_boot();
  for (int i = 0; i < 200; ++i) r.begin_at("restarting", "loop", 10 + i, kReal).num("delay_ms", i).commit();
  auto lines = lines_of(replay(r));
  ASSERT_GT(lines.size(), 5U);
  EXPECT_NE(lines[0].find(R"("seq":1,)"), std::string::npos);
  EXPECT_NE(lines[0].find("keel-start"), std::string::npos);
  EXPECT_NE(lines[2].find("target-reached"), std::string::npos);
  // Then the newest of the ring, in order, ending with the last event: a
  // gap in seq after the boot (the ring forgot the oldest).
  EXPECT_EQ(lines[3].find(R"({"seq":4,)"), std::string::npos);
  EXPECT_NE(lines.back().find(R"("seq":203,)"), std::string::npos);
  EXPECT_LT(lines.size(), 203U);
  for (std::size_t i = 4; i < lines.size(); ++i) {
    auto seq = [](const std::string& l) { return std::stoull(l.substr(7)); };
    EXPECT_EQ(seq(lines[i]), seq(lines[i - 1]) + 1);
  }
}

TEST(EventRecord, ABootLargerThanItsAreaGoesOnInTheRing) {
  EventRecord r;
  r.init(512, 4096);
  for (int i = 0; i < 20; ++i) r.begin_at("ready", "s", i, kReal).commit();
  EXPECT_FALSE(r.boot_open());
  auto lines = lines_of(replay(r));
  ASSERT_EQ(lines.size(), 20U);  // nothing lost, in order
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].rfind("{\"seq\":" + std::to_string(i + 1) + ",", 0), 0U) << lines[i];
  }
}

TEST(EventRecord, WithoutMemoryEventsAreStillNumberedAndStreamed) {
  EventRecord r;  // no init(): nothing kept
  Collector c;
  ASSERT_TRUE(r.add_follower(c));
  EXPECT_FALSE(r.add_follower(c));
  r.begin_at("ready", "a", 1, kReal).commit();
  r.begin_at("ready", "b", 2, kReal).commit();
  EXPECT_EQ(replay(r), "");
  ASSERT_EQ(c.lines.size(), 2U);
  EXPECT_TRUE(c.lines[1].starts_with(R"({"seq":2,)"));
  EXPECT_TRUE(c.lines[1].ends_with("}\n"));
  r.remove_follower(c);
  r.begin_at("ready", "c", 3, kReal).commit();
  EXPECT_EQ(c.lines.size(), 2U);
}

TEST(EventRecord, FollowersAreBounded) {
  EventRecord r;
  std::vector<Collector> many(limits::kEventFollowers + 1);
  for (std::size_t i = 0; i < limits::kEventFollowers; ++i) EXPECT_TRUE(r.add_follower(many[i]));
  EXPECT_FALSE(r.add_follower(many.back()));
}

TEST(EventRecord, TimeIsUtcWithMicroseconds) {
  char out[40];
  std::size_t n = format_event_time(kReal, out, sizeof out);
  EXPECT_EQ(std::string(out, n), "2026-12-06T19:00:00.123456Z");
  n = format_event_time(0, out, sizeof out);
  EXPECT_EQ(std::string(out, n), "1970-01-01T00:00:00.000000Z");
}

TEST(EventFormat, ReadableLine) {
  using control::format_event_line;
  EXPECT_EQ(format_event_line(R"({"seq":3,"mono_us":2,"time":"2026-12-06T19:00:00.123456Z","event":"exited",)"
                              R"("service":"web","pid":212,"exit_code":1})"),
            "2026-12-06T19:00:00.123Z web        exited        pid=212 exit_code=1\n");
  EXPECT_EQ(format_event_line(R"({"seq":1,"mono_us":2,"time":"2026-12-06T19:00:00.123456Z","event":"reload",)"
                              R"("added":["a","b"],"removed":[],"errors":0})"),
            "2026-12-06T19:00:00.123Z -          reload        added=a,b removed= errors=0\n");
  // Escapes decoded, then made terminal-safe.
  std::string l = format_event_line(R"({"seq":1,"mono_us":2,"time":"t","event":"failed","service":"x",)"
                                    R"("reason":"a\u001b[2Jb"})");
  EXPECT_EQ(l.find('\x1b'), std::string::npos) << l;
  // Not an event: shown as it is, escaped.
  EXPECT_EQ(format_event_line("garbage\x1b"), "garbage\\x1b\n");
}

TEST(EventKeelctl, ParsesTheOptions) {
  using control::kFlagFollow;
  using control::kFlagJson;
  using control::kFlagSinceBoot;
  auto c = control::parse_keelctl("keelctl", {"events"}, nullptr);
  EXPECT_EQ(c.exit_code, -1);
  EXPECT_EQ(c.request.verb, control::Verb::Events);
  EXPECT_EQ(c.request.flags, kFlagFollow);
  EXPECT_EQ(c.reply_timeout_ms, -1);
  c = control::parse_keelctl("keelctl", {"events", "--json", "--since-boot", "--no-follow"}, nullptr);
  EXPECT_EQ(c.request.flags, kFlagJson | kFlagSinceBoot);
  c = control::parse_keelctl("keelctl", {"events", "web"}, nullptr);
  EXPECT_EQ(c.exit_code, control::kUsageExit);
  c = control::parse_keelctl("keelctl", {"events", "--help"}, nullptr);
  EXPECT_EQ(c.exit_code, 0);
  EXPECT_NE(c.message.find("--since-boot"), std::string::npos);
}

TEST(EventKernelCmdline, EventsOnTheConsole) {
  EXPECT_TRUE(parse_kernel_cmdline("quiet keel.events=console").events_console);
  EXPECT_FALSE(parse_kernel_cmdline("keel.events=none").events_console);
}

}  // namespace
}  // namespace keel::service
