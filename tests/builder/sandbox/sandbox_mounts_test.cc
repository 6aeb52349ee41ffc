// run_in_sandbox's mounts for real, as root: the standard ones, each SandboxMount type, and the
// mount stubs that must stay out of the layer (BuildKit's MountStubsCleaner).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>

#include <cstring>

#include "builder/sandbox/sandbox.h"
#include "tests/builder/sandbox/sandbox_fixture.h"
#include "tests/support/command.h"

namespace cbuild::builder {
namespace {

constexpr time_t k_old_time = 978307200;  // 2001-01-01

SandboxMount mount_of(SandboxMount::Type type, std::string target) {
    SandboxMount mount;
    mount.type = type;
    mount.target = std::move(target);
    return mount;
}

void set_mtime(const fs::path& path, time_t seconds) {
    const timespec times[2] = {{seconds, 0}, {seconds, 0}};
    ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
}

time_t mtime_of(const fs::path& path) {
    struct stat info {};
    return ::lstat(path.c_str(), &info) == 0 ? info.st_mtim.tv_sec : -1;
}

TEST_F(SandboxTest, MountsProcDevAndSys) {
    const SandboxResult result = run_in_sandbox(
        shell("ls /dev | tr '\\n' ' '; echo; head -c 5 /dev/zero | wc -c; echo x > /dev/null && echo null-ok;"
              "grep -E ' /(proc|dev|sys|dev/pts|dev/shm) ' /proc/mounts | cut -d' ' -f2,3,4 | cut -d, -f1"));
    EXPECT_EQ(result.exit_status, 0);
    EXPECT_EQ(result.output_tail,
              "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero \n5\nnull-ok\n"
              "/proc proc rw\n/dev tmpfs rw\n/dev/pts devpts rw\n/dev/shm tmpfs rw\n/sys sysfs ro\n");
}

TEST_F(SandboxTest, EtcFilesAreVisibleAndLeaveNothingInTheLayer) {
    set_mtime(image() / "etc", k_old_time);
    SandboxSpec run = shell("cat /etc/hosts /etc/resolv.conf /etc/hostname");
    run.hosts = "127.0.0.1\tlocalhost buildbox\n";
    run.resolv_conf = "nameserver 192.0.2.53\n";
    run.hostname = "buildbox";
    EXPECT_EQ(run_in_sandbox(run).output_tail, "127.0.0.1\tlocalhost buildbox\nnameserver 192.0.2.53\nbuildbox\n");
    // Making the stubs copied /etc up; removing them gave it back its time, and /proc, /dev and
    // /sys, which the image lacks, are gone.
    EXPECT_EQ(tree(upper()), std::vector<std::string>{"etc"});
    EXPECT_EQ(mtime_of(upper() / "etc"), k_old_time);
}

TEST_F(SandboxTest, StubsOfABareImageAllGo) {
    SandboxSpec run = shell("true", true);
    run.hosts = "127.0.0.1\tlocalhost\n";
    run.resolv_conf = "nameserver 192.0.2.53\n";
    run.hostname = "buildbox";
    run.mounts = {mount_of(SandboxMount::Type::tmpfs, "/mnt/deep/dir")};
    SandboxMount secret = mount_of(SandboxMount::Type::file, "/run/secrets/token");
    secret.contents = "s3cret";
    run.mounts.push_back(secret);
    set_mtime(upper(), k_old_time);
    EXPECT_EQ(run_in_sandbox(run).exit_status, 0);
    EXPECT_EQ(tree(upper()), std::vector<std::string>{});
    EXPECT_EQ(mtime_of(upper()), k_old_time);
}

TEST_F(SandboxTest, StubsWithContentStay) {
    SandboxSpec run = shell("echo kept > /data/kept");
    run.mounts = {mount_of(SandboxMount::Type::tmpfs, "/data/cache")};
    EXPECT_EQ(run_in_sandbox(run).exit_status, 0);
    EXPECT_EQ(tree(upper() / "data"), std::vector<std::string>{"kept"});
}

TEST_F(SandboxTest, StubOverAWhiteoutBecomesTheWhiteoutAgain) {
    ASSERT_EQ(mknod((upper() / "old").c_str(), S_IFCHR, makedev(0, 0)), 0);  // an earlier step deleted /old
    SandboxSpec run = shell("ls -A /old | wc -l");
    run.mounts = {mount_of(SandboxMount::Type::tmpfs, "/old")};
    EXPECT_EQ(run_in_sandbox(run).output_tail, "0\n");
    struct stat info {};
    ASSERT_EQ(::lstat((upper() / "old").c_str(), &info), 0);
    EXPECT_TRUE(S_ISCHR(info.st_mode) && info.st_rdev == makedev(0, 0));
}

TEST_F(SandboxTest, TargetsResolveSymlinksInsideTheRoot) {
    fs::create_directories(dir() / "outside");
    fs::create_directory_symlink(dir() / "outside", upper() / "link");
    SandboxSpec run = shell("touch /link/sub/file && echo ok");
    run.mounts = {mount_of(SandboxMount::Type::tmpfs, "/link/sub")};
    EXPECT_EQ(run_in_sandbox(run).output_tail, "ok\n");
    EXPECT_TRUE(fs::is_empty(dir() / "outside"));
    // The stubs went from inside the root; /tmp, which the image has, was copied up on the way.
    EXPECT_EQ(tree(upper()), (std::vector<std::string>{"link", "tmp"}));
}

TEST_F(SandboxTest, BindMountsReadOnlyAndReadWrite) {
    test::write_file(dir() / "host" / "f", "from host\n");
    test::write_file(dir() / "single", "one file\n");
    SandboxSpec run = shell("cat /ro/f /etc/single; touch /ro/g || echo ro-refused; echo y > /rw/g");
    SandboxMount read_only = mount_of(SandboxMount::Type::bind, "/ro");
    read_only.source = dir() / "host";
    SandboxMount read_write = mount_of(SandboxMount::Type::bind, "/rw");
    read_write.source = dir() / "host";
    read_write.read_only = false;
    SandboxMount file = mount_of(SandboxMount::Type::bind, "/etc/single");
    file.source = dir() / "single";
    run.mounts = {read_only, read_write, file};
    const SandboxResult result = run_in_sandbox(run);
    EXPECT_EQ(result.exit_status, 0);
    EXPECT_EQ(result.output_tail, "from host\none file\ntouch: /ro/g: Read-only file system\nro-refused\n");
    EXPECT_EQ(tree(dir() / "host"), (std::vector<std::string>{"f", "g"}));
    EXPECT_EQ(tree(upper()), std::vector<std::string>{"etc"});
}

TEST_F(SandboxTest, ReadOnlyOverlayOfOneOrMoreLowers) {
    test::write_file(dir() / "a" / "a.txt", "a\n");
    test::write_file(dir() / "b" / "b.txt", "b\n");
    test::write_file(dir() / "b" / "a.txt", "hidden\n");
    SandboxSpec run = shell("cat /two/a.txt /two/b.txt /one/a.txt; touch /two/c || echo refused");
    SandboxMount two = mount_of(SandboxMount::Type::overlay_readonly, "/two");
    two.lowers = {dir() / "a", dir() / "b"};
    SandboxMount one = mount_of(SandboxMount::Type::overlay_readonly, "/one");
    one.lowers = {dir() / "a"};
    run.mounts = {two, one};
    const SandboxResult result = run_in_sandbox(run);
    EXPECT_EQ(result.output_tail, "a\nb\na\ntouch: /two/c: Read-only file system\nrefused\n");
}

TEST_F(SandboxTest, ScratchOverlayWritesVanish) {
    test::write_file(dir() / "a" / "a.txt", "a\n");
    SandboxSpec run = shell("echo new > /m/new && rm /m/a.txt && ls /m");
    SandboxMount scratch = mount_of(SandboxMount::Type::overlay_scratch, "/m");
    scratch.lowers = {dir() / "a"};
    run.mounts = {scratch};
    EXPECT_EQ(run_in_sandbox(run).output_tail, "new\n");
    EXPECT_EQ(tree(dir() / "a"), std::vector<std::string>{"a.txt"});
    EXPECT_TRUE(fs::is_empty(upper()));
}

TEST_F(SandboxTest, OverlaySubpathMountsPartOfIt) {
    test::write_file(dir() / "stage" / "sub" / "x", "x\n");
    test::write_file(dir() / "stage" / "sub" / "f", "f\n");
    SandboxSpec run = shell("ls /m; cat /f");
    SandboxMount part = mount_of(SandboxMount::Type::overlay_readonly, "/m");
    part.lowers = {dir() / "stage"};
    part.subpath = "sub";
    SandboxMount file = mount_of(SandboxMount::Type::overlay_scratch, "/f");
    file.lowers = {dir() / "stage"};
    file.subpath = "/sub/f";
    run.mounts = {part, file};
    EXPECT_EQ(run_in_sandbox(run).output_tail, "f\nx\nf\n");
    run.mounts[0].subpath = "missing";
    try {
        run_in_sandbox(run);
        FAIL() << "no SandboxError";
    } catch (const SandboxError& error) {
        EXPECT_STREQ(error.what(), "sandbox: apply the mounts: stat `/missing`: No such file or directory");
    }
}

TEST_F(SandboxTest, TmpfsHasItsModeAndSize) {
    SandboxSpec run = shell("stat -c %a /t; grep ' /t ' /proc/mounts | grep -o 'size=[0-9a-z]*';"
                            "head -c 2000000 /dev/zero > /t/big 2>/dev/null || echo full");
    SandboxMount tmpfs = mount_of(SandboxMount::Type::tmpfs, "/t");
    tmpfs.mode = 0700;
    tmpfs.size_limit = 1024 * 1024;
    run.mounts = {tmpfs};
    EXPECT_EQ(run_in_sandbox(run).output_tail, "700\nsize=1024k\nfull\n");
}

TEST_F(SandboxTest, SecretFileIsReadableAndNeverInTheLayer) {
    SandboxSpec run = shell("stat -c '%a %u %g' /run/secrets/token; cat /run/secrets/token; echo x > /run/secrets/token");
    SandboxMount secret = mount_of(SandboxMount::Type::file, "/run/secrets/token");
    secret.contents = "s3cret";
    secret.uid = 1000;
    secret.gid = 1001;
    run.mounts = {secret};
    const SandboxResult result = run_in_sandbox(run);
    EXPECT_EQ(result.output_tail, "400 1000 1001\ns3cret/bin/sh: can't create /run/secrets/token: Read-only file system\n");
    EXPECT_TRUE(fs::is_empty(upper()));
}

TEST_F(SandboxTest, SocketIsBoundIn) {
    const int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(listener, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string path = (dir() / "agent.sock").string();
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    ASSERT_EQ(bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
    ASSERT_EQ(listen(listener, 1), 0);
    SandboxSpec run = shell("test -S /run/buildkit/ssh_agent.0 && echo socket");
    SandboxMount agent = mount_of(SandboxMount::Type::socket, "/run/buildkit/ssh_agent.0");
    agent.source = path;
    run.mounts = {agent};
    EXPECT_EQ(run_in_sandbox(run).output_tail, "socket\n");
    close(listener);
    EXPECT_TRUE(fs::is_empty(upper()));
}

TEST_F(SandboxTest, FromScratchWithAnEmptyImage) {
    SandboxSpec run = spec({"/tools/busybox", "echo", "hi"});
    run.lowers.clear();
    SandboxMount tools = mount_of(SandboxMount::Type::bind, "/tools");
    tools.source = image() / "bin";
    run.mounts = {tools};
    EXPECT_EQ(run_in_sandbox(run).output_tail, "hi\n");
    EXPECT_TRUE(fs::is_empty(upper()));
}

TEST_F(SandboxTest, RootfsDirectoryInsteadOfAnOverlay) {
    ASSERT_FALSE(test::write_busybox_rootfs(dir() / "rootfs"));
    set_mtime(dir() / "rootfs" / "etc", k_old_time);
    SandboxSpec run = shell("echo x > /written; cat /etc/hosts");
    run.lowers.clear();
    run.upper.clear();
    run.work.clear();
    run.rootfs = dir() / "rootfs";
    run.hosts = "127.0.0.1\tlocalhost\n";
    EXPECT_EQ(run_in_sandbox(run).output_tail, "127.0.0.1\tlocalhost\n");
    EXPECT_TRUE(fs::exists(dir() / "rootfs" / "written"));
    for (const char* stub : {"proc", "dev", "sys", "etc/hosts"}) EXPECT_FALSE(fs::exists(dir() / "rootfs" / stub)) << stub;
    EXPECT_EQ(mtime_of(dir() / "rootfs" / "etc"), k_old_time);
}

}  // namespace
}  // namespace cbuild::builder
