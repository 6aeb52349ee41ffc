#include "builder/snapshot/upper_diff.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "builder/snapshot/file_tree.h"
#include "builder/snapshot/layer_writer.h"
#include "builder/snapshot/overlay_mount.h"
#include "builder/snapshot/snapshot_store.h"
#include "builder/snapshot/unpack.h"
#include "common/atomic_file.h"
#include "tests/support/ci.h"
#include "tests/support/temp_dir.h"

namespace cbuild::builder {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t k_time = 1600000000;

LayerEntry dir(std::string path, std::uint32_t mode = 0755) {
    LayerEntry entry;
    entry.path = std::move(path);
    entry.type = EntryType::directory;
    entry.mode = mode;
    entry.mtime_seconds = k_time;
    return entry;
}

LayerEntry file(std::string path, std::string bytes, std::uint32_t mode = 0644) {
    LayerEntry entry;
    entry.path = std::move(path);
    entry.mode = mode;
    entry.mtime_seconds = k_time + 1;
    entry.size = bytes.size();
    entry.content.bytes = std::make_shared<const std::string>(std::move(bytes));
    return entry;
}

LayerEntry hardlink(std::string path, std::string target) {
    LayerEntry entry;
    entry.path = std::move(path);
    entry.type = EntryType::hardlink;
    entry.link_target = std::move(target);
    return entry;
}

struct Layer {
    std::vector<LayerEntry> entries;
    std::vector<Whiteout> whiteouts;
};

// The base image: two layers, the top one overwriting, whiting out and making a directory opaque.
const std::vector<Layer> k_base = {
    {{dir("bin"),
      file("bin/tool", "tool", 0755),
      dir("etc"),
      file("etc/config", "a=1\n"),
      file("etc/old", "old"),
      file("etc/legacy", "legacy"),
      dir("opt"),
      dir("opt/app"),
      file("opt/app/old1", "1"),
      file("opt/app/old2", "2"),
      dir("srv"),
      file("srv/data", "data", 0600),
      dir("usr"),
      dir("usr/share"),
      dir("usr/share/doc", 0700),
      file("usr/share/doc/readme", "r"),
      dir("var"),
      dir("var/cache"),
      file("var/cache/blob", "b"),
      dir("var/log"),
      file("var/log/old.log", "o"),
      dir("hard"),
      file("hard/a", "same inode"),
      hardlink("hard/b", "hard/a")},
     {}},
    {{dir("etc"), file("opt/app/old2", "2b"), dir("var/log", 0750), file("var/log/new.log", "n")},
     {{"etc/legacy", false}, {"var/log", true}}},
};

// What a RUN step does, through the overlay mount or on a full copy.
void run_step(const fs::path& root) {
    std::ofstream(root / "new.txt") << "hello";
    if (::setxattr((root / "new.txt").c_str(), "user.note", "hi", 2, 0) != 0) throw std::runtime_error("setxattr");
    std::ofstream(root / "etc/config", std::ios::app) << "b=2\n";
    fs::permissions(root / "bin/tool", fs::perms(0700));
    if (::lchown((root / "srv/data").c_str(), 1234, 1234) != 0) throw std::runtime_error("chown");
    fs::remove(root / "etc/old");
    fs::remove_all(root / "var/cache");
    fs::remove_all(root / "opt/app");
    fs::create_directory(root / "opt/app");
    std::ofstream(root / "opt/app/file") << "fresh";
    fs::create_hard_link(root / "new.txt", root / "new-link");
    fs::create_symlink("etc/config", root / "link");
    // Same owner: overlayfs copies usr/, usr/share/ and usr/share/doc/ up, but nothing changes.
    if (::lchown((root / "usr/share/doc").c_str(), 0, 0) != 0) throw std::runtime_error("chown");
    if (::mkfifo((root / "fifo").c_str(), 0640) != 0) throw std::runtime_error("mkfifo");
}

std::string type_name(EntryType type) {
    switch (type) {
    case EntryType::file: return "file";
    case EntryType::directory: return "dir";
    case EntryType::symlink: return "symlink";
    case EntryType::hardlink: return "hardlink";
    case EntryType::char_device: return "char";
    case EntryType::block_device: return "block";
    case EntryType::fifo: return "fifo";
    }
    return "?";
}

std::vector<std::string> describe(const LayerChanges& changes) {
    std::vector<std::string> out;
    for (const LayerEntry& entry : changes.entries) {
        std::ostringstream line;
        line << entry.path << " " << type_name(entry.type) << " " << std::oct << entry.mode << std::dec << " "
             << entry.uid << ":" << entry.gid;
        if (!entry.link_target.empty()) line << " -> " << entry.link_target;
        out.push_back(line.str());
    }
    for (const Whiteout& whiteout : changes.whiteouts)
        out.push_back("whiteout " + whiteout.path + (whiteout.opaque ? " opaque" : ""));
    return out;
}

// A tree's content, for comparing two ways of reaching it: mtimes only when `with_mtimes`.
std::vector<std::string> contents(const FileTree& tree, bool with_mtimes) {
    std::vector<std::string> out;
    for (const LayerEntry& entry : tree.walk()) {
        std::ostringstream line;
        line << entry.path << " " << type_name(entry.type) << " " << std::oct << entry.mode << std::dec << " "
             << entry.uid << ":" << entry.gid << " " << entry.link_target;
        if (with_mtimes) line << " @" << entry.mtime_seconds << "." << entry.mtime_nanoseconds;
        for (const auto& [name, value] : entry.xattrs) line << " " << name << "=" << value;
        if (entry.type == EntryType::file) line << " [" << tree.read_file(entry.path, 1 << 20).value_or("?") << "]";
        out.push_back(line.str());
    }
    return out;
}

class UpperDiffTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) {
            if (test::in_ci()) FAIL() << "CI runs as root";
            GTEST_SKIP() << "snapshots need root (owners, devices, trusted xattrs)";
        }
        // Each layer is written by the layer writer and unpacked as a snapshot, as for a pulled base.
        for (std::size_t i = 0; i < k_base.size(); ++i) {
            const fs::path blob = m_temp.path() / ("layer" + std::to_string(i));
            AtomicFile out(blob);
            const LayerDigests digests = write_layer(k_base[i].entries, k_base[i].whiteouts, out, LayerOptions{});
            out.commit();
            const fs::path snapshot = m_temp.path() / ("s" + std::to_string(i));
            fs::create_directory(snapshot);
            EXPECT_EQ(unpack_layer(blob, snapshot, WhiteoutStyle::overlay, m_lowers), digests.diff_id);
            m_lowers.insert(m_lowers.begin(), snapshot);
        }
    }

    FileTree base_tree() const {
        FileTree tree;
        for (const Layer& layer : k_base) tree.apply(layer.entries, layer.whiteouts);
        return tree;
    }

    bool have_overlay() {
        if (SnapshotStore(m_temp.path() / "probe").overlay_supported()) return true;
        if (test::in_ci()) ADD_FAILURE() << "CI has overlayfs";
        return false;
    }

    // Mounts the base with a fresh upper dir in a private mount namespace, runs the step through
    // the mount, unmounts, and returns the upper dir.
    fs::path run_on_overlay() {
        const fs::path upper = m_temp.path() / "upper";
        const fs::path work = m_temp.path() / "work";
        const fs::path merged = m_temp.path() / "merged";
        for (const fs::path& path : {upper, work, merged}) fs::create_directory(path);
        const OverlayMount overlay(merged, m_lowers, upper, work);
        const pid_t child = ::fork();
        if (child == 0) {
            if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
                ::_exit(10);
            if (overlay.mount() != 0) ::_exit(11);
            try {
                run_step(merged);
            } catch (...) {
                ::_exit(12);
            }
            ::_exit(::umount2(merged.c_str(), 0) == 0 ? 0 : 13);
        }
        int status = 0;
        ::waitpid(child, &status, 0);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
        return upper;
    }

    test::TempDir m_temp;
    std::vector<fs::path> m_lowers;  // top first
};

