// python_seed.hpp — PYTHONHASHSEED for the Python services and main program
// the supervisor starts (issue 14; docs/services.md, "Python services").
// Why a seed keel draws is enough, and how a program is found to be Python:
// core/python_program.hpp (shared with the container init).
#pragma once

#include <string>

#include "core/python_program.hpp"
#include "service/config.hpp"

namespace keel::service {

using keel::draw_python_hash_seed;
using keel::is_python_name;
using keel::is_python_program;

// Sets python_program on each service whose argv[0] (looked up in its own
// PATH, else keel's default one) is Python, and `main_python` for
// CONFIG_DIR/main. Reads the programs' first bytes: called where the files
// are parsed (the loader child), never in PID 1's loop.
void mark_python_programs(LoadResult& loaded, const std::string& config_dir);

// keel.toml's `python_hash_seed` (the default for every service): when
// false, every service whose file does not set the key, and the
// CONFIG_DIR/main shorthand, gets no seed. Called by the loader after
// mark_python_programs.
void apply_python_hash_seed_default(LoadResult& loaded, bool keel_toml_default);

}  // namespace keel::service
