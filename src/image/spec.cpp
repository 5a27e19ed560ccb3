// spec.cpp — reads an image spec (TOML) into keel::image::Spec.
//
// The TOML itself is parsed by toml++ (which keeps the source position of
// every key and value); this file walks the result table by table with a
// fixed list of known keys for each, so every problem is reported at the
// line of the key or table it concerns. Schema: docs/image-spec.md.
//
// Order of work: the top level's keys, then [[user]]/[[group]] (owner names
// in every other table resolve against them), then everything else in the
// order of the schema. Each image path an entry creates is "claimed" with
// its line, which is how a path given twice is found; a last pass checks
// that nothing is placed under a path that is not a directory.
#include "image/spec.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

#include "core/limits.hpp"
#include "core/signals.hpp"
#include "image/diagnostic.hpp"
#include "service/toml_guard.hpp"

namespace keel::image {

namespace fs = std::filesystem;

std::optional<std::string> normalize_image_path(std::string_view path) {
  if (path.empty() || path.front() != '/') return std::nullopt;
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    std::size_t j = i;
    while (j < path.size() && path[j] != '/') ++j;
    std::string_view part = path.substr(i, j - i);
    i = j;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  if (parts.empty()) return std::string("/");
  std::string out;
  for (auto p : parts) {
    out += '/';
    out += p;
  }
  return out;
}

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

int line_of(const toml::node& n) { return static_cast<int>(n.source().begin.line); }

std::string q(std::string_view s) { return "'" + std::string(s) + "'"; }

using Keys = std::initializer_list<std::string_view>;

// The value a word names, from a fixed list.
template <typename T>
std::optional<T> pick(std::string_view word, std::initializer_list<std::pair<std::string_view, T>> choices) {
  for (const auto& [name, value] : choices) {
    if (name == word) return value;
  }
  return std::nullopt;
}

// What is being read, for messages: "[[file]]", "[output]", ...
struct Where {
  std::string table;  // "[[file]]"
  int line;           // the table's line
};

// A key's value with the line of its key.
struct Field {
  const toml::node* node = nullptr;
  int line = 0;
  explicit operator bool() const { return node != nullptr; }
};

class Parser {
 public:
  Parser(const fs::path& file, Spec& spec) : file_(file.string()), spec_(spec) {}

  void run(const toml::table& root);

 private:
  [[noreturn]] void fail(int line, const std::string& message) const { throw ImageError(file_, line, message); }

  // Unknown keys: the first one in the file is reported.
  void check_keys(const toml::table& t, const Where& w, Keys known) const {
    const toml::key* bad = nullptr;
    for (auto&& [k, v] : t) {
      if (std::find(known.begin(), known.end(), k.str()) != known.end()) continue;
      if (bad == nullptr || k.source().begin.line < bad->source().begin.line) bad = &k;
    }
    if (bad == nullptr) return;
    std::string message = "unknown key " + q(bad->str()) + " in " + w.table;
    std::string_view best;
    std::size_t best_distance = 3;
    for (auto known_key : known) {
      std::size_t d = edit_distance(bad->str(), known_key);
      if (d < best_distance) {
        best_distance = d;
        best = known_key;
      }
    }
    if (!best.empty()) message += "; did you mean " + q(best) + "?";
    int line = static_cast<int>(bad->source().begin.line);
    fail(line > 0 ? line : w.line, message);
  }

  static Field field(const toml::table& t, std::string_view key) {
    auto it = t.find(key);
    if (it == t.end()) return {};
    int line = static_cast<int>(it->first.source().begin.line);
    if (line == 0) line = line_of(it->second);
    return {&it->second, line};
  }

  Field required(const toml::table& t, const Where& w, std::string_view key) const {
    Field f = field(t, key);
    if (!f) fail(w.line, w.table + " needs " + q(key));
    return f;
  }

  std::string as_string(const Field& f, const Where& w, std::string_view key) const {
    if (!f.node->is_string()) fail(f.line, q(key) + " in " + w.table + " must be a string");
    return f.node->as_string()->get();
  }

  std::optional<std::string> opt_string(const toml::table& t, const Where& w, std::string_view key) const {
    Field f = field(t, key);
    if (!f) return std::nullopt;
    return as_string(f, w, key);
  }

  std::vector<std::string> string_list(const Field& f, const Where& w, std::string_view key) const {
    const toml::array* a = f.node->as_array();
    std::vector<std::string> out;
    bool ok = a != nullptr;
    if (ok) {
      for (const auto& e : *a) {
        if (!e.is_string() || e.as_string()->get().empty()) {
          ok = false;
          break;
        }
        out.push_back(e.as_string()->get());
      }
    }
    if (!ok) fail(f.line, q(key) + " in " + w.table + " must be a list of non-empty strings");
    return out;
  }

  std::int64_t as_integer(const Field& f, const Where& w, std::string_view key, std::int64_t lo, std::int64_t hi,
                          const std::string& what) const {
    if (!f.node->is_integer()) fail(f.line, q(key) + " in " + w.table + " must be " + what);
    std::int64_t v = f.node->as_integer()->get();
    if (v < lo || v > hi) fail(f.line, q(key) + " in " + w.table + " must be " + what);
    return v;
  }

  // "0644" / "644" / 0o644. A decimal integer is refused: 644 would mean
  // 0o1204, which is never what was meant.
  mode_t mode(const toml::table& t, const Where& w, mode_t fallback) const {
    Field f = field(t, "mode");
    if (!f) return fallback;
    const std::string msg = "mode in " + w.table + " must be a string like \"0644\" or an octal integer like 0o644";
    if (f.node->is_string()) {
      const std::string& s = f.node->as_string()->get();
      if (s.empty() || s.size() > 5) fail(f.line, msg);
      unsigned value = 0;
      for (char c : s) {
        if (c < '0' || c > '7') fail(f.line, msg);
        value = value * 8 + static_cast<unsigned>(c - '0');
      }
      if (value > 07777) fail(f.line, msg + " (at most \"07777\")");
      return static_cast<mode_t>(value);
    }
    if (f.node->is_integer()) {
      const auto* v = f.node->as_integer();
      if ((v->flags() & toml::value_flags::format_as_octal) == toml::value_flags::none) {
        fail(f.line, msg + " (" + std::to_string(v->get()) + " is decimal; write \"" + std::to_string(v->get()) +
                         "\" or 0o" + std::to_string(v->get()) + ")");
      }
      if (v->get() < 0 || v->get() > 07777) fail(f.line, msg + " (at most 0o7777)");
      return static_cast<mode_t>(v->get());
    }
    fail(f.line, msg);
  }

