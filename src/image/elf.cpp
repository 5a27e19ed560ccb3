// elf.cpp — reading ELF headers and redoing ld.so's library search (see
// elf.hpp for the rules and why the files are read, never run).
#include "image/elf.hpp"

#include <elf.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <system_error>
#include <utility>

#include "image/diagnostic.hpp"

namespace keel::image {
namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------- reading

class File {
 public:
  explicit File(const fs::path& path) : path_(path), fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_ < 0) throw ImageError(path_.string(), 0, std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0)
      throw ImageError(path_.string(), 0, std::string("cannot stat: ") + std::strerror(errno));
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File() { ::close(fd_); }

  [[nodiscard]] std::uint64_t size() const { return size_; }

  // Exactly `len` bytes at `offset`, or ImageError (truncated file).
  void read(std::uint64_t offset, void* out, std::size_t len, const char* what) const {
    if (offset > size_ || len > size_ - offset) {
      throw ImageError(path_.string(), 0,
                       std::string("truncated or corrupt ELF file: ") + what + " lies outside the file");
    }
    auto* p = static_cast<char*>(out);
    while (len > 0) {
      ssize_t n = ::pread(fd_, p, len, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw ImageError(path_.string(), 0, std::string("cannot read ") + what);
      p += n;
      offset += static_cast<std::uint64_t>(n);
      len -= static_cast<std::size_t>(n);
    }
  }
  // Reads up to `len` bytes at 0 (for magic numbers); returns how many.
  std::size_t read_prefix(void* out, std::size_t len) const {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(len, size_));
    if (want > 0) read(0, out, want, "header");
    return want;
  }

  [[noreturn]] void corrupt(const std::string& what) const {
    throw ImageError(path_.string(), 0, "corrupt ELF file: " + what);
  }

 private:
  fs::path path_;
  int fd_;
  std::uint64_t size_ = 0;
};

template <class T>
T swapped(T v, bool swap) {
  if (!swap) return v;
  if constexpr (sizeof(T) == 2) {
    return static_cast<T>(__builtin_bswap16(static_cast<std::uint16_t>(v)));
  } else if constexpr (sizeof(T) == 4) {
    return static_cast<T>(__builtin_bswap32(static_cast<std::uint32_t>(v)));
  } else {
    static_assert(sizeof(T) == 8);
    return static_cast<T>(__builtin_bswap64(static_cast<std::uint64_t>(v)));
  }
}

struct Elf32Types {
  using Ehdr = Elf32_Ehdr;
  using Phdr = Elf32_Phdr;
  using Dyn = Elf32_Dyn;
};
struct Elf64Types {
  using Ehdr = Elf64_Ehdr;
  using Phdr = Elf64_Phdr;
  using Dyn = Elf64_Dyn;
};

constexpr std::uint64_t kMaxStrtab = 16u << 20;  // a sanity bound: real ones are KBs
constexpr std::uint64_t kMaxDynamic = 16u << 20;

