// The configuration loader: its encoding (every field survives the trip;
// truncated, forged and random bytes are refused with a reason, never a
// crash) and the child itself (its answer equals an in-process load; a
// crash or garbage is a failure with a reason).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>

#include "core/event_loop.hpp"
#include "system/config_codec.hpp"
#include "system/config_loader.hpp"
#include "test_util.hpp"

namespace keel {
namespace {

using service::ConfigError;
using service::ServiceConfig;

// Every field away from its default, so a field the codec forgot shows.
ServiceConfig rich_service(const std::string& name) {
  ServiceConfig c;
  c.name = name;
  c.file = "/etc/keel/services/" + name + ".toml";
  c.description = "a service with every field set";
  c.type = service::Type::NotifyFd;
  c.command = {"/bin/app", "--flag", ""};
  c.notify_fd = 7;
  c.requires_ = {{"db", 3}};
  c.wants = {{"cache", 4}, {"metrics", 4}};
  c.after = {{"net", 5}};
  c.before = {{"web", 6}};
  c.restart = service::Restart::Always;
  c.restart_delay_ns = 1;
  c.restart_delay_max_ns = 2;
  c.restart_reset_ns = 3;
  c.start_timeout_ns = 4;
  c.stop_timeout_ns = -5;
  c.stop_signal = 10;
  c.user = "app";
  c.group = "apps";
  c.supplementary_groups = {"audio", "video"};
  c.has_user = true;
  c.uid = 1000;
  c.gid = 0xfffffffeU;
  c.groups = {29, 44};
  c.capabilities = 0x8000000000000001ULL;
  c.no_new_privileges = true;
  c.working_directory = "/srv/app";
  c.environment = {{"A", "1"}, {"EMPTY", ""}, {"UTF8", "\xc3\xa9t\xc3\xa9"}};
  c.environment_file = "-/etc/default/app";
  c.umask = 027;
  c.rlimits = {{7, 1024, 4096}, {4, 0, ~rlim_t{0}}};
  c.stdin_ = {service::StreamKind::Console, {}};
  c.stdout_ = {service::StreamKind::File, "/var/log/out"};
  c.stderr_ = {service::StreamKind::Null, {}};
  c.log.ring_bytes = 12345;
  c.log.file = "/var/log/app.log";
  c.log.max_size = 99;
  c.log.keep = 9;
  c.log.console = true;
  c.cgroup.memory_max = 1ULL << 40;
  c.cgroup.pids_max = 64;
  c.cgroup.cpu_weight = 10000;
  c.on_exit = service::ExitAction::Halt;
  c.source = 0x0123456789abcdefULL;
  // The failure policy.
  c.restart_limit = 1'000'000;
  c.restart_limit_window_ns = 0x7fffffffffffffffLL;
  c.success_exit_status.add_code(143);
  c.success_exit_status.add_code(255);
  c.success_exit_status.add_code(64);
  c.success_exit_status.add_signal(SIGTERM);
  c.success_exit_status.add_signal(31);
  c.on_failure = service::ExitAction::Exit;
  c.essential = service::Essential::Always;
  c.watchdog_ns = 30'000'000'000;
  c.reload_signal = 1;
  c.readiness_probe.kind = service::ProbeKind::Http;
  c.readiness_probe.target = "unix:/run/web.sock:/healthz";
  c.readiness_probe.interval_ns = 200'000'000;
  c.readiness_probe.timeout_ns = 300'000'000;
  c.readiness_probe.failures = 7;
  c.readiness_probe.successes = 2;
  c.readiness_probe.start_period_ns = 9'000'000'000;
  c.liveness_probe.kind = service::ProbeKind::Exec;
  c.liveness_probe.exec = {"/bin/check", "--deep", ""};
  c.liveness_probe.file_max_age_ns = 5;
  c.liveness_probe.action = service::ProbeAction::Exit;
  return c;
}

Loaded rich_loaded() {
  Loaded l;
  KeelConfigResult& k = l.keel.emplace();
  k.config.hostname = "device-7";
  k.config.target = "kiosk";
  k.config.exec = {"/usr/bin/python3", "/app/main.py"};
  k.config.seed_dir = "";
  k.config.rescue_shell = {"/bin/busybox", "sh"};
  k.config.shutdown_grace_ns = 2'500'000'000;
  k.config.shutdown_timeout_ns = 7;
  k.config.container_sync = true;
  k.config.signals.term = SignalAction::Ignore;
  k.config.signals.intr = SignalAction::Reboot;
  k.config.signals.usr1 = SignalAction::Reboot;
  k.config.signals.usr2 = SignalAction::Halt;
  k.config.signals.pwr = SignalAction::Ignore;
  k.config.mounts = {MountSpec{"/dev/vda", "/data", "ext4", 0x402, "data=ordered", 17}};
  k.errors = {ConfigError{"/etc/keel/keel.toml", 3, "hostname", "expected a string"}};
  k.found = true;
  service::LoadResult& s = l.services.emplace();
  s.services = {rich_service("web"), rich_service("db@1"), ServiceConfig{}};
  s.services.back().name = "plain";
  s.errors = {ConfigError{"/etc/keel/services/typo.toml", 1, "comand", "unknown key (did you mean command?)"},
              ConfigError{"/etc/keel/services", 0, "", "cannot read the folder"}};
  return l;
}

void expect_same_probe(const service::ProbeConfig& a, const service::ProbeConfig& b) {
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.exec, b.exec);
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(a.file_max_age_ns, b.file_max_age_ns);
  EXPECT_EQ(a.interval_ns, b.interval_ns);
  EXPECT_EQ(a.timeout_ns, b.timeout_ns);
  EXPECT_EQ(a.failures, b.failures);
  EXPECT_EQ(a.successes, b.successes);
  EXPECT_EQ(a.start_period_ns, b.start_period_ns);
  EXPECT_EQ(a.action, b.action);
}

void expect_same(const ServiceConfig& a, const ServiceConfig& b) {
  expect_same_probe(a.readiness_probe, b.readiness_probe);
  expect_same_probe(a.liveness_probe, b.liveness_probe);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.file, b.file);
  EXPECT_EQ(a.description, b.description);
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.command, b.command);
  EXPECT_EQ(a.notify_fd, b.notify_fd);
  auto deps = [](const std::vector<service::DependencyRef>& v) {
    std::string s;
    for (const auto& d : v) s += d.name + ":" + std::to_string(d.line) + ",";
    return s;
  };
  EXPECT_EQ(deps(a.requires_), deps(b.requires_));
  EXPECT_EQ(deps(a.wants), deps(b.wants));
  EXPECT_EQ(deps(a.after), deps(b.after));
  EXPECT_EQ(deps(a.before), deps(b.before));
  EXPECT_EQ(a.restart, b.restart);
  EXPECT_EQ(a.restart_delay_ns, b.restart_delay_ns);
  EXPECT_EQ(a.restart_delay_max_ns, b.restart_delay_max_ns);
  EXPECT_EQ(a.restart_reset_ns, b.restart_reset_ns);
  EXPECT_EQ(a.start_timeout_ns, b.start_timeout_ns);
  EXPECT_EQ(a.stop_timeout_ns, b.stop_timeout_ns);
  EXPECT_EQ(a.stop_signal, b.stop_signal);
  EXPECT_EQ(a.user, b.user);
  EXPECT_EQ(a.group, b.group);
  EXPECT_EQ(a.supplementary_groups, b.supplementary_groups);
  EXPECT_EQ(a.has_user, b.has_user);
  EXPECT_EQ(a.uid, b.uid);
  EXPECT_EQ(a.gid, b.gid);
  EXPECT_EQ(a.groups, b.groups);
  EXPECT_EQ(a.capabilities, b.capabilities);
  EXPECT_EQ(a.no_new_privileges, b.no_new_privileges);
  EXPECT_EQ(a.working_directory, b.working_directory);
  EXPECT_EQ(a.environment, b.environment);
  EXPECT_EQ(a.environment_file, b.environment_file);
  EXPECT_EQ(a.umask, b.umask);
  ASSERT_EQ(a.rlimits.size(), b.rlimits.size());
  for (std::size_t i = 0; i < a.rlimits.size(); ++i) {
    EXPECT_EQ(a.rlimits[i].resource, b.rlimits[i].resource);
    EXPECT_EQ(a.rlimits[i].soft, b.rlimits[i].soft);
    EXPECT_EQ(a.rlimits[i].hard, b.rlimits[i].hard);
  }
  for (auto [x, y] : {std::pair{&a.stdin_, &b.stdin_}, {&a.stdout_, &b.stdout_}, {&a.stderr_, &b.stderr_}}) {
    EXPECT_EQ(x->kind, y->kind);
    EXPECT_EQ(x->path, y->path);
  }
  EXPECT_EQ(a.log.ring_bytes, b.log.ring_bytes);
  EXPECT_EQ(a.log.file, b.log.file);
  EXPECT_EQ(a.log.max_size, b.log.max_size);
  EXPECT_EQ(a.log.keep, b.log.keep);
  EXPECT_EQ(a.log.console, b.log.console);
  EXPECT_EQ(a.cgroup.memory_max, b.cgroup.memory_max);
  EXPECT_EQ(a.cgroup.pids_max, b.cgroup.pids_max);
  EXPECT_EQ(a.cgroup.cpu_weight, b.cgroup.cpu_weight);
  EXPECT_EQ(a.on_exit, b.on_exit);
  EXPECT_EQ(a.source, b.source);
  EXPECT_EQ(a.restart_limit, b.restart_limit);
  EXPECT_EQ(a.restart_limit_window_ns, b.restart_limit_window_ns);
  EXPECT_TRUE(a.success_exit_status == b.success_exit_status);
  EXPECT_EQ(a.on_failure, b.on_failure);
  EXPECT_EQ(a.essential, b.essential);
  EXPECT_EQ(a.watchdog_ns, b.watchdog_ns);
  EXPECT_EQ(a.reload_signal, b.reload_signal);
}

