// modules.hpp — kernel modules by name, with their dependencies, from a
// kernel's module tree (lib/modules/<version>/ as a linux-image package
// unpacks it).
//
// A kernel package ships no modules.dep (depmod makes it at install time;
// Debian's linux-image-*-amd64 has modules.order, modules.builtin and
// modules.builtin.modinfo only), so the dependencies are read from each
// module's ELF ".modinfo" section: NUL-separated "key=value" strings, of
// which "depends=a,b" lists the modules whose symbols it uses.
//
//   ModuleTree tree("build/kernel-cache/current/lib/modules/6.1.0-56-amd64");
//   for (const ModuleInfo& m : tree.resolve({"ext4", "virtio-blk"}))
//     ...   // jbd2, mbcache, crc16, ..., ext4, virtio_blk: dependencies first
//
// Names: '-' and '_' are one character in module names (the kernel's rule),
// so "virtio-rng", "virtio_rng" and the file virtio-rng.ko are one module;
// ModuleInfo::name is the canonical form, with '_'.
//
// Compressed modules (.ko.xz, .ko.zst, .ko.gz) are found but refused with an
// ImageError: keel loads modules with finit_module, which takes a compressed
// file only when the kernel has CONFIG_MODULE_DECOMPRESS (Debian 12's has
// not, and ships its modules uncompressed).
//
// Errors (ImageError, `where` = the tree or the module file): an unknown
// module (naming it and the tree searched), a dependency cycle (naming the
// cycle), a module file that is not a relocatable ELF or has no .modinfo.
#pragma once

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::image {

// "virtio-rng" -> "virtio_rng".
std::string canonical_module_name(std::string_view name);

// The key=value strings of an ELF file's .modinfo section, in file order
// (keys repeat: one "alias=" per alias). Throws ImageError when the file is
// not ELF, is compressed, or has no .modinfo section.
std::vector<std::pair<std::string, std::string>> read_modinfo(const std::filesystem::path& file);

struct ModuleInfo {
  std::string name;                  // canonical ('_'), from "name=" or the file name
  std::filesystem::path file;        // the .ko file
  std::string relative;              // file, relative to the tree (kernel/fs/ext4/ext4.ko)
  std::vector<std::string> depends;  // canonical names, as listed in "depends="
  std::vector<std::string> aliases;  // "alias=" values (fs-ext4, pci:v...)
  std::string softdep;               // "softdep=" (pre: crc32c ...), informational: not followed
  std::string vermagic;              // "vermagic=" (6.1.0-56-amd64 SMP mod_unload modversions)
};

class ModuleTree {
 public:
  // `dir` is lib/modules/<version>. Indexes every *.ko[.xz|.zst|.gz] under
  // it (once, here); a module under updates/ wins over one elsewhere, and
  // otherwise the first in path order. Throws ImageError when `dir` is not
  // a directory.
  explicit ModuleTree(std::filesystem::path dir);

  // The lib/modules/<version> directory of an unpacked kernel package
  // rooted at `root` (root/lib/modules/<version>, or root/usr/lib/...):
  // `version` when given, else the only version there. Throws ImageError
  // when there is none, or several and no version was given.
  static std::filesystem::path module_dir(const std::filesystem::path& root, const std::string& version = "");

  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_; }
  [[nodiscard]] std::size_t size() const noexcept { return files_.size(); }

  // Whether the module is built into the kernel (listed in modules.builtin):
  // nothing to load for it.
  [[nodiscard]] bool builtin(std::string_view name) const;

  // One module's file and .modinfo (read once, then cached). Throws
  // ImageError for a name that is neither a module file nor built in.
  const ModuleInfo& info(std::string_view name);

  // The modules named and everything they depend on, each once, in a load
  // order: every module after all of its dependencies. Deterministic: the
  // requested names are taken in the order given and each module's
  // dependencies in the order of its depends= list. Built-in modules are
  // left out (they need no loading). Throws ImageError for an unknown
  // module (naming the module that needs it, if any) and a cycle.
  std::vector<ModuleInfo> resolve(const std::vector<std::string>& names);

 private:
  void visit(const std::string& name, const std::string& needed_by, std::vector<std::string>& stack,
             std::set<std::string>& done, std::vector<ModuleInfo>& order);

  std::filesystem::path dir_;
  std::map<std::string, std::filesystem::path> files_;  // canonical name -> file
  std::set<std::string> builtin_;                       // canonical names
  std::map<std::string, ModuleInfo> cache_;
};

}  // namespace keel::image