template <class Types>
void parse_elf(const File& file, bool swap, ElfInfo& info) {
  using Ehdr = typename Types::Ehdr;
  using Phdr = typename Types::Phdr;
  using Dyn = typename Types::Dyn;

  Ehdr eh{};
  file.read(0, &eh, sizeof eh, "ELF header");
  info.type = swapped(eh.e_type, swap);
  info.machine = swapped(eh.e_machine, swap);
  const std::uint64_t phoff = swapped(eh.e_phoff, swap);
  const std::uint16_t phentsize = swapped(eh.e_phentsize, swap);
  const std::uint16_t phnum = swapped(eh.e_phnum, swap);
  if (phnum == 0) return;  // a relocatable object: nothing to load
  if (phnum == PN_XNUM) file.corrupt("more than 65534 program headers are not supported");
  if (phentsize < sizeof(Phdr)) file.corrupt("program header entries too small");

  std::vector<Phdr> phdrs(phnum);
  for (std::uint16_t i = 0; i < phnum; ++i) {
    Phdr ph{};
    file.read(phoff + std::uint64_t{i} * phentsize, &ph, sizeof ph, "program header");
    ph.p_type = swapped(ph.p_type, swap);
    ph.p_offset = swapped(ph.p_offset, swap);
    ph.p_vaddr = swapped(ph.p_vaddr, swap);
    ph.p_filesz = swapped(ph.p_filesz, swap);
    phdrs[i] = ph;
  }

  const Phdr* dynamic = nullptr;
  for (const Phdr& ph : phdrs) {
    if (ph.p_type == PT_INTERP) {
      if (ph.p_filesz == 0 || ph.p_filesz > 4096) file.corrupt("PT_INTERP has a bad size");
      std::string interp(ph.p_filesz, '\0');
      file.read(ph.p_offset, interp.data(), interp.size(), "PT_INTERP");
      interp.resize(std::strlen(interp.c_str()));
      info.interpreter = interp;
    } else if (ph.p_type == PT_DYNAMIC) {
      dynamic = &ph;
    }
  }
  if (dynamic == nullptr) return;
  info.has_dynamic = true;
  if (dynamic->p_filesz > kMaxDynamic) file.corrupt("PT_DYNAMIC is too large");

  std::vector<Dyn> dyns(dynamic->p_filesz / sizeof(Dyn));
  if (!dyns.empty()) file.read(dynamic->p_offset, dyns.data(), dyns.size() * sizeof(Dyn), "PT_DYNAMIC");
  std::uint64_t strtab = 0;
  std::uint64_t strsz = 0;
  bool have_strtab = false;
  std::vector<std::pair<std::int64_t, std::uint64_t>> entries;  // (tag, value) before DT_NULL
  for (const Dyn& d : dyns) {
    const auto tag = static_cast<std::int64_t>(swapped(d.d_tag, swap));
    const auto val = static_cast<std::uint64_t>(swapped(d.d_un.d_val, swap));
    if (tag == DT_NULL) break;
    if (tag == DT_STRTAB) {
      strtab = val;
      have_strtab = true;
    } else if (tag == DT_STRSZ) {
      strsz = val;
    } else if (tag == DT_FLAGS_1) {
      info.nodeflib = (val & DF_1_NODEFLIB) != 0;
    }
    entries.emplace_back(tag, val);
  }

  bool uses_strings = std::any_of(entries.begin(), entries.end(), [](const auto& e) {
    return e.first == DT_NEEDED || e.first == DT_RPATH || e.first == DT_RUNPATH || e.first == DT_SONAME;
  });
  if (!uses_strings) return;
  if (!have_strtab) file.corrupt("PT_DYNAMIC names libraries but has no DT_STRTAB");
  if (strsz == 0 || strsz > kMaxStrtab) file.corrupt("DT_STRSZ is missing or too large");

  // DT_STRTAB is an address: find the PT_LOAD that maps it to the file.
  std::optional<std::uint64_t> str_offset;
  for (const Phdr& ph : phdrs) {
    if (ph.p_type != PT_LOAD) continue;
    const std::uint64_t vaddr = ph.p_vaddr;
    if (strtab >= vaddr && strtab - vaddr < ph.p_filesz) {
      str_offset = ph.p_offset + (strtab - vaddr);
      break;
    }
  }
  if (!str_offset) file.corrupt("DT_STRTAB's address is in no PT_LOAD segment");
  std::string strings(strsz, '\0');
  file.read(*str_offset, strings.data(), strings.size(), "the dynamic string table");
  if (strings.back() != '\0') strings.push_back('\0');  // keep every read below inside the table
  auto string_at = [&](std::uint64_t off) -> std::string {
    if (off >= strings.size()) file.corrupt("a dynamic entry's string lies outside DT_STRTAB");
    return std::string(strings.c_str() + off);
  };

  for (const auto& [tag, val] : entries) {
    switch (tag) {
      case DT_NEEDED: info.needed.push_back(string_at(val)); break;
      case DT_RPATH: info.rpath = string_at(val); break;
      case DT_RUNPATH: info.runpath = string_at(val); break;
      case DT_SONAME: info.soname = string_at(val); break;
      default: break;
    }
  }
}

// ---------------------------------------------------------------- paths

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::string host_path(const fs::path& sysroot, const std::string& in_root) {
  std::string root = sysroot.string();
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  if (root == "/" || root.empty()) return in_root;
  return root + in_root;
}

std::string dirname_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// "dir" + "/" + "name", built in place.
std::string join_path(const std::string& dir, const std::string& name) {
  std::string out;
  out.reserve(dir.size() + 1 + name.size());
  out.append(dir).append("/").append(name);
  return out;
}

