// listing.cpp — the `keel-image ls` format (documented in listing.hpp).
#include "image/listing.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <ctime>

#include "image/compress.hpp"
#include "image/diagnostic.hpp"

namespace keel::image {

namespace {

char type_char(std::uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return '-';
    case S_IFDIR: return 'd';
    case S_IFLNK: return 'l';
    case S_IFCHR: return 'c';
    case S_IFBLK: return 'b';
    case S_IFIFO: return 'p';
    case S_IFSOCK: return 's';
    default: return '?';
  }
}

std::string pad_left(const std::string& s, std::size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

std::string pad_right(const std::string& s, std::size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

std::string utc_time(std::uint32_t mtime) {
  const std::time_t t = static_cast<std::time_t>(mtime);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm);
  return std::string(text, n);
}

}  // namespace

std::string mode_string(std::uint32_t mode) {
  std::string s(10, '-');
  s[0] = type_char(mode);
  const char* rwx = "rwx";
  for (int i = 0; i < 9; ++i) {
    if ((mode & (0400U >> i)) != 0) s[static_cast<std::size_t>(i) + 1] = rwx[i % 3];
  }
  // The special bits replace the x of their class: lowercase when x is set.
  const auto special = [&](std::uint32_t bit, std::size_t pos, char set_char) {
    if ((mode & bit) == 0) return;
    s[pos] = s[pos] == 'x' ? set_char : static_cast<char>(set_char - 'a' + 'A');
  };
  special(S_ISUID, 3, 's');
  special(S_ISGID, 6, 's');
  special(S_ISVTX, 9, 't');
  return s;
}

std::string format_entry(const CpioEntry& entry) {
  const std::uint32_t type = entry.mode & S_IFMT;
  std::string size;
  if (type == S_IFCHR || type == S_IFBLK) {
    size = pad_left(std::to_string(entry.rdev_major) + ",", 4) + " " + pad_left(std::to_string(entry.rdev_minor), 4);
  } else {
    size = std::to_string(entry.size);
  }
  std::string line = mode_string(entry.mode);
  line += ' ' + pad_left(std::to_string(entry.nlink), 3);
  line += ' ' + pad_right(std::to_string(entry.uid), 5);
  line += ' ' + pad_right(std::to_string(entry.gid), 5);
  line += ' ' + pad_left(size, 9);
  line += ' ' + utc_time(entry.mtime);
  line += ' ' + entry.name;
  if (type == S_IFLNK) line += " -> " + entry.symlink_target;
  return line;
}

std::vector<std::string> list_image(std::string_view image, std::string_view where) {
  std::vector<std::string> lines;
  std::string_view rest = image;
  // Each pass lists one segment: a compressed segment is decompressed
  // whole and may itself hold several archives.
  while (!rest.empty()) {
    if (detect_compression(rest) != Compression::None) {
      const std::string plain = decompress(rest, where);
      for (std::string& line : list_image(plain, where)) lines.push_back(std::move(line));
      break;  // decompress() consumed every member/frame to the end
    }
    const CpioArchive archive = read_cpio(rest, where);
    for (const CpioEntry& entry : archive.entries) lines.push_back(format_entry(entry));
    rest.remove_prefix(static_cast<std::size_t>(archive.end));
    const std::size_t next = rest.find_first_not_of('\0');
    if (next == std::string_view::npos) break;
    rest.remove_prefix(next);
  }
  return lines;
}

}  // namespace keel::image
