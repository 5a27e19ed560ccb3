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

#include <cstdint>
#include <filesystem>

#include "image/builder.hpp"

namespace keel::image {

struct Spec;

// Writes `plan` as an ext4 image to `out` (through OUT.tmp, renamed when
// complete); fills result.entries and result.bytes (file data bytes).
void write_ext4(const Spec& spec, const ImagePlan& plan, const std::filesystem::path& out, std::uint32_t mtime,
                BuildResult& result);

// The size the builder picks when [output] has none, in bytes.
[[nodiscard]] std::uint64_t ext4_default_size(const ImagePlan& plan);

}  // namespace keel::image
