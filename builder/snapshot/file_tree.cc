#include "builder/snapshot/file_tree.h"

#include "builder/snapshot/internal/image_path.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <deque>
#include <functional>
#include <map>
#include <unordered_map>
#include <utility>

namespace cbuild::builder {

// A node is shared between trees until one of them changes it: a writer clones every shared
// node on its way down (path copying), so copying a tree is one pointer and applying a layer
// costs what the layer touches. A node held by one tree only (use_count 1) is changed in place.
struct FileTree::Node {
    LayerEntry entry;  // entry.path is the node's full image path
    std::uint64_t inode = 0;
    std::map<std::string, std::shared_ptr<Node>, std::less<>> children;
};

namespace {

using Node = FileTree::Node;

// Linux gives up after 40 links; continuity's RootPath, which BuildKit resolves with, after 255.
constexpr int k_max_symlinks = 255;

// Inodes are unique across every tree of the process, so a node shared by two trees keeps one
// identity in both.
std::atomic<std::uint64_t> g_next_inode{1};

std::uint64_t new_inode() { return g_next_inode.fetch_add(1, std::memory_order_relaxed); }

// Go's path.Clean of "/" + path, without the leading "/": `..` cannot climb above the root.
std::vector<std::string> clean_components(std::string_view path) { return internal::split_path(internal::clamp_path(path)); }

std::string child_path(const std::string& parent, const std::string& name) {
    return parent.empty() ? name : parent + "/" + name;
}

// What LayerEntry::path promises: relative, `/`-separated, no empty, `.` or `..` component.
bool is_clean(std::string_view path) {
    if (path.empty() || path.front() == '/' || path.back() == '/') return false;
    for (const std::string& part : internal::split_path(path))
        if (part == "." || part == "..") return false;
    return path.find("//") == std::string_view::npos;
}

LayerEntry directory_entry(std::string path) {
    LayerEntry entry;
    entry.path = std::move(path);
    entry.type = EntryType::directory;
    entry.mode = 0755;
    return entry;
}

std::shared_ptr<Node> make_node(LayerEntry entry, std::uint64_t inode) {
    auto node = std::make_shared<Node>();
    node->entry = std::move(entry);
    node->inode = inode;
    return node;
}

// The node in `slot`, cloned first if another tree shares it.
Node& own(std::shared_ptr<Node>& slot) {
    if (slot.use_count() != 1) slot = std::make_shared<Node>(*slot);
    return *slot;
}

struct Resolution {
    std::vector<std::string> components;
    const Node* node = nullptr;  // what is there; nullptr when nothing is
};

// evalSymlinksInScope: the path is cleaned as written, then consumed one component at a time;
// a symlink's target is put in front of what remains (an absolute one restarting at the root)
// so its `..` apply to the resolved prefix, which holds no symlink.
Resolution resolve_in(const Node& root, std::string_view path, FollowSymlink follow) {
    std::deque<std::string> pending;
    for (std::string& part : clean_components(path)) pending.push_back(std::move(part));
    std::vector<std::string> resolved;
    std::vector<const Node*> nodes;  // nodes[i]: what resolved[0..i] names, or nullptr
    int links = 0;
    while (!pending.empty()) {
        std::string part = std::move(pending.front());
        pending.pop_front();
        if (part == "..") {
            if (!resolved.empty()) {
                resolved.pop_back();
                nodes.pop_back();
            }
            continue;
        }
        const Node* parent = nodes.empty() ? &root : nodes.back();
        const Node* child = nullptr;
        if (parent && parent->entry.type == EntryType::directory) {
            auto it = parent->children.find(part);
            if (it != parent->children.end()) child = it->second.get();
        }
        const bool last = pending.empty();
        if (child && child->entry.type == EntryType::symlink && (!last || follow == FollowSymlink::yes)) {
            if (++links > k_max_symlinks)
                throw FileTreeError("`" + std::string(path) + "`: too many levels of symbolic links");
            const std::string& target = child->entry.link_target;
            if (!target.empty() && target.front() == '/') {
                resolved.clear();
                nodes.clear();
            }
            std::vector<std::string> parts = internal::split_path(target);
            for (auto it = parts.rbegin(); it != parts.rend(); ++it)
                if (*it != ".") pending.push_front(std::move(*it));
            continue;
        }
        resolved.push_back(std::move(part));
        nodes.push_back(child);
    }
    Resolution out;
    out.node = nodes.empty() ? &root : nodes.back();
    out.components = std::move(resolved);
    return out;
}

// The directory at `components` (already resolved), for writing: shared nodes on the way are
// cloned and, with `create`, missing ones are made as containerd's mkparent makes them.
// nullptr when a component is missing (without `create`) or is not a directory (with `create`
// that is an error: nothing can be written below a file).
Node* writable_directory(std::shared_ptr<Node>& root, const std::vector<std::string>& components, bool create) {
    Node* node = &own(root);
    std::string path;
    for (const std::string& part : components) {
        path = child_path(path, part);
        auto it = node->children.find(part);
        if (it == node->children.end()) {
            if (!create) return nullptr;
            it = node->children.emplace(part, make_node(directory_entry(path), new_inode())).first;
        } else if (it->second->entry.type != EntryType::directory) {
            if (!create) return nullptr;
            throw FileTreeError("`" + path + "`: not a directory");
        }
        node = &own(it->second);
    }
    return node;
}

std::pair<std::string_view, std::string> split_last(std::string_view path) {
    const std::size_t slash = path.rfind('/');
    if (slash == std::string_view::npos) return {std::string_view(), std::string(path)};
    return {path.substr(0, slash), std::string(path.substr(slash + 1))};
}

std::string read_host_file(const std::string& path, std::uint64_t max_size) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw IoError(path, "open", errno);
    std::string out;
    char buffer[65536];
    while (true) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int error = errno;
            ::close(fd);
            throw IoError(path, "read", error);
        }
        if (n == 0) break;
        out.append(buffer, static_cast<std::size_t>(n));
        if (out.size() > max_size) break;
    }
    ::close(fd);
    return out;
}

}  // namespace

