// protocol.hpp — the wire format shared by keel's control server and keelctl.
//
// Every message is a frame: a 12-byte header then a payload.
//
//   offset 0  u32  magic   0x4C45454B ("KEEL" as bytes on the wire)
//   offset 4  u16  version kProtocolVersion
//   offset 6  u16  type    FrameType
//   offset 8  u32  length  payload bytes that follow
//
// All integers are little-endian, written byte by byte, so the format does
// not depend on the host. A connection carries one Request frame from the
// client, then any number of Data frames (streamed output: `log -f`) and one
// Final frame (a Code and a text body) from keel, which then closes.
//
// Request payload: u16 verb, u32 flags, u32 lines, u32 timeout_ms, u16 argc,
// then argc times (u16 length, bytes). Final payload: u8 code, then the body.
// Data payload: the chunk's bytes.
//
// Decoding is pure and noexcept (no sockets: unit-testable, fuzzable), and
// the decoder is incremental because a stream socket delivers bytes in
// arbitrary pieces. The header is checked before any payload byte is
// accepted, so an oversized length is refused without buffering it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "control/handler.hpp"

namespace keel::control {

inline constexpr std::uint32_t kMagic = 0x4C45454BU;  // "KEEL"
inline constexpr std::uint16_t kProtocolVersion = 1;
inline constexpr std::size_t kHeaderSize = 12;

enum class FrameType : std::uint16_t {
  Request = 1,  // client -> keel
  Data = 2,     // keel -> client: a streamed chunk
  Final = 3,    // keel -> client: Code + body, the last frame
};

// Why a frame or request was refused; each has its own message.
enum class Reject : std::uint8_t {
  None = 0,
  BadMagic,       // not a keel control frame
  BadVersion,     // a version this side does not speak
  Oversize,       // payload length above the bound
  BadFrameType,   // a type that is unknown or wrong in this direction
  UnknownVerb,
  UnknownFlags,   // flag bits this version does not define
  Truncated,      // the payload ends inside a field
  Trailing,       // bytes left after the last field
  TooManyArgs,
  ArgTooLong,
  BadArg,         // an argument with a NUL byte (it could not be a name)
  NoMemory,       // the decoder could not allocate its buffer
};

// The text for a reject, e.g. "malformed request: bad magic (not a keel
// control frame)". `seen_version` fills in BadVersion's message.
[[nodiscard]] std::string reject_message(Reject reject, std::uint16_t seen_version = 0);

// A verb's name ("status", ...), or "?" for a value outside the enum.
[[nodiscard]] const char* verb_name(Verb verb) noexcept;
[[nodiscard]] bool valid_verb(std::uint16_t value) noexcept;

// ---- encoding (may throw std::bad_alloc: callers are at an edge) ----

// Append one frame to `out`.
void append_frame(std::string& out, FrameType type, std::string_view payload);
[[nodiscard]] std::string encode_request(const Request& request);
[[nodiscard]] std::string encode_data(std::string_view chunk);
[[nodiscard]] std::string encode_final(Code code, std::string_view body);

// ---- decoding ----

// The payload of a Request frame -> `out`. Reject::None on success.
[[nodiscard]] Reject decode_request(std::string_view payload, Request& out) noexcept;

// The payload of a Final frame -> code and body (a view into `payload`).
// An empty payload is Truncated. An unknown code is kept as its number, so
// keelctl exits with a newer keel's code unchanged.
[[nodiscard]] Reject decode_final(std::string_view payload, Code& code, std::string_view& body) noexcept;

// Incremental frame decoder: feed() bytes as they arrive; it stops at the end
// of each complete frame so the caller can look at it before the next.
class FrameDecoder {
 public:
  enum class Result : std::uint8_t { NeedMore, Frame, Error };

  explicit FrameDecoder(std::size_t max_payload) noexcept : max_payload_(max_payload) {}

  // Consume bytes from the front of `input` (it is advanced past what was
  // used). Frame: type()/payload() hold a complete frame until the next
  // feed(). Error: error() says why; the decoder stays in that state.
  Result feed(std::string_view& input) noexcept;

  [[nodiscard]] FrameType type() const noexcept { return type_; }
  [[nodiscard]] std::string_view payload() const noexcept { return payload_; }
  [[nodiscard]] Reject error() const noexcept { return error_; }
  // The version a BadVersion header carried.
  [[nodiscard]] std::uint16_t seen_version() const noexcept { return seen_version_; }
  // Some bytes of a frame are held (a partial frame is pending).
  [[nodiscard]] bool mid_frame() const noexcept { return header_used_ > 0 && !complete_; }

 private:
  std::size_t max_payload_;
  unsigned char header_[kHeaderSize] = {};
  std::size_t header_used_ = 0;
  std::size_t payload_length_ = 0;
  std::string payload_;
  FrameType type_ = FrameType::Request;
  Reject error_ = Reject::None;
  std::uint16_t seen_version_ = 0;
  bool complete_ = false;
};

}  // namespace keel::control
