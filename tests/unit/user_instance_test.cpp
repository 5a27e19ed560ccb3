// Unit tests for a user instance's defaults (core/user_dirs) and for what
// its loader refuses (service/user_instance): each key that needs root is
// refused with one sentence naming it, what is already so is accepted.
#include "service/user_instance.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "core/user_dirs.hpp"

namespace keel {
namespace {

// Sets (or unsets: nullptr) a variable for the scope, and puts it back.
class EnvVar {
 public:
  EnvVar(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~EnvVar() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  EnvVar(const EnvVar&) = delete;
  EnvVar& operator=(const EnvVar&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(UserDirs, ConfigDirFollowsXdgThenHomeThenEtc) {
  EnvVar xdg("XDG_CONFIG_HOME", "/home/u/cfg");
  EnvVar home("HOME", "/home/u");
  EXPECT_EQ(user_config_dir(), "/home/u/cfg/keel");
  {
    EnvVar relative("XDG_CONFIG_HOME", "cfg");  // relative: ignored (XDG)
    EXPECT_EQ(user_config_dir(), "/home/u/.config/keel");
  }
  {
    EnvVar none("XDG_CONFIG_HOME", nullptr);
    EXPECT_EQ(user_config_dir(), "/home/u/.config/keel");
    EnvVar root_home("HOME", "/");  // USER 1000 with no passwd entry in a container
    EXPECT_EQ(user_config_dir(), "/etc/keel");
    EnvVar no_home("HOME", nullptr);
    EXPECT_EQ(user_config_dir(), "/etc/keel");
  }
}

TEST(UserDirs, RunDirIsXdgRuntimeDirElseRunKeel) {
  {
    EnvVar xdg("XDG_RUNTIME_DIR", "/run/user/1000");
    EXPECT_EQ(user_run_dir(), "/run/user/1000/keel");
  }
  EnvVar none("XDG_RUNTIME_DIR", nullptr);
  EXPECT_EQ(user_run_dir(), "/run/keel");
}

TEST(UserDirs, KeelctlSocketIsRootsForRootAndTheUsersOtherwise) {
  EnvVar xdg("XDG_RUNTIME_DIR", "/run/user/1000");
  EXPECT_EQ(default_control_socket(),
            ::getuid() == 0 ? std::string("/run/keel/control.sock") : std::string("/run/user/1000/keel/control.sock"));
}

namespace svc = keel::service;

svc::ServiceConfig plain(const char* name) {
  svc::ServiceConfig c;
  c.name = name;
  c.file = std::string("/x/") + name + ".toml";
  c.command = {"/bin/true"};
  return c;
}

const svc::UserInstance kSelf{1000, 1000, false};

TEST(UserInstance, AnotherUserIsRefusedByName) {
  svc::ServiceConfig c = plain("web");
  c.user = "www";
  c.has_user = true;
  c.uid = 33;
  c.gid = 33;
  EXPECT_EQ(svc::user_instance_refusal(c, kSelf), "user instance: service web: user = \"www\" needs root; refused");
  c.user.clear();
  EXPECT_EQ(svc::user_instance_refusal(c, kSelf), "user instance: service web: user = 33 needs root; refused");
}

TEST(UserInstance, AnotherGroupIsRefused) {
  svc::ServiceConfig c = plain("web");
  c.has_user = true;
  c.uid = 1000;
  c.gid = 5;
  c.group = "tty";
  EXPECT_EQ(svc::user_instance_refusal(c, kSelf), "user instance: service web: group = \"tty\" needs root; refused");
}

TEST(UserInstance, KeelsOwnUserIsAcceptedAndChangesNothing) {
  svc::ServiceConfig c = plain("web");
  c.user = "me";
  c.has_user = true;
  c.uid = 1000;
  c.gid = 1000;
  c.groups = {1000};
  EXPECT_EQ(svc::user_instance_refusal(c, kSelf), "");
  EXPECT_FALSE(c.has_user);  // no setgroups/setgid/setuid in the child
  EXPECT_TRUE(c.groups.empty());
}

TEST(UserInstance, CapabilitiesAreRefused) {
  svc::ServiceConfig c = plain("web");
  c.capabilities = 1U << 10;  // CAP_NET_BIND_SERVICE
  EXPECT_NE(svc::user_instance_refusal(c, kSelf).find("service web: capabilities"), std::string::npos);
}

TEST(UserInstance, AnRlimitAboveTheHardLimitIsRefusedOneBelowIsNot) {
  rlimit now{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &now), 0);
  if (now.rlim_max == RLIM_INFINITY) GTEST_SKIP() << "no hard limit to pass";
  svc::ServiceConfig c = plain("web");
  c.rlimits.push_back(svc::Rlimit{RLIMIT_NOFILE, 16, 32});
  EXPECT_EQ(svc::user_instance_refusal(c, kSelf), "");
  c.rlimits.back().hard = now.rlim_max + 1;
  EXPECT_EQ(svc::user_instance_refusal(c, kSelf),
            "user instance: service web: rlimits nofile = " + std::to_string(now.rlim_max + 1) +
                " is above the hard limit " + std::to_string(now.rlim_max) + " (raising it) needs root; refused");
  c.rlimits.back().hard = RLIM_INFINITY;
  EXPECT_NE(svc::user_instance_refusal(c, kSelf).find("rlimits nofile = infinity"), std::string::npos);
}

TEST(UserInstance, CgroupLimitsNeedADelegatedCgroup) {
  svc::ServiceConfig c = plain("web");
  c.cgroup.memory_max = 1 << 20;
  EXPECT_NE(svc::user_instance_refusal(c, kSelf).find("[cgroup] limits need a cgroup delegated"), std::string::npos);
  svc::UserInstance delegated = kSelf;
  delegated.cgroups = true;
  EXPECT_EQ(svc::user_instance_refusal(c, delegated), "");
}

TEST(UserInstance, ASocketOwnedBySomeoneElseIsRefused) {
  svc::ServiceConfig c = plain("web");
  svc::SocketConfig s;
  s.name = "web.sock";
  s.set_owner = true;
  s.uid = 0;
  c.sockets.push_back(s);
  EXPECT_NE(svc::user_instance_refusal(c, kSelf).find("[[socket]] web.sock"), std::string::npos);
  c.sockets.back().uid = 1000;
  EXPECT_EQ(svc::user_instance_refusal(c, kSelf), "");
}

TEST(UserInstance, RefusedServicesBecomeLoadErrors) {
  svc::LoadResult loaded;
  loaded.services.push_back(plain("ok"));
  svc::ServiceConfig bad = plain("bad");
  bad.capabilities = 0;
  loaded.services.push_back(bad);
  svc::refuse_what_needs_root(loaded, kSelf);
  ASSERT_EQ(loaded.services.size(), 1U);
  EXPECT_EQ(loaded.services[0].name, "ok");
  ASSERT_EQ(loaded.errors.size(), 1U);
  EXPECT_EQ(loaded.errors[0].file, "/x/bad.toml");
  EXPECT_NE(loaded.errors[0].message.find("service bad: capabilities"), std::string::npos);
}

}  // namespace
}  // namespace keel