FileTree::FileTree() : m_root(make_node(directory_entry(""), new_inode())) {}

void FileTree::apply(const std::vector<LayerEntry>& entries, const std::vector<Whiteout>& whiteouts) {
    // Whiteouts hide only what the layers below hold, so they go first (OCI image spec).
    for (const Whiteout& whiteout : whiteouts) {
        if (!is_clean(whiteout.path))
            throw FileTreeError("whiteout `" + whiteout.path + "`: not a clean image path");
        if (whiteout.opaque) {
            const Resolution dir = resolve_in(*m_root, whiteout.path, FollowSymlink::yes);
            if (Node* node = writable_directory(m_root, dir.components, false)) node->children.clear();
            continue;
        }
        const auto [parent, name] = split_last(whiteout.path);
        const Resolution dir = resolve_in(*m_root, parent, FollowSymlink::yes);
        if (Node* node = writable_directory(m_root, dir.components, false)) node->children.erase(name);
    }
    for (const LayerEntry& entry : entries) {
        if (!is_clean(entry.path)) throw FileTreeError("entry `" + entry.path + "`: not a clean image path");
        const auto [parent, name] = split_last(entry.path);
        const Resolution dir = resolve_in(*m_root, parent, FollowSymlink::yes);
        const std::string path = child_path(internal::join_path(dir.components), name);

        std::shared_ptr<Node> replacement;
        if (entry.type == EntryType::hardlink) {
            // containerd's hardlinkRootPath: the target's parent is resolved, its name is not
            // (a hardlink to a symlink links the symlink).
            const auto [target_parent, target_name] = split_last(entry.link_target);
            const Resolution target_dir = resolve_in(*m_root, target_parent, FollowSymlink::yes);
            const Node* target = nullptr;
            if (target_dir.node && target_dir.node->entry.type == EntryType::directory) {
                auto it = target_dir.node->children.find(target_name);
                if (it != target_dir.node->children.end()) target = it->second.get();
            }
            if (!target)
                throw FileTreeError("hardlink `" + entry.path + "`: target `" + entry.link_target +
                                    "` does not exist");
            if (target->entry.type == EntryType::directory)
                throw FileTreeError("hardlink `" + entry.path + "`: target `" + entry.link_target +
                                    "` is a directory");
            LayerEntry linked = target->entry;
            linked.path = path;
            replacement = make_node(std::move(linked), target->inode);
        }

        Node* directory = writable_directory(m_root, dir.components, true);
        auto existing = directory->children.find(name);
        if (entry.type == EntryType::directory && existing != directory->children.end() &&
            existing->second->entry.type == EntryType::directory) {
            Node& node = own(existing->second);
            node.entry = entry;
            node.entry.path = path;
            continue;
        }
        if (!replacement) {
            LayerEntry copy = entry;
            copy.path = path;
            replacement = make_node(std::move(copy), new_inode());
        }
        directory->children.insert_or_assign(name, std::move(replacement));
    }
}

