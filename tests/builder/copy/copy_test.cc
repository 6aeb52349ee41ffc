#include "builder/copy/copy.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace cbuild::builder {
namespace {

namespace fs = std::filesystem;

constexpr CopyTime k_created{1700000000, 0};

std::string slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

LayerEntry tree_entry(std::string path, EntryType type, std::string data = {}, std::uint32_t mode = 0644) {
    LayerEntry entry;
    entry.path = std::move(path);
    entry.type = type;
    entry.mode = type == EntryType::directory ? 0755 : mode;
    if (type == EntryType::file) {
        entry.size = data.size();
        entry.content.bytes = std::make_shared<const std::string>(std::move(data));
    } else {
        entry.link_target = std::move(data);
    }
    return entry;
}

// A member of a tar built for a test: 'f' file (data), 'd' directory, 'l' symlink (target),
// 'h' hardlink (target).
struct Member {
    std::string name;
    char type = 'f';
    std::string data;
    unsigned mode = 0644;
    unsigned uid = 0;
};

std::string make_tar(const std::vector<Member>& members, int filter = ARCHIVE_FILTER_NONE) {
    std::string out;
    archive* writer = archive_write_new();
    archive_write_set_format_pax_restricted(writer);
    if (filter != ARCHIVE_FILTER_NONE) archive_write_add_filter(writer, filter);
    archive_write_set_bytes_in_last_block(writer, 1);
    archive_write_open(
        writer, &out, nullptr,
        [](archive*, void* data, const void* buffer, size_t length) -> la_ssize_t {
            static_cast<std::string*>(data)->append(static_cast<const char*>(buffer), length);
            return static_cast<la_ssize_t>(length);
        },
        nullptr);
    for (const Member& member : members) {
        archive_entry* entry = archive_entry_new();
        archive_entry_set_pathname(entry, member.name.c_str());
        archive_entry_set_perm(entry, member.mode);
        archive_entry_set_uid(entry, member.uid);
        archive_entry_set_gid(entry, member.uid);
        archive_entry_set_mtime(entry, 1600000000, 0);
        if (member.type == 'f') {
            archive_entry_set_filetype(entry, AE_IFREG);
            archive_entry_set_size(entry, static_cast<la_int64_t>(member.data.size()));
        } else if (member.type == 'd') {
            archive_entry_set_filetype(entry, AE_IFDIR);
        } else if (member.type == 'l') {
            archive_entry_set_filetype(entry, AE_IFLNK);
            archive_entry_set_symlink(entry, member.data.c_str());
        } else {
            archive_entry_set_filetype(entry, AE_IFREG);
            archive_entry_set_hardlink(entry, member.data.c_str());
        }
        archive_write_header(writer, entry);
        if (member.type == 'f') archive_write_data(writer, member.data.data(), member.data.size());
        archive_entry_free(entry);
    }
    archive_write_close(writer);
    archive_write_free(writer);
    return out;
}

class CopyTest : public ::testing::Test {
protected:
    // context/ and scratch/ live in one temp dir, scratch two levels down, so a test can check
    // that nothing appeared anywhere around them.
    fs::path context() const { return m_temp.path() / "context"; }
    fs::path scratch() const { return m_temp.path() / "a" / "b" / "scratch"; }

    void SetUp() override {
        fs::create_directories(context());
        fs::create_directories(scratch());
    }

    void write(const std::string& path, const std::string& data, unsigned mode = 0644) {
        fs::create_directories((context() / path).parent_path());
        std::ofstream(context() / path, std::ios::binary) << data;
        ::chmod((context() / path).c_str(), mode);
    }
    void mkdir(const std::string& path, unsigned mode = 0755) {
        fs::create_directories(context() / path);
        ::chmod((context() / path).c_str(), mode);
    }
    void symlink(const std::string& target, const std::string& path) {
        fs::create_symlink(target, context() / path);
    }

    static CopyRequest request(std::vector<std::string> sources, std::string dest) {
        CopyRequest out;
        out.sources = std::move(sources);
        out.dest = std::move(dest);
        out.created_time = k_created;
        return out;
    }

    std::vector<LayerEntry> run(const CopyRequest& req, const FileTree& dest = FileTree(),
                                const std::vector<std::string>& ignore = {}) {
        return resolve_copy(req, CopySource::context(context(), parser::PatternMatcher(ignore)), dest, scratch());
    }

    std::string error_of(const CopyRequest& req, const FileTree& dest = FileTree()) {
        try {
            run(req, dest);
        } catch (const CopyError& error) {
            return error.what();
        }
        return "<no error>";
    }

