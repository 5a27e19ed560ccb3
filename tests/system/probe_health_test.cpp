// probe_health_test.cpp — health and readiness probes (issue 12, part 1;
// docs/services.md, "Health and readiness probes"), driven from outside.
//
// keel --role=system runs a CONFIG_DIR of service files, as PID 1 of a PID
// namespace and as a subreaper (the probe runs are keel's children either
// way, reaped by its reaper and told apart from services' processes).
// What is asserted is behaviour and order: each probe kind passing and
// failing as `keelctl status --json` reports it, a hung probe killed at its
// timeout, a readiness probe holding back a dependent, the liveness actions
// restart, stop and exit, and the status views' escaping. Every wait is
// bounded; nothing is timed. Ports: 42100-42199 only.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <utime.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "supervised.hpp"

namespace keel::systest {
namespace {

class ProbeHealth : public ::testing::TestWithParam<Placement> {
 protected:
  void SetUp() override {
    if (GetParam() == Placement::Namespace && !namespaces_available()) {
      GTEST_SKIP() << "unshare --pid is not available here";
    }
  }

  void service(const std::string& name, const std::string& text) { dir_.service(name, text); }
  std::string path(const std::string& name) const { return dir_.path(name); }

  void start() {
    keel_ = dir_.start(GetParam());
    ASSERT_TRUE(control_up(dir_, 20s));
  }

  Ctl ctl(std::vector<std::string> args) { return dir_.ctl(std::move(args)); }

  // The service's line of `status --json` ("" when not there).
  std::string json_of(const std::string& name) {
    Ctl o = ctl({"status", "--json"});
    for (const std::string& line : split_lines(o.out)) {
      if (contains(line, "\"name\": \"" + name + "\"")) return line;
    }
    return "";
  }

  static std::string field(const std::string& json, const std::string& key) {
    std::smatch m;
    const std::regex string_field("\"" + key + "\": \"((?:[^\"\\\\]|\\\\.)*)\"");
    if (std::regex_search(json, m, string_field)) return m[1];
    const std::regex number_field("\"" + key + "\": ([0-9]+)");
    if (std::regex_search(json, m, number_field)) return m[1];
    return "<no " + key + ">";
  }

  // Poll `status --json` until the service's `key` is `value` (pumping
  // keel's output meanwhile, so a full pipe never stalls keel).
  bool wait_field(const std::string& name, const std::string& key, const std::string& value, Duration timeout = 30s) {
    last_json_.clear();
    return poll_until(
        [&] {
          (void)keel_->find_line(Stream::Err, "no such line: only pumping output", 10ms);
          last_json_ = json_of(name);
          return field(last_json_, key) == value;
        },
        timeout, 100ms);
  }

