// stage_initramfs.cpp — see stage_initramfs.hpp.
#include "image/stage_initramfs.hpp"

#include <cstdlib>
#include <system_error>

#include "image/builder.hpp"
#include "image/diagnostic.hpp"
#include "image/disk.hpp"
#include "image/modules.hpp"
#include "image/spec.hpp"

namespace keel::image {
namespace {

namespace fs = std::filesystem;

bool is_disk_root(OutputFormat f) { return f == OutputFormat::ext4 || f == OutputFormat::erofs || f == OutputFormat::disk; }

int output_line(const Spec& spec) {
  return spec.output.initramfs_line != 0 ? spec.output.initramfs_line : spec.output.line;
}

// The module tree: [modules]'s, else the kernel cache's (as keel-image boot finds its kernel).
ModulesSpec module_tree(const Spec& spec) {
  ModulesSpec m;
  m.line = output_line(spec);
  if (spec.modules) {
    m.tree = spec.modules->tree;
    m.kernel = spec.modules->kernel;
    m.line = spec.modules->line;
    return m;
  }
  const char* env = std::getenv("KEEL_KERNEL_CACHE");
  const fs::path cache = fs::path(env != nullptr && *env != '\0' ? env : "build/kernel-cache") / "current";
  try {
    m.tree = ModuleTree::module_dir(cache);
  } catch (const ImageError& e) {
    throw ImageError(spec.file.string(), m.line,
                     "the stage initramfs needs the kernel's modules (virtio_blk, ext4 or erofs), and the spec has no "
                     "[modules] to name the kernel's module tree; the kernel cache has none either (" +
                         std::string(e.what()) + "): give [modules] tree or kernel, or initramfs = false");
  }
  m.kernel = m.tree.filename().string();
  return m;
}

}  // namespace

fs::path stage_initramfs_path(const Spec& spec, const fs::path& root_output) {
  if (!is_disk_root(spec.output.format) || spec.output.initramfs_off) return {};
  if (!spec.output.initramfs.empty()) return spec.output.initramfs;
  if (!spec.keel) return {};
  fs::path p = root_output;
  p += ".initramfs";
  return p;
}

Spec stage_spec(const Spec& spec, const fs::path& initramfs) {
  if (!spec.keel) {
    throw ImageError(spec.file.string(), output_line(spec),
                     "the stage initramfs needs keel: add [keel] binary = ... (or initramfs = false)");
  }
  const DiskSpec disk = spec.disk.value_or(DiskSpec{});
  const OutputFormat root = spec.output.format == OutputFormat::disk ? disk.root : spec.output.format;
  const bool data = spec.output.format == OutputFormat::disk && disk.data_size != 0;
  const bool ext4 = root == OutputFormat::ext4 || data;

  Spec stage;
  stage.file = spec.file;
  stage.dir = spec.dir;
  stage.output.format = OutputFormat::cpio;
  stage.output.compression = Compression::Zstd;
  stage.output.path = initramfs;
  stage.output.line = output_line(spec);
  stage.users = {User{"root", 0, 0, "/root", "/bin/sh", 0}};
  stage.groups = {Group{"root", 0, {}, 0}};

  // keel and its init links only: its configuration and services are the root's.
  KeelSpec keel;
  keel.binary = spec.keel->binary;
  keel.path = spec.keel->path;
  keel.init_links = spec.keel->init_links;
  keel.keelctl_link = "";
  keel.power_links = {};
  keel.config_dir = spec.keel->config_dir;
  keel.line = spec.keel->line;
  stage.keel = keel;

  ModulesSpec modules = module_tree(spec);
  modules.names = {"virtio_pci", "virtio_blk"};
  if (ext4) {
    // ext4's metadata checksums ask the crypto API for crc32c, a softdep the resolver does not follow.
    modules.names.emplace_back("crc32c_generic");
    modules.names.emplace_back("ext4");
  }
  if (root == OutputFormat::erofs) modules.names.emplace_back("erofs");
  stage.modules = modules;

  if (ext4) {
    ProgramEntry e2fsck;
    e2fsck.source = "/sbin/e2fsck";
    e2fsck.path = "/sbin/e2fsck";
    e2fsck.line = stage.output.line;
    stage.programs.push_back(e2fsck);
    // e2fsck looks for mounted filesystems in /etc/mtab.
    SymlinkEntry mtab;
    mtab.path = "/etc/mtab";
    mtab.target = "../proc/self/mounts";
    mtab.line = stage.output.line;
    stage.symlinks.push_back(mtab);
  }

  std::string cmdline;
  for (const std::string& word : stage_cmdline_words(spec)) cmdline += (cmdline.empty() ? "" : " ") + word;
  if (!spec.boot.cmdline.empty()) cmdline += " " + spec.boot.cmdline;
  stage.boot.cmdline = cmdline;
  stage.boot.line = spec.boot.line != 0 ? spec.boot.line : stage.output.line;
  return stage;
}

void write_stage_initramfs(const Spec& spec, const fs::path& root_output, std::uint32_t mtime,
                           std::vector<std::string>& notes) {
  const fs::path path = stage_initramfs_path(spec, root_output);
  if (path.empty()) {
    if (is_disk_root(spec.output.format) && !spec.output.initramfs_off) {
      notes.emplace_back("no stage initramfs: the spec has no [keel] (docs/image-spec.md, \"Disk roots\")");
    }
    return;
  }
  if (spec.output.initramfs.empty() && !spec.modules) {
    // Not asked for by name: an ext4 image built for another use (a
    // container's or a VM's root given its own kernel) must not fail for
    // want of a kernel's modules. Asked for by name, the error stands.
    try {
      (void)module_tree(spec);
    } catch (const ImageError& e) {
      notes.emplace_back(std::string("no stage initramfs: ") + e.what());
      return;
    }
  }
  BuildResult written;
  try {
    const Spec stage = stage_spec(spec, path);
    const ImagePlan plan = plan_image(stage);
    BuildOptions options;
    options.output = path;
    options.mtime = mtime;
    written = write_image(stage, plan, options);
  } catch (...) {
    // A root that cannot boot is no output: the build fails as a whole.
    std::error_code ec;
    fs::remove(root_output, ec);
    throw;
  }
  for (const std::string& note : written.notes) notes.push_back("stage initramfs: " + note);
  notes.push_back("stage initramfs: " + written.summary());
}

}  // namespace keel::image
