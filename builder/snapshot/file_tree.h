#pragma once
// The filesystem of an image as its layers build it up, in memory: apply layers in order, then
// look paths up, resolve symlinks without ever leaving the image root, and walk the result.
// Copies are cheap (they share structure until one of them changes), so a stage can start from
// its parent stage's tree.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "builder/snapshot/layer_entry.h"
#include "common/error.h"

namespace cbuild::builder {

// A layer that cannot be applied (a path that is not clean, a hardlink to nothing, an entry
// below a file), a symlink loop, or a file that cannot be read as asked.
class FileTreeError : public Error {
public:
    using Error::Error;
};

enum class FollowSymlink { no, yes };

// Paths handed to FileTree are image paths: `/`-separated, relative to the image root, with or
// without a leading `/` ("etc/passwd", "/etc/passwd"); "" and "/" are the root. Paths the tree
// returns are clean and relative ("etc/passwd"), the root being "".
class FileTree {
public:
    FileTree();  // only the root directory

    // Applies one layer as containerd does when it unpacks a layer tar: first the whiteouts
    // (they hide what the layers below hold: the path, or with `opaque` a directory's
    // children), then the entries in order. An entry's parent path is resolved through the
    // symlinks of the tree (never leaving the root); missing parents are created (0755, 0:0,
    // mtime 0). An entry replaces what is at its path unless both are directories, in which case
    // the directory keeps its children and takes the entry's metadata. A hardlink entry names
    // the image path it links to (its parent resolved the same way); the two paths then share
    // one file. Throws FileTreeError for a path that is empty or not clean, an entry below a
    // non-directory, or a hardlink to a path that does not exist or is a directory; entries
    // before the failing one stay applied.
    void apply(const std::vector<LayerEntry>& entries, const std::vector<Whiteout>& whiteouts = {});

    // What lstat(2) would say: symlinks in the parent components are followed, the last
    // component is not. A hardlinked file is a regular file here (see inode()). `path` of the
    // result is the resolved image path. nullopt when nothing is there; FileTreeError for a
    // symlink loop.
    std::optional<LayerEntry> lookup(std::string_view path) const;

    // The identity that paths hardlinked together share, like st_ino (resolved as lookup()
    // does); 0 when nothing is there.
    std::uint64_t inode(std::string_view path) const;

    // The image path `path` leads to, following every symlink on the way (the last one only
    // with FollowSymlink::yes). Absolute link targets start again at the image root, `..`
    // stops at the root, and components that do not exist (or sit below a non-directory) are
    // kept as written, so the result is always inside the image. Throws FileTreeError after
    // 255 symlinks (a loop).
    std::string resolve(std::string_view path, FollowSymlink follow) const;

    // The bytes of the regular file `path` leads to (symlinks followed), from the entry's bytes
    // or its host file; for small files such as /etc/passwd. nullopt when nothing is there.
    // Throws FileTreeError when it is not a regular file or holds more than `max_size` bytes,
    // IoError when the host file cannot be read.
    std::optional<std::string> read_file(std::string_view path, std::uint64_t max_size) const;

    // The entries of the directory `directory` leads to (symlinks followed), sorted by name;
    // empty when it is not a directory or does not exist.
    std::vector<LayerEntry> list(std::string_view directory) const;

    // Every entry below the root, depth first, each directory before its contents and siblings
    // sorted by name: the whole filesystem as one layer would hold it. Of the paths that share
    // one file, the first in this order is the regular file and the others are hardlink
    // entries naming it.
    std::vector<LayerEntry> walk() const;

    // One path of the tree; defined in file_tree.cc (public only so that its helpers can name it).
    struct Node;

private:
    std::shared_ptr<Node> m_root;
};

}  // namespace cbuild::builder