std::string basename_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Lexically absolute (relative paths are taken from "/"), no "//" runs.
std::string absolute_in_root(const std::string& path) {
  std::string out = "/";
  for (const std::string& part : split(path, '/')) {
    if (part.empty()) continue;
    if (out.back() != '/') out += '/';
    out += part;
  }
  return out;
}

// The Debian multiarch triplet of a machine ("" when unknown).
std::string triplet(const ElfInfo& elf) {
  const bool is64 = elf.elf_class == ELFCLASS64;
  const bool le = elf.data == ELFDATA2LSB;
  switch (elf.machine) {
    case EM_X86_64: return is64 ? "x86_64-linux-gnu" : "x86_64-linux-gnux32";
    case EM_386: return "i386-linux-gnu";
    case EM_AARCH64: return "aarch64-linux-gnu";
    case EM_ARM: return "arm-linux-gnueabihf";
    case EM_RISCV: return is64 ? "riscv64-linux-gnu" : "";
    case EM_PPC64: return le ? "powerpc64le-linux-gnu" : "powerpc64-linux-gnu";
    case EM_S390: return is64 ? "s390x-linux-gnu" : "";
    case EM_LOONGARCH: return is64 ? "loongarch64-linux-gnu" : "";
    default: return "";
  }
}

std::string platform(const ElfInfo& elf) {
  switch (elf.machine) {
    case EM_X86_64: return "x86_64";
    case EM_386: return "i686";
    case EM_AARCH64: return "aarch64";
    default: return "";
  }
}

std::string lib_token(const ElfInfo& elf) {
  std::string t = triplet(elf);
  if (!t.empty()) return "lib/" + t;
  return elf.elf_class == ELFCLASS64 ? "lib64" : "lib";
}

// The default directories of glibc's ld.so as Debian builds it.
std::vector<std::string> default_dirs(const ElfInfo& elf) {
  std::vector<std::string> dirs;
  std::string t = triplet(elf);
  if (!t.empty()) {
    dirs.push_back("/lib/" + t);
    dirs.push_back("/usr/lib/" + t);
  }
  dirs.emplace_back("/lib");
  dirs.emplace_back("/usr/lib");
  return dirs;
}

// Replaces $ORIGIN, $LIB, $PLATFORM (and their ${...} forms).
std::string expand_tokens(const std::string& s, const std::string& origin, const ElfInfo& abi) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] != '$') {
      out += s[i++];
      continue;
    }
    bool matched = false;
    for (const auto& [token, value] : {std::pair<std::string, std::string>{"ORIGIN", origin},
                                       {"LIB", lib_token(abi)},
                                       {"PLATFORM", platform(abi)}}) {
      const std::string braced = "{" + token + "}";
      if (s.compare(i + 1, braced.size(), braced) == 0) {
        out += value;
        i += 1 + braced.size();
        matched = true;
      } else if (s.compare(i + 1, token.size(), token) == 0 &&
                 (i + 1 + token.size() == s.size() ||
                  !(std::isalnum(static_cast<unsigned char>(s[i + 1 + token.size()])) ||
                    s[i + 1 + token.size()] == '_'))) {
        out += value;
        i += 1 + token.size();
        matched = true;
      }
      if (matched) break;
    }
    if (!matched) out += s[i++];
  }
  return out;
}

