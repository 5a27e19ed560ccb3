#include "image/modules.hpp"

#include <elf.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <system_error>

#include "image/diagnostic.hpp"

namespace keel::image {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kCompressedSuffixes[] = {".ko.xz", ".ko.zst", ".ko.gz"};

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The module name a file name stands for ("virtio-rng.ko.xz" -> "virtio_rng"),
// or "" when it is not a module file.
std::string module_name_of_file(std::string_view filename) {
  if (ends_with(filename, ".ko")) return canonical_module_name(filename.substr(0, filename.size() - 3));
  for (std::string_view suffix : kCompressedSuffixes) {
    if (ends_with(filename, suffix)) return canonical_module_name(filename.substr(0, filename.size() - suffix.size()));
  }
  return "";
}

std::vector<std::string> split_list(std::string_view value) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t comma = value.find(',', start);
    if (comma == std::string_view::npos) comma = value.size();
    if (comma > start) items.push_back(canonical_module_name(value.substr(start, comma - start)));
    start = comma + 1;
  }
  return items;
}

class ElfFile {
 public:
  explicit ElfFile(const fs::path& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) throw ImageError(path.string(), 0, "cannot open the module file");
    in_.seekg(0, std::ios::end);
    size_ = static_cast<std::uint64_t>(in_.tellg());
  }

  void read(std::uint64_t offset, void* out, std::size_t length) {
    if (offset > size_ || length > size_ - offset)
      throw ImageError(path_.string(), 0, "truncated ELF file (a header points past its end)");
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(static_cast<char*>(out), static_cast<std::streamsize>(length));
    if (!in_) throw ImageError(path_.string(), 0, "cannot read the module file");
  }

  std::string read_string(std::uint64_t offset, std::uint64_t length) {
    std::string data(length, '\0');
    if (length > 0) read(offset, data.data(), data.size());
    return data;
  }

  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  std::ifstream in_;
  std::uint64_t size_ = 0;
};

// The contents of section `wanted` of an ELF file of class Ehdr/Shdr
// (little-endian, as on x86), or nullopt-like "" with found=false.
template <typename Ehdr, typename Shdr>
bool find_section(ElfFile& elf, std::string_view wanted, std::string& contents) {
  Ehdr header{};
  elf.read(0, &header, sizeof header);
  if (header.e_shentsize != sizeof(Shdr) || header.e_shnum == 0)
    throw ImageError(elf.path().string(), 0, "ELF file without section headers");
  std::vector<Shdr> sections(header.e_shnum);
  elf.read(header.e_shoff, sections.data(), sizeof(Shdr) * sections.size());
  if (header.e_shstrndx >= sections.size())
    throw ImageError(elf.path().string(), 0, "ELF file with a bad section-name table index");
  const Shdr& names = sections[header.e_shstrndx];
  const std::string name_table = elf.read_string(names.sh_offset, names.sh_size);
  for (const Shdr& section : sections) {
    if (section.sh_name >= name_table.size()) continue;
    const char* name = name_table.c_str() + section.sh_name;
    if (wanted != name) continue;
    if (section.sh_type == SHT_NOBITS) return false;
    contents = elf.read_string(section.sh_offset, section.sh_size);
    return true;
  }
  return false;
}

}  // namespace

std::string canonical_module_name(std::string_view name) {
  std::string canonical(name);
  std::replace(canonical.begin(), canonical.end(), '-', '_');
  return canonical;
}

std::vector<std::pair<std::string, std::string>> read_modinfo(const fs::path& file) {
  const std::string filename = file.filename().string();
  for (std::string_view suffix : kCompressedSuffixes) {
    if (ends_with(filename, suffix)) {
      throw ImageError(file.string(), 0,
                       "compressed kernel module: keel loads modules with finit_module, which needs "
                       "an uncompressed .ko unless the kernel has CONFIG_MODULE_DECOMPRESS; "
                       "decompress the module tree first");
    }
  }
  ElfFile elf(file);
  unsigned char ident[EI_NIDENT] = {};
  elf.read(0, ident, sizeof ident);
  if (std::memcmp(ident, ELFMAG, SELFMAG) != 0)
    throw ImageError(file.string(), 0, "not an ELF file (a kernel module is a relocatable ELF object)");
  if (ident[EI_DATA] != ELFDATA2LSB)
    throw ImageError(file.string(), 0, "big-endian ELF module: only little-endian modules are supported");
  std::string contents;
  bool found = false;
  if (ident[EI_CLASS] == ELFCLASS64) {
    found = find_section<Elf64_Ehdr, Elf64_Shdr>(elf, ".modinfo", contents);
  } else if (ident[EI_CLASS] == ELFCLASS32) {
    found = find_section<Elf32_Ehdr, Elf32_Shdr>(elf, ".modinfo", contents);
  } else {
    throw ImageError(file.string(), 0, "ELF file of an unknown class");
  }
  if (!found) throw ImageError(file.string(), 0, "no .modinfo section: not a kernel module");

  std::vector<std::pair<std::string, std::string>> entries;
  std::size_t start = 0;
  while (start < contents.size()) {
    std::size_t end = contents.find('\0', start);
    if (end == std::string::npos) end = contents.size();
    std::string_view entry(contents.data() + start, end - start);
    if (!entry.empty()) {
      const std::size_t equals = entry.find('=');
      if (equals == std::string_view::npos) {
        entries.emplace_back(std::string(entry), "");
      } else {
        entries.emplace_back(std::string(entry.substr(0, equals)), std::string(entry.substr(equals + 1)));
      }
    }
    start = end + 1;  // entries may be padded with several NULs (alignment)
  }
  return entries;
}

