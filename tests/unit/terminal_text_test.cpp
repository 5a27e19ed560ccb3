// core/terminal_text: what a service controls, made safe for a terminal;
// and the status JSON's quoting, which must stay valid UTF-8.
#include <gtest/gtest.h>

#include <string>

#include "control/status.hpp"
#include "core/terminal_text.hpp"

namespace keel::terminal_text {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

TEST(TerminalText, PlainTextAndWellFormedUtf8PassUnchanged) {
  EXPECT_EQ(escaped("serving 42 clients"), "serving 42 clients");
  EXPECT_EQ(escaped("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF"),
            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF");
  EXPECT_EQ(escaped("back\\slash"), "back\\slash");  // not an escape language
}

TEST(TerminalText, C0ControlsAndDelBecomeVisibleEscapes) {
  EXPECT_EQ(escaped("\x1b[2J\x1b]0;owned\x07"), "\\x1b[2J\\x1b]0;owned\\a");
  EXPECT_EQ(escaped(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(escaped("\t\n\r\b\f\v"), "\\t\\n\\r\\b\\f\\v");
  EXPECT_EQ(escaped("\x7f\x01\x1f"), "\\x7f\\x01\\x1f");
  EXPECT_EQ(escaped("a\tb\nc\x1b", kKeepNewline | kKeepTab), "a\tb\nc\\x1b");
}

TEST(TerminalText, C1ControlsAsUtf8BecomeEscapes) {
  // U+009B is a one-character CSI on terminals that honour C1.
  EXPECT_EQ(escaped("\xC2\x9B" "31m"), "\\u009b31m");
  EXPECT_EQ(escaped("\xC2\x80\xC2\x9F\xC2\xA0"), "\\u0080\\u009f\xC2\xA0");  // U+00A0 is printable
}

TEST(TerminalText, IllFormedUtf8BecomesOneReplacementPerMaximalSubpart) {
  EXPECT_EQ(escaped("\x9B"), kFffd);                      // a raw C1 byte is a stray continuation
  EXPECT_EQ(escaped("\xC0\xAF"), kFffd + kFffd);          // overlong '/'
  EXPECT_EQ(escaped("\xE0\x80\xAF"), kFffd + kFffd + kFffd);  // overlong, 3 bytes
  EXPECT_EQ(escaped("\xF0\x8F\xBF\xBF"), kFffd + kFffd + kFffd + kFffd);
  EXPECT_EQ(escaped("\xED\xA0\x80"), kFffd + kFffd + kFffd);  // a surrogate (U+D800)
  EXPECT_EQ(escaped("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // past U+10FFFF
  EXPECT_EQ(escaped("\xF5\xFF"), kFffd + kFffd);
  EXPECT_EQ(escaped("\xE2\x82" "x"), kFffd + "x");        // cut short: one subpart
  EXPECT_EQ(escaped("ok\xF0\x9F\x98"), "ok" + kFffd);      // cut at the end
}

TEST(TerminalText, TheBufferFormCutsBetweenPiecesNeverInsideOne) {
  char buf[8];
  EXPECT_EQ(escape("abc", buf, sizeof buf), 3U);
  EXPECT_STREQ(buf, "abc");
  EXPECT_EQ(escape("abcdefghij", buf, sizeof buf), 7U);
  EXPECT_STREQ(buf, "abcdefg");
  EXPECT_EQ(escape("abcde\x1b", buf, sizeof buf), 5U);  // "\x1b" does not fit whole
  EXPECT_STREQ(buf, "abcde");
  EXPECT_EQ(escape("abcdef\xE2\x82\xAC", buf, sizeof buf), 6U);
  EXPECT_STREQ(buf, "abcdef");
  EXPECT_EQ(escape("x", buf, 0), 0U);
}

TEST(TerminalText, StatusViewsEscapeWhatServicesControl) {
  control::ServiceStatus s;
  s.name = "web";
  s.state = "running";
  s.last_error = "status: \x1b[31mred\x1b[0m \xC2\x9B" "2J \xFF";
  std::string detail = control::format_status_detail(s);
  EXPECT_EQ(detail.find('\x1b'), std::string::npos) << detail;
  EXPECT_NE(detail.find("status: \\x1b[31mred\\x1b[0m \\u009b2J " + kFffd), std::string::npos) << detail;
  std::string table = control::format_status_table({s, s});
  EXPECT_EQ(table.find('\x1b'), std::string::npos) << table;
  EXPECT_EQ(table.find("\xC2\x9B"), std::string::npos) << table;
}

TEST(TerminalText, JsonQuotingEscapesEveryControlAndStaysValidUtf8) {
  EXPECT_EQ(control::json_quote("a\"b\\c\n\x1b\x7f"), "\"a\\\"b\\\\c\\n\\u001b\\u007f\"");
  EXPECT_EQ(control::json_quote("\xC2\x9B\xC3\xA9"), "\"\\u009b\xC3\xA9\"");
  EXPECT_EQ(control::json_quote("x\xFFy\xED\xA0\x80"), "\"x" + kFffd + "y" + kFffd + kFffd + kFffd + "\"");
  // Whatever goes in, what comes out decodes as UTF-8 without a gap.
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  std::string q = control::json_quote(all);
  for (std::size_t i = 0; i < q.size();) {
    CodePoint cp = decode_utf8(q, i);
    ASSERT_NE(cp.value, kInvalid) << "at " << i;
    ASSERT_GE(cp.value, 0x20) << "raw control at " << i;
    i += cp.length;
  }
}

}  // namespace
}  // namespace keel::terminal_text