void parse_conf(const fs::path& sysroot, const std::string& conf, int depth, std::vector<std::string>& dirs,
                std::set<std::string>& seen) {
  if (depth > 16) return;  // an include loop
  auto resolved = resolve_in_root(sysroot, conf);
  if (!resolved) return;
  std::error_code ec;
  if (!fs::is_regular_file(host_path(sysroot, *resolved), ec)) return;
  std::string text;
  {
    File f(host_path(sysroot, *resolved));
    text.resize(static_cast<std::size_t>(f.size()));
    if (!text.empty()) f.read(0, text.data(), text.size(), "ld.so.conf");
  }
  for (std::string line : split(text, '\n')) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    line.erase(0, first);
    line.erase(line.find_last_not_of(" \t\r") + 1);
    if (line.rfind("include", 0) == 0 && line.size() > 7 && (line[7] == ' ' || line[7] == '\t')) {
      std::string rest = line.substr(8);
      std::vector<std::string> patterns;
      std::string word;
      for (char c : rest + " ") {
        if (c == ' ' || c == '\t') {
          if (!word.empty()) patterns.push_back(word);
          word.clear();
        } else {
          word += c;
        }
      }
      for (std::string pattern : patterns) {
        // ldconfig: a relative pattern is relative to the including file's directory.
        if (pattern[0] != '/') pattern = join_path(dirname_of(conf), pattern);
        // Wildcards in the last component only (what every distribution uses).
        const std::string dir = dirname_of(pattern);
        const std::string glob = basename_of(pattern);
        auto rdir = resolve_in_root(sysroot, dir);
        if (!rdir) continue;
        std::vector<std::string> matches;
        for (const auto& entry : fs::directory_iterator(host_path(sysroot, *rdir), ec)) {
          std::string name = entry.path().filename().string();
          if (::fnmatch(glob.c_str(), name.c_str(), FNM_PERIOD) == 0) matches.push_back(name);
        }
        std::sort(matches.begin(), matches.end());  // glob(3) order
        for (const std::string& m : matches)
          parse_conf(sysroot, absolute_in_root(join_path(dir, m)), depth + 1, dirs, seen);
      }
      continue;
    }
    if (line.rfind("hwcap", 0) == 0 && line.size() > 5 && (line[5] == ' ' || line[5] == '\t')) continue;
    // "dir=TYPE" is the old libc5 syntax: the type is ignored.
    if (auto eq = line.find('='); eq != std::string::npos) line.erase(eq);
    while (line.size() > 1 && (line.back() == '/' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (line.empty()) continue;
    std::string dir = absolute_in_root(line);
    if (seen.insert(dir).second) dirs.push_back(dir);
  }
}

// ---------------------------------------------------------------- the search

struct Object {
  std::string lookup;  // the path it was opened by ("" for none)
  std::string origin;  // $ORIGIN
  ElfInfo elf;
  int loader = -1;  // index into objects; -1 for the program
  int depth = 0;
};

struct SearchLog {
  std::vector<std::string> lines;     // "RPATH of X: dir1 dir2"
  std::vector<std::string> rejected;  // "path (ELF32 i386)"
};

class Resolver {
 public:
  Resolver(const ClosureOptions& options, const ElfInfo& abi)
      : options_(options), abi_(abi), conf_dirs_(ld_so_conf_dirs(options.sysroot)), defaults_(default_dirs(abi)) {}

  struct Hit {
    std::string lookup;
    std::string canonical;
    ElfInfo elf;
    FoundVia via;
  };

  // glibc's search for `name` needed by objects[requester].
  std::optional<Hit> search(const std::string& name, const std::vector<Object>& objects, int requester,
                            SearchLog& log) {
    const Object& req = objects[static_cast<std::size_t>(requester)];
    if (name.find('/') != std::string::npos) {
      std::string path = absolute_in_root(expand_tokens(name, req.origin, abi_));
      log.lines.push_back("the path " + path);
      return try_file(path, FoundVia::kPath, log);
    }
    if (!req.elf.runpath) {
      for (int l = requester; l >= 0; l = objects[static_cast<std::size_t>(l)].loader) {
        const Object& o = objects[static_cast<std::size_t>(l)];
        if (!o.elf.rpath || o.elf.runpath) continue;
        if (auto hit =
                try_dirs(name, expand_path(*o.elf.rpath, o), "DT_RPATH of " + describe(o), FoundVia::kRpath, log)) {
          return hit;
        }
      }
    }
    if (req.elf.runpath) {
      if (auto hit = try_dirs(name, expand_path(*req.elf.runpath, req), "DT_RUNPATH of " + describe(req),
                              FoundVia::kRunpath, log)) {
        return hit;
      }
    }
    std::vector<std::string> conf = conf_dirs_;
    if (req.elf.nodeflib) {
      std::erase_if(conf, [&](const std::string& d) {
        return std::find(defaults_.begin(), defaults_.end(), d) != defaults_.end();
      });
    }
    if (auto hit = try_dirs(name, conf, "/etc/ld.so.conf", FoundVia::kLdSoConf, log)) return hit;
    if (!req.elf.nodeflib) {
      if (auto hit = try_dirs(name, defaults_, "default directories", FoundVia::kDefaultDir, log)) return hit;
    } else {
      log.lines.push_back("(default directories skipped: " + describe(req) + " has DF_1_NODEFLIB)");
    }
    return std::nullopt;
  }

  std::optional<Hit> try_file(const std::string& path, FoundVia via, SearchLog& log) {
    auto canonical = resolve_in_root(options_.sysroot, path);
    if (!canonical) return std::nullopt;
    const std::string host = host_path(options_.sysroot, *canonical);
    std::error_code ec;
    if (!fs::is_regular_file(host, ec)) return std::nullopt;
    ElfInfo elf = read_elf(host);
    if (!elf.is_elf) {
      log.rejected.push_back(path + " (not an ELF file)");
      return std::nullopt;
    }
    if (elf.elf_class != abi_.elf_class || elf.machine != abi_.machine || elf.data != abi_.data) {
      log.rejected.push_back(path + " (" + abi_name(elf) + ")");
      return std::nullopt;
    }
    return Hit{lookup_path(path), *canonical, std::move(elf), via};
  }

  // The path the loader opens, for the image: as searched, except that a
  // "." or ".." component (from $ORIGIN/../lib, say) is settled by
  // resolving the directory in the sysroot, as the kernel would.
  std::string lookup_path(const std::string& path) const {
    const std::string dir = dirname_of(path);
    bool dots = false;
    for (const std::string& part : split(dir, '/')) dots = dots || part == "." || part == "..";
    if (!dots) return path;
    auto real_dir = resolve_in_root(options_.sysroot, dir);
    if (!real_dir) return path;
    return absolute_in_root(join_path(*real_dir, basename_of(path)));
  }

 private:
  std::string describe(const Object& o) const { return o.lookup; }

  std::vector<std::string> expand_path(const std::string& list, const Object& o) const {
    std::vector<std::string> dirs;
    for (const std::string& part : split(list, ':')) {
      if (part.empty()) continue;
      std::string dir = absolute_in_root(expand_tokens(part, o.origin, abi_));
      if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) dirs.push_back(dir);
    }
    return dirs;
  }

  std::optional<Hit> try_dirs(const std::string& name, const std::vector<std::string>& dirs, const std::string& what,
                              FoundVia via, SearchLog& log) {
    std::string line = what + ":";
    for (const std::string& d : dirs) line += " " + d;
    if (dirs.empty()) line += " (none)";
    log.lines.push_back(line);
    for (const std::string& dir : dirs) {
      if (auto hit = try_file(absolute_in_root(join_path(dir, name)), via, log)) return hit;
    }
    return std::nullopt;
  }

  const ClosureOptions& options_;
  const ElfInfo& abi_;
  std::vector<std::string> conf_dirs_;
  std::vector<std::string> defaults_;
};

