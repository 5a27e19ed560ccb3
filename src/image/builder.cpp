// builder.cpp — plan_image() and write_image(); see builder.hpp.
#include "image/builder.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <ostream>
#include <set>
#include <system_error>

#include "image/cpio.hpp"
#include "image/diagnostic.hpp"
#include "image/disk.hpp"
#include "image/elf.hpp"
#include "image/ext4.hpp"
#include "image/modules.hpp"
#include "image/oci.hpp"
#include "image/plan_archive.hpp"
#include "image/progress.hpp"
#include "image/python.hpp"
#include "image/sbom.hpp"
#include "image/service_check.hpp"
#include "image/spec.hpp"
#include "image/stage_initramfs.hpp"

namespace keel::image {

namespace fs = std::filesystem;

namespace {

// Which source wins when two give one directory (or a default-layout entry
// is given again by the spec). Files, links and nodes from different
// sources must agree, whatever their priority.
enum Priority : int { kParent = 0, kLayout = 1, kTree = 2, kClosure = 2, kExplicit = 3 };

struct Planned {
  ImageEntry entry;
  int priority = kParent;
};

constexpr const char* kConfigDir = "/etc/keel";  // keel's default CONFIG_DIR
constexpr const char* kCmdline = "/etc/keel/cmdline";

std::string parent_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

const char* kind_name(EntryKind kind) {
  switch (kind) {
    case EntryKind::File: return "a file";
    case EntryKind::Directory: return "a directory";
    case EntryKind::Symlink: return "a symlink";
    case EntryKind::Hardlink: return "a hard link";
    case EntryKind::CharDevice: return "a character device";
    case EntryKind::BlockDevice: return "a block device";
    case EntryKind::Fifo: return "a fifo";
  }
  return "an entry";
}

std::string describe_source(const ImageEntry& e) {
  std::string s = e.origin.empty() ? std::string("the default layout") : e.origin;
  if (e.line > 0) s += " at line " + std::to_string(e.line);
  if (e.kind == EntryKind::File && !e.content && !e.source.empty()) s += " (" + e.source.string() + ")";
  if (e.kind == EntryKind::Symlink) s += " (-> " + e.target + ")";
  return s;
}

// Whole-file comparison, streamed.
bool same_file_bytes(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (fs::equivalent(a, b, ec)) return true;
  if (fs::file_size(a, ec) != fs::file_size(b, ec) || ec) return false;
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  if (!fa || !fb) return false;
  std::string ba(65536, '\0'), bb(65536, '\0');
  while (fa && fb) {
    fa.read(ba.data(), static_cast<std::streamsize>(ba.size()));
    fb.read(bb.data(), static_cast<std::streamsize>(bb.size()));
    if (fa.gcount() != fb.gcount()) return false;
    if (std::memcmp(ba.data(), bb.data(), static_cast<std::size_t>(fa.gcount())) != 0) return false;
  }
  return true;
}

std::string read_whole(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ImageError(file.string(), 0, "cannot read file");
  std::string data;
  std::string buf(1 << 16, '\0');
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    data.append(buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  return data;
}

bool same_contents(const ImageEntry& a, const ImageEntry& b) {
  if (a.content && b.content) return *a.content == *b.content;
  if (!a.content && !b.content) return same_file_bytes(a.source, b.source);
  const ImageEntry& inline_one = a.content ? a : b;
  const ImageEntry& host_one = a.content ? b : a;
  std::error_code ec;
  if (fs::file_size(host_one.source, ec) != inline_one.content->size() || ec) return false;
  return read_whole(host_one.source) == *inline_one.content;
}

// The same thing given twice (files: the same bytes; their metadata is
// then the winner's).
bool equivalent(const ImageEntry& a, const ImageEntry& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case EntryKind::File: return same_contents(a, b);
    case EntryKind::Directory: return true;
    case EntryKind::Symlink:
    case EntryKind::Hardlink: return a.target == b.target && a.uid == b.uid && a.gid == b.gid;
    case EntryKind::CharDevice:
    case EntryKind::BlockDevice:
      return a.major == b.major && a.minor == b.minor && a.mode == b.mode && a.uid == b.uid && a.gid == b.gid;
    case EntryKind::Fifo: return a.mode == b.mode && a.uid == b.uid && a.gid == b.gid;
  }
  return false;
}

class Planner {
 public:
  explicit Planner(const Spec& spec) : spec_(spec) {}
  ImagePlan run();