ModuleTree::ModuleTree(fs::path dir) : dir_(std::move(dir)) {
  std::error_code ec;
  if (!fs::is_directory(dir_, ec))
    throw ImageError(dir_.string(), 0, "kernel module tree not found (expected lib/modules/<version>)");
  std::vector<fs::path> found;
  for (auto it = fs::recursive_directory_iterator(dir_, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    if (!module_name_of_file(it->path().filename().string()).empty()) found.push_back(it->path());
  }
  if (ec) throw ImageError(dir_.string(), 0, "cannot read the kernel module tree: " + ec.message());
  std::sort(found.begin(), found.end());
  auto in_updates = [this](const fs::path& file) {
    const fs::path relative = file.lexically_relative(dir_);
    return !relative.empty() && *relative.begin() == "updates";
  };
  for (const fs::path& file : found) {
    const std::string name = module_name_of_file(file.filename().string());
    auto [it, inserted] = files_.emplace(name, file);
    if (!inserted && in_updates(file) && !in_updates(it->second)) it->second = file;
  }
  std::ifstream builtin(dir_ / "modules.builtin");
  for (std::string line; std::getline(builtin, line);) {
    const std::string name = module_name_of_file(fs::path(line).filename().string());
    if (!name.empty()) builtin_.insert(name);
  }
}

fs::path ModuleTree::module_dir(const fs::path& root, const std::string& version) {
  for (const fs::path& base : {root / "lib/modules", root / "usr/lib/modules"}) {
    std::error_code ec;
    if (!fs::is_directory(base, ec)) continue;
    if (!version.empty()) {
      if (fs::is_directory(base / version, ec)) return base / version;
      continue;
    }
    std::vector<fs::path> versions;
    for (const auto& entry : fs::directory_iterator(base, ec)) {
      if (entry.is_directory(ec)) versions.push_back(entry.path());
    }
    if (versions.size() == 1) return versions.front();
    if (versions.size() > 1) throw ImageError(base.string(), 0, "several kernel versions here: say which one");
  }
  throw ImageError(root.string(), 0,
                   "no kernel module tree" + (version.empty() ? std::string() : " for " + version) +
                       " (looked for lib/modules/<version> and usr/lib/modules/<version>)");
}

bool ModuleTree::builtin(std::string_view name) const { return builtin_.count(canonical_module_name(name)) != 0; }

const ModuleInfo& ModuleTree::info(std::string_view name) {
  const std::string canonical = canonical_module_name(name);
  if (auto cached = cache_.find(canonical); cached != cache_.end()) return cached->second;
  auto file = files_.find(canonical);
  if (file == files_.end()) {
    throw ImageError(dir_.string(), 0,
                     "unknown kernel module '" + std::string(name) + "': no " + canonical +
                         ".ko (or with '-' for '_') under " + dir_.string() +
                         (builtin_.count(canonical) ? " (it is built into this kernel)" : ""));
  }
  ModuleInfo info;
  info.name = canonical;
  info.file = file->second;
  info.relative = file->second.lexically_relative(dir_).string();
  for (auto& [key, value] : read_modinfo(file->second)) {
    if (key == "name") {
      info.name = canonical_module_name(value);
    } else if (key == "depends") {
      for (std::string& dependency : split_list(value)) info.depends.push_back(std::move(dependency));
    } else if (key == "alias") {
      info.aliases.push_back(value);
    } else if (key == "softdep") {
      info.softdep = value;
    } else if (key == "vermagic") {
      info.vermagic = value;
    }
  }
  return cache_.emplace(canonical, std::move(info)).first->second;
}

std::vector<ModuleInfo> ModuleTree::resolve(const std::vector<std::string>& names) {
  std::vector<ModuleInfo> order;
  std::set<std::string> done;
  std::vector<std::string> stack;
  for (const std::string& name : names) visit(canonical_module_name(name), "", stack, done, order);
  return order;
}

void ModuleTree::visit(const std::string& name, const std::string& needed_by, std::vector<std::string>& stack,
                       std::set<std::string>& done, std::vector<ModuleInfo>& order) {
  if (done.count(name)) return;
  if (auto on_stack = std::find(stack.begin(), stack.end(), name); on_stack != stack.end()) {
    std::string cycle;
    for (auto it = on_stack; it != stack.end(); ++it) cycle += *it + " -> ";
    throw ImageError(dir_.string(), 0, "kernel module dependency cycle: " + cycle + name);
  }
  if (files_.count(name) == 0 && builtin_.count(name)) {
    done.insert(name);  // built in: nothing to load
    return;
  }
  if (files_.count(name) == 0 && !needed_by.empty()) {
    throw ImageError(dir_.string(), 0,
                     "unknown kernel module '" + name + "' (a dependency of " + needed_by + "): no " + name +
                         ".ko under " + dir_.string());
  }
  // Copy: info() may insert into cache_ while we recurse (a std::map keeps
  // references valid, but the copy keeps this independent of that).
  const ModuleInfo module = info(name);
  stack.push_back(name);
  for (const std::string& dependency : module.depends) visit(dependency, name, stack, done, order);
  stack.pop_back();
  done.insert(name);
  order.push_back(module);
}

}  // namespace keel::image
