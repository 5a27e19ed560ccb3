// service_set.hpp — the service files together, as keel will run them.
//
// One file is checked by service/config's parser; what needs every file is
// checked here: keel's built-in services added beside the files (a file of
// a built-in's name is ignored, as the supervisor does), then the
// dependency graph (service/graph.hpp): a missing requirement or a cycle is
// an error (those services are not started), a missing `wants`, `after`
// or `before` a warning (harmless). `keel check` (system/config_check.hpp)
// and keel-image's build-time check (image/service_check.hpp) both use it,
// so they cannot disagree with each other or with a boot.
#pragma once

#include <vector>

#include "service/config.hpp"
#include "service/graph.hpp"

namespace keel::service {

struct SetProblem {
  ConfigError error;
  bool fatal = false;  // an error (the service cannot start), else a warning
};

struct SetCheck {
  std::vector<ServiceConfig> services;  // the files', then the built-in ones
  Graph graph;                          // indices as in `services`
  std::vector<SetProblem> problems;     // in the order found
};

// Allocates; may throw std::bad_alloc only.
[[nodiscard]] SetCheck check_service_set(std::vector<ServiceConfig> services);

}  // namespace keel::service
