// supervised.hpp — keel in the system role on a folder of service files,
// driven from a system test: the fixture the supervisor's scenario tests
// share (supervisor, events, failure policy, notify, socket activation, fd
// store, reload --dry-run, probes, analyze).
//
//   Supervised s;                                   // CONFIG_DIR with services/
//   s.service("web", "command = [\"/bin/sleep\", \"600\"]\n");
//   auto keel = s.start(GetParam());                 // keel --role=system on it
//   ASSERT_TRUE(control_up(s));
//   EXPECT_TRUE(event(*keel, "web", "started"));     // "keel: web: started ..."
//   Ctl c = s.ctl({"stop", "web"});                  // keelctl on its socket
//
// keel runs with KEEL_CONFIG_DIR = the folder, KEEL_RUN_DIR = FOLDER/run and
// KEEL_CGROUP_ROOT=none unless start()'s `env` says otherwise (a later entry
// wins, so {"KEEL_CGROUP_ROOT", root} picks a cgroup root).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "harness.hpp"

namespace keel::systest {

// What keelctl (`keel ctl --socket PATH ARGS...`) answered.
struct Ctl {
  int code = -1;  // -1: it did not end in time (a failure was added)
  std::string out;
  std::string err;
};

using Env = std::vector<std::pair<std::string, std::string>>;

class Supervised {
 public:
  // Private: the folder is the test's own (TempDir's mode). Open: the
  // folder and services/ are 0755 and files written 0644, for a reader or a
  // sender that runs as another user (keel check as a throwaway uid, a
  // forged notify message whose stop must be the socket's own check).
  // `folders`: made too (0755), e.g. where services' sockets go.
  enum class Access { Private, Open };
  explicit Supervised(Access access = Access::Private, const std::vector<std::string>& folders = {});

  // services/NAME.toml.
  void service(const std::string& name, const std::string& toml) const;
  void remove_service(const std::string& name) const;
  // A file at FOLDER/REL (0644 with Access::Open); a folder (0755).
  void file(const std::string& rel, const std::string& text) const;
  void folder(const std::string& rel) const;
  // An executable shell script FOLDER/NAME ("#!/bin/sh\n" + body); its path.
  [[nodiscard]] std::string script(const std::string& name, const std::string& body) const;
  [[nodiscard]] std::string path(const std::string& rel) const;
  [[nodiscard]] std::string read(const std::string& rel) const;
  [[nodiscard]] const std::string& dir() const;
  // keel's control socket.
  [[nodiscard]] std::string socket() const;

  // keel --role=system on the folder, `env` on top of its defaults.
  [[nodiscard]] std::unique_ptr<KeelRun> start(Placement placement, const Env& env = {}) const;
  // keelctl's argv (for a Launch that keeps running: `keelctl events`).
  [[nodiscard]] std::vector<std::string> ctl_argv(std::vector<std::string> args) const;
  // keelctl run to its end.
  Ctl ctl(std::vector<std::string> args) const;

 private:
  TempDir dir_;
  Access access_;
};

// keel's control socket answers `status` (within `timeout`).
bool control_up(const Supervised& s, Duration timeout = 10s);

// Is `line` keel's line for an event, e.g. ("web", "ready") matches
// "keel: web: ready" and "keel: error: web: failed: ..." for "failed"?
bool is_event(const std::string& line, const std::string& service, const std::string& what);
// The event's line, received already or within `timeout` (seen()).
std::optional<std::string> event(KeelRun& k, const std::string& service, const std::string& what,
                                 Duration timeout = kLineTimeout);
bool has_event(KeelRun& k, const std::string& service, const std::string& what, Duration timeout = kLineTimeout);
// How many of keel's stderr lines so far are the event.
int count_events(KeelRun& k, const std::string& service, const std::string& what);
// The value of `keelctl status SERVICE`'s "KEY: value" line, or
// "<none: what keelctl said>".
std::string detail(const Supervised& s, const std::string& service, const std::string& key);

// A fresh cgroup root path in the cgroup2 mount (not created), or "" when
// there is none here.
std::string cgroup2_root(const std::string& tag);

}  // namespace keel::systest
