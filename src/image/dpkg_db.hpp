// dpkg_db.hpp — which Debian package a host file came from, read from dpkg's
// own database, for the SBOM (sbom.hpp).
//
// dpkg records what it installed in plain files: ADMINDIR/status (one
// paragraph per package: Package, Status, Architecture, Version, Source,
// Maintainer, ...) and ADMINDIR/info/PKG.list or PKG:ARCH.list (every path
// the package put on the system, one per line). Reading those files is what
// `dpkg -S` and `dpkg-query -W` do; reading them directly costs one pass
// over about 1,000 small files and no process per lookup.
//
// usr-merge: on a merged-/usr system /lib, /bin, /sbin, /lib64 (and lib32,
// libx32) are symlinks into /usr, but a package's .list keeps the path its
// .deb shipped, either /lib/x86_64-linux-gnu/libc.so.6 or
// /usr/lib/x86_64-linux-gnu/libc.so.6. keel-image copies libraries at their
// canonical (/usr) path, so a lookup tries the path as given and its alias
// on the other side of the merge, and the host realpath first: the bytes in
// the image are those of the file at the end of the symlinks, which may
// belong to another package than the link (/usr/bin/python3 is python3's,
// /usr/bin/python3.11 python3.11-minimal's).
//
// Licences: /usr/share/doc/PKG/copyright. When it is in Debian's
// machine-readable format (DEP-5: a "Format: .../copyright-format/1.0/"
// first paragraph), the License fields of its Files paragraphs are the
// package's declared licences; otherwise nothing is claimed (the SBOM says
// NOASSERTION). Not handled: dpkg diversions (a diverted file is reported
// under the package whose .list names the path).
//
// Nothing is read until the first lookup, and then everything once: a
// build without an SBOM never touches dpkg's files.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace keel::image {

struct DebianPackage {
  std::string name;          // "libc6"
  std::string architecture;  // "amd64", "all"
  std::string version;       // "2.36-9+deb12u4" (with an epoch when it has one: "1:2.3-4")
  std::string source;        // the source package with its version when it differs: "glibc (2.36-9)"; else ""
  std::string maintainer;    // "GNU Libc Maintainers <debian-glibc@lists.debian.org>"
};

struct DpkgPaths {
  std::filesystem::path admindir = "/var/lib/dpkg";
  std::filesystem::path docdir = "/usr/share/doc";
};

class DpkgDb {
 public:
  explicit DpkgDb(DpkgPaths paths = {});

  // The installed package that owns `host_file` (its realpath tried first,
  // then the path as given, each with its usr-merge alias); nullptr when no
  // package does or there is no dpkg database (not an error: files of the
  // user's own are not in any package).
  [[nodiscard]] const DebianPackage* owner(const std::filesystem::path& host_file);

  // The License fields of a package's DEP-5 copyright file, in file order,
  // each once ("GPL-2+", "LGPL-2.1+ or BSD-3-clause"); empty when the file
  // is not DEP-5 or missing. Read on the first call for the package.
  [[nodiscard]] const std::vector<std::string>& licenses(const DebianPackage& package);

  // "a" -> the package, for tests and for a package named by its name.
  [[nodiscard]] const DebianPackage* find(const std::string& name);

 private:
  void load();
  const DebianPackage* lookup(const std::string& path) const;

  DpkgPaths paths_;
  bool loaded_ = false;
  std::vector<std::unique_ptr<DebianPackage>> packages_;
  std::unordered_map<std::string, const DebianPackage*> owners_;  // path -> package
  std::map<const DebianPackage*, std::vector<std::string>> licenses_;
};

// "/usr/lib/x" -> "/lib/x", "/lib64/y" -> "/usr/lib64/y"; nullopt for a
// path outside the merged directories.
[[nodiscard]] std::optional<std::string> usr_merge_alias(const std::string& path);

// The License field values of a DEP-5 copyright text (their first lines,
// trimmed; each once, in order). Empty when `text` is not DEP-5.
[[nodiscard]] std::vector<std::string> dep5_licenses(const std::string& text);

}  // namespace keel::image