void expect_same(const std::vector<ConfigError>& a, const std::vector<ConfigError>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].text(), b[i].text());
}

TEST(ConfigCodec, EveryFieldSurvivesTheTrip) {
  const Loaded in = rich_loaded();
  const std::string bytes = encode_loaded(in);
  Loaded out;
  std::string problem;
  ASSERT_TRUE(decode_loaded(bytes, out, problem)) << problem;
  EXPECT_TRUE(problem.empty());
  ASSERT_TRUE(out.keel && out.services);
  const KeelConfig& a = in.keel->config;
  const KeelConfig& b = out.keel->config;
  EXPECT_EQ(a.hostname, b.hostname);
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(a.exec, b.exec);
  EXPECT_EQ(a.seed_dir, b.seed_dir);
  EXPECT_EQ(a.rescue_shell, b.rescue_shell);
  EXPECT_EQ(a.shutdown_grace_ns, b.shutdown_grace_ns);
  EXPECT_EQ(a.shutdown_timeout_ns, b.shutdown_timeout_ns);
  EXPECT_EQ(a.container_sync, b.container_sync);
  EXPECT_EQ(a.signals.term, b.signals.term);
  EXPECT_EQ(a.signals.intr, b.signals.intr);
  EXPECT_EQ(a.signals.usr1, b.signals.usr1);
  EXPECT_EQ(a.signals.usr2, b.signals.usr2);
  EXPECT_EQ(a.signals.pwr, b.signals.pwr);
  ASSERT_EQ(b.mounts.size(), 1U);
  EXPECT_EQ(b.mounts[0].what, "/dev/vda");
  EXPECT_EQ(b.mounts[0].where, "/data");
  EXPECT_EQ(b.mounts[0].type, "ext4");
  EXPECT_EQ(b.mounts[0].flags, 0x402UL);
  EXPECT_EQ(b.mounts[0].data, "data=ordered");
  EXPECT_EQ(b.mounts[0].line, 17);
  expect_same(in.keel->errors, out.keel->errors);
  EXPECT_TRUE(out.keel->found);
  ASSERT_EQ(out.services->services.size(), in.services->services.size());
  for (std::size_t i = 0; i < in.services->services.size(); ++i) {
    expect_same(in.services->services[i], out.services->services[i]);
  }
  expect_same(in.services->errors, out.services->errors);
  // The errors keep file:line for the log and keelctl.
  EXPECT_EQ(out.services->errors[0].text(), "/etc/keel/services/typo.toml:1: comand: unknown key (did you mean command?)");
  EXPECT_EQ(encode_loaded(out), bytes);
}

