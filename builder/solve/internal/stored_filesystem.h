#pragma once
// Image layers as snapshots: each layer unpacked once into the shared snapshot store (keyed by
// chain ID), and the FileTree those snapshots make.

#include <filesystem>
#include <vector>

#include "builder/snapshot/file_tree.h"
#include "builder/snapshot/snapshot_store.h"
#include "common/digest.h"

namespace cbuild::builder::internal {

// The snapshot directory of every layer, top first (overlayfs lowerdir order), unpacking the
// layers not yet in `snapshots` from `blobs` (parallel to `diff_ids`, base first). Throws
// cbuild::Error for a missing or corrupt blob, or one whose content is not its diff_id.
std::vector<std::filesystem::path> layer_snapshots(SnapshotStore& snapshots, const std::vector<Digest>& diff_ids,
                                                   const std::vector<std::filesystem::path>& blobs);

// The filesystem the snapshots (top first) make together; regular files refer to their bytes
// in the snapshot directories.
FileTree snapshot_filesystem(const std::vector<std::filesystem::path>& lowers);

// The same filesystem read straight from the layer tars (base first), for a process that is not
// root and so cannot make snapshots (they keep owners and device nodes): each member becomes an
// image path (`..` and a leading `/` clamped at the root, as containerd's Apply does), owners and
// modes come from the tar headers, and regular files' bytes go to files named by a counter in
// `scratch`, so a hostile layer cannot write anywhere else. Throws cbuild::Error for a corrupt layer.
FileTree tar_filesystem(const std::vector<std::filesystem::path>& blobs, const std::filesystem::path& scratch);

}  // namespace cbuild::builder::internal
