// protocol.cpp — frame and request encoding/decoding (see protocol.hpp).
//
// Everything that decodes is noexcept and bounded: a hostile client can
// only make keel hold kControlMaxRequest bytes per connection, and every
// way a frame can be wrong maps to one Reject with its own message.
#include "control/protocol.hpp"

#include <new>

#include "core/limits.hpp"

namespace keel::control {
namespace {

void put16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v & 0xFFU));
  out.push_back(static_cast<char>((v >> 8U) & 0xFFU));
}

void put32(std::string& out, std::uint32_t v) {
  for (unsigned shift = 0; shift < 32; shift += 8) out.push_back(static_cast<char>((v >> shift) & 0xFFU));
}

std::uint16_t get16(const unsigned char* p) noexcept {
  return static_cast<std::uint16_t>(p[0] | (static_cast<unsigned>(p[1]) << 8U));
}

std::uint32_t get32(const unsigned char* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8U) |
         (static_cast<std::uint32_t>(p[2]) << 16U) | (static_cast<std::uint32_t>(p[3]) << 24U);
}

// Reads fixed-width fields off the front of a payload; any read past the end
// sets `short_` and yields 0, so a decoder checks once at the end of a group.
class Reader {
 public:
  explicit Reader(std::string_view data) noexcept : data_(data) {}
  std::uint16_t u16() noexcept {
    if (!have(2)) return 0;
    std::uint16_t v = get16(ptr());
    pos_ += 2;
    return v;
  }
  std::uint32_t u32() noexcept {
    if (!have(4)) return 0;
    std::uint32_t v = get32(ptr());
    pos_ += 4;
    return v;
  }
  std::string_view bytes(std::size_t n) noexcept {
    if (!have(n)) return {};
    std::string_view v = data_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  [[nodiscard]] bool short_read() const noexcept { return short_; }
  [[nodiscard]] std::size_t left() const noexcept { return data_.size() - pos_; }

 private:
  bool have(std::size_t n) noexcept {
    if (short_ || data_.size() - pos_ < n) {
      short_ = true;
      return false;
    }
    return true;
  }
  [[nodiscard]] const unsigned char* ptr() const noexcept {
    return reinterpret_cast<const unsigned char*>(data_.data()) + pos_;
  }
  std::string_view data_;
  std::size_t pos_ = 0;
  bool short_ = false;
};

constexpr std::uint32_t kKnownFlags = kFlagJson | kFlagFollow | kFlagReady | kFlagSinceBoot | kFlagDryRun;

}  // namespace

const char* verb_name(Verb verb) noexcept {
  switch (verb) {
    case Verb::Status: return "status";
    case Verb::Start: return "start";
    case Verb::Stop: return "stop";
    case Verb::Restart: return "restart";
    case Verb::Signal: return "signal";
    case Verb::Log: return "log";
    case Verb::Wait: return "wait";
    case Verb::Reload: return "reload";
    case Verb::Poweroff: return "poweroff";
    case Verb::Reboot: return "reboot";
    case Verb::Halt: return "halt";
    case Verb::Events: return "events";
  }
  return "?";
}

bool valid_verb(std::uint16_t value) noexcept {
  return value >= static_cast<std::uint16_t>(Verb::Status) && value <= static_cast<std::uint16_t>(Verb::Events);
}

std::string reject_message(Reject reject, std::uint16_t seen_version) {
  switch (reject) {
    case Reject::None: return "ok";
    case Reject::BadMagic: return "malformed request: bad magic (not a keel control frame)";
    case Reject::BadVersion:
      return "unsupported protocol version " + std::to_string(seen_version) + " (this keel speaks version " +
             std::to_string(kProtocolVersion) + ")";
    case Reject::Oversize:
      return "malformed request: frame too large (at most " + std::to_string(limits::kControlMaxRequest) +
             " bytes)";
    case Reject::BadFrameType: return "malformed request: unexpected frame type";
    case Reject::UnknownVerb: return "malformed request: unknown verb";
    case Reject::UnknownFlags: return "malformed request: unknown flags";
    case Reject::Truncated: return "malformed request: truncated field";
    case Reject::Trailing: return "malformed request: trailing bytes after the last field";
    case Reject::TooManyArgs:
      return "malformed request: too many arguments (at most " + std::to_string(limits::kControlMaxArgs) + ")";
    case Reject::ArgTooLong:
      return "malformed request: argument too long (at most " + std::to_string(limits::kControlMaxArgLength) +
             " bytes)";
    case Reject::BadArg: return "malformed request: argument contains a NUL byte";
    case Reject::NoMemory: return "out of memory";
  }
  return "malformed request";
}