 private:
  void add(ImageEntry e, int priority);
  [[noreturn]] void fail(int line, const std::string& message) const {
    throw ImageError(spec_.file.string(), line, message);
  }
  void layout();
  void trees();
  void explicit_entries();
  void keel();
  void modules();
  void boot();
  void programs();
  void python();
  void closure_of(const fs::path& host, const std::string& label, int line, int depth);
  void add_host_path(const std::string& path, const std::string& label, int line, int depth);
  void users();
  void parents();
  void check();

  const Spec& spec_;
  std::map<std::string, Planned> entries_;
  std::vector<std::string> notes_;
};

void Planner::add(ImageEntry e, int priority) {
  if (e.path == "/") return;  // the root exists already (rootfs, or the output directory)
  auto it = entries_.find(e.path);
  if (it == entries_.end()) {
    std::string key = e.path;
    entries_.emplace(std::move(key), Planned{std::move(e), priority});
    return;
  }
  Planned& have = it->second;
  if (have.entry.kind == EntryKind::Directory && e.kind == EntryKind::Directory) {
    if (priority > have.priority) have = Planned{std::move(e), priority};
    return;
  }
  // The default layout and implied parents give way to anything the spec says.
  if (have.priority <= kLayout && priority > kLayout) {
    have = Planned{std::move(e), priority};
    return;
  }
  if (priority <= kLayout && have.priority > kLayout) return;
  if (equivalent(have.entry, e)) {
    if (priority > have.priority) have = Planned{std::move(e), priority};
    return;
  }
  const int line = std::max(have.entry.line, e.line);
  std::string what = e.path + " has two sources";
  if (have.entry.kind != e.kind) {
    what += " (" + std::string(kind_name(have.entry.kind)) + " and " + kind_name(e.kind) + ")";
  } else if (e.kind == EntryKind::File) {
    what += " with different contents";
  }
  fail(line, what + ": " + describe_source(have.entry) + ", and " + describe_source(e));
}

// Every entry starts from its path, kind and mode; the helpers below fill
// what each kind adds.
ImageEntry entry(const std::string& path, EntryKind kind, std::uint32_t mode, int line = 0, std::string origin = {}) {
  ImageEntry e;
  e.path = path;
  e.kind = kind;
  e.mode = mode;
  e.line = line;
  e.origin = std::move(origin);
  return e;
}

ImageEntry dir_entry(const std::string& path, std::uint32_t mode) { return entry(path, EntryKind::Directory, mode); }

ImageEntry device_entry(const std::string& path, std::uint32_t major, std::uint32_t minor, std::uint32_t mode) {
  ImageEntry e = entry(path, EntryKind::CharDevice, mode);
  e.major = major;
  e.minor = minor;
  return e;
}

ImageEntry file_entry(const std::string& path, const fs::path& source, std::uint32_t mode, int line,
                      std::string origin) {
  ImageEntry e = entry(path, EntryKind::File, mode, line, std::move(origin));
  e.source = source;
  return e;
}

ImageEntry text_entry(const std::string& path, std::string content, int line, std::string origin) {
  ImageEntry e = entry(path, EntryKind::File, 0644, line, std::move(origin));
  e.content = std::move(content);
  return e;
}

ImageEntry symlink_entry(const std::string& path, std::string target, int line, std::string origin) {
  ImageEntry e = entry(path, EntryKind::Symlink, 0777, line, std::move(origin));
  e.target = std::move(target);
  return e;
}

void Planner::layout() {
  for (const char* d : {"/bin", "/sbin", "/usr", "/usr/bin", "/usr/sbin", "/lib", "/dev", "/proc", "/sys", "/run",
                        "/etc", "/var"}) {
    add(dir_entry(d, 0755), kLayout);
  }
  add(dir_entry("/tmp", 01777), kLayout);
  add(dir_entry("/root", 0700), kLayout);
  add(device_entry("/dev/console", 5, 1, 0600), kLayout);
  add(device_entry("/dev/null", 1, 3, 0666), kLayout);
  add(device_entry("/dev/urandom", 1, 9, 0666), kLayout);
  add(device_entry("/dev/kmsg", 1, 11, 0644), kLayout);
}

void Planner::explicit_entries() {
  for (const FileEntry& f : spec_.files) {
    ImageEntry e = f.content ? text_entry(f.path, *f.content, f.line, "[[file]]")
                             : file_entry(f.path, f.source, f.mode, f.line, "[[file]]");
    e.mode = f.mode;
    e.uid = f.owner.uid;
    e.gid = f.owner.gid;
    add(std::move(e), kExplicit);
  }
  for (const DirEntry& d : spec_.dirs) {
    ImageEntry e = dir_entry(d.path, d.mode);
    e.uid = d.owner.uid;
    e.gid = d.owner.gid;
    e.line = d.line;
    e.origin = "[[dir]]";
    add(std::move(e), kExplicit);
  }
  for (const SymlinkEntry& s : spec_.symlinks) {
    ImageEntry e = symlink_entry(s.path, s.target, s.line, "[[symlink]]");
    e.uid = s.owner.uid;
    e.gid = s.owner.gid;
    add(std::move(e), kExplicit);
  }
  for (const HardlinkEntry& h : spec_.hardlinks) {
    ImageEntry e;
    e.path = h.path;
    e.kind = EntryKind::Hardlink;
    e.target = h.target;
    e.line = h.line;
    e.origin = "[[hardlink]]";
    add(std::move(e), kExplicit);
  }
  for (const DeviceEntry& d : spec_.devices) {
    ImageEntry e = device_entry(d.path, d.major, d.minor, d.mode);
    if (d.type == DeviceType::block) e.kind = EntryKind::BlockDevice;
    e.uid = d.owner.uid;
    e.gid = d.owner.gid;
    e.line = d.line;
    e.origin = "[[device]]";
    add(std::move(e), kExplicit);
  }
  for (const ProgramEntry& p : spec_.programs) {
    ImageEntry e = file_entry(p.path, p.source, p.mode, p.line, "[[program]]");
    e.uid = p.owner.uid;
    e.gid = p.owner.gid;
    add(std::move(e), kExplicit);
  }
}

bool excluded(const std::vector<std::string>& globs, const std::string& relative, const std::string& name) {
  for (const std::string& g : globs) {
    if (::fnmatch(g.c_str(), relative.c_str(), 0) == 0 || ::fnmatch(g.c_str(), name.c_str(), 0) == 0) return true;
  }
  return false;
}

void Planner::trees() {
  for (const TreeEntry& t : spec_.trees) {
    const std::string origin = "[[tree]] " + t.source.string();
    auto base = [&](ImageEntry e) {
      e.uid = t.owner.uid;
      e.gid = t.owner.gid;
      e.line = t.line;
      e.origin = origin;
      return e;
    };
    struct stat root_st {};
    if (::stat(t.source.c_str(), &root_st) == 0 && t.path != "/") {
      add(base(dir_entry(t.path, root_st.st_mode & 07777)), kTree);
    }
    std::error_code ec;
    fs::recursive_directory_iterator it(t.source, ec), end;
    if (ec) fail(t.line, "cannot read the tree " + t.source.string() + ": " + ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec) fail(t.line, "cannot read the tree " + t.source.string() + ": " + ec.message());
      const fs::path& host = it->path();
      const std::string relative = host.lexically_relative(t.source).generic_string();
      if (excluded(t.exclude, relative, host.filename().string())) {
        if (it->is_directory(ec) && !it->is_symlink(ec)) it.disable_recursion_pending();
        continue;
      }
      const std::string path = (t.path == "/" ? "" : t.path) + "/" + relative;
      struct stat st {};
      if (::lstat(host.c_str(), &st) != 0) {
        fail(t.line, "cannot stat " + host.string() + " in a tree: " + std::strerror(errno));
      }
      const std::uint32_t mode = st.st_mode & 07777;
      if (S_ISDIR(st.st_mode)) {
        add(base(dir_entry(path, mode)), kTree);
      } else if (S_ISREG(st.st_mode)) {
        add(base(file_entry(path, host, mode, t.line, origin)), kTree);
      } else if (S_ISLNK(st.st_mode)) {
        add(base(symlink_entry(path, fs::read_symlink(host).string(), t.line, origin)), kTree);
      } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
        ImageEntry e = device_entry(path, major(st.st_rdev), minor(st.st_rdev), mode);
        if (S_ISBLK(st.st_mode)) e.kind = EntryKind::BlockDevice;
        add(base(std::move(e)), kTree);
      } else if (S_ISFIFO(st.st_mode)) {
        ImageEntry e;
        e.path = path;
        e.kind = EntryKind::Fifo;
        e.mode = mode;
        add(base(std::move(e)), kTree);
      } else {
        notes_.push_back("skipped the socket " + host.string() + " of " + origin);
      }
    }
  }
}

