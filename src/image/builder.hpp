// builder.hpp — `keel-image build`: a Spec turned into an image.
//
// The build has two halves:
//
//   1. plan_image(): the spec becomes a flat, sorted list of image entries
//      (ImagePlan). The default layout (docs/image-spec.md), every [[file]], [[dir]],
//      [[symlink]], [[hardlink]], [[device]], [[tree]], each [[program]] with
//      its ELF closure (a "#!" script: its interpreter and that one's
//      closure), [keel] with its init links and configuration, [modules]
//      with CONFIG_DIR/modules.load ([keel] config_dir, default /etc/keel),
//      [boot] cmdline as /etc/keel/cmdline, and
//      /etc/passwd and /etc/group from [[user]]/[[group]]. Parents are added
//      as 0755 root:root directories. Two sources for one path are an
//      ImageError naming both spec lines, unless they are the same thing (a
//      library listed as a [[file]] with identical bytes, two programs
//      sharing libc, two trees sharing /etc, ...).
//
//   2. write_image(): the plan written as a newc cpio archive (through gzip,
//      zstd or nothing) or as a plain directory tree. Entries go out in path
//      order (a parent always before its children), owners and modes come
//      from the plan only, every mtime is SOURCE_DATE_EPOCH (or 0), and the
//      compressors write no timestamps: one spec and one set of inputs give
//      one byte sequence.
//
// Libraries and usr-merge: in the image /bin, /sbin, /lib, /lib64 are real
// directories (not usr-merge symlinks). A library is copied once, at its
// canonical path (its realpath on the host, e.g.
// /usr/lib/x86_64-linux-gnu/libc.so.6), and every other path the loader
// opens it by (/lib/x86_64-linux-gnu/libc.so.6, /lib64/ld-linux-x86-64.so.2)
// is a RELATIVE symlink to that copy, so the links resolve inside the image
// and inside an unpacked tree on the host alike.
//
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace keel::image {

struct Spec;

enum class EntryKind { File, Directory, Symlink, Hardlink, CharDevice, BlockDevice, Fifo };

// One path of the image. Paths are absolute and normalised ("/usr/bin/x").
struct ImageEntry {
  std::string path;
  EntryKind kind = EntryKind::File;
  std::uint32_t mode = 0;  // permission bits only (07777)
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::filesystem::path source;        // File: host file to copy, when `content` is empty
  std::optional<std::string> content;  // File: the bytes, inline
  std::string target;                  // Symlink: as stored; Hardlink: the image path it names
  std::uint32_t major = 0;             // devices
  std::uint32_t minor = 0;
  int line = 0;        // the spec line that asked for it (0: the builder's own)
  std::string origin;  // what asked for it, for messages: "[[file]]", "library of [[program]] /bin/x", ...
};

struct ImagePlan {
  std::vector<ImageEntry> entries;  // sorted by path, parents first, each path once
  std::vector<std::string> notes;   // e.g. closure notes ("libgcc_s.so.1 not found; not added")
};

// Spec -> entries. Throws ImageError(spec file, line, message) for a
// conflict, an unresolvable library, an unknown module or Python module, ...
[[nodiscard]] ImagePlan plan_image(const Spec& spec);

struct BuildOptions {
  std::filesystem::path output;    // overrides [output] path when not empty (-o)
  std::optional<std::uint32_t> mtime;  // default: SOURCE_DATE_EPOCH, else 0
  std::ostream* log = nullptr;     // warnings and the summary line (nullptr: none)
  int progress_fd = -1;            // a live progress line goes here when it is a terminal (-1: none)
  std::filesystem::path sbom;      // also write the SPDX document here (--sbom); overrides [output] sbom
};

struct BuildResult {
  std::filesystem::path output;
  std::string format;                    // "cpio", "dir", "ext4"
  std::string compression;               // "none", "gzip", "zstd" ("none" for dir)
  int level = 0;                         // the compression level used (0: none)
  std::size_t entries = 0;               // entries written (the cpio trailer not counted)
  std::uint64_t bytes = 0;               // cpio: archive bytes before compression; dir: file bytes
  std::uint64_t compressed = 0;          // cpio: bytes of the output file
  std::size_t skipped_devices = 0;       // dir output, not root: device nodes not created
  std::size_t skipped_owners = 0;        // dir output, not root: entries whose owner was not set
  std::vector<std::string> notes;
  std::filesystem::path sbom;            // where the SPDX document went (empty: none asked for)

  // "wrote OUT: N entries, X bytes (Y compressed)".
  [[nodiscard]] std::string summary() const;
};

// Writes a plan as the spec's [output] says (format, compression, path; the
// path may come from options.output).
BuildResult write_image(const Spec& spec, const ImagePlan& plan, const BuildOptions& options = {});

// parse_spec_file + plan_image + write_image.
BuildResult build_image(const std::filesystem::path& spec_file, const BuildOptions& options = {});

// The mtime of every entry: $SOURCE_DATE_EPOCH when set (a decimal number of
// seconds that fits in 32 bits, else ImageError), 0 otherwise.
[[nodiscard]] std::uint32_t source_date_epoch();

// "../usr/lib/x86_64-linux-gnu/libc.so.6" for a link at `link` (absolute
// image path) that must reach `target` (absolute image path).
[[nodiscard]] std::string relative_link(const std::string& link, const std::string& target);

}  // namespace keel::image
