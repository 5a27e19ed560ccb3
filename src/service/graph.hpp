// graph.hpp — how services depend on each other.
//
// Four kinds of edge, all read from the service files:
//   requires  start after it is ready; if it fails for good, so do we
//   wants     start it too and after it; its failure does not matter
//   after     ordering only: if both are starting, start after it
//   before    the same, written from the other side
// The ordering relation (every kind above) must be acyclic. A cycle is an
// error naming its members in order ("a -> b -> c -> a") with the file and
// line of the edge that closes it; the services on a cycle are not started,
// everything else is. A `requires` naming a service that does not exist is
// an error for that service (it cannot start); a missing `wants`, `after`
// or `before` is reported but harmless.
//
// Built once per load or reload (an edge: allocates); the supervisor then
// works on indices, without allocating.
#pragma once

#include <string>
#include <vector>

#include "service/config.hpp"

namespace keel::service {

struct GraphNode {
  std::vector<int> requires_;   // hard dependencies (indices)
  std::vector<int> wants;       // soft dependencies
  std::vector<int> order_after; // every service this one starts after (requires, wants, after, others' before)
  std::vector<int> required_by; // services that require this one (stopped before it)
  std::vector<int> stop_after;  // every service this one stops after: the reverse of order_after
  bool broken = false;          // on a cycle, or requires a missing service: never started
  std::string broken_reason;    // why, for `keelctl status`
};

struct Graph {
  std::vector<GraphNode> nodes;   // same indices as the services vector given
  std::vector<ConfigError> errors;
  std::vector<int> start_order;   // a topological order of the non-broken services
};

[[nodiscard]] Graph build_graph(const std::vector<ServiceConfig>& services);

// Indices of `roots` and everything they require or want, transitively.
[[nodiscard]] std::vector<int> closure(const Graph& graph, const std::vector<int>& roots);

}  // namespace keel::service
