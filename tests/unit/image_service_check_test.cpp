// image_service_check_test.cpp — keel-image checks an image's service files
// (image/service_check.cpp) with the supervisor's own parser, against the
// image's passwd and group rather than the host's.
#include "image/service_check.hpp"

#include <gtest/gtest.h>

#include <string>

#include "image/builder.hpp"
#include "image/diagnostic.hpp"
#include "image/spec.hpp"
#include "test_util.hpp"

namespace keel::image {
namespace {

using testutil::TempDir;
using testutil::write_file;

class ImageServiceCheck : public ::testing::Test {
 protected:
  // "" when the plan is made, else the error as keel-image prints it.
  std::string plan_error(const std::string& spec_text) {
    const auto path = dir_.path() / "image.toml";
    write_file(path, spec_text);
    try {
      Spec spec = parse_spec_file(path);
      (void)plan_image(spec);
      return "";
    } catch (const ImageError& e) {
      std::string d = e.describe();
      // Only the file name of the spec, so expectations stay short.
      if (auto at = d.find(path.string()); at != std::string::npos) d.replace(at, path.string().size(), "image.toml");
      return d;
    }
  }

  TempDir dir_;
};

const std::string kUsers =
    "[[user]]\n"         // 1
    "name = \"www\"\n"   // 2
    "uid = 33\n"         // 3
    "\n"                 // 4
    "[[group]]\n"        // 5
    "name = \"audio\"\n"  // 6
    "gid = 29\n"         // 7
    "members = [\"www\"]\n"  // 8
    "\n";                // 9

TEST_F(ImageServiceCheck, GoodServicesAgainstTheImagesUsers) {
  EXPECT_EQ(plan_error(kUsers +
                       "[[file]]\n"                                  // 10
                       "path = \"/etc/keel/services/web.toml\"\n"   // 11
                       "content = \"\"\"\n"
                       "command = [\"/bin/web\"]\n"
                       "user = \"www\"\n"
                       "supplementary_groups = [\"audio\"]\n"
                       "\"\"\"\n"),
            "");
}

TEST_F(ImageServiceCheck, ErrorNamesTheSpecLineAndTheServiceLine) {
  const std::string e = plan_error(kUsers +
                                   "[[file]]\n"                                // 10
                                   "path = \"/etc/keel/services/web.toml\"\n"  // 11
                                   "content = \"\"\"\n"
                                   "command = [\"/bin/web\"]\n"  // service line 1
                                   "user = \"nginx\"\n"           // service line 2
                                   "\"\"\"\n");
  EXPECT_NE(e.find("image.toml:10: error: service file /etc/keel/services/web.toml: line 2: user: unknown user 'nginx'"),
            std::string::npos)
      << e;
}

TEST_F(ImageServiceCheck, EveryProblemOfTheFileFromASourceFile) {
  write_file(dir_.path() / "db.toml",
             "command = [\"/bin/db\"]\n"
             "restrat = \"always\"\n"
             "group = \"audio\"\n"
             "[log]\n"
             "keep = 1000\n");
  const std::string e = plan_error(
      "[[file]]\n"
      "source = \"db.toml\"\n"
      "path = \"/etc/keel/services/db.toml\"\n");
  // No [[group]]: the image's /etc/group has root only, so 'audio' is unknown
  // even when the host has it.
  EXPECT_NE(e.find("image.toml:1: error: service file /etc/keel/services/db.toml:\n"), std::string::npos) << e;
  EXPECT_NE(e.find("\n  line 2: restrat: unknown key; did you mean 'restart'?"), std::string::npos) << e;
  EXPECT_NE(e.find("\n  line 3: group: unknown group 'audio'"), std::string::npos) << e;
  EXPECT_NE(e.find("\n  line 5: log.keep: must be from 0 to 100, not 1000"), std::string::npos) << e;
}

TEST_F(ImageServiceCheck, SyntaxErrorAndBadName) {
  std::string e = plan_error(
      "[[file]]\n"
      "path = \"/etc/keel/services/x.toml\"\n"
      "content = \"command = [\\n\"\n");
  EXPECT_NE(e.find("image.toml:1: error: service file /etc/keel/services/x.toml: line "), std::string::npos) << e;
  EXPECT_NE(e.find("syntax error"), std::string::npos) << e;
  e = plan_error(
      "\n[[file]]\n"
      "path = \"/etc/keel/services/bad name.toml\"\n"
      "content = \"command = ['/bin/x']\"\n");
  EXPECT_NE(e.find("image.toml:2: error: service file /etc/keel/services/bad name.toml: 'bad name' is not a valid"),
            std::string::npos)
      << e;
}

TEST_F(ImageServiceCheck, NumericUserWithoutUsersAndOtherFilesIgnored) {
  EXPECT_EQ(plan_error("[[file]]\n"
                       "path = \"/etc/keel/services/n.toml\"\n"
                       "content = \"command = ['/bin/x']\\nuser = 1234\\n\"\n"
                       "[[file]]\n"
                       "path = \"/etc/keel/services/notes.txt\"\n"
                       "content = \"not toml [\"\n"
                       "[[file]]\n"
                       "path = \"/etc/keel/services/sub/x.toml\"\n"
                       "content = \"not toml [\"\n"),
            "");
}

TEST_F(ImageServiceCheck, PasswdFromAFileEntryIsUsed) {
  EXPECT_EQ(plan_error("[[file]]\n"
                       "path = \"/etc/passwd\"\n"
                       "content = \"root:x:0:0::/root:/bin/sh\\nsvc:x:500:500::/:/bin/sh\\n\"\n"
                       "[[file]]\n"
                       "path = \"/etc/keel/services/s.toml\"\n"
                       "content = \"command = ['/bin/x']\\nuser = 'svc'\\n\"\n"),
            "");
}


TEST_F(ImageServiceCheck, KeelServicesKeyCopiesFilesIntoTheConfigDirAndAddsKeelctl) {
  write_file(dir_.path() / "web.toml", "command = [\"/bin/web\"]\nrequires = [\"db\"]\n");
  write_file(dir_.path() / "db.toml", "command = [\"/bin/db\"]\n");
  const auto path = dir_.path() / "image.toml";
  write_file(path, "[keel]\nbinary = \"" KEEL_BINARY "\"\nconfig_dir = \"/etc/k\"\nservices = [\"web.toml\", \"db.toml\"]\n");
  Spec spec = parse_spec_file(path);
  ImagePlan plan = plan_image(spec);
  auto has = [&](const std::string& p, EntryKind kind) {
    for (const ImageEntry& e : plan.entries) {
      if (e.path == p && e.kind == kind) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("/etc/k/services", EntryKind::Directory));
  EXPECT_TRUE(has("/etc/k/services/web.toml", EntryKind::File));
  EXPECT_TRUE(has("/etc/k/services/db.toml", EntryKind::File));
  EXPECT_TRUE(has("/sbin/keelctl", EntryKind::Symlink));
  for (const char* power : {"/sbin/reboot", "/sbin/poweroff", "/sbin/halt"}) {
    EXPECT_TRUE(has(power, EntryKind::Symlink)) << power;
  }
}

TEST_F(ImageServiceCheck, AMissingRequirementOrACycleFailsTheBuild) {
  write_file(dir_.path() / "web.toml", "command = [\"/bin/web\"]\nrequires = [\"db\"]\n");
  EXPECT_NE(plan_error("[keel]\nbinary = \"" KEEL_BINARY "\"\nservices = [\"web.toml\"]\n")
                .find("/etc/keel/services/web.toml: requires 'db', which does not exist"),
            std::string::npos);
  write_file(dir_.path() / "a.toml", "command = [\"/bin/a\"]\nafter = [\"b\"]\n");
  write_file(dir_.path() / "b.toml", "command = [\"/bin/b\"]\nafter = [\"a\"]\n");
  std::string e = plan_error("[keel]\nbinary = \"" KEEL_BINARY "\"\nservices = [\"a.toml\", \"b.toml\"]\n");
  EXPECT_NE(e.find("dependency cycle: a -> b -> a"), std::string::npos) << e;
  // A missing soft dependency is fine.
  write_file(dir_.path() / "c.toml", "command = [\"/bin/c\"]\nwants = [\"nothere\"]\n");
  EXPECT_EQ(plan_error("[keel]\nbinary = \"" KEEL_BINARY "\"\nkeelctl_link = \"\"\nservices = [\"c.toml\"]\n"), "");
}

}  // namespace
}  // namespace keel::image
