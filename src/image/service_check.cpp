// service_check.cpp — see service_check.hpp.
//
// userdb reads users and groups from files, so the image's passwd and group
// (inline text in the plan, or a host file) are written to a scratch
// directory for the time of the check; an image without them gets paths
// that do not exist, which is what keel will see at boot (numeric ids only).
#include "image/service_check.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

#include "image/builder.hpp"
#include "image/diagnostic.hpp"
#include "service/config.hpp"
#include "service/service_set.hpp"

namespace keel::image {

namespace fs = std::filesystem;

namespace {

std::string bytes_of(const ImageEntry& e) {
  if (e.content) return *e.content;
  std::ifstream in(e.source, std::ios::binary);
  if (!in) throw ImageError(e.source.string(), 0, "cannot read " + e.path + " of the image");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A scratch directory removed with what is in it.
class ScratchDir {
 public:
  ScratchDir() {
    std::error_code ec;
    fs::path base = fs::temp_directory_path(ec);
    if (ec) base = "/tmp";
    std::string pattern = (base / "keel-image-users-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw ImageError("cannot create a scratch directory in " + base.string() + " to check service files");
    }
    path_ = pattern;
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

const ImageEntry* find(const ImagePlan& plan, std::string_view path) {
  for (const ImageEntry& e : plan.entries) {
    if (e.path == path) return &e;
  }
  return nullptr;
}

// The image's copy of /etc/passwd or /etc/group, or a path that does not exist.
std::string stage(const ImagePlan& plan, std::string_view image_path, const fs::path& dir, const char* name) {
  const fs::path out = dir / name;
  const ImageEntry* e = find(plan, image_path);
  if (e == nullptr || e->kind != EntryKind::File) return out.string();
  std::ofstream f(out, std::ios::binary);
  f << bytes_of(*e);
  if (!f) throw ImageError("cannot write " + out.string() + " to check service files");
  return out.string();
}

}  // namespace

void check_service_files(const ImagePlan& plan, const fs::path& spec_file, const std::string& services_dir) {
  const std::string kServiceDir = services_dir + "/";
  std::vector<const ImageEntry*> services;
  for (const ImageEntry& e : plan.entries) {
    if (e.kind != EntryKind::File || !e.path.starts_with(kServiceDir)) continue;
    const std::string_view name = std::string_view(e.path).substr(kServiceDir.size());
    // What load_service_dir reads: direct children named *.toml, not
    // dotfiles or editor backups.
    if (name.find('/') != std::string_view::npos || !name.ends_with(".toml") || name.front() == '.') continue;
    services.push_back(&e);
  }
  if (services.empty()) return;

  ScratchDir scratch;
  service::UserDbPaths users;
  users.passwd = stage(plan, "/etc/passwd", scratch.path(), "passwd");
  users.group = stage(plan, "/etc/group", scratch.path(), "group");

  std::vector<service::ServiceConfig> loaded;
  for (const ImageEntry* e : services) {  // plan entries are sorted by path
    const std::string_view name = std::string_view(e->path).substr(kServiceDir.size());
    const std::string_view stem = name.substr(0, name.size() - 5);
    if (!service::valid_service_name(stem)) {
      throw ImageError(spec_file.string(), e->line,
                       "service file " + e->path + ": '" + std::string(stem) +
                           "' is not a valid service name (letters, digits, _ . @ -; at most 64)");
    }
    service::ParseResult r = service::parse_service(bytes_of(*e), stem, e->path, users);
    if (r.errors.empty()) {
      loaded.push_back(std::move(*r.config));
      continue;
    }
    std::string message = "service file " + e->path;
    for (std::size_t i = 0; i < r.errors.size(); ++i) {
      const service::ConfigError& err = r.errors[i];
      std::string one;
      if (err.line > 0) one += "line " + std::to_string(err.line) + ": ";
      if (!err.key.empty()) one += err.key + ": ";
      one += err.message;
      message += (r.errors.size() == 1 ? ": " : (i == 0 ? ":\n  " : "\n  ")) + one;
    }
    throw ImageError(spec_file.string(), e->line, message);
  }
  // The files together: a requirement that is not in the image, or a
  // cycle, is what keel would report at boot; the build reports it now.
  // (A missing `wants`/`after`/`before` is harmless and passes.)
  // keel's built-in services (rng-ready) exist in every image.
  const service::SetCheck set = service::check_service_set(std::move(loaded));
  for (std::size_t i = 0; i < set.graph.nodes.size(); ++i) {
    if (!set.graph.nodes[i].broken) continue;
    int line = 0;
    for (const ImageEntry* e : services) {
      if (e->path == set.services[i].file) line = e->line;
    }
    std::string message = "service file " + set.services[i].file + ": " + set.graph.nodes[i].broken_reason;
    for (const service::SetProblem& p : set.problems) {
      if (p.fatal) message += "\n  " + p.error.text();
    }
    throw ImageError(spec_file.string(), line, message);
  }
}

}  // namespace keel::image