void Planner::keel() {
  if (!spec_.keel) return;
  const KeelSpec& k = *spec_.keel;
  add(file_entry(k.path, k.binary, 0755, k.line, "[keel] binary"), kExplicit);
  for (const std::string& link : k.init_links) {
    add(symlink_entry(link, relative_link(link, k.path), k.line, "[keel] init_links"), kExplicit);
  }
  ImageEntry dir = dir_entry(k.config_dir, 0755);
  dir.line = k.line;
  dir.origin = "[keel] config_dir";
  add(std::move(dir), kParent);
  for (const KeelConfigFile& c : k.config) add(file_entry(c.path, c.source, 0644, c.line, "[keel] config"), kExplicit);
  if (!k.services.empty()) {
    ImageEntry services = dir_entry((k.config_dir == "/" ? "" : k.config_dir) + "/services", 0755);
    services.line = k.line;
    services.origin = "[keel] services";
    add(std::move(services), kParent);
  }
  for (const KeelConfigFile& c : k.services) add(file_entry(c.path, c.source, 0644, c.line, "[keel] services"), kExplicit);
  // keelctl, reboot, poweroff and halt are keel itself under other names.
  if (!k.keelctl_link.empty() && k.keelctl_link != k.path) {
    add(symlink_entry(k.keelctl_link, relative_link(k.keelctl_link, k.path), k.line, "[keel] keelctl_link"), kExplicit);
  }
  for (const std::string& link : k.power_links) {
    if (link != k.path) add(symlink_entry(link, relative_link(link, k.path), k.line, "[keel] power_links"), kExplicit);
  }
}

