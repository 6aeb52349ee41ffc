#pragma once
// Layer tars onto disk: a base image's layers become snapshot directories (overlayfs lower
// dirs), or are applied one over another into a single directory where overlayfs is missing.
// Whatever a tar holds, nothing is ever written outside the target directory.

#include <filesystem>
#include <vector>

#include "common/digest.h"
#include "common/error.h"

namespace cbuild::builder {

// A hostile or corrupt layer: bad compressed data or tar structure, a hardlink to nothing or to
// a directory, a member below a non-directory. The message names the layer and the member.
class UnpackError : public Error {
public:
    using Error::Error;
};

// How a layer's whiteouts are written.
enum class WhiteoutStyle {
    // The directory becomes an overlayfs lower dir holding this layer's diff, as containerd's
    // overlay snapshotter stores layers: `.wh.NAME` becomes a 0:0 character device NAME and
    // `.wh..wh..opq` sets trusted.overlay.opaque="y" on its directory (user.overlay.opaque in a
    // user namespace, where overlayfs is mounted with userxattr).
    overlay,
    // The directory already holds the layers below, flattened (the snapshotter without
    // overlayfs): a whiteout deletes, an opaque directory is emptied, entries are written over.
    apply,
};

// Unpacks the layer blob `layer_blob` (a tar, gzip- or zstd-compressed or not: told by its
// magic bytes) into `dir`, an existing directory, and returns the sha256 of the uncompressed tar
// (its diff_id, for the caller to check against the image config). Whiteouts follow `style`.
//
// Members are placed as containerd's Apply does: a name is cleaned with `..` stopping at the
// root, its parent is resolved inside `dir` (symlinks included; missing parents are created,
// in overlay style with the metadata the layers below give them), and an existing node is
// replaced unless both are directories. Owners, modes (setuid, setgid, sticky), mtimes
// (directories' set after their children), symlinks, hardlinks, fifos, devices and xattrs are
// kept; an xattr namespace the filesystem refuses (ENOTSUP) is skipped, except
// security.capability, and trusted.overlay.* and user.overlay.* from a tar are dropped. In a user
// namespace, as root of it, what only the initial one's root may do is left out as containerd
// does rootless: device nodes (not whiteouts) are not made, trusted.* xattrs are skipped, and
// an owner the namespace does not map stays root. In overlay style, a
// hardlink whose target is not in this layer copies the target up from `lowers` (the snapshots
// below, top first), as overlayfs would; `lowers` serves nothing else. Whiteouts apply only to
// lower layers: one naming a path this layer wrote leaves it (making a directory opaque).
//
// Every path is resolved with `dir` as its root (openat2 RESOLVE_IN_ROOT), and the last
// component created relative to its resolved parent without following it, so `..`, absolute
// names and symlinks (to `/`, chains of `..`, a parent replaced by a link) cannot leave `dir`.
//
// Throws UnpackError for a hostile or corrupt layer, IoError for a failed system call (naming
// the host path); `dir` then holds part of the layer and must be discarded.
Digest unpack_layer(const std::filesystem::path& layer_blob, const std::filesystem::path& dir, WhiteoutStyle style,
                    const std::vector<std::filesystem::path>& lowers = {});

}  // namespace cbuild::builder