  static std::optional<std::uint32_t> numeric_id(std::string_view s) {
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty() || v >= 0xffffffffULL) return std::nullopt;
    return static_cast<std::uint32_t>(v);
  }

  std::uint32_t id_value(const Field& f, const Where& w, std::string_view key) const {
    return static_cast<std::uint32_t>(as_integer(f, w, key, 0, 0xfffffffeLL, "an integer from 0 to 4294967294"));
  }

  // owner = "name" | "1000" | 1000; group likewise. Default root:root.
  Ownership ownership(const toml::table& t, const Where& w) const {
    Ownership o;
    if (Field f = field(t, "owner")) o.uid = account_id(f, w, "owner", {"user", "uid", user_ids_});
    if (Field f = field(t, "group")) o.gid = account_id(f, w, "group", {"group", "gid", group_ids_});
    return o;
  }

  // The ids a spec declares, by name: [[user]]s' or [[group]]s'.
  struct Accounts {
    const char* noun;  // "user", "group": [[user]], [[group]]
    const char* id;    // "uid", "gid"
    const std::map<std::string, std::uint32_t, std::less<>>& ids;
  };

  // `key` (owner, group) as an id: an integer, a numeric string, or a name
  // the spec declares.
  std::uint32_t account_id(const Field& f, const Where& w, const std::string& key, const Accounts& a) const {
    if (f.node->is_integer()) return id_value(f, w, key);
    if (!f.node->is_string()) {
      fail(f.line, key + " in " + w.table + " must be a " + a.noun + " name or a numeric " + a.id);
    }
    const std::string& name = f.node->as_string()->get();
    if (auto n = numeric_id(name)) return *n;
    if (auto it = a.ids.find(name); it != a.ids.end()) return it->second;
    fail(f.line, "unknown " + key + " " + q(name) + " in " + w.table + ": declare it with [[" + a.noun +
                     "]] or give a numeric " + a.id);
  }

  // A host path: relative ones are relative to the spec's directory.
  fs::path resolve(const std::string& p) const {
    fs::path path(p);
    if (path.is_relative()) path = spec_.dir / path;
    return path.lexically_normal();
  }

  enum class Need { any, file, directory };

  fs::path source(const Field& f, const Where& w, std::string_view key, Need need) const {
    std::string raw = as_string(f, w, key);
    if (raw.empty()) fail(f.line, q(key) + " in " + w.table + " must not be empty");
    fs::path p = resolve(raw);
    std::error_code ec;
    auto st = fs::status(p, ec);
    if (ec || !fs::exists(st)) {
      fail(f.line,
           std::string(key) + " " + q(raw) + " in " + w.table + " does not exist (resolved to " + p.string() + ")");
    }
    if (need == Need::file && !fs::is_regular_file(st)) {
      fail(f.line, std::string(key) + " " + q(raw) + " in " + w.table + " is not a regular file (" + p.string() + ")");
    }
    if (need == Need::directory && !fs::is_directory(st)) {
      fail(f.line, std::string(key) + " " + q(raw) + " in " + w.table + " is not a directory (" + p.string() + ")");
    }
    return p;
  }

  std::string image_path_value(const std::string& raw, int line, const Where& w, std::string_view key,
                               bool root_ok) const {
    if (raw.empty() || raw.front() != '/') {
      fail(line, q(key) + " in " + w.table + " must be an absolute image path (like \"/usr/bin/x\"), not " + q(raw));
    }
    auto n = normalize_image_path(raw);
    if (!n) fail(line, "path escapes the image root: " + q(raw) + " in " + w.table);
    if (*n == "/" && !root_ok) fail(line, q(key) + " in " + w.table + " cannot be the image root \"/\"");
    return *n;
  }

  std::string image_path(const Field& f, const Where& w, std::string_view key, bool root_ok = false) const {
    return image_path_value(as_string(f, w, key), f.line, w, key, root_ok);
  }

  // An image path an entry creates. `is_dir`: other entries may go under it.
  void claim(const std::string& path, int line, bool is_dir) {
    auto [it, inserted] = claims_.try_emplace(path, Claim{line, is_dir});
    if (inserted) return;
    int a = std::min(it->second.line, line);
    int b = std::max(it->second.line, line);
    fail(b, path + " is given twice: line " + std::to_string(a) + " and line " + std::to_string(b));
  }

  void check_nesting() const {
    for (const auto& [path, c] : claims_) {
      if (c.is_dir) continue;
      std::string prefix = path + "/";
      auto it = claims_.lower_bound(prefix);
      if (it != claims_.end() && it->first.compare(0, prefix.size(), prefix) == 0) {
        fail(it->second.line,
             it->first + " is inside " + path + ", which is not a directory (line " + std::to_string(c.line) + ")");
      }
    }
  }

  // Tables of the top level. `arrays`: [[name]] (each element a table).
  std::vector<std::pair<const toml::table*, Where>> tables_of(const toml::table& root, std::string_view key) const {
    std::vector<std::pair<const toml::table*, Where>> out;
    Field f = field(root, key);
    if (!f) return out;
    const toml::array* a = f.node->as_array();
    if (a == nullptr) fail(f.line, q(key) + " must be an array of tables: write [[" + std::string(key) + "]]");
    for (const auto& e : *a) {
      if (!e.is_table()) fail(line_of(e), q(key) + " must be an array of tables: write [[" + std::string(key) + "]]");
      out.emplace_back(e.as_table(), Where{"[[" + std::string(key) + "]]", line_of(e)});
    }
    return out;
  }

  const toml::table* table_of(const toml::table& root, std::string_view key) const {
    Field f = field(root, key);
    if (!f) return nullptr;
    if (!f.node->is_table()) fail(f.line, q(key) + " must be a table: write [" + std::string(key) + "]");
    return f.node->as_table();
  }

  void users_and_groups(const toml::table& root);
  void output(const toml::table& root);
  void output_sbom(const toml::table& root);
  void boot(const toml::table& root);
  void files(const toml::table& root);
  void dirs(const toml::table& root);
  void symlinks(const toml::table& root);
  void hardlinks(const toml::table& root);
  void devices(const toml::table& root);
  void trees(const toml::table& root);
  void programs(const toml::table& root);
  void modules(const toml::table& root);
  void keel(const toml::table& root);
  void python(const toml::table& root);
  void oci(const toml::table& root);
  void disk(const toml::table& root);
  void output_disk_keys(const toml::table& t, const Where& w);

