// sbom.cpp — the SPDX 2.3 document of an image; see sbom.hpp.
//
// JSON is written here by hand, in a fixed order, with keel's own escaper
// (core/json_text.hpp, the one PID 1 uses for its event record: quotes,
// backslashes and every control character escaped, ill-formed UTF-8 as
// U+FFFD, so a hostile file name still gives valid JSON). A JSON library
// (nlohmann-json3-dev) would be one more build dependency for a document
// of one fixed shape, and its maps sort keys or need an ordered variant;
// the order here is SPDX's own (document, packages, files, relationships).
#include "image/sbom.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>
#include <set>
#include <system_error>
#include <tuple>
#include <vector>

#include "core/json_text.hpp"
#include "core/version.hpp"
#include "image/builder.hpp"
#include "image/cpio.hpp"
#include "image/diagnostic.hpp"
#include "image/digest.hpp"
#include "image/spec.hpp"

namespace keel::image {

namespace fs = std::filesystem;

namespace {

std::string quote(std::string_view s) {
  // Worst case: every byte becomes a six-byte \u escape.
  std::string buf(s.size() * 6 + 1, '\0');
  const std::size_t n = keel::json_escape(s, buf.data(), buf.size());
  buf.resize(n == static_cast<std::size_t>(-1) ? 0 : n);
  return "\"" + buf + "\"";
}

// A tiny pretty-printer: objects and arrays opened and closed in order,
// commas and indentation kept here so the code below reads as the document.
class Json {
 public:
  void open_object(std::string_view key = {}) { open(key, '{'); }
  void open_array(std::string_view key = {}) { open(key, '['); }
  void close_object() { close('}'); }
  void close_array() { close(']'); }
  void string(std::string_view key, std::string_view value) {
    item(key);
    out_ += quote(value);
  }
  void boolean(std::string_view key, bool value) {
    item(key);
    out_ += value ? "true" : "false";
  }
  void strings(std::string_view key, const std::vector<std::string>& values) {
    open_array(key);
    for (const std::string& v : values) string({}, v);
    close_array();
  }
  std::string take() { return std::move(out_) + "\n"; }

