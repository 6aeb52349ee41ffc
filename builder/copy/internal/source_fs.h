#pragma once
// What COPY reads from: the build context (a host directory behind its .dockerignore) or a
// stage's FileTree, behind one interface, plus the two lookups BuildKit makes on a source:
// resolving a path through its symlinks (never past the source root) and expanding wildcards.

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <unordered_map>
#include <string>
#include <utility>
#include <vector>

#include "builder/snapshot/file_tree.h"
#include "builder/snapshot/layer_entry.h"
#include "parser/dockerignore.h"

namespace cbuild::builder::internal {

// Identity shared by hardlinked files: {st_dev, st_ino} of a context file with more than one
// link, {0, inode} of a tree file; {0, 0} for a file known to have no other name.
using InodeKey = std::pair<std::uint64_t, std::uint64_t>;

// One source path as lstat sees it. entry.path is the source path ("" for the root); a regular
// file's content says where its bytes are.
struct SourceEntry {
    LayerEntry entry;
    InodeKey inode{0, 0};
};

class SourceFs {
public:
    virtual ~SourceFs() = default;

    // lstat of `path` (clean, relative; "" is the root), whose parent components are known to
    // be directories. nullopt when it does not exist or cannot be seen.
    virtual std::optional<SourceEntry> lstat(const std::string& path) = 0;

    // The names in directory `path` that can be seen, sorted bytewise.
    virtual std::vector<std::string> list(const std::string& path) = 0;

    // How to name the source in messages: "/x".
    static std::string shown(const std::string& path) { return "/" + path; }
};

// The build context as BuildKit receives it: owners reset to 0:0 (the client's
// resetUIDAndGID), ignored paths absent, an ignored directory present only when something
// below it is re-included by an exception. Sockets are not part of a context.
class ContextFs : public SourceFs {
public:
    ContextFs(std::filesystem::path root, parser::PatternMatcher ignore);

    std::optional<SourceEntry> lstat(const std::string& path) override;
    std::vector<std::string> list(const std::string& path) override;

private:
    // The ignore state of a directory that can be seen, for its entries; nullopt when the
    // directory is ignored (or not a directory). Memoized.
    const std::optional<parser::PatternMatcher::MatchInfo>& directory_state(const std::string& path);
    bool visible(const std::string& path, bool is_directory, const parser::PatternMatcher::MatchInfo& parent);
    bool has_visible_entry(const std::string& directory, const parser::PatternMatcher::MatchInfo& info);
    std::optional<SourceEntry> host_lstat(const std::string& path);
    // The entry for `path` (`full` on the host) that `st` describes; a symlink's target is read
    // at `name` in `dir_fd` (AT_FDCWD with `full`). Nullopt for sockets.
    std::optional<SourceEntry> describe(const std::string& path, const std::string& full, const struct stat& st,
                                        int dir_fd, const char* name) const;

    std::filesystem::path m_root;
    parser::PatternMatcher m_ignore;
    std::map<std::string, std::optional<parser::PatternMatcher::MatchInfo>> m_directories;
    // Entries list() has stat()ed and shown, until lstat() asks for them.
    std::unordered_map<std::string, std::optional<SourceEntry>> m_listed;
};

// A stage's filesystem, read as is (owners, modes, xattrs kept).
class TreeFs : public SourceFs {
public:
    explicit TreeFs(const FileTree& tree) : m_tree(tree) {}

    std::optional<SourceEntry> lstat(const std::string& path) override;
    std::vector<std::string> list(const std::string& path) override;

private:
    const FileTree& m_tree;
};

// continuity's RootPath on a source: `path` (clean) with every symlink followed (the last one
// only with FollowSymlink::yes), absolute targets restarting at the source root, `..` stopping there;
// missing components kept as written. Throws CopyError after 255 symlinks.
std::string resolve_source(SourceFs& fs, const std::string& path, FollowSymlink follow_last);

// fsutil's ResolveWildcards: the components before the first one with a wildcard are resolved
// (a missing base is a CopyError naming `shown_source`), then the rest is matched one
// component per directory level with filepath.Match, without following symlinks, matched
// directories not entered. Matches in walk order; an empty result is not an error. Throws
// CopyError for a malformed pattern.
std::vector<std::string> expand_wildcards(SourceFs& fs, const std::string& path, const std::string& shown_source);

}  // namespace cbuild::builder::internal
