#include "cli/rootless.h"

#include <gtest/gtest.h>

#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "tests/support/ci.h"
#include "tests/support/command.h"

namespace cbuild::cli {
namespace {

TEST(SubordinateRangeTest, FindsTheRangeByNameOrUid) {
    const std::string file = "alice:100000:65536\nbob:165536:1000\n1002:300000:10\n";
    const auto bob = subordinate_range(file, "bob", 1001);
    ASSERT_TRUE(bob);
    EXPECT_EQ(bob->start, 165536u);
    EXPECT_EQ(bob->count, 1000u);
    const auto by_uid = subordinate_range(file, "", 1002);
    ASSERT_TRUE(by_uid);
    EXPECT_EQ(by_uid->start, 300000u);
    EXPECT_FALSE(subordinate_range(file, "carol", 1003));
    EXPECT_FALSE(subordinate_range("", "alice", 1000));
}

TEST(SubordinateRangeTest, TakesTheFirstRangeAndRejectsBadNumbers) {
    const auto first = subordinate_range("alice:100000:65536\nalice:500000:65536", "alice", 1000);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->start, 100000u);
    EXPECT_FALSE(subordinate_range("alice:100000:many\n", "alice", 1000));
    EXPECT_FALSE(subordinate_range("alice:100000:0\n", "alice", 1000));
    EXPECT_FALSE(subordinate_range("alice:-5:10\n", "alice", 1000));
    // A line without two colons is skipped, not taken as a match.
    const auto after_junk = subordinate_range("alice\nalice:7:8\n", "alice", 1000);
    ASSERT_TRUE(after_junk);
    EXPECT_EQ(after_junk->start, 7u);
}

std::string read_text(const char* path) {
    std::ifstream file(path);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

// In a child that became `user`: enter_user_namespace(), then what it reports, on a pipe.
std::string enter_as(const char* user) {
    const passwd* entry = getpwnam(user);
    if (entry == nullptr) return "no such user";
    const uid_t uid = entry->pw_uid;
    const gid_t gid = entry->pw_gid;
    int out[2];
    if (pipe(out) != 0) return "pipe failed";
    const pid_t child = fork();
    if (child == 0) {
        close(out[0]);
        std::string report;
        if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) {
            report = "cannot become the user";
        } else {
            try {
                const UserNamespaceOutcome outcome = enter_user_namespace();
                report = "kind=" + std::to_string(static_cast<int>(outcome.kind)) + " euid=" + std::to_string(geteuid()) +
                         "\nuid_map=" + read_text("/proc/self/uid_map") + "gid_map=" + read_text("/proc/self/gid_map") +
                         "setgroups=" + read_text("/proc/self/setgroups") + "reason=" + outcome.reason;
            } catch (const std::exception& error) {
                report = std::string("threw: ") + error.what();
            }
        }
        (void)!write(out[1], report.data(), report.size());
        _exit(0);
    }
    close(out[1]);
    std::string report;
    char buffer[4096];
    for (ssize_t n; (n = read(out[0], buffer, sizeof buffer)) > 0;) report.append(buffer, static_cast<std::size_t>(n));
    close(out[0]);
    int status = 0;
    waitpid(child, &status, 0);
    return report;
}

class EnterUserNamespaceTest : public testing::Test {
protected:
    void SetUp() override {
        std::string missing;
        if (geteuid() != 0) missing = "needs root, to become the test users";
        else if (!test::have_program("newuidmap")) missing = "newuidmap is not installed (Debian package uidmap)";
        else if (getpwnam("cbuild-rootless") == nullptr || getpwnam("cbuild-rootless-single") == nullptr)
            missing = "the users cbuild-rootless and cbuild-rootless-single do not exist";
        if (missing.empty()) return;
        if (test::in_ci()) FAIL() << missing << " (scripts/install-deps sets them up)";
        GTEST_SKIP() << missing << " (scripts/install-deps sets them up)";
    }
};

TEST_F(EnterUserNamespaceTest, MapsTheSubordinateRangeWithNewuidmap) {
    const passwd* user = getpwnam("cbuild-rootless");
    ASSERT_NE(user, nullptr);
    const std::string report = enter_as("cbuild-rootless");
    EXPECT_NE(report.find("kind=1 euid=0\n"), std::string::npos) << report;
    const auto range = subordinate_range(read_text("/etc/subuid"), "cbuild-rootless", user->pw_uid);
    ASSERT_TRUE(range);
    // The kernel prints each range as three right-aligned columns.
    EXPECT_NE(report.find(std::to_string(user->pw_uid) + "          1\n"), std::string::npos) << report;
    EXPECT_NE(report.find(std::to_string(range->start)), std::string::npos) << report;
    EXPECT_NE(report.find("setgroups=allow"), std::string::npos) << report;
}

TEST_F(EnterUserNamespaceTest, WithoutARangeMapsOnlyTheCallerAndSaysWhy) {
    const std::string report = enter_as("cbuild-rootless-single");
    EXPECT_NE(report.find("kind=2 euid=0\n"), std::string::npos) << report;
    EXPECT_NE(report.find("setgroups=deny"), std::string::npos) << report;
    EXPECT_NE(report.find("reason=/etc/subuid has no range for user `cbuild-rootless-single`"), std::string::npos)
        << report;
}

TEST_F(EnterUserNamespaceTest, RootIsLeftAlone) {
    EXPECT_EQ(enter_user_namespace().kind, UserNamespace::not_needed);
    EXPECT_EQ(read_text("/proc/self/uid_map").find("4294967295") != std::string::npos, true);
}

}  // namespace
}  // namespace cbuild::cli