void Planner::modules() {
  if (!spec_.modules) return;
  const ModulesSpec& m = *spec_.modules;
  std::vector<ModuleInfo> order;
  try {
    ModuleTree tree(m.tree);
    order = tree.resolve(m.names);
  } catch (const ImageError& e) {
    fail(m.line, std::string("[modules]: ") + e.what() + (e.where().empty() ? "" : " (in " + e.where() + ")"));
  }
  std::string load;
  for (const ModuleInfo& mod : order) {
    const std::string path = "/lib/modules/" + m.kernel + "/" + mod.relative;
    add(file_entry(path, mod.file, 0644, m.line, "[modules] " + mod.name), kExplicit);
    load += path + "\n";
  }
  // Where keel looks for it: CONFIG_DIR/modules.load (docs/system-mode.md).
  const std::string config_dir = spec_.keel ? spec_.keel->config_dir : std::string(kConfigDir);
  add(text_entry(config_dir + "/modules.load", load, m.line, "[modules] load order"), kExplicit);
}

void Planner::boot() {
  if (spec_.boot.cmdline.empty()) return;
  add(text_entry(kCmdline, spec_.boot.cmdline + "\n", spec_.boot.line, "[boot] cmdline"), kExplicit);
}

// A host file (a script's interpreter) put at the same path in the image:
// copied at its canonical path, with a relative symlink from `path` when
// that differs (/bin/sh -> ../usr/bin/dash).
void Planner::add_host_path(const std::string& path, const std::string& label, int line, int depth) {
  const auto canonical = resolve_in_root("/", path);
  if (!canonical) fail(line, label + ": its interpreter " + path + " is neither in the image nor on the host");
  const std::string origin = "interpreter of " + label;
  add(file_entry(*canonical, *canonical, 0755, line, origin), kClosure);
  if (*canonical != path) add(symlink_entry(path, relative_link(path, *canonical), line, origin), kClosure);
  closure_of(*canonical, path, line, depth + 1);
}

