// Boot analysis from keel's event record (I2): the line reader (robust to
// cut, malformed and hostile lines), blame, critical-chain, the SVG chart's
// escaping, keelctl analyze's command line, and keel-image's console
// collection for `boot --chart`. The chart's rendering is checked for real
// in tests/analyze/render_chart_test.py (headless Chromium).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "analyze/boot_analysis.hpp"
#include "analyze/boot_chart.hpp"
#include "analyze/event_record.hpp"
#include "control/analyze_command.hpp"
#include "control/keelctl.hpp"
#include "image/boot_events.hpp"

namespace keel::analyze {
namespace {

// A boot: two services at once, a oneshot, one waiting on both, one that
// never becomes ready, all ordered by `after`.
constexpr std::string_view kBoot =
    R"({"seq":1,"mono_us":500000,"time":"2026-12-06T19:00:00.000000Z","event":"keel-start"}
{"seq":2,"mono_us":510000,"time":"2026-12-06T19:00:00.010000Z","event":"boot-step","step":"mounts","duration_us":4000}
{"seq":3,"mono_us":520000,"time":"2026-12-06T19:00:00.020000Z","event":"starting","service":"net","pid":10,"after":[]}
{"seq":4,"mono_us":520100,"time":"2026-12-06T19:00:00.020100Z","event":"starting","service":"log","pid":11,"after":[]}
{"seq":5,"mono_us":520500,"time":"2026-12-06T19:00:00.020500Z","event":"started","service":"net","pid":10}
{"seq":6,"mono_us":520600,"time":"2026-12-06T19:00:00.020600Z","event":"started","service":"log","pid":11}
{"seq":7,"mono_us":530000,"time":"2026-12-06T19:00:00.030000Z","event":"ready","service":"log"}
{"seq":8,"mono_us":600000,"time":"2026-12-06T19:00:00.100000Z","event":"exited","service":"net","pid":10,"exit_code":0}
{"seq":9,"mono_us":600100,"time":"2026-12-06T19:00:00.100100Z","event":"done","service":"net"}
{"seq":10,"mono_us":600200,"time":"2026-12-06T19:00:00.100200Z","event":"starting","service":"db","pid":12,"after":["net","log"]}
{"seq":11,"mono_us":600300,"time":"2026-12-06T19:00:00.100300Z","event":"started","service":"db","pid":12}
{"seq":12,"mono_us":900000,"time":"2026-12-06T19:00:00.400000Z","event":"ready","service":"db"}
{"seq":13,"mono_us":900100,"time":"2026-12-06T19:00:00.400100Z","event":"starting","service":"web","pid":13,"after":["db"]}
{"seq":14,"mono_us":900200,"time":"2026-12-06T19:00:00.400200Z","event":"started","service":"web","pid":13}
{"seq":15,"mono_us":950000,"time":"2026-12-06T19:00:00.450000Z","event":"ready","service":"web"}
{"seq":16,"mono_us":950100,"time":"2026-12-06T19:00:00.450100Z","event":"starting","service":"stuck","pid":14,"after":["web"]}
{"seq":17,"mono_us":950300,"time":"2026-12-06T19:00:00.450300Z","event":"started","service":"stuck","pid":14}
{"seq":18,"mono_us":960000,"time":"2026-12-06T19:00:00.460000Z","event":"rng-ready"}
{"seq":19,"mono_us":970000,"time":"2026-12-06T19:00:00.470000Z","event":"exited","service":"stuck","pid":14,"signal":"SIGKILL"}
{"seq":20,"mono_us":970100,"time":"2026-12-06T19:00:00.470100Z","event":"failed","service":"stuck","reason":"start timeout"}
{"seq":21,"mono_us":980000,"time":"2026-12-06T19:00:00.480000Z","event":"target-reached","target":"default"}
)";

TEST(EventRecord, ReadsEveryFieldOfALine) {
  auto e = parse_event_line(
      R"({"seq":7,"mono_us":123,"time":"2026-12-06T19:00:00.123456Z","event":"starting","service":"web","pid":42,"after":["db","log"]})");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->seq, 7U);
  EXPECT_EQ(e->mono_us, 123);
  EXPECT_EQ(e->time, "2026-12-06T19:00:00.123456Z");
  EXPECT_EQ(e->name, "starting");
  EXPECT_EQ(e->service, "web");
  EXPECT_EQ(e->integer("pid"), 42);
  EXPECT_EQ(e->strings("after"), (std::vector<std::string>{"db", "log"}));
  EXPECT_FALSE(e->integer("missing").has_value());
}