    static std::vector<std::string> paths(const std::vector<LayerEntry>& entries) {
        std::vector<std::string> out;
        for (const LayerEntry& entry : entries) out.push_back(entry.path);
        std::sort(out.begin(), out.end());
        return out;
    }

    static const LayerEntry& at(const std::vector<LayerEntry>& entries, const std::string& path) {
        for (const LayerEntry& entry : entries)
            if (entry.path == path) return entry;
        static const LayerEntry missing = [] {
            LayerEntry entry;
            entry.path = "<missing>";
            return entry;
        }();
        ADD_FAILURE() << "no entry " << path;
        return missing;
    }

    static std::string content(const LayerEntry& entry) {
        if (entry.content.bytes) return *entry.content.bytes;
        if (!entry.content.host_path.empty()) return slurp(entry.content.host_path);
        return "<none>";
    }

    // A destination holding /etc/passwd and /etc/group.
    static FileTree users_tree() {
        FileTree tree;
        tree.apply({tree_entry("etc/passwd", EntryType::file,
                               "root:x:0:0:root:/root:/bin/sh\napp:x:1001:1002::/home/app:/bin/sh\n"),
                    tree_entry("etc/group", EntryType::file, "root:x:0:\nstaff:x:50:app\n")});
        return tree;
    }

