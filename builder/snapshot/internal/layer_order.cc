#include "builder/snapshot/internal/layer_order.h"

#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>

#include "builder/snapshot/layer_writer.h"

namespace cbuild::builder::internal {

namespace {

constexpr std::string_view k_whiteout_prefix = ".wh.";
constexpr std::string_view k_opaque_marker = ".wh..wh..opq";
constexpr std::size_t k_end = std::string_view::npos;

// The component of `path` starting at `at`; moves `at` past it and its '/', or to k_end after
// the last one.
std::string_view next_component(std::string_view path, std::size_t& at) {
    const std::size_t slash = path.find('/', at);
    const std::string_view component = path.substr(at, slash == k_end ? k_end : slash - at);
    at = slash == k_end ? k_end : slash + 1;
    return component;
}

// Where a name sorts among its siblings: the opaque marker, then whiteouts, then the rest.
int sibling_rank(std::string_view name) {
    if (name == k_opaque_marker) return 0;
    if (name.starts_with(k_whiteout_prefix)) return 1;
    return 2;
}

void check_path(const std::string& path, std::string_view what) {
    auto reject = [&](const std::string& why) { throw LayerError(path, std::string(what) + " " + why); };
    if (path.empty()) reject("has an empty path");
    if (path.find('\0') != std::string::npos) reject("path contains a NUL byte");
    if (path.front() == '/') reject("path must be relative to the image root (no leading `/`)");
    if (path.back() == '/') reject("path must not end with `/`");
    for (std::size_t at = 0; at != k_end;) {
        const std::string_view component = next_component(path, at);
        if (component.empty()) reject("path has an empty component");
        if (component == "." || component == "..") reject("path has a `.` or `..` component");
        if (component.starts_with(k_whiteout_prefix))
            reject("path has a component starting with `.wh.`, which OCI layers reserve for whiteouts");
    }
}

void check_entry(const LayerEntry& entry) {
    check_path(entry.path, "entry");
    if ((entry.type == EntryType::symlink || entry.type == EntryType::hardlink) &&
        entry.link_target.empty())
        throw LayerError(entry.path, "link has an empty target");
    if (entry.type == EntryType::file && !entry.content.host_path.empty() && entry.content.bytes)
        throw LayerError(entry.path, "has both a host path and in-memory bytes as content");
    // A PAX record is `KEY=VALUE`, and readers split at the first '='.
    for (const auto& [name, value] : entry.xattrs)
        if (name.empty() || name.find_first_of(std::string_view("=\0", 2)) != std::string::npos)
            throw LayerError(entry.path, "extended attribute name `" + name + "` is empty or contains `=` or NUL");
}

LayerEntry whiteout_entry(const Whiteout& whiteout, std::int64_t mtime) {
    check_path(whiteout.path, "whiteout");
    LayerEntry entry;
    if (whiteout.opaque) {
        entry.path = whiteout.path + "/" + std::string(k_opaque_marker);
    } else {
        const std::size_t slash = whiteout.path.rfind('/');
        const std::size_t name_at = slash == std::string::npos ? 0 : slash + 1;
        entry.path = whiteout.path.substr(0, name_at) + std::string(k_whiteout_prefix) +
                     whiteout.path.substr(name_at);
    }
    entry.type = EntryType::file;
    entry.mode = 0;
    entry.mtime_seconds = mtime;
    return entry;
}

// Gives every hardlink group (the links reaching one entry of this layer, directly or through
// other links) one order: the member that sorts first carries the content and the metadata of
// the entry they reach; the others, that entry included, link to it. A link whose chain leaves
// the layer is pointed at the chain's end, a path in a lower layer.
void arrange_hardlinks(std::vector<LayerEntry>& entries) {
    std::unordered_map<std::string_view, std::size_t> position;
    position.reserve(entries.size());
    for (std::size_t i = 0; i < entries.size(); ++i) position.emplace(entries[i].path, i);

    std::map<std::size_t, std::vector<std::size_t>> links_by_root;  // ordered: deterministic
    std::vector<std::pair<std::size_t, std::string>> outside_targets;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        if (entries[i].type != EntryType::hardlink) continue;
        std::size_t at = i;
        std::size_t hops = 0;
        while (at != k_end && entries[at].type == EntryType::hardlink) {
            const auto found = position.find(entries[at].link_target);
            if (found == position.end()) {
                outside_targets.emplace_back(i, entries[at].link_target);
                at = k_end;
            } else {
                at = found->second;
                if (++hops > entries.size()) throw LayerError(entries[i].path, "hardlink cycle");
            }
        }
        if (at == k_end) continue;
        if (entries[at].type == EntryType::directory)
            throw LayerError(entries[i].path, "hardlink to directory `" + entries[at].path + "`");
        links_by_root[at].push_back(i);
    }
    position.clear();  // its keys view the paths changed below

    for (auto& [i, target] : outside_targets) entries[i].link_target = std::move(target);
    for (const auto& [root, links] : links_by_root) {
        std::size_t carrier = root;
        if (links.front() < root) {
            // The content moves to the first link; the entry it came from becomes a link.
            carrier = links.front();
            LayerEntry content = std::move(entries[root]);
            std::string carrier_path = std::move(entries[carrier].path);
            LayerEntry link = content;
            link.type = EntryType::hardlink;
            link.size = 0;
            link.content = {};
            link.link_target = carrier_path;
            entries[root] = std::move(link);
            entries[carrier] = std::move(content);
            entries[carrier].path = std::move(carrier_path);
        }
        for (const std::size_t link : links)
            if (link != carrier) entries[link].link_target = entries[carrier].path;
    }
}

}  // namespace

int compare_layer_paths(std::string_view a, std::string_view b) {
    std::size_t at_a = 0;
    std::size_t at_b = 0;
    for (;;) {
        if (at_a == k_end) return at_b == k_end ? 0 : -1;
        if (at_b == k_end) return 1;
        const std::string_view component_a = next_component(a, at_a);
        const std::string_view component_b = next_component(b, at_b);
        if (const int rank = sibling_rank(component_a) - sibling_rank(component_b); rank != 0) return rank;
        if (const int order = component_a.compare(component_b); order != 0) return order;
    }
}

std::vector<LayerEntry> order_layer(std::vector<LayerEntry> entries, std::vector<Whiteout> whiteouts,
                                    std::int64_t whiteout_mtime) {
    for (const LayerEntry& entry : entries) check_entry(entry);
    entries.reserve(entries.size() + whiteouts.size());
    for (const Whiteout& whiteout : whiteouts) entries.push_back(whiteout_entry(whiteout, whiteout_mtime));

    std::sort(entries.begin(), entries.end(), [](const LayerEntry& a, const LayerEntry& b) {
        return compare_layer_paths(a.path, b.path) < 0;
    });
    for (std::size_t i = 1; i < entries.size(); ++i)
        if (entries[i - 1].path == entries[i].path)
            throw LayerError(entries[i].path, "appears twice in the layer");

    arrange_hardlinks(entries);
    return entries;
}

}  // namespace cbuild::builder::internal