TEST(EventRecord, DecodesEscapesAndKeepsHostileBytes) {
  auto e = parse_event_line(
      R"({"seq":1,"mono_us":1,"event":"starting","service":"a\u001b[31m\"b\\\u00e9\ud83d\ude00\udc00"})");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->service, "a\x1b[31m\"b\\\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbd");
}

TEST(EventRecord, SkipsAndCountsMalformedLines) {
  const std::string text =
      "{\"seq\":1,\"mono_us\":1,\"event\":\"keel-start\"}\r\n"
      "\n"
      "not json at all\n"
      "{\"seq\":2,\"mono_us\":2,\"event\":\"ready\",\"service\":\"x\"\n"   // cut
      "{\"seq\":3,\"mono_us\":3}\n"                                        // no event
      "{\"seq\":4,\"mono_us\":-4,\"event\":\"ready\"}\n"                   // negative time
      "{\"seq\":5,\"mono_us\":5,\"event\":\"ready\",\"service\":\"a\tb\"}\n"  // raw control
      "{\"seq\":6,\"mono_us\":6,\"event\":\"ready\"} trailing\n"
      "[1,2,3]\n"
      "{\"seq\":7,\"mono_us\":7,\"event\":\"x\",\"nested\":{\"a\":[1,{\"b\":null}]},\"ok\":true}\n"
      "{\"seq\":8,\"mono_us\":8,\"event\":\"y\"}";  // no newline at the end
  const EventRecord r = parse_event_lines(text);
  ASSERT_EQ(r.events.size(), 3U);
  EXPECT_EQ(r.events[0].name, "keel-start");
  EXPECT_EQ(r.events[1].name, "x");  // a nested value is skipped, the event kept
  EXPECT_EQ(r.events[2].name, "y");
  EXPECT_EQ(r.malformed, 7U);
  EXPECT_EQ(r.lost, 5U);  // seq 2..6 never arrived as events
}

TEST(EventRecord, DeepNestingAndHugeLinesAreRefusedNotCrashed) {
  std::string deep = R"({"seq":1,"mono_us":1,"event":"x","n":)" + std::string(100000, '[') + "}";
  EXPECT_FALSE(parse_event_line(deep).has_value());
  EventReader reader;
  reader.feed("{\"seq\":1,\"mono_us\":1,\"event\":\"x\",\"s\":\"");
  for (int i = 0; i < 100; ++i) reader.feed(std::string(4096, 'a'));
  reader.feed("\"}\n{\"seq\":2,\"mono_us\":2,\"event\":\"y\"}\n");
  reader.finish();
  ASSERT_EQ(reader.record().events.size(), 1U);
  EXPECT_EQ(reader.record().events[0].name, "y");
  EXPECT_EQ(reader.record().malformed, 1U);
}

TEST(EventRecord, CountsSeqGapsAsLostEvents) {
  const EventRecord r = parse_event_lines(
      "{\"seq\":3,\"mono_us\":1,\"event\":\"a\"}\n{\"seq\":4,\"mono_us\":2,\"event\":\"b\"}\n"
      "{\"seq\":9,\"mono_us\":3,\"event\":\"c\"}\n");
  EXPECT_EQ(r.events.size(), 3U);
  EXPECT_EQ(r.lost, 2U + 4U);
}