    test::TempDir m_temp;
};

TEST_F(CopyTest, FileWithoutTrailingSlashBecomesTheDestination) {
    write("a.txt", "A");
    const auto entries = run(request({"a.txt"}, "/x"));
    ASSERT_EQ(paths(entries), std::vector<std::string>{"x"});
    EXPECT_EQ(content(entries[0]), "A");
    EXPECT_EQ(entries[0].content.host_path, (context() / "a.txt").string());
    EXPECT_EQ(entries[0].size, 1u);
}

TEST_F(CopyTest, TrailingSlashMakesADirectoryWithCreatedParents) {
    write("a.txt", "A");
    const auto entries = run(request({"/a.txt"}, "/d/e/"));
    ASSERT_EQ(paths(entries), (std::vector<std::string>{"d", "d/e", "d/e/a.txt"}));
    const LayerEntry& parent = at(entries, "d");
    EXPECT_EQ(parent.type, EntryType::directory);
    EXPECT_EQ(parent.mode, 0755u);
    EXPECT_EQ(parent.uid, 0u);
    EXPECT_EQ(parent.mtime_seconds, k_created.seconds);
}

TEST_F(CopyTest, DirectorySourceCopiesItsContents) {
    write("dir/f", "F");
    write("dir/sub/g", "G");
    const auto entries = run(request({"dir"}, "/out"));
    EXPECT_EQ(paths(entries), (std::vector<std::string>{"out", "out/f", "out/sub", "out/sub/g"}));
}

TEST_F(CopyTest, FileOntoAnExistingDirectoryGoesInside) {
    write("a.txt", "A");
    FileTree dest;
    dest.apply({tree_entry("existing", EntryType::directory)});
    EXPECT_EQ(paths(run(request({"a.txt"}, "/existing"), dest)), std::vector<std::string>{"existing/a.txt"});
}

TEST_F(CopyTest, DestinationIsRelativeToTheWorkingDirectory) {
    write("a.txt", "A");
    CopyRequest req = request({"a.txt"}, "sub/");
    req.working_dir = "/app";
    EXPECT_EQ(paths(run(req)), (std::vector<std::string>{"app", "app/sub", "app/sub/a.txt"}));
    req.dest = ".";
    EXPECT_EQ(paths(run(req)), (std::vector<std::string>{"app", "app/a.txt"}));
}

TEST_F(CopyTest, SeveralSourcesMakeTheDestinationADirectory) {
    write("a.txt", "A");
    write("b.txt", "B");
    EXPECT_EQ(paths(run(request({"a.txt", "b.txt"}, "/d"))),
              (std::vector<std::string>{"d", "d/a.txt", "d/b.txt"}));
    EXPECT_EQ(paths(run(request({"?.txt"}, "/w"))), (std::vector<std::string>{"w", "w/a.txt", "w/b.txt"}));
}

TEST_F(CopyTest, WildcardsFollowGoFilepathMatch) {
    write("a1.txt", "1");
    write("a2.txt", "2");
    write("ab.txt", "b");
    write("a*.txt", "star");
    write("dir/c.txt", "c");
    write("dir/d.md", "d");
    EXPECT_EQ(paths(run(request({"a[0-9].txt"}, "/o/"))), (std::vector<std::string>{"o", "o/a1.txt", "o/a2.txt"}));
    EXPECT_EQ(paths(run(request({"a[^0-9].txt"}, "/o/"))),
              (std::vector<std::string>{"o", "o/a*.txt", "o/ab.txt"}));
    EXPECT_EQ(paths(run(request({"a\\*[.]txt"}, "/o/"))), (std::vector<std::string>{"o", "o/a*.txt"}));
    EXPECT_EQ(paths(run(request({"*/*.txt"}, "/o/"))), (std::vector<std::string>{"o", "o/c.txt"}));
    EXPECT_EQ(paths(run(request({"di?"}, "/o/"))), (std::vector<std::string>{"o", "o/c.txt", "o/d.md"}));
}

TEST_F(CopyTest, WildcardMatchingNothingIsAllowedAsInBuildKit) {
    write("a.txt", "A");
    EXPECT_TRUE(run(request({"*.none"}, "/o/")).empty());
    EXPECT_NE(error_of(request({"a[.txt"}, "/o/")).find("malformed wildcard"), std::string::npos);
    EXPECT_NE(error_of(request({"nodir/*.txt"}, "/o/")).find("`/nodir`: not found"), std::string::npos);
}

TEST_F(CopyTest, MissingSourceIsAnErrorNamingIt) {
    EXPECT_EQ(error_of(request({"nope"}, "/x")), "`/nope`: not found");
    symlink("nowhere", "dangling");
    EXPECT_EQ(error_of(request({"dangling"}, "/x")), "`/dangling`: not found");
}

TEST_F(CopyTest, SourceLeavingTheContextIsAnError) {
    write("a.txt", "A");
    EXPECT_NE(error_of(request({"../x"}, "/x")).find("outside the build context"), std::string::npos);
    EXPECT_NE(error_of(request({"sub/../../a.txt"}, "/x")).find("outside the build context"), std::string::npos);
    EXPECT_EQ(paths(run(request({"sub/../a.txt"}, "/x"))), std::vector<std::string>{"x"});
}

TEST_F(CopyTest, ContextSymlinksResolveInsideTheContext) {
    write("a.txt", "A");
    write("etc/passwd", "context's");
    symlink("a.txt", "link");
    symlink("../../../../../../etc/passwd", "escape");
    auto entries = run(request({"link"}, "/d/"));
    ASSERT_EQ(paths(entries), (std::vector<std::string>{"d", "d/link"}));
    EXPECT_EQ(at(entries, "d/link").type, EntryType::file);
    EXPECT_EQ(content(at(entries, "d/link")), "A");
    entries = run(request({"escape"}, "/x"));
    EXPECT_EQ(at(entries, "x").content.host_path, (context() / "etc/passwd").string());
}

TEST_F(CopyTest, DockerignoredPathsAreInvisible) {
    write("keep.txt", "k");
    write("debug.log", "l");
    write("secret/key", "s");
    write("secret/public", "p");
    write("logs/a.log", "a");
    const std::vector<std::string> ignore = {"*.log", "secret", "!secret/public", "logs"};
    auto entries = run(request({"."}, "/out/"), FileTree(), ignore);
    EXPECT_EQ(paths(entries),
              (std::vector<std::string>{"out", "out/keep.txt", "out/secret", "out/secret/public"}));
    try {
        run(request({"debug.log"}, "/x"), FileTree(), ignore);
        ADD_FAILURE() << "an ignored file was found";
    } catch (const CopyError& error) {
        EXPECT_EQ(std::string(error.what()), "`/debug.log`: not found");
    }
    EXPECT_TRUE(run(request({"*.log"}, "/o/"), FileTree(), ignore).empty());
    EXPECT_THROW(run(request({"logs/a.log"}, "/x"), FileTree(), ignore), CopyError);
}

// inotify reports every opendir() of a watched directory, so the walk's reads can be observed.
TEST_F(CopyTest, IgnoredDirectoriesAreNeverRead) {
    write("ignored/deep/file", "x");
    write("kept/file", "k");
    const int inotify = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    ASSERT_GE(inotify, 0);
    const int ignored = ::inotify_add_watch(inotify, (context() / "ignored").c_str(), IN_OPEN);
    const int kept = ::inotify_add_watch(inotify, (context() / "kept").c_str(), IN_OPEN);
    ASSERT_GE(ignored, 0);
    ASSERT_GE(kept, 0);
    const auto entries = run(request({"."}, "/out/"), FileTree(), {"ignored", "!kept/file"});
    EXPECT_EQ(paths(entries), (std::vector<std::string>{"out", "out/kept", "out/kept/file"}));
    std::set<int> opened;
    alignas(inotify_event) char buffer[4096];
    for (ssize_t n; (n = ::read(inotify, buffer, sizeof buffer)) > 0;) {
        for (char* p = buffer; p < buffer + n;
             p += sizeof(inotify_event) + reinterpret_cast<inotify_event*>(p)->len)
            opened.insert(reinterpret_cast<inotify_event*>(p)->wd);
    }
    ::close(inotify);
    EXPECT_TRUE(opened.count(kept)) << "the walk should have read kept/";
    EXPECT_FALSE(opened.count(ignored)) << "the walk read an ignored directory";
}

TEST_F(CopyTest, SymlinkLoopInTheDestinationIsAnError) {
    write("a.txt", "A");
    FileTree dest;
    dest.apply({tree_entry("a", EntryType::symlink, "b"), tree_entry("b", EntryType::symlink, "/a")});
    EXPECT_NE(error_of(request({"a.txt"}, "/a/"), dest).find("too many levels of symbolic links"),
              std::string::npos);
}

TEST_F(CopyTest, ExcludePatternsAreRelativeToEachSource) {
    write("dir/a.md", "a");
    write("dir/b.txt", "b");
    write("dir/sub/c.md", "c");
    write("dir/skip/x", "x");
    write("dir/skip/keep", "k");
    CopyRequest req = request({"dir"}, "/out");
    req.excludes = {"*.md", "skip", "!skip/keep"};
    EXPECT_EQ(paths(run(req)), (std::vector<std::string>{"out", "out/b.txt", "out/skip", "out/skip/keep",
                                                         "out/sub", "out/sub/c.md"}));
}

TEST_F(CopyTest, ExcludeAlsoFiltersWildcardMatches) {
    write("home.txt", "t");
    write("homer", "r");
    write("hom.md", "m");
    CopyRequest req = request({"hom*"}, "/mydir/");
    req.excludes = {"*.txt", "*.md"};
    EXPECT_EQ(paths(run(req)), (std::vector<std::string>{"mydir", "mydir/homer"}));
}

TEST_F(CopyTest, ParentsKeepTheSourcePathStructure) {
    write("x/a.txt", "xa");
    write("y/a.txt", "ya");
    write("x/sub/b.txt", "b");
    ::chmod((context() / "x").c_str(), 0750);
    CopyRequest req = request({"./x/a.txt", "y/a.txt"}, "/p/");
    req.parents = true;
    auto entries = run(req);
    EXPECT_EQ(paths(entries), (std::vector<std::string>{"p", "p/x", "p/x/a.txt", "p/y", "p/y/a.txt"}));
    EXPECT_EQ(at(entries, "p/x").mode, 0750u);  // created like the source directory
    req.sources = {"*/a.txt"};
    EXPECT_EQ(paths(run(req)), (std::vector<std::string>{"p", "p/x", "p/x/a.txt", "p/y", "p/y/a.txt"}));
    req.sources = {"x/./sub/b.txt"};  // the pivot: what follows `/./` keeps its path
    EXPECT_EQ(paths(run(req)), (std::vector<std::string>{"p", "p/sub", "p/sub/b.txt"}));
    req.sources = {"x/missing.txt"};
    EXPECT_NE(error_of(req).find("`/x/missing.txt`: not found"), std::string::npos);
}

TEST_F(CopyTest, ChownByNameUsesTheDestinationsUserDatabase) {
    write("a.txt", "A");
    const FileTree dest = users_tree();
    const auto owner_of = [&](const std::string& chown) {
        CopyRequest req = request({"a.txt"}, "/o/");
        req.chown = chown;
        const auto entries = run(req, dest);
        const LayerEntry& file = at(entries, "o/a.txt");
        const LayerEntry& parent = at(entries, "o");
        EXPECT_EQ(file.uid, parent.uid) << "--chown applies to created parents";
        return std::to_string(file.uid) + ":" + std::to_string(file.gid);
    };
    EXPECT_EQ(owner_of("app"), "1001:1002");  // the user's primary group
    EXPECT_EQ(owner_of("app:staff"), "1001:50");
    EXPECT_EQ(owner_of("1005"), "1005:1005");  // a numeric user: gid = uid, as BuildKit
    EXPECT_EQ(owner_of("1005:staff"), "1005:50");
    EXPECT_EQ(owner_of("root:7"), "0:7");
}

TEST_F(CopyTest, UnknownUserOrGroupIsAnErrorNamingItAndTheFile) {
    write("a.txt", "A");
    CopyRequest req = request({"a.txt"}, "/o");
    req.chown = "ghost";
    EXPECT_EQ(error_of(req, users_tree()), "`/etc/passwd`: unable to find user `ghost`");
    req.chown = "app:ghosts";
    EXPECT_EQ(error_of(req, users_tree()), "`/etc/group`: unable to find group `ghosts`");
    req.chown = "app";
    EXPECT_NE(error_of(req).find("the file does not exist"), std::string::npos);
}

TEST_F(CopyTest, ContextOwnersAreResetAndMtimesKept) {
    write("dir/f", "F");
    ASSERT_EQ(::chown((context() / "dir/f").c_str(), 1234, 5678), 0);
    const timespec times[2] = {{1500000000, 0}, {1500000000, 123456789}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (context() / "dir/f").c_str(), times, 0), 0);
    const timespec dir_times[2] = {{1400000000, 0}, {1400000000, 5}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (context() / "dir").c_str(), dir_times, 0), 0);
    write("other/g", "G");
    const timespec other_times[2] = {{1300000000, 0}, {1300000000, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (context() / "other").c_str(), other_times, 0), 0);
    const auto entries = run(request({"."}, "/"));
    const LayerEntry& file = at(entries, "dir/f");
    EXPECT_EQ(file.uid, 0u);
    EXPECT_EQ(file.gid, 0u);
    EXPECT_EQ(file.mtime_seconds, 1500000000);
    EXPECT_EQ(file.mtime_nanoseconds, 123456789u);
    EXPECT_EQ(at(entries, "other").mtime_seconds, 1300000000);
    EXPECT_EQ(at(entries, "dir").mtime_nanoseconds, 5u);
}