  struct Claim {
    int line;
    bool is_dir;
  };

  std::string file_;
  Spec& spec_;
  std::map<std::string, std::uint32_t, std::less<>> user_ids_;
  std::map<std::string, std::uint32_t, std::less<>> group_ids_;
  std::map<std::string, Claim> claims_;
};

bool valid_account_name(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  if (!(std::islower(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_' ||
           c == '-';
  });
}

void Parser::run(const toml::table& root) {
  check_keys(root, Where{"the top level", 1},
             {"output", "boot", "file", "dir", "symlink", "hardlink", "device", "tree", "program", "modules", "keel",
              "python", "user", "group", "oci", "disk"});
  users_and_groups(root);
  output(root);
  output_sbom(root);
  boot(root);
  files(root);
  dirs(root);
  symlinks(root);
  hardlinks(root);
  devices(root);
  trees(root);
  programs(root);
  modules(root);
  keel(root);
  python(root);
  oci(root);
  disk(root);
  check_nesting();
}

void Parser::users_and_groups(const toml::table& root) {
  std::map<std::string, int, std::less<>> user_lines, group_lines;
  auto user_tables = tables_of(root, "user");
  auto group_tables = tables_of(root, "group");
  for (const auto& [t, w] : user_tables) {
    check_keys(*t, w, {"name", "uid", "gid", "home", "shell"});
    User u;
    u.line = w.line;
    Field name = required(*t, w, "name");
    u.name = as_string(name, w, "name");
    if (!valid_account_name(u.name)) {
      fail(name.line, "user name " + q(u.name) + " must be lower-case letters, digits, '_' or '-' (at most 32)");
    }
    if (auto [it, ok] = user_lines.try_emplace(u.name, name.line); !ok) {
      fail(name.line, "user " + q(u.name) + " is given twice: line " + std::to_string(it->second) + " and line " +
                          std::to_string(name.line));
    }
    u.uid = id_value(required(*t, w, "uid"), w, "uid");
    u.gid = u.uid;
    if (Field f = field(*t, "gid")) u.gid = id_value(f, w, "gid");
    if (Field f = field(*t, "home")) u.home = image_path(f, w, "home", true);
    if (Field f = field(*t, "shell")) u.shell = image_path(f, w, "shell");
    user_ids_[u.name] = u.uid;
    spec_.users.push_back(std::move(u));
  }
  for (const auto& [t, w] : group_tables) {
    check_keys(*t, w, {"name", "gid", "members"});
    Group g;
    g.line = w.line;
    Field name = required(*t, w, "name");
    g.name = as_string(name, w, "name");
    if (!valid_account_name(g.name)) {
      fail(name.line, "group name " + q(g.name) + " must be lower-case letters, digits, '_' or '-' (at most 32)");
    }
    if (auto [it, ok] = group_lines.try_emplace(g.name, name.line); !ok) {
      fail(name.line, "group " + q(g.name) + " is given twice: line " + std::to_string(it->second) + " and line " +
                          std::to_string(name.line));
    }
    g.gid = id_value(required(*t, w, "gid"), w, "gid");
    if (Field f = field(*t, "members")) {
      g.members = string_list(f, w, "members");
      for (const auto& m : g.members) {
        if (!user_ids_.contains(m) && m != "root") {
          fail(f.line, "unknown user " + q(m) + " in members of group " + q(g.name) + ": declare it with [[user]]");
        }
      }
    }
    group_ids_[g.name] = g.gid;
    spec_.groups.push_back(std::move(g));
  }
  if (!user_ids_.contains("root")) {
    spec_.users.insert(spec_.users.begin(), User{"root", 0, 0, "/root", "/bin/sh", 0});
    user_ids_["root"] = 0;
  }
  if (!group_ids_.contains("root")) {
    spec_.groups.insert(spec_.groups.begin(), Group{"root", 0, {}, 0});
    group_ids_["root"] = 0;
  }
  if (!user_tables.empty()) claim("/etc/passwd", user_tables.front().second.line, false);
  if (!group_tables.empty()) claim("/etc/group", group_tables.front().second.line, false);
}

std::optional<std::uint64_t> parse_size(std::string_view s) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end == s.data()) return std::nullopt;
  std::string_view suffix(end, static_cast<std::size_t>(s.data() + s.size() - end));
  auto unit = pick<std::uint64_t>(suffix, {{"", 1},
                                           {"K", 1ULL << 10},
                                           {"KiB", 1ULL << 10},
                                           {"M", 1ULL << 20},
                                           {"MiB", 1ULL << 20},
                                           {"G", 1ULL << 30},
                                           {"GiB", 1ULL << 30}});
  if (!unit) return std::nullopt;
  std::uint64_t mult = *unit;
  if (v > std::numeric_limits<std::uint64_t>::max() / mult) return std::nullopt;
  return v * mult;
}

void Parser::output(const toml::table& root) {
  const toml::table* t = table_of(root, "output");
  if (t == nullptr) return;
  Where w{"[output]", line_of(*t)};
  check_keys(*t, w, {"format", "compression", "level", "path", "size", "sbom", "label", "initramfs"});
  Output& o = spec_.output;
  o.line = w.line;
  if (Field f = field(*t, "format")) {
    std::string s = as_string(f, w, "format");
    auto format = pick<OutputFormat>(s, {{"cpio", OutputFormat::cpio},
                                         {"ext4", OutputFormat::ext4},
                                         {"dir", OutputFormat::dir},
                                         {"oci", OutputFormat::oci},
                                         {"docker-archive", OutputFormat::docker_archive},
                                         {"erofs", OutputFormat::erofs},
                                         {"disk", OutputFormat::disk}});
    if (!format) {
      fail(f.line, "unknown output format " + q(s) +
                       ": use \"cpio\", \"ext4\", \"erofs\", \"disk\", \"dir\", \"oci\" or \"docker-archive\"");
    }
    o.format = *format;
  }
  o.compression = o.format == OutputFormat::cpio ? Compression::Gzip : Compression::None;
  if (Field f = field(*t, "compression")) {
    std::string s = as_string(f, w, "compression");
    auto compression = pick<Compression>(s, {{"gzip", Compression::Gzip},
                                             {"zstd", Compression::Zstd},
                                             {"xz", Compression::Xz},
                                             {"none", Compression::None}});
    if (!compression) fail(f.line, "unknown compression " + q(s) + ": use \"gzip\", \"zstd\", \"xz\" or \"none\"");
    o.compression = *compression;
    if (o.format != OutputFormat::cpio && o.compression != Compression::None) {
      fail(f.line, "compression applies only to format = \"cpio\"");
    }
  }
  if (Field f = field(*t, "level")) {
    // Checked here, not when the compressor starts, so a typo fails before
    // the (possibly long) build and names its line.
    if (o.compression == Compression::None) {
      fail(f.line, "level applies only to compression = \"gzip\", \"zstd\" or \"xz\"");
    }
    const std::string name(compression_name(o.compression));
    const int hi = max_level(o.compression);
    o.level = static_cast<int>(
        as_integer(f, w, "level", 1, hi, "an integer from 1 to " + std::to_string(hi) + " for " + name));
  }
  if (Field f = field(*t, "path")) {
    std::string s = as_string(f, w, "path");
    if (s.empty()) fail(f.line, "'path' in [output] must not be empty");
    o.path = resolve(s);
  }
  if (Field f = field(*t, "size")) {
    if (o.format != OutputFormat::ext4) fail(f.line, "size applies only to format = \"ext4\"");
    const std::string msg = "size in [output] must be a number of bytes or a string like \"64M\" (K, M, G)";
    std::optional<std::uint64_t> size;
    if (f.node->is_integer() && f.node->as_integer()->get() > 0) {
      size = static_cast<std::uint64_t>(f.node->as_integer()->get());
    } else if (f.node->is_string()) {
      size = parse_size(f.node->as_string()->get());
    }
    if (!size || *size == 0) fail(f.line, msg);
    o.size = *size;
  }
  output_disk_keys(*t, w);
}

