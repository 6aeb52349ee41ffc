// Base images from a real registry: `cbuild pull`, and a build FROM an image the store lacks,
// which is pulled first (Docker's --pull=missing).

#include <gtest/gtest.h>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tests/support/ci.h"
#include "tests/support/command.h"
#include "tests/support/image_checker.h"
#include "tests/support/registry_server.h"
#include "tests/support/shared_data.h"
#include "tests/support/temp_dir.h"

namespace cbuild {
namespace {

using test::run_cbuild;
using test::shell_quote;
using test::write_file;

class PullBuildTest : public testing::Test {
protected:
    void SetUp() override {
        if (const auto missing = test::RegistryServer::missing_tool({})) {
            if (test::in_ci()) FAIL() << *missing << " is not installed";
            GTEST_SKIP() << *missing << " is not installed (scripts/install-deps installs it)";
        }
        m_registry = std::make_unique<test::RegistryServer>(test::RegistryServer::Options{});
        test::OciLayoutWriter layout(m_dir.path() / "layout");
        layout.tag(layout.add_image("hello from the base image\n"), "latest");
        m_registry->push_layout(m_dir.path() / "layout", "latest", "library/base:1");
    }

    test::CommandResult cbuild(const std::string& args, const std::filesystem::path& cwd = ".") {
        return run_cbuild("--root " + shell_quote((m_dir.path() / "store").string()) + " " + args, cwd);
    }

