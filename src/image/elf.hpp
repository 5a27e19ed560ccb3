// elf.hpp — the shared-library closure of ELF programs, found by reading files.
//
// An initramfs built by keel-image must carry, for every dynamically linked
// program in it, the program interpreter and every shared library the
// loader will open. keel-image finds them by READING the ELF files (program
// headers, PT_INTERP, PT_DYNAMIC) and redoing glibc ld.so's search itself.
// It never runs ldd or the programs: the image may be for another
// architecture, and running a binary only to inspect it is unsafe (ldd on an
// untrusted binary can run its code).
//
// Everything happens inside a source root (sysroot, default "/"): a path
// such as /lib/x86_64-linux-gnu/libc.so.6 means <sysroot>/lib/..., and
// symlinks are followed with the sysroot as "/" (an absolute symlink target
// stays inside it).
//
// Search order for a DT_NEEDED name (glibc's, see `man ld.so`):
//   * a name containing '/' is a path: used as is (after $ORIGIN, ... are
//     expanded; a relative one is taken relative to "/", the working
//     directory of processes keel starts unless told otherwise);
//   * DT_RPATH of the requesting object, then of the object that loaded
//     it, and so on up to the program — only when the requesting object
//     has no DT_RUNPATH (an object's RPATH is ignored if it has a RUNPATH);
//   * LD_LIBRARY_PATH: NOT used. The closure is for the image, where keel
//     starts programs with no LD_LIBRARY_PATH; the host's is irrelevant;
//   * DT_RUNPATH of the requesting object only (RUNPATH applies to an
//     object's direct needs, never to its dependencies' needs);
//   * the directories of <sysroot>/etc/ld.so.conf, with its `include` globs
//     (this stands for /etc/ld.so.cache, which ldconfig builds from them, in
//     the same order);
//   * the default directories. Debian's glibc (2.36, `ld.so --help`) has
//     /lib/<triplet>, /usr/lib/<triplet>, /lib, /usr/lib — there is no
//     /lib64 in the list on Debian, so none here either.
//   With DF_1_NODEFLIB on the requesting object, the default directories are
//   skipped, also when ld.so.conf lists them (glibc drops cache entries in
//   them). Candidates whose ELF class or machine differ from the program's
//   are skipped (as ld.so does), and so are non-ELF files.
// Dynamic string tokens: $ORIGIN is the directory of the requesting object:
// for the program, after resolving its symlinks (the kernel's
// /proc/self/exe); for a library, the directory it was found in, NOT
// symlink-resolved (glibc's l_origin is derived from the path it opened).
// $LIB is what Debian's ld.so gives: "lib/<triplet>" (e.g.
// lib/x86_64-linux-gnu; checked with LD_DEBUG=libs), or lib64/lib by class
// when the machine has no known triplet. $PLATFORM is AT_PLATFORM:
// "x86_64", "i686", "aarch64", ... (empty when unknown).
// Not modelled: glibc-hwcaps/ subdirectories (glibc 2.33+ prefers
// DIR/glibc-hwcaps/x86-64-v3/NAME over DIR/NAME on a CPU of that level;
// which one the target loads depends on its CPU, so the plain one is taken
// and an existing variant is reported in Closure::notes; the Debian 12
// machine this was written on has none), legacy hwcap subdirectories
// (tls/, x86_64/; none there either), empty path elements (glibc: the
// current directory; skipped here), LD_PRELOAD, /etc/ld.so.preload.
//
// Each library is resolved once: a name already loaded (a DT_NEEDED name
// that resolved before, or a loaded object's DT_SONAME) is not searched
// again, and two names that resolve to the same file (realpath in the
// sysroot) are one library. On a usr-merged system (/lib -> usr/lib) libc is
// then one file, /usr/lib/x86_64-linux-gnu/libc.so.6, looked up as
// /lib/x86_64-linux-gnu/libc.so.6: the closure gives both, so the image
// builder copies the file once and makes the lookup paths resolve to it
// (a /lib -> usr/lib symlink, or one per file).
//
// Caveat for the image builder: a library found through an ld.so.conf
// directory that is not a default directory (e.g. /usr/local/lib) is only
// found at run time if the image has an ld.so.cache listing it (or the
// library is also made reachable from a default directory).
//
// Hidden dlopen needs (what no DT_NEEDED says):
//   * libgcc_s.so.1: glibc dlopens it to unwind threads in pthread_cancel and
//     pthread_exit (and for backtrace()); without it such a program aborts
//     ("libgcc_s.so.1 must be installed for pthread_cancel to work"). Whether
//     a program can reach those paths is not decidable from its imports (a
//     library it loads may call pthread_exit), so the rule is simple: when
//     libc.so.6 is in the closure and libgcc_s.so.1 can be found (searched as
//     libc would dlopen it), it is added (via = kDlopenRule). It is ~130 KB.
//     ClosureOptions::add_libgcc_s turns this off. Not found: no error, a note.
//   * NSS modules (libnss_files.so.2, libnss_dns.so.2, ...) are dlopened by
//     getpwnam() and friends according to /etc/nsswitch.conf. They are NOT
//     added: keel itself avoids NSS (see core/userdb), and a program that
//     needs them must list them in the spec.
//   * Other dlopen users (gconv modules for iconv, PAM, python extension
//     modules, ...) are likewise the spec's business.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace keel::image {

