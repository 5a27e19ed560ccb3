// binary_layout_test.cpp — the built keel binary's shape, read from its ELF
// headers: what makes its resident memory small must stay true.
//
// The figures themselves (VmRSS as a container init) belong to bench/run;
// these are the properties they rest on, which a change can break silently:
// a static non-PIE executable (no loader, no relocated pointers), and little
// initialised data in the file (every role maps it; a large default-
// initialised table once put 128 KiB there).
#include <elf.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace keel::systest {
namespace {

std::vector<char> read_binary() {
  std::ifstream in(KEEL_BINARY, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Elf64_Ehdr header_of(const std::vector<char>& file) {
  Elf64_Ehdr h{};
  if (file.size() >= sizeof h) std::memcpy(&h, file.data(), sizeof h);
  return h;
}

std::vector<Elf64_Phdr> segments_of(const std::vector<char>& file, const Elf64_Ehdr& h) {
  std::vector<Elf64_Phdr> out;
  for (unsigned i = 0; i < h.e_phnum; ++i) {
    const std::size_t at = h.e_phoff + std::size_t{i} * h.e_phentsize;
    if (at + sizeof(Elf64_Phdr) > file.size()) break;
    Elf64_Phdr p{};
    std::memcpy(&p, file.data() + at, sizeof p);
    out.push_back(p);
  }
  return out;
}

TEST(BinaryLayout, KeelIsAStaticNonPieExecutable) {
  const std::vector<char> file = read_binary();
  ASSERT_GE(file.size(), sizeof(Elf64_Ehdr));
  const Elf64_Ehdr h = header_of(file);
  ASSERT_EQ(std::memcmp(h.e_ident, ELFMAG, SELFMAG), 0);
  // ET_EXEC: linked at a fixed address, so nothing in it is relocated at
  // start-up (a PIE would write every pointer in .data.rel.ro).
  EXPECT_EQ(h.e_type, ET_EXEC);
  for (const Elf64_Phdr& p : segments_of(file, h)) {
    EXPECT_NE(p.p_type, static_cast<std::uint32_t>(PT_INTERP)) << "keel asks for a dynamic loader";
    EXPECT_NE(p.p_type, static_cast<std::uint32_t>(PT_DYNAMIC)) << "keel has a dynamic section";
  }
}

TEST(BinaryLayout, InitialisedWritableDataIsSmall) {
  const std::vector<char> file = read_binary();
  ASSERT_GE(file.size(), sizeof(Elf64_Ehdr));
  const Elf64_Ehdr h = header_of(file);
  std::uint64_t writable_in_file = 0;
  for (const Elf64_Phdr& p : segments_of(file, h)) {
    if (p.p_type == PT_LOAD && (p.p_flags & PF_W) != 0) writable_in_file += p.p_filesz;
  }
  // Today about 38 KiB (glibc's and libstdc++'s tables, vtables, the GOT).
  // Zero-initialised storage belongs in .bss, which costs nothing until it
  // is written; a table with non-null defaults lands here instead.
  EXPECT_GT(writable_in_file, 0u);
  EXPECT_LT(writable_in_file, 64u * 1024u) << "writable data in the file: " << writable_in_file << " bytes";
}

}  // namespace
}  // namespace keel::systest
