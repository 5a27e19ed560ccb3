// reload_dry_run_test.cpp — `keelctl reload --dry-run` in the supervisor's
// reload queue (service/supervisor.cpp): a dry run asked for while a load
// is under way waits for the next load, as a second reload does; a load
// asked for by dry runs only applies nothing; in a load that also applies,
// the dry run's plan is made before the reload changes anything.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <string_view>

#include "control/handler.hpp"
#include "core/event_loop.hpp"
#include "service/config.hpp"
#include "service/supervisor.hpp"
#include "test_util.hpp"

namespace keel::service {
namespace {

class DeferredLoads final : public SupervisorHooks {
 public:
  void request_power(ExitAction /*action*/, int /*exit_code*/) noexcept override {}
  void all_stopped() noexcept override {}
  void start_settled(const StartSummary& /*summary*/) noexcept override {}
  // The test answers each load itself, with reload_loaded().
  bool load_services() noexcept override {
    ++loads;
    return true;
  }
  int loads = 0;
};

class Answer final : public control::Session {
 public:
  void send(std::string_view /*chunk*/) noexcept override {}
  void finish(control::Code c, std::string_view body) noexcept override {
    ++answers;
    code = c;
    text = body;
  }
  int answers = 0;
  control::Code code = control::Code::Ok;
  std::string text;
};

// One service file's worth: a target, so applying it starts no process.
LoadResult with_target(const std::string& name) {
  LoadResult r;
  ParseResult p = parse_service("type = \"target\"\n", name, "/x/" + name + ".toml");
  EXPECT_TRUE(p.config.has_value());
  r.services.push_back(std::move(*p.config));
  return r;
}

TEST(ReloadDryRunQueue, WaitsForTheNextLoadAndOnlyAReloadApplies) {
  testutil::TempDir dir("keel-dryrun-");
  EventLoop loop;
  ASSERT_TRUE(loop.init().ok());
  DeferredLoads hooks;
  SupervisorSettings s;
  s.config_dir = dir.str();
  s.services_dir = dir.str() + "/services";
  s.run_dir = dir.str() + "/run";
  s.control_socket = dir.str() + "/run/control.sock";
  s.console_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  const int null_fd = s.console_fd;
  auto sup = std::make_unique<Supervisor>(loop, hooks, std::move(s));
  sup->start(LoadResult{});

  Answer first_dry, reload, second_dry, later_dry;
  sup->request_reload(&first_dry, true);
  EXPECT_EQ(hooks.loads, 1);
  sup->request_reload(&reload, false);     // while loading: the next load
  sup->request_reload(&second_dry, true);  // likewise
  EXPECT_EQ(hooks.loads, 1);
  EXPECT_EQ(first_dry.answers + reload.answers + second_dry.answers, 0);

  // The first load was asked for by a dry run only: answered, nothing
  // applied; the next load starts for the others.
  sup->reload_loaded(with_target("web"));
  EXPECT_EQ(first_dry.answers, 1);
  EXPECT_EQ(first_dry.code, control::Code::Ok);
  EXPECT_NE(first_dry.text.find("dry run: a reload would add 1, change 0, remove 0; 0 errors"), std::string::npos)
      << first_dry.text;
  EXPECT_NE(first_dry.text.find("web: added: started"), std::string::npos) << first_dry.text;
  EXPECT_EQ(reload.answers + second_dry.answers, 0);
  EXPECT_EQ(hooks.loads, 2);

  // The second load applies (a reload asked for it); the dry run in it
  // still sees "web" as new: the first dry run added nothing, and its plan
  // is made before the reload's.
  sup->reload_loaded(with_target("web"));
  EXPECT_EQ(second_dry.answers, 1);
  EXPECT_NE(second_dry.text.find("would add 1,"), std::string::npos) << second_dry.text;
  EXPECT_EQ(reload.answers, 1);
  EXPECT_NE(reload.text.find("reloaded: 1 added, 0 changed, 0 removed"), std::string::npos) << reload.text;
  EXPECT_EQ(hooks.loads, 2);

  // Now it is there.
  sup->request_reload(&later_dry, true);
  EXPECT_EQ(hooks.loads, 3);
  sup->reload_loaded(with_target("web"));
  EXPECT_NE(later_dry.text.find("would add 0, change 0, remove 0; 0 errors"), std::string::npos) << later_dry.text;

  // A failed load answers the dry runs with the reason, as the reloads.
  Answer failed;
  sup->request_reload(&failed, true);
  sup->reload_failed("the configuration loader was killed by SIGSEGV");
  EXPECT_EQ(failed.code, control::Code::Failed);
  EXPECT_NE(failed.text.find("reload failed: the configuration loader was killed by SIGSEGV"), std::string::npos)
      << failed.text;
  sup.reset();
  ::close(null_fd);
}

}  // namespace
}  // namespace keel::service
