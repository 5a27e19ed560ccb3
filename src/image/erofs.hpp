// erofs.hpp — the erofs output of keel-image: a read-only, compact root
// filesystem made by mkfs.erofs (erofs-utils), without root, reproducibly.
//
// How, without root: mkfs.erofs copies a directory tree and takes every
// owner, mode and device number from stat(2); erofs-utils 1.5 (Debian 12)
// has no manifest or tar input that could give them otherwise. So the plan
// is written as a plain tree into a scratch directory (ext4.cpp's
// write_plan_tree), and one `fakeroot -- sh SCRIPT` session then chowns
// every entry to its spec owner, sets every mode (after the chown, which
// clears set-id bits), creates the device nodes and fifos with mknod, and
// runs mkfs.erofs: inside one fakeroot session the faked owners and nodes
// are what mkfs.erofs's stat sees. Measured alternatives: `--all-root`/
// `--force-uid` set ONE owner for all; patching inodes after mkfs means
// re-implementing erofs's inode layouts. Nothing changes on the host.
//
// Reproducible: -T MTIME (every inode's time and the build time), a UUID
// derived from the plan (-U, ext4.cpp's plan_uuid), -x -1 (no xattrs: the
// scratch tree's security labels are the host's, not the image's), and
// mkfs.erofs writes directories sorted by name and inodes in tree order.
// The label: mkfs.erofs 1.5 has no -L, so the 16-byte volume_name of the
// superblock is written afterwards and the superblock checksum (crc32c over
// the superblock's block, sb_csum) recomputed — what mkfs.erofs -L of
// erofs-utils 1.6 writes.
//
// Errors: a missing fakeroot or mkfs.erofs, or their failure, is an
// ImageError naming [output]'s line with the tool's message.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "image/builder.hpp"

namespace keel::image {

struct Spec;

// Writes `plan` as an erofs image labelled `label` to `out` (through
// OUT.tmp, renamed when complete); fills result.entries and result.bytes.
void write_erofs(const Spec& spec, const ImagePlan& plan, const std::filesystem::path& out, std::uint32_t mtime,
                 const std::string& label, BuildResult& result);

}  // namespace keel::image
