// disk.hpp — keel-image's disk-root outputs: an ext4 or erofs root
// filesystem on its own, or a GPT disk image with the root partition and an
// optional ext4 data partition ([output] format = "ext4" | "erofs" |
// "disk", [disk] table; docs/image-spec.md "Disk roots").
//
// The GPT is written here, not by sfdisk: the layout is fixed and small
// (a protective MBR, the primary header and its 128 entries, the
// partitions at 1 MiB boundaries, the backup entries and header at the
// end), its CRC32s come from zlib, and writing it ourselves gives exact,
// reproducible bytes (disk and partition GUIDs derived from the plan) with
// no tool whose output format or defaults could change under us; sfdisk is
// used by the tests to read it back.
//
// Layout of format = "disk" (sectors of 512 bytes):
//   LBA 0           protective MBR (one 0xEE partition over the disk)
//   LBA 1           GPT header; LBA 2-33: 128 partition entries
//   1 MiB           partition 1 "keel-root" (type: Linux root x86-64 of the
//                   Discoverable Partitions Specification), the root filesystem
//   next MiB        partition 2 "keel-data" (type: Linux filesystem), an
//                   empty ext4 labelled keel-data ([disk] data_size), if any
//   end - 33 LBAs   backup entries, then the backup header in the last LBA
//
// The root gets the directories the stage mounts on ([disk] data_mount and
// tmpfs; an erofs root cannot get them later), 0755 root:root (/tmp 1777)
// unless the spec makes them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "image/builder.hpp"

namespace keel::image {

struct Spec;

// GPT names and filesystem labels (I1).
inline constexpr const char* kRootPartition = "keel-root";
inline constexpr const char* kDataLabel = "keel-data";

// Writes the spec's ext4, erofs or disk output to `out`.
void write_disk_output(const Spec& spec, const ImagePlan& plan, const std::filesystem::path& out, std::uint32_t mtime,
                       BuildResult& result);

// The kernel command line words (I1) the stage initramfs of this spec
// carries before the spec's [boot] cmdline: root=LABEL=..., rootfstype=,
// keel.data=, keel.tmpfs=.
[[nodiscard]] std::vector<std::string> stage_cmdline_words(const Spec& spec);

// One GPT partition, for write_gpt (exposed for the tests).
struct GptPartition {
  std::string name;       // at most 36 UTF-16 code units (ASCII here)
  std::string type_guid;  // "4f68bce3-e8cd-4db1-96e7-fbcaf984b709"
  std::string unique_guid;
  std::uint64_t first_lba = 0;
  std::uint64_t sectors = 0;
};

// The GPT structures of a disk of `total_sectors`: the protective MBR and
// primary header with its entries (the first 34 sectors), and the backup
// entries and header (the last 33), as bytes.
struct GptBytes {
  std::string head;
  std::string tail;
};
[[nodiscard]] GptBytes make_gpt(const std::string& disk_guid, const std::vector<GptPartition>& parts,
                                std::uint64_t total_sectors);

}  // namespace keel::image