// DIR/glibc-hwcaps/*/NAME for a library found as DIR/NAME: what glibc
// 2.33+ loads instead on a CPU of that level. Not followed (the target's CPU
// is not known here), only reported.
std::vector<std::string> hwcaps_variants(const fs::path& sysroot, const std::string& lookup) {
  std::vector<std::string> found;
  const std::string hwcaps = join_path(dirname_of(lookup), "glibc-hwcaps");
  auto dir = resolve_in_root(sysroot, hwcaps);
  if (!dir) return found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(host_path(sysroot, *dir), ec)) {
    std::string candidate = join_path(join_path(hwcaps, entry.path().filename().string()), basename_of(lookup));
    if (resolve_in_root(sysroot, candidate)) found.push_back(std::move(candidate));
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::uintmax_t file_size(const std::string& host) {
  std::error_code ec;
  auto size = fs::file_size(host, ec);
  return ec ? 0 : size;
}

}  // namespace

// ---------------------------------------------------------------- public

ElfInfo read_elf(const fs::path& path) {
  File file(path);
  ElfInfo info;
  unsigned char ident[EI_NIDENT] = {};
  if (file.read_prefix(ident, sizeof ident) < sizeof ident || std::memcmp(ident, ELFMAG, SELFMAG) != 0) return info;
  info.is_elf = true;
  info.elf_class = ident[EI_CLASS];
  info.data = ident[EI_DATA];
  if (info.data != ELFDATA2LSB && info.data != ELFDATA2MSB) file.corrupt("unknown byte order");
  const bool host_le = std::endian::native == std::endian::little;
  const bool swap = (info.data == ELFDATA2LSB) != host_le;
  if (info.elf_class == ELFCLASS32) {
    parse_elf<Elf32Types>(file, swap, info);
  } else if (info.elf_class == ELFCLASS64) {
    parse_elf<Elf64Types>(file, swap, info);
  } else {
    file.corrupt("unknown ELF class " + std::to_string(info.elf_class));
  }
  return info;
}

