#include "builder/snapshot/file_tree.h"

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace cbuild::builder {
namespace {

LayerEntry file(std::string path, std::string bytes = "x", std::uint32_t mode = 0644) {
    LayerEntry entry;
    entry.path = std::move(path);
    entry.type = EntryType::file;
    entry.mode = mode;
    entry.size = bytes.size();
    entry.content.bytes = std::make_shared<const std::string>(std::move(bytes));
    return entry;
}

LayerEntry dir(std::string path, std::uint32_t mode = 0755) {
    LayerEntry entry;
    entry.path = std::move(path);
    entry.type = EntryType::directory;
    entry.mode = mode;
    return entry;
}

LayerEntry symlink(std::string path, std::string target) {
    LayerEntry entry;
    entry.path = std::move(path);
    entry.type = EntryType::symlink;
    entry.mode = 0777;
    entry.link_target = std::move(target);
    return entry;
}

LayerEntry hardlink(std::string path, std::string target) {
    LayerEntry entry;
    entry.path = std::move(path);
    entry.type = EntryType::hardlink;
    entry.link_target = std::move(target);
    return entry;
}

std::vector<std::string> paths_of(const std::vector<LayerEntry>& entries) {
    std::vector<std::string> out;
    for (const LayerEntry& entry : entries) out.push_back(entry.path);
    return out;
}

std::string bytes_of(const FileTree& tree, const std::string& path) {
    return tree.read_file(path, 1 << 20).value_or("<missing>");
}

TEST(FileTreeTest, ApplyCreatesMissingParentsAsContainerdDoes) {
    FileTree tree;
    tree.apply({file("a/b/c", "hi")});
    const std::optional<LayerEntry> parent = tree.lookup("/a/b");
    ASSERT_TRUE(parent);
    EXPECT_EQ(parent->type, EntryType::directory);
    EXPECT_EQ(parent->mode, 0755u);
    EXPECT_EQ(parent->mtime_seconds, 0);
    EXPECT_EQ(parent->path, "a/b");
    EXPECT_EQ(bytes_of(tree, "a/b/c"), "hi");
    EXPECT_FALSE(tree.lookup("a/c"));
}

TEST(FileTreeTest, LookupFollowsParentSymlinksButNotTheLastOne) {
    FileTree tree;
    tree.apply({dir("etc"), file("etc/passwd", "root"), symlink("link", "/etc")});
    const std::optional<LayerEntry> link = tree.lookup("link");
    ASSERT_TRUE(link);
    EXPECT_EQ(link->type, EntryType::symlink);
    const std::optional<LayerEntry> through = tree.lookup("link/passwd");
    ASSERT_TRUE(through);
    EXPECT_EQ(through->path, "etc/passwd");
    EXPECT_EQ(tree.resolve("link", FollowSymlink::no), "link");
    EXPECT_EQ(tree.resolve("link", FollowSymlink::yes), "etc");
}

TEST(FileTreeTest, ResolveNeverLeavesTheImageRoot) {
    FileTree tree;
    tree.apply({dir("a/b"), symlink("a/b/up", "../../../../../etc"), symlink("a/abs", "/"),
                symlink("a/b/rel", "../sibling")});
    EXPECT_EQ(tree.resolve("a/b/up/passwd", FollowSymlink::yes), "etc/passwd");
    EXPECT_EQ(tree.resolve("a/abs/etc/evil", FollowSymlink::yes), "etc/evil");
    EXPECT_EQ(tree.resolve("../../x", FollowSymlink::yes), "x");
    EXPECT_EQ(tree.resolve("/", FollowSymlink::yes), "");
    EXPECT_EQ(tree.resolve("a/b/rel/f", FollowSymlink::yes), "a/sibling/f");
}

TEST(FileTreeTest, ResolveKeepsMissingComponentsAsWritten) {
    FileTree tree;
    tree.apply({dir("etc"), symlink("app", "/etc"), file("f")});
    EXPECT_EQ(tree.resolve("app/missing/x", FollowSymlink::yes), "etc/missing/x");
    EXPECT_EQ(tree.resolve("f/below", FollowSymlink::yes), "f/below");
}

TEST(FileTreeTest, ResolveReportsSymlinkLoops) {
    FileTree tree;
    tree.apply({symlink("a", "b"), symlink("b", "/a"), symlink("self", "self/x")});
    EXPECT_THROW(tree.resolve("a", FollowSymlink::yes), FileTreeError);
    EXPECT_THROW(tree.resolve("self/y", FollowSymlink::no), FileTreeError);
    EXPECT_THROW(tree.lookup("a/x"), FileTreeError);
    // Not following the last component never touches the loop.
    EXPECT_EQ(tree.resolve("a", FollowSymlink::no), "a");
}

TEST(FileTreeTest, WhiteoutRemovesALowerPath) {
    FileTree tree;
    tree.apply({file("keep"), file("gone/x"), file("gone/y")});
    tree.apply({}, {Whiteout{"gone", false}});
    EXPECT_FALSE(tree.lookup("gone"));
    EXPECT_TRUE(tree.lookup("keep"));
}

TEST(FileTreeTest, OpaqueWhiteoutHidesLowerChildrenButNotTheSameLayers) {
    FileTree tree;
    tree.apply({file("d/old"), file("d/sub/older")});
    tree.apply({dir("d", 0700), file("d/new")}, {Whiteout{"d", true}});
    EXPECT_EQ(paths_of(tree.list("d")), std::vector<std::string>{"d/new"});
    EXPECT_EQ(tree.lookup("d")->mode, 0700u);
}

TEST(FileTreeTest, FileReplacesDirectoryAndDirectoryReplacesFile) {
    FileTree tree;
    tree.apply({file("x/inside"), file("y", "file")});
    tree.apply({file("x", "now a file"), dir("y")});
    EXPECT_EQ(tree.lookup("x")->type, EntryType::file);
    EXPECT_FALSE(tree.lookup("x/inside"));
    EXPECT_EQ(tree.lookup("y")->type, EntryType::directory);
    EXPECT_TRUE(tree.list("y").empty());
}

TEST(FileTreeTest, DirectoryOverDirectoryKeepsChildrenAndTakesMetadata) {
    FileTree tree;
    tree.apply({dir("d"), file("d/child")});
    LayerEntry again = dir("d", 0700);
    again.uid = 1000;
    tree.apply({again});
    EXPECT_EQ(tree.lookup("d")->mode, 0700u);
    EXPECT_EQ(tree.lookup("d")->uid, 1000u);
    EXPECT_TRUE(tree.lookup("d/child"));
}

TEST(FileTreeTest, EntryBelowASymlinkedParentLandsInItsTarget) {
    FileTree tree;
    tree.apply({dir("etc"), symlink("app", "/etc")});
    tree.apply({file("app/config", "c")});
    EXPECT_EQ(bytes_of(tree, "etc/config"), "c");
    EXPECT_EQ(tree.lookup("app")->type, EntryType::symlink);
}

TEST(FileTreeTest, EntryBelowAFileIsAnError) {
    FileTree tree;
    tree.apply({file("f")});
    EXPECT_THROW(tree.apply({file("f/x")}), FileTreeError);
}

TEST(FileTreeTest, PathsThatAreNotCleanAreRejected) {
    FileTree tree;
    EXPECT_THROW(tree.apply({file("../evil")}), FileTreeError);
    EXPECT_THROW(tree.apply({file("/abs")}), FileTreeError);
    EXPECT_THROW(tree.apply({file("a/./b")}), FileTreeError);
    EXPECT_THROW(tree.apply({file("")}), FileTreeError);
    EXPECT_THROW(tree.apply({}, {Whiteout{"a/../b", false}}), FileTreeError);
    EXPECT_TRUE(tree.walk().empty());
}

TEST(FileTreeTest, HardlinkSharesTheFileAndWalkWritesItAsALink) {
    FileTree tree;
    tree.apply({file("z/original", "shared"), hardlink("a/link", "/z/original")});
    const std::optional<LayerEntry> link = tree.lookup("a/link");
    ASSERT_TRUE(link);
    EXPECT_EQ(link->type, EntryType::file);
    EXPECT_EQ(bytes_of(tree, "a/link"), "shared");
    EXPECT_EQ(tree.inode("a/link"), tree.inode("z/original"));
    EXPECT_NE(tree.inode("a/link"), 0u);

    const std::vector<LayerEntry> all = tree.walk();
    ASSERT_EQ(paths_of(all), (std::vector<std::string>{"a", "a/link", "z", "z/original"}));
    // The first path of the pair in walk order holds the bytes; the other names it.
    EXPECT_EQ(all[1].type, EntryType::file);
    EXPECT_EQ(all[3].type, EntryType::hardlink);
    EXPECT_EQ(all[3].link_target, "a/link");
    EXPECT_FALSE(all[3].content.bytes);
}

TEST(FileTreeTest, ReplacingOneOfTwoHardlinkedPathsBreaksTheLink) {
    FileTree tree;
    tree.apply({file("f", "old"), hardlink("g", "f")});
    tree.apply({file("f", "new")});
    EXPECT_EQ(bytes_of(tree, "g"), "old");
    EXPECT_NE(tree.inode("f"), tree.inode("g"));
    for (const LayerEntry& entry : tree.walk()) EXPECT_EQ(entry.type, EntryType::file) << entry.path;
}

TEST(FileTreeTest, HardlinkToNothingOrToADirectoryIsAnError) {
    FileTree tree;
    tree.apply({dir("d")});
    EXPECT_THROW(tree.apply({hardlink("l", "missing")}), FileTreeError);
    EXPECT_THROW(tree.apply({hardlink("l", "d")}), FileTreeError);
    // `..` in a hardlink target cannot climb out: it is clamped like containerd does.
    tree.apply({file("x", "inside"), hardlink("l", "../../x")});
    EXPECT_EQ(bytes_of(tree, "l"), "inside");
}

TEST(FileTreeTest, ReadFileReadsBytesOrTheHostFile) {
    test::TempDir temp;
    const std::string host = (temp.path() / "passwd").string();
    std::ofstream(host) << "root:x:0:0::/root:/bin/sh\n";
    LayerEntry on_host;
    on_host.path = "etc/passwd";
    on_host.content.host_path = host;
    FileTree tree;
    tree.apply({on_host, file("etc/group", "root:x:0:\n"), symlink("etc/pw", "passwd"), dir("d")});
    EXPECT_EQ(bytes_of(tree, "/etc/pw"), "root:x:0:0::/root:/bin/sh\n");
    EXPECT_EQ(bytes_of(tree, "etc/group"), "root:x:0:\n");
    EXPECT_FALSE(tree.read_file("etc/shadow", 100));
    EXPECT_THROW(tree.read_file("d", 100), FileTreeError);
    EXPECT_THROW(tree.read_file("etc/passwd", 4), FileTreeError);
}

TEST(FileTreeTest, ListGivesChildrenSortedByName) {
    FileTree tree;
    tree.apply({file("d/b"), file("d/a-"), dir("d/a"), file("d/a/inner"), symlink("l", "d")});
    EXPECT_EQ(paths_of(tree.list("d")), (std::vector<std::string>{"d/a", "d/a-", "d/b"}));
    EXPECT_EQ(paths_of(tree.list("l")), (std::vector<std::string>{"d/a", "d/a-", "d/b"}));
    EXPECT_TRUE(tree.list("d/b").empty());
    EXPECT_TRUE(tree.list("missing").empty());
}

TEST(FileTreeTest, WalkIsDepthFirstWithDirectoriesBeforeTheirContents) {
    FileTree tree;
    tree.apply({file("b"), file("a-b"), file("a/z"), file("a/c/d")});
    EXPECT_EQ(paths_of(tree.walk()), (std::vector<std::string>{"a", "a/c", "a/c/d", "a/z", "a-b", "b"}));
}

TEST(FileTreeTest, CopiesAreIndependent) {
    FileTree parent;
    parent.apply({file("shared/f", "v1"), file("other")});
    FileTree child = parent;
    child.apply({file("shared/f", "v2"), file("shared/new")}, {Whiteout{"other", false}});
    EXPECT_EQ(bytes_of(parent, "shared/f"), "v1");
    EXPECT_FALSE(parent.lookup("shared/new"));
    EXPECT_TRUE(parent.lookup("other"));
    EXPECT_EQ(bytes_of(child, "shared/f"), "v2");
    EXPECT_FALSE(child.lookup("other"));
    // And the other way round: the parent changing later does not reach the copy.
    parent.apply({file("late")});
    EXPECT_FALSE(child.lookup("late"));
}

}  // namespace
}  // namespace cbuild::builder
