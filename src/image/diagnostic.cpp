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

}  // namespace keel::image