TEST(BootAnalysis, TimelinesFromTheFirstStart) {
  const BootAnalysis boot = analyze_boot(parse_event_lines(kBoot));
  EXPECT_EQ(boot.keel_start_us, 500000);
  EXPECT_TRUE(has_kernel_phase(boot));
  ASSERT_EQ(boot.steps.size(), 1U);
  EXPECT_EQ(boot.steps[0].step, "mounts");
  EXPECT_EQ(boot.steps[0].start_us, 506000);
  EXPECT_EQ(boot.rng_ready_us, 960000);
  EXPECT_EQ(boot.target_us, 980000);
  ASSERT_EQ(boot.services.size(), 5U);
  EXPECT_EQ(boot.services[0].name, "net");  // in start order
  EXPECT_EQ(boot.services[4].name, "stuck");
  const ServiceTimeline* net = boot.service("net");
  ASSERT_NE(net, nullptr);
  EXPECT_EQ(net->startup_us(), 600100 - 520000);  // a oneshot: to done
  const ServiceTimeline* db = boot.service("db");
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->startup_us(), 900000 - 600200);  // to ready
  const ServiceTimeline* stuck = boot.service("stuck");
  ASSERT_NE(stuck, nullptr);
  EXPECT_EQ(stuck->startup_us(), 200);  // no ready: to started
  EXPECT_EQ(stuck->exit_text, "SIGKILL");
  EXPECT_GE(stuck->failed_us, 0);
}

TEST(BootAnalysis, BlameIsSlowestFirst) {
  const BootAnalysis boot = analyze_boot(parse_event_lines(kBoot));
  EXPECT_EQ(blame_text(boot),
            "   299.8ms db\n"
            "    80.1ms net (oneshot)\n"
            "    49.9ms web\n"
            "     9.9ms log\n"
            "     200us stuck (started; no readiness seen)\n");
  EXPECT_EQ(blame_text(boot, 2), "   299.8ms db\n    80.1ms net (oneshot)\n");
}

TEST(BootAnalysis, BlameEscapesNamesForTheTerminal) {
  const BootAnalysis boot = analyze_boot(parse_event_lines(
      "{\"seq\":1,\"mono_us\":1,\"event\":\"starting\",\"service\":\"x\\u001b]0;pwned\\u0007\"}\n"
      "{\"seq\":2,\"mono_us\":5,\"event\":\"started\",\"service\":\"x\\u001b]0;pwned\\u0007\"}\n"));
  const std::string text = blame_text(boot);
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_NE(text.find("x\\x1b]0;pwned\\a"), std::string::npos) << text;
}

TEST(BootAnalysis, CriticalChainFollowsTheLastPredecessorUp) {
  const BootAnalysis boot = analyze_boot(parse_event_lines(kBoot));
  EXPECT_EQ(default_chain_service(boot), "web");  // up last before the target (stuck failed)
  auto chain = critical_chain(boot, "web");
  ASSERT_TRUE(chain.has_value());
  ASSERT_EQ(chain->size(), 3U);
  EXPECT_EQ((*chain)[1].service->name, "db");
  EXPECT_EQ((*chain)[2].service->name, "net");  // done at 600.1ms, after log's ready at 530ms
  const std::string text = critical_chain_text(boot, *chain);
  EXPECT_NE(text.find("web @400.1ms +49.9ms\n\u2514\u2500db @100.2ms +299.8ms\n  \u2514\u2500net @20.0ms +80.1ms\n"),
            std::string::npos)
      << text;
  EXPECT_FALSE(critical_chain(boot, "nope").has_value());
}

TEST(BootAnalysis, CriticalChainEndsOnACycle) {
  const BootAnalysis boot = analyze_boot(parse_event_lines(
      "{\"seq\":1,\"mono_us\":1,\"event\":\"starting\",\"service\":\"a\",\"after\":[\"b\"]}\n"
      "{\"seq\":2,\"mono_us\":1,\"event\":\"started\",\"service\":\"a\"}\n"
      "{\"seq\":3,\"mono_us\":1,\"event\":\"starting\",\"service\":\"b\",\"after\":[\"a\"]}\n"
      "{\"seq\":4,\"mono_us\":1,\"event\":\"started\",\"service\":\"b\"}\n"));
  auto chain = critical_chain(boot, "a");
  ASSERT_TRUE(chain.has_value());
  EXPECT_EQ(chain->size(), 2U);
}