// [output] sbom = PATH: where the image's SPDX document goes (relative to
// the spec's directory, as `path` is).
void Parser::output_sbom(const toml::table& root) {
  const toml::table* t = table_of(root, "output");
  if (t == nullptr) return;
  Where w{"[output]", line_of(*t)};
  if (Field f = field(*t, "sbom")) {
    std::string s = as_string(f, w, "sbom");
    if (s.empty()) fail(f.line, "'sbom' in [output] must not be empty");
    spec_.output.sbom = resolve(s);
  }
}

void Parser::boot(const toml::table& root) {
  const toml::table* t = table_of(root, "boot");
  if (t == nullptr) return;
  Where w{"[boot]", line_of(*t)};
  check_keys(*t, w, {"cmdline"});
  spec_.boot.line = w.line;
  if (Field f = field(*t, "cmdline")) {
    spec_.boot.cmdline = as_string(f, w, "cmdline");
    if (spec_.boot.cmdline.find('\n') != std::string::npos) fail(f.line, "cmdline in [boot] must be one line");
  }
}

void Parser::files(const toml::table& root) {
  for (const auto& [t, w] : tables_of(root, "file")) {
    check_keys(*t, w, {"source", "content", "path", "mode", "owner", "group"});
    FileEntry e;
    e.line = w.line;
    Field src = field(*t, "source");
    Field content = field(*t, "content");
    if (src && content) fail(content.line, "[[file]] takes 'source' or 'content', not both");
    if (!src && !content) fail(w.line, "[[file]] needs 'source' (a host file) or 'content' (inline text)");
    Field path = required(*t, w, "path");
    if (src) e.source = source(src, w, "source", Need::file);
    if (content) e.content = as_string(content, w, "content");
    e.path = image_path(path, w, "path");
    e.mode = mode(*t, w, 0644);
    e.owner = ownership(*t, w);
    claim(e.path, path.line, false);
    spec_.files.push_back(std::move(e));
  }
}

void Parser::dirs(const toml::table& root) {
  for (const auto& [t, w] : tables_of(root, "dir")) {
    check_keys(*t, w, {"path", "mode", "owner", "group"});
    DirEntry e;
    e.line = w.line;
    Field path = required(*t, w, "path");
    e.path = image_path(path, w, "path", true);
    e.mode = mode(*t, w, 0755);
    e.owner = ownership(*t, w);
    claim(e.path, path.line, true);
    spec_.dirs.push_back(std::move(e));
  }
}

void Parser::symlinks(const toml::table& root) {
  for (const auto& [t, w] : tables_of(root, "symlink")) {
    check_keys(*t, w, {"path", "target", "owner", "group"});
    SymlinkEntry e;
    e.line = w.line;
    Field path = required(*t, w, "path");
    Field target = required(*t, w, "target");
    e.path = image_path(path, w, "path");
    e.target = as_string(target, w, "target");
    if (e.target.empty()) fail(target.line, "target in [[symlink]] must not be empty");
    e.owner = ownership(*t, w);
    claim(e.path, path.line, false);
    spec_.symlinks.push_back(std::move(e));
  }
}

void Parser::hardlinks(const toml::table& root) {
  for (const auto& [t, w] : tables_of(root, "hardlink")) {
    check_keys(*t, w, {"path", "target"});
    HardlinkEntry e;
    e.line = w.line;
    Field path = required(*t, w, "path");
    Field target = required(*t, w, "target");
    e.path = image_path(path, w, "path");
    e.target = image_path(target, w, "target");
    if (e.target == e.path) fail(target.line, "hard link " + e.path + " cannot point to itself");
    claim(e.path, path.line, false);
    spec_.hardlinks.push_back(std::move(e));
  }
}

void Parser::devices(const toml::table& root) {
  for (const auto& [t, w] : tables_of(root, "device")) {
    check_keys(*t, w, {"path", "type", "major", "minor", "mode", "owner", "group"});
    DeviceEntry e;
    e.line = w.line;
    Field path = required(*t, w, "path");
    Field type = required(*t, w, "type");
    Field major = required(*t, w, "major");
    Field minor = required(*t, w, "minor");
    e.path = image_path(path, w, "path");
    std::string ty = as_string(type, w, "type");
    auto type_value = pick<DeviceType>(ty, {{"char", DeviceType::character}, {"block", DeviceType::block}});
    if (!type_value) fail(type.line, "unknown device type " + q(ty) + ": use \"char\" or \"block\"");
    e.type = *type_value;
    // Linux's dev_t: 12 bits of major, 20 of minor.
    e.major = static_cast<std::uint32_t>(as_integer(major, w, "major", 0, 4095, "an integer from 0 to 4095"));
    e.minor = static_cast<std::uint32_t>(as_integer(minor, w, "minor", 0, 1048575, "an integer from 0 to 1048575"));
    e.mode = mode(*t, w, 0600);
    e.owner = ownership(*t, w);
    claim(e.path, path.line, false);
    spec_.devices.push_back(std::move(e));
  }
}

