#include "builder/snapshot/upper_diff.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "builder/snapshot/internal/confined_path.h"
#include "builder/snapshot/internal/image_path.h"
#include "builder/snapshot/internal/merged_view.h"
#include "builder/snapshot/internal/node_io.h"
#include "builder/snapshot/internal/overlay_xattr.h"
#include "common/error.h"

namespace cbuild::builder {

namespace {

namespace fs = std::filesystem;
using internal::MergedNode;
using internal::MergedView;

using FileId = std::pair<dev_t, ino_t>;

constexpr std::size_t k_compare_block = std::size_t{1} << 16;

fs::path under(const fs::path& root, const std::string& path) { return path.empty() ? root : root / path; }

std::vector<std::string> list_host_directory(const fs::path& host) {
    const UniqueFd fd(::open(host.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) throw IoError(host.string(), "open directory", errno);
    return internal::list_directory(fd.get(), host.string());
}

struct stat lstat_or_throw(const fs::path& host) {
    struct stat status {};
    if (::lstat(host.c_str(), &status) != 0) throw IoError(host.string(), "lstat", errno);
    return status;
}

bool same_metadata(const LayerEntry& entry, const MergedNode& before, const fs::path& before_host) {
    const struct stat& status = before.status;
    return entry.mode == (status.st_mode & 07777) && entry.uid == status.st_uid && entry.gid == status.st_gid &&
           entry.mtime_seconds == status.st_mtim.tv_sec &&
           entry.mtime_nanoseconds == static_cast<std::uint32_t>(status.st_mtim.tv_nsec) &&
           entry.xattrs == internal::read_xattrs(before_host);
}

bool same_content(const fs::path& a, const fs::path& b) {
    const UniqueFd fd_a(::open(a.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd_a) throw IoError(a.string(), "open", errno);
    const UniqueFd fd_b(::open(b.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd_b) throw IoError(b.string(), "open", errno);
    std::vector<char> block_a(k_compare_block);
    std::vector<char> block_b(k_compare_block);
    for (;;) {
        const ssize_t got_a = ::read(fd_a.get(), block_a.data(), block_a.size());
        if (got_a < 0) throw IoError(a.string(), "read", errno);
        std::size_t got_b = 0;
        while (got_b < static_cast<std::size_t>(got_a)) {
            const ssize_t got = ::read(fd_b.get(), block_b.data() + got_b, static_cast<std::size_t>(got_a) - got_b);
            if (got < 0) throw IoError(b.string(), "read", errno);
            if (got == 0) return false;
            got_b += static_cast<std::size_t>(got);
        }
        if (std::memcmp(block_a.data(), block_b.data(), got_b) != 0) return false;
        if (got_a == 0) return ::read(fd_b.get(), block_b.data(), 1) == 0;
    }
}

// Whether the non-directory `entry` (lstat `after`) is what `before` was, as containerd's
// double-walk differ decides it.
bool same_node(const LayerEntry& entry, const struct stat& after, const MergedNode& before,
               const fs::path& before_host) {
    const struct stat& status = before.status;
    if ((after.st_mode & S_IFMT) != (status.st_mode & S_IFMT) || after.st_rdev != status.st_rdev ||
        after.st_size != status.st_size || !same_metadata(entry, before, before_host))
        return false;
    if (S_ISLNK(after.st_mode))
        return internal::entry_from_host(entry.path, before_host, status).link_target == entry.link_target;
    if (S_ISREG(after.st_mode) && entry.mtime_nanoseconds == 0)
        return same_content(entry.content.host_path, before_host);
    return true;
}

// Sorts `entries` into layer order and turns every path but the first of each inode in `ids`
// into a hardlink entry naming the first.
void assign_hardlinks(std::vector<LayerEntry>& entries, const std::map<std::string, FileId>& ids) {
    std::stable_sort(entries.begin(), entries.end(),
                     [](const LayerEntry& a, const LayerEntry& b) { return internal::component_less(a.path, b.path); });
    std::map<FileId, std::string> first;
    for (LayerEntry& entry : entries) {
        const auto id = ids.find(entry.path);
        if (id == ids.end() || entry.type != EntryType::file) continue;
        const auto [seen, inserted] = first.emplace(id->second, entry.path);
        if (inserted) continue;
        entry.type = EntryType::hardlink;
        entry.link_target = seen->second;
        entry.size = 0;
        entry.content = {};
    }
}

class UpperDiff {
public:
    UpperDiff(const fs::path& upper, const std::vector<fs::path>& lowers) : m_upper(upper), m_lowers(lowers) {}

    LayerChanges run() {
        walk("", m_lowers.root());
        assign_hardlinks(m_changes.entries, m_ids);
        return std::move(m_changes);
    }

private:
    void walk(const std::string& dir, const std::optional<MergedNode>& lower_dir) {
        for (const std::string& name : list_host_directory(under(m_upper, dir))) {
            const std::string path = internal::join_path(dir, name);
            const fs::path host = m_upper / path;
            const struct stat status = lstat_or_throw(host);
            if (internal::is_whiteout(status)) {
                m_changes.whiteouts.push_back({path, false});
                continue;
            }
            static const std::string k_unreadable[] = {internal::overlay_xattr("redirect"),
                                                       internal::overlay_xattr("metacopy")};
            for (const std::string& unreadable : k_unreadable)
                if (::lgetxattr(host.c_str(), unreadable.c_str(), nullptr, 0) >= 0)
                    throw IoError(host.string(), std::string("diff: the upper dir uses ") + unreadable, ENOTSUP);
            LayerEntry entry = internal::entry_from_host(path, host, status);
            if (S_ISREG(status.st_mode) && status.st_nlink > 1) m_ids[path] = {status.st_dev, status.st_ino};
            if (!S_ISDIR(status.st_mode)) {
                m_changes.entries.push_back(std::move(entry));
                continue;
            }
            const bool opaque = internal::is_opaque(host);
            std::optional<MergedNode> lower;
            if (lower_dir) lower = m_lowers.child(dir, *lower_dir, name);
            if (lower && !S_ISDIR(lower->status.st_mode)) lower.reset();
            const std::size_t entries_before = m_changes.entries.size();
            const std::size_t whiteouts_before = m_changes.whiteouts.size();
            m_changes.entries.push_back(std::move(entry));
            if (opaque) m_changes.whiteouts.push_back({path, true});
            walk(path, opaque ? std::nullopt : lower);
            const bool nothing_below =
                m_changes.entries.size() == entries_before + 1 && m_changes.whiteouts.size() == whiteouts_before;
            if (!opaque && lower && nothing_below &&
                same_metadata(m_changes.entries.back(), *lower, m_lowers.host_path(*lower, path)))
                m_changes.entries.pop_back();
        }
    }

    fs::path m_upper;
    MergedView m_lowers;
    LayerChanges m_changes;
    std::map<std::string, FileId> m_ids;  // regular files with more than one link
};

class TreeDiff {
public:
    TreeDiff(const std::vector<fs::path>& before, const fs::path& after) : m_before(before), m_after(after) {}

    LayerChanges run() {
        walk("", m_before.root());
        keep_links();
        assign_hardlinks(m_changes.entries, m_ids);
        return std::move(m_changes);
    }

private:
    void walk(const std::string& dir, const std::optional<MergedNode>& before_dir) {
        std::vector<std::pair<std::string, MergedNode>> before;
        if (before_dir) before = m_before.children(dir, *before_dir);
        auto old = before.begin();
        for (const std::string& name : list_host_directory(under(m_after, dir))) {
            for (; old != before.end() && old->first < name; ++old)
                m_changes.whiteouts.push_back({internal::join_path(dir, old->first), false});
            std::optional<MergedNode> previous;
            if (old != before.end() && old->first == name) previous = std::move((old++)->second);
            compare(internal::join_path(dir, name), previous);
        }
        for (; old != before.end(); ++old) m_changes.whiteouts.push_back({internal::join_path(dir, old->first), false});
    }

    void compare(const std::string& path, const std::optional<MergedNode>& before) {
        const fs::path host = m_after / path;
        const struct stat status = lstat_or_throw(host);
        LayerEntry entry = internal::entry_from_host(path, host, status);
        if (S_ISREG(status.st_mode) && status.st_nlink > 1) {
            m_ids[path] = {status.st_dev, status.st_ino};
            m_groups[{status.st_dev, status.st_ino}].push_back(path);
        }
        if (!S_ISDIR(status.st_mode)) {
            if (!before || S_ISDIR(before->status.st_mode) ||
                !same_node(entry, status, *before, m_before.host_path(*before, path)))
                m_changes.entries.push_back(std::move(entry));
            return;
        }
        const bool was_directory = before && S_ISDIR(before->status.st_mode);
        const std::size_t entries_before = m_changes.entries.size();
        const std::size_t whiteouts_before = m_changes.whiteouts.size();
        m_changes.entries.push_back(std::move(entry));
        walk(path, was_directory ? before : std::nullopt);
        const bool nothing_below =
            m_changes.entries.size() == entries_before + 1 && m_changes.whiteouts.size() == whiteouts_before;
        if (was_directory && nothing_below &&
            same_metadata(m_changes.entries.back(), *before, m_before.host_path(*before, path)))
            m_changes.entries.pop_back();
    }

    // A changed file's unchanged hardlinks join the layer, or it would split the group.
    void keep_links() {
        std::set<std::string> emitted;
        for (const LayerEntry& entry : m_changes.entries)
            if (entry.type == EntryType::file) emitted.insert(entry.path);
        for (const auto& [id, paths] : m_groups) {
            if (std::none_of(paths.begin(), paths.end(), [&](const std::string& p) { return emitted.count(p) > 0; }))
                continue;
            for (const std::string& path : paths)
                if (!emitted.count(path))
                    m_changes.entries.push_back(
                        internal::entry_from_host(path, m_after / path, lstat_or_throw(m_after / path)));
        }
    }

    MergedView m_before;
    fs::path m_after;
    LayerChanges m_changes;
    std::map<std::string, FileId> m_ids;
    std::map<FileId, std::vector<std::string>> m_groups;
};

class MergedCopy {
public:
    MergedCopy(const std::vector<fs::path>& lowers, const fs::path& target) : m_view(lowers), m_target(target) {}

    void run() {
        const UniqueFd root(::open(m_target.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!root) throw IoError(m_target.string(), "open directory", errno);
        const MergedNode node = m_view.root();
        copy_children("", node, root.get());
        if (m_view.lowers().empty()) return;
        const LayerEntry entry = internal::entry_from_host("", m_view.lowers().front(), node.status);
        internal::set_metadata(AT_FDCWD, m_target.string(), root.get(), entry, m_target.string());
        internal::set_mtime(AT_FDCWD, m_target.string(), entry, m_target.string());
    }

private:
    void copy_children(const std::string& dir, const MergedNode& node, int target_fd) {
        for (const auto& [name, child] : m_view.children(dir, node)) {
            const std::string path = internal::join_path(dir, name);
            const fs::path host = m_view.host_path(child, path);
            const std::string where = (m_target / path).string();
            const LayerEntry entry = internal::entry_from_host(path, host, child.status);
            if (S_ISREG(child.status.st_mode) && child.status.st_nlink > 1) {
                const auto [first, inserted] =
                    m_copied.emplace(FileId{child.status.st_dev, child.status.st_ino}, where);
                if (!inserted) {
                    if (::linkat(AT_FDCWD, first->second.c_str(), target_fd, name.c_str(), 0) != 0)
                        throw IoError(where, "link to `" + first->second + "`", errno);
                    continue;
                }
            }
            const UniqueFd fd = internal::create_node(target_fd, name, entry, where);
            if (entry.type == EntryType::file) internal::copy_content(host, fd.get(), where);
            internal::set_metadata(target_fd, name, fd.get(), entry, where);
            if (entry.type != EntryType::directory) continue;
            copy_children(path, child, fd.get());
            internal::set_mtime(target_fd, name, entry, where);
        }
    }

    MergedView m_view;
    fs::path m_target;
    std::map<FileId, std::string> m_copied;  // hardlinked source files → their first copy
};

}  // namespace

LayerChanges diff_upper(const fs::path& upper, const std::vector<fs::path>& lowers) {
    return UpperDiff(upper, lowers).run();
}

LayerChanges diff_trees(const std::vector<fs::path>& before_lowers, const fs::path& after) {
    return TreeDiff(before_lowers, after).run();
}

void copy_merged(const std::vector<fs::path>& lowers, const fs::path& target) { MergedCopy(lowers, target).run(); }

}  // namespace cbuild::builder
