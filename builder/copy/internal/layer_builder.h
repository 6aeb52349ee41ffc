#pragma once
// The layer a COPY/ADD makes, built by writing into a copy of the destination's FileTree (so
// each step sees what the earlier ones did, as the copy does on a real filesystem) and
// recording which paths it wrote. finish() turns that into the layer's entries.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "builder/snapshot/file_tree.h"
#include "builder/snapshot/layer_entry.h"

namespace cbuild::builder::internal {

// Whether writing a file may replace a directory: an archive member may (the unpacker's
// RemoveAll), a copied file may not (fsutil: "cannot replace to directory with file").
enum class ReplaceDirectory { no, yes };

// What writing a directory over an existing one does to the existing one's metadata.
enum class ExistingMetadata { keep, overwrite };

class LayerBuilder {
public:
    explicit LayerBuilder(FileTree base) : m_tree(std::move(base)) {}

    const FileTree& tree() const { return m_tree; }

    // What is at `path` exactly (no symlink followed anywhere), or nullopt.
    std::optional<LayerEntry> at(const std::string& path) const;

    // os.MkdirAll on the resolved image path `path`: each missing directory is made from
    // `model` (its mode, owner and times). Throws CopyError when a component is not a
    // directory.
    void make_directories(const std::string& path, const LayerEntry& model);

    // Writes a directory at entry.path. A missing one is created; an existing directory keeps
    // its children and, with ExistingMetadata::overwrite, takes the entry's metadata. Throws
    // CopyError when a non-directory is there, unless `replace` says yes.
    void put_directory(const LayerEntry& entry, ExistingMetadata existing, ReplaceDirectory replace);

    // Writes a file, symlink, device or fifo at entry.path, replacing a non-directory (a
    // symlink there is replaced, never followed). Throws CopyError for a directory there
    // unless `replace` says yes.
    void put(const LayerEntry& entry, ReplaceDirectory replace);

    // Makes `path` a second name of the file at `target` (both resolved image paths).
    void put_hardlink(const std::string& path, const std::string& target, ReplaceDirectory replace);

    // One entry per written path that still exists, in walk order. Paths sharing a file are
    // one regular file (the first in walk order) and hardlinks to it; a path linked to a file
    // the layer did not write links to that file's existing path.
    std::vector<LayerEntry> finish() const;

private:
    void prepare(const std::string& path, ReplaceDirectory replace);

    FileTree m_tree;
    std::set<std::string> m_written;
    std::map<std::uint64_t, std::string> m_link_anchors;  // inode → a path the layer did not write
};

}  // namespace cbuild::builder::internal
