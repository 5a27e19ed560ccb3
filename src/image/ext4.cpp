// ext4.cpp — see ext4.hpp.
#include "image/ext4.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "image/diagnostic.hpp"
#include "image/subprocess.hpp"
#include "image/spec.hpp"


namespace keel::image {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMiB = std::uint64_t{1024} * 1024;
constexpr std::uint64_t kBlock = 4096;

std::uint64_t round_up(std::uint64_t n, std::uint64_t to) { return (n + to - 1) / to * to; }

std::uint64_t file_size(const ImageEntry& e) {
  if (e.kind != EntryKind::File) return 0;
  if (e.content) return e.content->size();
  std::error_code ec;
  const std::uintmax_t n = fs::file_size(e.source, ec);
  return ec ? 0 : static_cast<std::uint64_t>(n);
}

[[noreturn]] void os_error(const std::string& what, const fs::path& path) {
  throw ImageError(path.string(), 0, what + ": " + std::strerror(errno));
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// 64-bit FNV-1a.
std::uint64_t fnv(std::string_view data, std::uint64_t h) {
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// A UUID (version 4 layout) derived from the plan and the time, so two
// builds of one spec get the same one and different contents different ones.
std::string plan_key(const ImagePlan& plan, std::uint32_t mtime) {
  std::string key = std::to_string(mtime);
  for (const ImageEntry& e : plan.entries) {
    key += e.path + '\0' + std::to_string(static_cast<int>(e.kind)) + ' ' + std::to_string(e.mode) + ' ' +
           std::to_string(e.uid) + ' ' + std::to_string(e.gid) + ' ' + std::to_string(file_size(e)) + ' ' + e.target +
           '\n';
  }
  return key;
}

std::string key_uuid(const std::string& key) {
  std::uint64_t a = fnv(key, 0xcbf29ce484222325ULL);
  std::uint64_t b = fnv(key, a ^ 0x6b65656c2d657874ULL);
  std::array<unsigned char, 16> u{};
  for (std::size_t i = 0; i < 8; ++i) {
    u[i] = static_cast<unsigned char>(a >> (8 * i));
    u[8 + i] = static_cast<unsigned char>(b >> (8 * i));
  }
  u[6] = static_cast<unsigned char>((u[6] & 0x0f) | 0x40);
  u[8] = static_cast<unsigned char>((u[8] & 0x3f) | 0x80);
  std::string s;
  char hex[3];
  for (std::size_t i = 0; i < u.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    std::snprintf(hex, sizeof hex, "%02x", u[i]);
    s += hex;
  }
  return s;
}

// A path as one debugfs argument (its parser takes double quotes).
std::string dq(const std::string& path) {
  if (path.find_first_of("\"\n\\") != std::string::npos) {
    throw ImageError(path, 0, "ext4 output cannot store a path with a double quote, a backslash or a newline");
  }
  return '"' + path + '"';
}

// Writes the plan's files, directories, symlinks and hard links under root
// with their modes (devices and fifos are left to debugfs).
void write_tree_impl(const ImagePlan& plan, const fs::path& root, BuildResult& result) {
  auto host = [&](const std::string& path) { return path == "/" ? root : root / path.substr(1); };
  for (const ImageEntry& e : plan.entries) {
    if (e.path == "/") continue;
    const fs::path p = host(e.path);
    switch (e.kind) {
      case EntryKind::Directory:
        if (::mkdir(p.c_str(), 0700) != 0) os_error("cannot create the directory", p);
        break;
      case EntryKind::File: {
        std::ofstream out(p, std::ios::binary | std::ios::trunc);
        if (!out) os_error("cannot create the file", p);
        if (e.content) {
          out << *e.content;
        } else {
          std::ifstream in(e.source, std::ios::binary);
          if (!in) throw ImageError(e.source.string(), 0, "cannot read file");
          out << in.rdbuf();
        }
        out.close();
        if (!out) os_error("cannot write", p);
        result.bytes += file_size(e);
        break;
      }
      case EntryKind::Symlink:
        if (::symlink(e.target.c_str(), p.c_str()) != 0) os_error("cannot create the symlink", p);
        break;
      default: break;  // hard links below; devices and fifos by debugfs
    }
  }
  for (const ImageEntry& e : plan.entries) {
    if (e.kind != EntryKind::Hardlink) continue;
    if (::link(host(e.target).c_str(), host(e.path).c_str()) != 0)
      os_error("cannot create the hard link", host(e.path));
  }
  // Modes last, children before parents (a 0555 directory must be filled first).
  for (auto it = plan.entries.rbegin(); it != plan.entries.rend(); ++it) {
    const ImageEntry& e = *it;
    if (e.kind != EntryKind::File && e.kind != EntryKind::Directory) continue;
    if (::chmod(host(e.path).c_str(), e.mode) != 0) os_error("cannot chmod", host(e.path));
  }
}

// CRC32C as ext4 stores it (no final inversion).
std::uint32_t crc32c_raw_impl(const unsigned char* data, std::size_t n) {
  std::uint32_t crc = 0xffffffffU;
  for (std::size_t i = 0; i < n; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82f63b78U & (0U - (crc & 1U)));
  }
  return crc;
}

std::uint32_t le32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

void put_le32(unsigned char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

// Closing a filesystem stamps the clock into every superblock's s_wtime;
// this puts `mtime` there instead (and fixes the checksums), in the primary
// superblock and in each backup (groups 1 and powers of 3, 5, 7).
void fix_write_time(const fs::path& image, std::uint32_t mtime) {
  const int fd = ::open(image.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) os_error("cannot open the image", image);
  std::array<unsigned char, 1024> sb{};
  auto patch = [&](off_t at) {
    if (::pread(fd, sb.data(), sb.size(), at) != static_cast<ssize_t>(sb.size())) return false;
    if (sb[0x38] != 0x53 || sb[0x39] != 0xef) return false;
    put_le32(&sb[0x30], mtime);
    sb[0x274] = 0;  // s_wtime_hi
    const std::uint32_t features_ro = le32(&sb[0x64]);
    if ((features_ro & 0x400U) != 0) put_le32(&sb[0x3fc], crc32c_raw_impl(sb.data(), 0x3fc));  // metadata_csum
    return ::pwrite(fd, sb.data(), sb.size(), at) == static_cast<ssize_t>(sb.size());
  };
  bool ok = patch(1024);
  if (ok) {
    const std::uint32_t blocks = le32(&sb[0x04]);
    const std::uint32_t first = le32(&sb[0x14]);
    const std::uint64_t block_size = 1024ULL << le32(&sb[0x18]);
    const std::uint32_t per_group = le32(&sb[0x20]);
    const std::uint64_t groups = per_group == 0 ? 0 : (blocks - first + per_group - 1) / per_group;
    std::vector<std::uint64_t> backups;
    for (std::uint64_t base : {3ULL, 5ULL, 7ULL}) {
      for (std::uint64_t g = 1; g < groups; g *= base) backups.push_back(g);
    }
    std::sort(backups.begin(), backups.end());
    backups.erase(std::unique(backups.begin(), backups.end()), backups.end());
    for (std::uint64_t g : backups) {
      const std::uint64_t at = (first + g * per_group) * block_size;
      (void)patch(static_cast<off_t>(at));  // absent with sparse_super2 and the like: nothing to fix
    }
  }
  if (::close(fd) != 0 || !ok) throw ImageError(image.string(), 0, "cannot fix the superblock's write time");
}

}  // namespace

ScratchDir::ScratchDir() {
  std::string pattern = (fs::temp_directory_path() / "keel-image-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw ImageError(pattern, 0, std::string("cannot create a scratch directory: ") + std::strerror(errno));
  }
  path_ = pattern;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(path_, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec))
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
  }
  fs::remove_all(path_, ec);
}

