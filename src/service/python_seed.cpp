// python_seed.cpp — see python_seed.hpp.
#include "service/python_seed.hpp"

namespace keel::service {

void mark_python_programs(LoadResult& loaded, const std::string& config_dir) {
  for (ServiceConfig& c : loaded.services) {
    if (!c.python_hash_seed || c.command.empty()) continue;
    std::string path = kDefaultProgramPath;
    for (const auto& [k, v] : c.environment) {
      if (k == "PATH") path = v;
    }
    c.python_program = is_python_program(c.command.front(), path);
  }
  if (!config_dir.empty()) loaded.main_python = is_python_program(config_dir + "/main", "");
}

void apply_python_hash_seed_default(LoadResult& loaded, bool keel_toml_default) {
  if (keel_toml_default) return;
  for (ServiceConfig& c : loaded.services) {
    if (c.python_hash_seed_given) continue;  // the service's own key wins
    c.python_hash_seed = false;
    c.python_program = false;
  }
  loaded.main_python = false;  // main.toml, when there is one, is a service above
}

}  // namespace keel::service
