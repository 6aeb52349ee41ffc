#include "builder/copy/internal/source_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>

#include "builder/copy/copy.h"
#include "builder/copy/internal/go_path.h"
#include "common/error.h"
#include "common/unique_fd.h"

namespace cbuild::builder::internal {

namespace {

constexpr int k_max_symlinks = 255;  // continuity's RootPath

// The target of the symlink `name` in directory `dir_fd` (AT_FDCWD: `name` is a whole path);
// `shown` names it in errors.
std::string read_link(int dir_fd, const char* name, const std::string& shown) {
    std::string buffer(256, '\0');
    while (true) {
        const ssize_t n = ::readlinkat(dir_fd, name, buffer.data(), buffer.size());
        if (n < 0) throw IoError(shown, "readlink", errno);
        if (static_cast<std::size_t>(n) < buffer.size()) {
            buffer.resize(static_cast<std::size_t>(n));
            return buffer;
        }
        buffer.resize(buffer.size() * 2);
    }
}

// The names in the directory (sorted, without . and ..); `dir_fd` is left open on it for
// fstatat() of its entries.
std::vector<std::string> read_directory(const std::string& path, UniqueFd& dir_fd) {
    dir_fd = UniqueFd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd) throw IoError(path, "open", errno);
    DIR* dir = ::fdopendir(::dup(dir_fd.get()));
    if (!dir) throw IoError(path, "opendir", errno);
    std::vector<std::string> names;
    errno = 0;
    while (const dirent* entry = ::readdir(dir)) {
        const std::string_view name = entry->d_name;
        if (name != "." && name != "..") names.emplace_back(name);
        errno = 0;
    }
    const int error = errno;
    ::closedir(dir);
    if (error != 0) throw IoError(path, "readdir", error);
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace

ContextFs::ContextFs(std::filesystem::path root, parser::PatternMatcher ignore)
    : m_root(std::move(root)), m_ignore(std::move(ignore)) {}

std::optional<SourceEntry> ContextFs::host_lstat(const std::string& path) {
    if (const auto listed = m_listed.find(path); listed != m_listed.end()) {
        // Taken by list() a moment ago; each is asked for once after that.
        std::optional<SourceEntry> found = std::move(listed->second);
        m_listed.erase(listed);
        return found;
    }
    const std::string full = path.empty() ? m_root.string() : (m_root / path).string();
    struct stat st {};
    // The context directory itself may be reached through a symlink; nothing below it is.
    if ((path.empty() ? ::stat(full.c_str(), &st) : ::lstat(full.c_str(), &st)) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
        throw IoError(full, "lstat", errno);
    }
    return describe(path, full, st, AT_FDCWD, full.c_str());
}

std::optional<SourceEntry> ContextFs::describe(const std::string& path, const std::string& full, const struct stat& st,
                                               int dir_fd, const char* name) const {
    SourceEntry out;
    LayerEntry& entry = out.entry;
    entry.path = path;
    entry.mode = st.st_mode & 07777;
    entry.mtime_seconds = st.st_mtim.tv_sec;
    entry.mtime_nanoseconds = static_cast<std::uint32_t>(st.st_mtim.tv_nsec);
    switch (st.st_mode & S_IFMT) {
    case S_IFREG:
        entry.type = EntryType::file;
        entry.size = static_cast<std::uint64_t>(st.st_size);
        entry.content.host_path = full;
        entry.content.identity = file_identity(st);
        break;
    case S_IFDIR: entry.type = EntryType::directory; break;
    case S_IFLNK:
        entry.type = EntryType::symlink;
        entry.link_target = read_link(dir_fd, name, full);
        break;
    case S_IFCHR:
    case S_IFBLK:
        entry.type = S_ISCHR(st.st_mode) ? EntryType::char_device : EntryType::block_device;
        entry.device_major = major(st.st_rdev);
        entry.device_minor = minor(st.st_rdev);
        break;
    case S_IFIFO: entry.type = EntryType::fifo; break;
    default: return std::nullopt;  // sockets
    }
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1)
        out.inode = {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
    return out;
}

const std::optional<parser::PatternMatcher::MatchInfo>& ContextFs::directory_state(const std::string& path) {
    if (const auto it = m_directories.find(path); it != m_directories.end()) return it->second;
    std::optional<parser::PatternMatcher::MatchInfo> state;
    if (path.empty()) {
        state.emplace();
    } else if (const auto& parent = directory_state(parent_path(path))) {
        const std::optional<SourceEntry> found = host_lstat(path);
        if (found && found->entry.type == EntryType::directory) {
            parser::PatternMatcher::DirectoryVisit visit = m_ignore.visit_directory(path, *parent);
            // fsutil sends an ignored directory only when something below it is sent.
            if (!visit.excluded || (visit.descend && has_visible_entry(path, visit.info)))
                state = std::move(visit.info);
        }
    }
    // std::map keeps references to its values valid across insertions.
    return m_directories.emplace(path, std::move(state)).first->second;
}

bool ContextFs::has_visible_entry(const std::string& directory, const parser::PatternMatcher::MatchInfo& info) {
    UniqueFd dir_fd;
    for (const std::string& name : read_directory((m_root / directory).string(), dir_fd)) {
        const std::string child = join_path(directory, name);
        const std::optional<SourceEntry> found = host_lstat(child);
        if (!found) continue;
        if (found->entry.type != EntryType::directory) {
            if (!m_ignore.match_using_parent(child, info).excluded) return true;
            continue;
        }
        parser::PatternMatcher::DirectoryVisit visit = m_ignore.visit_directory(child, info);
        if (!visit.excluded) return true;
        if (visit.descend && has_visible_entry(child, visit.info)) return true;
    }
    return false;
}

bool ContextFs::visible(const std::string& path, bool is_directory,
                        const parser::PatternMatcher::MatchInfo& parent) {
    if (is_directory) return directory_state(path).has_value();
    return !m_ignore.match_using_parent(path, parent).excluded;
}

std::optional<SourceEntry> ContextFs::lstat(const std::string& path) {
    if (path.empty()) return host_lstat(path);
    const std::optional<parser::PatternMatcher::MatchInfo> parent = directory_state(parent_path(path));
    if (!parent) return std::nullopt;
    std::optional<SourceEntry> found = host_lstat(path);
    if (!found || !visible(path, found->entry.type == EntryType::directory, *parent)) return std::nullopt;
    return found;
}

std::vector<std::string> ContextFs::list(const std::string& path) {
    const std::optional<parser::PatternMatcher::MatchInfo> state = directory_state(path);
    std::vector<std::string> out;
    if (!state) return out;
    const std::string directory = path.empty() ? m_root.string() : (m_root / path).string();
    UniqueFd dir_fd;
    for (std::string& name : read_directory(directory, dir_fd)) {
        const std::string child = join_path(path, name);
        // One fstatat() beside the directory's descriptor, kept for the lstat() of the entry
        // that follows: a walk of the context costs one stat per file, without path lookups.
        struct stat st {};
        if (::fstatat(dir_fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) continue;  // deleted since the listing
            throw IoError(directory + "/" + name, "lstat", errno);
        }
        std::optional<SourceEntry> found = describe(child, directory + "/" + name, st, dir_fd.get(), name.c_str());
        if (found && visible(child, found->entry.type == EntryType::directory, *state)) {
            out.push_back(std::move(name));
            m_listed.insert_or_assign(child, std::move(found));
        }
    }
    return out;
}

std::optional<SourceEntry> TreeFs::lstat(const std::string& path) {
    std::optional<LayerEntry> found = m_tree.lookup(path);
    if (!found) return std::nullopt;
    SourceEntry out;
    out.entry = std::move(*found);
    out.entry.path = path;
    out.inode = {0, m_tree.inode(path)};
    return out;
}

std::vector<std::string> TreeFs::list(const std::string& path) {
    std::vector<std::string> out;
    for (const LayerEntry& entry : m_tree.list(path)) out.push_back(base_name(entry.path));
    return out;
}

std::string resolve_source(SourceFs& fs, const std::string& path, FollowSymlink follow_last) {
    std::deque<std::string> pending;
    for (std::string& part : split_path(path)) pending.push_back(std::move(part));
    std::vector<std::string> resolved;
    std::vector<bool> directory;  // directory[i]: resolved[0..i] is a directory that exists
    int links = 0;
    while (!pending.empty()) {
        std::string part = std::move(pending.front());
        pending.pop_front();
        if (part == ".") continue;
        if (part == "..") {
            if (!resolved.empty()) {
                resolved.pop_back();
                directory.pop_back();
            }
            continue;
        }
        resolved.push_back(part);
        std::optional<SourceEntry> found;
        if (directory.empty() || directory.back()) found = fs.lstat(join_path(resolved));
        const bool last = pending.empty();
        if (found && found->entry.type == EntryType::symlink && (!last || follow_last == FollowSymlink::yes)) {
            if (++links > k_max_symlinks)
                throw CopyError(SourceFs::shown(path), "too many levels of symbolic links");
            resolved.pop_back();
            const std::string& target = found->entry.link_target;
            if (!target.empty() && target.front() == '/') {
                resolved.clear();
                directory.clear();
            }
            std::vector<std::string> parts = split_path(target);
            for (auto it = parts.rbegin(); it != parts.rend(); ++it) pending.push_front(std::move(*it));
            continue;
        }
        directory.push_back(found && found->entry.type == EntryType::directory);
    }
    return join_path(resolved);
}

namespace {

void match_level(SourceFs& fs, const std::string& directory, const std::vector<std::string>& patterns,
                 std::size_t depth, const std::string& shown_source, std::vector<std::string>& out) {
    for (const std::string& name : fs.list(directory)) {
        const std::optional<bool> matched = go_match(patterns[depth], name);
        if (!matched) throw CopyError(shown_source, "malformed wildcard pattern `" + patterns[depth] + "`");
        if (!*matched) continue;
        const std::string child = join_path(directory, name);
        if (depth + 1 == patterns.size()) {
            out.push_back(child);
            continue;
        }
        const std::optional<SourceEntry> found = fs.lstat(child);
        if (found && found->entry.type == EntryType::directory)
            match_level(fs, child, patterns, depth + 1, shown_source, out);
    }
}

}  // namespace

std::vector<std::string> expand_wildcards(SourceFs& fs, const std::string& path, const std::string& shown_source) {
    const std::vector<std::string> components = split_path(path);
    std::size_t first = 0;
    while (first < components.size() && !has_wildcards(components[first])) ++first;
    if (first == components.size()) return {path};
    const std::string base = resolve_source(
        fs, join_path(std::vector<std::string>(components.begin(), components.begin() + static_cast<long>(first))),
        FollowSymlink::yes);
    const std::optional<SourceEntry> found = fs.lstat(base);
    if (!found) throw CopyError(SourceFs::shown(base), "not found");
    std::vector<std::string> out;
    if (found->entry.type != EntryType::directory) return out;
    const std::vector<std::string> patterns(components.begin() + static_cast<long>(first), components.end());
    // Go reports some malformed patterns only when it gets to match them; check them all once.
    for (const std::string& pattern : patterns)
        if (!go_match(pattern, "")) throw CopyError(shown_source, "malformed wildcard pattern `" + pattern + "`");
    match_level(fs, base, patterns, 0, shown_source, out);
    return out;
}

}  // namespace cbuild::builder::internal
