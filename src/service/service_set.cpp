// service_set.cpp — see service_set.hpp.
#include "service/service_set.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "service/builtin.hpp"

namespace keel::service {

SetCheck check_service_set(std::vector<ServiceConfig> services) {
  SetCheck out;
  for (ServiceConfig& b : builtin_services()) {
    auto same = std::find_if(services.begin(), services.end(), [&](const ServiceConfig& c) { return c.name == b.name; });
    if (same != services.end()) {
      out.problems.push_back(
          SetProblem{ConfigError{same->file, 0, "", "'" + b.name + "' is built in: this file is ignored"}, false});
      services.erase(same);
    }
    services.push_back(std::move(b));
  }
  out.graph = build_graph(services);
  for (const ConfigError& e : out.graph.errors) {
    // graph.cpp marks what is harmless "(ignored)"; everything else (a
    // missing requirement, a cycle) keeps a service from starting.
    const bool fatal = e.message.find("(ignored)") == std::string::npos;
    out.problems.push_back(SetProblem{e, fatal});
  }
  out.services = std::move(services);
  return out;
}

}  // namespace keel::service