void append_frame(std::string& out, FrameType type, std::string_view payload) {
  out.reserve(out.size() + kHeaderSize + payload.size());
  put32(out, kMagic);
  put16(out, kProtocolVersion);
  put16(out, static_cast<std::uint16_t>(type));
  put32(out, static_cast<std::uint32_t>(payload.size()));
  out.append(payload);
}

std::string encode_request(const Request& request) {
  std::string payload;
  put16(payload, static_cast<std::uint16_t>(request.verb));
  put32(payload, request.flags);
  put32(payload, request.lines);
  put32(payload, request.timeout_ms);
  put16(payload, static_cast<std::uint16_t>(request.args.size()));
  for (const std::string& arg : request.args) {
    put16(payload, static_cast<std::uint16_t>(arg.size()));
    payload.append(arg);
  }
  std::string out;
  append_frame(out, FrameType::Request, payload);
  return out;
}

std::string encode_data(std::string_view chunk) {
  std::string out;
  append_frame(out, FrameType::Data, chunk);
  return out;
}

std::string encode_final(Code code, std::string_view body) {
  std::string payload;
  payload.push_back(static_cast<char>(code));
  payload.append(body);
  std::string out;
  append_frame(out, FrameType::Final, payload);
  return out;
}

Reject decode_request(std::string_view payload, Request& out) noexcept {
  Reader in(payload);
  std::uint16_t verb = in.u16();
  std::uint32_t flags = in.u32();
  std::uint32_t lines = in.u32();
  std::uint32_t timeout_ms = in.u32();
  std::uint16_t argc = in.u16();
  if (in.short_read()) return Reject::Truncated;
  if (!valid_verb(verb)) return Reject::UnknownVerb;
  if ((flags & ~kKnownFlags) != 0) return Reject::UnknownFlags;
  if (argc > limits::kControlMaxArgs) return Reject::TooManyArgs;
  out.verb = static_cast<Verb>(verb);
  out.flags = flags;
  out.lines = lines;
  out.timeout_ms = timeout_ms;
  try {
    out.args.clear();
    out.args.reserve(argc);
    for (std::uint16_t i = 0; i < argc; ++i) {
      std::uint16_t length = in.u16();
      if (in.short_read()) return Reject::Truncated;
      if (length > limits::kControlMaxArgLength) return Reject::ArgTooLong;
      std::string_view arg = in.bytes(length);
      if (in.short_read()) return Reject::Truncated;
      if (arg.find('\0') != std::string_view::npos) return Reject::BadArg;
      out.args.emplace_back(arg);
    }
  } catch (const std::bad_alloc&) {
    return Reject::NoMemory;
  }
  if (in.left() != 0) return Reject::Trailing;
  return Reject::None;
}

Reject decode_final(std::string_view payload, Code& code, std::string_view& body) noexcept {
  if (payload.empty()) return Reject::Truncated;
  code = static_cast<Code>(static_cast<unsigned char>(payload[0]));
  body = payload.substr(1);
  return Reject::None;
}

FrameDecoder::Result FrameDecoder::feed(std::string_view& input) noexcept {
  if (error_ != Reject::None) return Result::Error;
  if (complete_) {
    // The previous frame was looked at; start the next one.
    complete_ = false;
    header_used_ = 0;
    payload_.clear();
  }
  while (header_used_ < kHeaderSize) {
    if (input.empty()) return Result::NeedMore;
    header_[header_used_++] = static_cast<unsigned char>(input.front());
    input.remove_prefix(1);
    // Check each field as soon as its bytes are in, so garbage is refused
    // at its first bytes rather than after a whole header's worth.
    if (header_used_ == 4 && get32(header_) != kMagic) return error_ = Reject::BadMagic, Result::Error;
    if (header_used_ == 6) {
      seen_version_ = get16(header_ + 4);
      if (seen_version_ != kProtocolVersion) return error_ = Reject::BadVersion, Result::Error;
    }
    if (header_used_ == 8) {
      std::uint16_t type = get16(header_ + 6);
      if (type < static_cast<std::uint16_t>(FrameType::Request) || type > static_cast<std::uint16_t>(FrameType::Final)) {
        return error_ = Reject::BadFrameType, Result::Error;
      }
      type_ = static_cast<FrameType>(type);
    }
    if (header_used_ == kHeaderSize) {
      payload_length_ = get32(header_ + 8);
      if (payload_length_ > max_payload_) return error_ = Reject::Oversize, Result::Error;
      try {
        payload_.reserve(payload_length_);
      } catch (const std::bad_alloc&) {
        return error_ = Reject::NoMemory, Result::Error;
      }
    }
  }
  std::size_t take = payload_length_ - payload_.size();
  if (take > input.size()) take = input.size();
  payload_.append(input.data(), take);  // within the reserved capacity: no allocation
  input.remove_prefix(take);
  if (payload_.size() < payload_length_) return Result::NeedMore;
  complete_ = true;
  return Result::Frame;
}

}  // namespace keel::control