TEST(BootChart, HasEveryRowAndMarkerAndTheLegend) {
  const std::string svg = boot_chart_svg(analyze_boot(parse_event_lines(kBoot)));
  EXPECT_EQ(svg.rfind("<?xml", 0), 0U);
  EXPECT_NE(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  for (const char* name : {">net<", ">log<", ">db<", ">web<", ">stuck<", ">kernel<", ">keel: mounts<"}) {
    EXPECT_NE(svg.find(name), std::string::npos) << name;
  }
  for (const char* cls : {"class=\"kernel\"", "class=\"step\"", "class=\"launch\"", "class=\"startup\"",
                          "class=\"running\"", "class=\"oneshot\"", "class=\"failed\"", "class=\"rng\"",
                          "class=\"target\"", "class=\"dep\""}) {
    EXPECT_NE(svg.find(cls), std::string::npos) << cls;
  }
  EXPECT_NE(svg.find("rng-ready @460.0ms"), std::string::npos);
  EXPECT_NE(svg.find("target default @480.0ms"), std::string::npos);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_EQ(svg.find("href"), std::string::npos);  // self-contained
}

TEST(BootChart, EscapesHostileNames) {
  const BootAnalysis boot = analyze_boot(parse_event_lines(
      "{\"seq\":1,\"mono_us\":1,\"event\":\"starting\",\"service\":\"<script>alert('x')</script>&\\u001b\\u009b\"}\n"
      "{\"seq\":2,\"mono_us\":1,\"event\":\"starting\",\"service\":\"bad\\udc00utf\xff\"}\n"));
  const std::string svg = boot_chart_svg(boot);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_NE(svg.find("&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt;&amp;\\x1b\\x9b"), std::string::npos);
  EXPECT_EQ(svg.find('\x1b'), std::string::npos);
  EXPECT_EQ(svg.find('\xff'), std::string::npos);
  EXPECT_NE(svg.find("bad\uFFFDutf\uFFFD"), std::string::npos);
}

TEST(BootChart, XmlEscapedCutsLongNames) {
  EXPECT_EQ(xml_escaped("abcdef", 3), "abc\u2026");
  EXPECT_EQ(xml_escaped("\xc3\xa9t\xc3\xa9", 2), "\xc3\xa9t\u2026");
  EXPECT_EQ(xml_escaped("a\"b", 0), "a&quot;b");
}

TEST(BootChart, HugeTimesSaturateAndNothingOverflows) {
  // Found by the analyze fuzz target: an axis stepped past INT64_MAX. Run
  // under UBSan (the sanitizer build), so an overflow fails the test.
  const EventRecord r = parse_event_lines(
      "{\"seq\":1,\"mono_us\":9000000000000000000,\"event\":\"keel-start\"}\n"
      "{\"seq\":2,\"mono_us\":9500000000000000000,\"event\":\"boot-step\",\"step\":\"mounts\","
      "\"duration_us\":99999999999999999999999}\n"
      "{\"seq\":3,\"mono_us\":0,\"event\":\"starting\",\"service\":\"app\",\"after\":[]}\n"
      "{\"seq\":4,\"mono_us\":99999999999999999999,\"event\":\"ready\",\"service\":\"app\"}\n"
      "{\"seq\":18446744073709551615,\"mono_us\":5,\"event\":\"rng-ready\"}\n");
  ASSERT_EQ(r.events.size(), 5U);
  EXPECT_EQ(r.events[0].mono_us, kMaxNumber);
  EXPECT_EQ(r.events[1].integer("duration_us"), kMaxNumber);
  const BootAnalysis boot = analyze_boot(r);
  const std::string svg = boot_chart_svg(boot);
  EXPECT_NE(svg.find(">app<"), std::string::npos);
  EXPECT_FALSE(blame_text(boot, 0).empty());
  EXPECT_FALSE(summary_text(boot).empty());
  ASSERT_TRUE(critical_chain(boot, "app").has_value());
}

TEST(BootChart, AContainerRecordHasNoKernelBar) {
  // keel-start at a host's uptime of days: not a kernel's time to init.
  const BootAnalysis boot = analyze_boot(parse_event_lines(
      "{\"seq\":1,\"mono_us\":400000000000,\"event\":\"keel-start\"}\n"
      "{\"seq\":2,\"mono_us\":400000001000,\"event\":\"starting\",\"service\":\"app\"}\n"
      "{\"seq\":3,\"mono_us\":400000002000,\"event\":\"started\",\"service\":\"app\"}\n"));
  EXPECT_FALSE(has_kernel_phase(boot));
  const std::string svg = boot_chart_svg(boot);
  EXPECT_EQ(svg.find(">kernel<"), std::string::npos);
  EXPECT_NE(svg.find(">app<"), std::string::npos);
  EXPECT_EQ(summary_text(boot).find("kernel"), std::string::npos);
}

TEST(ConsoleEvents, CollectsMarkedLinesAcrossChunks) {
  ConsoleEventCollector c;
  const std::string console =
      "[    0.812345] Run /init as init process\r\n"
      "keel-event: {\"seq\":1,\"mono_us\":812400,\"event\":\"keel-start\"}\r\n"
      "[    0.9] random: crng init done\n"
      "[    0.95] somethingkeel-event: {\"seq\":2,\"mono_us\":950000,\"event\":\"rng-ready\"}\n"
      "keel: started\n"
      "keel-event: {\"seq\":3,\"mono_us\":990000,\"event\":\"starting\",\"service\":\"web\"}";
  for (char ch : console) c.feed(std::string_view(&ch, 1));  // the worst split: byte by byte
  EXPECT_EQ(c.count(), 2U);
  c.finish();
  EXPECT_EQ(c.count(), 3U);
  const EventRecord r = parse_event_lines(c.lines());
  ASSERT_EQ(r.events.size(), 3U);
  EXPECT_EQ(r.events[1].name, "rng-ready");
  EXPECT_EQ(r.events[2].service, "web");
  EXPECT_EQ(r.malformed, 0U);
}

}  // namespace
}  // namespace keel::analyze

