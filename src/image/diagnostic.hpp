// diagnostic.hpp — how keel-image reports a problem.
//
// keel-image is a batch tool, not PID 1: a problem ends the build, so it is
// an exception carrying where it was found (a spec's file and line, or a
// file being read) and one sentence that says what is wrong and, where it
// can, what to do. main() prints it as "FILE:LINE: error: MESSAGE" and
// exits 1. Nothing in src/core or src/cinit throws; only src/image does.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

namespace keel::image {

class ImageError : public std::runtime_error {
 public:
  // `where` is a file (or "" when there is none); `line` 0 when unknown.
  ImageError(std::string where, int line, const std::string& message)
      : std::runtime_error(message), where_(std::move(where)), line_(line) {}
  explicit ImageError(const std::string& message) : ImageError("", 0, message) {}

  [[nodiscard]] const std::string& where() const noexcept { return where_; }
  [[nodiscard]] int line() const noexcept { return line_; }

  // "spec.toml:12: error: unknown key 'srouce' in [[file]]" (the parts
  // that are known), the form editors and CI logs link to.
  [[nodiscard]] std::string describe() const;

 private:
  std::string where_;
  int line_;
};

// Every output is written as OUT.tmp, then renamed to OUT when complete,
// so a failed build never leaves a half image under the output's name.
// This is the rename: on failure the tmp file is removed and an ImageError
// says "cannot write the WHAT: ...".
void move_into_place(const std::filesystem::path& tmp, const std::filesystem::path& out,
                     const std::string& what = "image");

}  // namespace keel::image
