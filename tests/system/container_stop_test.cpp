// container_stop_test.cpp — the system role as a container's PID 1 is
// stopped the way container runtimes stop it, and a shutdown always ends.
//
//   * docker stop: SIGTERM to keel --role=system as PID 1 of a fresh PID
//     namespace, with and without CAP_SYS_BOOT (Docker drops it; setpriv
//     does it here): every service stops in reverse order, a stray daemon
//     is gone before keel's exit, and keel exits 0 — not "killed by SIGHUP"
//     (129) and not an idle PID 1 until the runtime's SIGKILL. A reboot
//     request there ends keel with 129 = 128 + SIGHUP either way, and
//     Ctrl-C (SIGINT) is a stop with exit 130 (docs/system-mode.md, "Exit
//     statuses").
//   * The shutdown deadline: a service whose process cannot die — a read
//     on a FUSE filesystem whose daemon (this test) took the request and
//     never answers, which leaves the reader in uninterruptible sleep after
//     the fatal signal, like a process on a dead disk — would keep keel
//     "stopping" forever. With shutdown_timeout in keel.toml, keel names
//     the service and the process and goes on to its exit.
//
// Every wait is bounded by the harness; nothing asserts a duration.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"
#include "stuck_fuse.hpp"

namespace keel::systest {
namespace {

namespace fs = std::filesystem;

constexpr int kCapSysBoot = 22;  // CAP_SYS_BOOT (linux/capability.h)

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A config dir with services, keel as `init` in a PID namespace, never the
// host's run dir or cgroups.
class Container {
 public:
  Container() { fs::create_directories(dir_.path() + "/services"); }

  void service(const std::string& name, const std::string& toml) const {
    std::ofstream(dir_.path() + "/services/" + name + ".toml") << toml;
  }
  void keel_toml(const std::string& text) const { std::ofstream(dir_.path() + "/keel.toml") << text; }
  [[nodiscard]] std::string path(const std::string& rel) const { return dir_.path() + "/" + rel; }

  // `without_sys_boot`: keel starts without CAP_SYS_BOOT, as under Docker.
  [[nodiscard]] Launch launch(bool without_sys_boot) const {
    Launch l =
        without_sys_boot
            ? program_launch(Placement::Namespace, "/usr/bin/setpriv",
                             {"--bounding-set", "-sys_boot", "--inh-caps", "-sys_boot", "--", keel_symlink("init")})
            : program_launch(Placement::Namespace, keel_symlink("init"), {});
    l.set_env = {
        {"KEEL_CONFIG_DIR", dir_.path()}, {"KEEL_RUN_DIR", dir_.path() + "/run"}, {"KEEL_CGROUP_ROOT", "none"}};
    return l;
  }

  // keelctl, as `keel ctl --socket PATH ARGS...`: its exit code.
  [[nodiscard]] int ctl(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"ctl", "--socket", dir_.path() + "/run/control.sock"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_through(program_launch(Placement::Subreaper, keel_binary(), argv)).code.value_or(-1);
  }

 private:
  TempDir dir_;
};

// A service that writes "up-NAME" to ORDER once its SIGTERM trap is set,
// and "stop-NAME" when the trap runs.
std::string trapping_service(const std::string& name, const std::string& order, const std::string& extra_toml,
                             const std::string& before_loop = "") {
  std::string script = "trap 'echo stop-" + name + " >> " + order + "; exit 0' TERM; echo up-" + name + " >> " + order +
                       "; " + before_loop + "while :; do /bin/sleep 1 & wait $!; done";
  return extra_toml + "command = [\"/bin/sh\", \"-c\", \"" + script + "\"]\n";
}

std::vector<std::string> lines_of(const std::string& text) { return split_lines(text); }

int index_in(const std::vector<std::string>& lines, const std::string& exact) {
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i] == exact) return static_cast<int>(i);
  }
  return -1;
}

// Is bit CAP_SYS_BOOT set in /proc/PID/status's CapEff?
std::optional<bool> has_cap_sys_boot(pid_t pid) {
  auto eff = status_field(pid, "CapEff");
  if (!eff) return std::nullopt;
  return ((std::stoull(*eff, nullptr, 16) >> kCapSysBoot) & 1U) != 0;
}

class ContainerStopTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (!namespaces_available()) GTEST_SKIP() << "unshare --pid is not available here";
  }
};

