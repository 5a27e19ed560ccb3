// subprocess.hpp — running a host tool from keel-image (mke2fs, debugfs,
// the host's python3) and collecting what it said.
//
// One way for every caller: posix_spawnp (nothing runs between fork and
// exec in our code), stdin from /dev/null, stdout and stderr into files in
// a scratch directory (no pipe to drain while waiting), the environment
// plus the caller's NAME=value overrides.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace keel::image {

struct ToolRun {
  int exit_code = -1;  // -1: it could not be started, or a signal killed it
  std::string out;
  std::string err;     // also the reason it could not be started
};

// argv[0] is looked up in PATH. `scratch` must be a writable directory;
// its files "stdout" and "stderr" are overwritten.
[[nodiscard]] ToolRun run_tool(const std::vector<std::string>& argv, const std::filesystem::path& scratch,
                               const std::vector<std::string>& extra_env = {});

}  // namespace keel::image
