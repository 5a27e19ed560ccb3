// The OCI outputs of keel-image (src/image/oci.hpp, tar.hpp, sha256.hpp):
//
//   * [oci] parsed into what the config will say, and every error at its line;
//   * SHA-256 against FIPS 180-2's vectors, the tar writer against GNU tar
//     (long names through pax, long link targets, hard links, nodes, ids
//     past ustar's 7 octal digits), extracted as root with owners and modes;
//   * an OCI layout and a docker-archive built twice: the same bytes, every
//     blob named by its digest, the config's diff_id the digest of the
//     uncompressed layer, the gzip header without a name or time, and the
//     same config (image ID) in both formats;
//   * real tools: skopeo inspect and copy (oci: and docker-archive:), umoci
//     unpack as root and --rootless (as a throwaway uid), podman load of the
//     docker-archive into a private store;
//   * runc running the unpacked bundle as root, keel as its init: the system
//     role starts two services in order and stops them in reverse order on
//     `runc kill CONTAINER SIGTERM`, exiting 0; the container init runs the
//     image's cmd and exits with its status; the tini and dumb-init names
//     take those personalities. Every container is deleted, pass or fail.
//
// crun is not run: on this host's cgroup hybrid mode it refuses every
// container ("cgroups in hybrid mode not supported"), as podman run does.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "image/builder.hpp"
#include "image/compress.hpp"
#include "image/diagnostic.hpp"
#include "image/elf.hpp"
#include "image/digest.hpp"
#include "image/spec.hpp"
#include "image/tar.hpp"
#include "test_util.hpp"
#include "throwaway_uid.hpp"

