#include "builder/snapshot/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "builder/snapshot/internal/confined_path.h"
#include "common/digest.h"
#include "tests/support/ci.h"
#include "tests/support/temp_dir.h"

namespace cbuild::builder {
namespace {

namespace fs = std::filesystem;

// A tar member built for a test: 'f' file (data), 'd' directory, 'l' symlink (link), 'h'
// hardlink (link), 'p' fifo, 'c' char device, 'b' block device. Made by the functions below,
// adjusted with the setters.
struct Member {
    std::string name;
    char type = 'f';
    std::string data;
    std::string link;
    unsigned perm = 0644;
    unsigned uid = 0;
    unsigned gid = 0;
    std::int64_t mtime = 1600000000;
    long mtime_nsec = 0;
    unsigned major = 0;
    unsigned minor = 0;
    std::map<std::string, std::string> xattrs;

    Member& mode(unsigned value) {
        perm = value;
        return *this;
    }
    Member& owner(unsigned user, unsigned group) {
        uid = user;
        gid = group;
        return *this;
    }
    Member& time(std::int64_t seconds, long nanoseconds = 0) {
        mtime = seconds;
        mtime_nsec = nanoseconds;
        return *this;
    }
    Member& xattr(const std::string& key, const std::string& value) {
        xattrs[key] = value;
        return *this;
    }
};

Member member(std::string name, char type, std::string data = {}, std::string link = {}) {
    Member out;
    out.name = std::move(name);
    out.type = type;
    out.data = std::move(data);
    out.link = std::move(link);
    return out;
}
Member file(std::string name, std::string data = {}) { return member(std::move(name), 'f', std::move(data)); }
Member dir(std::string name) { return member(std::move(name), 'd').mode(0755); }
Member symlink(std::string name, std::string target) { return member(std::move(name), 'l', {}, std::move(target)); }
Member hardlink(std::string name, std::string target) { return member(std::move(name), 'h', {}, std::move(target)); }
Member device(std::string name, char type, unsigned major, unsigned minor) {
    Member out = member(std::move(name), type);
    out.major = major;
    out.minor = minor;
    return out;
}

la_ssize_t append(archive*, void* client, const void* buffer, std::size_t length) {
    static_cast<std::string*>(client)->append(static_cast<const char*>(buffer), length);
    return static_cast<la_ssize_t>(length);
}

// The tar (compressed with libarchive's `filter`), written member by member as given.
std::string make_tar(const std::vector<Member>& members, int filter = ARCHIVE_FILTER_NONE) {
    std::string out;
    archive* writer = archive_write_new();
    archive_write_set_format_pax(writer);
    if (filter != ARCHIVE_FILTER_NONE) archive_write_add_filter(writer, filter);
    archive_write_set_bytes_in_last_block(writer, 1);
    archive_write_open(writer, &out, nullptr, append, nullptr);
    for (const Member& member : members) {
        archive_entry* entry = archive_entry_new();
        archive_entry_set_pathname(entry, member.name.c_str());
        archive_entry_set_uid(entry, member.uid);
        archive_entry_set_gid(entry, member.gid);
        archive_entry_set_mtime(entry, member.mtime, member.mtime_nsec);
        const std::map<char, unsigned> types = {{'f', AE_IFREG}, {'d', AE_IFDIR}, {'l', AE_IFLNK}, {'h', AE_IFREG},
                                                {'p', AE_IFIFO}, {'c', AE_IFCHR}, {'b', AE_IFBLK}};
        archive_entry_set_filetype(entry, types.at(member.type));
        archive_entry_set_perm(entry, member.perm);
        if (member.type == 'f') archive_entry_set_size(entry, static_cast<la_int64_t>(member.data.size()));
        if (member.type == 'l') archive_entry_set_symlink(entry, member.link.c_str());
        if (member.type == 'h') archive_entry_set_hardlink(entry, member.link.c_str());
        if (member.type == 'c' || member.type == 'b')
            archive_entry_set_rdev(entry, makedev(member.major, member.minor));
        for (const auto& [name, value] : member.xattrs)
            archive_entry_xattr_add_entry(entry, name.c_str(), value.data(), value.size());
        EXPECT_EQ(archive_write_header(writer, entry), ARCHIVE_OK) << archive_error_string(writer);
        if (member.type == 'f') archive_write_data(writer, member.data.data(), member.data.size());
        archive_entry_free(entry);
    }
    archive_write_close(writer);
    archive_write_free(writer);
    return out;
}

std::string slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

void write_bytes(const fs::path& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

struct stat lstat_of(const fs::path& path) {
    struct stat status {};
    EXPECT_EQ(::lstat(path.c_str(), &status), 0) << path;
    return status;
}

std::optional<std::string> xattr_of(const fs::path& path, const std::string& name) {
    std::string value(256, '\0');
    const ssize_t size = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (size < 0) return std::nullopt;
    value.resize(static_cast<std::size_t>(size));
    return value;
}

// Every path below `root`, with what kind of node each is, and file contents.
std::map<std::string, std::string> snapshot_of(const fs::path& root) {
    std::map<std::string, std::string> out;
    for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
        const struct stat status = lstat_of(it->path());
        std::string what = std::to_string(status.st_mode) + " " + std::to_string(status.st_nlink);
        if (S_ISREG(status.st_mode)) what += " " + slurp(it->path());
        out[it->path().lexically_relative(root).string()] = what;
    }
    return out;
}

// A valid VFS_CAP_REVISION_2 security.capability value: effective, CAP_NET_BIND_SERVICE permitted.
const std::string k_capability = std::string("\x01\x00\x00\x02\x00\x04\x00\x00", 8) + std::string(12, '\0');

class UnpackTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) {
            if (test::in_ci()) FAIL() << "CI runs as root; unpacking owners and devices needs it";
            GTEST_SKIP() << "unpacking owners, devices and trusted xattrs needs root";
        }
    }

    fs::path write_blob(const std::string& name, const std::string& bytes) {
        const fs::path path = m_temp.path() / name;
        write_bytes(path, bytes);
        return path;
    }

    fs::path make_dir(const std::string& name) {
        const fs::path path = m_temp.path() / name;
        fs::create_directories(path);
        return path;
    }

    test::TempDir m_temp;
};

