// Snapshots as a rootless cbuild makes them: in a user namespace, opaque directories carry
// user.overlay.opaque, overlayfs is mounted with userxattr, and diff_upper reads what the
// kernel wrote there. Each test runs in a forked child that is root of a new user namespace
// mapping only root (the namespace is read once per process, so this binary's own process never
// asks) and of a new mount namespace.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <string>

#include "builder/snapshot/internal/overlay_xattr.h"
#include "builder/snapshot/overlay_mount.h"
#include "builder/snapshot/unpack.h"
#include "builder/snapshot/upper_diff.h"
#include "tests/support/ci.h"
#include "tests/support/command.h"
#include "tests/support/temp_dir.h"

namespace cbuild::builder {
namespace {

namespace fs = std::filesystem;

bool write_proc(const char* path, const std::string& text) {
    std::ofstream file(path);
    file << text;
    return static_cast<bool>(file.flush());
}

// Runs `body` in the child and returns what it reported: "" when all was well.
std::string in_user_namespace(const std::function<std::string()>& body) {
    int report[2];
    if (pipe(report) != 0) return "pipe failed";
    const pid_t child = fork();
    if (child == 0) {
        close(report[0]);
        std::string problems;
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0 || !write_proc("/proc/self/setgroups", "deny") ||
            !write_proc("/proc/self/uid_map", "0 0 1") || !write_proc("/proc/self/gid_map", "0 0 1") ||
            mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
            problems = "skip: cannot make a user and mount namespace: " + std::string(std::strerror(errno));
        } else {
            try {
                problems = body();
            } catch (const std::exception& error) {
                problems = std::string("threw: ") + error.what();
            }
        }
        (void)!write(report[1], problems.data(), problems.size());
        _exit(0);
    }
    close(report[1]);
    std::string problems;
    char buffer[4096];
    for (ssize_t n; (n = read(report[0], buffer, sizeof buffer)) > 0;) problems.append(buffer, static_cast<std::size_t>(n));
    close(report[0]);
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) problems += "the child died (status " + std::to_string(status) + ")";
    return problems;
}

std::string xattr_of(const fs::path& path, const char* name) {
    char value[16];
    const ssize_t size = lgetxattr(path.c_str(), name, value, sizeof value);
    return size < 0 ? "<none>" : std::string(value, static_cast<std::size_t>(size));
}

class UserxattrTest : public testing::Test {
protected:
    void run(const std::function<std::string()>& body) {
        const std::string problems = in_user_namespace(body);
        if (problems.rfind("skip: ", 0) == 0) {
            if (test::in_ci()) FAIL() << problems;
            GTEST_SKIP() << problems;
        }
        EXPECT_EQ(problems, "");
    }
    test::TempDir m_dir;
};

TEST_F(UserxattrTest, OverlayOptionsUseUserxattrAndNoRedirects) {
    run([] {
        std::string problems;
        if (!internal::in_user_namespace()) problems += "not seen as a user namespace; ";
        if (internal::overlay_xattr("opaque") != "user.overlay.opaque") problems += internal::overlay_xattr("opaque");
        const std::string options = overlay_mount_options({"/a", "/b"}, "/u", "/w");
        if (options != "lowerdir=/a:/b,upperdir=/u,workdir=/w,redirect_dir=nofollow,metacopy=off,index=off,userxattr")
            problems += "options: " + options;
        return problems;
    });
}