// What the ELF headers of one file say. Only what the closure needs.
struct ElfInfo {
  bool is_elf = false;                 // false: not an ELF file (a script, data, ...)
  int elf_class = 0;                   // ELFCLASS32 or ELFCLASS64
  int data = 0;                        // ELFDATA2LSB or ELFDATA2MSB
  std::uint16_t type = 0;              // e_type: ET_EXEC, ET_DYN, ...
  std::uint16_t machine = 0;           // e_machine: EM_X86_64, ...
  std::string interpreter;             // PT_INTERP ("" when none: static, or a library)
  bool has_dynamic = false;            // a PT_DYNAMIC segment exists
  std::vector<std::string> needed;     // DT_NEEDED, in order
  std::optional<std::string> rpath;    // DT_RPATH as written (':'-separated)
  std::optional<std::string> runpath;  // DT_RUNPATH as written
  std::string soname;                  // DT_SONAME ("" when none)
  bool nodeflib = false;               // DT_FLAGS_1 has DF_1_NODEFLIB

  // A static binary: no interpreter and nothing needed.
  [[nodiscard]] bool is_static() const { return interpreter.empty() && needed.empty(); }
};

// Reads `file` (a host path). A file that is not ELF gives is_elf == false;
// an ELF file that is truncated or inconsistent, or one that cannot be read,
// throws ImageError naming the file.
[[nodiscard]] ElfInfo read_elf(const std::filesystem::path& file);

// The "#!" line of a script: interpreter and its single optional argument
// (the kernel passes everything after the interpreter as one argument).
struct Shebang {
  std::string interpreter;
  std::string argument;
};
// nullopt when `file` does not start with "#!" (or cannot be read).
[[nodiscard]] std::optional<Shebang> read_shebang(const std::filesystem::path& file);

// "x86-64", "AArch64", "i386", ... or "machine 1234".
[[nodiscard]] std::string machine_name(std::uint16_t machine);
// "ELF64 x86-64" (class and machine, how error messages name an ABI).
[[nodiscard]] std::string abi_name(const ElfInfo& elf);

// Resolves `path` (absolute, inside `sysroot`) following every symlink with
// `sysroot` as "/": the canonical in-sysroot path ("/usr/lib/.../libc.so.6"),
// or nullopt when a component does not exist, is not a directory, or there
// are too many symlinks.
[[nodiscard]] std::optional<std::string> resolve_in_root(const std::filesystem::path& sysroot, const std::string& path);

// The directories ld.so.conf lists (with its includes, in order, without
// duplicates), read from <sysroot>/etc/ld.so.conf. None when it is missing.
[[nodiscard]] std::vector<std::string> ld_so_conf_dirs(const std::filesystem::path& sysroot);

struct ClosureOptions {
  std::filesystem::path sysroot = "/";
  bool add_libgcc_s = true;  // the dlopen rule above
};

// How a library was found.
enum class FoundVia { kInterpreter, kPath, kRpath, kRunpath, kLdSoConf, kDefaultDir, kDlopenRule };
[[nodiscard]] const char* found_via_name(FoundVia via);

struct ResolvedLibrary {
  std::string name;                 // the DT_NEEDED name that first loaded it (PT_INTERP's path for the interpreter)
  std::string canonical;            // realpath in the sysroot: "/usr/lib/x86_64-linux-gnu/libc.so.6"
  std::filesystem::path host_file;  // the file to copy: <sysroot><canonical>
  // Every path the loader opens it by, in the image ("/lib/x86_64-linux-gnu/libc.so.6",
  // "/lib64/ld-linux-x86-64.so.2"): each must exist there and resolve to `canonical`.
  std::vector<std::string> image_paths;
  std::uintmax_t size = 0;  // bytes
  FoundVia via = FoundVia::kDefaultDir;
  int loader = 0;  // index of the object that loaded it: 0 the program, i+1 libraries[i]
  int depth = 1;   // 1: needed by the program
  ElfInfo elf;
};

struct Closure {
  std::string program;    // as asked for (in the sysroot)
  std::string canonical;  // its realpath in the sysroot
  std::uintmax_t size = 0;
  ElfInfo elf;
  // Breadth-first order: the interpreter (if any) first, then the program's
  // needs, then theirs, ...; each library once.
  std::vector<ResolvedLibrary> libraries;
  std::vector<std::string> notes;  // e.g. "libgcc_s.so.1 not found; not added"

  // The libraries' canonical paths, sorted.
  [[nodiscard]] std::vector<std::string> canonical_paths() const;
};

// The closure of `program` (a path inside options.sysroot). Throws
// ImageError when the program is not ELF (naming its "#!" interpreter when it
// is a script: the caller resolves that one instead), when its interpreter
// is missing, or when a needed library cannot be found (the message names
// the library, the chain of objects needing it, every directory searched and
// the candidates skipped for a wrong class or machine).
[[nodiscard]] Closure elf_closure(const std::string& program, const ClosureOptions& options = {});

// `keel-image ldd FILE`: the program, then each library under the object
// that loaded it, indented by depth, with the path it is looked up by, its
// realpath when different, its size in bytes and how it was found when not a
// plain search; then a total. Deterministic (no addresses, no host state).
[[nodiscard]] std::vector<std::string> ldd_lines(const Closure& closure);

}  // namespace keel::image
