#pragma once
// One node of a filesystem tree as a LayerEntry, both ways: read from a host path (the differ,
// the merged copy), and created under a directory descriptor with its metadata set in the
// order that keeps it: owner, then mode (chown clears setuid and setgid bits), then xattrs
// (chown and writes clear security.capability), then mtime.

#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <string>

#include "common/unique_fd.h"
#include "builder/snapshot/internal/overlay_xattr.h"
#include "builder/snapshot/layer_entry.h"

namespace cbuild::builder::internal {

// The xattrs of the host node `host` (not following a symlink) but overlayfs's own; none when
// the filesystem has no xattrs. Throws IoError.
std::map<std::string, std::string> read_xattrs(const std::filesystem::path& host);

// The entry for the host node `host`, whose lstat is `status`, at image path `path`: type,
// mode, owner, mtime, size, symlink target, device numbers, xattrs (read_xattrs); a regular
// file's content is `host`. A whiteout comes out as a character device. Throws IoError.
LayerEntry entry_from_host(const std::string& path, const std::filesystem::path& host, const struct stat& status);

// Creates `name` in the directory `parent_fd` as `entry.type` says, with nothing else there: a
// directory (one already there is kept), an empty regular file, a symlink to
// `entry.link_target`, a device or a fifo; never a hardlink. Returns the new file opened for
// writing, or the directory opened for reading; empty for the other types. Throws IoError
// naming `where`.
UniqueFd create_node(int parent_fd, const std::string& name, const LayerEntry& entry, const std::string& where);

// Sets the owner, the mode (not of a symlink), the xattrs and, unless it is a directory (whose
// mtime must wait until its children are written), the mtime of the node `name` in `parent_fd`;
// `fd` is the node itself when open (create_node's result) or -1. An xattr the filesystem
// refuses with ENOTSUP is skipped, except security.capability; user.* is skipped where the
// kernel never allows it (symlinks, devices, fifos). Throws IoError naming `where`.
void set_metadata(int parent_fd, const std::string& name, int fd, const LayerEntry& entry, const std::string& where);

// Copies the bytes of the host file `from` (opened without following a symlink) to `to_fd`.
// Throws IoError naming `where`.
void copy_content(const std::filesystem::path& from, int to_fd, const std::string& where);

// Sets the atime and mtime of `name` in `parent_fd` to `entry`'s mtime, not following a symlink.
// Throws IoError naming `where`.
void set_mtime(int parent_fd, const std::string& name, const LayerEntry& entry, const std::string& where);

}  // namespace cbuild::builder::internal