// The failure policy's fields are checked like the parser checks them: a
// forged limit, window, exit 0 taken out of the successes, a "signal 0"
// or an unknown action is refused.
TEST(ConfigCodec, ForgedFailurePolicyIsRefused) {
  const auto refused = [](void (*forge)(ServiceConfig&)) {
    Loaded l = rich_loaded();
    forge(l.services->services[0]);
    Loaded out;
    std::string problem;
    const bool ok = decode_loaded(encode_loaded(l), out, problem);
    return !ok && !problem.empty();
  };
  EXPECT_TRUE(refused([](ServiceConfig& c) { c.restart_limit = -1; }));
  EXPECT_TRUE(refused([](ServiceConfig& c) { c.restart_limit = 1'000'001; }));
  EXPECT_TRUE(refused([](ServiceConfig& c) { c.restart_limit_window_ns = 0; }));
  EXPECT_TRUE(refused([](ServiceConfig& c) { c.success_exit_status.codes[0] = 2; }));
  EXPECT_TRUE(refused([](ServiceConfig& c) { c.success_exit_status.signals = 1; }));
  EXPECT_TRUE(refused([](ServiceConfig& c) { c.on_failure = static_cast<service::ExitAction>(5); }));
  EXPECT_TRUE(refused([](ServiceConfig& c) { c.essential = static_cast<service::Essential>(3); }));
  EXPECT_FALSE(refused([](ServiceConfig&) {}));
}