TEST_F(UnpackTest, KeepsEveryKindOfNodeAndItsMetadata) {
    const std::vector<Member> members = {
        dir("app/").mode(0750).owner(1000, 1001).time(1500000000, 500),
        file("app/tool", "#!/bin/sh\n")
            .mode(04755)
            .owner(1000, 1001)
            .time(1500000001, 123456789)
            .xattr("user.origin", "test")
            .xattr("security.capability", k_capability),
        hardlink("app/alias", "app/tool"),
        symlink("app/link", "tool").owner(7, 8).time(1400000000),
        member("app/pipe", 'p').mode(0600).time(1400000001),
        dir("dev/").mode(0755),
        device("dev/null", 'c', 1, 3).mode(0666),
        device("dev/loop0", 'b', 7, 0).mode(0660).owner(0, 6),
        dir("tmp/").mode(01777).time(1300000000),
    };
    const fs::path blob = write_blob("layer.tar", make_tar(members));
    const fs::path root = make_dir("out");
    unpack_layer(blob, root, WhiteoutStyle::overlay);

    const struct stat app = lstat_of(root / "app");
    EXPECT_TRUE(S_ISDIR(app.st_mode));
    EXPECT_EQ(app.st_mode & 07777, 0750u);
    EXPECT_EQ(app.st_uid, 1000u);
    EXPECT_EQ(app.st_gid, 1001u);
    EXPECT_EQ(app.st_mtim.tv_sec, 1500000000) << "a directory's mtime is set after its children";
    EXPECT_EQ(app.st_mtim.tv_nsec, 500);

    const struct stat tool = lstat_of(root / "app/tool");
    EXPECT_TRUE(S_ISREG(tool.st_mode));
    EXPECT_EQ(tool.st_mode & 07777, 04755u) << "setuid survives the chown";
    EXPECT_EQ(tool.st_uid, 1000u);
    EXPECT_EQ(tool.st_mtim.tv_sec, 1500000001);
    EXPECT_EQ(tool.st_mtim.tv_nsec, 123456789);
    EXPECT_EQ(tool.st_nlink, 2u);
    EXPECT_EQ(slurp(root / "app/tool"), "#!/bin/sh\n");
    EXPECT_EQ(xattr_of(root / "app/tool", "user.origin"), "test");
    EXPECT_EQ(xattr_of(root / "app/tool", "security.capability"), k_capability);
    EXPECT_EQ(lstat_of(root / "app/alias").st_ino, tool.st_ino);

    const struct stat link = lstat_of(root / "app/link");
    EXPECT_TRUE(S_ISLNK(link.st_mode));
    EXPECT_EQ(fs::read_symlink(root / "app/link"), "tool");
    EXPECT_EQ(link.st_uid, 7u);
    EXPECT_EQ(link.st_gid, 8u);
    EXPECT_EQ(link.st_mtim.tv_sec, 1400000000);

    const struct stat pipe = lstat_of(root / "app/pipe");
    EXPECT_TRUE(S_ISFIFO(pipe.st_mode));
    EXPECT_EQ(pipe.st_mode & 07777, 0600u);
    EXPECT_EQ(pipe.st_mtim.tv_sec, 1400000001);

    const struct stat null = lstat_of(root / "dev/null");
    EXPECT_TRUE(S_ISCHR(null.st_mode));
    EXPECT_EQ(null.st_rdev, makedev(1, 3));
    EXPECT_EQ(null.st_mode & 07777, 0666u);
    const struct stat loop = lstat_of(root / "dev/loop0");
    EXPECT_TRUE(S_ISBLK(loop.st_mode));
    EXPECT_EQ(loop.st_rdev, makedev(7, 0));
    EXPECT_EQ(loop.st_gid, 6u);

    const struct stat tmp = lstat_of(root / "tmp");
    EXPECT_EQ(tmp.st_mode & 07777, 01777u);
    EXPECT_EQ(tmp.st_mtim.tv_sec, 1300000000);
}

