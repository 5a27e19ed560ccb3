// result.hpp — errors as values for every PID-1 path.
//
// PID 1 must never exit on an error (the kernel panics if it does), so the
// core never throws and never calls exit(). A failing step returns an Error:
// the errno it saw and a static string naming the step ("signalfd",
// "execve", ...). Nothing here allocates, so a Result can be built and
// passed around inside signal, reap and timer handlers.
#pragma once

#include <cerrno>
#include <cstring>
#include <utility>

namespace keel {

struct Error {
  int code = 0;                 // errno value, or 0 when the failure is not a syscall's
  const char* context = "";     // static string: the step that failed

  [[nodiscard]] const char* message() const noexcept { return code != 0 ? std::strerror(code) : "failed"; }
};

// Build an Error from the current errno; call right after the failing syscall.
[[nodiscard]] inline Error errno_error(const char* context) noexcept { return Error{errno, context}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) noexcept : value_(std::move(value)), ok_(true) {}  // NOLINT(google-explicit-constructor)
  Result(Error error) noexcept : error_(error), ok_(false) {}        // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  [[nodiscard]] T& value() noexcept { return value_; }
  [[nodiscard]] const T& value() const noexcept { return value_; }
  [[nodiscard]] const Error& error() const noexcept { return error_; }

 private:
  T value_{};
  Error error_{};
  bool ok_;
};

// Result<void>: success or an Error.
class [[nodiscard]] Status {
 public:
  Status() noexcept = default;
  Status(Error error) noexcept : error_(error), ok_(false) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  [[nodiscard]] const Error& error() const noexcept { return error_; }

 private:
  Error error_{};
  bool ok_ = true;
};

}  // namespace keel