TEST(ConfigCodec, AbsentPartsStayAbsent) {
  for (int mask = 0; mask < 4; ++mask) {
    Loaded in = rich_loaded();
    if ((mask & 1) == 0) in.keel.reset();
    if ((mask & 2) == 0) in.services.reset();
    Loaded out;
    std::string problem;
    ASSERT_TRUE(decode_loaded(encode_loaded(in), out, problem)) << problem;
    EXPECT_EQ(out.keel.has_value(), in.keel.has_value());
    EXPECT_EQ(out.services.has_value(), in.services.has_value());
  }
}

TEST(ConfigCodec, EveryTruncationAndTrailingByteIsRefusedWithAReason) {
  const std::string bytes = encode_loaded(rich_loaded());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    Loaded out;
    std::string problem;
    EXPECT_FALSE(decode_loaded(std::string_view(bytes).substr(0, n), out, problem)) << n;
    EXPECT_NE(problem.find(" at byte "), std::string::npos) << n << ": " << problem;
  }
  Loaded out;
  std::string problem;
  EXPECT_FALSE(decode_loaded(bytes + '\0', out, problem));
  EXPECT_NE(problem.find("bytes after the end"), std::string::npos) << problem;
}

// A length or count that claims more than the message holds is refused
// before anything is reserved (a 4 GiB claim would otherwise be an
// allocation in PID 1).
TEST(ConfigCodec, ForgedLengthsAndCountsAreRefused) {
  Loaded only_services;
  only_services.services.emplace().services = {rich_service("web")};
  const std::string bytes = encode_loaded(only_services);
  // magic (4), keel absent (1), services present (1), count (4), then the
  // first service's name length.
  std::string forged = bytes;
  for (std::size_t i = 6; i < 10; ++i) forged[i] = '\xff';
  Loaded out;
  std::string problem;
  EXPECT_FALSE(decode_loaded(forged, out, problem));
  EXPECT_NE(problem.find("count larger than the message at byte 10"), std::string::npos) << problem;
  forged = bytes;
  for (std::size_t i = 10; i < 14; ++i) forged[i] = '\x7f';
  EXPECT_FALSE(decode_loaded(forged, out, problem));
  EXPECT_NE(problem.find("string longer than the message"), std::string::npos) << problem;
  forged = bytes;
  forged[0] ^= 1;
  EXPECT_FALSE(decode_loaded(forged, out, problem));
  EXPECT_NE(problem.find("not a loader message"), std::string::npos) << problem;
}

