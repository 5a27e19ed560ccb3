// ext4.hpp — the ext4 output of keel-image, built without root and without
// a loop mount.
//
// How: the plan is written as a plain tree into a scratch directory (regular
// files, directories, symlinks and hard links with their modes; no owners,
// no device nodes), `mke2fs -t ext4 -d TREE` turns it into the image, and one
// `debugfs -w -f SCRIPT` run then sets every entry's owner (mke2fs -d copies
// the building user's), adds the device nodes and fifos, and sets every
// inode's times (and those of mke2fs's own inodes) to the build time.
//
// Label: [output] label, default "keel-root" (mke2fs -L), which the stage
// initramfs finds the root by (disk.hpp, stage_initramfs.hpp).
//
// Reproducible: a fixed UUID and directory hash seed (derived from the
// plan), E2FSPROGS_FAKE_TIME, every inode time set by debugfs, and the
// superblock's last-write time (which closing the filesystem always sets to
// the clock) patched afterwards in every superblock copy, with its checksum.
// Two builds of one plan with one mtime are byte-identical.
//
// Size: [output] size, else the file data and directories plus 20%, plus
// room for the inode tables and the journal, rounded up to a MiB, at least
// 8 MiB (ext4_default_size). Content that does not fit is an ImageError with
// mke2fs's message, as is any failure of mke2fs or debugfs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "image/builder.hpp"

namespace keel::image {

struct Spec;

// Writes `plan` as an ext4 image to `out` (through OUT.tmp, renamed when
// complete); fills result.entries and result.bytes (file data bytes).
void write_ext4(const Spec& spec, const ImagePlan& plan, const std::filesystem::path& out, std::uint32_t mtime,
                BuildResult& result);

// The size the builder picks when [output] has none, in bytes.
[[nodiscard]] std::uint64_t ext4_default_size(const ImagePlan& plan);

// The same for one filesystem of a disk image (disk.cpp): its own size,
// label and a salt that makes its UUID differ from the root's.
struct Ext4Options {
  std::uint64_t size = 0;  // bytes; 0: ext4_default_size(plan)
  std::string label = "keel-root";
  std::string uuid_salt;
};
void write_ext4_fs(const Spec& spec, const ImagePlan& plan, const std::filesystem::path& out, std::uint32_t mtime,
                   const Ext4Options& options, BuildResult& result);

// Shared by the other filesystem outputs (erofs.cpp, disk.cpp).
//
// A scratch directory under $TMPDIR, removed (made writable first) with all in it.
class ScratchDir {
 public:
  ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir();
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A UUID (version 4 layout) derived from the plan, the time and `salt`:
// the same for two builds of one spec, different for different contents.
[[nodiscard]] std::string plan_uuid(const ImagePlan& plan, std::uint32_t mtime, const std::string& salt = "");
// A UUID derived from any text (a disk's GUIDs from its root's UUID).
[[nodiscard]] std::string derived_uuid(const std::string& key);

// Writes the plan's files, directories, symlinks and hard links under
// `root` with their modes (no owners, no device nodes or fifos); adds the
// file data bytes to result.bytes.
void write_plan_tree(const ImagePlan& plan, const std::filesystem::path& root, BuildResult& result);

// CRC32C without the final inversion, as ext4 and erofs store it.
[[nodiscard]] std::uint32_t crc32c_raw(const unsigned char* data, std::size_t n);

// [output] label, or the default "keel-root" (docs/image-spec.md, I1).
[[nodiscard]] std::string output_label(const Spec& spec);

}  // namespace keel::image
