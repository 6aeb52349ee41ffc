#pragma once
// --chown: BuildKit's llb.WithUser parsing and the file op's readUser lookup in the
// destination's /etc/passwd and /etc/group.

#include <cstdint>
#include <optional>
#include <string>

#include "builder/snapshot/file_tree.h"

namespace cbuild::builder::internal {

struct Owner {
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
};

// The owner `chown` names, or nullopt when it is empty (keep the source's owner). The value is
// `user[:group]`; each side is a number, `root` (0 without any lookup, as BuildKit's
// parseUID), or a name looked up in `tree`'s /etc/passwd (user: its uid, and its primary gid
// when no group is given) or /etc/group. A numeric user without a group gets gid = uid, as in
// BuildKit. Throws CopyError naming the user or group and the file searched when a name is not
// found (BuildKit silently uses 0 there).
std::optional<Owner> resolve_owner(const std::string& chown, const FileTree& tree);

}  // namespace cbuild::builder::internal
