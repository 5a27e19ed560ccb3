// module_loader.hpp — kernel modules an image asks for, loaded at boot.
//
// keel-image resolves the modules of a spec and their dependencies on the
// host and writes the load order into the image as CONFIG_DIR/modules.load:
// one absolute path of a .ko per line, dependencies first ('#' comments and
// blank lines allowed). keel loads them in that order with finit_module(2);
// no modprobe, no modules.dep in the image. A module that fails (already
// loaded, missing, refused) is logged and the rest still load.
#pragma once

namespace keel {

struct ModuleLoadResult {
  int loaded = 0;
  int failed = 0;
};

// `list_path` missing is not an error (no modules asked for).
ModuleLoadResult load_listed_modules(const char* list_path) noexcept;

}  // namespace keel
