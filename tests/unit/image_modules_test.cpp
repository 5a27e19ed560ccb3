// Tests of the kernel module resolver (src/image/modules.hpp).
//
// Synthetic trees: tiny relocatable objects (g++ -c of an empty file) given
// a .modinfo section with objcopy --add-section, so every case runs without
// a kernel. Then the real Debian kernel tree unpacked by
// scripts/fetch-kernel.sh into build/kernel-cache/current (skipped, saying
// how to fetch it, when absent).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "image/diagnostic.hpp"
#include "image/modules.hpp"
#include "test_util.hpp"

namespace keel::image {
namespace {

namespace fs = std::filesystem;

using testutil::quoted;

// A scratch directory, keel-modules-XXXXXX.
struct TempDir : testutil::TempDir {
  TempDir() : testutil::TempDir("keel-modules-") {}
};

// A fake module: an empty ELF object with .modinfo holding `entries`.
class FakeTree {
 public:
  FakeTree() : dir_(tmp_.path() / "lib/modules/6.1.0-test") {
    fs::create_directories(dir_ / "kernel");
    std::ofstream(tmp_.path() / "empty.cpp").close();
    const std::string cmd = "g++ -c -x c++ " + quoted(tmp_.path() / "empty.cpp") + " -o " + quoted(empty());
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("cannot compile an empty object: " + cmd);
  }

  void add(const std::string& relative, const std::vector<std::string>& entries) {
    const fs::path file = dir_ / relative;
    fs::create_directories(file.parent_path());
    const fs::path info = tmp_.path() / "modinfo.bin";
    {
      std::ofstream out(info, std::ios::binary);
      for (const std::string& entry : entries) out << entry << '\0';
    }
    const std::string cmd = "objcopy --add-section .modinfo=" + quoted(info) +
                            " --set-section-flags .modinfo=alloc,readonly " + quoted(empty()) + " " + quoted(file);
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("objcopy failed: " + cmd);
  }

  [[nodiscard]] const fs::path& dir() const { return dir_; }
  [[nodiscard]] const fs::path& root() const { return tmp_.path(); }