void Planner::closure_of(const fs::path& host, const std::string& label, int line, int depth) {
  if (depth > 4) fail(line, label + ": too many levels of #! interpreters");
  if (const auto shebang = read_shebang(host)) {
    const std::string& interp = shebang->interpreter;
    if (interp.empty() || interp.front() != '/') {
      fail(line, label + " is a #! script whose interpreter '" + interp + "' is not an absolute path");
    }
    if (entries_.count(interp) == 0) add_host_path(interp, label, line, depth);
    if (interp.ends_with("/env") && !shebang->argument.empty()) {
      notes_.push_back(label + " runs '" + shebang->argument + "' through " + interp +
                       ": the spec must put it in the image");
    }
    return;
  }
  ElfInfo elf;
  try {
    elf = read_elf(host);
  } catch (const ImageError& e) {
    fail(line, label + ": " + e.what());
  }
  if (!elf.is_elf) fail(line, label + " (" + host.string() + ") is neither an ELF file nor a #! script");
  if (elf.is_static()) return;
  Closure closure;
  try {
    closure = elf_closure(host.string());
  } catch (const ImageError& e) {
    fail(line, label + ": " + e.what());
  }
  for (const std::string& note : closure.notes) {
    std::string text = label;
    text += ": ";
    text += note;
    notes_.push_back(std::move(text));
  }
  const std::string origin = "library of " + label;
  for (const ResolvedLibrary& lib : closure.libraries) {
    add(file_entry(lib.canonical, lib.host_file, 0755, line, origin), kClosure);
    for (const std::string& p : lib.image_paths) {
      if (p != lib.canonical) add(symlink_entry(p, relative_link(p, lib.canonical), line, origin), kClosure);
    }
  }
}

void Planner::programs() {
  for (const ProgramEntry& p : spec_.programs) closure_of(p.source, "[[program]] " + p.path, p.line, 0);
  if (spec_.keel) closure_of(spec_.keel->binary, "[keel] binary", spec_.keel->line, 0);
}

// [python]: the interpreter at its host path (its closure too), the .pyc and
// extension modules python.cpp found (each .so with its closure), the scripts.
void Planner::python() {
  if (!spec_.python) return;
  const PythonSpec& py = *spec_.python;
  const PythonPlan plan = plan_python(py, spec_.file);
  std::set<std::string> before, own;
  for (const auto& [path, planned] : entries_) before.insert(path);
  const std::string interp = plan.interpreter.string();
  add(file_entry(interp, interp, 0755, py.line, "[python] interpreter"), kExplicit);
  if (py.path != interp) {
    add(symlink_entry(py.path, relative_link(py.path, interp), py.line, "[python] path"), kExplicit);
  }
  closure_of(interp, "[python] interpreter", py.line, 0);
  if (!plan.dynload_dir.empty()) {
    ImageEntry d = dir_entry(plan.dynload_dir, 0755);
    d.line = py.line;
    d.origin = "[python] lib-dynload";
    add(std::move(d), kExplicit);
  }
  for (const PythonFile& f : plan.files) {
    const std::string origin = "[python] " + f.module;
    ImageEntry e =
        f.compiled ? text_entry(f.path, f.content, f.line, origin) : file_entry(f.path, f.source, 0, f.line, origin);
    e.mode = f.mode;
    add(std::move(e), kExplicit);
    own.insert(f.path);
    if (f.elf) closure_of(f.source, origin, f.line, 0);
  }
  std::vector<std::pair<std::string, std::uint64_t>> extra;
  for (const auto& [path, planned] : entries_) {
    if (before.count(path) || own.count(path) || planned.entry.kind != EntryKind::File) continue;
    std::error_code ec;
    const std::uintmax_t size = fs::file_size(planned.entry.source, ec);
    extra.emplace_back("(" + fs::path(path).filename().string() + ")", ec ? 0 : size);
  }
  notes_.insert(notes_.end(), plan.notes.begin(), plan.notes.end());
  for (std::string& line : python_size_report(plan, extra)) notes_.push_back(std::move(line));
}

