#pragma once
// Paths inside a directory tree that may hold hostile symlinks (a layer being unpacked): the
// tree's root stands for `/` for every `..` and every symlink on the way, so nothing outside
// the tree can be reached, whatever the tree holds.

#include <string>
#include <string_view>
#include <vector>

#include "common/unique_fd.h"

namespace cbuild::builder::internal {

// Opens `path` (`/`-separated, relative to the tree; "" is the root) as openat(2) with `flags`
// would, but with `root_fd` as the root for `..` and for symlinks, absolute or relative:
// openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, or open_in_root_by_walk() on a
// kernel without openat2. On failure the result is empty and errno says why.
UniqueFd open_in_root(int root_fd, std::string_view path, int flags);

// The same resolution in user space, one component at a time with O_NOFOLLOW, each symlink's
// target read and resolved from the tree's root or the link's directory (at most 40 links,
// then ELOOP). For kernels before 5.6; public so that tests can hold it to openat2's answers.
UniqueFd open_in_root_by_walk(int root_fd, std::string_view path, int flags);

// Removes `name` from the directory `parent_fd`, a directory with everything below it, never
// following a symlink. Nothing there is not an error. Throws IoError naming `where`.
void remove_at(int parent_fd, const std::string& name, const std::string& where);

// The names in the directory `dir_fd` (which may be an O_PATH descriptor) but `.` and `..`,
// sorted bytewise. Throws IoError naming `where`.
std::vector<std::string> list_directory(int dir_fd, const std::string& where);

}  // namespace cbuild::builder::internal