 private:
  [[nodiscard]] fs::path empty() const { return tmp_.path() / "empty.o"; }
  TempDir tmp_;
  fs::path dir_;
};

std::vector<std::string> names(const std::vector<ModuleInfo>& modules) {
  std::vector<std::string> out;
  for (const ModuleInfo& m : modules) out.push_back(m.name);
  return out;
}

std::size_t position(const std::vector<std::string>& order, const std::string& name) {
  return static_cast<std::size_t>(std::find(order.begin(), order.end(), name) - order.begin());
}

TEST(ImageModules, CanonicalName) {
  EXPECT_EQ(canonical_module_name("virtio-rng"), "virtio_rng");
  EXPECT_EQ(canonical_module_name("9pnet_virtio"), "9pnet_virtio");
  EXPECT_EQ(canonical_module_name("a-b_c-d"), "a_b_c_d");
}

TEST(ImageModules, ReadsModinfoInOrder) {
  FakeTree tree;
  tree.add("kernel/fs/foo.ko", {"license=GPL", "alias=fs-foo", "alias=foo2", "depends=bar,baz-qux", "name=foo",
                                "vermagic=6.1.0-test SMP mod_unload"});
  const auto entries = read_modinfo(tree.dir() / "kernel/fs/foo.ko");
  ASSERT_EQ(entries.size(), 6u);
  EXPECT_EQ(entries[0], (std::pair<std::string, std::string>{"license", "GPL"}));
  EXPECT_EQ(entries[3], (std::pair<std::string, std::string>{"depends", "bar,baz-qux"}));

  ModuleTree modules(tree.dir());
  const ModuleInfo& foo = modules.info("foo");
  EXPECT_EQ(foo.name, "foo");
  EXPECT_EQ(foo.relative, "kernel/fs/foo.ko");
  EXPECT_EQ(foo.depends, (std::vector<std::string>{"bar", "baz_qux"}));
  EXPECT_EQ(foo.aliases, (std::vector<std::string>{"fs-foo", "foo2"}));
  EXPECT_EQ(foo.vermagic, "6.1.0-test SMP mod_unload");
}

TEST(ImageModules, ClosureAndOrderPutDependenciesFirst) {
  FakeTree tree;
  // top -> mid_a, mid_b; mid_a -> base; mid_b -> base, leaf; base -> (none)
  tree.add("kernel/top.ko", {"depends=mid_a,mid_b", "name=top"});
  tree.add("kernel/a/mid_a.ko", {"depends=base", "name=mid_a"});
  tree.add("kernel/b/mid_b.ko", {"depends=base,leaf", "name=mid_b"});
  tree.add("kernel/base.ko", {"depends=", "name=base"});
  tree.add("kernel/leaf.ko", {"depends=", "name=leaf"});
  tree.add("kernel/unrelated.ko", {"depends=", "name=unrelated"});
  ModuleTree modules(tree.dir());
  EXPECT_EQ(modules.size(), 6u);
  const auto order = names(modules.resolve({"top"}));
  EXPECT_EQ(order, (std::vector<std::string>{"base", "mid_a", "leaf", "mid_b", "top"}));
  // Deterministic, and each module once even when asked twice.
  EXPECT_EQ(names(modules.resolve({"top", "base", "top"})), order);
  EXPECT_EQ(names(modules.resolve({"leaf", "top"})),
            (std::vector<std::string>{"leaf", "base", "mid_a", "mid_b", "top"}));
}

TEST(ImageModules, DashAndUnderscoreAreOneName) {
  FakeTree tree;
  tree.add("kernel/drivers/virtio-thing.ko", {"depends=core-lib", "name=virtio_thing"});
  tree.add("kernel/lib/core_lib.ko", {"depends=", "name=core_lib"});
  ModuleTree modules(tree.dir());
  for (const char* asked : {"virtio-thing", "virtio_thing"}) {
    const auto order = modules.resolve({asked});
    ASSERT_EQ(order.size(), 2u) << asked;
    EXPECT_EQ(order[0].name, "core_lib");
    EXPECT_EQ(order[1].name, "virtio_thing");
    EXPECT_EQ(order[1].relative, "kernel/drivers/virtio-thing.ko");
  }
  EXPECT_EQ(modules.info("core-lib").name, "core_lib");
}

TEST(ImageModules, CycleIsAnError) {
  FakeTree tree;
  tree.add("kernel/a.ko", {"depends=b", "name=a"});
  tree.add("kernel/b.ko", {"depends=c", "name=b"});
  tree.add("kernel/c.ko", {"depends=a", "name=c"});
  ModuleTree modules(tree.dir());
  try {
    modules.resolve({"a"});
    FAIL() << "no error for a cycle";
  } catch (const ImageError& e) {
    EXPECT_NE(std::string(e.what()).find("cycle: a -> b -> c -> a"), std::string::npos) << e.what();
  }
}

TEST(ImageModules, UnknownModuleIsAnErrorNamingItAndTheTree) {
  FakeTree tree;
  tree.add("kernel/a.ko", {"depends=missing-dep", "name=a"});
  ModuleTree modules(tree.dir());
  try {
    modules.resolve({"nosuch"});
    FAIL() << "no error for an unknown module";
  } catch (const ImageError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("unknown kernel module 'nosuch'"), std::string::npos) << message;
    EXPECT_NE(message.find(tree.dir().string()), std::string::npos) << message;
  }
  try {
    modules.resolve({"a"});
    FAIL() << "no error for an unknown dependency";
  } catch (const ImageError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("unknown kernel module 'missing_dep' (a dependency of a)"), std::string::npos) << message;
  }
}

TEST(ImageModules, BuiltinModulesNeedNoLoading) {
  FakeTree tree;
  tree.add("kernel/a.ko", {"depends=", "name=a"});
  std::ofstream(tree.dir() / "modules.builtin") << "kernel/drivers/tty/serial/8250/8250.ko\nkernel/fs/ext4/ext4.ko\n";
  ModuleTree modules(tree.dir());
  EXPECT_TRUE(modules.builtin("ext4"));
  EXPECT_FALSE(modules.builtin("a"));
  EXPECT_EQ(names(modules.resolve({"ext4", "a"})), (std::vector<std::string>{"a"}));
}

TEST(ImageModules, UpdatesDirectoryWins) {
  FakeTree tree;
  tree.add("kernel/x.ko", {"depends=", "name=x"});
  tree.add("updates/x.ko", {"depends=", "name=x"});
  ModuleTree modules(tree.dir());
  EXPECT_EQ(modules.info("x").relative, "updates/x.ko");
}

