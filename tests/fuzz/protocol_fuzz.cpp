// protocol_fuzz.cpp — libFuzzer target: the control protocol
// (control/protocol), as keel's server and keelctl read it off a socket.
//
// Input: byte 0 seeds how the stream is cut into pieces (a stream socket
// delivers bytes in arbitrary pieces), byte 1 bit 0 picks the decoder's
// payload bound (small, so Oversize is reachable, or the server's), the
// rest is the byte stream. Properties, each an abort on failure:
//  * fed in pieces, the decoder yields the same frames and the same error
//    as fed the whole stream at once;
//  * a Request payload that decodes re-encodes (encode_request) to a frame
//    that decodes to the same Request, with the same payload bytes (the
//    encoding is canonical);
//  * decode_final's body is the payload after the code byte.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "control/protocol.hpp"
#include "core/limits.hpp"
#include "fuzz_util.hpp"

namespace {

using keel::fuzz::property_failed;
using namespace keel::control;

struct Frame {
  FrameType type;
  std::string payload;
  bool operator==(const Frame&) const = default;
};

struct Outcome {
  std::vector<Frame> frames;
  Reject error = Reject::None;
  std::uint16_t seen_version = 0;
  bool mid_frame = false;
  bool operator==(const Outcome&) const = default;
};

bool same_request(const Request& a, const Request& b) {
  return a.verb == b.verb && a.flags == b.flags && a.lines == b.lines && a.timeout_ms == b.timeout_ms &&
         a.args == b.args;
}

void check_request(std::string_view payload) {
  Request request;
  Reject r = decode_request(payload, request);
  (void)reject_message(r);
  if (r != Reject::None) return;
  (void)verb_name(request.verb);
  std::string frame = encode_request(request);
  FrameDecoder decoder(keel::limits::kControlMaxRequest);
  std::string_view in = frame;
  if (decoder.feed(in) != FrameDecoder::Result::Frame || !in.empty()) {
    property_failed("re-encoded request: not exactly one frame");
  }
  if (decoder.type() != FrameType::Request) property_failed("re-encoded request: wrong frame type");
  if (decoder.payload() != payload) property_failed("re-encoded request: payload bytes differ");
  Request again;
  if (decode_request(decoder.payload(), again) != Reject::None) property_failed("re-encoded request: rejected");
  if (!same_request(request, again)) property_failed("re-encoded request: decodes to a different Request");
}

void look_at(const FrameDecoder& decoder, Outcome& out) {
  std::string_view payload = decoder.payload();
  out.frames.push_back({decoder.type(), std::string(payload)});
  switch (decoder.type()) {
    case FrameType::Request: check_request(payload); break;
    case FrameType::Final: {
      Code code{};
      std::string_view body;
      Reject r = decode_final(payload, code, body);
      if (r == Reject::None) {
        if (payload.empty() || body != payload.substr(1) || static_cast<unsigned char>(code) != static_cast<unsigned char>(payload[0])) {
          property_failed("decode_final: code/body do not match the payload");
        }
      } else if (!payload.empty()) {
        property_failed("decode_final: a non-empty payload rejected");
      }
      break;
    }
    case FrameType::Data: break;
  }
}

// Feed `piece`; false once the decoder is in its error state.
bool feed_piece(FrameDecoder& decoder, std::string_view piece, Outcome& out) {
  for (;;) {
    std::size_t before = piece.size();
    FrameDecoder::Result r = decoder.feed(piece);
    if (piece.size() > before) property_failed("feed: input grew");
    switch (r) {
      case FrameDecoder::Result::Frame: look_at(decoder, out); break;
      case FrameDecoder::Result::NeedMore:
        if (!piece.empty()) property_failed("feed: NeedMore with input left");
        return true;
      case FrameDecoder::Result::Error:
        out.error = decoder.error();
        out.seen_version = decoder.seen_version();
        if (out.error == Reject::None) property_failed("feed: Error without a reason");
        (void)reject_message(out.error, out.seen_version);
        return false;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  std::uint32_t seed = data[0] | 0x100U;
  std::size_t bound = (data[1] & 1) != 0 ? 256 : keel::limits::kControlMaxRequest;
  std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);

  Outcome whole;
  {
    FrameDecoder decoder(bound);
    if (feed_piece(decoder, stream, whole)) whole.mid_frame = decoder.mid_frame();
  }

  Outcome pieces;
  {
    FrameDecoder decoder(bound);
    std::string_view rest = stream;
    bool ok = true;
    while (ok && !rest.empty()) {
      // xorshift: pieces of 1..32 bytes, sometimes a large one.
      seed ^= seed << 13;
      seed ^= seed >> 17;
      seed ^= seed << 5;
      std::size_t n = (seed & 7) == 0 ? 4096 : 1 + (seed >> 8) % 32;
      if (n > rest.size()) n = rest.size();
      ok = feed_piece(decoder, rest.substr(0, n), pieces);
      rest.remove_prefix(n);
    }
    if (ok) pieces.mid_frame = decoder.mid_frame();
    // An empty feed changes nothing, in any state.
    std::string_view empty;
    if (ok && decoder.feed(empty) == FrameDecoder::Result::Frame) property_failed("feed: a frame from no bytes");
  }

  if (!(whole == pieces)) property_failed("decoding in pieces differs from decoding at once");
  return 0;
}