  Supervised dir_;
  std::unique_ptr<KeelRun> keel_;
  std::string last_json_;
};

TEST_P(ProbeHealth, EachKindPassesAndFails) {
  // tcp: a listener and a port nobody listens on. Both fixed for this
  // placement's run (the two placements never run at once in one ctest
  // process; each picks its own ports all the same).
  const int base = GetParam() == Placement::Namespace ? 42110 : 42130;
  const std::string listen_port = std::to_string(base);
  const std::string dead_port = std::to_string(base + 1);
  const std::string http_port = std::to_string(base + 2);
  service("tcp_ok",
          "command = [\"python3\", \"-c\", \"import socket\\ns=socket.socket()\\ns.setsockopt(socket.SOL_SOCKET,"
          "socket.SO_REUSEADDR,1)\\ns.bind(('127.0.0.1'," +
              listen_port +
              "))\\ns.listen(64)\\nwhile True: s.accept()[0].close()\"]\n"
              "[liveness_probe]\ntcp = \"127.0.0.1:" +
              listen_port + "\"\ninterval = 0.2\nfailures = 1\nstart_period = 20\naction = \"stop\"\n");
  service("tcp_bad", "command = [\"sleep\", \"1000\"]\n[liveness_probe]\ntcp = \"127.0.0.1:" + dead_port +
                         "\"\ninterval = 0.2\nfailures = 2\naction = \"stop\"\n");
  std::filesystem::create_directories(path("www"));
  std::ofstream(path("www/index.html")) << "hello\n";
  service("http_ok", "command = [\"python3\", \"-m\", \"http.server\", \"--bind\", \"127.0.0.1\", \"--directory\", \"" +
                         path("www") + "\", \"" + http_port +
                         "\"]\n[readiness_probe]\ntcp = \"127.0.0.1:" + http_port +
                         "\"\ninterval = 0.2\n[liveness_probe]\nhttp = \"http://127.0.0.1:" + http_port +
                         "/index.html\"\ninterval = 0.2\nfailures = 1\naction = \"stop\"\n");
  service("http_404", "requires = [\"http_ok\"]\ncommand = [\"sleep\", \"1000\"]\n[liveness_probe]\nhttp = "
                      "\"http://127.0.0.1:" + http_port +
                      "/missing\"\ninterval = 0.2\nfailures = 2\naction = \"stop\"\n");
  // http over a unix socket: a server answering 204 to /healthz, 500 to
  // anything else.
  std::ofstream(path("unix_web.py"))
      << "import socket\ns=socket.socket(socket.AF_UNIX)\ns.bind('" << path("web.sock")
      << "')\ns.listen(64)\nwhile True:\n  c=s.accept()[0]\n  r=c.recv(4096)\n"
         "  c.sendall(b'HTTP/1.0 204 No Content\\r\\n\\r\\n' if r.startswith(b'GET /healthz ') else "
         "b'HTTP/1.0 500 Oops\\r\\n\\r\\n')\n  c.close()\n";
  service("unix_ok", "command = [\"python3\", \"" + path("unix_web.py") + "\"]\n[readiness_probe]\nfile = \"" +
                         path("web.sock") + "\"\ninterval = 0.2\n[liveness_probe]\nhttp = \"unix:" + path("web.sock") +
                         ":/healthz\"\ninterval = 0.2\nfailures = 1\naction = \"stop\"\n");
  service("unix_500", "requires = [\"unix_ok\"]\ncommand = [\"sleep\", \"1000\"]\n[liveness_probe]\nhttp = \"unix:" +
                          path("web.sock") + ":/other\"\ninterval = 0.2\nfailures = 2\naction = \"stop\"\n");
  std::ofstream(path("alive")) << "x";
  std::ofstream(path("stale")) << "x";
  struct utimbuf old{};
  old.actime = old.modtime = ::time(nullptr) - 3600;
  ASSERT_EQ(::utime(path("stale").c_str(), &old), 0);
  service("file_ok", "command = [\"sleep\", \"1000\"]\n[liveness_probe]\nfile = \"" + path("alive") +
                         "\"\nfile_max_age = 600\ninterval = 0.2\nfailures = 1\naction = \"stop\"\n");
  service("file_stale", "command = [\"sleep\", \"1000\"]\n[liveness_probe]\nfile = \"" + path("stale") +
                            "\"\nfile_max_age = 60\ninterval = 0.2\nfailures = 2\naction = \"stop\"\n");
  service("file_missing", "command = [\"sleep\", \"1000\"]\n[liveness_probe]\nfile = \"" + path("nothing") +
                              "\"\ninterval = 0.2\nfailures = 2\naction = \"stop\"\n");
  service("exec_ok", "command = [\"sleep\", \"1000\"]\n[liveness_probe]\nexec = [\"/bin/sh\", \"-c\", \"echo fine\"]\n"
                     "interval = 0.2\nfailures = 1\naction = \"stop\"\n");
  // Output with an escape sequence and a quote: shown escaped, never raw.
  service("exec_bad", "command = [\"sleep\", \"1000\"]\n[liveness_probe]\nexec = [\"/bin/sh\", \"-c\", "
                      "\"printf 'bad \\\\033[31mred\\\\033[0m \\\"q\\\"'; exit 3\"]\ninterval = 0.2\nfailures = 2\n"
                      "action = \"stop\"\n");
  start();

  for (const char* ok : {"tcp_ok", "http_ok", "unix_ok", "file_ok", "exec_ok"}) {
    EXPECT_TRUE(wait_field(ok, "health", "healthy")) << ok << ": " << last_json_;
    EXPECT_EQ(field(last_json_, "state"), "running") << last_json_;
    EXPECT_EQ(field(last_json_, "probe_result"), "passed") << last_json_;
  }
  EXPECT_TRUE(contains(field(json_of("http_ok"), "probe_output"), "HTTP/1.0 200")) << json_of("http_ok");
  EXPECT_TRUE(contains(field(json_of("exec_ok"), "probe_output"), "fine")) << json_of("exec_ok");
  EXPECT_TRUE(contains(field(json_of("unix_ok"), "probe_output"), "HTTP/1.0 204")) << json_of("unix_ok");

  struct Bad {
    const char* name;
    const char* output;
  };
  for (const Bad& bad : {Bad{"tcp_bad", "Connection refused"}, Bad{"http_404", "404"}, Bad{"unix_500", "HTTP/1.0 500 Oops"},
                         Bad{"file_stale", "modified 3"}, Bad{"file_missing", "No such file"},
                         Bad{"exec_bad", "bad \\u001b[31mred"}}) {
    EXPECT_TRUE(wait_field(bad.name, "state", "failed")) << bad.name << ": " << last_json_;
    EXPECT_EQ(field(last_json_, "health"), "unhealthy") << last_json_;
    EXPECT_NE(field(last_json_, "health_since_ns"), "0") << last_json_;
    EXPECT_TRUE(starts_with(field(last_json_, "last_error"), "unhealthy: liveness probe failed")) << last_json_;
    EXPECT_TRUE(contains(field(last_json_, "probe_output"), bad.output)) << bad.name << ": " << last_json_;
  }
  EXPECT_TRUE(contains(json_of("exec_bad"), "\"probe_result\": \"failed: exited 3\"")) << json_of("exec_bad");
  EXPECT_TRUE(contains(json_of("exec_bad"), "\\\"q\\\"")) << json_of("exec_bad");

  // The text views: health, and the output with its escape made visible.
  Ctl detail = ctl({"status", "exec_bad"});
  EXPECT_TRUE(contains(detail.out, "health:      unhealthy since ")) << detail.out;
  EXPECT_TRUE(contains(detail.out, "last probe:  liveness: failed: exited 3")) << detail.out;
  EXPECT_TRUE(contains(detail.out, "bad \\x1b[31mred")) << detail.out;
  EXPECT_FALSE(contains(detail.out, "\x1b")) << detail.out;
  Ctl table = ctl({"status"});
  EXPECT_TRUE(contains(table.out, "HEALTH")) << table.out;
  EXPECT_TRUE(contains(table.out, "healthy")) << table.out;
  EXPECT_FALSE(contains(table.out, "\x1b")) << table.out;
  // keel's log names the service and the probe's output.
  EXPECT_TRUE(contains(keel_->text(Stream::Err), "tcp_bad: unhealthy: liveness probe failed: exited 1 2 times in a row "
                                                 "(stop): connect to 127.0.0.1:" + dead_port + ": Connection refused"))
      << keel_->text(Stream::Err);
  keel_->signal(SIGTERM);
  EXPECT_TRUE(keel_->wait_exit(60s));
}

TEST_P(ProbeHealth, AHungProbeIsKilledAtItsTimeoutAndCountsAsAFailure) {
  service("hung", "command = [\"sleep\", \"1000\"]\n[liveness_probe]\nexec = [\"/bin/sh\", \"-c\", \"echo $$ >> " +
                      path("probe.pids") + "; exec sleep 1000\"]\ninterval = 0.2\ntimeout = 3\nfailures = 1\n"
                      "action = \"stop\"\n");
  start();
  // The first run's pid, as the test sees it (it lives until its timeout).
  pid_t probe = -1;
  ASSERT_TRUE(poll_until(
      [&] {
        std::ifstream in(path("probe.pids"));
        int inner = 0;
        if (!(in >> inner)) return false;
        probe = keel_->host_pid(inner);
        return true;
      },
      20s, 20ms));
  ASSERT_GT(probe, 0);
  EXPECT_TRUE(pid_alive(probe));
  EXPECT_TRUE(wait_field("hung", "state", "failed")) << last_json_;
  EXPECT_EQ(field(last_json_, "probe_result"), "timed out after 3 s") << last_json_;
  EXPECT_TRUE(contains(field(last_json_, "last_error"), "unhealthy: liveness probe timed out after 3 s")) << last_json_;
  // Killed, and reaped by keel: no process and no zombie left.
  EXPECT_TRUE(poll_until([&] { return !pid_exists(probe); }, 10s, 20ms)) << "probe pid " << probe << " still there";
  keel_->signal(SIGTERM);
  EXPECT_TRUE(keel_->wait_exit(60s));
}

TEST_P(ProbeHealth, AReadinessProbeHoldsBackWhatRequiresTheService) {
  // web is up (and its file there) only a second after its exec; dep
  // checks, as it starts, that the file exists.
  service("web", "command = [\"/bin/sh\", \"-c\", \"sleep 1; touch " + path("web.up") +
                     "; exec sleep 1000\"]\n[readiness_probe]\nfile = \"" + path("web.up") + "\"\ninterval = 0.2\n");
  service("dep", "requires = [\"web\"]\ncommand = [\"/bin/sh\", \"-c\", \"if test -e " + path("web.up") +
                     "; then echo after > " + path("dep.out") + "; else echo before > " + path("dep.out") +
                     "; fi; exec sleep 1000\"]\n");
  start();
  EXPECT_TRUE(wait_field("dep", "state", "running")) << last_json_;
  // "running" comes at dep's exec, before its shell has written the file.
  std::string seen;
  EXPECT_TRUE(poll_until([&] { return std::getline(std::ifstream(path("dep.out")), seen) && !seen.empty(); }, 10s));
  EXPECT_EQ(seen, "after");
  // In keel's log: web ready by its probe, then dep started.
  const std::string err = keel_->text(Stream::Err);
  const auto passed = err.find("web: readiness probe passed");
  const auto dep_started = err.find("dep: started");
  ASSERT_NE(passed, std::string::npos) << err;
  ASSERT_NE(dep_started, std::string::npos) << err;
  EXPECT_LT(passed, dep_started) << err;
  const std::string json = json_of("web");
  EXPECT_EQ(field(json, "ready"), "<no ready>");  // a boolean, not matched by field()
  EXPECT_TRUE(contains(json, "\"ready\": true")) << json;
  EXPECT_EQ(field(json, "probe"), "readiness") << json;
  EXPECT_EQ(field(json, "readiness"), "probe") << json;
  keel_->signal(SIGTERM);
  EXPECT_TRUE(keel_->wait_exit(60s));
}

TEST_P(ProbeHealth, LivenessRestartRestartsAndHealsAgain) {
  service("svc", "command = [\"/bin/sh\", \"-c\", \"echo run >> " + path("runs") +
                     "; exec sleep 1000\"]\nrestart_delay = 0\n[liveness_probe]\nexec = [\"/bin/sh\", \"-c\", "
                     "\"test ! -e " + path("sick") + " || { echo sick; exit 1; }\"]\ninterval = 0.2\nfailures = 2\n");
  start();
  EXPECT_TRUE(wait_field("svc", "health", "healthy")) << last_json_;
  ASSERT_TRUE(create_file(path("sick")));
  EXPECT_TRUE(wait_field("svc", "restarts", "1")) << last_json_;
  EXPECT_TRUE(contains(keel_->text(Stream::Err), "svc: unhealthy: liveness probe failed: exited 1 2 times in a row "
                                                 "(restart): sick"))
      << keel_->text(Stream::Err);
  std::filesystem::remove(path("sick"));
  EXPECT_TRUE(wait_field("svc", "health", "healthy")) << last_json_;
  EXPECT_EQ(field(last_json_, "state"), "running");
  std::ifstream runs(path("runs"));
  int n = 0;
  for (std::string line; std::getline(runs, line);) ++n;
  EXPECT_GE(n, 2);
  keel_->signal(SIGTERM);
  EXPECT_TRUE(keel_->wait_exit(60s));
}

TEST_P(ProbeHealth, LivenessExitEndsKeel) {
  service("main", "command = [\"sleep\", \"1000\"]\n[liveness_probe]\nfile = \"" + path("nothing") +
                      "\"\ninterval = 0.2\nfailures = 2\naction = \"exit\"\n");
  start();
  auto code = keel_->wait_exit(60s);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 1) << keel_->text(Stream::Err);
  const std::string err = keel_->text(Stream::Err);
  const auto unhealthy = err.find("main: unhealthy: liveness probe failed: exited 1 2 times in a row (exit)");
  EXPECT_NE(unhealthy, std::string::npos) << err;
  EXPECT_LT(unhealthy, err.find("every service is stopped")) << err;
}

INSTANTIATE_TEST_SUITE_P(Placements, ProbeHealth, ::testing::Values(Placement::Namespace, Placement::Subreaper),
                         [](const ::testing::TestParamInfo<Placement>& param) {
                           return std::string(placement_name(param.param));
                         });

}  // namespace
}  // namespace keel::systest