TEST(ImageModules, NotAModuleAndCompressedAreErrors) {
  FakeTree tree;
  std::ofstream(tree.dir() / "kernel/text.ko") << "not an ELF file at all";
  std::ofstream(tree.dir() / "kernel/packed.ko.xz") << "xz data";
  ModuleTree modules(tree.dir());
  EXPECT_THROW(modules.info("text"), ImageError);
  try {
    modules.info("packed");
    FAIL() << "no error for a compressed module";
  } catch (const ImageError& e) {
    EXPECT_NE(std::string(e.what()).find("CONFIG_MODULE_DECOMPRESS"), std::string::npos) << e.what();
  }
  // An object without .modinfo.
  const std::string cmd = "cp " + quoted(tree.root() / "empty.o") + " " + quoted(tree.dir() / "kernel/plain.ko");
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  ModuleTree again(tree.dir());
  EXPECT_THROW(again.info("plain"), ImageError);
}

TEST(ImageModules, ModuleDirFindsTheOnlyVersion) {
  FakeTree tree;
  EXPECT_EQ(ModuleTree::module_dir(tree.root()), tree.dir());
  EXPECT_EQ(ModuleTree::module_dir(tree.root(), "6.1.0-test"), tree.dir());
  EXPECT_THROW(ModuleTree::module_dir(tree.root(), "5.10.0-none"), ImageError);
  EXPECT_THROW(ModuleTree(tree.root() / "nowhere"), ImageError);
}

// The kernel unpacked by scripts/fetch-kernel.sh, with its modules.
fs::path kernel_cache() { return testutil::kernel_cache("lib/modules"); }

TEST(ImageModulesDebianKernel, Ext4Virtio9p) {
  const fs::path cache = kernel_cache();
  if (cache.empty()) GTEST_SKIP() << "no unpacked kernel: run scripts/fetch-kernel.sh (build/kernel-cache/current)";
  ModuleTree modules(ModuleTree::module_dir(cache));
  EXPECT_GT(modules.size(), 1000u);

  const auto ext4 = names(modules.resolve({"ext4"}));
  ASSERT_FALSE(ext4.empty());
  EXPECT_EQ(ext4.back(), "ext4");
  EXPECT_LT(position(ext4, "jbd2"), position(ext4, "ext4"));
  EXPECT_LT(position(ext4, "mbcache"), position(ext4, "ext4"));
  EXPECT_LT(position(ext4, "crc16"), position(ext4, "ext4"));
  EXPECT_NE(modules.info("ext4").softdep.find("crc32c"), std::string::npos);

  const auto p9 = names(modules.resolve({"9pnet-virtio", "9p"}));
  EXPECT_LT(position(p9, "9pnet"), position(p9, "9pnet_virtio"));
  EXPECT_LT(position(p9, "virtio_ring"), position(p9, "9pnet_virtio"));
  EXPECT_LT(position(p9, "virtio_ring"), position(p9, "virtio"));  // virtio: depends=virtio_ring
  EXPECT_LT(position(p9, "virtio"), position(p9, "9pnet_virtio"));
  EXPECT_LT(position(p9, "netfs"), position(p9, "9p"));
  EXPECT_EQ(p9.back(), "9p");

  const auto rng = modules.resolve({"virtio-rng"});
  ASSERT_FALSE(rng.empty());
  EXPECT_EQ(rng.back().name, "virtio_rng");
  EXPECT_EQ(rng.back().relative, "kernel/drivers/char/hw_random/virtio-rng.ko");
  EXPECT_EQ(rng.back().vermagic.rfind(modules.dir().filename().string(), 0), 0u) << rng.back().vermagic;

  // Every module after all of its dependencies.
  const auto all = modules.resolve({"ext4", "9p", "9pnet_virtio", "virtio_rng", "virtio_blk", "virtio_pci"});
  std::vector<std::string> seen;
  for (const ModuleInfo& m : all) {
    for (const std::string& dep : m.depends)
      EXPECT_NE(std::find(seen.begin(), seen.end(), dep), seen.end()) << m.name << " before " << dep;
    seen.push_back(m.name);
  }
  EXPECT_THROW(modules.resolve({"no_such_module_here"}), ImageError);
}

}  // namespace
}  // namespace keel::image
