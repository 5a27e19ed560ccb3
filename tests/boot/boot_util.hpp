// boot_util.hpp — what the QEMU boot tests share: the cached kernel and its
// modules (scripts/fetch-kernel.sh fills the cache).
#pragma once

#include <filesystem>
#include <string>
#include <system_error>

#include "../unit/test_util.hpp"

namespace keel::boottest {

// The cached kernel: the PVH vmlinux first (QEMU enters it directly, with no
// decompression), else the vmlinuz; empty when there is no cache.
inline std::filesystem::path cached_kernel() {
  namespace fs = std::filesystem;
  const fs::path cache = testutil::kernel_cache("boot");
  if (cache.empty()) return {};
  for (const std::string prefix : {"vmlinux-", "vmlinuz-"}) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(cache / "boot", ec)) {
      if (entry.path().filename().string().starts_with(prefix)) return entry.path();
    }
  }
  return {};
}

// The cached kernel's module tree (lib/modules/VERSION), or empty.
inline std::filesystem::path cached_modules() {
  namespace fs = std::filesystem;
  const fs::path cache = testutil::kernel_cache("lib/modules");
  std::error_code ec;
  if (cache.empty() || !fs::is_directory(cache / "lib/modules", ec)) return {};
  for (const auto& entry : fs::directory_iterator(cache / "lib/modules", ec)) return entry.path();
  return {};
}

}  // namespace keel::boottest