class UnpackCompressionTest : public UnpackTest, public ::testing::WithParamInterface<int> {};

TEST_P(UnpackCompressionTest, ReturnsTheSha256OfTheUncompressedTar) {
    const std::vector<Member> members = {dir("a/"), file("a/data", std::string(300000, 'x') + "end")};
    const std::string tar = make_tar(members);
    const fs::path blob = write_blob("layer", make_tar(members, GetParam()));
    ASSERT_NE(slurp(blob), tar) << "the blob should be compressed";
    const fs::path root = make_dir("out");
    EXPECT_EQ(unpack_layer(blob, root, WhiteoutStyle::overlay), sha256_of(tar));
    EXPECT_EQ(slurp(root / "a/data"), std::string(300000, 'x') + "end");
}

INSTANTIATE_TEST_SUITE_P(Compressions, UnpackCompressionTest,
                         ::testing::Values(ARCHIVE_FILTER_GZIP, ARCHIVE_FILTER_ZSTD));

TEST_F(UnpackTest, DiffIdCoversPaddingAfterTheEndOfArchive) {
    std::string tar = make_tar({file("f", "x")});
    tar += std::string(10240, '\0');  // a 10 KiB record's padding, which the tar reader never needs
    const fs::path blob = write_blob("layer.tar", tar);
    EXPECT_EQ(unpack_layer(blob, make_dir("out"), WhiteoutStyle::overlay), sha256_of(tar));
}

TEST_F(UnpackTest, CorruptOrTruncatedDataIsAnUnpackError) {
    const std::vector<Member> members = {file("f", std::string(100000, 'y'))};
    std::string gzip = make_tar(members, ARCHIVE_FILTER_GZIP);
    std::string flipped = gzip;
    for (std::size_t i = 40; i < 80; ++i) flipped[i] = static_cast<char>(flipped[i] ^ 0x5a);
    EXPECT_THROW(unpack_layer(write_blob("flipped.gz", flipped), make_dir("a"), WhiteoutStyle::overlay), UnpackError);
    EXPECT_THROW(
        unpack_layer(write_blob("short.gz", gzip.substr(0, gzip.size() / 2)), make_dir("b"), WhiteoutStyle::overlay),
        UnpackError);
    const std::string zstd = make_tar(members, ARCHIVE_FILTER_ZSTD);
    EXPECT_THROW(
        unpack_layer(write_blob("short.zst", zstd.substr(0, zstd.size() - 10)), make_dir("c"), WhiteoutStyle::overlay),
        UnpackError);
    EXPECT_THROW(unpack_layer(write_blob("junk", std::string(5000, 'j')), make_dir("d"), WhiteoutStyle::overlay),
                 UnpackError);
    const std::string tar = make_tar(members);
    EXPECT_THROW(unpack_layer(write_blob("short.tar", tar.substr(0, 2000)), make_dir("e"), WhiteoutStyle::overlay),
                 UnpackError);
}