TEST_F(CopyTest, ChmodOctalAndSymbolicApplyToFilesAndDirectories) {
    write("dir/f", "F", 0644);
    mkdir("dir/sub", 0755);
    symlink("f", "dir/link");
    CopyRequest req = request({"dir"}, "/o");
    req.chmod = "0750";
    auto entries = run(req);
    EXPECT_EQ(at(entries, "o/f").mode, 0750u);
    EXPECT_EQ(at(entries, "o/sub").mode, 0750u);
    EXPECT_EQ(at(entries, "o").mode, 0755u);  // a created parent, not a copied directory
    req.chmod = "u+x,g-r,o=";
    entries = run(req);
    EXPECT_EQ(at(entries, "o/f").mode, 0700u);
    EXPECT_EQ(at(entries, "o/sub").mode, 0710u);
    EXPECT_EQ(at(entries, "o/link").type, EntryType::symlink);
    EXPECT_EQ(at(entries, "o/link").mode, 0777u);  // --chmod leaves symlinks alone
    req.chmod = "u+q";
    EXPECT_NE(error_of(req).find("`--chmod=u+q`"), std::string::npos);
}

TEST_F(CopyTest, SymlinksAndHardlinksInsideACopiedTreeAreKept) {
    write("dir/target", "T");
    symlink("target", "dir/rel");
    symlink("/etc/passwd", "dir/abs");
    write("dir/h1", "H");
    fs::create_hard_link(context() / "dir/h1", context() / "dir/sub_h2");
    const auto entries = run(request({"dir"}, "/out"));
    EXPECT_EQ(at(entries, "out/rel").type, EntryType::symlink);
    EXPECT_EQ(at(entries, "out/rel").link_target, "target");
    EXPECT_EQ(at(entries, "out/abs").link_target, "/etc/passwd");
    EXPECT_EQ(at(entries, "out/h1").type, EntryType::file);
    EXPECT_EQ(at(entries, "out/sub_h2").type, EntryType::hardlink);
    EXPECT_EQ(at(entries, "out/sub_h2").link_target, "out/h1");
}

