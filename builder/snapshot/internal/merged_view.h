#pragma once
// The merged view of snapshot directories in overlay form (top first), read as overlayfs would
// show them without mounting anything: a whiteout (a 0:0 character device) hides its name in the
// layers below, an opaque directory (trusted.overlay.opaque="y", or user.overlay.opaque in a user
// namespace: overlay_xattr.h) hides the directories below it, and
// a non-directory hides everything below it. Only real directories are ever entered (each
// component is lstat'ed), so symlinks in the layers are never followed on the host.

#include <sys/stat.h>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cbuild::builder::internal {

// Whether `status` is an overlay whiteout: a character device 0:0.
bool is_whiteout(const struct stat& status);

// Whether the directory `host_dir` carries overlay_xattr("opaque") = "y".
bool is_opaque(const std::filesystem::path& host_dir);

struct MergedNode {
    std::size_t layer = 0;            // the top-most layer holding it
    struct stat status {};            // its lstat there
    std::vector<std::size_t> layers;  // a directory: the layers whose directories merge into it
};

class MergedView {
public:
    explicit MergedView(std::vector<std::filesystem::path> lowers);

    // The root: every layer's root merges into it (overlayfs ignores opaque on a layer root).
    // With no layers, an empty directory.
    MergedNode root() const;

    // The child `name` of the directory `parent`, found at image path `parent_path`; nullopt
    // when no layer has it or a whiteout hides it. Throws IoError for a failing lstat.
    std::optional<MergedNode> child(const std::string& parent_path, const MergedNode& parent,
                                    const std::string& name) const;

    // Every child of the directory `node` at `path`, sorted by name. Throws IoError.
    std::vector<std::pair<std::string, MergedNode>> children(const std::string& path, const MergedNode& node) const;

    // What lstat(2) would say of image path `path` through an overlay mount (no symlink is
    // followed, even in the parent components); nullopt when nothing is there. Throws IoError.
    std::optional<MergedNode> lookup(std::string_view path) const;

    // Where `node`, at image path `path`, is on the host.
    std::filesystem::path host_path(const MergedNode& node, const std::string& path) const;

    const std::vector<std::filesystem::path>& lowers() const { return m_lowers; }

private:
    std::vector<std::filesystem::path> m_lowers;
};

}  // namespace cbuild::builder::internal
