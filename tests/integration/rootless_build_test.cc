// Rootless builds: cbuild run as a real unprivileged user (setpriv) makes itself root of a user
// namespace, with its /etc/subuid range when it has one, and runs RUN steps there. The layers
// must be those a root build makes: same members, modes and owners, whiteouts and opaque dirs.
// scripts/install-deps makes the users: cbuild-rootless (a subordinate range) and
// cbuild-rootless-single (a system user without one).

#include <gtest/gtest.h>

#include <pwd.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "tests/integration/busybox_build_fixture.h"

namespace cbuild {
namespace {

using test::run_command;
using test::shell_quote;
using test::write_file;

constexpr const char* k_user = "cbuild-rootless";
constexpr const char* k_single_id_user = "cbuild-rootless-single";

// RUN steps that make every kind of change a layer can hold.
constexpr const char* k_dockerfile =
    "FROM BASE\n"
    "RUN mkdir -p /data/sub && echo hello > /data/sub/file && ln -s sub/file /data/link && echo one > /one\n"
    "RUN rm /old/file && rm -rf /old/dir && mkdir /old/dir && echo new > /old/dir/only\n"
    "RUN chown 1000:1000 /one && mkdir /home/app/own && chown -R 1000:1000 /home/app/own && chmod 4755 /one\n"
    "USER 1000\n"
    "RUN echo mine > /home/app/own/mine && id -u > /home/app/own/uid\n"
    "USER 0\n"
    "RUN --network=none cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' ' > /netdevs\n";

struct Account {
    uid_t uid = 0;
    gid_t gid = 0;
};

std::optional<Account> account(const char* name) {
    const passwd* entry = getpwnam(name);
    if (entry == nullptr) return std::nullopt;
    return Account{entry->pw_uid, entry->pw_gid};
}

// `tar -tv` of a layer without the dates: mode, owner, size and name of each member.
std::string layer_listing(const std::filesystem::path& blob) {
    const auto listed = run_command("tar --numeric-owner -tvzf " + shell_quote(blob.string()) +
                                    " | awk '{ $4 = \"\"; $5 = \"\"; print }' | tr -s ' '");
    EXPECT_EQ(listed.status, 0) << listed.output;
    return listed.output;
}

// The listing's line of member `name` (with or without a leading "./"), or "".
std::string line_of(const std::string& listing, const std::string& name) {
    std::istringstream lines(listing);
    for (std::string line; std::getline(lines, line);)
        if (line.ends_with(" " + name) || line.ends_with("/" + name)) return line;
    return "";
}

// The content of member `name` of a layer blob.
std::string member_content(const std::filesystem::path& blob, const std::string& name) {
    return run_command("tar -xzOf " + shell_quote(blob.string()) + " --wildcards " + shell_quote("*" + name)).output;
}

std::size_t mount_count() {
    std::ifstream in("/proc/self/mountinfo");
    std::size_t count = 0;
    for (std::string line; std::getline(in, line);) ++count;
    return count;
}

class RootlessBuildTest : public test::BusyboxBuildTest {
protected:
    void SetUp() override {
        test::BusyboxBuildTest::SetUp();
        if (IsSkipped() || HasFailure()) return;
        std::string missing;
        if (!test::have_program("setpriv")) missing = "setpriv (util-linux) is not installed";
        if (!test::have_program("newuidmap")) missing = "newuidmap is not installed (Debian package uidmap)";
        if (!account(k_user) || !account(k_single_id_user))
            missing = std::string("the users ") + k_user + " and " + k_single_id_user + " do not exist";
        if (!missing.empty()) {
            if (test::in_ci()) FAIL() << missing << " (scripts/install-deps sets them up)";
            GTEST_SKIP() << missing << " (scripts/install-deps sets them up)";
        }
        // The user must reach its files through the test's temp dir, and run its own copy of
        // the binary: the build tree's parents need not be open to others.
        std::filesystem::permissions(m_dir.path(), std::filesystem::perms(0755));
        m_home = m_dir.path() / "home";
        std::filesystem::create_directories(m_home / "context");
        std::filesystem::copy_file(test::cbuild_binary(), m_home / "cbuild");
    }

    // Gives the home (context, outputs, store) to `user` and returns the shell words that run
    // the copied binary as that user, with that home (so its store is the default one there).
    std::string as_user(const char* user) {
        const Account who = *account(user);
        const std::string owner = std::to_string(who.uid) + ":" + std::to_string(who.gid);
        EXPECT_EQ(run_command("chown -R " + owner + " " + shell_quote(m_home.string())).status, 0);
        return "env -u XDG_DATA_HOME HOME=" + shell_quote(m_home.string()) + " setpriv --reuid=" +
               std::to_string(who.uid) + " --regid=" + std::to_string(who.gid) + " --init-groups " +
               shell_quote((m_home / "cbuild").string()) + " ";
    }

