// ImageError's text is what users see for every bad spec: the
// FILE:LINE: prefix must appear exactly when it is known.
#include <gtest/gtest.h>

#include "image/diagnostic.hpp"

namespace keel::image {
namespace {

TEST(ImageError, DescribeWithFileAndLine) {
  ImageError e("spec.toml", 12, "unknown key 'srouce' in [[file]]");
  EXPECT_EQ(e.describe(), "spec.toml:12: error: unknown key 'srouce' in [[file]]");
  EXPECT_EQ(e.where(), "spec.toml");
  EXPECT_EQ(e.line(), 12);
}

TEST(ImageError, DescribeWithFileOnly) {
  EXPECT_EQ(ImageError("/bin/true", 0, "not an ELF file").describe(), "/bin/true: error: not an ELF file");
}

TEST(ImageError, DescribeWithNothingKnown) {
  EXPECT_EQ(ImageError("no spec given").describe(), "error: no spec given");
}

}  // namespace
}  // namespace keel::image
