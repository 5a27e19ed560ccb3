// Dependency graph: ordering, parallelism (what can start together),
// missing dependencies and cycles named with file:line.
#include <gtest/gtest.h>

#include <algorithm>

#include "service/graph.hpp"

namespace keel::service {
namespace {

ServiceConfig svc(const std::string& name) {
  ServiceConfig s;
  s.name = name;
  s.file = name + ".toml";
  s.command = {"/bin/true"};
  return s;
}
DependencyRef dep(const std::string& name, int line = 3) { return DependencyRef{name, line}; }

int pos(const Graph& g, int i) {
  auto it = std::find(g.start_order.begin(), g.start_order.end(), i);
  return it == g.start_order.end() ? -1 : static_cast<int>(it - g.start_order.begin());
}

TEST(ServiceGraph, OrdersRequiresWantsAfterAndBefore) {
  std::vector<ServiceConfig> s{svc("app"), svc("db"), svc("log"), svc("net"), svc("web")};
  s[0].requires_ = {dep("db")};
  s[0].wants = {dep("log")};
  s[1].after = {dep("net")};
  s[4].before = {dep("app")};  // web before app
  Graph g = build_graph(s);
  EXPECT_TRUE(g.errors.empty());
  ASSERT_EQ(g.start_order.size(), 5U);
  EXPECT_LT(pos(g, 1), pos(g, 0));  // db before app
  EXPECT_LT(pos(g, 2), pos(g, 0));  // log before app
  EXPECT_LT(pos(g, 3), pos(g, 1));  // net before db
  EXPECT_LT(pos(g, 4), pos(g, 0));  // web before app
  EXPECT_EQ(g.nodes[0].requires_, std::vector<int>{1});
  EXPECT_EQ(g.nodes[1].required_by, std::vector<int>{0});
  EXPECT_EQ(g.nodes[0].wants, std::vector<int>{2});
  EXPECT_TRUE(std::find(g.nodes[0].order_after.begin(), g.nodes[0].order_after.end(), 4) != g.nodes[0].order_after.end());
}

TEST(ServiceGraph, IndependentServicesHaveNoOrderBetweenThem) {
  // Parallelism: nothing orders a, b, c against each other, so each waits
  // for nothing and the supervisor starts them together.
  std::vector<ServiceConfig> s{svc("a"), svc("b"), svc("c"), svc("d")};
  s[3].requires_ = {dep("a"), dep("b"), dep("c")};
  Graph g = build_graph(s);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(g.nodes[i].order_after.empty());
  EXPECT_EQ(g.nodes[3].order_after.size(), 3U);
  EXPECT_EQ(pos(g, 3), 3);
}

TEST(ServiceGraph, MissingRequirementBreaksTheServiceWithFileAndLine) {
  std::vector<ServiceConfig> s{svc("web")};
  s[0].requires_ = {dep("db", 7)};
  s[0].after = {dep("ghost", 9)};
  Graph g = build_graph(s);
  ASSERT_EQ(g.errors.size(), 2U);
  EXPECT_EQ(g.errors[0].text(), "web.toml:7: requires: no service named 'db': this service cannot start");
  EXPECT_EQ(g.errors[1].text(), "web.toml:9: after: no service named 'ghost' (ignored)");
  EXPECT_TRUE(g.nodes[0].broken);
  EXPECT_NE(g.nodes[0].broken_reason.find("db"), std::string::npos);
  EXPECT_TRUE(g.start_order.empty());
}

TEST(ServiceGraph, MissingWantIsHarmless) {
  std::vector<ServiceConfig> s{svc("web")};
  s[0].wants = {dep("cache", 4)};
  Graph g = build_graph(s);
  ASSERT_EQ(g.errors.size(), 1U);
  EXPECT_FALSE(g.nodes[0].broken);
  EXPECT_EQ(g.start_order, std::vector<int>{0});
}

TEST(ServiceGraph, CycleIsNamedInOrderAndItsMembersAreNotStarted) {
  std::vector<ServiceConfig> s{svc("a"), svc("b"), svc("c"), svc("d"), svc("e")};
  s[0].requires_ = {dep("b", 2)};
  s[1].after = {dep("c", 5)};
  s[2].wants = {dep("a", 8)};
  s[3].requires_ = {dep("e")};  // unrelated, fine
  Graph g = build_graph(s);
  ASSERT_EQ(g.errors.size(), 1U);
  EXPECT_EQ(g.errors[0].text(), "c.toml:8: dependency cycle: a -> b -> c -> a (these services are not started)");
  EXPECT_TRUE(g.nodes[0].broken && g.nodes[1].broken && g.nodes[2].broken);
  EXPECT_FALSE(g.nodes[3].broken || g.nodes[4].broken);
  EXPECT_EQ(g.start_order, (std::vector<int>{4, 3}));
}

TEST(ServiceGraph, BeforeCanCloseACycleAndSelfDependencyIsACycle) {
  std::vector<ServiceConfig> s{svc("a"), svc("b"), svc("self")};
  s[0].after = {dep("b", 2)};
  s[0].before = {dep("b", 3)};
  s[2].requires_ = {dep("self", 6)};
  Graph g = build_graph(s);
  ASSERT_EQ(g.errors.size(), 2U);
  EXPECT_NE(g.errors[0].message.find("a -> b -> a"), std::string::npos) << g.errors[0].text();
  EXPECT_EQ(g.errors[1].text(), "self.toml:6: dependency cycle: self -> self (these services are not started)");
  EXPECT_TRUE(g.nodes[2].broken);
}

TEST(ServiceGraph, TwoSeparateCyclesAreTwoErrors) {
  std::vector<ServiceConfig> s{svc("a"), svc("b"), svc("c"), svc("d")};
  s[0].after = {dep("b")};
  s[1].after = {dep("a")};
  s[2].after = {dep("d")};
  s[3].after = {dep("c")};
  Graph g = build_graph(s);
  EXPECT_EQ(g.errors.size(), 2U);
  EXPECT_TRUE(g.start_order.empty());
}

TEST(ServiceGraph, LongChainNeedsNoDeepRecursion) {
  std::vector<ServiceConfig> s;
  for (int i = 0; i < 20000; ++i) s.push_back(svc("s" + std::to_string(i)));
  for (int i = 1; i < 20000; ++i) s[i].requires_ = {dep("s" + std::to_string(i - 1))};
  Graph g = build_graph(s);
  EXPECT_TRUE(g.errors.empty());
  ASSERT_EQ(g.start_order.size(), 20000U);
  for (int i = 0; i < 20000; ++i) EXPECT_EQ(g.start_order[i], i);
}

TEST(ServiceGraph, ClosureFollowsRequiresAndWants) {
  std::vector<ServiceConfig> s{svc("t"), svc("a"), svc("b"), svc("c"), svc("x")};
  s[0].requires_ = {dep("a")};
  s[0].wants = {dep("b")};
  s[1].requires_ = {dep("c")};
  s[2].after = {dep("x")};  // ordering does not pull x in
  Graph g = build_graph(s);
  EXPECT_EQ(closure(g, {0}), (std::vector<int>{0, 1, 2, 3}));
}

}  // namespace
}  // namespace keel::service
