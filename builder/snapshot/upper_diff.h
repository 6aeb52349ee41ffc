#pragma once
// What a RUN step changed, as the entries and whiteouts of its layer: read from the step's
// overlayfs upper dir, or, where overlayfs is missing, found by comparing a full copy of the
// filesystem, which the step modified, with the snapshots it was copied from.

#include <filesystem>
#include <vector>

#include "builder/snapshot/layer_entry.h"

namespace cbuild::builder {

struct LayerChanges {
    std::vector<LayerEntry> entries;  // in layer order: parents before children, siblings by name
    std::vector<Whiteout> whiteouts;
};

// The changes recorded in the overlayfs upper dir `upper` (unmounted by now) over `lowers`
// (the snapshots below it, top first, in overlay form). Every file, directory, symlink,
// device and fifo of `upper` is an entry, except a directory that overlayfs merely copied up:
// one present in `lowers` with the same mode, owner, mtime and xattrs and nothing changed below
// it (as BuildKit's overlay differ skips them); a directory with a change below it is an entry,
// as containerd's tar writer includes parents. A 0:0 character device is a whiteout of its path;
// a directory with trusted.overlay.opaque="y" (user.overlay.opaque in a user namespace, where
// overlayfs is mounted with userxattr) is an opaque whiteout and an entry. Regular files'
// content.host_path points into `upper`; of the paths sharing one inode, the first in path order
// is the file and the others hardlink entries naming it. Xattrs are kept but trusted.overlay.*
// and user.overlay.*.
// Throws IoError, also for an upper dir that uses redirects or metacopy (mounted other than
// by OverlayMount), which a plain walk cannot read.
LayerChanges diff_upper(const std::filesystem::path& upper, const std::vector<std::filesystem::path>& lowers);

// The changes between the merged view of `before_lowers` (snapshots in overlay form, top
// first) and `after`, a full tree that started as copy_merged() of them: added or changed
// nodes are entries (compared by type, mode, owner, size, mtime, symlink target, device
// numbers and xattrs, and by content when both mtimes have no sub-second part, since the
// filesystem may have truncated them, as containerd's differ does), a removed node is a
// whiteout, and a directory is an entry when it changed or something below it did. A directory
// emptied and refilled is reported child by child, not as opaque. When a changed file is
// hardlinked, the group's other paths are entries too, so the layer keeps the link. Regular
// files' content.host_path points into `after`. Throws IoError.
LayerChanges diff_trees(const std::vector<std::filesystem::path>& before_lowers, const std::filesystem::path& after);

// Copies the merged view of `lowers` (top first, in overlay form: whiteouts and opaque
// directories honoured, never copied) into `target`, an existing empty directory that takes the
// root's metadata: owners, modes, mtimes, xattrs (but overlayfs's own), symlinks, hardlinks
// (within one snapshot), devices and fifos. The root filesystem of a step without overlayfs.
// Throws IoError.
void copy_merged(const std::vector<std::filesystem::path>& lowers, const std::filesystem::path& target);

}  // namespace cbuild::builder
