#include "service/graph.hpp"

#include <algorithm>
#include <unordered_map>

namespace keel::service {
namespace {

struct Edge {
  int to;
  const std::string* file;  // where the edge is written (for a `before`, the other file)
  int line;
};

void add_unique(std::vector<int>& v, int x) {
  if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
}

// Tarjan's strongly connected components, iterative so a long chain of
// services cannot overflow the stack.
std::vector<int> scc_ids(const std::vector<std::vector<Edge>>& adj) {
  const int n = static_cast<int>(adj.size());
  std::vector<int> index(n, -1), low(n, 0), comp(n, -1), stack;
  std::vector<bool> on_stack(n, false);
  int next_index = 0, next_comp = 0;
  std::vector<std::pair<int, std::size_t>> work;
  for (int root = 0; root < n; ++root) {
    if (index[root] >= 0) continue;
    work.emplace_back(root, 0);
    while (!work.empty()) {
      auto& [v, i] = work.back();
      if (i == 0) {
        index[v] = low[v] = next_index++;
        stack.push_back(v);
        on_stack[v] = true;
      }
      if (i < adj[v].size()) {
        int w = adj[v][i++].to;
        if (index[w] < 0) {
          work.emplace_back(w, 0);
        } else if (on_stack[w]) {
          low[v] = std::min(low[v], index[w]);
        }
        continue;
      }
      if (low[v] == index[v]) {
        int w;
        do {
          w = stack.back();
          stack.pop_back();
          on_stack[w] = false;
          comp[w] = next_comp;
        } while (w != v);
        ++next_comp;
      }
      int done = v;
      work.pop_back();
      if (!work.empty()) low[work.back().first] = std::min(low[work.back().first], low[done]);
    }
  }
  return comp;
}

}  // namespace

Graph build_graph(const std::vector<ServiceConfig>& services) {
  Graph g;
  const int n = static_cast<int>(services.size());
  g.nodes.resize(services.size());
  std::unordered_map<std::string, int> by_name;
  for (int i = 0; i < n; ++i) by_name.emplace(services[i].name, i);
  auto find = [&](const std::string& name) {
    auto it = by_name.find(name);
    return it == by_name.end() ? -1 : it->second;
  };

  // adj[a] = the services a starts after, with where each edge is written.
  std::vector<std::vector<Edge>> adj(services.size());
  auto order = [&](int from, int to, const std::string& file, int line) {
    for (const Edge& e : adj[from]) {
      if (e.to == to) return;
    }
    adj[from].push_back(Edge{to, &file, line});
    add_unique(g.nodes[from].order_after, to);
    add_unique(g.nodes[to].stop_after, from);
  };
  auto missing = [&](const ServiceConfig& s, const DependencyRef& ref, const char* key, bool fatal) {
    g.errors.push_back(ConfigError{s.file, ref.line, key,
                                   "no service named '" + ref.name + "'" +
                                       (fatal ? ": this service cannot start" : " (ignored)")});
  };

  for (int i = 0; i < n; ++i) {
    const ServiceConfig& s = services[i];
    GraphNode& node = g.nodes[i];
    for (const DependencyRef& ref : s.requires_) {
      int j = find(ref.name);
      if (j < 0) {
        missing(s, ref, "requires", true);
        node.broken = true;
        if (node.broken_reason.empty()) node.broken_reason = "requires '" + ref.name + "', which does not exist";
        continue;
      }
      add_unique(node.requires_, j);
      add_unique(g.nodes[j].required_by, i);
      order(i, j, s.file, ref.line);
    }
    for (const DependencyRef& ref : s.wants) {
      int j = find(ref.name);
      if (j < 0) {
        missing(s, ref, "wants", false);
        continue;
      }
      add_unique(node.wants, j);
      order(i, j, s.file, ref.line);
    }
    for (const DependencyRef& ref : s.after) {
      int j = find(ref.name);
      if (j < 0) {
        missing(s, ref, "after", false);
        continue;
      }
      order(i, j, s.file, ref.line);
    }
    for (const DependencyRef& ref : s.before) {
      int j = find(ref.name);
      if (j < 0) {
        missing(s, ref, "before", false);
        continue;
      }
      order(j, i, s.file, ref.line);
    }
  }

  // Cycles: every strongly connected component with more than one member,
  // or a service ordered after itself. One error per component, naming a
  // cycle through it in order.
  std::vector<int> comp = scc_ids(adj);
  std::vector<int> comp_size(static_cast<std::size_t>(n), 0);
  for (int i = 0; i < n; ++i) ++comp_size[comp[i]];
  std::vector<bool> reported(static_cast<std::size_t>(n), false);
  for (int i = 0; i < n; ++i) {
    bool self_loop = std::any_of(adj[i].begin(), adj[i].end(), [&](const Edge& e) { return e.to == i; });
    if (comp_size[comp[i]] < 2 && !self_loop) continue;
    g.nodes[i].broken = true;
    if (reported[comp[i]]) continue;
    reported[comp[i]] = true;
    // Walk edges inside the component from i until a service repeats.
    std::vector<int> path{i};
    std::vector<int> pos(static_cast<std::size_t>(n), -1);
    pos[i] = 0;
    const Edge* closing = nullptr;
    for (int v = i;;) {
      const Edge* next = nullptr;
      for (const Edge& e : adj[v]) {
        if (comp[e.to] == comp[i]) {
          next = &e;
          break;
        }
      }
      if (next == nullptr) break;  // cannot happen inside a component
      if (pos[next->to] >= 0) {
        path.erase(path.begin(), path.begin() + pos[next->to]);
        path.push_back(next->to);
        closing = next;
        break;
      }
      pos[next->to] = static_cast<int>(path.size());
      path.push_back(next->to);
      v = next->to;
    }
    std::string cycle;
    for (std::size_t k = 0; k < path.size(); ++k) cycle += (k ? " -> " : "") + services[path[k]].name;
    std::string where = closing != nullptr ? *closing->file : services[i].file;
    int line = closing != nullptr ? closing->line : 0;
    g.errors.push_back(ConfigError{where, line, "", "dependency cycle: " + cycle + " (these services are not started)"});
  }
  for (int i = 0; i < n; ++i) {
    if (g.nodes[i].broken && g.nodes[i].broken_reason.empty()) g.nodes[i].broken_reason = "on a dependency cycle";
  }

  // Kahn's algorithm over the services that can start; ties broken by
  // index (file name order) so the order is stable.
  std::vector<int> pending(static_cast<std::size_t>(n), 0);
  for (int i = 0; i < n; ++i) {
    if (g.nodes[i].broken) continue;
    for (int j : g.nodes[i].order_after) pending[i] += g.nodes[j].broken ? 0 : 1;
  }
  std::vector<int> ready;
  for (int i = n - 1; i >= 0; --i) {
    if (!g.nodes[i].broken && pending[i] == 0) ready.push_back(i);
  }
  while (!ready.empty()) {
    int v = ready.back();
    ready.pop_back();
    g.start_order.push_back(v);
    std::vector<int> freed;
    for (int w : g.nodes[v].stop_after) {
      if (!g.nodes[w].broken && --pending[w] == 0) freed.push_back(w);
    }
    std::sort(freed.rbegin(), freed.rend());
    ready.insert(ready.end(), freed.begin(), freed.end());
    std::sort(ready.rbegin(), ready.rend());
  }
  std::sort(g.errors.begin(), g.errors.end(), [](const ConfigError& a, const ConfigError& b) {
    return a.file != b.file ? a.file < b.file : a.line < b.line;
  });
  return g;
}

std::vector<int> closure(const Graph& graph, const std::vector<int>& roots) {
  std::vector<bool> seen(graph.nodes.size(), false);
  std::vector<int> out, work(roots.begin(), roots.end());
  while (!work.empty()) {
    int v = work.back();
    work.pop_back();
    if (v < 0 || static_cast<std::size_t>(v) >= seen.size() || seen[v]) continue;
    seen[v] = true;
    out.push_back(v);
    for (int w : graph.nodes[v].requires_) work.push_back(w);
    for (int w : graph.nodes[v].wants) work.push_back(w);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace keel::service