TEST_F(UnpackTest, OverlayStyleTurnsWhiteoutsIntoDevicesAndOpaqueMarkers) {
    const fs::path blob = write_blob("layer.tar", make_tar({
                                                      file(".wh.gone"),
                                                      dir("etc/"),
                                                      file("etc/.wh.passwd"),
                                                      dir("var/").time(1200000000),
                                                      file("var/.wh..wh..opq"),
                                                      file("var/kept", "new"),
                                                      file("x/.wh..wh.plnk"),
                                                  }));
    const fs::path root = make_dir("out");
    unpack_layer(blob, root, WhiteoutStyle::overlay);
    for (const char* whiteout : {"gone", "etc/passwd"}) {
        const struct stat status = lstat_of(root / whiteout);
        EXPECT_TRUE(S_ISCHR(status.st_mode)) << whiteout;
        EXPECT_EQ(status.st_rdev, makedev(0, 0)) << whiteout;
    }
    EXPECT_EQ(xattr_of(root / "var", "trusted.overlay.opaque"), "y");
    EXPECT_EQ(xattr_of(root / "etc", "trusted.overlay.opaque"), std::nullopt);
    EXPECT_EQ(slurp(root / "var/kept"), "new");
    EXPECT_EQ(lstat_of(root / "var").st_mtim.tv_sec, 1200000000);
    EXPECT_FALSE(fs::exists(root / "x/.wh..wh.plnk")) << "aufs metadata is skipped";
    EXPECT_FALSE(fs::exists(root / ".wh.gone"));
}

TEST_F(UnpackTest, ApplyStyleDeletesEmptiesAndOverwrites) {
    const fs::path root = make_dir("rootfs");
    unpack_layer(write_blob("base.tar", make_tar({
                                            dir("etc/"),
                                            file("etc/passwd", "root"),
                                            file("etc/hosts", "old"),
                                            dir("var/"),
                                            file("var/a", "a"),
                                            dir("var/sub/"),
                                            file("var/sub/b", "b"),
                                            dir("keep/").mode(0700),
                                            file("keep/child", "c"),
                                            dir("gone/"),
                                            file("gone/deep", "d"),
                                        })),
                 root, WhiteoutStyle::apply);
    unpack_layer(write_blob("top.tar", make_tar({
                                           dir("etc/"),
                                           file("etc/.wh.passwd"),
                                           file("etc/hosts", "new"),
                                           dir("var/"),
                                           file("var/fresh", "f"),
                                           file("var/.wh..wh..opq"),
                                           dir("keep/").mode(0755),
                                           file(".wh.gone"),
                                           file(".wh.never-existed"),
                                       })),
                 root, WhiteoutStyle::apply);
    EXPECT_FALSE(fs::exists(root / "etc/passwd"));
    EXPECT_EQ(slurp(root / "etc/hosts"), "new");
    EXPECT_EQ(slurp(root / "var/fresh"), "f") << "an opaque marker keeps what its own layer wrote, whatever the order";
    EXPECT_FALSE(fs::exists(root / "var/a"));
    EXPECT_FALSE(fs::exists(root / "var/sub"));
    EXPECT_EQ(slurp(root / "keep/child"), "c") << "a directory over a directory keeps its children";
    EXPECT_EQ(lstat_of(root / "keep").st_mode & 07777, 0755u);
    EXPECT_FALSE(fs::exists(root / "gone"));
}

TEST_F(UnpackTest, OverlayHardlinkToALowerFileCopiesItUp) {
    const fs::path lower = make_dir("lower");
    unpack_layer(write_blob("base.tar", make_tar({
                                            dir("bin/").mode(0711).owner(3, 0).time(1100000000),
                                            file("bin/tool", "binary").mode(0755).owner(4, 0),
                                        })),
                 lower, WhiteoutStyle::overlay);
    const fs::path upper = make_dir("upper");
    unpack_layer(write_blob("top.tar", make_tar({hardlink("bin/alias", "bin/tool")})), upper, WhiteoutStyle::overlay,
                 {lower});
    EXPECT_EQ(slurp(upper / "bin/tool"), "binary");
    EXPECT_EQ(lstat_of(upper / "bin/tool").st_uid, 4u);
    EXPECT_EQ(lstat_of(upper / "bin/alias").st_ino, lstat_of(upper / "bin/tool").st_ino);
    EXPECT_EQ(lstat_of(lower / "bin/tool").st_nlink, 1u) << "the lower snapshot is never touched";
    const struct stat bin = lstat_of(upper / "bin");
    EXPECT_EQ(bin.st_mode & 07777, 0711u) << "an implicit parent takes the lower directory's metadata";
    EXPECT_EQ(bin.st_uid, 3u);
    EXPECT_EQ(bin.st_mtim.tv_sec, 1100000000);

    EXPECT_THROW(unpack_layer(write_blob("bad.tar", make_tar({hardlink("x", "bin/none")})), make_dir("upper2"),
                              WhiteoutStyle::overlay, {lower}),
                 UnpackError);
}

