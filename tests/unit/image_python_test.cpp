// The [python] section (src/image/python.hpp): a spec with a small script
// planned and checked (interpreter, its libraries, json's .pyc files
// sourceless and hash-based, _json from lib-dynload, no ssl), include /
// exclude / optional, an unknown include's error with its line, and one real
// boot in QEMU: keel runs a Python script that prints JSON.
//
// Needs Debian's /usr/bin/python3 (3.11; skipped without). The boot test
// needs the kernel cache (scripts/fetch-kernel.sh) and a static keel.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "image/builder.hpp"
#include "image/cpio.hpp"
#include "image/diagnostic.hpp"
#include "image/elf.hpp"
#include "image/qemu.hpp"
#include "image/spec.hpp"
#include "test_util.hpp"

namespace keel::image {
namespace {

namespace fs = std::filesystem;

using testutil::write_file;

constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kStdlib = "/usr/lib/python3.11";

class PythonImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kPython) || !fs::is_directory(fs::path(kStdlib) / "lib-dynload")) {
      GTEST_SKIP() << "needs Debian's python3.11 at " << kPython;
    }
    write_file(dir_.path() / "main.py", "import json, os, sys\nprint(\"PYTHON-OK\", json.dumps({\"a\": 1}))\n");
  }

  ImagePlan plan(const std::string& python_section) {
    const fs::path spec = dir_.path() / "spec.toml";
    write_file(spec, python_section);
    return plan_image(parse_spec_file(spec));
  }

  static std::map<std::string, ImageEntry> by_path(const ImagePlan& plan) {
    std::map<std::string, ImageEntry> out;
    for (const ImageEntry& e : plan.entries) out[e.path] = e;
    return out;
  }

  testutil::TempDir dir_{"keel-python-"};
};

constexpr const char* kSection = R"([python]
scripts = [{ source = "main.py", path = "/opt/app/main.py" }]
)";

TEST_F(PythonImageTest, PlanHasInterpreterLibrariesAndTheModulesTheScriptImports) {
  const ImagePlan p = plan(kSection);
  const auto e = by_path(p);
  const std::string interp = fs::canonical(kPython).string();  // /usr/bin/python3.11
  ASSERT_TRUE(e.count(interp)) << interp;
  EXPECT_EQ(e.at(interp).kind, EntryKind::File);
  EXPECT_EQ(e.at(interp).mode, 0755u);
  if (interp != kPython) {
    ASSERT_TRUE(e.count(kPython));
    EXPECT_EQ(e.at(kPython).kind, EntryKind::Symlink);
    EXPECT_EQ(e.at(kPython).target, fs::path(interp).filename().string());
  }
  // Its closure: libc (Debian's python3.11 has libpython linked in; a
  // libpython3.11.so, when the interpreter needs one, comes the same way).
  EXPECT_TRUE(e.count("/usr/lib/x86_64-linux-gnu/libc.so.6"));
  for (const ResolvedLibrary& lib : elf_closure(interp).libraries) EXPECT_TRUE(e.count(lib.canonical)) << lib.canonical;

  // json as sourceless .pyc where the .py would be; no .py, no __pycache__.
  const std::string lib = kStdlib;
  for (const char* m : {"json/__init__", "json/decoder", "json/encoder", "json/scanner", "os", "posixpath",
                        "encodings/__init__", "encodings/utf_8", "codecs", "abc", "io", "re/__init__"}) {
    const std::string pyc = lib + "/" + m + ".pyc";
    ASSERT_TRUE(e.count(pyc)) << pyc;
    ASSERT_TRUE(e.at(pyc).content.has_value());
    const std::string& bytes = *e.at(pyc).content;
    ASSERT_GE(bytes.size(), 16u);
    // PEP 552 header: magic, flags = 1 (hash-based, unchecked), source hash.
    EXPECT_EQ(bytes.substr(2, 2), std::string("\r\n"));
    EXPECT_EQ(bytes.substr(4, 4), std::string("\x01\0\0\0", 4)) << pyc;
    EXPECT_FALSE(e.count(lib + "/" + m + ".py")) << m;
  }
  // _json is an extension module on Debian: copied from lib-dynload.
  bool json_ext = false, any_ssl = false, any_pycache = false;
  for (const auto& [path, entry] : e) {
    if (path.starts_with(lib + "/lib-dynload/_json.")) json_ext = entry.kind == EntryKind::File;
    if (path == lib + "/ssl.pyc" || path.starts_with(lib + "/lib-dynload/_ssl.") ||
        path.starts_with(lib + "/lib-dynload/_hashlib.") || path.find("libssl") != std::string::npos ||
        path.find("libcrypto") != std::string::npos) {
      any_ssl = true;
    }
    if (path.find("__pycache__") != std::string::npos) any_pycache = true;
  }
  EXPECT_TRUE(json_ext);
  EXPECT_FALSE(any_ssl);
  EXPECT_FALSE(any_pycache);
  // Lazy imports inside stdlib functions are not followed.
  EXPECT_FALSE(e.count(lib + "/pydoc.pyc"));
  EXPECT_FALSE(e.count(lib + "/unittest/__init__.pyc"));
  ASSERT_TRUE(e.count("/opt/app/main.py"));
  EXPECT_EQ(e.at("/opt/app/main.py").source, dir_.path() / "main.py");

  // The size report: a header, then the modules, largest first.
  auto first = std::find_if(p.notes.begin(), p.notes.end(),
                            [](const std::string& n) { return n.starts_with("[python] adds "); });
  ASSERT_NE(first, p.notes.end());
  EXPECT_NE(std::find_if(first, p.notes.end(), [](const std::string& n) { return n.ends_with("\tjson"); }),
            p.notes.end());
  EXPECT_NE(std::find_if(first, p.notes.end(), [](const std::string& n) { return n.ends_with("\t(libc.so.6)"); }),
            p.notes.end());
}

