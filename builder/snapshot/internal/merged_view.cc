#include "builder/snapshot/internal/merged_view.h"

#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cerrno>

#include "builder/snapshot/internal/confined_path.h"
#include "builder/snapshot/internal/image_path.h"
#include "builder/snapshot/internal/overlay_xattr.h"
#include "common/error.h"

namespace cbuild::builder::internal {

namespace {

std::filesystem::path layer_path(const std::filesystem::path& lower, const std::string& path) {
    return path.empty() ? lower : lower / path;
}

}  // namespace

bool is_whiteout(const struct stat& status) { return S_ISCHR(status.st_mode) && status.st_rdev == makedev(0, 0); }

bool is_opaque(const std::filesystem::path& host_dir) {
    char value[2];
    static const std::string name = overlay_xattr("opaque");
    const ssize_t size = ::lgetxattr(host_dir.c_str(), name.c_str(), value, sizeof value);
    return size == 1 && value[0] == 'y';
}

MergedView::MergedView(std::vector<std::filesystem::path> lowers) : m_lowers(std::move(lowers)) {}

MergedNode MergedView::root() const {
    MergedNode node;
    node.status.st_mode = S_IFDIR | 0755;
    if (!m_lowers.empty() && ::lstat(m_lowers.front().c_str(), &node.status) != 0)
        throw IoError(m_lowers.front().string(), "lstat", errno);
    for (std::size_t layer = 0; layer < m_lowers.size(); ++layer) node.layers.push_back(layer);
    return node;
}

std::optional<MergedNode> MergedView::child(const std::string& parent_path, const MergedNode& parent,
                                            const std::string& name) const {
    const std::string path = join_path(parent_path, name);
    std::optional<MergedNode> found;
    for (const std::size_t layer : parent.layers) {
        const std::filesystem::path host = layer_path(m_lowers[layer], path);
        struct stat status {};
        if (::lstat(host.c_str(), &status) != 0) {
            if (errno == ENOENT) continue;
            throw IoError(host.string(), "lstat", errno);
        }
        // A whiteout or a non-directory below a directory ends the merge, as overlayfs's lookup does.
        if (is_whiteout(status) || (found && !S_ISDIR(status.st_mode))) break;
        if (!found) {
            found = MergedNode{layer, status, {}};
            if (!S_ISDIR(status.st_mode)) break;
        }
        found->layers.push_back(layer);
        if (is_opaque(host)) break;
    }
    return found;
}

std::vector<std::pair<std::string, MergedNode>> MergedView::children(const std::string& path,
                                                                     const MergedNode& node) const {
    std::vector<std::string> names;
    for (const std::size_t layer : node.layers) {
        const std::filesystem::path host = layer_path(m_lowers[layer], path);
        const UniqueFd directory(::open(host.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!directory) throw IoError(host.string(), "open directory", errno);
        std::vector<std::string> listed = list_directory(directory.get(), host.string());
        names.insert(names.end(), listed.begin(), listed.end());
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    std::vector<std::pair<std::string, MergedNode>> out;
    for (std::string& name : names)
        if (auto found = child(path, node, name)) out.emplace_back(std::move(name), std::move(*found));
    return out;
}

std::optional<MergedNode> MergedView::lookup(std::string_view path) const {
    std::optional<MergedNode> node = root();
    std::string current;
    for (const std::string& component : split_path(path)) {
        if (!S_ISDIR(node->status.st_mode)) return std::nullopt;
        node = child(current, *node, component);
        if (!node) return std::nullopt;
        current = join_path(current, component);
    }
    return node;
}

std::filesystem::path MergedView::host_path(const MergedNode& node, const std::string& path) const {
    return layer_path(m_lowers[node.layer], path);
}

}  // namespace cbuild::builder::internal
