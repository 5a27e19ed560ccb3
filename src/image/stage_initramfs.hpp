// stage_initramfs.hpp — the initramfs that boots a disk root ([output]
// initramfs; docs/image-spec.md "Disk roots"; interface I1 of issue 14).
//
// For an ext4, erofs or disk output of a spec with [keel], keel-image also
// writes a small zstd cpio: keel (the spec's [keel] binary, at its path,
// with its init links), the kernel modules the root needs (virtio_pci,
// virtio_blk, and ext4 with crc32c_generic or erofs, with their
// dependencies, in CONFIG_DIR/modules.load), /sbin/e2fsck and its library
// closure when an ext4 root or data partition is used (/etc/mtab a link to
// /proc/self/mounts for it), and /etc/keel/cmdline: the I1 words
// (stage_cmdline_words: root=LABEL=..., rootfstype=, keel.data=,
// keel.tmpfs=) followed by the spec's [boot] cmdline. keel, started as PID 1
// from it with root= on its command line, is the stage: it finds, checks,
// mounts and switches into the root (keel's side of I1).
//
// It is built as a derived spec through the ordinary planner and cpio
// writer, so it is reproducible the same way as every cpio image. Nothing
// else of the spec goes in (files, services, keel's configuration live on
// the root).
//
// The kernel's module tree: [modules] tree (or kernel) when the spec has
// [modules]; otherwise the kernel cache `keel-image boot` boots by
// default ($KEEL_KERNEL_CACHE, else ./build/kernel-cache: current/lib/
// modules/VERSION). No tree: an ImageError naming [output]'s line.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace keel::image {

struct Spec;

// The stage initramfs's path for a root written to `root_output`, or empty
// when none is written (not a disk-root format, initramfs = false, or
// no [keel] and no explicit initramfs).
[[nodiscard]] std::filesystem::path stage_initramfs_path(const Spec& spec, const std::filesystem::path& root_output);

// The derived spec of the stage initramfs (exposed for the tests).
[[nodiscard]] Spec stage_spec(const Spec& spec, const std::filesystem::path& initramfs);

// Writes it when stage_initramfs_path() is not empty; appends a summary to
// `notes`. Throws ImageError (an explicit initramfs without [keel], no
// module tree, a module missing from it), after removing `root_output`:
// a root without the initramfs that boots it is a failed build.
void write_stage_initramfs(const Spec& spec, const std::filesystem::path& root_output, std::uint32_t mtime,
                           std::vector<std::string>& notes);

}  // namespace keel::image