 private:
  void newline() {
    out_ += '\n';
    out_.append(2 * first_.size(), ' ');
  }
  void item(std::string_view key) {
    if (!first_.empty()) {
      if (!first_.back()) out_ += ',';
      first_.back() = false;
      newline();
    }
    if (!key.empty()) out_ += quote(key) + ": ";
  }
  void open(std::string_view key, char c) {
    item(key);
    out_ += c;
    first_.push_back(true);
  }
  void close(char c) {
    const bool empty = first_.back();
    first_.pop_back();
    if (!empty) newline();
    out_ += c;
  }
  std::string out_;
  std::vector<bool> first_;
};

// SPDXIDs are "SPDXRef-" and letters, digits, '.' and '-'.
std::string id_safe(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '.' || c == '-') {
      out += static_cast<char>(c);
    } else {
      out += 'x';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

// purl components are percent-encoded outside the unreserved characters
// ("1:2.3+dfsg" -> "1%3A2.3%2Bdfsg").
std::string percent_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string utc(std::uint32_t seconds) {
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(text, n);
}

// A name-based UUID (RFC 9562 layout, version 8: custom) from a SHA-256.
std::string derived_uuid(const std::string& sha256_hex) {
  std::string h = sha256_hex.substr(0, 32);
  h[12] = '8';
  static constexpr char kVariant[] = "89ab";
  h[16] = kVariant[std::stoi(h.substr(16, 1), nullptr, 16) & 3];
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Debian short names (DEP-5 §7 and common use) whose SPDX identifier is
// not the same name.
const std::map<std::string, std::string>& renamed_licenses() {
  static const std::map<std::string, std::string> names = {
      {"expat", "MIT"},           {"artistic", "Artistic-1.0-Perl"}, {"psf-2", "PSF-2.0"},
      {"python", "Python-2.0"},   {"bsd-2-clause", "BSD-2-Clause"},  {"bsd-3-clause", "BSD-3-Clause"},
      {"bsd-4-clause", "BSD-4-Clause"}, {"zlib", "Zlib"},            {"openssl", "OpenSSL"},
      {"ssleay", "SSLeay-standalone"}, {"libpng", "Libpng"},         {"public-domain", ""},
      {"bsd-4-clause-uc", "BSD-4-Clause-UC"}, {"gfdl-niv-1.3", "GFDL-1.3-no-invariants-only"},
      {"gfdl-niv-1.2", "GFDL-1.2-no-invariants-only"}, {"fsfullr", "FSFULLR"}, {"fsful", "FSFUL"},
  };
  return names;
}

// SPDX identifiers keel-image accepts as written (case-insensitively).
const std::set<std::string>& known_spdx() {
  static const std::set<std::string> ids = {
      "0BSD",         "Apache-1.0",  "Apache-1.1", "Apache-2.0", "Artistic-1.0",  "Artistic-2.0",  "BSL-1.0",
      "bzip2-1.0.6",  "CC-BY-3.0",   "CC-BY-4.0",  "CC-BY-SA-3.0", "CC-BY-SA-4.0", "CC0-1.0",      "CDDL-1.0",
      "curl",         "EPL-1.0",     "EPL-2.0",    "FTL",        "ICU", "IJG",
      "ISC",          "MIT",         "MIT-0",      "MPL-1.0",    "MPL-1.1",       "MPL-2.0",       "OFL-1.1",
      "OpenSSL",      "PSF-2.0",     "Python-2.0", "Sleepycat",  "TCL",           "Unicode-DFS-2016", "Unlicense",
      "WTFPL",        "X11",         "Zlib",       "BSD-2-Clause", "BSD-3-Clause", "BSD-4-Clause", "Libpng",
      "LPPL-1.3c",    "Beerware",    "HPND",       "NTP",        "Ruby",          "Vim",           "W3C"};
  return ids;
}

// "GPL-2+" -> "GPL-2.0-or-later", "LGPL-2.1" -> "LGPL-2.1-only"; else "".
std::string gnu_license(const std::string& name) {
  const std::string l = lower(name);
  for (const char* family : {"agpl", "lgpl", "gpl", "gfdl"}) {
    const std::string prefix = std::string(family) + "-";
    if (!l.starts_with(prefix)) continue;
    std::string version = l.substr(prefix.size());
    bool later = false;
    if (version.ends_with("+")) {
      later = true;
      version.pop_back();
    } else if (version.ends_with("-or-later")) {
      later = true;
      version.resize(version.size() - 9);
    } else if (version.ends_with("-only")) {
      version.resize(version.size() - 5);
    }
    if (version.find('.') == std::string::npos) version += ".0";
    static const std::set<std::string> versions = {"1.0", "2.0", "2.1", "3.0", "1.1", "1.2", "1.3"};
    if (!versions.contains(version)) return {};
    std::string id = family;
    std::transform(id.begin(), id.end(), id.begin(), [](unsigned char c) { return std::toupper(c); });
    id += "-";
    id += version;
    id += later ? "-or-later" : "-only";
    return id;
  }
  return {};
}

std::string license_id(const std::string& name) {
  if (std::string gnu = gnu_license(name); !gnu.empty()) return gnu;
  const std::string l = lower(name);
  if (auto it = renamed_licenses().find(l); it != renamed_licenses().end()) return it->second;
  for (const std::string& id : known_spdx()) {
    if (lower(id) == l) return id;
  }
  return {};
}

struct FileRecord {
  std::string path;  // image path
  std::string id;
  FileDigests digests;
  const DebianPackage* package = nullptr;  // the Debian package it is from
  const DebianPackage* generated_from = nullptr;
  bool keel = false;
  std::string comment;
};

}  // namespace

std::string debian_license_to_spdx(const std::string& field) {
  if (field.find(',') != std::string::npos) return {};
  std::string out;
  std::size_t i = 0;
  bool expect_name = true;
  while (i < field.size()) {
    while (i < field.size() && std::isspace(static_cast<unsigned char>(field[i]))) ++i;
    std::size_t j = i;
    while (j < field.size() && !std::isspace(static_cast<unsigned char>(field[j]))) ++j;
    if (i == j) break;
    const std::string word = field.substr(i, j - i);
    i = j;
    if (expect_name) {
      const std::string id = license_id(word);
      if (id.empty()) return {};
      out += id;
    } else {
      const std::string op = lower(word);
      if (op != "or" && op != "and") return {};  // "with": exceptions are not mapped
      out += op == "or" ? " OR " : " AND ";
    }
    expect_name = !expect_name;
  }
  if (expect_name) return {};  // empty, or ends with an operator
  return out;
}

std::string sbom_json(const Spec& spec, const ImagePlan& plan, const SbomOptions& options, SbomSummary* summary) {
  DpkgDb dpkg(options.dpkg);
  std::map<std::string, const ImageEntry*> by_path;
  for (const ImageEntry& e : plan.entries) by_path[e.path] = &e;
  std::size_t symlinks = 0, directories = 0, nodes = 0;

  std::vector<FileRecord> files;
  std::map<fs::path, FileDigests> host_digests;  // a host file hashed once
  std::set<const DebianPackage*> used;
  std::size_t unowned = 0;
  const std::string spec_name = spec.file.string();
  for (const ImageEntry& named : plan.entries) {
    if (named.kind == EntryKind::Symlink) ++symlinks;
    if (named.kind == EntryKind::Directory) ++directories;
    if (named.kind != EntryKind::File && named.kind != EntryKind::Hardlink && named.kind != EntryKind::Symlink &&
        named.kind != EntryKind::Directory) {
      ++nodes;
    }
    if (named.kind != EntryKind::File && named.kind != EntryKind::Hardlink) continue;
    // A hard link's bytes and origin are those of the file it names.
    const ImageEntry& e = named.kind == EntryKind::Hardlink ? *by_path.at(named.target) : named;
    FileRecord r;
    r.path = named.path;
    std::string asked = e.origin.empty() ? std::string("the default layout") : e.origin;
    asked += " at " + spec_name + (e.line > 0 ? ":" + std::to_string(e.line) : std::string());
    if (e.content) {
      r.digests = digest_bytes(*e.content);
      // A .pyc keel-image compiled sits where its .py is on the host.
      if (e.origin.starts_with("[python] ") && e.path.ends_with(".pyc")) {
        const fs::path py = e.path.substr(0, e.path.size() - 1);
        r.generated_from = dpkg.owner(py);
        r.comment = "compiled by keel-image from the host's " + py.string();
        if (r.generated_from != nullptr) used.insert(r.generated_from);
      } else {
        r.comment = "written by keel-image";
      }
      r.comment += "; asked for by " + asked;
    } else {
      auto it = host_digests.find(e.source);
      if (it == host_digests.end()) it = host_digests.emplace(e.source, digest_file(e.source)).first;
      r.digests = it->second;
      if (e.origin == "[keel] binary") {
        r.keel = true;
        r.comment = "keel, built from source (keel " + std::string(keel::kVersion) + "), copied from " +
                    e.source.string() + "; asked for by " + asked;
      } else {
        r.package = dpkg.owner(e.source);
        if (r.package != nullptr) {
          used.insert(r.package);
          r.comment = "from the Debian package " + r.package->name + " " + r.package->version + " (host file " +
                      e.source.string() + "); asked for by " + asked;
        } else {
          ++unowned;
          r.comment = "copied from the host file " + e.source.string() +
                      ", which no installed Debian package owns; asked for by " + asked;
        }
      }
    }
    if (named.kind == EntryKind::Hardlink) r.comment = "a hard link to " + named.target + "; " + r.comment;
    files.push_back(std::move(r));
  }

  // File IDs from the path, so one file keeps its ID when others change.
  std::set<std::string> ids;
  for (FileRecord& r : files) {
    const std::string stem = "SPDXRef-File-" + sha256_hex(r.path).substr(0, 16);
    std::string id = stem;
    for (int n = 2; ids.contains(id); ++n) id = stem + "-" + std::to_string(n);
    ids.insert(id);
    r.id = id;
  }
  auto package_id = [](const DebianPackage& p) {
    return "SPDXRef-Package-deb-" + id_safe(p.name) + "-" + id_safe(p.architecture);
  };
  std::vector<const DebianPackage*> packages(used.begin(), used.end());
  std::sort(packages.begin(), packages.end(), [](const DebianPackage* a, const DebianPackage* b) {
    return std::tie(a->name, a->architecture) < std::tie(b->name, b->architecture);
  });
  const bool has_keel = std::any_of(files.begin(), files.end(), [](const FileRecord& r) { return r.keel; });

  // The namespace's UUID: everything the document says, hashed.
  Sha256 identity;
  identity.update(options.image_name + "\n" + std::to_string(options.created) + "\n");
  for (const FileRecord& r : files) identity.update(r.path + "\t" + r.digests.sha256 + "\t" + r.comment + "\n");
  for (const DebianPackage* p : packages) identity.update(p->name + "\t" + p->version + "\n");
  const std::string uuid = derived_uuid(identity.hex());

  Json j;
  j.open_object();
  j.string("spdxVersion", "SPDX-2.3");
  j.string("dataLicense", "CC0-1.0");
  j.string("SPDXID", "SPDXRef-DOCUMENT");
  j.string("name", options.image_name);
  j.string("documentNamespace", "https://keel-image.invalid/spdx/" + percent_encode(options.image_name) + "-" + uuid);
  j.open_object("creationInfo");
  j.strings("creators", {"Tool: keel-image-" + std::string(keel::kVersion)});
  j.string("created", utc(options.created));
  j.close_object();
  j.string("comment", "The image built from " + spec_name + ": " + std::to_string(files.size()) +
                          " regular files (each an SPDX file below; hard links included); " +
                          std::to_string(symlinks) + " symlinks, " + std::to_string(directories) +
                          " directories and " + std::to_string(nodes) +
                          " device nodes and fifos are in the image but carry no bytes and are not listed.");

  j.open_array("packages");
  j.open_object();
  j.string("SPDXID", "SPDXRef-Image");
  j.string("name", options.image_name);
  j.string("downloadLocation", "NOASSERTION");
  j.boolean("filesAnalyzed", true);
  if (!options.image_file.empty()) {
    std::error_code ec;
    if (fs::is_regular_file(options.image_file, ec)) {
      j.open_array("checksums");
      j.open_object();
      j.string("algorithm", "SHA256");
      j.string("checksumValue", digest_file(options.image_file).sha256);
      j.close_object();
      j.close_array();
    }
  }
  j.string("licenseConcluded", "NOASSERTION");
  j.string("licenseDeclared", "NOASSERTION");
  j.string("copyrightText", "NOASSERTION");
  j.string("comment", "a keel-image " + (options.format.empty() ? std::string("image") : options.format + " image") +
                          " built from " + spec_name);
  j.close_object();
  if (has_keel) {
    j.open_object();
    j.string("SPDXID", "SPDXRef-Package-keel");
    j.string("name", "keel");
    j.string("versionInfo", keel::kVersion);
    j.string("supplier", "NOASSERTION");
    j.string("downloadLocation", "NOASSERTION");
    j.boolean("filesAnalyzed", true);
    j.string("sourceInfo", "built from source (keel " + std::string(keel::kVersion) + ")");
    j.string("licenseConcluded", "NOASSERTION");
    j.string("licenseDeclared", "MIT");
    j.string("copyrightText", "Copyright (c) 2026 the keel developers");
    j.string("primaryPackagePurpose", "APPLICATION");
    j.close_object();
  }
  for (const DebianPackage* p : packages) {
    j.open_object();
    j.string("SPDXID", package_id(*p));
    j.string("name", p->name);
    j.string("versionInfo", p->version);
    j.string("supplier", "Organization: Debian");
    j.string("downloadLocation", "NOASSERTION");
    j.boolean("filesAnalyzed", true);
    if (!p->source.empty()) j.string("sourceInfo", "built by Debian from the source package " + p->source);
    j.string("licenseConcluded", "NOASSERTION");
    const std::vector<std::string>& fields = dpkg.licenses(*p);
    // Every field applies to some files: the package is under all of them
    // (AND), each term once.
    std::vector<std::string> terms;
    bool mapped = !fields.empty();
    for (const std::string& f : fields) {
      const std::string expr = debian_license_to_spdx(f);
      if (expr.empty()) {
        mapped = false;
        break;
      }
      std::vector<std::string> parts;
      if (expr.find(" OR ") != std::string::npos) {
        parts.push_back(fields.size() > 1 ? "(" + expr + ")" : expr);
      } else {
        for (std::size_t at = 0, next = 0; at != std::string::npos; at = next == std::string::npos ? next : next + 5) {
          next = expr.find(" AND ", at);
          parts.push_back(expr.substr(at, next == std::string::npos ? std::string::npos : next - at));
        }
      }
      for (std::string& part : parts) {
        if (std::find(terms.begin(), terms.end(), part) == terms.end()) terms.push_back(std::move(part));
      }
    }
    std::string declared;
    for (const std::string& t : terms) declared += (declared.empty() ? "" : " AND ") + t;
    if (!mapped) declared.clear();
    j.string("licenseDeclared", declared.empty() ? "NOASSERTION" : declared);
    if (!fields.empty()) {
      std::string all;
      for (const std::string& f : fields) all += (all.empty() ? "" : "; ") + f;
      j.string("licenseComments", "License fields of /usr/share/doc/" + p->name + "/copyright (DEP-5): " + all);
    } else {
      j.string("licenseComments",
               "/usr/share/doc/" + p->name + "/copyright is not in Debian's machine-readable format (or missing)");
    }
    j.string("copyrightText", "NOASSERTION");
    if (!p->maintainer.empty()) j.string("comment", "Debian maintainer: " + p->maintainer);
    j.open_array("externalRefs");
    j.open_object();
    j.string("referenceCategory", "PACKAGE-MANAGER");
    j.string("referenceType", "purl");
    std::string purl = "pkg:deb/debian/" + percent_encode(p->name) + "@" + percent_encode(p->version);
    if (!p->architecture.empty()) purl += "?arch=" + percent_encode(p->architecture);
    j.string("referenceLocator", purl);
    j.close_object();
    j.close_array();
    j.close_object();
  }
  j.close_array();

  j.open_array("files");
  for (const FileRecord& r : files) {
    j.open_object();
    j.string("SPDXID", r.id);
    j.string("fileName", "." + r.path);
    j.open_array("checksums");
    j.open_object();
    j.string("algorithm", "SHA1");
    j.string("checksumValue", r.digests.sha1);
    j.close_object();
    j.open_object();
    j.string("algorithm", "SHA256");
    j.string("checksumValue", r.digests.sha256);
    j.close_object();
    j.close_array();
    j.string("licenseConcluded", "NOASSERTION");
    j.string("copyrightText", "NOASSERTION");
    j.string("comment", r.comment);
    j.close_object();
  }
  j.close_array();

  j.open_array("relationships");
  auto relationship = [&](const std::string& a, const char* type, const std::string& b) {
    j.open_object();
    j.string("spdxElementId", a);
    j.string("relationshipType", type);
    j.string("relatedSpdxElement", b);
    j.close_object();
  };
  relationship("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image");
  if (has_keel) relationship("SPDXRef-Image", "CONTAINS", "SPDXRef-Package-keel");
  for (const DebianPackage* p : packages) relationship("SPDXRef-Image", "CONTAINS", package_id(*p));
  for (const FileRecord& r : files) {
    if (r.keel) {
      relationship("SPDXRef-Package-keel", "CONTAINS", r.id);
    } else if (r.package != nullptr) {
      relationship(package_id(*r.package), "CONTAINS", r.id);
    } else {
      relationship("SPDXRef-Image", "CONTAINS", r.id);
    }
    if (r.generated_from != nullptr) relationship(r.id, "GENERATED_FROM", package_id(*r.generated_from));
  }
  j.close_array();
  j.close_object();

  if (summary != nullptr) {
    summary->files = files.size();
    summary->packages = packages.size() + (has_keel ? 1 : 0) + 1;
    summary->unowned = unowned;
  }
  return j.take();
}

SbomSummary write_sbom(const Spec& spec, const ImagePlan& plan, const fs::path& out, const SbomOptions& options) {
  SbomSummary summary;
  const std::string text = sbom_json(spec, plan, options, &summary);
  std::error_code ec;
  if (out.has_parent_path()) fs::create_directories(out.parent_path(), ec);
  fs::path tmp = out;
  tmp += ".tmp";
  try {
    FileSink sink(tmp);
    sink.write(text);
    sink.finish();
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  move_into_place(tmp, out, "SBOM");
  return summary;
}

}  // namespace keel::image
