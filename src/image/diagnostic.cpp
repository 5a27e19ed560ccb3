#include "image/diagnostic.hpp"

namespace keel::image {

std::string ImageError::describe() const {
  std::string text;
  if (!where_.empty()) {
    text += where_;
    if (line_ > 0) text += ":" + std::to_string(line_);
    text += ": ";
  }
  return text + "error: " + what();
}

void move_into_place(const std::filesystem::path& tmp, const std::filesystem::path& out, const std::string& what) {
  std::error_code ec;
  std::filesystem::rename(tmp, out, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw ImageError(out.string(), 0, "cannot write the " + what + ": " + ec.message());
  }
}

}  // namespace keel::image