TEST(ConfigCodec, AnInvalidServiceNameIsRefused) {
  Loaded l;
  l.services.emplace().services = {rich_service("web")};
  l.services->services[0].name = "../etc";
  Loaded out;
  std::string problem;
  EXPECT_FALSE(decode_loaded(encode_loaded(l), out, problem));
  EXPECT_NE(problem.find("invalid service name"), std::string::npos) << problem;
}

// Every single-byte change is either refused or decodes to something that
// encodes back to exactly those bytes (no value is read two ways); random
// input never crashes. tests/fuzz/loader_fuzz.cpp runs this property on
// libFuzzer's inputs.
TEST(ConfigCodec, MutatedAndRandomBytesAreRefusedOrExact) {
  const std::string bytes = encode_loaded(rich_loaded());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (unsigned char v : {0x00, 0x01, 0x02, 0x05, 0x7f, 0xff}) {
      std::string m = bytes;
      m[i] = static_cast<char>(v);
      Loaded out;
      std::string problem;
      if (decode_loaded(m, out, problem)) {
        EXPECT_EQ(encode_loaded(out), m) << "byte " << i;
      } else {
        EXPECT_FALSE(problem.empty());
      }
    }
  }
  std::mt19937 rng(11);
  for (int round = 0; round < 2000; ++round) {
    std::string junk(static_cast<std::size_t>(rng() % 300), '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    if (round % 2 == 0 && junk.size() >= 4) junk.replace(0, 4, bytes.substr(0, 4));  // past the magic
    Loaded out;
    std::string problem;
    if (decode_loaded(junk, out, problem)) {
      EXPECT_EQ(encode_loaded(out), junk);
    }
  }
}

// ---- the child

class Collect final : public ConfigLoader::Client {
 public:
  void config_loaded(Loaded l) noexcept override {
    loaded = std::move(l);
    done = true;
  }
  void config_load_failed(const char* p) noexcept override {
    problem = p;
    done = true;
  }
  std::optional<Loaded> loaded;
  std::string problem;
  bool done = false;
};

// Runs the loop until the client heard back, reaping as keel's reaper does.
class Tick final : public TimerHandler {
 public:
  void on_timer() noexcept override {}
};

Collect run_loader(const LoadRequest& request, std::int64_t timeout_ns = limits::kLoaderTimeoutNs) {
  EventLoop loop;
  EXPECT_TRUE(loop.init());
  ConfigLoader loader(loop, KEEL_BINARY, timeout_ns);
  Collect c;
  Status s = loader.start(request, c);
  EXPECT_TRUE(s);
  if (!s) return c;
  Tick tick;
  Timer timer(loop, tick);
  for (int i = 0; i < 2000 && !c.done; ++i) {
    timer.arm_after(5'000'000);
    (void)loop.run_once();
    int status = 0;
    for (pid_t pid; (pid = ::waitpid(-1, &status, WNOHANG)) > 0;) loader.on_child_exit(pid, status);
  }
  EXPECT_TRUE(c.done);
  return c;
}

TEST(ConfigLoader, TheChildsAnswerIsWhatAnInProcessLoadGives) {
  testutil::TempDir dir;
  testutil::write_file(dir.path() / "keel.toml", "hostname = \"box\"\nsignals = 3\n");
  testutil::write_file(dir.path() / "services/web.toml", "command = [\"/bin/sleep\", \"1\"]\nafter = [\"db\"]\n");
  testutil::write_file(dir.path() / "services/db.toml", "command = [\"/bin/true\"]\ntype = \"oneshot\"\n");
  testutil::write_file(dir.path() / "services/bad.toml", "command = [\"/bin/true\"]\n\nrestart = \"sometimes\"\n");
  LoadRequest request;
  request.keel_toml = (dir.path() / "keel.toml").string();
  request.services_dir = (dir.path() / "services").string();
  request.services_unless_mounts_or_exec = true;
  Collect c = run_loader(request);
  ASSERT_TRUE(c.loaded) << c.problem;
  const Loaded direct = load_in_process(request);
  EXPECT_EQ(encode_loaded(*c.loaded), encode_loaded(direct));
  ASSERT_TRUE(c.loaded->keel && c.loaded->services);
  EXPECT_EQ(c.loaded->keel->config.hostname, "box");
  ASSERT_EQ(c.loaded->services->services.size(), 2U);
  ASSERT_EQ(c.loaded->services->errors.size(), 1U);
  EXPECT_NE(c.loaded->services->errors[0].text().find("bad.toml:3: restart:"), std::string::npos)
      << c.loaded->services->errors[0].text();
  EXPECT_NE(c.loaded->services->services[0].source, 0U);
}

