#pragma once
// The root filesystem of a stored image, read from its layers into a FileTree.

#include <filesystem>

#include "builder/snapshot/file_tree.h"
#include "cache/content_store.h"
#include "registry/image.h"

namespace cbuild::builder::internal {

// Applies every layer of `manifest` in order. Regular files are copied into `scratch` (names
// are a counter, never member names) and referenced from there. Throws cbuild::Error for a
// missing or corrupt layer.
FileTree stored_filesystem(const cache::ContentStore& store, const registry::ImageManifest& manifest,
                           const std::filesystem::path& scratch);

}  // namespace cbuild::builder::internal