namespace keel::image {
namespace {

TEST(BootChartCapture, TeeWritesThroughAndCollects) {
  std::ostringstream shown;
  analyze::ConsoleEventCollector collector;
  ConsoleTee tee(shown, collector);
  const std::string a = "boot\nkeel-event: {\"seq\":1,\"mono_us\":5,";
  const std::string b = "\"event\":\"keel-start\"}\nkeel-event: {\"seq\":2,\"mono_us\":9,\"event\":\"starting\",\"service\":\"w\"}\n";
  tee.write(a.data(), static_cast<std::streamsize>(a.size()));
  tee.flush();
  tee << b;
  tee.flush();
  EXPECT_EQ(shown.str(), a + b);
  EXPECT_EQ(collector.count(), 2U);

  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("keel-analyze-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ostringstream log;
  EXPECT_EQ(write_boot_analysis(collector, dir / "boot.svg", dir / "boot.events", log), 2U);
  std::ifstream events(dir / "boot.events");
  std::string first;
  std::getline(events, first);
  EXPECT_EQ(first, "{\"seq\":1,\"mono_us\":5,\"event\":\"keel-start\"}");
  std::ifstream svg(dir / "boot.svg");
  std::stringstream svg_text;
  svg_text << svg.rdbuf();
  EXPECT_NE(svg_text.str().find(">w<"), std::string::npos);
  EXPECT_NE(log.str().find("boot chart written to"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(BootChartCapture, SaysSoWhenTheGuestWroteNoEvents) {
  analyze::ConsoleEventCollector collector;
  collector.feed("Linux version 6.1\nkeel: started\n");
  collector.finish();
  std::ostringstream log;
  EXPECT_EQ(write_boot_analysis(collector, {}, {}, log), 0U);
  EXPECT_NE(log.str().find("no `keel-event:` lines"), std::string::npos);
}

}  // namespace
}  // namespace keel::image

namespace keel::control {
namespace {

TEST(KeelctlAnalyze, RecognisedAfterGlobalOptions) {
  EXPECT_TRUE(is_analyze_command({"analyze", "blame"}));
  EXPECT_TRUE(is_analyze_command({"--socket", "/tmp/s", "analyze", "plot"}));
  EXPECT_FALSE(is_analyze_command({"--socket", "analyze", "status"}));
  EXPECT_FALSE(is_analyze_command({"status", "analyze"}));
}

TEST(KeelctlAnalyze, ParsesEachReport) {
  AnalyzeCommand c = parse_analyze("keelctl", {"analyze", "critical-chain", "web", "--input", "f.events"}, nullptr);
  EXPECT_EQ(c.exit_code, -1);
  EXPECT_EQ(c.action, "critical-chain");
  EXPECT_EQ(c.service, "web");
  EXPECT_EQ(c.input, "f.events");
  c = parse_analyze("keelctl", {"--socket=/tmp/k.sock", "analyze", "plot"}, nullptr);
  EXPECT_EQ(c.socket_path, "/tmp/k.sock");
  EXPECT_TRUE(c.input.empty());
  c = parse_analyze("keelctl", {"analyze", "blame"}, "/env.sock");
  EXPECT_EQ(c.socket_path, "/env.sock");
  EXPECT_EQ(parse_analyze("keelctl", {"analyze", "blame", "web"}, nullptr).exit_code, kUsageExit);
  EXPECT_EQ(parse_analyze("keelctl", {"analyze", "graph"}, nullptr).exit_code, kUsageExit);
  EXPECT_EQ(parse_analyze("keelctl", {"analyze"}, nullptr).exit_code, kUsageExit);
  EXPECT_EQ(parse_analyze("keelctl", {"analyze", "plot", "--input"}, nullptr).exit_code, kUsageExit);
  c = parse_analyze("keelctl", {"analyze", "--help"}, nullptr);
  EXPECT_EQ(c.exit_code, 0);
  EXPECT_NE(c.message.find("keelctl analyze critical-chain [SERVICE]"), std::string::npos);
}

TEST(KeelctlAnalyze, ReportsAndExitCodes) {
  const analyze::EventRecord record = analyze::parse_event_lines(
      "{\"seq\":1,\"mono_us\":10,\"event\":\"keel-start\"}\n"
      "{\"seq\":2,\"mono_us\":20,\"event\":\"starting\",\"service\":\"a\"}\n"
      "{\"seq\":3,\"mono_us\":30,\"event\":\"ready\",\"service\":\"a\"}\n"
      "garbage\n");
  AnalyzeCommand c;
  c.action = "critical-chain";
  std::string out;
  std::string err;
  EXPECT_EQ(analyze_report(c, record, out, err), 0);
  EXPECT_NE(out.find("a @10us +10us"), std::string::npos) << out;
  EXPECT_NE(err.find("1 line(s) that are not events skipped"), std::string::npos);
  c.service = "nope";
  out.clear();
  EXPECT_EQ(analyze_report(c, record, out, err), static_cast<int>(Code::NoService));
  c.action = "blame";
  EXPECT_EQ(analyze_report(c, analyze::parse_event_lines("{\"seq\":1,\"mono_us\":10,\"event\":\"keel-start\"}\n"), out,
                           err),
            1);
  // The I2 request on the wire: Events is verb 12, since-boot flag 8 (docs/events.md).
  EXPECT_EQ(static_cast<int>(Verb::Events), 12);
  EXPECT_EQ(kFlagSinceBoot, 1U << 3);
}

}  // namespace
}  // namespace keel::control