std::optional<Shebang> read_shebang(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[256];  // the kernel reads at most BINPRM_BUF_SIZE (256) bytes of the line
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n < 2 || buf[0] != '#' || buf[1] != '!') return std::nullopt;
  std::string line(buf + 2, static_cast<std::size_t>(n) - 2);
  if (auto nl = line.find('\n'); nl != std::string::npos) line.erase(nl);
  auto blank = [](char c) { return c == ' ' || c == '\t'; };
  std::size_t i = 0;
  while (i < line.size() && blank(line[i])) ++i;
  std::size_t j = i;
  while (j < line.size() && !blank(line[j])) ++j;
  Shebang sb;
  sb.interpreter = line.substr(i, j - i);
  while (j < line.size() && blank(line[j])) ++j;
  std::string arg = line.substr(j);
  while (!arg.empty() && (blank(arg.back()) || arg.back() == '\r')) arg.pop_back();
  sb.argument = arg;
  if (sb.interpreter.empty()) return std::nullopt;
  return sb;
}

std::string machine_name(std::uint16_t machine) {
  switch (machine) {
    case EM_X86_64: return "x86-64";
    case EM_386: return "i386";
    case EM_AARCH64: return "AArch64";
    case EM_ARM: return "ARM";
    case EM_RISCV: return "RISC-V";
    case EM_PPC: return "PowerPC";
    case EM_PPC64: return "PowerPC64";
    case EM_S390: return "S/390";
    case EM_MIPS: return "MIPS";
    case EM_LOONGARCH: return "LoongArch";
    case EM_SPARCV9: return "SPARC V9";
    default: return "machine " + std::to_string(machine);
  }
}

std::string abi_name(const ElfInfo& elf) {
  std::string s = elf.elf_class == ELFCLASS64 ? "ELF64" : elf.elf_class == ELFCLASS32 ? "ELF32" : "ELF?";
  s += " " + machine_name(elf.machine);
  if (elf.data == ELFDATA2MSB) s += " big-endian";
  return s;
}

std::optional<std::string> resolve_in_root(const fs::path& sysroot, const std::string& path) {
  std::deque<std::string> pending;
  for (std::string& part : split(path, '/')) {
    if (!part.empty()) pending.push_back(std::move(part));
  }
  std::vector<std::string> done;
  auto joined = [&done] {
    std::string s;
    for (const std::string& d : done) s += "/" + d;
    return s.empty() ? std::string("/") : s;
  };
  int links = 0;
  while (!pending.empty()) {
    std::string part = std::move(pending.front());
    pending.pop_front();
    if (part == ".") continue;
    if (part == "..") {
      if (!done.empty()) done.pop_back();  // ".." of the root is the root
      continue;
    }
    done.push_back(part);
    const std::string host = host_path(sysroot, joined());
    struct stat st {};
    if (::lstat(host.c_str(), &st) != 0) return std::nullopt;
    if (S_ISLNK(st.st_mode)) {
      if (++links > 40) return std::nullopt;  // ELOOP, like the kernel
      std::error_code ec;
      std::string target = fs::read_symlink(host, ec).string();
      if (ec) return std::nullopt;
      done.pop_back();
      if (!target.empty() && target[0] == '/') done.clear();
      std::vector<std::string> parts;
      for (std::string& t : split(target, '/')) {
        if (!t.empty()) parts.push_back(std::move(t));
      }
      pending.insert(pending.begin(), parts.begin(), parts.end());
    } else if (!S_ISDIR(st.st_mode) && !pending.empty()) {
      return std::nullopt;  // ENOTDIR
    }
  }
  return joined();
}

std::vector<std::string> ld_so_conf_dirs(const fs::path& sysroot) {
  std::vector<std::string> dirs;
  std::set<std::string> seen;
  parse_conf(sysroot, "/etc/ld.so.conf", 0, dirs, seen);
  return dirs;
}

const char* found_via_name(FoundVia via) {
  switch (via) {
    case FoundVia::kInterpreter: return "interpreter";
    case FoundVia::kPath: return "path";
    case FoundVia::kRpath: return "RPATH";
    case FoundVia::kRunpath: return "RUNPATH";
    case FoundVia::kLdSoConf: return "ld.so.conf";
    case FoundVia::kDefaultDir: return "default dir";
    case FoundVia::kDlopenRule: return "dlopen rule";
  }
  return "?";
}