    std::filesystem::path user_context() const { return m_home / "context"; }
    std::filesystem::path user_store() const { return m_home / ".local" / "share" / "cbuild"; }

    void write_user_dockerfile(std::string dockerfile) {
        for (std::size_t at; (at = dockerfile.find("BASE")) != std::string::npos;) dockerfile.replace(at, 4, s_base);
        write_file(user_context() / "Dockerfile", dockerfile);
    }

    std::filesystem::path m_home;
};

TEST_F(RootlessBuildTest, RunStepsMakeTheLayersARootBuildMakes) {
    write_user_dockerfile(k_dockerfile);
    const std::string user = as_user(k_user);
    const auto rootless = run_command(user + "-t rootless/app:1 -o type=oci,dest=image.tar .", user_context());
    ASSERT_EQ(rootless.status, 0) << rootless.output;
    EXPECT_EQ(rootless.output.find("warning"), std::string::npos) << rootless.output;

    const std::filesystem::path layout = m_dir.path() / "layout";
    std::filesystem::create_directories(layout);
    ASSERT_EQ(run_command("tar -xf " + shell_quote((user_context() / "image.tar").string()) + " -C " +
                          shell_quote(layout.string()))
                  .status,
              0);
    const std::string digest = test::manifest_digest_in_layout(layout, "");
    ASSERT_FALSE(digest.empty());
    EXPECT_EQ(test::check_image(layout, digest), std::vector<std::string>{});
    const auto blob_in = [](const std::filesystem::path& root, const std::string& blob_digest) {
        return root / "blobs" / "sha256" / blob_digest.substr(blob_digest.find(':') + 1);
    };
    const nlohmann::json rootless_manifest = nlohmann::json::parse(test::read_file(blob_in(layout, digest)));

    const auto root = build(k_dockerfile, "-t root/app:1");
    ASSERT_EQ(root.status, 0) << root.output;
    const nlohmann::json root_manifest = manifest("root/app:1");
    ASSERT_EQ(rootless_manifest["layers"].size(), root_manifest["layers"].size());
    for (std::size_t i = 0; i < root_manifest["layers"].size(); ++i)
        EXPECT_EQ(layer_listing(blob_in(layout, rootless_manifest["layers"][i]["digest"])),
                  layer_listing(blob(root_manifest["layers"][i]["digest"])))
            << "layer " << i;

    // What the steps made, as the layers say it: a whiteout, an opaque directory, owners.
    const std::size_t base_layers = root_manifest["layers"].size() - 5;
    const auto layer_blob = [&](std::size_t step) {
        return blob_in(layout, rootless_manifest["layers"][base_layers + step]["digest"]);
    };
    const std::string removed = layer_listing(layer_blob(1));
    EXPECT_NE(line_of(removed, "old/.wh.file"), "") << removed;
    EXPECT_NE(line_of(removed, "old/dir/.wh..wh..opq"), "") << removed;
    EXPECT_EQ(line_of(removed, "old/dir/a"), "") << removed;
    EXPECT_EQ(member_content(layer_blob(1), "old/dir/only"), "new\n");
    const std::string chowned = layer_listing(layer_blob(2));
    EXPECT_EQ(line_of(chowned, "one").rfind("-rwsr-xr-x 1000/1000 4 ", 0), 0u) << chowned;
    EXPECT_EQ(line_of(chowned, "home/app/own/").rfind("drwxr-xr-x 1000/1000", 0), 0u) << chowned;
    const std::string as_app = layer_listing(layer_blob(3));
    EXPECT_EQ(line_of(as_app, "home/app/own/mine").rfind("-rw-r--r-- 1000/1000 5 ", 0), 0u) << as_app;
    EXPECT_EQ(member_content(layer_blob(3), "home/app/own/uid"), "1000\n");
    EXPECT_EQ(member_content(layer_blob(4), "netdevs"), "lo\n");
}

TEST_F(RootlessBuildTest, AUserWithoutSubordinateIdsBuildsAsItsOwnIdWithAWarning) {
    write_user_dockerfile("FROM BASE\nRUN echo hi > /hi && id -u > /uid\n");
    const auto built = run_command(as_user(k_single_id_user) + "-t single/app:1 .", user_context());
    ASSERT_EQ(built.status, 0) << built.output;
    EXPECT_NE(built.output.find("cbuild: warning: /etc/subuid has no range for user `cbuild-rootless-single`"),
              std::string::npos)
        << built.output;
    EXPECT_NE(built.output.find("maps only uid " + std::to_string(account(k_single_id_user)->uid)), std::string::npos)
        << built.output;
    const std::string digest = test::manifest_digest_in_layout(user_store(), "single/app:1");
    ASSERT_FALSE(digest.empty()) << "not tagged in " << user_store();
    const nlohmann::json image =
        nlohmann::json::parse(test::read_file(user_store() / "blobs" / "sha256" / digest.substr(7)));
    const std::string listing =
        layer_listing(user_store() / "blobs" / "sha256" / image["layers"].back()["digest"].get<std::string>().substr(7));
    EXPECT_EQ(line_of(listing, "hi").rfind("-rw-r--r-- 0/0 3 ", 0), 0u) << listing;
    EXPECT_EQ(line_of(listing, "uid").rfind("-rw-r--r-- 0/0 2 ", 0), 0u) << listing;

    // Another user than root is an id the namespace does not map: the step fails, and says so.
    write_user_dockerfile("FROM BASE\nUSER 1000\nRUN true\n");
    const auto as_app = run_command(as_user(k_single_id_user) + "-t single/app:2 .", user_context());
    EXPECT_EQ(as_app.status, 1) << as_app.output;
    EXPECT_NE(as_app.output.find("Dockerfile:3"), std::string::npos) << as_app.output;
    EXPECT_NE(as_app.output.find("sandbox: set the user: setres"), std::string::npos) << as_app.output;
}

TEST_F(RootlessBuildTest, LocalExportLeavesFilesTheUserOwnsAndCanRemove) {
    write_user_dockerfile(
        "FROM BASE\nRUN mkdir -p /app/own && echo mine > /app/own/file && chown -R 1000:1000 /app/own && "
        "chmod 0555 /app/own\n");
    const std::string user = as_user(k_user);
    const auto exported = run_command(user + "-o type=local,dest=out .", user_context());
    ASSERT_EQ(exported.status, 0) << exported.output;
    const std::filesystem::path out = user_context() / "out";
    EXPECT_EQ(test::read_file(out / "app" / "own" / "file"), "mine\n");

    // Every file is the invoking user's, none a subordinate id: as a non-root BuildKit client.
    const std::string uid = std::to_string(account(k_user)->uid);
    const auto foreign = run_command("find " + shell_quote(out.string()) + " ! -user " + uid);
    EXPECT_EQ(foreign.status, 0) << foreign.output;
    EXPECT_EQ(foreign.output, "");
    EXPECT_EQ(run_command("stat -c %a " + shell_quote((out / "app" / "own").string())).output, "555\n");
    const auto removed = run_command("env HOME=" + shell_quote(m_home.string()) + " setpriv --reuid=" + uid +
                                     " --regid=" + std::to_string(account(k_user)->gid) +
                                     " --init-groups sh -c " + shell_quote("chmod -R u+w out && rm -rf out"),
                                     user_context());
    EXPECT_EQ(removed.status, 0) << removed.output;
    EXPECT_FALSE(std::filesystem::exists(out));
}

TEST_F(RootlessBuildTest, InterruptKillsTheStepAndLeavesNothingBehind) {
    write_user_dockerfile("FROM BASE\nRUN echo started-sleeping && sleep 1001\n");
    const std::size_t mounts_before = mount_count();
    const std::string script = as_user(k_user) +
                               "-t rootless/interrupt:1 . > build.log 2>&1 & pid=$!\n"
                               "for i in $(seq 1 300); do grep -q started-sleeping build.log && break; sleep 0.1; done\n"
                               "kill -INT $pid\nwait $pid\necho status=$?\n";
    const auto ran = run_command("sh -c " + shell_quote(script), user_context());
    EXPECT_NE(ran.output.find("status=130"), std::string::npos) << ran.output << test::read_file(user_context() / "build.log");
    EXPECT_EQ(mount_count(), mounts_before);
    const auto sleepers = run_command("pgrep -f 'sleep 100[1]'");
    EXPECT_NE(sleepers.status, 0) << "left running: " << sleepers.output;
    std::size_t leftovers = 0;
    for (const auto& entry : std::filesystem::directory_iterator(user_store() / "snapshots"))
        if (entry.path().filename().string().rfind("tmp-", 0) == 0) ++leftovers;
    EXPECT_EQ(leftovers, 0u);
}

}  // namespace
}  // namespace cbuild
