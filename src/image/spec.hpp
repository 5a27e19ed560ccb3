// spec.hpp — an image spec: what keel-image is asked to put into an image.
//
// A spec is a TOML file (schema and examples: docs/image-spec.md). This
// part only reads it: it parses the TOML with toml++, checks every key and
// value, resolves host sources against the spec's directory and normalises
// image paths, and hands back a plain struct. Nothing is built or copied
// here, so the builders (cpio, ext4, tree) all start from one description
// that is already known to be consistent.
//
// Why all the checking happens up front: a build that fails halfway through
// a 5 MB image because of a typo is slow to debug. A bad spec instead gets
// one clear ImageError naming the spec file, the line of the offending key
// or table, and what is wrong (an unknown key with the closest known one,
// a wrong type, a missing source with its resolved path, a path escaping the
// image root, a path given twice, an unknown owner, ...). The first problem
// found is the one reported.
//
// Every entry keeps its spec line (`line`) so later stages (the ELF
// resolver, the module resolver) can report their own problems against it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "image/compress.hpp"

namespace keel::image {

enum class OutputFormat { cpio, ext4, dir, oci, docker_archive, erofs, disk };
enum class DeviceType { character, block };

// Numeric ownership, already resolved from names ([[user]]/[[group]]) or
// numbers. Default root:root whatever owns the host file.
struct Ownership {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  bool operator==(const Ownership&) const = default;
};

struct Output {
  OutputFormat format = OutputFormat::cpio;
  Compression compression = Compression::Gzip;  // none unless cpio
  int level = 0;                                // 0: default_level(compression)
  std::filesystem::path path;                   // host path; empty: not given (-o decides)
  std::uint64_t size = 0;                       // ext4 only, bytes; 0: the builder picks
  int line = 0;
  // SBOM (issue 14 §3, src/image/sbom.hpp): an SPDX 2.3 JSON document of
  // the image is written here too; empty: none (`build --sbom FILE` sets one).
  std::filesystem::path sbom;
  // --- erofs and disk outputs, the stage initramfs ---
  std::string label;  // the root filesystem's label (ext4, erofs, disk); "": "keel-root"
  // The stage initramfs (docs/image-spec.md "Disk roots"): written for
  // ext4, erofs and disk outputs of a spec with [keel], at `initramfs`, or
  // by default at the output path + ".initramfs"; initramfs = false: not.
  std::filesystem::path initramfs;
  bool initramfs_off = false;
  int initramfs_line = 0;
};

// [[file]]: a host file (or inline text) copied to an image path.
struct FileEntry {
  std::filesystem::path source;        // absolute host path; empty when `content` is used
  std::optional<std::string> content;  // inline text instead of a source
  std::string path;                    // normalised absolute image path
  mode_t mode = 0644;
  Ownership owner;
  int line = 0;
};

// [[dir]]: an (empty) directory.
struct DirEntry {
  std::string path;
  mode_t mode = 0755;
  Ownership owner;
  int line = 0;
};

// [[symlink]]: a symbolic link; `target` is stored as written (relative or
// absolute, never normalised). Mode is always 0777.
struct SymlinkEntry {
  std::string path;
  std::string target;
  Ownership owner;
  int line = 0;
};

// [[hardlink]]: another name for an entry already in the image.
struct HardlinkEntry {
  std::string path;
  std::string target;  // normalised absolute image path
  int line = 0;
};

// [[device]]: a device node, archive metadata only (no mknod).
struct DeviceEntry {
  std::string path;
  DeviceType type = DeviceType::character;
  std::uint32_t major = 0;
  std::uint32_t minor = 0;
  mode_t mode = 0600;
  Ownership owner;
  int line = 0;
};

// [[tree]]: a whole host directory copied under an image path. Host modes
// are kept (permission bits); owners are `owner` (root:root by default).
struct TreeEntry {
  std::filesystem::path source;      // absolute host directory
  std::string path;                  // image directory it lands in
  std::vector<std::string> exclude;  // fnmatch globs, relative to `source`
  Ownership owner;
  int line = 0;
};

// [[program]]: an ELF program; the builder adds its shared-library closure.
struct ProgramEntry {
  std::filesystem::path source;
  std::string path;
  mode_t mode = 0755;
  Ownership owner;
  int line = 0;
};

// [modules]: kernel modules by name, from a kernel's module tree.
struct ModulesSpec {
  std::vector<std::string> names;
  std::filesystem::path tree;  // host module tree (.../lib/modules/VERSION)
  std::string kernel;          // kernel version (the tree's directory name)
  int line = 0;
};

struct KeelConfigFile {
  std::filesystem::path source;
  std::string path;  // config_dir + "/" + source's file name
  int line = 0;
};

// [keel]: keel itself and its configuration.
struct KeelSpec {
  std::filesystem::path binary;  // host keel binary
  std::string path = "/sbin/keel";
  std::vector<std::string> init_links = {"/init", "/sbin/init"};  // symlinks to `path`
  std::string keelctl_link = "/sbin/keelctl";  // "" : none
  // keel as reboot / poweroff / halt (they ask PID 1; -f does it at once).
  std::vector<std::string> power_links = {"/sbin/reboot", "/sbin/poweroff", "/sbin/halt"};
  std::string config_dir = "/etc/keel";
  std::vector<KeelConfigFile> config;
  std::vector<KeelConfigFile> services;  // host service files -> config_dir/services/NAME.toml
  int line = 0;
};

struct PythonScript {
  std::filesystem::path source;
  std::string path;
  int line = 0;
};

// [python]: an interpreter with the stdlib its entry scripts need.
struct PythonSpec {
  std::filesystem::path interpreter = "/usr/bin/python3";  // host interpreter
  std::string path = "/usr/bin/python3";                   // image path
  std::vector<PythonScript> scripts;
  std::vector<std::string> include;   // extra stdlib modules
  std::vector<std::string> exclude;   // modules kept out even if imported
  std::vector<std::string> optional;  // heavy parts asked for: "ssl", "sqlite3", ...
  int line = 0;
};

struct User {
  std::string name;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;  // default: uid
  std::string home = "/";
  std::string shell = "/bin/sh";
  int line = 0;  // 0: the implicit root entry
};

struct Group {
  std::string name;
  std::uint32_t gid = 0;
  std::vector<std::string> members;
  int line = 0;  // 0: the implicit root entry
};

struct Boot {
  std::string cmdline;
  int line = 0;
};

// --- OCI images: what [oci] says about the
// image's config. Everything is resolved here: `entrypoint` is final (from
// `init` or given), `user` is numeric, `env` carries PATH.
enum class OciInit { system, container, none };

struct OciSpec {
  OciInit init = OciInit::system;
  std::vector<std::string> entrypoint;                      // the config's Entrypoint
  std::vector<std::string> cmd;                             // Cmd
  std::vector<std::pair<std::string, std::string>> env;     // Env, sorted by name
  std::string workdir;                                      // WorkingDir ("" : none)
  std::vector<std::string> ports;                           // ExposedPorts, "8080/tcp", sorted
  std::string stop_signal;                                  // StopSignal, "SIGTERM" ("" : none)
  std::string user;                                         // User, "uid:gid" ("" : none)
  std::vector<std::pair<std::string, std::string>> labels;  // Labels, sorted by name
  std::string name;                                         // repository name (docker-archive RepoTags)
  std::string tag = "latest";                               // the index's ref.name, the RepoTags tag
  std::vector<std::string> compat_links;                    // symlinks to keel named tini / dumb-init
  int line = 0;                                             // [oci]'s line (0: no table)
};

// [disk]: the partitioned disk of format = "disk", and the mounts the
// stage makes for any disk root (ext4, erofs, disk).
struct DiskSpec {
  OutputFormat root = OutputFormat::ext4;  // ext4 or erofs
  std::uint64_t root_size = 0;             // ext4 root only; 0: the builder picks
  std::uint64_t data_size = 0;             // 0: no data partition
  std::string data_mount = "/data";        // where the stage mounts it (keel.data)
  std::vector<std::string> tmpfs;          // keel.tmpfs paths
  int line = 0;
};

struct Spec {
  std::filesystem::path file;  // the spec as given
  std::filesystem::path dir;   // absolute directory sources are relative to
  Output output;
  Boot boot;
  std::vector<FileEntry> files;
  std::vector<DirEntry> dirs;
  std::vector<SymlinkEntry> symlinks;
  std::vector<HardlinkEntry> hardlinks;
  std::vector<DeviceEntry> devices;
  std::vector<TreeEntry> trees;
  std::vector<ProgramEntry> programs;
  std::optional<ModulesSpec> modules;
  std::optional<KeelSpec> keel;
  std::optional<PythonSpec> python;
  // Always start with root (uid 0 / gid 0) unless the spec declares it.
  // /etc/passwd and /etc/group are written from these unless a [[file]]
  // gives them (declaring both is an error: the path is given twice).
  std::vector<User> users;
  std::vector<Group> groups;

  // --- OCI images: [oci], for [output]
  // format = "oci" and "docker-archive" (docs/image-spec.md, "OCI images").
  // Set whenever the format is one of those (the defaults when the spec
  // has no [oci] table); never set for another format.
  std::optional<OciSpec> oci;
  // --- [disk] ---
  std::optional<DiskSpec> disk;
};

// The heavy optional Python parts [python] optional = [...] may name.
inline constexpr std::string_view kPythonOptionalParts[] = {"ssl", "sqlite3", "ctypes",   "lzma",
                                                            "bz2", "curses",  "readline", "decimal"};

// Reads and checks a spec file. Throws ImageError(file, line, message) for
// the first problem found (unreadable file: line 0).
Spec parse_spec_file(const std::filesystem::path& file);

// The same from text already read; `file` names it in errors and its
// directory is where relative sources are resolved.
Spec parse_spec(std::string_view text, const std::filesystem::path& file);

// "/usr//bin/./x/../y/" -> "/usr/bin/y". nullopt when the path is not
// absolute or ".." climbs above "/". Exposed for the builders and tests.
std::optional<std::string> normalize_image_path(std::string_view path);

}  // namespace keel::image