    test::TempDir m_dir;
    std::unique_ptr<test::RegistryServer> m_registry;
};

TEST_F(PullBuildTest, PullStoresAVerifiedImageUnderItsName) {
    const std::string reference = m_registry->host() + "/library/base:1";
    const auto pulled = cbuild("pull " + reference);
    ASSERT_EQ(pulled.status, 0) << pulled.output;
    const std::string digest = test::manifest_digest_in_layout(m_dir.path() / "store", reference);
    ASSERT_FALSE(digest.empty());
    const auto problems = test::check_image(m_dir.path() / "store", digest);
    EXPECT_TRUE(problems.empty()) << problems.front();
    const auto again = cbuild("pull " + reference);
    EXPECT_NE(again.output.find("(0 bytes fetched)"), std::string::npos) << "blobs present are not fetched again";
}

TEST_F(PullBuildTest, MissingImagesAndTagsAreClearErrors) {
    const auto missing_tag = cbuild("pull " + m_registry->host() + "/library/base:nope");
    EXPECT_EQ(missing_tag.status, 1);
    EXPECT_NE(missing_tag.output.find("library/base:nope"), std::string::npos) << missing_tag.output;
    const auto missing_repo = cbuild("pull " + m_registry->host() + "/nobody/here:1");
    EXPECT_EQ(missing_repo.status, 1);
    EXPECT_FALSE(std::filesystem::exists(m_dir.path() / "store" / "index.json") &&
                 test::read_file(m_dir.path() / "store" / "index.json").find("nobody") != std::string::npos);
}

TEST_F(PullBuildTest, BuildFromAnImageTheStoreLacksPullsItFirst) {
    const std::filesystem::path context = m_dir.path() / "context";
    write_file(context / "Dockerfile", "FROM " + m_registry->host() + "/library/base:1\nCOPY own.txt /own.txt\n");
    write_file(context / "own.txt", "mine\n");
    const auto built = cbuild("-t derived:1 -o type=local,dest=rootfs .", context);
    ASSERT_EQ(built.status, 0) << built.output;
    EXPECT_EQ(test::read_file(context / "rootfs" / "hello"), "hello from the base image\n");
    EXPECT_EQ(test::read_file(context / "rootfs" / "own.txt"), "mine\n");
}

TEST_F(PullBuildTest, BuildPushAndPushFromTheStore) {
    if (!test::have_program("skopeo")) {
        if (test::in_ci()) FAIL() << "skopeo is not installed";
        GTEST_SKIP() << "skopeo is not installed";
    }
    const std::filesystem::path context = m_dir.path() / "context";
    write_file(context / "Dockerfile", "FROM " + m_registry->host() + "/library/base:1\nCOPY own.txt /own.txt\n");
    write_file(context / "own.txt", "mine\n");
    const std::string target = m_registry->host() + "/team/app:2";
    const auto built = cbuild("-t " + target + " --push .", context);
    ASSERT_EQ(built.status, 0) << built.output;
    const auto inspected = test::run_command("skopeo inspect --tls-verify=false docker://" + target);
    ASSERT_EQ(inspected.status, 0) << inspected.output;
    EXPECT_EQ(nlohmann::json::parse(inspected.output)["Layers"].size(), 2u);

    // Another name for the same image: the registry has every blob, so nothing is uploaded.
    ASSERT_EQ(cbuild("tag " + target + " " + m_registry->host() + "/team/app:3").status, 0);
    const auto pushed = cbuild("push " + m_registry->host() + "/team/app:3");
    ASSERT_EQ(pushed.status, 0) << pushed.output;
    EXPECT_NE(pushed.output.find("0 blobs uploaded"), std::string::npos) << pushed.output;
    EXPECT_EQ(test::run_command("skopeo inspect --tls-verify=false docker://" + m_registry->host() + "/team/app:3").status, 0);
    EXPECT_EQ(cbuild("push " + m_registry->host() + "/team/nothing:1").status, 1);
}

// Not root, and no subordinate ids (nobody has none): cbuild is root of a user namespace that
// maps only its own uid, says so, and builds; RUN runs (tests/integration/rootless_build_test.cc
// covers rootless builds in full).
TEST_F(PullBuildTest, ANonRootUserWithoutSubordinateIdsBuildsWithAWarning) {
    if (geteuid() != 0 || !test::have_program("setpriv")) {
        if (test::in_ci()) FAIL() << "needs root and setpriv to run cbuild as another user";
        GTEST_SKIP() << "needs root and setpriv";
    }
    const std::filesystem::path context = m_dir.path() / "context";
    write_file(context / "Dockerfile", "FROM " + m_registry->host() + "/library/base:1\nCOPY own.txt /own.txt\n");
    write_file(context / "own.txt", "mine\n");
    write_file(m_dir.path() / "run" / "Dockerfile", "FROM " + m_registry->host() + "/library/base:1\nRUN true\n");
    ASSERT_EQ(test::run_command("chown -R 65534:65534 " + shell_quote(m_dir.path().string())).status, 0);
    const std::string as_nobody = "HOME=" + shell_quote(m_dir.path().string()) +
                                  " setpriv --reuid=65534 --regid=65534 --clear-groups " +
                                  shell_quote(test::cbuild_binary().string()) + " --root " +
                                  shell_quote((m_dir.path() / "user-store").string()) + " ";
    const auto built = test::run_command(as_nobody + "-t mine:1 -o type=local,dest=rootfs .", context);
    ASSERT_EQ(built.status, 0) << built.output;
    EXPECT_EQ(test::read_file(context / "rootfs" / "hello"), "hello from the base image\n");
    EXPECT_EQ(test::read_file(context / "rootfs" / "own.txt"), "mine\n");
    EXPECT_NE(built.output.find("maps only uid 65534"), std::string::npos) << built.output;
    // RUN gets as far as the sandbox, where this base has no shell.
    const auto run = test::run_command(as_nobody + "-t mine:2 .", m_dir.path() / "run");
    EXPECT_EQ(run.status, 1);
    EXPECT_NE(run.output.find("exec: \"/bin/sh\": No such file or directory"), std::string::npos) << run.output;
}

TEST(LoginTest, LoginChecksThePasswordAndWritesTheDockerConfig) {
    test::RegistryServer::Options options;
    options.username = "ci";
    options.password = "s3cret-pass";
    if (const auto missing = test::RegistryServer::missing_tool(options)) {
        if (test::in_ci()) FAIL() << *missing << " is not installed";
        GTEST_SKIP() << *missing << " is not installed";
    }
    test::TempDir dir;
    const test::RegistryServer registry(options);
    const std::string env = "DOCKER_CONFIG=" + shell_quote((dir.path() / "docker").string()) + " ";
    const std::string cbuild = env + shell_quote(test::cbuild_binary().string());
    const auto wrong = test::run_command("printf 'nope\\n' | " + cbuild + " login -u ci --password-stdin " + registry.host());
    EXPECT_EQ(wrong.status, 1) << wrong.output;
    EXPECT_EQ(wrong.output.find("nope"), std::string::npos) << "a password never appears in output";
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "docker" / "config.json"));

    const auto right =
        test::run_command("printf 's3cret-pass\\n' | " + cbuild + " login -u ci --password-stdin " + registry.host());
    ASSERT_EQ(right.status, 0) << right.output;
    EXPECT_EQ(right.output.find("s3cret-pass"), std::string::npos);
    const nlohmann::json config = nlohmann::json::parse(test::read_file(dir.path() / "docker" / "config.json"));
    EXPECT_TRUE(config["auths"].contains(registry.host()));

    // The saved credentials are used: a push needs them.
    const std::filesystem::path context = dir.path() / "context";
    write_file(context / "Dockerfile", "FROM scratch\nCOPY a.txt /\n");
    write_file(context / "a.txt", "a\n");
    const auto pushed = test::run_command(cbuild + " --root " + shell_quote((dir.path() / "store").string()) + " -t " +
                                              registry.host() + "/team/a:1 --push .",
                                          context);
    EXPECT_EQ(pushed.status, 0) << pushed.output;

    ASSERT_EQ(test::run_command(cbuild + " logout " + registry.host()).status, 0);
    EXPECT_FALSE(nlohmann::json::parse(test::read_file(dir.path() / "docker" / "config.json"))["auths"].contains(registry.host()));
}

}  // namespace
}  // namespace cbuild
