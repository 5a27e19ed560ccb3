// container_init.hpp — keel as the init of a container: one main program.
//
// Runs ContainerOptions::program as the main child, forwards signals to it
// (or its process group), reaps every process that exits, and when the
// main child exits stops the rest of the tree — SIGTERM to every live
// descendant, the grace period, SIGKILL — and returns only when nothing is
// left to reap. The returned value is the exit code for the process.
#pragma once

#include "cinit/options.hpp"

namespace keel {

[[nodiscard]] int run_container_init(ContainerOptions& options) noexcept;

}  // namespace keel