TEST_F(UserxattrTest, UnpackMountAndDiffAgreeOnUserOverlayXattrs) {
    const fs::path dir = m_dir.path();
    // The second layer: a whiteout of /gone and an opaque /dir holding b (tar makes it as is).
    fs::create_directories(dir / "tar" / "dir");
    test::write_file(dir / "tar" / ".wh.gone", "");
    test::write_file(dir / "tar" / "dir" / ".wh..wh..opq", "");
    test::write_file(dir / "tar" / "dir" / "b", "b\n");
    const auto tarred = test::run_command("tar -czf " + test::shell_quote((dir / "layer.tar.gz").string()) +
                                          " --owner=0 --group=0 -C " + test::shell_quote((dir / "tar").string()) + " .");
    ASSERT_EQ(tarred.status, 0) << tarred.output;
    run([dir] {
        std::string problems;
        const fs::path lower = dir / "lower", top = dir / "top", upper = dir / "upper", work = dir / "work",
                       merged = dir / "merged";
        for (const fs::path& made : {lower / "dir", top, upper, work, merged}) fs::create_directories(made);
        test::write_file(lower / "dir" / "a", "a\n");
        test::write_file(lower / "gone", "gone\n");
        test::write_file(lower / "keep", "keep\n");
        unpack_layer(dir / "layer.tar.gz", top, WhiteoutStyle::overlay, {lower});
        if (xattr_of(top / "dir", "user.overlay.opaque") != "y") problems += "top/dir is not opaque; ";
        struct stat whiteout {};
        if (lstat((top / "gone").c_str(), &whiteout) != 0 || !S_ISCHR(whiteout.st_mode) || whiteout.st_rdev != 0)
            problems += "top/gone is not a whiteout; ";

        if (const int error = OverlayMount(merged, {top, lower}, upper, work).mount())
            return problems + "mount: " + std::strerror(error);
        if (fs::exists(merged / "dir" / "a")) problems += "the opaque dir shows the lower a; ";
        if (!fs::exists(merged / "dir" / "b")) problems += "dir/b is missing; ";
        if (fs::exists(merged / "gone")) problems += "the whiteout shows gone; ";
        // Changes through the mount: a whiteout, and a directory replaced (opaque, by the kernel).
        fs::remove(merged / "keep");
        fs::remove_all(merged / "dir");
        fs::create_directories(merged / "dir");
        test::write_file(merged / "dir" / "c", "c\n");
        umount2(merged.c_str(), MNT_DETACH);

        const LayerChanges changes = diff_upper(upper, {top, lower});
        std::string whiteouts;
        for (const Whiteout& whiteout_entry : changes.whiteouts)
            whiteouts += whiteout_entry.path + (whiteout_entry.opaque ? "(opaque) " : " ");
        if (whiteouts != "dir(opaque) keep ") problems += "whiteouts: " + whiteouts + "; ";
        for (const LayerEntry& entry : changes.entries)
            for (const auto& [name, value] : entry.xattrs)
                if (name.rfind("user.overlay.", 0) == 0) problems += "entry " + entry.path + " has " + name + "; ";
        return problems;
    });
}

// Rootless without subordinate ids: owners the namespace does not map stay root's, and device
// nodes are left out (a user namespace may make none), as containerd and podman do.
TEST_F(UserxattrTest, UnpackKeepsUnmappedOwnersAsRootAndSkipsDevices) {
    const fs::path dir = m_dir.path();
    fs::create_directories(dir / "tar");
    test::write_file(dir / "tar" / "owned", "app's\n");
    ASSERT_EQ(mknod((dir / "tar" / "null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0) << std::strerror(errno);
    const auto tarred = test::run_command("tar -czf " + test::shell_quote((dir / "layer.tar.gz").string()) +
                                          " --owner=1000 --group=1000 -C " + test::shell_quote((dir / "tar").string()) +
                                          " owned null");
    ASSERT_EQ(tarred.status, 0) << tarred.output;
    run([dir] {
        std::string problems;
        fs::create_directories(dir / "snapshot");
        unpack_layer(dir / "layer.tar.gz", dir / "snapshot", WhiteoutStyle::overlay);
        struct stat owned {};
        if (lstat((dir / "snapshot" / "owned").c_str(), &owned) != 0) return std::string("owned is missing");
        if (owned.st_uid != 0 || owned.st_gid != 0)
            problems += "owned by " + std::to_string(owned.st_uid) + ":" + std::to_string(owned.st_gid) + "; ";
        if (fs::exists(fs::symlink_status(dir / "snapshot" / "null"))) problems += "the device was made; ";
        return problems;
    });
}

}  // namespace
}  // namespace cbuild::builder