void Planner::users() {
  const bool declared_users =
      std::any_of(spec_.users.begin(), spec_.users.end(), [](const User& u) { return u.line > 0; });
  const bool declared_groups =
      std::any_of(spec_.groups.begin(), spec_.groups.end(), [](const Group& g) { return g.line > 0; });
  const int user_line = declared_users ? spec_.users.back().line : 0;
  const int group_line = declared_groups ? spec_.groups.back().line : 0;
  // With only the implicit root, a passwd from elsewhere (a [[file]], a tree) wins.
  if (declared_users || entries_.count("/etc/passwd") == 0) {
    std::string passwd;
    for (const User& u : spec_.users) {
      passwd += u.name + ":x:" + std::to_string(u.uid) + ":" + std::to_string(u.gid) + "::" + u.home + ":" +
                u.shell + "\n";
    }
    add(text_entry("/etc/passwd", passwd, user_line, "[[user]]"), declared_users ? kExplicit : kLayout);
  }
  if (declared_groups || entries_.count("/etc/group") == 0) {
    std::string group;
    for (const Group& g : spec_.groups) {
      group += g.name + ":x:" + std::to_string(g.gid) + ":";
      for (std::size_t i = 0; i < g.members.size(); ++i) group += (i ? "," : "") + g.members[i];
      group += "\n";
    }
    add(text_entry("/etc/group", group, group_line, "[[group]]"), declared_groups ? kExplicit : kLayout);
  }
}

void Planner::parents() {
  std::vector<std::string> missing;
  for (const auto& [path, planned] : entries_) {
    for (std::string p = parent_of(path); p != "/"; p = parent_of(p)) {
      if (entries_.count(p) == 0) missing.push_back(p);
    }
  }
  for (const std::string& p : missing) add(dir_entry(p, 0755), kParent);
}

void Planner::check() {
  for (const auto& [path, planned] : entries_) {
    const ImageEntry& e = planned.entry;
    const std::string parent = parent_of(path);
    if (parent != "/") {
      const ImageEntry& p = entries_.at(parent).entry;
      if (p.kind != EntryKind::Directory) {
        std::string message = "cannot place " + path;
        message += " (" + describe_source(e) + ") under " + parent;
        message += std::string(": that is ") + kind_name(p.kind) + " from " + describe_source(p);
        fail(e.line, message);
      }
    }
    if (e.kind == EntryKind::Hardlink) {
      auto t = entries_.find(e.target);
      if (t == entries_.end()) fail(e.line, "the hard link " + path + " names " + e.target + ", which is not in the image");
      if (t->second.entry.kind != EntryKind::File) {
        fail(e.line, "the hard link " + path + " names " + e.target + ", which is " + kind_name(t->second.entry.kind) +
                         " (only regular files can be hard-linked)");
      }
    }
  }
}

ImagePlan Planner::run() {
  layout();
  trees();
  explicit_entries();
  keel();
  for (ImageEntry& e : oci_plan_entries(spec_)) add(std::move(e), kExplicit);  // [oci] compat_links
  modules();
  boot();
  programs();
  python();
  users();
  parents();
  check();
  ImagePlan plan;
  plan.entries.reserve(entries_.size());
  for (auto& [path, planned] : entries_) plan.entries.push_back(std::move(planned.entry));
  plan.notes = std::move(notes_);
  return plan;
}

fs::path output_path(const Spec& spec, const BuildOptions& options) {
  if (!options.output.empty()) return options.output;
  if (spec.output.path.empty()) {
    throw ImageError(spec.file.string(), spec.output.line, "no output path: give -o OUT or set path in [output]");
  }
  return spec.output.path.is_absolute() ? spec.output.path : spec.dir / spec.output.path;
}