TEST_F(CopyTest, DestinationResolvesThroughTheImagesSymlinksNeverTheHosts) {
    write("a.txt", "A");
    FileTree dest;
    dest.apply({tree_entry("etc", EntryType::directory), tree_entry("app", EntryType::symlink, "/etc"),
                tree_entry("up", EntryType::symlink, "../../../../etc")});
    EXPECT_EQ(paths(run(request({"a.txt"}, "/app/"), dest)), std::vector<std::string>{"etc/a.txt"});
    EXPECT_EQ(paths(run(request({"a.txt"}, "/up/x"), dest)), std::vector<std::string>{"etc/x"});
    EXPECT_FALSE(fs::exists("/etc/a.txt"));
    EXPECT_FALSE(fs::exists("/etc/x"));
}

TEST_F(CopyTest, LinkCopiesOntoAnEmptyFilesystem) {
    write("a.txt", "A");
    FileTree dest;
    dest.apply({tree_entry("etc", EntryType::directory), tree_entry("app", EntryType::symlink, "/etc")});
    CopyRequest req = request({"a.txt"}, "/app/");
    req.link = true;
    EXPECT_EQ(paths(run(req, dest)), (std::vector<std::string>{"app", "app/a.txt"}));
    req.chmod = "644";  // BuildKit ignores --link with --chmod
    EXPECT_EQ(paths(run(req, dest)), std::vector<std::string>{"etc/a.txt"});
}

