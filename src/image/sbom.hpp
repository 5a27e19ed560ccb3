// sbom.hpp — an SPDX 2.3 JSON document for an image: what is shipped, where
// each file came from, under which licence (issue 14 §3; docs/image-spec.md,
// "SBOM").
//
// The document is made from the build's plan (builder.hpp), not from the
// written image, so every output format gets the same one: the plan is the
// list of what the image holds, with each entry's source. Each regular file
// (a hard link too: one more name for the same bytes) is an SPDX file with
// its SHA-1 (which SPDX 2.3 requires) and SHA-256, and its origin:
//
//   - keel's own binary ([keel] binary): the package "keel", built from
//     source, version keel::kVersion (keel-image and keel are built from one
//     tree);
//   - a host file an installed Debian package owns (dpkg_db.hpp): that
//     package, with its version, architecture, purl and the licences its
//     DEP-5 copyright file declares;
//   - anything else (a file of the user's, a [[tree]], inline content, a
//     file keel-image writes such as /etc/passwd or a .pyc it compiled): the
//     image itself, with the spec file and line that asked for it in the
//     file's comment. A .pyc compiled from a Debian package's .py is
//     GENERATED_FROM that package.
//
// Symlinks, directories, device nodes and fifos carry no bytes and are not
// SPDX files; the document's comment counts them.
//
// Reproducible: no clock, no random UUID. `created` is SOURCE_DATE_EPOCH (or
// the epoch), the namespace's UUID is derived from the document's contents,
// files and packages are in sorted order, so one plan and one set of
// inputs give one byte sequence.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "image/dpkg_db.hpp"

namespace keel::image {

struct Spec;
struct ImagePlan;

struct SbomOptions {
  std::string image_name;                // the document's and the image package's name (the output's file name)
  std::filesystem::path image_file;      // when a regular file: its SHA-256 goes on the image package
  std::string format;                    // "cpio", "ext4", ... (the image package's comment)
  std::uint32_t created = 0;             // seconds since 1970: SOURCE_DATE_EPOCH
  DpkgPaths dpkg;                        // where dpkg's database and the copyright files are
};

struct SbomSummary {
  std::size_t files = 0;      // SPDX files (regular files and hard links)
  std::size_t packages = 0;   // Debian packages, keel, and the image
  std::size_t unowned = 0;    // files from the host that no Debian package owns
};

// The document as text (JSON, 2-space indented, a final newline).
[[nodiscard]] std::string sbom_json(const Spec& spec, const ImagePlan& plan, const SbomOptions& options,
                                    SbomSummary* summary = nullptr);

// Writes it to `out` (through OUT.tmp and a rename). ImageError when it
// cannot be written or a file cannot be read.
SbomSummary write_sbom(const Spec& spec, const ImagePlan& plan, const std::filesystem::path& out,
                       const SbomOptions& options);

// A Debian copyright file's License field as an SPDX licence expression
// ("GPL-2+ or Artistic" -> "GPL-2.0-or-later OR Artistic-1.0-Perl"); empty
// when a name has no SPDX identifier keel-image knows or the field uses
// DEP-5 syntax SPDX has no form for (commas, "with" exceptions).
[[nodiscard]] std::string debian_license_to_spdx(const std::string& field);

}  // namespace keel::image