TEST_P(ContainerStopTest, DockerStopStopsEveryServiceInReverseOrderAndExitsZero) {
  const bool without_sys_boot = GetParam();
  Container c;
  const std::string order = c.path("order");
  // db <- web <- worker (each after the one before); worker also starts a
  // stray daemon that leaves its session and clears its environment. Which
  // step ends it depends on what keel can tell without cgroups
  // (service/tree_tracker.hpp): worker's stop when its parent link shows
  // it, else the last service's stop (rule 3), else keel's final SIGTERM
  // to every process. Either way it is gone before keel exits.
  c.service("db", trapping_service("db", order, ""));
  c.service("web", trapping_service("web", order, "after = [\"db\"]\n"));
  c.service("worker",
            trapping_service("worker", order, "after = [\"web\"]\n", "env -i /usr/bin/setsid /bin/sleep 1000 & "));
  KeelRun k(c.launch(without_sys_boot));
  ASSERT_TRUE(poll_until(
      [&] {
        const auto l = lines_of(slurp(order));
        return index_in(l, "up-db") >= 0 && index_in(l, "up-web") >= 0 && index_in(l, "up-worker") >= 0;
      },
      kLineTimeout))
      << slurp(order) << k.text(Stream::Err);
  // The stray runs (no KEEL_SERVICE in its environment, a session of its own).
  ASSERT_TRUE(poll_until(
      [&] {
        for (const ProcEntry& p : descendants(k.keel_pid())) {
          if (p.comm == "sleep" && contains(slurp("/proc/" + std::to_string(p.pid) + "/cmdline"), "1000")) return true;
        }
        return false;
      },
      kLineTimeout))
      << k.text(Stream::Err);
  // What this test claims to reproduce: keel as PID 1 with or without the capability.
  EXPECT_EQ(has_cap_sys_boot(k.keel_pid()), std::optional<bool>(!without_sys_boot));

  ASSERT_TRUE(k.signal(SIGTERM));  // docker stop
  auto code = k.wait_exit(20s);    // far more than the services' stop time; a hang fails here
  ASSERT_TRUE(code.has_value()) << k.text(Stream::Err);
  EXPECT_EQ(*code, 0) << k.text(Stream::Err);

  const auto l = lines_of(slurp(order));
  const int worker = index_in(l, "stop-worker");
  const int web = index_in(l, "stop-web");
  const int db = index_in(l, "stop-db");
  ASSERT_GE(worker, 0) << slurp(order);
  EXPECT_GT(web, worker) << slurp(order);  // reverse order of start
  EXPECT_GT(db, web) << slurp(order);

  const std::string err = k.text(Stream::Err);
  EXPECT_NE(err.find("power-off requested"), std::string::npos) << err;
  // keel's last step ran and found nothing it could not end: nothing was
  // left for the kernel's end of the namespace.
  EXPECT_TRUE(std::regex_search(err, std::regex("no process left \\(([0-9]+) reaped\\)"))) << err;
  EXPECT_NE(err.find("power-off of a container: keel exits with status 0"), std::string::npos) << err;
  EXPECT_EQ(err.find("reboot(2)"), std::string::npos) << "no reboot(2) for a container's stop:\n" << err;
  EXPECT_TRUE(leftover_processes().empty());
}

TEST_P(ContainerStopTest, RebootRequestExitsWith129) {
  const bool without_sys_boot = GetParam();
  Container c;
  c.service("app", "command = [\"/bin/sleep\", \"600\"]\n");
  KeelRun k(c.launch(without_sys_boot));
  ASSERT_TRUE(seen(k, Stream::Err, [](const std::string& l) { return contains(l, "app: started"); }))
      << k.text(Stream::Err);
  ASSERT_TRUE(poll_until([&] { return c.ctl({"status"}) == 0; }, kLineTimeout)) << k.text(Stream::Err);
  EXPECT_EQ(c.ctl({"reboot"}), 0);
  auto code = k.wait_exit(20s);
  ASSERT_TRUE(code.has_value()) << k.text(Stream::Err);
  // Without the capability keel exits with 129; with it the kernel kills it
  // with SIGHUP, which a runtime reads as the same 129.
  EXPECT_EQ(*code, 128 + SIGHUP) << k.text(Stream::Err);
  const std::string err = k.text(Stream::Err);
  if (without_sys_boot) {
    EXPECT_NE(err.find("reboot(2): Operation not permitted"), std::string::npos) << err;
    EXPECT_NE(err.find("reboot of a container: keel exits with status 129"), std::string::npos) << err;
  }
}

// Ctrl-C on `docker run -it`: SIGINT to the container's PID 1 stops the
// services and exits 130, as a shell would; not a reboot (129).
TEST_P(ContainerStopTest, CtrlCStopsTheServicesAndExitsWith130) {
  const bool without_sys_boot = GetParam();
  Container c;
  const std::string order = c.path("order");
  c.service("app", trapping_service("app", order, ""));
  KeelRun k(c.launch(without_sys_boot));
  ASSERT_TRUE(poll_until([&] { return index_in(lines_of(slurp(order)), "up-app") >= 0; }, kLineTimeout))
      << slurp(order) << k.text(Stream::Err);
  ASSERT_TRUE(k.signal(SIGINT));
  auto code = k.wait_exit(20s);
  ASSERT_TRUE(code.has_value()) << k.text(Stream::Err);
  EXPECT_EQ(*code, 130) << k.text(Stream::Err);
  EXPECT_GE(index_in(lines_of(slurp(order)), "stop-app"), 0) << slurp(order);
  EXPECT_EQ(k.text(Stream::Err).find("reboot(2)"), std::string::npos) << k.text(Stream::Err);
}