TEST_F(CopyTest, DirectoryOntoAFileIsAnError) {
    write("dir/x/inner", "i");
    FileTree dest;
    dest.apply({tree_entry("out/x", EntryType::file, "file")});
    EXPECT_EQ(error_of(request({"dir"}, "/out"), dest), "`/out/x`: cannot copy a directory onto a non-directory");
    write("dir2/f", "F");
    dest.apply({tree_entry("out2/f", EntryType::directory)});
    EXPECT_EQ(error_of(request({"dir2"}, "/out2"), dest), "`/out2/f`: cannot replace a directory with a file");
}

TEST_F(CopyTest, HeredocsBecomeFiles) {
    CopyRequest req = request({}, "/d/");
    req.inline_files = {parser::InlineFile{"hello", "\tindented\nplain\n", true, true, 0},
                        parser::InlineFile{"raw", "\tkept\n", false, true, 0}};
    auto entries = run(req);
    EXPECT_EQ(paths(entries), (std::vector<std::string>{"d", "d/hello", "d/raw"}));
    EXPECT_EQ(content(at(entries, "d/hello")), "indented\nplain\n");
    EXPECT_EQ(content(at(entries, "d/raw")), "\tkept\n");
    EXPECT_EQ(at(entries, "d/hello").mode, 0644u);
    EXPECT_EQ(at(entries, "d/hello").mtime_seconds, k_created.seconds);
    req.chmod = "755";
    req.inline_files.pop_back();
    req.dest = "/run.sh";
    entries = run(req);
    EXPECT_EQ(at(entries, "run.sh").mode, 0755u);
}

TEST_F(CopyTest, CopyFromAStageKeepsOwnersHardlinksAndXattrs) {
    FileTree stage;
    LayerEntry tool = tree_entry("usr/bin/tool", EntryType::file, "bin", 0755);
    tool.uid = 7;
    tool.xattrs["security.capability"] = "cap";
    stage.apply({tool, tree_entry("usr/bin/alias", EntryType::hardlink, "usr/bin/tool"),
                 tree_entry("usr/bin/sh", EntryType::symlink, "tool"),
                 tree_entry("bin", EntryType::symlink, "usr/bin")});
    CopyRequest req = request({"/bin/"}, "/opt");
    const auto entries = resolve_copy(req, CopySource::tree(stage), FileTree(), scratch());
    EXPECT_EQ(paths(entries), (std::vector<std::string>{"opt", "opt/alias", "opt/sh", "opt/tool"}));
    EXPECT_EQ(at(entries, "opt/alias").type, EntryType::file);  // first in walk order holds the bytes
    EXPECT_EQ(at(entries, "opt/alias").uid, 7u);
    EXPECT_EQ(at(entries, "opt/alias").xattrs.at("security.capability"), "cap");
    EXPECT_EQ(at(entries, "opt/tool").type, EntryType::hardlink);
    EXPECT_EQ(at(entries, "opt/tool").link_target, "opt/alias");
    EXPECT_THROW(resolve_copy(request({"../x"}, "/o"), CopySource::tree(stage), FileTree(), scratch()), CopyError);
}

TEST_F(CopyTest, AddUnpacksTarsWhateverTheCompression) {
    const std::vector<Member> members = {{"dir/", 'd', "", 0750, 0},
                                         {"dir/f", 'f', std::string(10000, 'x'), 0600, 33},
                                         {"dir/small", 'f', "s", 0644, 0},
                                         {"dir/link", 'l', "f", 0777, 0},
                                         {"dir/hard", 'h', "dir/f", 0600, 33}};
    const std::map<std::string, int> filters = {{"a.tar", ARCHIVE_FILTER_NONE},
                                                {"a.tgz", ARCHIVE_FILTER_GZIP},
                                                {"a.tar.bz2", ARCHIVE_FILTER_BZIP2},
                                                {"a.tar.xz", ARCHIVE_FILTER_XZ},
                                                {"a.zst", ARCHIVE_FILTER_ZSTD}};
    for (const auto& [name, filter] : filters) {
        write(name, make_tar(members, filter));
        CopyRequest req = request({name}, "/out");
        req.kind = CopyKind::add;
        const auto entries = run(req);
        ASSERT_EQ(paths(entries), (std::vector<std::string>{"out", "out/dir", "out/dir/f", "out/dir/hard",
                                                            "out/dir/link", "out/dir/small"}))
            << name;
        EXPECT_EQ(at(entries, "out/dir").mode, 0750u);
        EXPECT_EQ(at(entries, "out/dir/f").uid, 33u);
        EXPECT_EQ(at(entries, "out/dir/f").mtime_seconds, 1600000000);
        EXPECT_EQ(content(at(entries, "out/dir/f")), std::string(10000, 'x'));
        EXPECT_EQ(fs::path(at(entries, "out/dir/f").content.host_path).parent_path(), scratch());
        EXPECT_EQ(content(at(entries, "out/dir/small")), "s");
        EXPECT_EQ(at(entries, "out/dir/link").link_target, "f");
        EXPECT_EQ(at(entries, "out/dir/hard").type, EntryType::hardlink);
        EXPECT_EQ(at(entries, "out/dir/hard").link_target, "out/dir/f");
    }
}