void write_cpio(const Spec& spec, const ImagePlan& plan, const fs::path& out, std::uint32_t mtime,
                Progress& progress, BuildResult& result) {
  const Compression compression = spec.output.compression;
  result.compression = compression_name(compression);
  result.level = spec.output.level != 0 ? spec.output.level : default_level(compression);
  std::error_code ec;
  if (out.has_parent_path()) fs::create_directories(out.parent_path(), ec);
  fs::path tmp = out;
  tmp += ".tmp";
  try {
    ArchiveOutput output(tmp, compression, spec.output.level);
    CpioWriter writer(output.sink());
    for_each_entry(
        plan,
        [&](const ImageEntry& e) {
          add_entry(writer, e, Metadata{e.mode, e.uid, e.gid, mtime});
          ++result.entries;
          progress.add(data_size(e), e.kind == EntryKind::File);
        },
        [&](const ImageEntry& file, const std::vector<std::string>& names) {
          const Metadata meta{file.mode, file.uid, file.gid, mtime};
          with_data(file, [&](const auto& data) { writer.add_hard_links(names, meta, data); });
          result.entries += names.size();
          progress.add(data_size(file), true);
        });
    writer.finish();
    result.bytes = output.raw_bytes();
    result.compressed = output.file_bytes();
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  move_into_place(tmp, out);
}

[[noreturn]] void os_error(const std::string& what, const fs::path& path) {
  throw ImageError(path.string(), 0, what + ": " + std::strerror(errno));
}

void write_dir(const ImagePlan& plan, const fs::path& out, std::uint32_t mtime, Progress& progress,
               BuildResult& result) {
  std::error_code ec;
  if (fs::exists(out, ec)) {
    if (!fs::is_directory(out, ec)) throw ImageError(out.string(), 0, "the output exists and is not a directory");
    if (!fs::is_empty(out, ec)) {
      throw ImageError(out.string(), 0, "the output directory is not empty; remove it or give another -o");
    }
  }
  fs::create_directories(out, ec);
  if (ec) throw ImageError(out.string(), 0, "cannot create the output directory: " + ec.message());
  const bool root = ::geteuid() == 0;
  auto host = [&](const std::string& path) { return out / path.substr(1); };
  for (const ImageEntry& e : plan.entries) {
    const fs::path p = host(e.path);
    switch (e.kind) {
      case EntryKind::Directory:
        if (::mkdir(p.c_str(), 0700) != 0) os_error("cannot create the directory", p);
        break;
      case EntryKind::File: {
        const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) os_error("cannot create the file", p);
        auto put = [&](std::string_view bytes) {
          while (!bytes.empty()) {
            const ssize_t n = ::write(fd, bytes.data(), bytes.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
              ::close(fd);
              os_error("cannot write", p);
            }
            bytes.remove_prefix(static_cast<std::size_t>(n));
          }
        };
        if (e.content) {
          put(*e.content);
        } else {
          std::ifstream in(e.source, std::ios::binary);
          if (!in) {
            ::close(fd);
            throw ImageError(e.source.string(), 0, "cannot read file");
          }
          std::string buf(1 << 16, '\0');
          while (in) {
            in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
            put(std::string_view(buf.data(), static_cast<std::size_t>(in.gcount())));
          }
        }
        if (::close(fd) != 0) os_error("cannot write", p);
        result.bytes += data_size(e);
        break;
      }
      case EntryKind::Symlink:
        if (::symlink(e.target.c_str(), p.c_str()) != 0) os_error("cannot create the symlink", p);
        break;
      case EntryKind::Hardlink: break;  // below, once every file exists
      case EntryKind::CharDevice:
      case EntryKind::BlockDevice:
      case EntryKind::Fifo: {
        const mode_t type = e.kind == EntryKind::CharDevice ? S_IFCHR : e.kind == EntryKind::BlockDevice ? S_IFBLK : S_IFIFO;
        if (type != S_IFIFO && !root) {
          ++result.skipped_devices;
          continue;
        }
        if (::mknod(p.c_str(), type | 0600, makedev(e.major, e.minor)) != 0) os_error("cannot create the node", p);
        break;
      }
    }
    ++result.entries;
    progress.add(data_size(e), e.kind == EntryKind::File);
  }
  for (const ImageEntry& e : plan.entries) {
    if (e.kind != EntryKind::Hardlink) continue;
    if (::link(host(e.target).c_str(), host(e.path).c_str()) != 0) os_error("cannot create the hard link", host(e.path));
  }
  // Owners, modes and times last, children before parents (a 0555
  // directory must be filled before it is made read-only).
  const struct timespec times[2] = {{static_cast<time_t>(mtime), 0}, {static_cast<time_t>(mtime), 0}};
  for (auto it = plan.entries.rbegin(); it != plan.entries.rend(); ++it) {
    const ImageEntry& e = *it;
    if ((e.kind == EntryKind::CharDevice || e.kind == EntryKind::BlockDevice) && !root) continue;
    const fs::path p = host(e.path);
    if (root) {
      if (e.kind != EntryKind::Hardlink && ::lchown(p.c_str(), e.uid, e.gid) != 0) os_error("cannot chown", p);
    } else if (e.kind != EntryKind::Hardlink && (e.uid != ::geteuid() || e.gid != ::getegid())) {
      ++result.skipped_owners;
    }
    if (e.kind != EntryKind::Symlink && e.kind != EntryKind::Hardlink && ::chmod(p.c_str(), e.mode) != 0) {
      os_error("cannot chmod", p);
    }
    if (::utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) os_error("cannot set the time of", p);
  }
}

}  // namespace

