#pragma once
// Where overlayfs keeps its metadata for this process: trusted.overlay.* in the initial user
// namespace, user.overlay.* in any other (the `userxattr` mount option), because only the
// initial namespace's root may write trusted.* xattrs. Unpacking, mounting and diffing all ask
// here, so that a snapshot is always read the way it was written.

#include <string>
#include <string_view>

namespace cbuild::builder::internal {

// Whether this process runs in a user namespace other than the initial one: its uid_map is not
// the identity over every id. Read once; false when /proc/self/uid_map cannot be read.
bool in_user_namespace();

// The overlayfs xattr `name` ("opaque", "redirect", …) in this process's namespace:
// "trusted.overlay.opaque" or "user.overlay.opaque".
std::string overlay_xattr(std::string_view name);

// "trusted" or "user": the namespace overlay_xattr() uses, as the snapshot store records it.
std::string_view overlay_xattr_namespace();

// Whether `name` is overlayfs metadata of either namespace: never taken from a layer tar nor
// put into one, so a layer can forge no overlay metadata and root and rootless builds agree.
bool is_overlay_xattr(std::string_view name);

}  // namespace cbuild::builder::internal
