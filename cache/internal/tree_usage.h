#pragma once
// Sizes and removal of directory trees that GC judges whole: snapshots, cache mounts, leftovers.

#include <cstdint>
#include <filesystem>

namespace cbuild::cache {

// The apparent size (st_size) of the regular files and symlinks under `path`, each inode counted
// once however many links it has; `path` itself counts too when it is a file. 0 when `path`
// does not exist. Entries that vanish during the walk (a concurrent writer) are skipped; the
// walk stays on `path`'s filesystem and never follows a symlink. Throws IoError.
std::uint64_t tree_bytes(const std::filesystem::path& path);

// Removes `path` and everything under it; does nothing when it does not exist. Throws IoError.
void remove_tree(const std::filesystem::path& path);

}  // namespace cbuild::cache