std::string relative_link(const std::string& link, const std::string& target) {
  return fs::path(target).lexically_relative(fs::path(parent_of(link))).generic_string();
}

std::uint32_t source_date_epoch() {
  const char* value = std::getenv("SOURCE_DATE_EPOCH");
  if (value == nullptr || *value == '\0') return 0;
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(value, &end, 10);
  if (errno != 0 || *end != '\0' || value[0] == '-' || n > 0xffffffffULL) {
    throw ImageError(std::string("SOURCE_DATE_EPOCH must be a number of seconds from 0 to 4294967295, not '") +
                     value + "'");
  }
  return static_cast<std::uint32_t>(n);
}

ImagePlan plan_image(const Spec& spec) {
  ImagePlan plan = Planner(spec).run();
  // Service files are checked here, where the image's passwd/group are final.
  std::string config_dir = spec.keel ? spec.keel->config_dir : std::string("/etc/keel");
  check_service_files(plan, spec.file, (config_dir == "/" ? std::string() : config_dir) + "/services");
  return plan;
}

std::string BuildResult::summary() const {
  std::string s = "wrote " + output.string() + (format == "dir" ? "/" : "") + ": " + std::to_string(entries) +
                  " entries, " + std::to_string(bytes) + " bytes";
  if (format == "dir") return s + " of file data";
  if (compression != "none") {
    s += " (" + std::to_string(compressed) + " " + compression + " level " + std::to_string(level) + ")";
  }
  return s;
}

BuildResult write_image(const Spec& spec, const ImagePlan& plan, const BuildOptions& options) {
  BuildResult result;
  result.output = output_path(spec, options);
  result.notes = plan.notes;
  const std::uint32_t mtime = options.mtime ? *options.mtime : source_date_epoch();
  Progress progress(options.progress_fd);
  if (spec.output.format == OutputFormat::dir) {
    result.format = "dir";
    result.compression = "none";
    write_dir(plan, result.output, mtime, progress, result);
  } else if (spec.output.format == OutputFormat::oci || spec.output.format == OutputFormat::docker_archive) {
    write_oci(spec, plan, result.output, mtime, progress, result);
  } else if (spec.output.format == OutputFormat::ext4 || spec.output.format == OutputFormat::erofs ||
             spec.output.format == OutputFormat::disk) {
    write_disk_output(spec, plan, result.output, mtime, result);  // disk.cpp: ext4, erofs, GPT disk
    write_stage_initramfs(spec, result.output, mtime, result.notes);
  } else {
    result.format = "cpio";
    write_cpio(spec, plan, result.output, mtime, progress, result);
  }
  progress.done();
  // The SBOM comes from the plan, so every output format gets it.
  std::string sbom_line;
  if (result.sbom = !options.sbom.empty() ? options.sbom : spec.output.sbom; !result.sbom.empty()) {
    const SbomSummary s = write_sbom(spec, plan, result.sbom,
                                     {result.output.filename().string(), result.output, result.format, mtime, {}});
    sbom_line = "wrote " + result.sbom.string() + ": SPDX 2.3, " + std::to_string(s.files) + " files, " +
                std::to_string(s.packages) + " packages (" + std::to_string(s.unowned) +
                " host files in no Debian package)";
  }
  if (options.log != nullptr) {
    for (const std::string& note : result.notes) *options.log << "keel-image: note: " << note << "\n";
    if (result.skipped_devices > 0 || result.skipped_owners > 0) {
      *options.log << "keel-image: warning: not running as root: skipped " << result.skipped_devices
                   << " device node(s), and left " << result.skipped_owners
                   << " entries owned by you instead of their spec owner\n";
    }
    *options.log << result.summary() << "\n";
    if (!sbom_line.empty()) *options.log << sbom_line << "\n";
  }
  return result;
}

BuildResult build_image(const fs::path& spec_file, const BuildOptions& options) {
  const Spec spec = parse_spec_file(spec_file);
  const ImagePlan plan = plan_image(spec);
  return write_image(spec, plan, options);
}

}  // namespace keel::image
