// The SBOM (src/image/sbom.hpp, dpkg_db.hpp, digest.hpp): the digests
// against coreutils, the dpkg database reader on a database made here, and
// whole builds whose SPDX document is read back by Python's json module and
// checked against the image itself: every regular file `keel-image ls`
// lists is in it with the SHA-256 sha256sum computes from the archive's
// bytes, package versions are dpkg-query's, the fields SPDX 2.3 requires are
// there, hostile names stay valid JSON, and two builds give one document.
//
// Needs Debian's busybox-static (/bin/busybox), coreutils (/usr/bin/env),
// python3 (3.11, for the [python] image), dpkg-query, sha256sum, sha1sum.
// No SPDX validator is packaged in Debian 12 (no python3-spdx-tools), so the
// required fields are checked by the script below.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "image/builder.hpp"
#include "image/cpio.hpp"
#include "image/compress.hpp"
#include "image/diagnostic.hpp"
#include "image/digest.hpp"
#include "image/dpkg_db.hpp"
#include "image/listing.hpp"
#include "image/sbom.hpp"
#include "image/spec.hpp"
#include "test_util.hpp"

namespace keel::image {
namespace {

namespace fs = std::filesystem;

using testutil::quoted;
using testutil::run;
using testutil::slurp;
using testutil::write_file;

// coreutils' digests of files, one process for all (a process per file
// is most of a test's time on a loaded machine): file -> hex digest.
std::map<fs::path, std::string> coreutils_sums(const char* tool, const std::vector<fs::path>& files) {
  std::string command = std::string(tool);
  for (const fs::path& f : files) command += " " + quoted(f);
  std::istringstream in(run(command));
  std::map<fs::path, std::string> out;
  std::string sum, name;
  while (in >> sum && std::getline(in, name)) out[name.substr(name.find_first_not_of(" *"))] = sum;
  EXPECT_EQ(out.size(), files.size()) << command;
  return out;
}

TEST(ImageDigest, KnownVectors) {
  EXPECT_EQ(digest_bytes("abc").sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(digest_bytes("abc").sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(digest_bytes("").sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(digest_bytes("").sha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

TEST(ImageDigest, FilesOfEveryLengthAroundABlockMatchCoreutils) {
  testutil::TempDir dir("keel-sbom-digest-");
  // 55, 56, 63, 64, 65 bytes: where the padding needs one block or two;
  // and a file larger than the 64 KiB read buffer.
  std::vector<fs::path> files;
  std::map<fs::path, std::string> contents;
  for (std::size_t size : {0UL, 1UL, 55UL, 56UL, 63UL, 64UL, 65UL, 119UL, 120UL, 1000037UL}) {
    std::string data(size, '\0');
    for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<char>((i * 131 + 7) & 0xff);
    const fs::path file = dir.path() / ("f" + std::to_string(size));
    write_file(file, data);
    files.push_back(file);
    contents[file] = data;
  }
  const auto sha256 = coreutils_sums("sha256sum", files);
  const auto sha1 = coreutils_sums("sha1sum", files);
  for (const fs::path& file : files) {
    const std::string& data = contents[file];
    const FileDigests d = digest_file(file);
    EXPECT_EQ(d.size, data.size());
    EXPECT_EQ(d.sha256, sha256.at(file)) << file;
    EXPECT_EQ(d.sha1, sha1.at(file)) << file;
    // Fed in odd pieces, the same.
    Sha256 h;
    for (std::size_t at = 0; at < data.size(); at += 37) h.update(std::string_view(data).substr(at, 37));
    EXPECT_EQ(h.hex(), d.sha256) << file;
  }
}

TEST(ImageDpkg, UsrMergeAliases) {
  EXPECT_EQ(usr_merge_alias("/usr/lib/x86_64-linux-gnu/libc.so.6"), "/lib/x86_64-linux-gnu/libc.so.6");
  EXPECT_EQ(usr_merge_alias("/lib64/ld-linux-x86-64.so.2"), "/usr/lib64/ld-linux-x86-64.so.2");
  EXPECT_EQ(usr_merge_alias("/bin/busybox"), "/usr/bin/busybox");
  EXPECT_EQ(usr_merge_alias("/usr/share/doc/x"), std::nullopt);
  EXPECT_EQ(usr_merge_alias("/library/x"), std::nullopt);
}

TEST(ImageDpkg, ReadsStatusListsAndDep5FromADatabaseMadeHere) {
  testutil::TempDir dir("keel-sbom-dpkg-");
  const fs::path admin = dir.path() / "dpkg";
  write_file(admin / "status",
             "Package: libfoo1\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\n"
             "Source: foo (1.2-3)\nVersion: 1:1.2-3+b1\nMaintainer: Foo Team <foo@example.org>\n"
             "Description: foo\n a long\n description\n\n"
             "Package: gone\nStatus: deinstall ok config-files\nArchitecture: all\nVersion: 9\n\n"
             "Package: bar\nStatus: install ok installed\nArchitecture: all\nVersion: 2.0\n");
  write_file(admin / "info" / "libfoo1:amd64.list", "/.\n/lib\n/lib/x86_64-linux-gnu/libfoo.so.1\n");
  write_file(admin / "info" / "gone.list", "/usr/bin/gone\n");
  write_file(admin / "info" / "bar.list", "/usr/bin/bar\n");
  write_file(dir.path() / "doc" / "libfoo1" / "copyright",
             "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
             "Upstream-Name: foo\n\nFiles: *\nCopyright: 2020 Foo\nLicense: GPL-2+\n\n"
             "Files: lib/*\nCopyright: 2021 Bar\nLicense: LGPL-2.1+ or BSD-3-clause\n\n"
             "License: GPL-2+\n This program is free software...\n");
  write_file(dir.path() / "doc" / "bar" / "copyright", "This is bar, License: whatever, not DEP-5.\n");
  DpkgDb db({admin, dir.path() / "doc"});
  // Listed under /lib, asked for under /usr/lib (usr-merge), and the other way.
  const DebianPackage* foo = db.owner("/usr/lib/x86_64-linux-gnu/libfoo.so.1");
  ASSERT_NE(foo, nullptr);
  EXPECT_EQ(foo->name, "libfoo1");
  EXPECT_EQ(foo->version, "1:1.2-3+b1");
  EXPECT_EQ(foo->architecture, "amd64");
  EXPECT_EQ(foo->source, "foo (1.2-3)");
  EXPECT_EQ(db.owner("/bin/bar"), db.find("bar"));
  // Not installed (config files only): not an owner. Unknown: nullptr.
  EXPECT_EQ(db.owner("/usr/bin/gone"), nullptr);
  EXPECT_EQ(db.owner("/usr/bin/nobody-owns-this"), nullptr);
  EXPECT_EQ(db.licenses(*foo), (std::vector<std::string>{"GPL-2+", "LGPL-2.1+ or BSD-3-clause"}));
  EXPECT_TRUE(db.licenses(*db.find("bar")).empty());
  // No database at all: nothing is owned, nothing fails.
  DpkgDb none({dir.path() / "no-such-dir", dir.path() / "no-such-doc"});
  EXPECT_EQ(none.owner("/bin/sh"), nullptr);
}

TEST(ImageSbom, DebianLicenceNamesAsSpdxExpressions) {
  EXPECT_EQ(debian_license_to_spdx("GPL-2+"), "GPL-2.0-or-later");
  EXPECT_EQ(debian_license_to_spdx("GPL-3"), "GPL-3.0-only");
  EXPECT_EQ(debian_license_to_spdx("LGPL-2.1+ or BSD-3-clause"), "LGPL-2.1-or-later OR BSD-3-Clause");
  EXPECT_EQ(debian_license_to_spdx("Expat and Zlib"), "MIT AND Zlib");
  EXPECT_EQ(debian_license_to_spdx("Artistic or GPL-1+"), "Artistic-1.0-Perl OR GPL-1.0-or-later");
  // No SPDX form keel-image knows: empty (the document says NOASSERTION).
  EXPECT_EQ(debian_license_to_spdx("public-domain"), "");
  EXPECT_EQ(debian_license_to_spdx("GPL-2+ with OpenSSL exception"), "");
  EXPECT_EQ(debian_license_to_spdx("GPL-2+ or Artistic, and BSD-3-clause"), "");
  EXPECT_EQ(debian_license_to_spdx("GPL-2+ or"), "");
  EXPECT_EQ(debian_license_to_spdx(""), "");
}

TEST(ImageSbom, TheSpecKeyIsAHostPathRelativeToTheSpec) {
  const Spec spec = parse_spec("[output]\nsbom = \"out/x.spdx.json\"\n", "/srv/img/demo.toml");
  EXPECT_EQ(spec.output.sbom, fs::path("/srv/img/out/x.spdx.json"));
  EXPECT_TRUE(parse_spec("[output]\n", "/srv/img/demo.toml").output.sbom.empty());
  auto error = [](const std::string& text) {
    try {
      (void)parse_spec(text, "demo.toml");
    } catch (const ImageError& e) {
      return e.describe();
    }
    return std::string("no error");
  };
  EXPECT_EQ(error("[output]\nsbom = \"\"\n"), "demo.toml:2: error: 'sbom' in [output] must not be empty");
  EXPECT_EQ(error("[output]\n\nsbom = 3\n"), "demo.toml:3: error: 'sbom' in [output] must be a string");
  EXPECT_EQ(error("[output]\nsbomm = \"x\"\n"),
            "demo.toml:2: error: unknown key 'sbomm' in [output]; did you mean 'sbom'?");
}

// Reads the document with Python's json module (an independent parser),
// checks the fields SPDX 2.3 requires and the relationships' ends, and
// prints one line per file and package for the C++ side to compare:
//   FILE <hex of the image path> <sha256> <origin: deb:NAME | keel | image> [generated:NAME]
//   PKG <name> <version> <purl>
//   ERROR <what>
constexpr const char* kReader = R"PY(
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
def error(what): print("ERROR", what)
for key in ("spdxVersion", "dataLicense", "SPDXID", "name", "documentNamespace", "creationInfo"):
    if key not in doc: error("document has no " + key)
if doc.get("spdxVersion") != "SPDX-2.3": error("spdxVersion")
if doc.get("dataLicense") != "CC0-1.0": error("dataLicense")
if doc.get("SPDXID") != "SPDXRef-DOCUMENT": error("SPDXID")
ns = doc.get("documentNamespace", "")
if "#" in ns or "://" not in ns: error("documentNamespace is not a URI without #")
ci = doc.get("creationInfo", {})
if not ci.get("creators") or not ci.get("created", "").endswith("Z"): error("creationInfo")
ids = {"SPDXRef-DOCUMENT"}
names = {}
for p in doc.get("packages", []):
    for key in ("SPDXID", "name", "downloadLocation"):
        if key not in p: error("package without " + key)
    ids.add(p["SPDXID"]); names[p["SPDXID"]] = p["name"]
    purl = [r["referenceLocator"] for r in p.get("externalRefs", []) if r.get("referenceType") == "purl"]
    if p["SPDXID"].startswith("SPDXRef-Package-deb-"):
        print("PKG", p["name"], p.get("versionInfo", "?"), purl[0] if purl else "-")
files = {}
for f in doc.get("files", []):
    for key in ("SPDXID", "fileName", "checksums"):
        if key not in f: error("file without " + key)
    algos = {c["algorithm"]: c["checksumValue"] for c in f["checksums"]}
    if "SHA1" not in algos or len(algos["SHA1"]) != 40: error("file without SHA1: " + f["fileName"])
    if f["SPDXID"] in ids: error("SPDXID twice: " + f["SPDXID"])
    ids.add(f["SPDXID"]); files[f["SPDXID"]] = [f["fileName"], algos.get("SHA256", "-"), "image", ""]
import re
for i in ids:
    if not re.fullmatch(r"SPDXRef-[A-Za-z0-9.\-]+", i): error("bad SPDXID " + i)
describes = 0
for r in doc.get("relationships", []):
    a, t, b = r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"]
    if a not in ids or b not in ids: error("relationship to an unknown element: %s %s %s" % (a, t, b))
    if t == "DESCRIBES" and a == "SPDXRef-DOCUMENT": describes += 1
    if t == "CONTAINS" and b in files and a != "SPDXRef-Image":
        files[b][2] = "keel" if a == "SPDXRef-Package-keel" else "deb:" + names[a]
    if t == "GENERATED_FROM" and a in files: files[a][3] = " generated:" + names[b]
if describes != 1: error("the document DESCRIBES %d elements" % describes)
for name, sha, origin, gen in files.values():
    if not name.startswith("./"): error("fileName not ./: " + name)
    print("FILE", name[1:].encode("utf-8", "surrogateescape").hex(), sha, origin + gen)
)PY";

struct Sbom {
  std::map<std::string, std::string> sha256;  // image path -> SHA-256
  std::map<std::string, std::string> origin;  // image path -> "deb:libc6", "keel", "image" (+ " generated:X")
  std::map<std::string, std::string> version;  // Debian package -> version
  std::map<std::string, std::string> purl;
  std::vector<std::string> errors;
};

std::string unhex(const std::string& h) {
  std::string out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}

Sbom read_sbom(const fs::path& dir, const fs::path& file) {
  write_file(dir / "reader.py", kReader);
  int rc = 0;
  const std::string out = run("python3 " + quoted(dir / "reader.py") + " " + quoted(file) + " 2>&1", rc);
  Sbom s;
  if (rc != 0) s.errors.push_back("the reader failed: " + out);
  std::istringstream in(out);
  std::string kind;
  while (in >> kind) {
    std::string rest;
    std::getline(in, rest);
    std::istringstream words(rest);
    if (kind == "FILE") {
      std::string hex, sha, origin, generated;
      words >> hex >> sha >> origin >> generated;
      const std::string path = unhex(hex);
      s.sha256[path] = sha;
      if (!generated.empty()) origin += " " + generated;
      s.origin[path] = origin;
    } else if (kind == "PKG") {
      std::string name, version, purl;
      words >> name >> version >> purl;
      s.version[name] = version;
      s.purl[name] = purl;
    } else {
      s.errors.push_back(kind + rest);
    }
  }
  return s;
}

// Every regular file of a cpio image (`keel-image ls`'s '-' lines) with the
// SHA-256 of its bytes as sha256sum computes it; a hard-link group's bytes
// are carried by one of its names (the others have size 0).
std::map<std::string, std::string> image_hashes(const fs::path& image, const fs::path& scratch) {
  const std::string bytes = slurp(image);
  const std::string plain = detect_compression(bytes) == Compression::None ? bytes : decompress(bytes, "image");
  const CpioArchive archive = read_cpio(plain, "image");
  std::map<std::uint32_t, std::string> data_of_inode;
  for (const CpioEntry& e : archive.entries) {
    if ((e.mode & 0170000) == 0100000 && e.size > 0) data_of_inode[e.ino] = std::string(entry_data(plain, e));
  }
  std::vector<std::string> listed;
  for (const std::string& line : list_image(bytes, "image")) {
    if (line.starts_with("-")) listed.push_back(line);
  }
  std::map<std::string, fs::path> files;
  for (const CpioEntry& e : archive.entries) {
    if ((e.mode & 0170000) != 0100000) continue;
    const fs::path file = scratch / "data" / std::to_string(files.size());
    write_file(file, data_of_inode.count(e.ino) ? data_of_inode[e.ino] : std::string());
    files["/" + e.name] = file;
  }
  std::vector<fs::path> all;
  all.reserve(files.size());
  for (const auto& [path, file] : files) all.push_back(file);
  const auto sums = coreutils_sums("sha256sum", all);
  std::map<std::string, std::string> out;
  for (const auto& [path, file] : files) out[path] = sums.at(file);
  fs::remove_all(scratch / "data");
  EXPECT_EQ(listed.size(), out.size()) << "keel-image ls and the cpio reader disagree";
  return out;
}

// dpkg-query's version of `package` for the architecture its purl names
// ("?arch=amd64"): with a foreign architecture added (dpkg
// --add-architecture arm64, as scripts/cross-aarch64.sh does), an unqualified
// query prints one version per installed architecture.
std::string dpkg_version(const std::string& package, const std::string& purl) {
  const std::size_t at = purl.find("?arch=");
  const std::string arch = at == std::string::npos ? "" : purl.substr(at + 6, purl.find('&', at) - (at + 6));
  return run("dpkg-query -W -f '${Version}' " + package + (arch.empty() ? "" : ":" + arch) + " 2>/dev/null");
}

class ImageSbomBuild : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists("/bin/busybox") || !fs::exists("/usr/bin/env") || !testutil::have("python3") ||
        !testutil::have("dpkg-query")) {
      GTEST_SKIP() << "needs busybox-static, coreutils, python3 and dpkg-query";
    }
  }
  BuildResult build(const std::string& spec_text, const std::string& name, std::uint32_t mtime = 1700000000) {
    const fs::path spec = dir_.path() / (name + ".toml");
    // Uncompressed: the compressor would be most of the test's CPU time.
    write_file(spec, "[output]\ncompression = \"none\"\n\n" + spec_text);
    BuildOptions options;
    options.output = dir_.path() / "out" / (name + ".cpio");
    options.sbom = dir_.path() / "out" / (name + ".spdx.json");
    options.mtime = mtime;
    return write_image(parse_spec_file(spec), plan_image(parse_spec_file(spec)), options);
  }
  testutil::TempDir dir_{"keel-sbom-"};
};

TEST_F(ImageSbomBuild, EveryRegularFileWithItsHashOriginAndPackageVersions) {
  // A host file that no Debian package owns, under a hostile image name.
  write_file(dir_.path() / "mine.txt", "my own file\n");
  const std::string spec = std::string(R"([keel]
binary = ")") + KEEL_BINARY + R"("

[[program]]
source = "/bin/busybox"
path = "/bin/busybox"

[[program]]
source = "/usr/bin/env"
path = "/usr/bin/env"

[[hardlink]]
path = "/sbin/ash"
target = "/bin/busybox"

[[file]]
source = "mine.txt"
path = "/etc/a \"quoted\" name\twith\u0001controls\u007f and é"

[[file]]
content = "inline\n"
path = "/etc/inline"
)";
  const BuildResult result = build(spec, "demo");
  ASSERT_EQ(result.sbom, dir_.path() / "out" / "demo.spdx.json");
  const Sbom sbom = read_sbom(dir_.path(), result.sbom);
  EXPECT_TRUE(sbom.errors.empty()) << ::testing::PrintToString(sbom.errors);

  const auto hashes = image_hashes(result.output, dir_.path());
  ASSERT_GE(hashes.size(), 8U);
  EXPECT_EQ(sbom.sha256.size(), hashes.size());
  for (const auto& [path, sha] : hashes) {
    ASSERT_TRUE(sbom.sha256.count(path)) << path << " is in the image but not in the SBOM";
    EXPECT_EQ(sbom.sha256.at(path), sha) << path;
  }
  // Origins: Debian packages (busybox through its hard link too; libc at
  // its /usr path though dpkg lists it under /lib), keel, the spec.
  EXPECT_EQ(sbom.origin.at("/bin/busybox"), "deb:busybox-static");
  EXPECT_EQ(sbom.origin.at("/sbin/ash"), "deb:busybox-static");
  EXPECT_EQ(sbom.origin.at("/usr/bin/env"), "deb:coreutils");
  EXPECT_EQ(sbom.origin.at("/usr/lib/x86_64-linux-gnu/libc.so.6"), "deb:libc6");
  EXPECT_EQ(sbom.origin.at("/sbin/keel"), "keel");
  EXPECT_EQ(sbom.origin.at("/etc/a \"quoted\" name\twith\x01" "controls\x7f and \xc3\xa9"), "image");
  EXPECT_EQ(sbom.origin.at("/etc/inline"), "image");
  EXPECT_EQ(sbom.origin.at("/etc/passwd"), "image");
  // Versions as dpkg-query says, and purls.
  ASSERT_TRUE(sbom.version.count("busybox-static") && sbom.version.count("libc6") && sbom.version.count("coreutils"));
  for (const auto& [name, version] : sbom.version) {
    EXPECT_EQ(version, dpkg_version(name, sbom.purl.at(name))) << name;
    // The purl's name is percent-encoded: "libstdc++6" (in the image when
    // keel is dynamic, as in the sanitizer build) is "libstdc%2B%2B6".
    std::string encoded;
    for (char c : name) encoded += c == '+' ? std::string("%2B") : std::string(1, c);
    EXPECT_TRUE(sbom.purl.at(name).starts_with("pkg:deb/debian/" + encoded + "@")) << sbom.purl.at(name);
    EXPECT_NE(sbom.purl.at(name).find("?arch="), std::string::npos);
  }
  // The hostile name is escaped in the text itself (no raw control byte).
  const std::string text = slurp(result.sbom);
  for (unsigned char c : text) EXPECT_TRUE(c >= 0x20 || c == '\n') << "raw control byte " << int(c);
  EXPECT_NE(text.find(R"(./etc/a \"quoted\" name\u0009with\u0001controls\u007f and é)"), std::string::npos);
  EXPECT_NE(text.find("which no installed Debian package owns"), std::string::npos);
}

TEST_F(ImageSbomBuild, SameInputsGiveTheSameBytesAndTheTimeIsSourceDateEpoch) {
  const std::string spec = "[[program]]\nsource = \"/usr/bin/env\"\npath = \"/usr/bin/env\"\n";
  const std::string first = slurp(build(spec, "a").sbom);
  const std::string again = slurp(build(spec, "a").sbom);
  EXPECT_EQ(first, again);
  EXPECT_NE(first.find("\"created\": \"2023-11-14T22:13:20Z\""), std::string::npos);
  const std::string later = slurp(build(spec, "a", 1700000001).sbom);
  EXPECT_NE(later.find("\"created\": \"2023-11-14T22:13:21Z\""), std::string::npos);
  // Another build time is another document: another namespace.
  auto ns = [](const std::string& t) { return t.substr(t.find("documentNamespace"), 120); };
  EXPECT_NE(ns(first), ns(later));
}

TEST_F(ImageSbomBuild, FromTheSpecKeyAndForEveryFormat) {
  // [output] sbom, relative to the spec's directory, with a dir output.
  const fs::path spec = dir_.path() / "d.toml";
  write_file(spec, "[output]\nformat = \"dir\"\npath = \"tree\"\nsbom = \"tree.spdx.json\"\n\n"
                   "[[program]]\nsource = \"/usr/bin/env\"\npath = \"/usr/bin/env\"\n");
  const BuildResult result = build_image(spec);
  EXPECT_EQ(result.sbom, dir_.path() / "tree.spdx.json");
  const Sbom sbom = read_sbom(dir_.path(), result.sbom);
  EXPECT_TRUE(sbom.errors.empty()) << ::testing::PrintToString(sbom.errors);
  std::vector<fs::path> regular;
  for (const auto& e : fs::recursive_directory_iterator(dir_.path() / "tree")) {
    if (e.is_regular_file() && !e.is_symlink()) regular.push_back(e.path());
  }
  const auto sums = coreutils_sums("sha256sum", regular);
  for (const fs::path& file : regular) {
    const std::string path = "/" + fs::relative(file, dir_.path() / "tree").string();
    ASSERT_TRUE(sbom.sha256.count(path)) << path;
    EXPECT_EQ(sbom.sha256.at(path), sums.at(file)) << path;
  }
  EXPECT_EQ(regular.size(), sbom.sha256.size());
  // No sbom asked for: none written.
  write_file(spec, "[output]\nformat = \"dir\"\npath = \"tree2\"\n");
  EXPECT_TRUE(build_image(spec).sbom.empty());
}

TEST_F(ImageSbomBuild, APythonImageNamesItsManyPackages) {
  if (!fs::exists("/usr/lib/python3.11/os.py")) GTEST_SKIP() << "needs Debian's python3.11";
  write_file(dir_.path() / "app.py", "import json, http.server\nprint(json.dumps({}))\n");
  const BuildResult result = build(R"([python]
scripts = [{ source = "app.py", path = "/opt/app.py" }]
optional = ["ssl"]
)",
                                   "py");
  const Sbom sbom = read_sbom(dir_.path(), result.sbom);
  EXPECT_TRUE(sbom.errors.empty()) << ::testing::PrintToString(sbom.errors);
  const auto hashes = image_hashes(result.output, dir_.path());
  EXPECT_EQ(sbom.sha256.size(), hashes.size());
  for (const auto& [path, sha] : hashes) {
    ASSERT_TRUE(sbom.sha256.count(path)) << path;
    EXPECT_EQ(sbom.sha256.at(path), sha) << path;
  }
  for (const char* package : {"python3.11-minimal", "libpython3.11-stdlib", "libc6", "libssl3"}) {
    ASSERT_TRUE(sbom.version.count(package)) << package;
    EXPECT_EQ(sbom.version.at(package), dpkg_version(package, sbom.purl.at(package))) << package;
  }
  // A .pyc keel-image compiled: in the image, generated from the stdlib's package.
  EXPECT_EQ(sbom.origin.at("/usr/lib/python3.11/json/__init__.pyc"), "image generated:libpython3.11-stdlib");
  EXPECT_EQ(sbom.origin.at("/usr/lib/python3.11/os.pyc"), "image generated:libpython3.11-minimal");
  EXPECT_EQ(sbom.origin.at("/opt/app.py"), "image");
  EXPECT_GE(sbom.version.size(), 4U);
}

}  // namespace
}  // namespace keel::image