void Parser::trees(const toml::table& root) {
  for (const auto& [t, w] : tables_of(root, "tree")) {
    check_keys(*t, w, {"source", "path", "exclude", "owner", "group"});
    TreeEntry e;
    e.line = w.line;
    Field src = required(*t, w, "source");
    Field path = required(*t, w, "path");
    e.source = source(src, w, "source", Need::directory);
    e.path = image_path(path, w, "path", true);
    if (Field f = field(*t, "exclude")) e.exclude = string_list(f, w, "exclude");
    e.owner = ownership(*t, w);
    // A tree merges into its directory: it claims no single path.
    spec_.trees.push_back(std::move(e));
  }
}

void Parser::programs(const toml::table& root) {
  for (const auto& [t, w] : tables_of(root, "program")) {
    check_keys(*t, w, {"source", "path", "mode", "owner", "group"});
    ProgramEntry e;
    e.line = w.line;
    Field src = required(*t, w, "source");
    Field path = required(*t, w, "path");
    e.source = source(src, w, "source", Need::file);
    e.path = image_path(path, w, "path");
    e.mode = mode(*t, w, 0755);
    e.owner = ownership(*t, w);
    claim(e.path, path.line, false);
    spec_.programs.push_back(std::move(e));
  }
}

void Parser::modules(const toml::table& root) {
  const toml::table* t = table_of(root, "modules");
  if (t == nullptr) return;
  Where w{"[modules]", line_of(*t)};
  check_keys(*t, w, {"names", "tree", "kernel"});
  ModulesSpec m;
  m.line = w.line;
  Field names = required(*t, w, "names");
  m.names = string_list(names, w, "names");
  for (const auto& n : m.names) {
    if (n.find('/') != std::string::npos) {
      fail(names.line, "module name " + q(n) + " in [modules] is a name like \"virtio_blk\", not a path");
    }
  }
  Field tree = field(*t, "tree");
  Field kernel = field(*t, "kernel");
  if (!tree && !kernel) {
    fail(w.line, "[modules] needs 'kernel' (a kernel version) or 'tree' (a kernel's module tree directory)");
  }
  if (kernel) {
    m.kernel = as_string(kernel, w, "kernel");
    if (m.kernel.empty() || m.kernel.find('/') != std::string::npos || m.kernel == "." || m.kernel == "..") {
      fail(kernel.line, "kernel in [modules] must be a kernel version like \"6.1.0-13-amd64\"");
    }
  }
  if (tree) {
    m.tree = source(tree, w, "tree", Need::directory);
    if (!kernel) m.kernel = m.tree.filename().string();
  } else {
    m.tree = fs::path("/lib/modules") / m.kernel;
    std::error_code ec;
    if (!fs::is_directory(m.tree, ec)) {
      fail(kernel.line,
           "no module tree for kernel " + q(m.kernel) + " (looked for " + m.tree.string() + "); give 'tree'");
    }
  }
  spec_.modules = std::move(m);
}

void Parser::keel(const toml::table& root) {
  const toml::table* t = table_of(root, "keel");
  if (t == nullptr) return;
  Where w{"[keel]", line_of(*t)};
  check_keys(*t, w, {"binary", "path", "init_links", "keelctl_link", "power_links", "config_dir", "config", "services"});
  KeelSpec k;
  k.line = w.line;
  k.binary = source(required(*t, w, "binary"), w, "binary", Need::file);
  Field path = field(*t, "path");
  if (path) k.path = image_path(path, w, "path");
  claim(k.path, path ? path.line : w.line, false);
  if (Field f = field(*t, "init_links")) {
    k.init_links.clear();
    for (const auto& s : string_list(f, w, "init_links"))
      k.init_links.push_back(image_path_value(s, f.line, w, "init_links", false));
  }
  for (const auto& link : k.init_links) {
    if (link != k.path) claim(link, field(*t, "init_links") ? field(*t, "init_links").line : w.line, false);
  }
  if (Field f = field(*t, "keelctl_link")) {
    std::optional<std::string> link = opt_string(*t, w, "keelctl_link");
    k.keelctl_link = link && !link->empty() ? image_path_value(*link, f.line, w, "keelctl_link", false) : "";
  }
  if (!k.keelctl_link.empty() && k.keelctl_link != k.path) {
    claim(k.keelctl_link, field(*t, "keelctl_link") ? field(*t, "keelctl_link").line : w.line, false);
  }
  if (Field f = field(*t, "power_links")) {
    k.power_links.clear();
    for (const auto& s : string_list(f, w, "power_links"))
      k.power_links.push_back(image_path_value(s, f.line, w, "power_links", false));
  }
  for (const auto& link : k.power_links) {
    if (link != k.path) claim(link, field(*t, "power_links") ? field(*t, "power_links").line : w.line, false);
  }
  if (Field f = field(*t, "config_dir")) k.config_dir = image_path(f, w, "config_dir", true);
  const std::string base = k.config_dir == "/" ? "" : k.config_dir;
  // Host files copied under their own names: `config` into config_dir,
  // `services` into config_dir/services (where keel loads them from).
  auto host_files = [&](const char* key, const std::string& dir, std::vector<KeelConfigFile>& out) {
    Field f = field(*t, key);
    if (!f) return;
    const toml::array* a = f.node->as_array();
    const std::string what = std::string("'") + key + "' in [keel] must be a list of host files";
    if (a == nullptr) fail(f.line, what);
    for (const auto& e : *a) {
      int line = line_of(e) > 0 ? line_of(e) : f.line;
      if (!e.is_string()) fail(line, what);
      Field one{&e, line};
      KeelConfigFile c;
      c.line = line;
      c.source = source(one, w, key, Need::file);
      c.path = dir + "/" + c.source.filename().string();
      claim(c.path, line, false);
      out.push_back(std::move(c));
    }
  };
  host_files("config", base, k.config);
  host_files("services", base + "/services", k.services);
  spec_.keel = std::move(k);
}

