#include "supervised.hpp"

#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

namespace keel::systest {

namespace fs = std::filesystem;

Supervised::Supervised(Access access, const std::vector<std::string>& folders) : access_(access) {
  fs::create_directories(dir_.path() + "/services");
  if (access_ == Access::Open) {
    ::chmod(dir_.path().c_str(), 0755);
    ::chmod((dir_.path() + "/services").c_str(), 0755);
  }
  for (const std::string& rel : folders) folder(rel);
}

void Supervised::service(const std::string& name, const std::string& toml) const {
  file("services/" + name + ".toml", toml);
}

void Supervised::remove_service(const std::string& name) const { fs::remove(path("services/" + name + ".toml")); }

void Supervised::file(const std::string& rel, const std::string& text) const {
  std::ofstream(path(rel)) << text;
  if (access_ == Access::Open) ::chmod(path(rel).c_str(), 0644);
}

void Supervised::folder(const std::string& rel) const {
  fs::create_directories(path(rel));
  ::chmod(path(rel).c_str(), 0755);
}

std::string Supervised::script(const std::string& name, const std::string& body) const {
  std::string p = path(name);
  std::ofstream(p) << "#!/bin/sh\n" << body;
  ::chmod(p.c_str(), 0755);
  return p;
}

std::string Supervised::path(const std::string& rel) const { return dir_.path() + "/" + rel; }

std::string Supervised::read(const std::string& rel) const { return read_file(path(rel)); }

const std::string& Supervised::dir() const { return dir_.path(); }

std::string Supervised::socket() const { return dir_.path() + "/run/control.sock"; }

std::unique_ptr<KeelRun> Supervised::start(Placement placement, const Env& env) const {
  Launch l = keel_launch(placement, {"--role=system"});
  l.set_env = {{"KEEL_CONFIG_DIR", dir_.path()}, {"KEEL_RUN_DIR", dir_.path() + "/run"}, {"KEEL_CGROUP_ROOT", "none"}};
  l.set_env.insert(l.set_env.end(), env.begin(), env.end());  // the runner applies them in order: a later one wins
  return std::make_unique<KeelRun>(l);
}

std::vector<std::string> Supervised::ctl_argv(std::vector<std::string> args) const {
  std::vector<std::string> argv{"ctl", "--socket", socket()};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

Ctl Supervised::ctl(std::vector<std::string> args) const {
  Outcome o = run_through(program_launch(Placement::Subreaper, keel_binary(), ctl_argv(std::move(args))));
  return Ctl{o.code.value_or(-1), o.out, o.err};
}

bool control_up(const Supervised& s, Duration timeout) {
  return poll_until([&] { return s.ctl({"status"}).code == 0; }, timeout, 20ms);
}

bool is_event(const std::string& line, const std::string& service, const std::string& what) {
  for (const char* level : {"keel: ", "keel: error: ", "keel: warning: "}) {
    std::string prefix = level;
    prefix.append(service).append(": ").append(what);
    if (line.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

std::optional<std::string> event(KeelRun& k, const std::string& service, const std::string& what, Duration timeout) {
  return seen(
      k, Stream::Err, [&](const std::string& l) { return is_event(l, service, what); }, timeout);
}

bool has_event(KeelRun& k, const std::string& service, const std::string& what, Duration timeout) {
  return event(k, service, what, timeout).has_value();
}

int count_events(KeelRun& k, const std::string& service, const std::string& what) {
  int n = 0;
  for (const std::string& l : k.lines(Stream::Err)) n += is_event(l, service, what) ? 1 : 0;
  return n;
}

std::string detail(const Supervised& s, const std::string& service, const std::string& key) {
  Ctl st = s.ctl({"status", service});
  std::smatch m;
  std::regex re("(^|\n)" + key + ":[ ]*([^\n]*)");
  return std::regex_search(st.out, m, re) ? std::string(m[2]) : std::string("<none: " + st.out + st.err + ">");
}

std::string cgroup2_root(const std::string& tag) {
  for (const char* mount : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
    struct statfs st {};
    if (::statfs(mount, &st) == 0 && st.f_type == 0x63677270) {  // CGROUP2_SUPER_MAGIC
      return std::string(mount) + "/keel-test-" + tag + "-" + std::to_string(::getpid());
    }
  }
  return "";
}

}  // namespace keel::systest