TEST_F(UpperDiffTest, CopyMergedReproducesTheBaseImage) {
    const fs::path copy = m_temp.path() / "copy";
    fs::create_directory(copy);
    copy_merged(m_lowers, copy);
    FileTree copied;
    copied.apply(diff_trees({}, copy).entries);
    const std::vector<std::string> expected = contents(base_tree(), true);
    ASSERT_GT(expected.size(), 20u);
    EXPECT_EQ(contents(copied, true), expected);
    struct stat a {
    }, b{};
    ASSERT_EQ(::lstat((copy / "hard/a").c_str(), &a), 0);
    ASSERT_EQ(::lstat((copy / "hard/b").c_str(), &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino) << "hardlinks stay linked";
    EXPECT_FALSE(fs::exists(copy / "var/log/old.log")) << "the opaque directory hid it";
    EXPECT_FALSE(fs::exists(copy / "etc/legacy")) << "the whiteout hid it";
}

TEST_F(UpperDiffTest, DiffUpperReportsWhatTheStepChanged) {
    if (!have_overlay()) GTEST_SKIP() << "needs overlayfs";
    const fs::path upper = run_on_overlay();
    ASSERT_TRUE(fs::is_directory(upper / "usr/share/doc")) << "the step should have copied it up";
    const LayerChanges changes = diff_upper(upper, m_lowers);
    EXPECT_EQ(describe(changes), (std::vector<std::string>{
                                     "bin dir 755 0:0",
                                     "bin/tool file 700 0:0",
                                     "etc dir 755 0:0",
                                     "etc/config file 644 0:0",
                                     "fifo fifo 640 0:0",
                                     "link symlink 777 0:0 -> etc/config",
                                     "new-link file 644 0:0",
                                     "new.txt hardlink 644 0:0 -> new-link",
                                     "opt dir 755 0:0",
                                     "opt/app dir 755 0:0",
                                     "opt/app/file file 644 0:0",
                                     "srv dir 755 0:0",
                                     "srv/data file 600 1234:1234",
                                     "var dir 755 0:0",
                                     "whiteout etc/old",
                                     "whiteout opt/app opaque",
                                     "whiteout var/cache",
                                 }));
    for (const LayerEntry& entry : changes.entries) {
        if (entry.path == "new-link") {
            EXPECT_EQ(entry.content.host_path, (upper / "new-link").string());
            EXPECT_EQ(entry.xattrs, (std::map<std::string, std::string>{{"user.note", "hi"}}));
        }
        for (const auto& [name, value] : entry.xattrs) EXPECT_EQ(name.rfind("trusted.overlay.", 0), std::string::npos);
    }
}

TEST_F(UpperDiffTest, DiffTreesFindsTheSameChangesOnACopy) {
    const fs::path after = m_temp.path() / "after";
    fs::create_directory(after);
    copy_merged(m_lowers, after);
    run_step(after);
    const LayerChanges changes = diff_trees(m_lowers, after);
    EXPECT_EQ(describe(changes), (std::vector<std::string>{
                                     "bin dir 755 0:0",
                                     "bin/tool file 700 0:0",
                                     "etc dir 755 0:0",
                                     "etc/config file 644 0:0",
                                     "fifo fifo 640 0:0",
                                     "link symlink 777 0:0 -> etc/config",
                                     "new-link file 644 0:0",
                                     "new.txt hardlink 644 0:0 -> new-link",
                                     "opt dir 755 0:0",
                                     "opt/app dir 755 0:0",
                                     "opt/app/file file 644 0:0",
                                     "srv dir 755 0:0",
                                     "srv/data file 600 1234:1234",
                                     "var dir 755 0:0",
                                     "whiteout etc/old",
                                     "whiteout opt/app/old1",
                                     "whiteout opt/app/old2",
                                     "whiteout var/cache",
                                 }));
    if (!have_overlay()) return;
    // Applied to the base, both differs give the same filesystem.
    const LayerChanges from_upper = diff_upper(run_on_overlay(), m_lowers);
    FileTree by_overlay = base_tree();
    by_overlay.apply(from_upper.entries, from_upper.whiteouts);
    FileTree by_copy = base_tree();
    by_copy.apply(changes.entries, changes.whiteouts);
    EXPECT_EQ(contents(by_copy, false), contents(by_overlay, false));
}

TEST_F(UpperDiffTest, DiffTreesComparesContentWhenMtimesMayBeTruncated) {
    const fs::path after = m_temp.path() / "after";
    fs::create_directory(after);
    copy_merged(m_lowers, after);
    // Same size, same whole-second mtime, other bytes: only reading them tells.
    std::ofstream(after / "etc/config", std::ios::trunc) << "a=9\n";
    const timespec file_times[2] = {{k_time + 1, 0}, {k_time + 1, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (after / "etc/config").c_str(), file_times, 0), 0);
    const timespec dir_times[2] = {{k_time, 0}, {k_time, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (after / "etc").c_str(), dir_times, 0), 0);
    EXPECT_EQ(describe(diff_trees(m_lowers, after)),
              (std::vector<std::string>{"etc dir 755 0:0", "etc/config file 644 0:0"}));
}

TEST_F(UpperDiffTest, ChangingOneLinkOfAHardlinkGroupKeepsTheGroup) {
    const fs::path after = m_temp.path() / "after";
    fs::create_directory(after);
    copy_merged(m_lowers, after);
    std::ofstream(after / "hard/b", std::ios::app) << " changed";
    const timespec dir_times[2] = {{k_time, 0}, {k_time, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (after / "hard").c_str(), dir_times, 0), 0);
    EXPECT_EQ(
        describe(diff_trees(m_lowers, after)),
        (std::vector<std::string>{"hard dir 755 0:0", "hard/a file 644 0:0", "hard/b hardlink 644 0:0 -> hard/a"}));
}

TEST_F(UpperDiffTest, AnUpperDirWithRedirectsIsRefused) {
    const fs::path upper = m_temp.path() / "upper";
    fs::create_directories(upper / "moved");
    ASSERT_EQ(::setxattr((upper / "moved").c_str(), "trusted.overlay.redirect", "/opt", 4, 0), 0);
    EXPECT_THROW(diff_upper(upper, m_lowers), IoError);
}

}  // namespace
}  // namespace cbuild::builder