std::string plan_uuid(const ImagePlan& plan, std::uint32_t mtime, const std::string& salt) {
  return key_uuid(plan_key(plan, mtime) + salt);
}

std::string derived_uuid(const std::string& key) { return key_uuid(key); }

void write_plan_tree(const ImagePlan& plan, const fs::path& root, BuildResult& result) {
  write_tree_impl(plan, root, result);
}

std::uint32_t crc32c_raw(const unsigned char* data, std::size_t n) { return crc32c_raw_impl(data, n); }

std::string output_label(const Spec& spec) { return spec.output.label.empty() ? "keel-root" : spec.output.label; }

std::uint64_t ext4_default_size(const ImagePlan& plan) {
  std::uint64_t data = 0;
  for (const ImageEntry& e : plan.entries) {
    if (e.kind == EntryKind::File) data += round_up(file_size(e), kBlock);
    if (e.kind == EntryKind::Directory) data += kBlock;
    if (e.kind == EntryKind::Symlink && e.target.size() >= 60) data += kBlock;
  }
  std::uint64_t size = data + data / 5;
  // Inode tables, bitmaps and group descriptors (an inode per 4 KiB below
  // 512 MiB, per 16 KiB above), then the journal mke2fs picks for the size.
  size += size / 12 + plan.entries.size() * 512;
  size += size < 120 * kMiB ? 4 * kMiB : size < 1000 * kMiB ? 16 * kMiB : size < 2000 * kMiB ? 32 * kMiB : 256 * kMiB;
  return std::max<std::uint64_t>(8 * kMiB, round_up(size, kMiB));
}

void write_ext4(const Spec& spec, const ImagePlan& plan, const fs::path& out, std::uint32_t mtime,
                BuildResult& result) {
  Ext4Options options;
  options.size = spec.output.size;
  options.label = output_label(spec);
  write_ext4_fs(spec, plan, out, mtime, options, result);
}