TEST_F(UnpackTest, ParentsThroughSymlinksResolveInsideTheLayer) {
    const fs::path root = make_dir("out");
    unpack_layer(write_blob("layer.tar", make_tar({
                                             dir("usr/lib/"),
                                             symlink("lib", "/usr/lib"),
                                             file("lib/libc.so", "elf"),
                                             symlink("dangling", "made/by/link"),
                                             file("dangling/file", "here"),
                                         })),
                 root, WhiteoutStyle::apply);
    EXPECT_EQ(slurp(root / "usr/lib/libc.so"), "elf");
    EXPECT_EQ(slurp(root / "made/by/link/file"), "here") << "like containerd, a dangling parent link is followed";
}

TEST_F(UnpackTest, APathIsResolvedAgainAfterARemovalOnItsWay) {
    const fs::path root = make_dir("out");
    // t/s leads back to the root; replacing t by a file removes the way, so t/s/b has no parent.
    EXPECT_THROW(unpack_layer(write_blob("layer.tar", make_tar({dir("t/"), symlink("t/s", ".."), file("t/s/a", "a"),
                                                                file("t/s/t", "file now"), file("t/s/b", "b")})),
                              root, WhiteoutStyle::apply),
                 UnpackError);
    EXPECT_EQ(slurp(root / "a"), "a");
    EXPECT_EQ(slurp(root / "t"), "file now");
    EXPECT_FALSE(fs::exists(root / "b"));
}

// Each hostile layer is unpacked into base/target beside base/sentinel; afterwards nothing
// outside base/target may have changed, and the layer either unpacked (confined) or was refused
// with an UnpackError.
struct HostileCase {
    std::string name;
    std::function<std::vector<Member>(const fs::path& sentinel)> members;
};

void PrintTo(const HostileCase& hostile, std::ostream* out) { *out << hostile.name; }

class HostileLayerTest : public UnpackTest,
                         public ::testing::WithParamInterface<std::tuple<HostileCase, WhiteoutStyle>> {};

TEST_P(HostileLayerTest, WritesNothingOutsideTheTarget) {
    const auto& [hostile, style] = GetParam();
    const fs::path base = make_dir("base");
    const fs::path sentinel = make_dir("base/sentinel");
    write_bytes(sentinel / "file", "precious");
    const fs::path target = make_dir("base/target");
    const fs::path blob = write_blob("hostile.tar", make_tar(hostile.members(sentinel)));
    const auto before = snapshot_of(base);
    try {
        unpack_layer(blob, target, style);
    } catch (const UnpackError& error) {
        SUCCEED() << "refused: " << error.what();
    }
    auto after = snapshot_of(base);
    std::erase_if(after, [](const auto& item) { return item.first.rfind("target", 0) == 0; });
    auto expected = before;
    std::erase_if(expected, [](const auto& item) { return item.first.rfind("target", 0) == 0; });
    EXPECT_EQ(after, expected) << "something outside the target changed";
    EXPECT_FALSE(fs::exists("/pwned-by-cbuild-test"));
}