namespace keel::image {
namespace {

namespace fs = std::filesystem;

using testutil::have;
using testutil::quoted;
using testutil::run;
using testutil::slurp;
using testutil::write_file;

struct TempDir : testutil::TempDir {
  TempDir() : testutil::TempDir("keel-oci-test-") {}
};

bool static_busybox() { return fs::is_regular_file("/bin/busybox") && read_elf("/bin/busybox").is_static(); }
bool keel_is_static() { return read_elf(KEEL_BINARY).is_static(); }

// A shell command's stdout with trailing newlines dropped, and its exit status.
std::string sh(const std::string& command, int* status = nullptr) {
  int rc = 0;
  std::string out = run(command, rc);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  if (status != nullptr) *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

// Every entry of a tar file (compressed or not) as Python's tarfile reads
// it, one line each: "TYPE MODE UID:GID SIZE MTIME NAME[ -> LINK][ MAJ,MIN]"
// (TYPE the header's type flag, MODE octal).
std::string tar_entries(const fs::path& file) {
  return sh(
      "/usr/bin/python3 -c 'import tarfile,sys\n"
      "for m in tarfile.open(sys.argv[1]):\n"
      "  t = m.type.decode()\n"
      "  line = \"%s %04o %d:%d %d %d %s\" % (t, m.mode, m.uid, m.gid, m.size, m.mtime, m.name)\n"
      "  if m.linkname: line += \" -> \" + m.linkname\n"
      "  if t in \"34\": line += \" %d,%d\" % (m.devmajor, m.devminor)\n"
      "  print(line)' " +
      quoted(file));
}

// `text` as one word of a shell command line, whatever it holds.
std::string shell_word(const std::string& text) {
  std::string out = "'";
  for (const char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// One value out of a JSON document, by a Python expression on `d` (a
// tuple's values are printed separated by spaces).
std::string json_value(const fs::path& file, const std::string& expression) {
  return sh("/usr/bin/python3 -c " +
            shell_word("import json,sys\nd = json.load(open(sys.argv[1]))\nv = eval(sys.argv[2])\n"
                       "print(*v) if isinstance(v, tuple) else print(v)") +
            " " + quoted(file) + " " + shell_word(expression));
}

// ------------------------------------------------------------------ [oci]

class OciSpecTest : public ::testing::Test {
 protected:
  Spec parse(const std::string& text, const std::string& name = "app.toml") {
    const fs::path spec = dir_.path() / name;
    write_file(spec, text);
    return parse_spec_file(spec);
  }

  // Parses `text` expecting an ImageError at `line` whose message has `fragment`.
  void expect_error(const std::string& text, int line, const std::string& fragment) {
    try {
      (void)parse(text);
      ADD_FAILURE() << "no error; expected line " << line << ": " << fragment << "\n" << text;
    } catch (const ImageError& e) {
      EXPECT_EQ(e.line(), line) << e.describe();
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
          << "message: " << e.what() << "\nexpected to contain: " << fragment;
    }
  }

  static std::string head(const std::string& format = "oci") {
    return "[output]\nformat = \"" + format + "\"\n\n[keel]\nbinary = \"" + KEEL_BINARY + "\"\n\n";
  }

  TempDir dir_;
};

TEST_F(OciSpecTest, WithoutAnOciTableKeelRunsTheImageAsItsSystemRole) {
  const Spec spec = parse(head(), "My Image.toml");
  ASSERT_TRUE(spec.oci.has_value());
  EXPECT_EQ(spec.oci->init, OciInit::system);
  EXPECT_EQ(spec.oci->entrypoint, (std::vector<std::string>{"/sbin/keel", "--role=system"}));
  EXPECT_TRUE(spec.oci->cmd.empty());
  ASSERT_EQ(spec.oci->env.size(), 1U);
  EXPECT_EQ(spec.oci->env[0].first, "PATH");
  EXPECT_EQ(spec.oci->name, "my-image");  // the spec's file name, as a repository name
  EXPECT_EQ(spec.oci->tag, "latest");
  EXPECT_TRUE(spec.oci->compat_links.empty());
  // Another format has no OCI settings at all.
  EXPECT_FALSE(parse("[output]\nformat = \"cpio\"\n").oci.has_value());
}

TEST_F(OciSpecTest, ACmdMakesKeelTheContainerInitOfThatProgram) {
  const Spec spec = parse(head() + "[oci]\ncmd = [\"/bin/sh\", \"-c\", \"exec web\"]\n");
  EXPECT_EQ(spec.oci->init, OciInit::container);
  EXPECT_EQ(spec.oci->entrypoint, (std::vector<std::string>{"/sbin/keel", "--"}));
  EXPECT_EQ(spec.oci->cmd, (std::vector<std::string>{"/bin/sh", "-c", "exec web"}));
  // keel at another path is the entrypoint at that path.
  const Spec moved = parse("[output]\nformat = \"docker-archive\"\n[keel]\nbinary = \"" + std::string(KEEL_BINARY) +
                           "\"\npath = \"/usr/bin/keel\"\n[oci]\ninit = \"container\"\n");
  EXPECT_EQ(moved.oci->entrypoint, (std::vector<std::string>{"/usr/bin/keel", "--"}));
  // Its own entrypoint, keel or not.
  const Spec own = parse("[output]\nformat = \"oci\"\n[oci]\nentrypoint = [\"/bin/app\"]\ncmd = [\"-v\"]\n");
  EXPECT_EQ(own.oci->init, OciInit::none);
  EXPECT_EQ(own.oci->entrypoint, (std::vector<std::string>{"/bin/app"}));
  EXPECT_EQ(own.oci->cmd, (std::vector<std::string>{"-v"}));
}

TEST_F(OciSpecTest, ResolvesUserPortsSignalEnvLabelsAndLinks) {
  const Spec spec = parse(head() + R"([[user]]
name = "www"
uid = 33
gid = 34

[[group]]
name = "adm"
gid = 4

[oci]
env = { PATH = "/bin", LANG = "C.UTF-8" }
workdir = "/srv//www/"
ports = ["8080", 443, "53/udp", 443]
stop_signal = "term"
user = "www"
labels = { b = "2", a = "1" }
name = "example.org/team/app"
tag = "v1.2"
compat_links = ["/sbin/tini", "/usr/bin/tini-static", "/usr/local/bin/dumb-init"]
)");
  const OciSpec& o = *spec.oci;
  EXPECT_EQ(o.env, (std::vector<std::pair<std::string, std::string>>{{"LANG", "C.UTF-8"}, {"PATH", "/bin"}}));
  EXPECT_EQ(o.workdir, "/srv/www");
  EXPECT_EQ(o.ports, (std::vector<std::string>{"443/tcp", "53/udp", "8080/tcp"}));
  EXPECT_EQ(o.stop_signal, "SIGTERM");
  EXPECT_EQ(o.user, "33:34");  // the name resolved: the runtime never reads /etc/passwd
  EXPECT_EQ(o.labels, (std::vector<std::pair<std::string, std::string>>{{"a", "1"}, {"b", "2"}}));
  EXPECT_EQ(o.name, "example.org/team/app");
  EXPECT_EQ(o.tag, "v1.2");
  EXPECT_EQ(o.compat_links.size(), 3U);
  EXPECT_EQ(parse(head() + "[[group]]\nname = \"adm\"\ngid = 4\n[oci]\nuser = \"1000:adm\"\n").oci->user, "1000:4");
  EXPECT_EQ(parse(head() + "[oci]\nuser = 1000\nstop_signal = 2\n").oci->user, "1000");
  EXPECT_EQ(parse(head() + "[oci]\nstop_signal = 2\n").oci->stop_signal, "SIGINT");
}

TEST_F(OciSpecTest, EveryMistakeIsAnErrorAtItsLine) {
  const std::string h = head();  // 6 lines; [oci] is line 7 below
  expect_error("[output]\nformat = \"cpio\"\n[oci]\ncmd = [\"x\"]\n", 3, "[oci] applies only to [output] format");
  expect_error(h + "[oci]\ninit = \"system\"\nentrypoint = [\"/x\"]\n", 9, "not both");
  expect_error(h + "[oci]\ninit = \"system\"\ncmd = [\"/x\"]\n", 9, "takes no program");
  expect_error(h + "[oci]\ninit = \"pid1\"\n", 8, "unknown init 'pid1'");
  expect_error("[output]\nformat = \"oci\"\n", 1, "the spec has no [keel]");
  expect_error("[output]\nformat = \"oci\"\n[oci]\ninit = \"container\"\n", 4, "the spec has no [keel]");
  expect_error(h + "[oci]\nports = [70000]\n", 8, "ports in [oci] must be");
  expect_error(h + "[oci]\nports = [\"80/icmp\"]\n", 8, "ports in [oci] must be");
  expect_error(h + "[oci]\nports = \"80\"\n", 8, "ports in [oci] must be");
  expect_error(h + "[oci]\nstop_signal = \"SIGFOO\"\n", 8, "stop_signal in [oci]");
  expect_error(h + "[oci]\nstop_signal = 40\n", 8, "stop_signal in [oci]");
  expect_error(h + "[oci]\nuser = \"www\"\n", 8, "unknown user 'www'");
  expect_error(h + "[oci]\nuser = \"0:wheel\"\n", 8, "unknown group 'wheel'");
  expect_error(h + "[oci]\nname = \"Keel\"\n", 8, "name 'Keel' in [oci] must be a repository name");
  expect_error(h + "[oci]\nname = \"app:1\"\n", 8, "must be a repository name");
  expect_error(h + "[oci]\ntag = \".hidden\"\n", 8, "tag '.hidden'");
  expect_error(h + "[oci]\ncompat_links = [\"/sbin/init2\"]\n", 8, "not named tini, tini-static or dumb-init");
  expect_error(h + "[oci]\ncompat_links = [\"tini\"]\n", 8, "must be an absolute image path");
  expect_error(h + "[[file]]\npath = \"/sbin/tini\"\ncontent = \"\"\n[oci]\ncompat_links = [\"/sbin/tini\"]\n", 11,
               "/sbin/tini is given twice");
  expect_error(h + "[oci]\nentrypiont = [\"/x\"]\n", 8, "did you mean 'entrypoint'?");
  expect_error(h + "[oci]\nenv = { A = 1 }\n", 8, "env 'A' in [oci] must be a string");
  expect_error(h + "[oci]\nenv = [\"A=1\"]\n", 8, "env in [oci] must be a table");
  expect_error(h + "[oci]\nworkdir = \"srv\"\n", 8, "must be an absolute image path");
  expect_error(h + "[oci]\nlabels = { a = true }\n", 8, "label 'a' in [oci] must be a string");
}

// ------------------------------------------------------- SHA-256 and tar

TEST(Sha256Test, MatchesTheFipsVectorsWholeAndInPieces) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(sha256_hex(two_blocks), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string million(1'000'000, 'a');
  EXPECT_EQ(sha256_hex(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Pieces of every size up to 130 bytes land the same digest.
  for (std::size_t piece = 1; piece <= 130; piece += 7) {
    Sha256 h;
    for (std::size_t at = 0; at < million.size(); at += piece) h.update(std::string_view(million).substr(at, piece));
    EXPECT_EQ(h.hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") << piece;
  }
}

TEST(TarTest, GnuTarReadsEveryKindOfEntryWithItsMetadata) {
  if (!have("tar")) GTEST_SKIP() << "GNU tar is not installed";
  TempDir dir;
  const std::string deep = "d/" + std::string(120, 'x') + "/" + std::string(90, 'y');  // prefix + name
  const std::string z(100, 'z');
  const std::string very = "d/" + z + "/" + z + "/" + z;  // no split fits: a pax path
  const std::string target(150, 't');                     // pax linkpath
  write_file(dir.path() / "host.bin", std::string(70000, 'h'));
  std::string archive;
  {
    StringSink sink(archive);
    TarWriter tar(sink);
    tar.add_directory("/d", Metadata{0750, 1, 2, 1000});
    tar.add_directory("/d/" + std::string(120, 'x'), Metadata{0755, 0, 0, 1000});
    tar.add_file("/d/a", Metadata{04755, 33, 34, 1700000000}, "hello\n");
    tar.add_file("/d/host", Metadata{0600, 0, 0, 0}, HostFile{dir.path() / "host.bin"});
    tar.add_hard_link("/d/a-link", Metadata{04755, 33, 34, 1700000000}, "/d/a");
    tar.add_symlink("/d/s", Metadata{0777, 0, 0, 0}, "../etc/x");
    tar.add_symlink("/d/long-link", Metadata{0777, 0, 0, 0}, target);
    tar.add_char_device("/d/null", Metadata{0666, 0, 0, 0}, 1, 3);
    tar.add_block_device("/d/vda", Metadata{0660, 0, 6, 0}, 254, 1048575);
    tar.add_fifo("/d/fifo", Metadata{0644, 0, 0, 0});
    tar.add_file(deep, Metadata{0644, 0, 0, 0}, "deep");
    tar.add_file(very, Metadata{0644, 3000000, 4000000, 0}, "very");
    tar.finish();
  }
  EXPECT_EQ(archive.size() % 512, 0U);
  write_file(dir.path() / "t.tar", archive);
  // GNU tar reads it without a word of complaint...
  int status = 0;
  const std::string gnu = sh("tar --numeric-owner -tvf " + quoted(dir.path() / "t.tar") + " 2>&1", &status);
  EXPECT_EQ(status, 0) << gnu;
  EXPECT_EQ(gnu.find("tar:"), std::string::npos) << gnu;
  // ... and Python's tarfile finds every field where it was put.
  const std::string listing = tar_entries(dir.path() / "t.tar");
  for (const std::string& line : {
           std::string("5 0750 1:2 0 1000 d\n"),
           std::string("0 4755 33:34 6 1700000000 d/a\n"),
           std::string("0 0600 0:0 70000 0 d/host\n"),
           std::string("1 4755 33:34 0 1700000000 d/a-link -> d/a\n"),
           std::string("2 0777 0:0 0 0 d/s -> ../etc/x\n"),
           std::string("2 0777 0:0 0 0 d/long-link -> " + target + "\n"),
           std::string("3 0666 0:0 0 0 d/null 1,3\n"),
           std::string("4 0660 0:6 0 0 d/vda 254,1048575\n"),
           std::string("6 0644 0:0 0 0 d/fifo\n"),
           std::string("0 0644 0:0 4 0 " + deep + "\n"),
           std::string("0 0644 3000000:4000000 4 0 " + very + "\n"),
       }) {
    EXPECT_NE((listing + "\n").find(line), std::string::npos) << "missing: " << line << "in:\n" << listing;
  }
  EXPECT_EQ(std::count(listing.begin(), listing.end(), '\n') + 1, 12) << listing;  // no pax header as an entry
  // Extracted for real (as root: owners, the setuid bit, nodes).
  if (::geteuid() != 0) GTEST_SKIP() << "extraction with owners and device nodes needs root";
  const fs::path x = dir.path() / "x";
  fs::create_directories(x);
  EXPECT_EQ(sh("tar --numeric-owner -xpf " + quoted(dir.path() / "t.tar") + " -C " + quoted(x) + " 2>&1"), "");
  struct stat st {};
  ASSERT_EQ(::stat((x / "d/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04755U);
  EXPECT_EQ(st.st_uid, 33U);
  EXPECT_EQ(st.st_nlink, 2U);
  EXPECT_EQ(slurp(x / "d/a-link"), "hello\n");
  EXPECT_EQ(slurp(x / "d/host"), std::string(70000, 'h'));
  EXPECT_EQ(slurp(x / deep), "deep");
  ASSERT_EQ(::stat((x / very).c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 3000000U);
  EXPECT_EQ(st.st_gid, 4000000U);
  ASSERT_EQ(::lstat((x / "d/vda").c_str(), &st), 0);
  EXPECT_TRUE(S_ISBLK(st.st_mode));
  EXPECT_EQ(fs::read_symlink(x / "d/long-link").string(), target);
}

// ------------------------------------------------------------ the images

// Two services, "second" after "first"; each says when it starts and when
// SIGTERM stops it (busybox's sh runs the trap between two sleeps).
constexpr const char* kFirst =
    R"(command = ["/bin/sh", "-c", "trap 'echo first: stopping; exit 0' TERM; echo first: started; while :; do sleep 0.05; done"]
stdout = "console"
)";
constexpr const char* kSecond = R"(requires = ["first"]
after = ["first"]
command = ["/bin/sh", "-c", "trap 'echo second: stopping; exit 0' TERM; echo second: started; while :; do sleep 0.05; done"]
stdout = "console"
)";

class OciImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!static_busybox()) GTEST_SKIP() << "needs a static /bin/busybox: apt-get install busybox-static";
    // Debian's, not a python3 found first on PATH: a pyenv shim costs seconds
    // a call on a loaded machine, and these tests read JSON with it often.
    if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "needs /usr/bin/python3: apt-get install python3";
    write_file(dir_.path() / "svc/first.toml", kFirst);
    write_file(dir_.path() / "svc/second.toml", kSecond);
  }

  // A spec with keel, busybox (sh, sleep), the two services, a file owned
  // by www, and `oci` as its [oci] table.
  std::string spec_text(const std::string& format, const std::string& oci) const {
    return "[output]\nformat = \"" + format + "\"\n\n[keel]\nbinary = \"" + KEEL_BINARY + "\"\nservices = [\"" +
           (dir_.path() / "svc/first.toml").string() + "\", \"" + (dir_.path() / "svc/second.toml").string() +
           R"("]

[[program]]
source = "/bin/busybox"
path = "/bin/busybox"

[[symlink]]
path = "/bin/sh"
target = "busybox"

[[symlink]]
path = "/bin/sleep"
target = "busybox"

[[hardlink]]
path = "/bin/ash"
target = "/bin/busybox"

[[user]]
name = "www"
uid = 33

[[file]]
path = "/srv/www/index.html"
content = "<p>hello</p>\n"
mode = "0640"
owner = "www"

)" + oci;
  }

  // Builds `text` as DIR/NAME (a spec in a directory of its own) into OUT.
  BuildResult build(const std::string& text, const fs::path& out, std::uint32_t mtime = 0,
                    const std::string& spec_dir = "spec") {
    const fs::path spec = dir_.path() / spec_dir / "image.toml";
    write_file(spec, text);
    BuildOptions options;
    options.output = out;
    options.mtime = mtime;
    options.log = &log_;
    return build_image(spec, options);
  }

  fs::path path(const std::string& rel) const { return dir_.path() / rel; }

  TempDir dir_;
  std::ostringstream log_;
};

// The blob a descriptor names, checked against its digest and size.
fs::path checked_blob(const fs::path& layout, const std::string& digest, std::uint64_t size) {
  EXPECT_EQ(digest.rfind("sha256:", 0), 0U) << digest;
  fs::path blob = layout / "blobs" / "sha256" / digest.substr(7);
  const std::string bytes = slurp(blob);
  EXPECT_EQ(bytes.size(), size) << blob;
  EXPECT_EQ("sha256:" + sha256_hex(bytes), digest) << blob;
  return blob;
}

TEST_F(OciImageTest, LayoutBlobsAreNamedByTheirDigestsAndDiffIdIsTheUncompressedLayer) {
  const BuildResult r = build(spec_text("oci", "[oci]\ncompat_links = [\"/sbin/tini\"]\n"), path("img"));
  EXPECT_EQ(r.format, "oci");
  const fs::path img = path("img");
  EXPECT_EQ(slurp(img / "oci-layout"), R"({"imageLayoutVersion":"1.0.0"})");
  const fs::path index = img / "index.json";
  EXPECT_EQ(json_value(index, "d['manifests'][0]['annotations']['org.opencontainers.image.ref.name']"), "latest");
  EXPECT_EQ(json_value(index, "len(d['manifests'])"), "1");
  const fs::path manifest = checked_blob(img, json_value(index, "d['manifests'][0]['digest']"),
                                         std::stoull(json_value(index, "d['manifests'][0]['size']")));
  EXPECT_EQ(json_value(manifest, "d['mediaType']"), "application/vnd.oci.image.manifest.v1+json");
  const fs::path config = checked_blob(img, json_value(manifest, "d['config']['digest']"),
                                       std::stoull(json_value(manifest, "d['config']['size']")));
  EXPECT_EQ(json_value(manifest, "len(d['layers'])"), "1");
  EXPECT_EQ(json_value(manifest, "d['layers'][0]['mediaType']"), "application/vnd.oci.image.layer.v1.tar+gzip");
  const fs::path layer = checked_blob(img, json_value(manifest, "d['layers'][0]['digest']"),
                                      std::stoull(json_value(manifest, "d['layers'][0]['size']")));
  // Nothing else in blobs/ (no scratch file left behind).
  EXPECT_EQ(std::distance(fs::directory_iterator(img / "blobs/sha256"), fs::directory_iterator()), 3);

  const std::string gz = slurp(layer);
  ASSERT_GT(gz.size(), 10U);
  EXPECT_EQ(gz[3], '\0');                            // FLG: no file name, no comment
  EXPECT_EQ(gz.substr(4, 4), std::string(4, '\0'));  // MTIME 0
  const std::string tar = decompress(gz, layer.string());
  EXPECT_EQ(r.bytes, tar.size());
  EXPECT_EQ(json_value(config, "d['rootfs']"), "{'type': 'layers', 'diff_ids': ['sha256:" + sha256_hex(tar) + "']}");
  EXPECT_EQ(json_value(config, "len(d['history'])"), "1");
  EXPECT_EQ(json_value(config, "d['history'][0]['created_by']"), "keel-image build image.toml");
  EXPECT_EQ(json_value(config, "d['created']"), "1970-01-01T00:00:00Z");
  EXPECT_EQ(json_value(config, "d['os'], d['architecture']"), "linux amd64");
  EXPECT_EQ(json_value(config, "d['config']['Entrypoint']"), "['/sbin/keel', '--role=system']");

  // The layer: owners and modes from the spec, the tini name, hard links,
  // and none of the default layout's device nodes.
  write_file(path("layer.tar"), tar);
  const std::string listing = tar_entries(path("layer.tar")) + "\n";
  EXPECT_NE(listing.find("0 0640 33:0 13 0 srv/www/index.html\n"), std::string::npos) << listing;
  EXPECT_NE(listing.find("2 0777 0:0 0 0 sbin/tini -> keel\n"), std::string::npos) << listing;
  EXPECT_NE(listing.find("1 0755 0:0 0 0 bin/busybox -> bin/ash\n"), std::string::npos) << listing;
  EXPECT_NE(listing.find("5 1777 0:0 0 0 tmp\n"), std::string::npos) << listing;
  EXPECT_NE(listing.find("5 0755 0:0 0 0 dev\n"), std::string::npos) << listing;
  EXPECT_EQ(listing.find("dev/"), std::string::npos) << listing;  // no /dev/console, /dev/null, ...
}

TEST_F(OciImageTest, TheSameSpecGivesTheSameDigestsAndBothFormatsTheSameImageId) {
  const std::string oci = R"([oci]
cmd = ["/bin/sh", "-c", "echo hi"]
env = { LANG = "C.UTF-8" }
ports = [8080]
labels = { "org.opencontainers.image.title" = "demo" }
)";
  build(spec_text("oci", oci), path("a"));
  build(spec_text("oci", oci), path("b"));
  for (const auto& e : fs::recursive_directory_iterator(path("a"))) {
    if (!e.is_regular_file()) continue;
    const fs::path other = path("b") / fs::relative(e.path(), path("a"));
    EXPECT_EQ(slurp(e.path()), slurp(other)) << other;
  }
  EXPECT_EQ(slurp(path("a/index.json")), slurp(path("b/index.json")));
  // Another build time is another image.
  build(spec_text("oci", oci), path("c"), 1700000000);
  EXPECT_NE(slurp(path("a/index.json")), slurp(path("c/index.json")));

  // docker-archive: byte-identical twice, and its config is the layout's
  // config blob (the same image ID), its layer.tar the layout's layer
  // uncompressed.
  const BuildResult d1 = build(spec_text("docker-archive", oci), path("d1.tar"), 0, "spec2");
  build(spec_text("docker-archive", oci), path("d2.tar"), 0, "spec2");
  EXPECT_EQ(d1.format, "docker-archive");
  EXPECT_EQ(slurp(path("d1.tar")), slurp(path("d2.tar")));
  const fs::path x = path("x");
  fs::create_directories(x);
  EXPECT_EQ(sh("tar -xf " + quoted(path("d1.tar")) + " -C " + quoted(x) + " 2>&1"), "");
  const fs::path manifest = x / "manifest.json";
  EXPECT_EQ(json_value(manifest, "d[0]['RepoTags']"), "['image:latest']");  // the spec file's stem
  const std::string config_name = json_value(manifest, "d[0]['Config']");
  const std::string layer_name = json_value(manifest, "d[0]['Layers'][0]");
  const fs::path a_config = path("a/blobs/sha256") / config_name.substr(0, 64);
  EXPECT_TRUE(fs::exists(a_config)) << "the docker-archive's config " << config_name << " is not the layout's";
  EXPECT_EQ(slurp(x / config_name), slurp(a_config));
  EXPECT_EQ(layer_name, sha256_hex(slurp(x / layer_name)) + "/layer.tar");
}

TEST_F(OciImageTest, ARebuildReplacesALayoutButNeverAnotherDirectory) {
  build(spec_text("oci", ""), path("img"));
  write_file(path("img/blobs/sha256/stale"), "x");
  build(spec_text("oci", "[oci]\ntag = \"v2\"\n"), path("img"));
  EXPECT_FALSE(fs::exists(path("img/blobs/sha256/stale")));
  EXPECT_NE(slurp(path("img/index.json")).find("\"v2\""), std::string::npos);
  EXPECT_FALSE(fs::exists(path("img.tmp")));
  EXPECT_FALSE(fs::exists(path("img.old")));
  write_file(path("mine/notes.txt"), "keep me");
  EXPECT_THROW(build(spec_text("oci", ""), path("mine")), ImageError);
  EXPECT_EQ(slurp(path("mine/notes.txt")), "keep me");
}

// ------------------------------------------------------------ real tools

TEST_F(OciImageTest, SkopeoInspectsAndCopiesTheLayoutAndTheDockerArchive) {
  if (!have("skopeo")) GTEST_SKIP() << "skopeo is not installed";
  build(spec_text("oci", "[oci]\nports = [8080, \"53/udp\"]\nstop_signal = \"SIGINT\"\nworkdir = \"/srv\"\n"),
        path("img"));
  int status = 0;
  const std::string inspect =
      sh("skopeo inspect oci:" + path("img").string() + ":latest > " + quoted(path("inspect.json")) + " 2>&1", &status);
  ASSERT_EQ(status, 0) << inspect;
  const std::string manifest_digest = json_value(path("img/index.json"), "d['manifests'][0]['digest']");
  EXPECT_EQ(json_value(path("inspect.json"), "d['Digest']"), manifest_digest);
  EXPECT_EQ(json_value(path("inspect.json"), "d['Architecture'], d['Os']"), "amd64 linux");
  EXPECT_EQ(sh("skopeo inspect --config oci:" + path("img").string() + ":latest > " + quoted(path("config.json"))), "");
  EXPECT_EQ(json_value(path("config.json"), "sorted(d['config']['ExposedPorts'])"), "['53/udp', '8080/tcp']");
  EXPECT_EQ(json_value(path("config.json"), "d['config']['StopSignal'], d['config']['WorkingDir']"), "SIGINT /srv");

  // copy to a dir: transport: the same layer and config, by digest.
  const std::string copy =
      sh("skopeo copy oci:" + path("img").string() + ":latest dir:" + path("copy").string() + " 2>&1", &status);
  ASSERT_EQ(status, 0) << copy;
  const fs::path manifest = path("copy/manifest.json");
  for (const std::string& digest :
       {json_value(manifest, "d['config']['digest']"), json_value(manifest, "d['layers'][0]['digest']")}) {
    EXPECT_TRUE(fs::exists(path("img/blobs/sha256") / digest.substr(7))) << digest;
    EXPECT_TRUE(fs::exists(path("copy") / digest.substr(7))) << digest;
  }

  build(spec_text("docker-archive", "[oci]\nname = \"keel/oci-test\"\ntag = \"t1\"\n"), path("img.tar"), 0, "s2");
  const std::string dinspect = sh(
      "skopeo inspect docker-archive:" + path("img.tar").string() + " > " + quoted(path("d.json")) + " 2>&1", &status);
  ASSERT_EQ(status, 0) << dinspect;
  EXPECT_EQ(json_value(path("d.json"), "d['Layers'][0][7:] == d['Layers'][0][7:].lower()"), "True");
  const std::string dcopy = sh(
      "skopeo copy docker-archive:" + path("img.tar").string() + " dir:" + path("dcopy").string() + " 2>&1", &status);
  ASSERT_EQ(status, 0) << dcopy;
  const std::string layer = json_value(path("dcopy/manifest.json"), "d['layers'][0]['digest']");
  EXPECT_EQ("sha256:" + sha256_hex(slurp(path("dcopy") / layer.substr(7))), layer);
}

TEST_F(OciImageTest, UmociUnpacksItAsRootAndRootless) {
  if (!have("umoci")) GTEST_SKIP() << "umoci is not installed";
  if (::geteuid() != 0) GTEST_SKIP() << "umoci unpack with the image's owners needs root";
  build(spec_text("oci", "[oci]\ncompat_links = [\"/usr/bin/dumb-init\"]\n"), path("img"));
  int status = 0;
  const std::string out =
      sh("umoci unpack --image " + path("img").string() + ":latest " + quoted(path("bundle")) + " 2>&1", &status);
  ASSERT_EQ(status, 0) << out;
  const fs::path rootfs = path("bundle/rootfs");
  struct stat st {};
  ASSERT_EQ(::stat((rootfs / "srv/www/index.html").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 33U);
  EXPECT_EQ(st.st_mode & 07777, 0640U);
  EXPECT_EQ(slurp(rootfs / "srv/www/index.html"), "<p>hello</p>\n");
  EXPECT_EQ(fs::read_symlink(rootfs / "usr/bin/dumb-init").string(), "../../sbin/keel");
  EXPECT_EQ(slurp(rootfs / "sbin/keel"), slurp(KEEL_BINARY));
  ASSERT_EQ(::stat((rootfs / "bin/ash").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2U);
  EXPECT_EQ(json_value(path("bundle/config.json"), "d['process']['args']"), "['/sbin/keel', '--role=system']");

  // Rootless: as a uid of its own, which can read the layout and nothing more.
  const uid_t uid = keel::testing::throwaway_uid();
  fs::permissions(dir_.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  fs::create_directories(path("rootless"));
  ASSERT_EQ(::chown(path("rootless").c_str(), uid, uid), 0);
  (void)sh("chmod -R a+rX " + quoted(path("img")));
  const std::string rl =
      sh("cd / && setpriv --reuid=" + std::to_string(uid) + " --regid=" + std::to_string(uid) +
             " --clear-groups env HOME=" + path("rootless").string() + " umoci unpack --rootless --image " +
             path("img").string() + ":latest " + quoted(path("rootless/bundle")) + " 2>&1",
         &status);
  ASSERT_EQ(status, 0) << rl;
  EXPECT_EQ(slurp(path("rootless/bundle/rootfs/srv/www/index.html")), "<p>hello</p>\n");
  ASSERT_EQ(::lstat(path("rootless/bundle/rootfs/sbin/keel").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid);  // rootless: everything is the unpacker's
  EXPECT_EQ(fs::read_symlink(path("rootless/bundle/rootfs/usr/bin/dumb-init")).string(), "../../sbin/keel");
}

TEST_F(OciImageTest, PodmanLoadsTheDockerArchiveIntoAPrivateStore) {
  if (!have("podman")) GTEST_SKIP() << "podman is not installed";
  if (::geteuid() != 0) GTEST_SKIP() << "podman's vfs store with the image's owners needs root";
  build(spec_text("docker-archive", "[oci]\nname = \"keel/oci-test\"\ntag = \"t1\"\n"), path("img.tar"));
  // Its own store: nothing of the machine's images or containers is touched.
  const std::string podman = "podman --root " + path("store/root").string() + " --runroot " +
                             path("store/run").string() + " --storage-driver vfs ";
  int status = 0;
  const std::string load = sh(podman + "load -i " + quoted(path("img.tar")) + " 2>&1", &status);
  ASSERT_EQ(status, 0) << load;
  EXPECT_NE(load.find("Loaded image: localhost/keel/oci-test:t1"), std::string::npos) << load;
  const std::string id = sh(podman + "image inspect --format '{{.Id}}' localhost/keel/oci-test:t1 2>&1", &status);
  ASSERT_EQ(status, 0) << id;
  (void)sh("mkdir -p " + quoted(path("x")) + " && tar -xf " + quoted(path("img.tar")) + " -C " + quoted(path("x")));
  EXPECT_EQ(id + ".json", json_value(path("x/manifest.json"), "d[0]['Config']"));
  EXPECT_EQ(sh(podman + "image inspect --format '{{.Config.Entrypoint}}' localhost/keel/oci-test:t1"),
            "[/sbin/keel --role=system]");
  (void)sh(podman + "rmi -a -f >/dev/null 2>&1");
}

// --------------------------------------------------------------- runc

// A container run by `runc run` (in the foreground, so runc's exit status
// is the container's) with its output in a file, in a runc state directory
// of its own. The destructor kills and deletes it whatever happened.
class RuncContainer {
 public:
  RuncContainer(const fs::path& bundle, const fs::path& work) : bundle_(bundle), state_(work / "runc-state") {
    static std::atomic<int> serial{0};
    name_ = "keel-oci-test-" + std::to_string(::getpid()) + "-" + std::to_string(++serial);
    log_ = work / (name_ + ".log");
  }
  RuncContainer(const RuncContainer&) = delete;
  RuncContainer& operator=(const RuncContainer&) = delete;
  ~RuncContainer() {
    if (pid_ > 0) {
      (void)sh(runc() + "kill " + name_ + " KILL >/dev/null 2>&1");
      (void)wait_exit(std::chrono::seconds(10));
      if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
      }
    }
    (void)sh(runc() + "delete -f " + name_ + " >/dev/null 2>&1");
  }

  void start() {
    fs::create_directories(state_);
    pid_ = ::fork();
    if (pid_ == 0) {
      const int out = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (out < 0 || in < 0) ::_exit(125);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(out, 2);
      ::setsid();  // runc run, without a terminal, forwards the signals it gets; let none reach it from us
      ::execlp("runc", "runc", "--root", state_.c_str(), "run", "--bundle", bundle_.c_str(), name_.c_str(),
               static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }

  // Whether `text` appeared in the output within `limit`.
  bool wait_for(const std::string& text, std::chrono::milliseconds limit) const {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (output().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return output().find(text) != std::string::npos;
  }

  std::string kill(const std::string& signal) const { return sh(runc() + "kill " + name_ + " " + signal + " 2>&1"); }

  // runc's exit status (the container's), or -1 when it is still running
  // after `limit`.
  int wait_exit(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (pid_ > 0) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

  [[nodiscard]] std::string output() const { return slurp(log_); }

 private:
  [[nodiscard]] std::string runc() const { return "runc --root " + quoted(state_) + " "; }

  fs::path bundle_;
  fs::path state_;
  fs::path log_;
  std::string name_;
  pid_t pid_ = -1;
};

class OciRuntimeTest : public OciImageTest {
 protected:
  void SetUp() override {
    OciImageTest::SetUp();
    if (IsSkipped()) return;
    if (::geteuid() != 0) GTEST_SKIP() << "runc runs containers as root here";
    for (const char* tool : {"umoci", "runc"}) {
      if (!have(tool)) GTEST_SKIP() << tool << " is not installed";
    }
    if (!keel_is_static()) GTEST_SKIP() << KEEL_BINARY << " is not static (a sanitizer build)";
  }

  // The image built from `oci`, unpacked by umoci into a bundle whose
  // process runs without a terminal (umoci asks for one; the test has none).
  fs::path bundle(const std::string& oci, const std::string& name) {
    build(spec_text("oci", oci), path(name + "-img"));
    fs::path b = path(name + "-bundle");
    int status = 0;
    const std::string out =
        sh("umoci unpack --image " + path(name + "-img").string() + ":latest " + quoted(b) + " 2>&1", &status);
    EXPECT_EQ(status, 0) << out;
    (void)sh(
        "/usr/bin/python3 -c 'import json,sys; p=sys.argv[1]; c=json.load(open(p)); "
        "c[\"process\"][\"terminal\"]=False; "
        "json.dump(c, open(p, \"w\"))' " +
        quoted(b / "config.json"));
    return b;
  }

  static constexpr std::chrono::seconds kStart{30};
  static constexpr std::chrono::seconds kStop{30};
};

// Where `text` is in `out` (npos when it is not).
std::size_t at(const std::string& out, const std::string& text) { return out.find(text); }

TEST_F(OciRuntimeTest, KeelsSystemRoleStartsTheServicesInOrderAndStopsThemInReverseOnSigterm) {
  RuncContainer c(bundle("", "system"), dir_.path());
  c.start();
  ASSERT_TRUE(c.wait_for("second: started", kStart)) << c.output();
  ASSERT_TRUE(c.wait_for("keel: second: ready", kStart)) << c.output();
  EXPECT_EQ(c.kill("SIGTERM"), "");
  const int status = c.wait_exit(kStop);
  const std::string out = c.output();
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(at(out, "running as the system's init (pid 1)"), std::string::npos) << out;
  // Started in dependency order...
  ASSERT_NE(at(out, "first: started"), std::string::npos) << out;
  EXPECT_LT(at(out, "keel: first: ready"), at(out, "keel: second: started")) << out;
  EXPECT_LT(at(out, "first: started"), at(out, "second: started")) << out;
  // ... and stopped in reverse: second has exited before first is told.
  ASSERT_NE(at(out, "keel: second: stopped"), std::string::npos) << out;
  ASSERT_NE(at(out, "keel: first: stopping"), std::string::npos) << out;
  EXPECT_LT(at(out, "keel: second: stopped"), at(out, "keel: first: stopping")) << out;
  EXPECT_LT(at(out, "second: stopping\n"), at(out, "first: stopping\n")) << out;
  EXPECT_NE(at(out, "power-off of a container: keel exits with status 0"), std::string::npos) << out;
}

TEST_F(OciRuntimeTest, KeelAsTheContainerInitRunsTheCmdAndExitsWithItsStatus) {
  RuncContainer c(bundle(R"([oci]
cmd = ["/bin/sh", "-c", "trap 'echo main: TERM; exit 3' TERM; echo main: pid $$; while :; do sleep 0.05; done"]
env = { GREETING = "hello" }
workdir = "/srv/www"
)",
                         "cinit"),
                  dir_.path());
  EXPECT_EQ(json_value(path("cinit-bundle/config.json"), "d['process']['args']"),
            "['/sbin/keel', '--', '/bin/sh', '-c', \"trap 'echo main: TERM; exit 3' TERM; echo main: pid $$; while "
            ":; do sleep 0.05; done\"]");
  EXPECT_EQ(
      json_value(path("cinit-bundle/config.json"), "d['process']['cwd'], 'GREETING=hello' in d['process']['env']"),
      "/srv/www True");
  c.start();
  ASSERT_TRUE(c.wait_for("main: pid", kStart)) << c.output();
  EXPECT_EQ(c.kill("SIGTERM"), "");
  const int status = c.wait_exit(kStop);
  EXPECT_EQ(status, 3) << c.output();  // the program's status, through keel and runc
  EXPECT_NE(c.output().find("main: TERM"), std::string::npos) << c.output();
  // keel is PID 1, the program its child (not PID 1 itself).
  EXPECT_EQ(c.output().find("main: pid 1\n"), std::string::npos) << c.output();
}

TEST_F(OciRuntimeTest, TheTiniAndDumbInitNamesTakeThosePersonalities) {
  const std::string child =
      R"(["/bin/sh", "-c", "trap 'echo child: TERM; exit 0' TERM; echo child: up; while :; do sleep 0.05; done"])";
  {
    RuncContainer c(bundle("[oci]\ncompat_links = [\"/sbin/tini\"]\nentrypoint = [\"/sbin/tini\", \"--\"]\ncmd = " +
                               child + "\nenv = { TINI_VERBOSITY = \"3\" }\n",
                           "tini"),
                    dir_.path());
    c.start();
    ASSERT_TRUE(c.wait_for("child: up", kStart)) << c.output();
    EXPECT_EQ(c.kill("SIGTERM"), "");
    EXPECT_EQ(c.wait_exit(kStop), 0) << c.output();
    // tini's own words, at its verbosity 3, from PID 1.
    EXPECT_NE(c.output().find("[INFO  tini (1)] Spawned child process '/bin/sh' with pid '"), std::string::npos)
        << c.output();
    EXPECT_NE(c.output().find("child: TERM"), std::string::npos) << c.output();
  }
  {
    RuncContainer c(bundle("[oci]\ncompat_links = [\"/usr/bin/dumb-init\"]\nentrypoint = [\"/usr/bin/dumb-init\"]\n"
                           "cmd = " +
                               child + "\nenv = { DUMB_INIT_DEBUG = \"1\" }\n",
                           "dumb"),
                    dir_.path());
    c.start();
    ASSERT_TRUE(c.wait_for("child: up", kStart)) << c.output();
    EXPECT_EQ(c.kill("SIGTERM"), "");
    EXPECT_EQ(c.wait_exit(kStop), 0) << c.output();
    EXPECT_NE(c.output().find("[dumb-init] Child spawned with PID "), std::string::npos) << c.output();
    EXPECT_NE(c.output().find("[dumb-init] Received signal 15."), std::string::npos) << c.output();
    EXPECT_NE(c.output().find("child: TERM"), std::string::npos) << c.output();
  }
  // Without compat_links the names are not there: such an image fails to start.
  build(spec_text("oci", "[oci]\nentrypoint = [\"/sbin/tini\", \"--\"]\ncmd = " + child + "\n"), path("none-img"));
  const fs::path blobs = path("none-img/blobs/sha256");
  const fs::path manifest = blobs / json_value(path("none-img/index.json"), "d['manifests'][0]['digest'][7:]");
  const std::string listing = tar_entries(blobs / json_value(manifest, "d['layers'][0]['digest'][7:]"));
  EXPECT_EQ(listing.find("sbin/tini"), std::string::npos) << listing;
}

}  // namespace
}  // namespace keel::image