TEST_F(CopyTest, AddCopiesWhatIsNotATarAsIs) {
    write("a.tar", make_tar({{"f", 'f', "x"}}));
    std::string gzip_of_text;
    {
        archive* writer = archive_write_new();
        archive_write_set_format_raw(writer);
        archive_write_add_filter_gzip(writer);
        archive_write_open(
            writer, &gzip_of_text, nullptr,
            [](archive*, void* data, const void* buffer, size_t length) -> la_ssize_t {
                static_cast<std::string*>(data)->append(static_cast<const char*>(buffer), length);
                return static_cast<la_ssize_t>(length);
            },
            nullptr);
        archive_entry* entry = archive_entry_new();
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_write_header(writer, entry);
        archive_write_data(writer, "just text\n", 10);
        archive_entry_free(entry);
        archive_write_close(writer);
        archive_write_free(writer);
    }
    write("notes.txt.gz", gzip_of_text);
    CopyRequest req = request({"notes.txt.gz"}, "/d/");
    req.kind = CopyKind::add;
    auto entries = run(req);
    EXPECT_EQ(paths(entries), (std::vector<std::string>{"d", "d/notes.txt.gz"}));
    EXPECT_EQ(content(at(entries, "d/notes.txt.gz")), gzip_of_text);
    req.sources = {"a.tar"};
    req.unpack = false;
    EXPECT_EQ(paths(run(req)), (std::vector<std::string>{"d", "d/a.tar"}));
    req.kind = CopyKind::copy;  // COPY never unpacks
    req.unpack.reset();
    EXPECT_EQ(paths(run(req)), (std::vector<std::string>{"d", "d/a.tar"}));
}

TEST_F(CopyTest, CorruptTarIsAnErrorNamingTheFile) {
    const std::string tar = make_tar({{"first", 'f', std::string(3000, 'a')}, {"second", 'f', "b"}});
    write("broken.tar", tar.substr(0, 1500));
    CopyRequest req = request({"broken.tar"}, "/d/");
    req.kind = CopyKind::add;
    const std::string error = error_of(req);
    EXPECT_EQ(error.rfind("`/broken.tar`: ", 0), 0u) << error;
    EXPECT_NE(error.find("corrupt"), std::string::npos) << error;
}

// Every file and directory under `root`, relative to it.
std::set<std::string> listing(const fs::path& root) {
    std::set<std::string> out;
    for (const auto& entry : fs::recursive_directory_iterator(root))
        out.insert(fs::relative(entry.path(), root).string());
    return out;
}