INSTANTIATE_TEST_SUITE_P(Capability, ContainerStopTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? std::string("WithoutCapSysBoot") : std::string("WithCapSysBoot");
                         });

// ------------------------------------------------ the shutdown deadline

TEST(ShutdownDeadline, AProcessThatCannotDieIsNamedAndTheShutdownEndsAnyway) {
  if (!namespaces_available()) GTEST_SKIP() << "unshare --pid is not available here";
  Container c;
  const std::string order = c.path("order");
  c.keel_toml("shutdown_timeout = 3\nshutdown_grace = 1\n");
  c.service("ok", trapping_service("ok", order, ""));
  // After "ok": stopped first, and "ok" waits for it until the deadline.
  c.service("stuck", "after = [\"ok\"]\nstop_timeout = 1\ncommand = [\"/bin/cat\", \"" + c.path("fuse/file") + "\"]\n");

  // Destroyed in reverse order: the filesystem is released before the
  // KeelRun is (its destructor waits for the namespace, which waits for
  // the stuck process).
  std::unique_ptr<KeelRun> k;
  testutil::StuckFuse fuse(c.path("fuse"));
  ASSERT_EQ(fuse.error(), "");
  k = std::make_unique<KeelRun>(c.launch(true));
  ASSERT_TRUE(poll_until([&] { return fuse.lookups() > 0; }, kLineTimeout)) << k->text(Stream::Err);
  auto started = seen(*k, Stream::Err, [](const std::string& l) { return contains(l, "stuck: started (pid "); });
  ASSERT_TRUE(started) << k->text(Stream::Err);
  const std::string main_pid =
      started->substr(started->find("(pid ") + 5, started->find(')') - started->find("(pid ") - 5);
  ASSERT_TRUE(poll_until([&] { return contains(slurp(order), "up-ok"); }, kLineTimeout));
  auto ok_started = seen(*k, Stream::Err, [](const std::string& l) { return contains(l, "ok: started (pid "); });
  ASSERT_TRUE(ok_started);
  const std::string ok_pid =
      ok_started->substr(ok_started->find("(pid ") + 5, ok_started->find(')') - ok_started->find("(pid ") - 5);

  ASSERT_TRUE(k->signal(SIGTERM));
  // keel names what is left and goes on to its exit; only then does the
  // test free the process (a PID namespace ends when its last process does).
  auto exiting = seen(
      *k, Stream::Err, [](const std::string& l) { return contains(l, "keel exits with status"); }, 30s);
  ASSERT_TRUE(exiting) << k->text(Stream::Err);
  EXPECT_TRUE(contains(*exiting, "power-off of a container: keel exits with status 0")) << *exiting;
  fuse.release();
  auto code = k->wait_exit();
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << k->text(Stream::Err);

  const auto& err = k->lines(Stream::Err);
  auto at = [&](const std::string& needle) {
    for (std::size_t i = 0; i < err.size(); ++i) {
      if (contains(err[i], needle)) return static_cast<int>(i);
    }
    return -1;
  };
  const int stopping = at("stuck: stopping");
  const int named = at("stuck: still stopping at the shutdown deadline (main pid " + main_pid + ", process group ");
  // "ok" waits for "stuck" (it stops after it), so both are named.
  const int ok_named = at("ok: still running at the shutdown deadline (main pid ");
  const int deadline = at("shutdown deadline (3 s) passed with 2 services not stopped: going on without them");
  const int survivors = at("processes survive SIGKILL");
  const int alive = at("still alive: pid " + main_pid + " (cat), state D");
  const int exit_line = at("keel exits with status 0");
  const std::string all = k->text(Stream::Err);
  ASSERT_GE(stopping, 0) << all;
  EXPECT_GT(named, stopping) << all;
  EXPECT_GT(ok_named, stopping) << all;
  EXPECT_GT(deadline, named) << all;
  EXPECT_GT(deadline, ok_named) << all;
  EXPECT_GT(survivors, deadline) << all;
  EXPECT_GT(alive, survivors) << all;
  EXPECT_GT(exit_line, alive) << all;
  // "ok" was not left behind: keel's final SIGTERM (or SIGKILL after the
  // grace) ended it; only the process that cannot die is named.
  EXPECT_EQ(at("still alive: pid " + ok_pid + " "), -1) << all;
}

}  // namespace
}  // namespace keel::systest