TEST_F(PythonImageTest, IncludeExcludeAndOptionalParts) {
  write_file(dir_.path() / "net.py",
             "import ssl\nimport base64\ntry:\n    import no_such_package_xyz\nexcept ImportError:\n    pass\n");
  const std::string lib = kStdlib;
  {
    const ImagePlan p = plan(R"([python]
scripts = [{ source = "net.py", path = "/net.py" }]
include = ["textwrap"]
exclude = ["base64"]
)");
    const auto e = by_path(p);
    // A module the stdlib lacks is a note, not an error.
    EXPECT_NE(std::find_if(p.notes.begin(), p.notes.end(),
                           [](const std::string& n) { return n.find("'no_such_package_xyz'") != std::string::npos; }),
              p.notes.end());
    EXPECT_TRUE(e.count(lib + "/textwrap.pyc"));
    EXPECT_FALSE(e.count(lib + "/base64.pyc"));
    EXPECT_FALSE(e.count(lib + "/ssl.pyc"));  // imported, but optional and not asked for
  }
  {
    const auto e = by_path(plan(R"([python]
scripts = [{ source = "net.py", path = "/net.py" }]
optional = ["ssl"]
)"));
    EXPECT_TRUE(e.count(lib + "/ssl.pyc"));
    EXPECT_TRUE(e.count(lib + "/base64.pyc"));
    bool ssl_ext = false;
    for (const auto& [path, entry] : e) ssl_ext |= path.starts_with(lib + "/lib-dynload/_ssl.");
    EXPECT_TRUE(ssl_ext);
  }
}

TEST_F(PythonImageTest, UnknownIncludeIsAnErrorAtTheSectionLine) {
  try {
    (void)plan("\n[python]\ninclude = [\"no_such_module_xyz\"]\n");
    FAIL() << "planned";
  } catch (const ImageError& e) {
    EXPECT_EQ(e.line(), 2);
    EXPECT_NE(std::string(e.what()).find("no_such_module_xyz"), std::string::npos) << e.what();
  }
}

TEST_F(PythonImageTest, TwoPlansGiveTheSamePycBytes) {
  const auto a = by_path(plan(kSection));
  const auto b = by_path(plan(kSection));
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [path, entry] : a) {
    ASSERT_TRUE(b.count(path)) << path;
    EXPECT_EQ(entry.content, b.at(path).content) << path;
  }
}

fs::path cached_kernel() {
  const fs::path boot = testutil::kernel_cache("boot") / "boot";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(boot, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("vmlinuz-") || name.starts_with("vmlinux-")) return entry.path();
  }
  return {};
}

// keel as /init runs /etc/keel/main: the entry script itself, a #! script
// for the interpreter with -I (the kernel passes one argument; -IS would
// also skip site), which prints JSON; then keel powers off.
TEST_F(PythonImageTest, PythonImageRunsItsScriptUnderKeelInQemu) {
  const fs::path kernel = cached_kernel();
  if (kernel.empty()) GTEST_SKIP() << "no kernel cache: run scripts/fetch-kernel.sh";
  if (testutil::run("command -v qemu-system-x86_64").empty()) GTEST_SKIP() << "qemu-system-x86_64 is not installed";
  if (!read_elf(KEEL_BINARY).is_static()) GTEST_SKIP() << KEEL_BINARY << " is not static (a sanitizer build)";
  write_file(dir_.path() / "boot.py",
             "#!/usr/bin/python3 -I\nimport json, os, sys\nprint(\"PYTHON-OK\", json.dumps({\"a\": 1}), "
             "sys.version.split()[0])\n");
  const fs::path spec = dir_.path() / "py.toml";
  write_file(spec, std::string(R"([output]
compression = "zstd"

[keel]
binary = ")") + KEEL_BINARY +
                       R"("

[python]
scripts = [{ source = "boot.py", path = "/etc/keel/main" }]
)");
  BuildOptions build;
  build.output = dir_.path() / "py.cpio.zst";
  build.mtime = 0;
  std::ostringstream notes;
  build.log = &notes;
  const BuildResult image = build_image(spec, build);
  EXPECT_LE(image.compressed, 5u * 1024 * 1024) << notes.str();  // issue 3's target

  BootOptions options;
  options.kernel = kernel;
  options.initrd = image.output;
  options.expect = {"keel: main: started \\(pid [0-9]+\\)", "PYTHON-OK \\{\"a\": 1\\}",
                    "keel: main: pid [0-9]+ exited with status 0", "keel: syncing filesystems, then power-off"};
  options.timeout = std::chrono::seconds(60);
  options.accel = Accel::Tcg;
  std::ostringstream console, log;
  const BootResult result = boot(options, console, log);
  std::cout << "python image: " << image.compressed << " bytes zstd (" << image.bytes << " raw), boot to power-off "
            << result.elapsed.count() << " ms (TCG)\n";
  EXPECT_TRUE(result.passed()) << result.message << "\n" << log.str() << console.str();
}

}  // namespace
}  // namespace keel::image
