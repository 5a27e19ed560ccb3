// erofs.cpp — see erofs.hpp.
#include "image/erofs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "image/diagnostic.hpp"
#include "image/ext4.hpp"
#include "image/spec.hpp"
#include "image/subprocess.hpp"

namespace keel::image {
namespace {

namespace fs = std::filesystem;

constexpr off_t kSuperOffset = 1024;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// A word for sh, single-quoted.
std::string sq(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// The entry's path relative to the tree (the root is ".").
std::string rel(const std::string& path) { return path == "/" ? std::string(".") : "." + path; }

void write_text(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw ImageError(file.string(), 0, std::string("cannot write: ") + std::strerror(errno));
}

// The fakeroot script: device nodes and fifos, owners, then modes (a chown
// clears set-id bits), then mkfs.erofs, all in one fakeroot session. Paths
// go to chown and chmod through NUL-separated lists (xargs -0), so a tree of
// thousands of files costs a few processes, not one per file.
std::string fakeroot_script(const ImagePlan& plan, const fs::path& scratch, const std::vector<std::string>& mkfs) {
  std::string script = "set -e\ncd " + sq((scratch / "tree").string()) + "\n";
  std::set<std::string> node_dirs;
  for (const ImageEntry& e : plan.entries) {
    if (e.kind == EntryKind::CharDevice || e.kind == EntryKind::BlockDevice || e.kind == EntryKind::Fifo) {
      const std::string::size_type slash = e.path.rfind('/');
      node_dirs.insert(slash == 0 ? "/" : e.path.substr(0, slash));
    }
  }
  // A directory's final mode may deny its (real) owner write; the modes below put it back (faked).
  for (const std::string& d : node_dirs) script += "chmod u+rwx " + sq(rel(d)) + "\n";
  for (const ImageEntry& e : plan.entries) {
    if (e.kind == EntryKind::CharDevice || e.kind == EntryKind::BlockDevice) {
      script += "mknod " + sq(rel(e.path)) + (e.kind == EntryKind::CharDevice ? " c " : " b ") +
                std::to_string(e.major) + " " + std::to_string(e.minor) + "\n";
    } else if (e.kind == EntryKind::Fifo) {
      script += "mknod " + sq(rel(e.path)) + " p\n";
    }
  }
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::string> by_owner;
  std::map<std::uint32_t, std::string> by_mode;
  bool has_root = false;
  for (const ImageEntry& e : plan.entries) {
    if (e.kind == EntryKind::Hardlink) continue;  // its file's inode
    has_root = has_root || e.path == "/";
    by_owner[{e.uid, e.gid}] += rel(e.path) + '\0';
    if (e.kind != EntryKind::Symlink) by_mode[e.mode & 07777] += rel(e.path) + '\0';
  }
  if (!has_root) {
    by_owner[{0, 0}] += std::string(".") + '\0';
    by_mode[0755] += std::string(".") + '\0';
  }
  int n = 0;
  for (const auto& [owner, list] : by_owner) {
    const fs::path file = scratch / ("owners." + std::to_string(n++));
    write_text(file, list);
    script += "xargs -0 -r -a " + sq(file.string()) + " chown -h " + std::to_string(owner.first) + ":" +
              std::to_string(owner.second) + " --\n";
  }
  for (const auto& [mode, list] : by_mode) {
    const fs::path file = scratch / ("modes." + std::to_string(n++));
    write_text(file, list);
    char octal[16];
    std::snprintf(octal, sizeof octal, "%04o", mode);
    script += "xargs -0 -r -a " + sq(file.string()) + " chmod " + octal + " --\n";
  }
  script += "exec";
  for (const std::string& word : mkfs) script += " " + sq(word);
  return script + "\n";
}

// erofs_super_block: checksum at 4, feature_compat at 8 (bit 0: sb_csum),
// blkszbits at 12, volume_name[16] at 64; all from offset 1024.
void set_label(const fs::path& image, const std::string& label) {
  const int fd = ::open(image.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) throw ImageError(image.string(), 0, std::string("cannot open the image: ") + std::strerror(errno));
  std::vector<unsigned char> block(4096);
  bool ok = ::pread(fd, block.data(), 128, kSuperOffset) == 128;
  const unsigned bits = block[12];
  const std::size_t size = bits >= 9 && bits <= 16 ? (std::size_t{1} << bits) - kSuperOffset : 0;
  ok = ok && block[0] == 0xe2 && block[1] == 0xe1 && block[2] == 0xf5 && block[3] == 0xe0 && size >= 128;
  if (ok) {
    block.assign(size, 0);
    ok = ::pread(fd, block.data(), size, kSuperOffset) == static_cast<ssize_t>(size);
  }
  if (ok) {
    std::memset(&block[64], 0, 16);
    std::memcpy(&block[64], label.data(), std::min<std::size_t>(label.size(), 16));
    if ((block[8] & 1U) != 0) {
      std::memset(&block[4], 0, 4);
      const std::uint32_t crc = crc32c_raw(block.data(), size);
      for (int i = 0; i < 4; ++i) block[4 + static_cast<std::size_t>(i)] = static_cast<unsigned char>(crc >> (8 * i));
    }
    ok = ::pwrite(fd, block.data(), size, kSuperOffset) == static_cast<ssize_t>(size);
  }
  if (::close(fd) != 0 || !ok) throw ImageError(image.string(), 0, "cannot write the erofs label");
}

}  // namespace

void write_erofs(const Spec& spec, const ImagePlan& plan, const fs::path& out, std::uint32_t mtime,
                 const std::string& label, BuildResult& result) {
  std::error_code ec;
  if (out.has_parent_path()) fs::create_directories(out.parent_path(), ec);
  fs::path tmp = out;
  tmp += ".tmp";
  fs::remove(tmp, ec);
  ScratchDir scratch;
  const fs::path tree = scratch.path() / "tree";
  if (::mkdir(tree.c_str(), 0755) != 0) {
    throw ImageError(tree.string(), 0, std::string("cannot create the directory: ") + std::strerror(errno));
  }
  write_plan_tree(plan, tree, result);
  const std::vector<std::string> mkfs = {"mkfs.erofs",
                                         "--quiet",
                                         "-x",
                                         "-1",
                                         "-T",
                                         std::to_string(mtime),
                                         "--ignore-mtime",
                                         "-U",
                                         plan_uuid(plan, mtime, "erofs"),
                                         fs::absolute(tmp).string(),
                                         tree.string()};
  const fs::path script = scratch.path() / "fakeroot.sh";
  write_text(script, fakeroot_script(plan, scratch.path(), mkfs));
  try {
    const ToolRun run = run_tool({"fakeroot", "--", "sh", script.string()}, scratch.path(), {"LC_ALL=C"});
    if (run.exit_code != 0) {
      const std::string why = trim(run.err.empty() ? run.out : run.err);
      throw ImageError(spec.file.string(), spec.output.line,
                       "erofs output: fakeroot and mkfs.erofs (erofs-utils) failed: " +
                           (why.empty() ? "exit status " + std::to_string(run.exit_code) : why));
    }
    set_label(tmp, label);
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  result.entries += plan.entries.size();
  move_into_place(tmp, out);
}

}  // namespace keel::image