TEST(ConfigLoader, KeelTomlWithAMountLeavesTheServicesForLater) {
  testutil::TempDir dir;
  testutil::write_file(dir.path() / "keel.toml", "[[mount]]\nwhat = \"tmpfs\"\nwhere = \"/x\"\ntype = \"tmpfs\"\n");
  testutil::write_file(dir.path() / "services/web.toml", "command = [\"/bin/sleep\", \"1\"]\n");
  LoadRequest request;
  request.keel_toml = (dir.path() / "keel.toml").string();
  request.services_dir = (dir.path() / "services").string();
  request.services_unless_mounts_or_exec = true;
  Collect c = run_loader(request);
  ASSERT_TRUE(c.loaded) << c.problem;
  EXPECT_TRUE(c.loaded->keel);
  EXPECT_FALSE(c.loaded->services);
}

// The faults real files can no longer cause (service/toml_guard refuses
// what crashed toml++), through the loader's test hook.
TEST(ConfigLoader, ACrashedOrBabblingLoaderIsAFailureWithAReason) {
  testutil::TempDir dir;
  LoadRequest request;
  request.services_dir = dir.str();
  ::setenv("KEEL_TEST_LOADER_FAULT", "crash", 1);
  Collect crashed = run_loader(request);
  ::setenv("KEEL_TEST_LOADER_FAULT", "garbage", 1);
  Collect babbled = run_loader(request);
  ::setenv("KEEL_TEST_LOADER_FAULT", "hang", 1);
  Collect hung = run_loader(request, 200'000'000);
  // "FAULT:PATH": only while PATH exists.
  ::setenv("KEEL_TEST_LOADER_FAULT", ("crash:" + dir.str() + "/absent").c_str(), 1);
  Collect repaired = run_loader(request);
  ::unsetenv("KEEL_TEST_LOADER_FAULT");
  EXPECT_EQ(hung.problem, "the configuration loader did not finish within 0.2 s and was killed");
  EXPECT_TRUE(repaired.loaded) << repaired.problem;
  EXPECT_FALSE(crashed.loaded);
  EXPECT_EQ(crashed.problem, "the configuration loader was killed by SIGSEGV");
  EXPECT_FALSE(babbled.loaded);
  EXPECT_NE(babbled.problem.find("the configuration loader's answer is malformed (not a loader message at byte 4)"),
            std::string::npos)
      << babbled.problem;
}

// ---- issue 14b: keel.toml's python_hash_seed = false is every service's
// default (a service's own key wins), main's too; carried to PID 1, and
// used by a later load of the services alone (LoadRequest::python_hash_seed).
TEST(ConfigLoader, KeelTomlsPythonHashSeedIsTheServicesDefault) {
  testutil::TempDir dir;
  testutil::write_file(dir.path() / "keel.toml", "python_hash_seed = false\n");
  testutil::write_file(dir.path() / "services/plain.toml", "command = [\"/usr/bin/python3\"]\n");
  testutil::write_file(dir.path() / "services/own.toml",
                       "command = [\"/usr/bin/python3\"]\npython_hash_seed = true\n");
  testutil::write_file(dir.path() / "main", "#!/usr/bin/python3\n");
  ::chmod((dir.path() / "main").c_str(), 0755);
  LoadRequest request;
  request.keel_toml = (dir.path() / "keel.toml").string();
  request.services_dir = (dir.path() / "services").string();
  request.services_unless_mounts_or_exec = true;
  auto seeded = [](const Loaded& l, const std::string& name) {
    for (const auto& c : l.services->services) {
      if (c.name == name) return c.python_hash_seed && c.python_program;
    }
    ADD_FAILURE() << "no service " << name;
    return false;
  };
  Collect c = run_loader(request);
  ASSERT_TRUE(c.loaded && c.loaded->keel && c.loaded->services) << c.problem;
  EXPECT_FALSE(c.loaded->keel->config.python_hash_seed);
  EXPECT_FALSE(seeded(*c.loaded, "plain"));
  EXPECT_TRUE(seeded(*c.loaded, "own"));
  EXPECT_FALSE(c.loaded->services->main_python);

  // The services alone (a reload): the default PID 1 passes on.
  LoadRequest services;
  services.services_dir = request.services_dir;
  services.python_hash_seed = false;
  Collect off = run_loader(services);
  ASSERT_TRUE(off.loaded && off.loaded->services) << off.problem;
  EXPECT_FALSE(seeded(*off.loaded, "plain"));
  EXPECT_TRUE(seeded(*off.loaded, "own"));
  services.python_hash_seed = true;
  const Loaded on = load_in_process(services);
  EXPECT_TRUE(seeded(on, "plain"));
  EXPECT_TRUE(on.services->main_python);
}

