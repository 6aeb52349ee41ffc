#include "builder/copy/internal/layer_builder.h"

#include <algorithm>
#include <unordered_map>

#include "builder/copy/copy.h"
#include "builder/copy/internal/go_path.h"

namespace cbuild::builder::internal {

namespace {

std::string shown(const std::string& path) { return "/" + path; }

}  // namespace

std::optional<LayerEntry> LayerBuilder::at(const std::string& path) const {
    // Every path written here has real directories above it; one whose parent later became a
    // symlink (an archive replacing a directory) no longer names what was written.
    try {
        if (m_tree.resolve(path, FollowSymlink::no) != path) return std::nullopt;
    } catch (const FileTreeError&) {
        return std::nullopt;
    }
    return m_tree.lookup(path);
}

void LayerBuilder::make_directories(const std::string& path, const LayerEntry& model) {
    std::string prefix;
    for (const std::string& part : split_path(path)) {
        prefix = join_path(prefix, part);
        const std::optional<LayerEntry> existing = at(prefix);
        if (existing) {
            if (existing->type != EntryType::directory)
                throw CopyError(shown(prefix), "cannot create a directory here: not a directory");
            continue;
        }
        LayerEntry directory = model;
        directory.path = prefix;
        directory.type = EntryType::directory;
        m_tree.apply({directory});
        m_written.insert(prefix);
    }
}

void LayerBuilder::put_directory(const LayerEntry& entry, ExistingMetadata metadata, ReplaceDirectory replace) {
    const std::optional<LayerEntry> existing = at(entry.path);
    if (existing && existing->type == EntryType::directory && metadata == ExistingMetadata::keep) return;
    if (existing && existing->type != EntryType::directory && replace == ReplaceDirectory::no)
        throw CopyError(shown(entry.path), "cannot copy a directory onto a non-directory");
    m_tree.apply({entry});
    m_written.insert(entry.path);
}

void LayerBuilder::prepare(const std::string& path, ReplaceDirectory replace) {
    const std::optional<LayerEntry> existing = at(path);
    if (existing && existing->type == EntryType::directory && replace == ReplaceDirectory::no)
        throw CopyError(shown(path), "cannot replace a directory with a file");
}

void LayerBuilder::put(const LayerEntry& entry, ReplaceDirectory replace) {
    prepare(entry.path, replace);
    m_tree.apply({entry});
    m_written.insert(entry.path);
}

void LayerBuilder::put_hardlink(const std::string& path, const std::string& target, ReplaceDirectory replace) {
    prepare(path, replace);
    LayerEntry link;
    link.path = path;
    link.type = EntryType::hardlink;
    link.link_target = target;
    try {
        m_tree.apply({link});
    } catch (const FileTreeError& error) {
        throw CopyError(shown(path), error.what());
    }
    if (!m_written.count(target)) m_link_anchors[m_tree.inode(target)] = target;
    m_written.insert(path);
}

std::vector<LayerEntry> LayerBuilder::finish() const {
    std::vector<std::string> paths(m_written.begin(), m_written.end());
    std::sort(paths.begin(), paths.end(),
              [](const std::string& a, const std::string& b) { return component_less(a, b); });
    std::vector<LayerEntry> out;
    std::unordered_map<std::uint64_t, std::string> holder;  // inode → the path with its bytes
    for (const std::string& path : paths) {
        std::optional<LayerEntry> entry = at(path);
        if (!entry) continue;
        if (entry->type != EntryType::directory) {
            const std::uint64_t inode = m_tree.inode(path);
            auto it = holder.find(inode);
            if (it == holder.end()) {
                // A link to a file of the layers below: that file is still there, unchanged.
                const auto anchor = m_link_anchors.find(inode);
                if (anchor != m_link_anchors.end() && !m_written.count(anchor->second) && at(anchor->second) &&
                    m_tree.inode(anchor->second) == inode)
                    it = holder.emplace(inode, anchor->second).first;
            }
            if (it != holder.end()) {
                entry->type = EntryType::hardlink;
                entry->link_target = it->second;
                entry->size = 0;
                entry->content = {};
            } else {
                holder.emplace(inode, path);
            }
        }
        out.push_back(std::move(*entry));
    }
    return out;
}

}  // namespace cbuild::builder::internal