void write_ext4_fs(const Spec& spec, const ImagePlan& plan, const fs::path& out, std::uint32_t mtime,
                   const Ext4Options& options, BuildResult& result) {
  const std::uint64_t size = options.size != 0 ? options.size : ext4_default_size(plan);
  std::error_code ec;
  if (out.has_parent_path()) fs::create_directories(out.parent_path(), ec);
  fs::path tmp = out;
  tmp += ".tmp";
  fs::remove(tmp, ec);  // mke2fs keeps a longer file's tail
  ScratchDir scratch;
  const fs::path tree = scratch.path() / "tree";
  if (::mkdir(tree.c_str(), 0755) != 0) os_error("cannot create the directory", tree);
  for (const ImageEntry& e : plan.entries) {
    if (e.path == "/" && ::chmod(tree.c_str(), e.mode) != 0) os_error("cannot chmod", tree);
  }
  write_tree_impl(plan, tree, result);

  const std::string uuid = plan_uuid(plan, mtime, options.uuid_salt);
  const std::vector<std::string> env = {"E2FSPROGS_FAKE_TIME=" + std::to_string(mtime), "LC_ALL=C"};
  std::string err;
  try {
    const std::vector<std::string> mkfs = {"mke2fs",
                                           "-q",
                                           "-F",
                                           "-t",
                                           "ext4",
                                           "-b",
                                           "4096",
                                           "-U",
                                           uuid,
                                           "-L",
                                           options.label,
                                           "-E",
                                           "root_owner=0:0,hash_seed=" + uuid,
                                           "-d",
                                           tree.string(),
                                           tmp.string(),
                                           std::to_string(size / 1024) + "k"};
    const ToolRun made = run_tool(mkfs, scratch.path(), env);
    err = made.err;
    if (made.exit_code != 0) {
      throw ImageError(spec.file.string(), spec.output.line,
                       "mke2fs failed (ext4 of " + std::to_string(size) + " bytes): " + trim(err));
    }

    // Owners and times of every entry, the device nodes and fifos, and the
    // times of mke2fs's own inodes (bad blocks, resize, journal, lost+found).
    const std::string at = " @" + std::to_string(mtime);
    std::string script;
    auto times = [&](const std::string& what) {
      for (const char* field : {"atime", "mtime", "ctime", "crtime"}) {
        script.append("sif ").append(what).append(" ").append(field).append(at).append("\n");
      }
    };
    bool has_root = false;
    for (const ImageEntry& e : plan.entries) {
      if (e.kind == EntryKind::Hardlink) continue;  // its file's inode
      const std::string p = dq(e.path);
      has_root = has_root || e.path == "/";
      if (e.kind == EntryKind::CharDevice || e.kind == EntryKind::BlockDevice || e.kind == EntryKind::Fifo) {
        const std::string::size_type slash = e.path.rfind('/');
        const std::string dir = slash == 0 ? "/" : e.path.substr(0, slash);
        const std::string name = e.path.substr(slash + 1);
        std::uint32_t type = 010000;
        script += "cd " + dq(dir) + "\nmknod " + dq(name);
        if (e.kind == EntryKind::Fifo) {
          script += " p\n";
        } else {
          type = e.kind == EntryKind::CharDevice ? 020000 : 060000;
          script += std::string(e.kind == EntryKind::CharDevice ? " c " : " b ") + std::to_string(e.major) + " " +
                    std::to_string(e.minor) + "\n";
        }
        char mode[16];
        std::snprintf(mode, sizeof mode, "0%o", type | (e.mode & 07777));
        script += "sif " + p + " mode " + mode + "\n";
      }
      script.append("sif ").append(p).append(" uid ").append(std::to_string(e.uid)).append("\n");
      script.append("sif ").append(p).append(" gid ").append(std::to_string(e.gid)).append("\n");
      times(p);
    }
    if (!has_root) times("/");
    for (const char* inode : {"<1>", "<7>", "<8>", "/lost+found"}) times(inode);
    script += "ssv mkfs_time" + at + "\nssv lastcheck" + at + "\nssv wtime" + at + "\n";
    const fs::path script_file = scratch.path() / "debugfs.cmds";
    {
      std::ofstream s(script_file, std::ios::binary);
      s << script;
      if (!s) os_error("cannot write", script_file);
    }
    const ToolRun debugfs = run_tool({"debugfs", "-w", "-f", script_file.string(), tmp.string()}, scratch.path(), env);
    const int rc = debugfs.exit_code;
    err = debugfs.err;
    // debugfs exits 0 after a failed command; anything on stderr but its banner is an error.
    std::string problems;
    std::istringstream lines(err);
    for (std::string line; std::getline(lines, line);) {
      if (line.empty() || line.rfind("debugfs ", 0) == 0) continue;
      problems += (problems.empty() ? "" : "; ") + line;
    }
    if (rc != 0 || !problems.empty()) {
      throw ImageError(spec.file.string(), spec.output.line,
                       "debugfs failed: " + (problems.empty() ? trim(err) : problems));
    }
    fix_write_time(tmp, mtime);
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  result.entries += plan.entries.size();
  move_into_place(tmp, out);
}

}  // namespace keel::image
