// Unit tests for control/protocol and control/status: frames and requests
// round-trip for every verb, every reject reason has its own message,
// decoding works byte by byte, and the status texts and JSON are right.
#include "control/protocol.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "control/status.hpp"
#include "core/limits.hpp"

namespace keel::control {
namespace {

const Verb kAllVerbs[] = {Verb::Status, Verb::Start,  Verb::Stop,     Verb::Restart, Verb::Signal, Verb::Log,
                          Verb::Wait,   Verb::Reload, Verb::Poweroff, Verb::Reboot,  Verb::Halt};

// Decode one whole frame from `bytes`; the frame's payload, or the reject.
struct Decoded {
  FrameDecoder::Result result = FrameDecoder::Result::NeedMore;
  FrameType type = FrameType::Request;
  std::string payload;
  Reject error = Reject::None;
  std::size_t consumed = 0;
};

Decoded decode_all(const std::string& bytes, std::size_t max = limits::kControlMaxRequest) {
  FrameDecoder d(max);
  std::string_view in = bytes;
  Decoded out;
  out.result = d.feed(in);
  out.type = d.type();
  out.payload = std::string(d.payload());
  out.error = d.error();
  out.consumed = bytes.size() - in.size();
  return out;
}

std::string le16(unsigned v) { return {static_cast<char>(v & 0xFF), static_cast<char>((v >> 8) & 0xFF)}; }
std::string le32(std::uint32_t v) { return le16(v & 0xFFFF) + le16(v >> 16); }

std::string header(std::uint32_t magic, unsigned version, unsigned type, std::uint32_t length) {
  return le32(magic) + le16(version) + le16(type) + le32(length);
}

// A request payload built field by field, to make malformed ones.
std::string request_payload(unsigned verb, std::uint32_t flags, const std::vector<std::string>& args,
                            unsigned argc_override = 0xFFFFFFFF) {
  std::string p = le16(verb) + le32(flags) + le32(7) + le32(1500);
  p += le16(argc_override != 0xFFFFFFFF ? argc_override : static_cast<unsigned>(args.size()));
  for (const std::string& a : args) p += le16(static_cast<unsigned>(a.size())) + a;
  return p;
}

TEST(ControlProtocol, HeaderLayoutIsLittleEndian) {
  std::string f = encode_data("xy");
  ASSERT_EQ(f.size(), kHeaderSize + 2);
  EXPECT_EQ(f.substr(0, 4), "KEEL");
  EXPECT_EQ(f.substr(4, 2), le16(kProtocolVersion));
  EXPECT_EQ(f.substr(6, 2), le16(static_cast<unsigned>(FrameType::Data)));
  EXPECT_EQ(f.substr(8, 4), le32(2));
  EXPECT_EQ(f.substr(12), "xy");
}

TEST(ControlProtocol, EveryVerbRoundTrips) {
  for (Verb verb : kAllVerbs) {
    Request r;
    r.verb = verb;
    r.flags = kFlagJson | kFlagReady;
    r.lines = 42;
    r.timeout_ms = 2500;
    r.args = {"svc", std::string("with space and \xC3\xA9"), ""};
    Decoded d = decode_all(encode_request(r));
    ASSERT_EQ(d.result, FrameDecoder::Result::Frame) << verb_name(verb);
    EXPECT_EQ(d.type, FrameType::Request);
    Request back;
    ASSERT_EQ(decode_request(d.payload, back), Reject::None) << verb_name(verb);
    EXPECT_EQ(back.verb, verb);
    EXPECT_EQ(back.flags, r.flags);
    EXPECT_EQ(back.lines, 42U);
    EXPECT_EQ(back.timeout_ms, 2500U);
    EXPECT_EQ(back.args, r.args);
    EXPECT_STRNE(verb_name(verb), "?");
  }
}

TEST(ControlProtocol, FinalAndDataRoundTrip) {
  Decoded d = decode_all(encode_final(Code::NoService, "no such service: web"));
  ASSERT_EQ(d.result, FrameDecoder::Result::Frame);
  EXPECT_EQ(d.type, FrameType::Final);
  Code code = Code::Ok;
  std::string_view body;
  ASSERT_EQ(decode_final(d.payload, code, body), Reject::None);
  EXPECT_EQ(code, Code::NoService);
  EXPECT_EQ(body, "no such service: web");

  Decoded e = decode_all(encode_final(Code::Ok, ""));
  ASSERT_EQ(decode_final(e.payload, code, body), Reject::None);
  EXPECT_EQ(code, Code::Ok);
  EXPECT_TRUE(body.empty());
  EXPECT_EQ(decode_final("", code, body), Reject::Truncated);

  Decoded data = decode_all(encode_data("line 1\nline 2\n"));
  EXPECT_EQ(data.type, FrameType::Data);
  EXPECT_EQ(data.payload, "line 1\nline 2\n");
}

TEST(ControlProtocol, ByteByByteDecodingStopsAtEachFrame) {
  Request r;
  r.verb = Verb::Log;
  r.flags = kFlagFollow;
  r.args = {"web"};
  std::string stream = encode_data("a") + encode_request(r) + encode_final(Code::Ok, "done");
  FrameDecoder d(limits::kControlMaxRequest);
  std::vector<std::pair<FrameType, std::string>> frames;
  for (char ch : stream) {
    std::string_view in(&ch, 1);
    FrameDecoder::Result res = d.feed(in);
    EXPECT_TRUE(in.empty());
    ASSERT_NE(res, FrameDecoder::Result::Error);
    if (res == FrameDecoder::Result::Frame) frames.emplace_back(d.type(), std::string(d.payload()));
    EXPECT_EQ(d.mid_frame(), res == FrameDecoder::Result::NeedMore);
  }
  ASSERT_EQ(frames.size(), 3U);
  EXPECT_EQ(frames[0].first, FrameType::Data);
  EXPECT_EQ(frames[0].second, "a");
  Request back;
  ASSERT_EQ(decode_request(frames[1].second, back), Reject::None);
  EXPECT_EQ(back.verb, Verb::Log);
  EXPECT_EQ(back.args, std::vector<std::string>{"web"});
  EXPECT_EQ(frames[2].first, FrameType::Final);
}

TEST(ControlProtocol, TwoFramesInOneBufferComeOneAtATime) {
  std::string both = encode_data("one") + encode_data("two");
  FrameDecoder d(100);
  std::string_view in = both;
  ASSERT_EQ(d.feed(in), FrameDecoder::Result::Frame);
  EXPECT_EQ(d.payload(), "one");
  EXPECT_EQ(in.size(), kHeaderSize + 3);
  ASSERT_EQ(d.feed(in), FrameDecoder::Result::Frame);
  EXPECT_EQ(d.payload(), "two");
  EXPECT_TRUE(in.empty());
  EXPECT_EQ(d.feed(in), FrameDecoder::Result::NeedMore);
}

TEST(ControlProtocol, BadMagicIsRefusedAtItsFourthByte) {
  std::string garbage = "GET / HTTP/1.1\r\n\r\n";
  Decoded d = decode_all(garbage);
  EXPECT_EQ(d.result, FrameDecoder::Result::Error);
  EXPECT_EQ(d.error, Reject::BadMagic);
  EXPECT_EQ(d.consumed, 4U);
  // The error is sticky: no more bytes are taken.
  FrameDecoder dec(100);
  std::string_view in = garbage;
  EXPECT_EQ(dec.feed(in), FrameDecoder::Result::Error);
  EXPECT_EQ(dec.feed(in), FrameDecoder::Result::Error);
}

TEST(ControlProtocol, UnknownVersionSaysWhichOneIsSpoken) {
  Decoded d = decode_all(header(kMagic, 7, 1, 0));
  EXPECT_EQ(d.error, Reject::BadVersion);
  FrameDecoder dec(100);
  std::string h = header(kMagic, 7, 1, 0);
  std::string_view in = h;
  (void)dec.feed(in);
  EXPECT_EQ(dec.seen_version(), 7);
  std::string text = reject_message(Reject::BadVersion, dec.seen_version());
  EXPECT_NE(text.find("version 7"), std::string::npos) << text;
  EXPECT_NE(text.find("speaks version 1"), std::string::npos) << text;
}

TEST(ControlProtocol, OversizeLengthIsRefusedFromTheHeader) {
  Decoded d = decode_all(header(kMagic, 1, 1, static_cast<std::uint32_t>(limits::kControlMaxRequest + 1)));
  EXPECT_EQ(d.result, FrameDecoder::Result::Error);
  EXPECT_EQ(d.error, Reject::Oversize);
  Decoded huge = decode_all(header(kMagic, 1, 1, 0xFFFFFFFFU));
  EXPECT_EQ(huge.error, Reject::Oversize);
  // Exactly the bound is fine (the payload is just not there yet).
  Decoded edge = decode_all(header(kMagic, 1, 1, static_cast<std::uint32_t>(limits::kControlMaxRequest)));
  EXPECT_EQ(edge.result, FrameDecoder::Result::NeedMore);
}

TEST(ControlProtocol, UnknownFrameTypeIsRefused) {
  EXPECT_EQ(decode_all(header(kMagic, 1, 0, 0)).error, Reject::BadFrameType);
  EXPECT_EQ(decode_all(header(kMagic, 1, 9, 0)).error, Reject::BadFrameType);
}

TEST(ControlProtocol, EveryRequestRejectReason) {
  Request out;
  EXPECT_EQ(decode_request(request_payload(1, 0, {"a"}), out), Reject::None);
  EXPECT_EQ(decode_request(request_payload(0, 0, {}), out), Reject::UnknownVerb);
  EXPECT_EQ(decode_request(request_payload(12, 0, {}), out), Reject::None);  // events
  EXPECT_EQ(decode_request(request_payload(13, 0, {}), out), Reject::UnknownVerb);
  EXPECT_EQ(decode_request(request_payload(1, 1U << 9, {}), out), Reject::UnknownFlags);
  // Truncated: inside the fixed fields, inside an arg's length, inside its bytes.
  std::string p = request_payload(1, 0, {"abcdef"});
  EXPECT_EQ(decode_request(p.substr(0, 5), out), Reject::Truncated);
  EXPECT_EQ(decode_request(p.substr(0, 17), out), Reject::Truncated);
  EXPECT_EQ(decode_request(p.substr(0, p.size() - 1), out), Reject::Truncated);
  EXPECT_EQ(decode_request(request_payload(1, 0, {"a"}, 2), out), Reject::Truncated);
  EXPECT_EQ(decode_request(p + "x", out), Reject::Trailing);
  std::vector<std::string> many(limits::kControlMaxArgs + 1, "s");
  EXPECT_EQ(decode_request(request_payload(1, 0, many), out), Reject::TooManyArgs);
  std::vector<std::string> enough(limits::kControlMaxArgs, "s");
  EXPECT_EQ(decode_request(request_payload(1, 0, enough), out), Reject::None);
  EXPECT_EQ(decode_request(request_payload(1, 0, {std::string(limits::kControlMaxArgLength + 1, 'x')}), out),
            Reject::ArgTooLong);
  EXPECT_EQ(decode_request(request_payload(1, 0, {std::string(limits::kControlMaxArgLength, 'x')}), out),
            Reject::None);
  EXPECT_EQ(decode_request(request_payload(1, 0, {std::string("a\0b", 3)}), out), Reject::BadArg);
  EXPECT_EQ(decode_request("", out), Reject::Truncated);
}

TEST(ControlProtocol, EveryRejectHasItsOwnMessage) {
  std::set<std::string> seen;
  for (int r = 1; r <= static_cast<int>(Reject::NoMemory); ++r) {
    std::string text = reject_message(static_cast<Reject>(r), 3);
    EXPECT_FALSE(text.empty());
    EXPECT_TRUE(seen.insert(text).second) << "duplicate: " << text;
  }
}

TEST(ControlProtocol, NoFrameBoundaryConfusionAfterAnError) {
  // A valid header followed by a short payload: the decoder waits.
  Decoded d = decode_all(header(kMagic, 1, 1, 10) + "abc");
  EXPECT_EQ(d.result, FrameDecoder::Result::NeedMore);
}

TEST(ControlProtocol, RandomBytesNeverBreakTheDecoders) {
  // A cheap stand-in for a fuzzer: mutated valid requests and pure noise,
  // fed whole and in random pieces; every outcome must be a frame, a wait
  // for more, or one of the rejects, never a crash or a hang.
  std::uint64_t seed = 0x9E3779B97F4A7C15ULL;
  auto next = [&seed] {
    seed ^= seed << 13U;
    seed ^= seed >> 7U;
    seed ^= seed << 17U;
    return seed;
  };
  Request base;
  base.verb = Verb::Signal;
  base.args = {"web", "TERM"};
  const std::string valid = encode_request(base);
  int frames = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string bytes = valid;
    if (round % 2 == 0) {
      for (int flips = 1 + static_cast<int>(next() % 4); flips > 0; --flips) {
        bytes[next() % bytes.size()] = static_cast<char>(next());
      }
    } else {
      bytes.resize(next() % 64);
      for (char& c : bytes) c = static_cast<char>(next());
      if (bytes.size() >= 8 && next() % 2 == 0) bytes.replace(0, 6, valid.substr(0, 6));  // past the magic
    }
    FrameDecoder d(limits::kControlMaxRequest);
    std::string_view in = bytes;
    while (!in.empty()) {
      std::string_view piece = in.substr(0, 1 + next() % 8);
      in.remove_prefix(piece.size());
      FrameDecoder::Result r = d.feed(piece);
      if (r == FrameDecoder::Result::Error) break;
      if (r == FrameDecoder::Result::Frame) {
        ++frames;
        Request out;
        Reject reject = decode_request(d.payload(), out);
        EXPECT_LE(static_cast<int>(reject), static_cast<int>(Reject::NoMemory));
        if (reject == Reject::None) {
          EXPECT_LE(out.args.size(), limits::kControlMaxArgs);
        }
        break;
      }
    }
  }
  EXPECT_GT(frames, 0) << "some mutations keep the header intact";
}

// ------------------------------------------------------------- status

ServiceStatus sample(const std::string& name) {
  ServiceStatus s;
  s.name = name;
  s.state = "running";
  s.pid = 123;
  s.uptime_ns = 3725LL * 1'000'000'000;
  s.restarts = 2;
  s.last_exit = "killed by SIGSEGV";
  s.ready = true;
  s.readiness = "notify";
  return s;
}

TEST(ControlStatus, Durations) {
  EXPECT_EQ(format_duration(0), "-");
  EXPECT_EQ(format_duration(12'500'000'000), "12s");
  EXPECT_EQ(format_duration(247LL * 1'000'000'000), "4m07s");
  EXPECT_EQ(format_duration(3725LL * 1'000'000'000), "1h02m");
  EXPECT_EQ(format_duration((3 * 86400LL + 4 * 3600) * 1'000'000'000), "3d4h");
}

TEST(ControlStatus, TableHasOneAlignedLinePerService) {
  ServiceStatus b = sample("database-long-name");
  b.state = "failed";
  b.pid = 0;
  b.uptime_ns = 0;
  b.ready = false;
  b.readiness = "";
  b.last_error = "exec failed: No such file or directory";
  std::string t = format_status_text({sample("web"), b});
  EXPECT_EQ(t,
            "NAME                STATE    PID  UPTIME  RESTARTS  LAST EXIT          READY         LAST ERROR\n"
            "web                 running  123  1h02m   2         killed by SIGSEGV  yes (notify)  -\n"
            "database-long-name  failed   -    -       2         killed by SIGSEGV  no            exec failed: No "
            "such file or directory\n");
  EXPECT_EQ(format_status_text({}), "no services\n");
  // A plain `status` on a system with one service is still a table.
  std::string one = format_status_table({sample("web")});
  EXPECT_EQ(one.rfind("NAME ", 0), 0U) << one;
  EXPECT_EQ(std::count(one.begin(), one.end(), '\n'), 2);
  EXPECT_EQ(format_status_text({sample("web")}), format_status_detail(sample("web")));
}

TEST(ControlStatus, DetailViewForOneService) {
  ServiceStatus s = sample("web");
  s.description = "the web server";
  s.log_dropped = 5;
  std::string t = format_status_text({s});
  EXPECT_NE(t.find("service:     web\n"), std::string::npos) << t;
  EXPECT_NE(t.find("description: the web server\n"), std::string::npos) << t;
  EXPECT_NE(t.find("pid:         123\n"), std::string::npos) << t;
  EXPECT_NE(t.find("uptime:      1h02m\n"), std::string::npos) << t;
  EXPECT_NE(t.find("last exit:   killed by SIGSEGV\n"), std::string::npos) << t;
  EXPECT_NE(t.find("ready:       yes (notify)\n"), std::string::npos) << t;
  EXPECT_NE(t.find("log dropped: 5 lines\n"), std::string::npos) << t;
}

TEST(ControlStatus, JsonEscapesStrings) {
  EXPECT_EQ(json_quote("a\"b\\c\nd\te\x01\x7f"), "\"a\\\"b\\\\c\\nd\\te\\u0001\\u007f\"");
  EXPECT_EQ(json_quote("caf\xC3\xA9"), "\"caf\xC3\xA9\"");
  ServiceStatus s = sample("we\"b");
  s.last_error = "line1\nline2";
  std::string j = format_status_json({s});
  EXPECT_EQ(j,
            "[\n  {\"name\": \"we\\\"b\", \"description\": \"\", \"state\": \"running\", \"pid\": 123, \"uptime_s\": 3725, "
            "\"uptime_ns\": 3725000000000, \"restarts\": 2, \"last_exit\": \"killed by SIGSEGV\", \"ready\": true, "
            "\"readiness\": \"notify\", \"last_error\": \"line1\\nline2\", \"log_dropped\": 0, \"notify_refused\": 0, \"notify_refusal\": \"\", "
            "\"errno\": 0, \"errno_text\": \"\", "
            "\"health\": \"\", \"health_since_ns\": 0, \"probe\": \"\", \"probe_result\": \"\", \"probe_output\": \"\", "
            "\"log_file\": \"\", \"essential\": \"\", \"on_exit\": \"\", \"on_failure\": \"\", \"critical\": false, "
            "\"sockets\": [], \"sockets_open\": false, \"start_on_connection\": false, \"fd_store\": [], "
            "\"fd_store_max\": 0, \"keel_output_lost\": 0}\n]\n");
  EXPECT_EQ(format_status_json({}), "[]\n");
}

// Health (issue 12): a HEALTH column only when a service has one, the
// detail view's health and last probe lines, the JSON fields; a probe's
// output escaped in each.
TEST(ControlStatus, HealthAndProbeOutputAreShownEscaped) {
  EXPECT_EQ(format_status_table({sample("web")}).find("HEALTH"), std::string::npos);
  ServiceStatus s = sample("web");
  s.health = "unhealthy";
  s.health_since_ns = 1'800'000'000'000'000'000;  // 2027-01-15 08:00:00 UTC
  s.probe_kind = "liveness";
  s.probe_result = "failed: exited 3";
  s.probe_output = "bad \x1b[31mred\n\"q\"";
  const std::string t = format_status_table({s, sample("db")});
  EXPECT_NE(t.find("HEALTH"), std::string::npos) << t;
  EXPECT_NE(t.find("unhealthy since 2027-01-15 08:00:00 UTC"), std::string::npos) << t;
  const std::string d = format_status_detail(s);
  EXPECT_NE(d.find("health:      unhealthy since 2027-01-15 08:00:00 UTC\n"), std::string::npos) << d;
  EXPECT_NE(d.find("last probe:  liveness: failed: exited 3\n"), std::string::npos) << d;
  EXPECT_NE(d.find("probe output: bad \\x1b[31mred\\n\"q\"\n"), std::string::npos) << d;
  EXPECT_EQ(d.find('\x1b'), std::string::npos) << d;
  const std::string j = format_status_json({s});
  EXPECT_NE(j.find("\"health\": \"unhealthy\", \"health_since_ns\": 1800000000000000000, \"probe\": \"liveness\", "
                   "\"probe_result\": \"failed: exited 3\", \"probe_output\": \"bad \\u001b[31mred\\n\\\"q\\\"\""),
            std::string::npos)
      << j;
}

// keel's own lost output (core/log_output.hpp): keel-wide, a last line of
// the table and the detail view when not 0, and in every JSON object.
TEST(ControlStatus, KeelsLostOutputIsShownWhenThereIsAny) {
  KeelStatus keel;
  keel.output_lost = 1234;
  const std::string line = "keel: 1234 lines of its own output lost (console or log not accepting output)\n";
  std::string t = format_status_table({sample("web"), sample("db")}, keel);
  EXPECT_GE(t.size(), line.size());
  EXPECT_EQ(t.substr(t.size() - line.size()), line) << t;
  EXPECT_EQ(format_status_table({}, keel), "no services\n" + line);
  std::string d = format_status_detail(sample("web"), keel);
  EXPECT_EQ(d.substr(d.size() - line.size()), line) << d;
  std::string j = format_status_json({sample("web"), sample("db")}, keel);
  std::size_t first = j.find("\"keel_output_lost\": 1234}");
  ASSERT_NE(first, std::string::npos) << j;
  EXPECT_NE(j.find("\"keel_output_lost\": 1234}", first + 1), std::string::npos) << "in every object: " << j;
  // None lost: the table is as it always was.
  EXPECT_EQ(format_status_table({sample("web")}, KeelStatus{}), format_status_table({sample("web")}));
  EXPECT_EQ(format_status_table({sample("web")}).find("lost"), std::string::npos);
}

// What a service's end does to the system, its sockets and its fd store:
// shown only when set (the usual detail view is unchanged), always in JSON.
TEST(ControlStatus, EssentialSocketsAndFdStore) {
  const std::string plain = format_status_detail(sample("web"));
  for (const char* key : {"essential:", "on exit:", "on failure:", "critical:", "sockets:", "fd store:"}) {
    EXPECT_EQ(plain.find(key), std::string::npos) << key << " in\n" << plain;
  }
  ServiceStatus s = sample("web");
  s.essential = "true";
  s.on_failure = "exit";
  s.on_exit = "poweroff";
  s.critical = true;
  s.sockets = {{"tcp:127.0.0.1:8000", "web"}, {"unix:/run/web.sock", "ctl\x1b[2J"}};
  s.sockets_open = true;
  s.on_connection = true;
  s.fd_store = {"db", "cache"};
  s.fd_store_max = 8;
  const std::string d = format_status_detail(s);
  EXPECT_NE(d.find("essential:   true\n"), std::string::npos) << d;
  EXPECT_NE(d.find("on exit:     poweroff\n"), std::string::npos) << d;
  EXPECT_NE(d.find("on failure:  exit\n"), std::string::npos) << d;
  EXPECT_NE(d.find("critical:    true"), std::string::npos) << d;
  EXPECT_NE(d.find("sockets:     tcp:127.0.0.1:8000 (web), unix:/run/web.sock (ctl\\x1b[2J); open, the service "
                   "starts on the first connection\n"),
            std::string::npos)
      << d;
  EXPECT_NE(d.find("fd store:    2 of 8 fds (db, cache)\n"), std::string::npos) << d;
  s.fd_store.clear();
  s.sockets_open = false;
  s.on_connection = false;
  const std::string empty = format_status_detail(s);
  EXPECT_NE(empty.find("fd store:    0 of 8 fds\n"), std::string::npos) << empty;
  EXPECT_NE(empty.find("(ctl\\x1b[2J); not open\n"), std::string::npos) << empty;

  s.fd_store = {"db"};
  const std::string j = format_status_json({s});
  EXPECT_NE(j.find(R"("essential": "true", "on_exit": "poweroff", "on_failure": "exit", "critical": true, )"
                   R"("sockets": [{"listen": "tcp:127.0.0.1:8000", "name": "web"}, )"
                   R"({"listen": "unix:/run/web.sock", "name": "ctl\u001b[2J"}], "sockets_open": false, )"
                   R"("start_on_connection": false, "fd_store": ["db"], "fd_store_max": 8)"),
            std::string::npos)
      << j;
  const std::string none = format_status_json({sample("web")});
  EXPECT_NE(none.find(R"("sockets": [], "sockets_open": false, "start_on_connection": false, "fd_store": [], )"
                      R"("fd_store_max": 0)"),
            std::string::npos)
      << none;
}

TEST(ControlStatus, JsonIsValidForPython) {
  // Cross-check with a real JSON parser when python3 is there.
  if (std::system("command -v python3 >/dev/null 2>&1") != 0) GTEST_SKIP() << "no python3";
  ServiceStatus s = sample("x");
  s.description = std::string("tab\there \"quoted\" back\\slash \x02 ctl");
  s.sockets = {{"tcp:[::1]:80", "a\"b"}, {"udp:0.0.0.0:53", "dns"}};
  s.fd_store = {"one", "t\two"};
  s.fd_store_max = 4;
  std::string j = format_status_json({s, sample("y")});
  std::string path = testing::TempDir() + "/keel-status.json";
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fwrite(j.data(), 1, j.size(), f);
  std::fclose(f);
  std::string cmd = "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d)==2 and "
                    "d[0][\"description\"].startswith(\"tab\\t\") and d[0][\"sockets\"][0][\"name\"]==\"a\\\"b\" and "
                    "d[0][\"fd_store\"]==[\"one\",\"t\\two\"] and d[1][\"sockets\"]==[]' " + path;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << j;
  std::remove(path.c_str());
}

}  // namespace
}  // namespace keel::control
