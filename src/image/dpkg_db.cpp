// dpkg_db.cpp — dpkg's status and file lists, and DEP-5 copyright files; see
// dpkg_db.hpp.
#include "image/dpkg_db.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <system_error>

namespace keel::image {

namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return {};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

// A deb822 file (dpkg's status, a DEP-5 copyright file) as paragraphs of
// fields; a continuation line (leading space or tab) is appended to its
// field after a newline. Field names are compared case-insensitively by
// the callers through lower-casing here.
using Paragraph = std::vector<std::pair<std::string, std::string>>;

std::vector<Paragraph> deb822(const std::string& text) {
  std::vector<Paragraph> out;
  Paragraph current;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) {
      if (!current.empty()) out.push_back(std::move(current));
      current.clear();
      continue;
    }
    if (line.front() == '#') continue;
    if (line.front() == ' ' || line.front() == '\t') {
      if (!current.empty()) current.back().second += "\n" + trim(line);
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    current.emplace_back(std::move(name), trim(line.substr(colon + 1)));
  }
  if (!current.empty()) out.push_back(std::move(current));
  return out;
}

const std::string* field(const Paragraph& p, const std::string& name) {
  for (const auto& [k, v] : p) {
    if (k == name) return &v;
  }
  return nullptr;
}

// "/usr/lib" and friends: the directories a merged /usr links to.
constexpr const char* kMerged[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "libo32"};

}  // namespace

std::optional<std::string> usr_merge_alias(const std::string& path) {
  for (const char* dir : kMerged) {
    const std::string top = std::string("/") + dir + "/";
    const std::string usr = "/usr" + top;
    if (path.starts_with(usr)) return path.substr(4);
    if (path.starts_with(top)) return "/usr" + path;
  }
  return std::nullopt;
}

std::vector<std::string> dep5_licenses(const std::string& text) {
  const std::vector<Paragraph> paragraphs = deb822(text);
  std::vector<std::string> out;
  if (paragraphs.empty()) return out;
  const std::string* format = field(paragraphs.front(), "format");
  if (format == nullptr || format->find("copyright-format") == std::string::npos) return out;
  for (std::size_t i = 0; i < paragraphs.size(); ++i) {
    const Paragraph& p = paragraphs[i];
    // The header's License (a summary) and each Files paragraph's; a
    // stand-alone License paragraph only gives the text of a name used.
    if (i != 0 && field(p, "files") == nullptr) continue;
    const std::string* license = field(p, "license");
    if (license == nullptr) continue;
    std::string name = trim(license->substr(0, license->find('\n')));
    if (name.empty()) continue;
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(std::move(name));
  }
  return out;
}

DpkgDb::DpkgDb(DpkgPaths paths) : paths_(std::move(paths)) {}

void DpkgDb::load() {
  if (loaded_) return;
  loaded_ = true;
  for (const Paragraph& p : deb822(read_text(paths_.admindir / "status"))) {
    const std::string* name = field(p, "package");
    const std::string* status = field(p, "status");
    const std::string* version = field(p, "version");
    // "install ok installed": unpacked-only or removed packages (config
    // files left) are not where an installed file comes from.
    if (name == nullptr || status == nullptr || version == nullptr || !status->ends_with(" installed")) continue;
    auto pkg = std::make_unique<DebianPackage>();
    pkg->name = *name;
    pkg->version = *version;
    if (const std::string* arch = field(p, "architecture")) pkg->architecture = *arch;
    if (const std::string* maintainer = field(p, "maintainer")) pkg->maintainer = *maintainer;
    if (const std::string* source = field(p, "source")) {
      // "Source: glibc" or "Source: glibc (2.36-9)" when the versions differ.
      pkg->source = source->find('(') != std::string::npos ? *source : *source + " (" + *version + ")";
    }
    // Multi-Arch: same packages keep NAME:ARCH.list, the others NAME.list.
    std::string list = read_text(paths_.admindir / "info" / (pkg->name + ":" + pkg->architecture + ".list"));
    if (list.empty()) list = read_text(paths_.admindir / "info" / (pkg->name + ".list"));
    std::istringstream in(list);
    std::string path;
    while (std::getline(in, path)) {
      if (path.empty() || path == "/.") continue;
      owners_.emplace(path, pkg.get());  // the first package listing a path keeps it (dpkg refuses two)
    }
    packages_.push_back(std::move(pkg));
  }
}

const DebianPackage* DpkgDb::lookup(const std::string& path) const {
  if (auto it = owners_.find(path); it != owners_.end()) return it->second;
  if (auto alias = usr_merge_alias(path)) {
    if (auto it = owners_.find(*alias); it != owners_.end()) return it->second;
  }
  return nullptr;
}

const DebianPackage* DpkgDb::owner(const fs::path& host_file) {
  load();
  std::error_code ec;
  const fs::path real = fs::canonical(host_file, ec);
  if (!ec) {
    if (const DebianPackage* p = lookup(real.string())) return p;
  }
  const fs::path absolute = fs::absolute(host_file, ec).lexically_normal();
  if (!ec) return lookup(absolute.string());
  return nullptr;
}

const std::vector<std::string>& DpkgDb::licenses(const DebianPackage& package) {
  auto it = licenses_.find(&package);
  if (it == licenses_.end()) {
    it = licenses_.emplace(&package, dep5_licenses(read_text(paths_.docdir / package.name / "copyright"))).first;
  }
  return it->second;
}

const DebianPackage* DpkgDb::find(const std::string& name) {
  load();
  for (const auto& p : packages_) {
    if (p->name == name) return p.get();
  }
  return nullptr;
}

}  // namespace keel::image