std::vector<std::string> Closure::canonical_paths() const {
  std::vector<std::string> out;
  for (const ResolvedLibrary& lib : libraries) out.push_back(lib.canonical);
  std::sort(out.begin(), out.end());
  return out;
}

Closure elf_closure(const std::string& program, const ClosureOptions& options) {
  Closure closure;
  closure.program = program;
  std::error_code ec;
  // A relative path is relative to the working directory when the sysroot
  // is the host's "/" (keel-image ldd ./prog), else to the sysroot.
  std::string given = program;
  if (!given.empty() && given[0] != '/' && fs::equivalent(options.sysroot, "/", ec))
    given = fs::absolute(given).string();
  const std::string prog = absolute_in_root(given);
  auto canonical = resolve_in_root(options.sysroot, prog);
  const std::string shown = host_path(options.sysroot, prog);
  if (!canonical) throw ImageError(shown, 0, "no such file");
  const std::string host = host_path(options.sysroot, *canonical);
  if (!fs::is_regular_file(host, ec)) throw ImageError(shown, 0, "not a regular file");
  closure.canonical = *canonical;
  closure.size = file_size(host);
  closure.elf = read_elf(host);
  if (!closure.elf.is_elf) {
    if (auto sb = read_shebang(host)) {
      throw ImageError(shown, 0,
                       "not an ELF file: a script for " + sb->interpreter + " (add the closure of its interpreter)");
    }
    throw ImageError(shown, 0, "not an ELF file");
  }
  const ElfInfo& abi = closure.elf;

  std::vector<Object> objects;  // [0] the program, [i+1] closure.libraries[i]
  objects.push_back(Object{prog, dirname_of(*canonical), closure.elf, -1, 0});
  std::map<std::string, int> by_name;       // DT_NEEDED names, sonames, lookup paths -> object
  std::map<std::string, int> by_canonical;  // realpath -> object
  by_canonical[*canonical] = 0;

  auto add = [&](Resolver::Hit hit, const std::string& name, int loader) -> int {
    const int index = static_cast<int>(objects.size());
    Object obj{hit.lookup, dirname_of(hit.lookup), hit.elf, loader,
               objects[static_cast<std::size_t>(loader)].depth + 1};
    ResolvedLibrary lib;
    lib.name = name;
    lib.canonical = hit.canonical;
    lib.host_file = host_path(options.sysroot, hit.canonical);
    lib.image_paths.push_back(hit.lookup);
    lib.size = file_size(lib.host_file.string());
    lib.via = hit.via;
    lib.loader = loader;
    lib.depth = obj.depth;
    lib.elf = hit.elf;
    if (hit.via != FoundVia::kInterpreter && hit.via != FoundVia::kPath) {
      for (const std::string& variant : hwcaps_variants(options.sysroot, hit.lookup)) {
        closure.notes.push_back(variant + " not included: ld.so prefers this glibc-hwcaps variant of " + hit.lookup +
                                " on CPUs that support it (list it in the spec if the target's does)");
      }
    }
    if (!hit.elf.soname.empty()) by_name.emplace(hit.elf.soname, index);
    by_name.emplace(name, index);
    by_canonical[hit.canonical] = index;
    objects.push_back(std::move(obj));
    closure.libraries.push_back(std::move(lib));
    return index;
  };

  Resolver resolver(options, abi);
  if (!abi.interpreter.empty()) {
    SearchLog log;
    auto hit = resolver.try_file(absolute_in_root(abi.interpreter), FoundVia::kInterpreter, log);
    if (!hit) {
      std::string msg = "program interpreter " + abi.interpreter + " not found";
      if (!log.rejected.empty()) msg += "; unusable: " + log.rejected.front();
      throw ImageError(shown, 0, msg);
    }
    hit->lookup = abi.interpreter;
    add(std::move(*hit), abi.interpreter, 0);
  }

  // The chain "X (needed by Y, needed by PROGRAM)" for messages.
  auto chain = [&](int index) {
    std::string s = objects[static_cast<std::size_t>(index)].lookup;
    for (int l = objects[static_cast<std::size_t>(index)].loader; l >= 0;
         l = objects[static_cast<std::size_t>(l)].loader) {
      s += ", needed by " + objects[static_cast<std::size_t>(l)].lookup;
    }
    return s;
  };

  auto resolve_need = [&](const std::string& name, int requester, bool by_rule) {
    if (auto it = by_name.find(name); it != by_name.end()) return;
    SearchLog log;
    auto hit = resolver.search(name, objects, requester, log);
    if (!hit) {
      if (by_rule) {
        closure.notes.push_back(name + " not found; not added");
        return;
      }
      std::string msg = name + " needed by " + chain(requester) + " not found; searched: ";
      for (std::size_t i = 0; i < log.lines.size(); ++i) msg += (i ? "; " : "") + log.lines[i];
      if (!log.rejected.empty()) {
        msg += "; skipped (not " + abi_name(abi) + "):";
        for (const std::string& r : log.rejected) msg += " " + r;
      }
      throw ImageError(objects[static_cast<std::size_t>(requester)].lookup, 0, msg);
    }
    if (by_rule) hit->via = FoundVia::kDlopenRule;
    if (auto it = by_canonical.find(hit->canonical); it != by_canonical.end()) {
      // The same file under another name or path: one library, one more lookup path.
      by_name.emplace(name, it->second);
      if (it->second > 0) {
        auto& paths = closure.libraries[static_cast<std::size_t>(it->second - 1)].image_paths;
        if (std::find(paths.begin(), paths.end(), hit->lookup) == paths.end()) paths.push_back(hit->lookup);
      }
      return;
    }
    add(std::move(*hit), name, requester);
  };

  // Breadth-first, like _dl_map_object_deps. The interpreter has no needs
  // that are not already loaded, but it is walked like everything else.
  bool gcc_rule_done = !options.add_libgcc_s;
  for (std::size_t next = 0;; ++next) {
    if (next == objects.size()) {
      if (gcc_rule_done) break;
      gcc_rule_done = true;
      auto libc = by_name.find("libc.so.6");
      if (libc == by_name.end() || libc->second == 0) break;
      resolve_need("libgcc_s.so.1", libc->second, true);
      if (next == objects.size()) break;
    }
    const int index = static_cast<int>(next);
    const std::vector<std::string> needs = objects[next].elf.needed;  // copy: objects grows
    for (const std::string& name : needs) resolve_need(name, index, false);
  }
  for (auto& lib : closure.libraries) std::sort(lib.image_paths.begin(), lib.image_paths.end());
  return closure;
}

