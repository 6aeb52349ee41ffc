// The sandbox's internals that can be tested without namespaces: path resolution inside a root,
// the status pipe's records, and the parent's half of the mount stub cleanup.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "builder/sandbox/internal/child_plan.h"
#include "builder/sandbox/internal/child_report.h"
#include "builder/sandbox/internal/mount_stubs.h"
#include "builder/sandbox/internal/path_in_root.h"
#include "tests/support/ci.h"
#include "tests/support/command.h"
#include "tests/support/temp_dir.h"

namespace cbuild::builder::internal {
namespace {

namespace fs = std::filesystem;

class PathInRootTest : public ::testing::Test {
protected:
    void SetUp() override {
        fs::create_directories(root() / "usr" / "lib");
        fs::create_symlink("/usr/lib", root() / "lib");
        fs::create_symlink("../../../../..", root() / "usr" / "up");
        fs::create_symlink("loop", root() / "loop");
        m_fd = open(root().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
    void TearDown() override { close(m_fd); }

    fs::path root() const { return m_dir.path(); }
    std::string resolve(std::string_view path, int expected_error = 0) {
        PathBuffer out;
        EXPECT_EQ(resolve_in_root(m_fd, path, out), expected_error) << path;
        return std::string(out.view());
    }

private:
    test::TempDir m_dir;
    int m_fd = -1;
};

TEST_F(PathInRootTest, FollowsLinksWithoutLeavingTheRoot) {
    EXPECT_EQ(resolve("/"), "");
    EXPECT_EQ(resolve("/lib/x"), "usr/lib/x");
    EXPECT_EQ(resolve("lib/../etc//hosts/."), "usr/etc/hosts");
    EXPECT_EQ(resolve("/usr/up/etc/passwd"), "etc/passwd");
    EXPECT_EQ(resolve("/../../missing/a/b"), "missing/a/b");
    resolve("/loop/x", ELOOP);
}

TEST(ChildReportTest, RecordsSurviveThePipe) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    report_stub(fds[1], "etc/hosts", false, true, {1, 2}, {3, 4}, {5, 6});
    report_failure(fds[1], "mount /proc", "mount(proc)", "/tmp/root/proc", EPERM);
    close(fds[1]);
    std::string bytes;
    char buffer[4096];
    for (ssize_t n; (n = read(fds[0], buffer, sizeof buffer)) > 0;) bytes.append(buffer, static_cast<std::size_t>(n));
    close(fds[0]);
    const ChildReport report = parse_child_report(bytes + "cut short");
    ASSERT_EQ(report.stubs.size(), 1u);
    EXPECT_EQ(report.stubs[0].path, "etc/hosts");
    EXPECT_FALSE(report.stubs[0].directory);
    EXPECT_TRUE(report.stubs[0].replaced_whiteout);
    EXPECT_EQ(report.stubs[0].parent_mtime.tv_sec, 3);
    EXPECT_EQ(report.stubs[0].parent_mtime_after.tv_nsec, 6);
    ASSERT_TRUE(report.failure);
    EXPECT_EQ(report.failure->step, "mount /proc");
    EXPECT_EQ(report.failure->call, "mount(proc)");
    EXPECT_EQ(report.failure->path, "/tmp/root/proc");
    EXPECT_EQ(report.failure->error_number, EPERM);
}

timespec mtime_of(const fs::path& path) {
    struct stat info {};
    ::lstat(path.c_str(), &info);
    return info.st_mtim;
}

StubRecord stub(std::string path, bool directory, const fs::path& parent, timespec before) {
    StubRecord record;
    record.path = std::move(path);
    record.directory = directory;
    record.parent_atime = before;
    record.parent_mtime = before;
    record.parent_mtime_after = mtime_of(parent);
    return record;
}

TEST(RemoveMountStubsTest, RemovesEmptyStubsNewestFirstAndRestoresTimes) {
    test::TempDir dir;
    const timespec old{978307200, 0};
    std::vector<StubRecord> stubs;
    fs::create_directory(dir.path() / "etc");  // made as a stub of "/", then a file stub in it
    stubs.push_back(stub("etc", true, dir.path(), old));
    test::write_file(dir.path() / "etc" / "hosts", "");
    stubs.push_back(stub("etc/hosts", false, dir.path() / "etc", old));
    fs::create_directories(dir.path() / "data" / "cache");
    stubs.push_back(stub("data", true, dir.path(), mtime_of(dir.path())));
    stubs.push_back(stub("data/cache", true, dir.path() / "data", old));
    test::write_file(dir.path() / "data" / "kept", "the command wrote this\n");
    remove_mount_stubs(dir.path(), stubs);
    EXPECT_FALSE(fs::exists(dir.path() / "etc"));
    EXPECT_FALSE(fs::exists(dir.path() / "data" / "cache"));
    EXPECT_TRUE(fs::exists(dir.path() / "data" / "kept"));
    // data changed after its stub was made, so only the removal is undone there.
    EXPECT_NE(mtime_of(dir.path() / "data").tv_sec, old.tv_sec);
}

TEST(RemoveMountStubsTest, LeavesFilledStubsAndNeverFollowsSymlinks) {
    test::TempDir dir;
    test::TempDir outside;
    test::write_file(dir.path() / "full", "content");
    test::write_file(outside.path() / "target", "");
    fs::create_directory_symlink(outside.path(), dir.path() / "link");
    const std::vector<StubRecord> stubs = {stub("full", false, dir.path(), {}), stub("link/target", false, dir.path(), {})};
    remove_mount_stubs(dir.path(), stubs);
    EXPECT_TRUE(fs::exists(dir.path() / "full"));
    EXPECT_TRUE(fs::exists(outside.path() / "target"));
}

TEST(RemoveMountStubsTest, PutsBackTheWhiteoutAStubReplaced) {
    if (geteuid() != 0) {
        if (test::in_ci()) FAIL() << "making a whiteout needs root (CI runs as root)";
        GTEST_SKIP() << "making a whiteout needs root";
    }
    test::TempDir dir;
    fs::create_directory(dir.path() / "old");
    StubRecord record = stub("old", true, dir.path(), mtime_of(dir.path()));
    record.replaced_whiteout = true;
    remove_mount_stubs(dir.path(), {record});
    struct stat info {};
    ASSERT_EQ(::lstat((dir.path() / "old").c_str(), &info), 0);
    EXPECT_TRUE(S_ISCHR(info.st_mode));
    EXPECT_EQ(info.st_rdev, makedev(0, 0));
}

// What a user namespace of one id lacks (rootless cbuild without subordinate ids): the tty group
// and setgroups. Planned in a child that is root of such a namespace.
TEST(PlanChildTest, LeavesOutTheTtyGroupAndSetgroupsWhereTheNamespaceLacksThem) {
    test::TempDir dir;
    SandboxSpec spec;
    spec.rootfs = dir.path();
    spec.args = {"/bin/true"};
    const ChildPlan nested = plan_child(spec, dir.path(), dir.path(), true);
    EXPECT_FALSE(nested.tty_group);
    EXPECT_FALSE(nested.set_groups);

    int answer[2];
    ASSERT_EQ(pipe(answer), 0);
    const pid_t child = fork();
    if (child == 0) {
        close(answer[0]);
        const std::string uid = std::to_string(geteuid()), gid = std::to_string(getegid());
        char flags[2] = {'-', '-'};
        if (unshare(CLONE_NEWUSER) == 0) {
            const auto write_proc = [](const char* path, const std::string& text) {
                const int fd = open(path, O_WRONLY);
                const bool written = fd >= 0 && write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
                if (fd >= 0) close(fd);
                return written;
            };
            if (write_proc("/proc/self/setgroups", "deny") && write_proc("/proc/self/uid_map", "0 " + uid + " 1") &&
                write_proc("/proc/self/gid_map", "0 " + gid + " 1")) {
                const ChildPlan single = plan_child(spec, dir.path(), dir.path(), false);
                flags[0] = single.tty_group ? 't' : 'f';
                flags[1] = single.set_groups ? 't' : 'f';
            }
        }
        _exit(write(answer[1], flags, 2) == 2 ? 0 : 1);
    }
    close(answer[1]);
    char flags[2] = {};
    const ssize_t got = read(answer[0], flags, 2);
    close(answer[0]);
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_EQ(got, 2);
    if (flags[0] == '-') {
        if (test::in_ci()) FAIL() << "cannot make a user namespace";
        GTEST_SKIP() << "cannot make a user namespace";
    }
    EXPECT_EQ(std::string(flags, 2), "ff") << "tty group, setgroups";
}

}  // namespace
}  // namespace cbuild::builder::internal