void Parser::python(const toml::table& root) {
  const toml::table* t = table_of(root, "python");
  if (t == nullptr) return;
  Where w{"[python]", line_of(*t)};
  check_keys(*t, w, {"interpreter", "path", "scripts", "include", "exclude", "optional"});
  PythonSpec p;
  p.line = w.line;
  if (Field f = field(*t, "interpreter")) {
    p.interpreter = source(f, w, "interpreter", Need::file);
  } else if (std::error_code ec; !fs::exists(p.interpreter, ec)) {
    fail(w.line, "[python] has no 'interpreter' and the default " + p.interpreter.string() + " does not exist");
  }
  Field path = field(*t, "path");
  if (path) p.path = image_path(path, w, "path");
  claim(p.path, path ? path.line : w.line, false);
  if (Field f = field(*t, "scripts")) {
    const toml::array* a = f.node->as_array();
    const std::string msg =
        "'scripts' in [python] must be a list of tables like { source = \"app.py\", path = \"/opt/app.py\" }";
    if (a == nullptr) fail(f.line, msg);
    for (const auto& e : *a) {
      if (!e.is_table()) fail(line_of(e) > 0 ? line_of(e) : f.line, msg);
      Where sw{"[python] scripts", line_of(e) > 0 ? line_of(e) : f.line};
      const toml::table& st = *e.as_table();
      check_keys(st, sw, {"source", "path"});
      PythonScript s;
      s.line = sw.line;
      s.source = source(required(st, sw, "source"), sw, "source", Need::file);
      Field sp = required(st, sw, "path");
      s.path = image_path(sp, sw, "path");
      claim(s.path, sp.line, false);
      p.scripts.push_back(std::move(s));
    }
  }
  if (Field f = field(*t, "include")) p.include = string_list(f, w, "include");
  if (Field f = field(*t, "exclude")) p.exclude = string_list(f, w, "exclude");
  if (Field f = field(*t, "optional")) {
    p.optional = string_list(f, w, "optional");
    for (const auto& o : p.optional) {
      if (std::find(std::begin(kPythonOptionalParts), std::end(kPythonOptionalParts), o) !=
          std::end(kPythonOptionalParts)) {
        continue;
      }
      std::string known;
      for (auto k : kPythonOptionalParts) known += (known.empty() ? "" : ", ") + std::string(k);
      fail(f.line, "unknown optional Python part " + q(o) + " in [python]; known: " + known);
    }
  }
  spec_.python = std::move(p);
}

// --- OCI images (issue 14 §2): [oci] -------------------------------------