std::vector<std::string> ldd_lines(const Closure& closure) {
  std::vector<std::string> lines;
  lines.push_back(
      closure.program +
      (closure.canonical != absolute_in_root(closure.program) ? " -> " + closure.canonical : std::string()) + " (" +
      std::to_string(closure.size) + " bytes)" + (closure.elf.is_static() ? " statically linked" : ""));
  std::uintmax_t total = closure.size;
  // children[i]: libraries loaded by object i (0 = program), in BFS order.
  std::vector<std::vector<std::size_t>> children(closure.libraries.size() + 1);
  for (std::size_t i = 0; i < closure.libraries.size(); ++i) {
    children[static_cast<std::size_t>(closure.libraries[i].loader)].push_back(i);
  }
  auto emit = [&](auto& self, std::size_t object) -> void {
    for (std::size_t i : children[object]) {
      const ResolvedLibrary& lib = closure.libraries[i];
      total += lib.size;
      std::string line(static_cast<std::size_t>(lib.depth) * 2, ' ');
      if (lib.via == FoundVia::kInterpreter) {
        line += "interpreter " + lib.name;
      } else {
        line += lib.name + " => ";
        for (std::size_t p = 0; p < lib.image_paths.size(); ++p) line += (p ? ", " : "") + lib.image_paths[p];
      }
      if (lib.image_paths.size() != 1 || lib.image_paths.front() != lib.canonical) line += " -> " + lib.canonical;
      line += " (" + std::to_string(lib.size) + " bytes)";
      if (lib.via == FoundVia::kDlopenRule || lib.via == FoundVia::kRpath || lib.via == FoundVia::kRunpath ||
          lib.via == FoundVia::kPath) {
        line += std::string(" [") + found_via_name(lib.via) + "]";
      }
      lines.push_back(std::move(line));
      self(self, i + 1);
    }
  };
  emit(emit, 0);
  for (const std::string& note : closure.notes) lines.push_back("note: " + note);
  const std::size_t files = closure.libraries.size() + 1;
  lines.push_back("total: " + std::to_string(files) + (files == 1 ? " file, " : " files, ") + std::to_string(total) +
                  " bytes");
  return lines;
}

}  // namespace keel::image