TEST_F(CopyTest, HostileArchivesStayInsideTheImageAndTouchNothingOnTheHost) {
    FileTree dest;
    dest.apply({tree_entry("etc/passwd", EntryType::file, "image's")});
    const std::vector<std::pair<std::string, std::vector<Member>>> rejected = {
        {"dotdot", {{"../../evil", 'f', "x"}}},
        {"dotdot-inner", {{"ok/../../../evil", 'f', "x"}}},
        {"link-up", {{"link", 'l', "../../.."}, {"link/etc/evil", 'f', "x"}}},
        {"hard-up", {{"hard", 'h', "../../x"}}},
        {"hard-host", {{"hard", 'h', "/etc/passwd"}}},  // nothing at /out/etc/passwd
    };
    for (const auto& [name, members] : rejected) {
        write(name + ".tar", make_tar(members));
        CopyRequest req = request({name + ".tar"}, "/out/");
        req.kind = CopyKind::add;
        const std::string error = error_of(req, dest);
        EXPECT_EQ(error.rfind("`/" + name + ".tar`: ", 0), 0u) << error;
    }
    const std::vector<Member> contained = {{"/abs/evil", 'f', "a"},          {"link", 'l', "/"},
                                           {"link/etc/evil", 'f', "b"},      {"up", 'l', "../../../../"},
                                           {"etc/hard", 'h', "/etc/passwd"}, {"etc/passwd", 'f', "archive's"}};
    write("contained.tar",
          make_tar({contained[0], contained[1], contained[2], contained[3], contained[5], contained[4]}));
    CopyRequest req = request({"contained.tar"}, "/out/");
    req.kind = CopyKind::add;
    const auto entries = run(req, dest);
    EXPECT_EQ(paths(entries),
              (std::vector<std::string>{"out", "out/abs", "out/abs/evil", "out/etc", "out/etc/evil",
                                        "out/etc/hard", "out/etc/passwd", "out/link", "out/up"}));
    // One file, two names: the first in walk order holds the bytes.
    EXPECT_EQ(at(entries, "out/etc/passwd").type, EntryType::hardlink);
    EXPECT_EQ(at(entries, "out/etc/passwd").link_target, "out/etc/hard");
    EXPECT_EQ(content(at(entries, "out/etc/hard")), "archive's");
    // Unpacked into the root, a hardlink to /etc/passwd links the image's file.
    write("root.tar", make_tar({{"hard", 'h', "/etc/passwd"}, {"link", 'l', "/"}, {"link/etc/new", 'f', "n"}}));
    req.sources = {"root.tar"};
    req.dest = "/";
    const auto root_entries = run(req, dest);
    EXPECT_EQ(paths(root_entries), (std::vector<std::string>{"etc/new", "hard", "link"}));
    EXPECT_EQ(at(root_entries, "hard").type, EntryType::hardlink);
    EXPECT_EQ(at(root_entries, "hard").link_target, "etc/passwd");

    for (const char* host : {"/abs/evil", "/evil", "/etc/evil", "/etc/new", "/out"})
        EXPECT_FALSE(fs::exists(host)) << host;
    // Around the scratch directory: only what the test made, and in it only our own names.
    std::set<std::string> around = listing(m_temp.path());
    std::erase_if(around, [](const std::string& path) { return path.rfind("context", 0) == 0; });
    std::set<std::string> ours;
    for (const std::string& path : around)
        if (path.rfind("a/b/scratch/add-", 0) != 0) ours.insert(path);
    EXPECT_EQ(ours, (std::set<std::string>{"a", "a/b", "a/b/scratch"}));
    for (const std::string& path : listing(context()))
        EXPECT_TRUE(path.ends_with(".tar")) << "unexpected file in the context: " << path;
}

TEST_F(CopyTest, AddChownAppliesToMembers) {
    write("a.tar", make_tar({{"d/", 'd', "", 0755, 5}, {"d/f", 'f', "x", 0644, 5}}));
    CopyRequest req = request({"a.tar"}, "/out/");
    req.kind = CopyKind::add;
    req.chown = "1001";
    const auto entries = run(req);
    EXPECT_EQ(at(entries, "out/d/f").uid, 1001u);
    EXPECT_EQ(at(entries, "out/d").gid, 1001u);
    EXPECT_EQ(at(entries, "out").uid, 1001u);
}

TEST_F(CopyTest, RemoteSourcesAreRefused) {
    CopyRequest req = request({"https://example.com/a.tar"}, "/d/");
    req.kind = CopyKind::add;
    EXPECT_NE(error_of(req).find("ADD from a URL is not supported yet"), std::string::npos);
    req.sources = {"git@github.com:moby/buildkit.git"};
    EXPECT_NE(error_of(req).find("git repository is not supported yet"), std::string::npos);
    req.kind = CopyKind::copy;
    req.sources = {"http://example.com/a"};
    EXPECT_NE(error_of(req).find("source can't be a URL for COPY"), std::string::npos);
}

TEST_F(CopyTest, RequestsAndHistoryFollowTheInstruction) {
    parser::CopyInstruction copy;
    copy.files.source_paths = {"src/", "b"};
    copy.files.source_contents = {parser::InlineFile{"EOF", "x", false, true, 0}};
    copy.files.dest = "/app/";
    copy.chown = "app";
    copy.chmod = "755";
    copy.parents = true;
    copy.link = true;
    const CopyRequest req = copy_request(copy);
    EXPECT_EQ(req.kind, CopyKind::copy);
    EXPECT_TRUE(req.link);
    EXPECT_EQ(copy_history(req, false), "COPY --parents --chown=app --chmod=755 src/ b <<EOF /app/");
    parser::AddInstruction add;
    add.files.source_paths = {"a.tar"};
    add.files.dest = "/";
    add.unpack = false;
    EXPECT_EQ(copy_request(add).unpack, std::optional<bool>(false));
    EXPECT_EQ(copy_history(copy_request(add), true), "ADD a.tar /");
}

}  // namespace
}  // namespace cbuild::builder