// A repository name as Docker and the OCI distribution spec take it:
// components of lower-case letters and digits, separated inside by ".",
// "_", "__" or dashes, joined by "/".
bool valid_repository_name(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = name.find('/', start);
    const std::string_view part = name.substr(start, slash == std::string_view::npos ? name.npos : slash - start);
    const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (part.empty() || !alnum(part.front()) || !alnum(part.back())) return false;
    for (std::size_t i = 0; i < part.size(); ++i) {
      const char c = part[i];
      if (alnum(c) || c == '-') continue;
      if (c == '.' && alnum(part[i + 1])) continue;
      if (c == '_' && (alnum(part[i + 1]) || (part[i + 1] == '_' && alnum(part[i + 2])))) {
        if (part[i + 1] == '_') ++i;
        continue;
      }
      return false;
    }
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

bool valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128 || tag.front() == '.' || tag.front() == '-') return false;
  return std::all_of(tag.begin(), tag.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

// The default name: the spec file's stem, lower-cased, anything else than
// [a-z0-9._-] as "-" ("My Image.toml" -> "my-image").
std::string default_repository_name(const fs::path& file) {
  std::string out;
  for (const char c : file.stem().string()) {
    const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out += (std::isalnum(static_cast<unsigned char>(l)) != 0) ? l : '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  while (!out.empty() && out.front() == '-') out.erase(out.begin());
  return valid_repository_name(out) ? out : std::string("keel-image");
}

// What keel does under a name it is started by (src/cinit/options.cpp).
constexpr std::string_view kCompatNames[] = {"tini", "tini-static", "dumb-init"};

void Parser::oci(const toml::table& root) {
  const toml::table* t = table_of(root, "oci");
  const bool oci_format =
      spec_.output.format == OutputFormat::oci || spec_.output.format == OutputFormat::docker_archive;
  if (!oci_format) {
    if (t != nullptr) {
      fail(line_of(*t), "[oci] applies only to [output] format = \"oci\" or \"docker-archive\"");
    }
    return;
  }
  OciSpec o;
  o.name = default_repository_name(spec_.file);
  const toml::table empty;
  const toml::table& table = t != nullptr ? *t : empty;
  Where w{"[oci]", t != nullptr ? line_of(*t) : spec_.output.line};
  o.line = t != nullptr ? w.line : 0;
  check_keys(table, w,
             {"init", "entrypoint", "cmd", "env", "workdir", "ports", "stop_signal", "user", "labels", "name", "tag",
              "compat_links"});
  Field init = field(table, "init");
  Field entrypoint = field(table, "entrypoint");
  Field cmd = field(table, "cmd");
  if (cmd) o.cmd = string_list(cmd, w, "cmd");
  if (init && entrypoint) {
    fail(entrypoint.line, "[oci] takes 'init' (keel as the entrypoint) or 'entrypoint' (your own), not both");
  }
  if (entrypoint) {
    o.init = OciInit::none;
    o.entrypoint = string_list(entrypoint, w, "entrypoint");
  } else if (init) {
    const std::string s = as_string(init, w, "init");
    auto value =
        pick<OciInit>(s, {{"system", OciInit::system}, {"container", OciInit::container}, {"none", OciInit::none}});
    if (!value) fail(init.line, "unknown init " + q(s) + " in [oci]: use \"system\", \"container\" or \"none\"");
    o.init = *value;
  } else {
    o.init = cmd ? OciInit::container : OciInit::system;
  }
  const int init_line = init ? init.line : w.line;
  if (o.init != OciInit::none) {
    const char* which = o.init == OciInit::system ? "system" : "container";
    if (!spec_.keel) {
      fail(init_line, std::string("[oci] init = \"") + which +
                          "\" makes keel the entrypoint, and the spec has no [keel]: add [keel] binary, or give "
                          "[oci] entrypoint (or init = \"none\")");
    }
    if (o.init == OciInit::system) {
      if (cmd) {
        fail(cmd.line,
             "cmd in [oci] is the program of init = \"container\"; init = \"system\" runs the image's services "
             "(CONFIG_DIR/services, CONFIG_DIR/main) and takes no program");
      }
      o.entrypoint = {spec_.keel->path, "--role=system"};
    } else {
      o.entrypoint = {spec_.keel->path, "--"};
    }
  }
  if (Field f = field(table, "env")) {
    const toml::table* env = f.node->as_table();
    if (env == nullptr) fail(f.line, "env in [oci] must be a table like { LANG = \"C.UTF-8\" }");
    for (auto&& [k, v] : *env) {
      const int line = k.source().begin.line > 0 ? static_cast<int>(k.source().begin.line) : f.line;
      if (k.str().empty() || k.str().find('=') != std::string_view::npos) {
        fail(line, "env name " + q(k.str()) + " in [oci] must be non-empty and without '='");
      }
      if (!v.is_string()) fail(line, "env " + q(k.str()) + " in [oci] must be a string");
      o.env.emplace_back(std::string(k.str()), v.as_string()->get());
    }
  }
  // A config without PATH leaves the lookup of a bare program name to each
  // runtime; Docker's own images carry this one.
  if (std::none_of(o.env.begin(), o.env.end(), [](const auto& e) { return e.first == "PATH"; })) {
    o.env.emplace_back("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  }
  std::sort(o.env.begin(), o.env.end());
  if (Field f = field(table, "workdir")) o.workdir = image_path(f, w, "workdir", true);
  if (Field f = field(table, "ports")) {
    const toml::array* a = f.node->as_array();
    const std::string msg = "ports in [oci] must be a list of ports like 8080 or \"53/udp\" (tcp, udp or sctp)";
    if (a == nullptr) fail(f.line, msg);
    std::set<std::string> ports;
    for (const auto& e : *a) {
      std::int64_t number = 0;
      std::string proto = "tcp";
      if (e.is_integer()) {
        number = e.as_integer()->get();
      } else if (e.is_string()) {
        const std::string& s = e.as_string()->get();
        const auto slash = s.find('/');
        const std::string digits = s.substr(0, slash);
        if (slash != std::string::npos) proto = s.substr(slash + 1);
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
        if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty()) number = 0;
      } else {
        fail(f.line, msg);
      }
      if (number < 1 || number > 65535 || (proto != "tcp" && proto != "udp" && proto != "sctp")) fail(f.line, msg);
      ports.insert(std::to_string(number) + "/" + proto);
    }
    o.ports.assign(ports.begin(), ports.end());
  }
  if (Field f = field(table, "stop_signal")) {
    std::optional<int> signo;
    if (f.node->is_integer()) {
      const std::int64_t n = f.node->as_integer()->get();
      if (n >= 1 && n <= 31) signo = static_cast<int>(n);
    } else if (f.node->is_string()) {
      signo = signals::parse(f.node->as_string()->get());
    }
    if (!signo) fail(f.line, "stop_signal in [oci] must be a signal name like \"SIGTERM\" or a number from 1 to 31");
    o.stop_signal = signals::name(*signo);
  }
  if (Field f = field(table, "user")) {
    // Names resolve against [[user]]/[[group]] now, so the runtime never
    // has to read the image's /etc/passwd; numbers stay as written.
    std::string s;
    if (f.node->is_integer()) {
      s = std::to_string(id_value(f, w, "user"));
    } else {
      s = as_string(f, w, "user");
    }
    const auto colon = s.find(':');
    const std::string who = s.substr(0, colon);
    const std::string msg =
        "user in [oci] must be \"NAME\", \"UID\", \"NAME:GROUP\" or \"UID:GID\" (names declared "
        "with [[user]] / [[group]])";
    std::string uid, gid;
    if (auto n = numeric_id(who)) {
      uid = std::to_string(*n);
    } else if (auto it = user_ids_.find(who); it != user_ids_.end()) {
      uid = std::to_string(it->second);
      for (const User& u : spec_.users) {
        if (u.name == who) gid = std::to_string(u.gid);
      }
    } else {
      fail(f.line, "unknown user " + q(who) + " in [oci]; " + msg);
    }
    if (colon != std::string::npos) {
      const std::string group = s.substr(colon + 1);
      if (auto n = numeric_id(group)) {
        gid = std::to_string(*n);
      } else if (auto it = group_ids_.find(group); it != group_ids_.end()) {
        gid = std::to_string(it->second);
      } else {
        fail(f.line, "unknown group " + q(group) + " in [oci]; " + msg);
      }
    }
    o.user = gid.empty() ? uid : uid + ":" + gid;
  }
  if (Field f = field(table, "labels")) {
    const toml::table* labels = f.node->as_table();
    if (labels == nullptr) fail(f.line, "labels in [oci] must be a table of strings");
    for (auto&& [k, v] : *labels) {
      const int line = k.source().begin.line > 0 ? static_cast<int>(k.source().begin.line) : f.line;
      if (k.str().empty()) fail(line, "a label name in [oci] must not be empty");
      if (!v.is_string()) fail(line, "label " + q(k.str()) + " in [oci] must be a string");
      o.labels.emplace_back(std::string(k.str()), v.as_string()->get());
    }
    std::sort(o.labels.begin(), o.labels.end());
  }
  if (Field f = field(table, "name")) {
    o.name = as_string(f, w, "name");
    if (!valid_repository_name(o.name)) {
      fail(f.line, "name " + q(o.name) +
                       " in [oci] must be a repository name like \"keel-demo\" or \"example.org/team/app\" "
                       "(lower-case letters, digits, '.', '_', '-', components joined by '/'; the tag is 'tag')");
    }
  }
  if (Field f = field(table, "tag")) {
    o.tag = as_string(f, w, "tag");
    if (!valid_tag(o.tag)) {
      fail(f.line, "tag " + q(o.tag) +
                       " in [oci] must be letters, digits, '_', '.' or '-' (at most 128, not "
                       "starting with '.' or '-')");
    }
  }
  if (Field f = field(table, "compat_links")) {
    if (!spec_.keel) fail(f.line, "compat_links in [oci] are names of keel: the spec needs [keel]");
    for (const auto& s : string_list(f, w, "compat_links")) {
      std::string path = image_path_value(s, f.line, w, "compat_links", false);
      const std::string base = path.substr(path.rfind('/') + 1);
      if (std::find(std::begin(kCompatNames), std::end(kCompatNames), base) == std::end(kCompatNames)) {
        fail(f.line, "compat_links in [oci]: " + q(path) +
                         " is not named tini, tini-static or dumb-init (keel takes those personalities by name)");
      }
      if (path != spec_.keel->path) claim(path, f.line, false);
      o.compat_links.push_back(std::move(path));
    }
  }
  spec_.oci = std::move(o);
}

// [output] label and initramfs (diskimg, issue 14): the root filesystem's
// label and where the stage initramfs goes (docs/image-spec.md "Disk roots").
void Parser::output_disk_keys(const toml::table& t, const Where& w) {
  Output& o = spec_.output;
  const bool disk_root =
      o.format == OutputFormat::ext4 || o.format == OutputFormat::erofs || o.format == OutputFormat::disk;
  if (Field f = field(t, "label")) {
    if (!disk_root) fail(f.line, "label applies only to format = \"ext4\", \"erofs\" or \"disk\"");
    o.label = as_string(f, w, "label");
    // ext4 keeps 16 bytes, erofs 16: a longer label would be cut, and root=LABEL= would not find it.
    if (o.label.empty() || o.label.size() > 16 || o.label.find_first_of(" \t\n,:=\"") != std::string::npos) {
      fail(f.line, "label in [output] must be 1 to 16 characters without spaces, ',', ':', '=' or '\"'");
    }
  }
  if (Field f = field(t, "initramfs")) {
    if (!disk_root) fail(f.line, "initramfs applies only to format = \"ext4\", \"erofs\" or \"disk\"");
    o.initramfs_line = f.line;
    if (f.node->is_boolean()) {
      if (f.node->as_boolean()->get()) {
        fail(f.line, "initramfs in [output] must be a path, or false for none (the default path is PATH.initramfs)");
      }
      o.initramfs_off = true;
    } else {
      const std::string s = as_string(f, w, "initramfs");
      if (s.empty()) fail(f.line, "'initramfs' in [output] must not be empty");
      o.initramfs = resolve(s);
    }
  }
}

// [disk] (diskimg, issue 14): the partitions of format = "disk" and the
// mounts the stage makes in the new root.
void Parser::disk(const toml::table& root) {
  const toml::table* t = table_of(root, "disk");
  if (t == nullptr) return;
  Where w{"[disk]", line_of(*t)};
  check_keys(*t, w, {"root", "root_size", "data_size", "data_mount", "tmpfs"});
  const OutputFormat format = spec_.output.format;
  if (format != OutputFormat::ext4 && format != OutputFormat::erofs && format != OutputFormat::disk) {
    fail(w.line, "[disk] applies only to format = \"ext4\", \"erofs\" or \"disk\" in [output]");
  }
  DiskSpec d;
  d.line = w.line;
  d.root = format == OutputFormat::erofs ? OutputFormat::erofs : OutputFormat::ext4;
  auto disk_only = [&](const Field& f, std::string_view key) {
    if (format != OutputFormat::disk) fail(f.line, std::string(key) + " in [disk] applies only to format = \"disk\"");
  };
  auto size_of = [&](const Field& f, std::string_view key) {
    const std::string msg = std::string(key) + " in [disk] must be a number of bytes or a string like \"64M\" (K, M, G)";
    std::optional<std::uint64_t> size;
    if (f.node->is_integer() && f.node->as_integer()->get() > 0) {
      size = static_cast<std::uint64_t>(f.node->as_integer()->get());
    } else if (f.node->is_string()) {
      size = parse_size(f.node->as_string()->get());
    }
    if (!size || *size == 0) fail(f.line, msg);
    if (*size < (std::uint64_t{2} << 20)) fail(f.line, std::string(key) + " in [disk] must be at least 2M");
    return *size;
  };
  if (Field f = field(*t, "root")) {
    disk_only(f, "root");
    const std::string s = as_string(f, w, "root");
    auto fs_type = pick<OutputFormat>(s, {{"ext4", OutputFormat::ext4}, {"erofs", OutputFormat::erofs}});
    if (!fs_type) fail(f.line, "root in [disk] must be \"ext4\" or \"erofs\", not " + q(s));
    d.root = *fs_type;
  }
  if (Field f = field(*t, "root_size")) {
    disk_only(f, "root_size");
    d.root_size = size_of(f, "root_size");
  }
  if (d.root_size != 0 && d.root == OutputFormat::erofs) {
    fail(field(*t, "root_size").line, "root_size in [disk] applies only to root = \"ext4\" (erofs is as big as its content)");
  }
  if (Field f = field(*t, "data_size")) {
    disk_only(f, "data_size");
    d.data_size = size_of(f, "data_size");
  }
  if (Field f = field(*t, "data_mount")) {
    disk_only(f, "data_mount");
    d.data_mount = image_path(f, w, "data_mount");
    if (d.data_mount.find_first_of(" ,:") != std::string::npos) {
      fail(f.line, "data_mount in [disk] must not contain spaces, ',' or ':' (it goes on the kernel command line)");
    }
  }
  if (Field f = field(*t, "tmpfs")) {
    for (const std::string& raw : string_list(f, w, "tmpfs")) {
      const std::string p = image_path_value(raw, f.line, w, "tmpfs", false);
      if (p.find_first_of(" ,:") != std::string::npos) {
        fail(f.line, "tmpfs paths in [disk] must not contain spaces, ',' or ':' (they go on the kernel command line)");
      }
      if (std::find(d.tmpfs.begin(), d.tmpfs.end(), p) != d.tmpfs.end()) fail(f.line, p + " is in tmpfs twice");
      d.tmpfs.push_back(p);
    }
  }
  spec_.disk = std::move(d);
}

}  // namespace

Spec parse_spec(std::string_view text, const fs::path& file) {
  Spec spec;
  spec.file = file;
  std::error_code ec;
  fs::path abs = fs::absolute(file, ec);
  if (ec) abs = file;
  spec.dir = abs.lexically_normal().parent_path();
  // Size, nesting and toml++'s non-ASCII bug: refused before toml++ sees
  // the text, as keel does with service files (service/toml_guard.hpp).
  if (service::TextProblem problem = service::check_toml_text(text)) {
    throw ImageError(file.string(), problem.line, service::describe(problem));
  }
  toml::table root;
  try {
    root = toml::parse(text, std::string_view(file.string()));
  } catch (const toml::parse_error& e) {
    const auto& pos = e.source().begin;
    throw ImageError(file.string(), static_cast<int>(pos.line),
                     "TOML syntax error at column " + std::to_string(pos.column) + ": " + std::string(e.description()));
  }
  Parser(file, spec).run(root);
  return spec;
}

Spec parse_spec_file(const fs::path& file) {
  // Not read whole when it is too large to be a spec anyway (the limit
  // parse_spec applies to the text).
  std::error_code size_error;
  const std::uintmax_t size = fs::file_size(file, size_error);
  if (!size_error && size > limits::kTomlMaxBytes) {
    throw ImageError(file.string(), 0, "larger than " + std::to_string(limits::kTomlMaxBytes) + " bytes");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ImageError(file.string(), 0, std::string("cannot read the spec: ") + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ImageError(file.string(), 0, "cannot read the spec");
  return parse_spec(text.str(), file);
}

}  // namespace keel::image