// No keel.toml and no services folder: PID 1 answers itself
// (load_without_files), exactly as the loader child would; anything at
// either path (a FIFO, a dangling link, an empty folder) goes to the child.
TEST(ConfigLoader, NothingToParseIsAnsweredWithoutAChildAsTheChildWould) {
  testutil::TempDir dir;
  testutil::write_file(dir.path() / "main", "#!/usr/bin/python3 -sP\nprint('hi')\n");
  ::chmod((dir.path() / "main").c_str(), 0755);
  LoadRequest request;
  request.keel_toml = (dir.path() / "keel.toml").string();
  request.services_dir = (dir.path() / "services").string();
  request.services_unless_mounts_or_exec = true;
  for (const char* log_output : {"", "json"}) {
    SCOPED_TRACE(log_output);
    ::setenv("KEEL_LOG_OUTPUT", log_output, 1);
    std::optional<Loaded> fast = load_without_files(request);
    Collect child = run_loader(request);
    ASSERT_TRUE(fast.has_value());
    ASSERT_TRUE(child.loaded) << child.problem;
    EXPECT_EQ(encode_loaded(*fast), encode_loaded(*child.loaded));
    ASSERT_TRUE(fast->keel && fast->services);
    EXPECT_TRUE(fast->services->main_python);
    EXPECT_EQ(fast->keel->config.log_output, child.loaded->keel->config.log_output);
  }
  ::setenv("KEEL_LOG_OUTPUT", "nonsense", 1);
  std::optional<Loaded> bad_env = load_without_files(request);
  ::unsetenv("KEEL_LOG_OUTPUT");
  ASSERT_TRUE(bad_env && bad_env->keel);
  ASSERT_EQ(bad_env->keel->errors.size(), 1U);
  EXPECT_NE(bad_env->keel->errors[0].text().find("KEEL_LOG_OUTPUT"), std::string::npos);

  // A load of keel.toml alone (a hand-off on the command line): no services.
  LoadRequest keel_only;
  keel_only.keel_toml = request.keel_toml;
  std::optional<Loaded> alone = load_without_files(keel_only);
  ASSERT_TRUE(alone.has_value());
  EXPECT_TRUE(alone->keel);
  EXPECT_FALSE(alone->services);

  ASSERT_EQ(::symlink((dir.path() / "absent").c_str(), request.keel_toml.c_str()), 0);
  EXPECT_FALSE(load_without_files(request)) << "a dangling keel.toml link is the loader's to report";
  ::unlink(request.keel_toml.c_str());
  ASSERT_EQ(::mkfifo(request.services_dir.c_str(), 0600), 0);
  EXPECT_FALSE(load_without_files(request)) << "a FIFO as the services folder is the loader's to report";
  ::unlink(request.services_dir.c_str());
  ASSERT_EQ(::mkdir(request.services_dir.c_str(), 0755), 0);
  EXPECT_FALSE(load_without_files(request));
  LoadRequest under_a_file;  // ENOTDIR, not ENOENT: the loader says so
  under_a_file.keel_toml = (dir.path() / "main" / "keel.toml").string();
  EXPECT_FALSE(load_without_files(under_a_file));
}

}  // namespace
}  // namespace keel