std::optional<LayerEntry> FileTree::lookup(std::string_view path) const {
    const Resolution found = resolve_in(*m_root, path, FollowSymlink::no);
    if (!found.node) return std::nullopt;
    return found.node->entry;
}

std::uint64_t FileTree::inode(std::string_view path) const {
    const Resolution found = resolve_in(*m_root, path, FollowSymlink::no);
    return found.node ? found.node->inode : 0;
}

std::string FileTree::resolve(std::string_view path, FollowSymlink follow) const {
    return internal::join_path(resolve_in(*m_root, path, follow).components);
}

std::optional<std::string> FileTree::read_file(std::string_view path, std::uint64_t max_size) const {
    const Resolution found = resolve_in(*m_root, path, FollowSymlink::yes);
    if (!found.node) return std::nullopt;
    const LayerEntry& entry = found.node->entry;
    const std::string shown = "`/" + internal::join_path(found.components) + "`";
    if (entry.type != EntryType::file) throw FileTreeError(shown + ": not a regular file");
    std::string bytes;
    if (entry.content.bytes) {
        bytes = *entry.content.bytes;
    } else if (!entry.content.host_path.empty()) {
        bytes = read_host_file(entry.content.host_path, max_size);
    }
    if (bytes.size() > max_size)
        throw FileTreeError(shown + ": larger than " + std::to_string(max_size) + " bytes");
    return bytes;
}

std::vector<LayerEntry> FileTree::list(std::string_view directory) const {
    const Resolution found = resolve_in(*m_root, directory, FollowSymlink::yes);
    std::vector<LayerEntry> out;
    if (!found.node || found.node->entry.type != EntryType::directory) return out;
    for (const auto& [name, child] : found.node->children) out.push_back(child->entry);
    return out;
}

std::vector<LayerEntry> FileTree::walk() const {
    std::vector<LayerEntry> out;
    std::unordered_map<std::uint64_t, std::string> first_path;  // inode → its regular file
    // Explicit stack: image trees can be deep enough to make recursion a risk.
    std::vector<std::pair<const Node*, std::map<std::string, std::shared_ptr<Node>>::const_iterator>> stack;
    stack.emplace_back(m_root.get(), m_root->children.begin());
    while (!stack.empty()) {
        auto& [node, next] = stack.back();
        if (next == node->children.end()) {
            stack.pop_back();
            continue;
        }
        const Node& child = *next->second;
        ++next;
        LayerEntry entry = child.entry;
        if (entry.type != EntryType::directory) {
            auto [it, first] = first_path.try_emplace(child.inode, entry.path);
            if (!first) {
                entry.type = EntryType::hardlink;
                entry.link_target = it->second;
                entry.size = 0;
                entry.content = {};
            }
        }
        out.push_back(std::move(entry));
        if (child.entry.type == EntryType::directory) stack.emplace_back(&child, child.children.begin());
    }
    return out;
}

}  // namespace cbuild::builder
