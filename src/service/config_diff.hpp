// config_diff.hpp — which keys of a service changed between two loads.
//
// A reload tells changed services by their file's fingerprint (`source`)
// and restarts a running one on its new definition (supervisor.cpp); the
// dry run (`keelctl reload --dry-run`) says why, by naming the keys whose
// values differ, as written in the service file ("command", "environment",
// "log", "socket", ...). Compared on the parsed values, so a reordered or
// recommented file names no key (and is still "changed": the text is).
#pragma once

#include <string>
#include <vector>

#include "service/config.hpp"

namespace keel::service {

// The top-level keys whose values differ, in the file's reference order
// (docs/services.md). Allocates; may throw std::bad_alloc only.
[[nodiscard]] std::vector<std::string> changed_keys(const ServiceConfig& before, const ServiceConfig& after);

}  // namespace keel::service
