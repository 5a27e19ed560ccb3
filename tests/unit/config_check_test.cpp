// config_check_test.cpp — `keel check` (system/config_check.cpp), the
// service set shared with keel-image (service/service_set.cpp), the keys a
// reload's dry run names (service/config_diff.cpp) and keelctl's
// `reload --dry-run`.
#include "system/config_check.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "control/keelctl.hpp"
#include "service/config_diff.hpp"
#include "service/service_set.hpp"
#include "test_util.hpp"

namespace keel {
namespace {

namespace fs = std::filesystem;
using testutil::TempDir;
using testutil::write_file;

class ConfigCheck : public ::testing::Test {
 protected:
  void service(const std::string& name, const std::string& text) {
    write_file(dir_.path() / "services" / (name + ".toml"), text);
  }
  CheckReport check() {
    CheckOptions o;
    o.config_dir = dir_.str();
    o.root = root_;
    return check_configuration(o);
  }
  // Every finding as `keel check` prints it, one per line.
  std::string text() {
    std::string out;
    for (const CheckFinding& f : check().findings) out += f.format() + "\n";
    return out;
  }
  [[nodiscard]] std::string file(const std::string& name) const {
    return (dir_.path() / "services" / (name + ".toml")).string();
  }
  TempDir dir_{"keel-check-"};
  std::string root_;
};

TEST_F(ConfigCheck, AGoodConfigurationHasNoFinding) {
  write_file(dir_.path() / "keel.toml", "hostname = \"box\"\n");
  service("db", "command = [\"/bin/sleep\", \"100\"]\n");
  service("web", "command = [\"/bin/sleep\", \"100\"]\nrequires = [\"db\", \"rng-ready\"]\n");
  const CheckReport r = check();
  EXPECT_TRUE(r.findings.empty()) << text();
  EXPECT_EQ(r.services, 2);
  EXPECT_EQ(r.errors(), 0);
}

TEST_F(ConfigCheck, EachKindOfProblemWithItsFileAndLine) {
  write_file(dir_.path() / "keel.toml", "hostname = \"box\"\nshutdown_timeout = \"soon\"\n");
  service("syntax", "command = [\"/bin/true\"\n");
  service("key", "command = [\"/bin/true\"]\nrestrat = \"never\"\n");
  service("range", "command = [\"/bin/true\"]\nstop_signal = 99\n");
  service("user", "command = [\"/bin/true\"]\nuser = \"no-such-user-keel-check\"\n");
  service("needs", "command = [\"/bin/true\"]\n\nrequires = [\"nowhere\"]\n");
  service("cyc-a", "command = [\"/bin/true\"]\nafter = [\"cyc-b\"]\n");
  service("cyc-b", "command = [\"/bin/true\"]\nafter = [\"cyc-a\"]\n");
  service("probe", "command = [\"/bin/true\"]\n[liveness_probe]\ntcp = \"nohost\"\n");
  service("sock", "command = [\"/bin/true\"]\n[[socket]]\nlisten = \"unix:relative.sock\"\n");
  service("logs", "command = [\"/bin/true\"]\n[log]\nfile = \"relative.log\"\n");
  const std::string out = text();
  const std::string k = (dir_.path() / "keel.toml").string();
  EXPECT_NE(out.find(k + ":2: error: shutdown_timeout: "), std::string::npos) << out;
  EXPECT_NE(out.find(file("syntax") + ":"), std::string::npos) << out;
  EXPECT_NE(out.find(file("key") + ":2: error: restrat: unknown key"), std::string::npos) << out;
  EXPECT_NE(out.find(file("range") + ":2: error: stop_signal: "), std::string::npos) << out;
  EXPECT_NE(out.find(file("user") + ":2: error: user: unknown user"), std::string::npos) << out;
  EXPECT_NE(out.find(file("needs") + ":3: error: requires: no service named 'nowhere'"), std::string::npos) << out;
  EXPECT_NE(out.find(": error: dependency cycle: cyc-"), std::string::npos) << out;
  EXPECT_NE(out.find(file("probe") + ":3: error: liveness_probe.tcp: "), std::string::npos) << out;
  EXPECT_NE(out.find(file("sock") + ":3: error: socket[0].listen: "), std::string::npos) << out;
  EXPECT_NE(out.find(file("logs") + ":3: error: log.file: "), std::string::npos) << out;
  const CheckReport r = check();
  EXPECT_EQ(r.services, 10);
  EXPECT_EQ(r.warnings(), 0) << out;
  EXPECT_EQ(r.errors(), 10) << out;
}

TEST_F(ConfigCheck, HarmlessThingsAreWarnings) {
  service("a", "command = [\"/no/such/program\"]\nwants = [\"ghost\"]\n");
  service("rng-ready", "command = [\"/bin/true\"]\n");
  const CheckReport r = check();
  EXPECT_EQ(r.errors(), 0) << text();
  EXPECT_EQ(r.warnings(), 3) << text();
  const std::string out = text();
  EXPECT_NE(out.find(file("a") + ": warning: command: /no/such/program: No such file or directory"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(file("a") + ":2: warning: wants: no service named 'ghost' (ignored)"), std::string::npos) << out;
  EXPECT_NE(out.find(file("rng-ready") + ": warning: 'rng-ready' is built in"), std::string::npos) << out;
}

TEST_F(ConfigCheck, AStartTargetThatIsNoServiceIsAWarning) {
  write_file(dir_.path() / "keel.toml", "target = \"multi-user\"\n");
  service("web", "command = [\"/bin/true\"]\n");
  EXPECT_NE(text().find("keel.toml: warning: target: no service named 'multi-user': keel starts every service"),
            std::string::npos)
      << text();
  service("multi-user", "type = \"target\"\nrequires = [\"web\"]\n");
  EXPECT_TRUE(check().findings.empty()) << text();
}

TEST_F(ConfigCheck, TheMainProgram) {
  write_file(dir_.path() / "main", "#!/bin/sh\n");
  EXPECT_NE(text().find("/main: error: the main program is not executable"), std::string::npos) << text();
  ::chmod((dir_.path() / "main").c_str(), 0755);
  EXPECT_EQ(check().errors(), 0) << text();
  EXPECT_EQ(check().services, 1);
  // A service may require it, as at boot.
  service("after-main", "command = [\"/bin/true\"]\nrequires = [\"main\"]\n");
  EXPECT_EQ(check().errors(), 0) << text();
  fs::remove(dir_.path() / "main");
  ASSERT_EQ(::mkfifo((dir_.path() / "main").c_str(), 0755), 0);
  EXPECT_NE(text().find("/main: error: not a regular file"), std::string::npos) << text();
}

TEST_F(ConfigCheck, HostileFilesAreErrorsNotHangs) {
  ASSERT_EQ(::mkfifo((dir_.path() / "keel.toml").c_str(), 0644), 0);
  fs::create_directories(dir_.path() / "services");
  ASSERT_EQ(::mkfifo(file("fifo").c_str(), 0644), 0);
  fs::create_symlink("loop.toml", file("loop"));
  fs::create_symlink("/dev/zero", file("zero"));
  service("huge", std::string(std::size_t{4} * 1024 * 1024, '#'));
  service("deep", "a = " + std::string(100000, '[') + std::string(100000, ']') + "\n");
  // In a child with a deadline: a FIFO opened for reading without
  // O_NONBLOCK would wait for a writer forever.
  const std::string out = testutil::run_in_child([&] { return text(); }, 20000);
  EXPECT_NE(out.find("keel.toml: error: cannot read: not a regular file (a FIFO)"), std::string::npos) << out;
  EXPECT_NE(out.find(file("fifo") + ": error: not a regular file (a FIFO)"), std::string::npos) << out;
  EXPECT_NE(out.find(file("loop") + ": error: cannot open: Too many levels of symbolic links"), std::string::npos)
      << out;
  EXPECT_NE(out.find(file("zero") + ": error: not a regular file (a character device)"), std::string::npos) << out;
  EXPECT_NE(out.find(file("huge") + ": error: larger than"), std::string::npos) << out;
  EXPECT_NE(out.find(file("deep") + ":1: error: nested deeper than"), std::string::npos) << out;
  EXPECT_EQ(check().errors(), 6) << out;
}

TEST_F(ConfigCheck, AServicesFolderThatIsALinkLoop) {
  fs::create_symlink("services", dir_.path() / "services");
  const std::string out = text();
  EXPECT_NE(out.find("services: error: cannot read the folder: Too many levels of symbolic links"), std::string::npos)
      << out;
}

TEST_F(ConfigCheck, AnImageTreeWithItsOwnUsersAndPrograms) {
  TempDir image("keel-check-root-");
  root_ = image.str();
  write_file(image.path() / "etc/passwd", "app:x:1000:1000::/:/bin/sh\n");
  write_file(image.path() / "etc/group", "app:x:1000:\n");
  write_file(image.path() / "usr/bin/app", "#!/bin/sh\n");
  ::chmod((image.path() / "usr/bin/app").c_str(), 0755);
  fs::create_symlink("usr/bin", image.path() / "bin");          // usr-merged
  fs::create_symlink("/usr/bin/app", image.path() / "usr/bin/link");  // absolute: inside the image
  service("app", "command = [\"/bin/app\"]\nuser = \"app\"\n");
  service("link", "command = [\"/usr/bin/link\"]\ngroup = \"app\"\n");
  EXPECT_TRUE(check().findings.empty()) << text();
  // The host's users are not the image's.
  service("host", "command = [\"/usr/bin/app\"]\nuser = \"root\"\n");
  EXPECT_NE(text().find(file("host") + ":2: error: user: unknown user 'root' (not in " + root_ + "/etc/passwd)"),
            std::string::npos)
      << text();
  // A program the host has and the image does not.
  service("host", "command = [\"/bin/sh\"]\n");
  EXPECT_NE(text().find(file("host") + ": warning: command: /bin/sh: No such file or directory (in " + root_ + ")"),
            std::string::npos)
      << text();
}

TEST(ConfigCheckFormat, FileLineLevelAndEscapedText) {
  EXPECT_EQ((CheckFinding{"/etc/keel/services/web.toml", 4, true, "restart: bad"}.format()),
            "/etc/keel/services/web.toml:4: error: restart: bad");
  EXPECT_EQ((CheckFinding{"a.toml", 0, false, "x"}.format()), "a.toml: warning: x");
  // A file name is anyone's text: no newline or escape reaches the terminal.
  const std::string f = CheckFinding{"a\nb\x1b[2J.toml", 1, true, "m"}.format();
  EXPECT_EQ(f.find('\n'), std::string::npos) << f;
  EXPECT_EQ(f.find('\x1b'), std::string::npos) << f;
}

TEST(ServiceSet, BuiltinsAddedAndGraphProblemsSorted) {
  auto svc = [](const std::string& name, std::vector<service::DependencyRef> requires_,
                std::vector<service::DependencyRef> after = {}) {
    service::ServiceConfig c;
    c.name = name;
    c.file = name + ".toml";
    c.command = {"/bin/true"};
    c.requires_ = std::move(requires_);
    c.after = std::move(after);
    return c;
  };
  std::vector<service::ServiceConfig> v;
  v.push_back(svc("a", {{"rng-ready", 1}}, {{"ghost", 2}}));
  v.push_back(svc("b", {{"missing", 3}}));
  const service::SetCheck set = service::check_service_set(std::move(v));
  ASSERT_EQ(set.services.size(), 3U);
  EXPECT_EQ(set.services[2].name, "rng-ready");
  EXPECT_FALSE(set.graph.nodes[0].broken);
  EXPECT_TRUE(set.graph.nodes[1].broken);
  ASSERT_EQ(set.problems.size(), 2U);
  const auto fatal = std::count_if(set.problems.begin(), set.problems.end(), [](const auto& p) { return p.fatal; });
  EXPECT_EQ(fatal, 1);
}

TEST(ConfigDiff, NamesTheKeysThatChanged) {
  service::ServiceConfig a;
  a.command = {"/bin/sleep", "1"};
  a.sockets.push_back(service::SocketConfig{});
  service::ServiceConfig b = a;
  b.source = 42;            // the text changed...
  b.sockets[0].line = 9;    // ...and a line moved: no setting
  EXPECT_TRUE(service::changed_keys(a, b).empty());
  b.command = {"/bin/sleep", "2"};
  b.environment = {{"A", "1"}};
  b.log.file = "/var/log/x";
  b.liveness_probe.kind = service::ProbeKind::Tcp;
  b.sockets[0].port = 80;
  EXPECT_EQ(service::changed_keys(a, b),
            (std::vector<std::string>{"command", "environment", "log", "liveness_probe", "socket"}));
}

TEST(ConfigCheckKeelctl, ReloadDryRun) {
  control::KeelctlCommand c = control::parse_keelctl("keelctl", {"reload", "--dry-run"}, nullptr);
  EXPECT_EQ(c.exit_code, -1) << c.message;
  EXPECT_EQ(c.request.verb, control::Verb::Reload);
  EXPECT_EQ(c.request.flags, static_cast<std::uint32_t>(control::kFlagDryRun));
  c = control::parse_keelctl("keelctl", {"reload", "web", "--dry-run"}, nullptr);
  EXPECT_EQ(c.exit_code, 2);
  c = control::parse_keelctl("keelctl", {"status", "--dry-run"}, nullptr);
  EXPECT_EQ(c.exit_code, 2);
  c = control::parse_keelctl("keelctl", {"reload", "--help"}, nullptr);
  EXPECT_NE(c.message.find("--dry-run"), std::string::npos) << c.message;
}

}  // namespace
}  // namespace keel
