// keelctl_fuzz.cpp — libFuzzer target: keelctl's command line
// (control::parse_keelctl).
//
// The input split on NUL is argv after the program name. When the first
// word starts with '\x01', the rest of that word is $KEEL_CONTROL_SOCKET
// (and it is not an argument). Properties: a refusal or --help has a
// message; an accepted command line gives a request keel's decoder takes
// unchanged (keelctl never sends what keel would refuse as malformed).
#include <cstdint>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "control/keelctl.hpp"
#include "control/protocol.hpp"
#include "core/limits.hpp"
#include "fuzz_util.hpp"

namespace {
using keel::fuzz::property_failed;
using namespace keel::control;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  try {
    std::vector<std::string> args = keel::fuzz::split_nul(input);
    std::string env;
    bool have_env = false;
    if (!args.empty() && !args.front().empty() && args.front()[0] == '\x01') {
      env = args.front().substr(1);
      have_env = true;
      args.erase(args.begin());
    }
    KeelctlCommand c = parse_keelctl("keelctl", args, have_env ? env.c_str() : nullptr);
    if (c.exit_code >= 0) {
      if (c.message.empty()) property_failed("keelctl: an exit without a message");
      return 0;
    }
    if (c.socket_path.empty()) property_failed("keelctl: no socket path");
    if (c.reply_timeout_ms < -1) property_failed("keelctl: a negative reply timeout");

    std::string frame = encode_request(c.request);
    FrameDecoder decoder(keel::limits::kControlMaxRequest);
    std::string_view in = frame;
    if (decoder.feed(in) != FrameDecoder::Result::Frame) property_failed("keelctl: its request frame is refused");
    Request got;
    if (decode_request(decoder.payload(), got) != Reject::None) property_failed("keelctl: its request is refused");
    if (got.verb != c.request.verb || got.flags != c.request.flags || got.lines != c.request.lines ||
        got.timeout_ms != c.request.timeout_ms || got.args != c.request.args) {
      property_failed("keelctl: its request decodes differently");
    }
  } catch (const std::bad_alloc&) {
  }
  return 0;
}