const std::vector<HostileCase> k_hostile_cases = {
    {"dotdot",
     [](const fs::path&) {
         return std::vector<Member>{file("../escape", "x"), file("../../pwned-by-cbuild-test")};
     }},
    {"absolute", [](const fs::path&) { return std::vector<Member>{file("/abs/../../pwned-by-cbuild-test")}; }},
    {"symlink_to_root_then_write",
     [](const fs::path& sentinel) {
         return std::vector<Member>{symlink("evil", "/"), file("evil" + (sentinel / "file").string(), "overwritten"),
                                    file("evil/pwned-by-cbuild-test", "x")};
     }},
    {"symlink_chain_of_dotdots",
     [](const fs::path&) {
         return std::vector<Member>{symlink("up", ".."), symlink("upup", "up/../up/.."),
                                    file("upup/up/sentinel/file", "overwritten"), file("upup/up/sentinel/new", "x")};
     }},
    {"symlink_as_last_component",
     [](const fs::path& sentinel) {
         return std::vector<Member>{symlink("x", (sentinel / "file").string()), file("x", "overwritten")};
     }},
    {"hardlink_out_of_the_root",
     [](const fs::path&) { return std::vector<Member>{hardlink("h", "../../sentinel/file")}; }},
    {"hardlink_through_a_symlink",
     [](const fs::path& sentinel) {
         return std::vector<Member>{symlink("s", sentinel.string()), hardlink("h", "s/file")};
     }},
    {"hardlink_to_a_symlink_out",
     [](const fs::path& sentinel) {
         return std::vector<Member>{symlink("f", (sentinel / "file").string()), hardlink("h", "f"),
                                    file("h", "overwritten")};
     }},
    {"parent_replaced_by_a_symlink",
     [](const fs::path& sentinel) {
         return std::vector<Member>{dir("d/"), file("d/f", "inside"), symlink("d", sentinel.string()),
                                    file("d/file", "overwritten"), file("d/new", "x")};
     }},
    {"whiteouts_through_a_symlink",
     [](const fs::path& sentinel) {
         return std::vector<Member>{symlink("w", sentinel.string()), file("w/.wh.file"), file("w/.wh..wh..opq"),
                                    symlink("v", "../sentinel"),     file("v/.wh.file"), file("v/.wh..wh..opq")};
     }},
    {"symlink_loop",
     [](const fs::path&) {
         return std::vector<Member>{symlink("a", "b"), symlink("b", "a"), file("a/x", "x")};
     }},
};

INSTANTIATE_TEST_SUITE_P(Cases, HostileLayerTest,
                         ::testing::Combine(::testing::ValuesIn(k_hostile_cases),
                                            ::testing::Values(WhiteoutStyle::overlay, WhiteoutStyle::apply)),
                         [](const auto& test_info) {
                             return std::get<0>(test_info.param).name +
                                    (std::get<1>(test_info.param) == WhiteoutStyle::overlay ? "_overlay" : "_apply");
                         });

TEST_F(UnpackTest, ConfinedResultsOfHostileLayers) {
    const fs::path sentinel = make_dir("sentinel");
    const fs::path root = make_dir("out");
    unpack_layer(write_blob("layer.tar", make_tar({
                                             file("../escape", "1"),
                                             file("/abs/../../top", "2"),
                                             symlink("evil", "/"),
                                             file("evil" + sentinel.string() + "/new", "3"),
                                         })),
                 root, WhiteoutStyle::overlay);
    EXPECT_EQ(slurp(root / "escape"), "1");
    EXPECT_EQ(slurp(root / "top"), "2");
    EXPECT_EQ(slurp(root / sentinel.relative_path() / "new"), "3") << "written below the layer's own root";
    EXPECT_FALSE(fs::exists(sentinel / "new"));
}

// The user-space walk must answer as openat2 does, for the hostile shapes above.
TEST_F(UnpackTest, WalkFallbackResolvesAsOpenat2Does) {
    const fs::path root = make_dir("root");
    fs::create_directories(root / "usr/lib");
    write_bytes(root / "usr/lib/libc.so", "elf");
    fs::create_symlink("/usr/lib", root / "lib");
    fs::create_symlink("..", root / "up");
    fs::create_symlink("up/../up/..", root / "upup");
    fs::create_symlink("/", root / "slash");
    fs::create_symlink("loop2", root / "loop1");
    fs::create_symlink("loop1", root / "loop2");
    fs::create_symlink("/proc/self/root", root / "magic");
    const UniqueFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_fd);
    const auto identity = [](const UniqueFd& fd) -> std::string {
        if (!fd) return "errno " + std::to_string(errno);
        struct stat status {};
        ::fstat(fd.get(), &status);
        return std::to_string(status.st_dev) + ":" + std::to_string(status.st_ino);
    };
    for (const std::string path :
         {"", "lib/libc.so", "up/up/lib", "upup/usr/lib/libc.so", "slash/slash/usr", "../../..",
          "usr/lib/../../lib/libc.so", "loop1", "loop1/x", "missing/x", "lib/libc.so/x", "magic/usr", "upup"}) {
        for (const int flags : {O_PATH, O_PATH | O_NOFOLLOW, O_RDONLY}) {
            const std::string by_kernel = identity(internal::open_in_root(root_fd.get(), path, flags));
            const std::string by_walk = identity(internal::open_in_root_by_walk(root_fd.get(), path, flags));
            EXPECT_EQ(by_walk, by_kernel) << "path `" << path << "` flags " << flags;
        }
    }
}

}  // namespace
}  // namespace cbuild::builder
