#pragma once
// The final root filesystem of an image, written out for `-o type=local` and `-o type=tar`.

#include <filesystem>

#include "builder/snapshot/file_tree.h"
#include "common/byte_sink.h"

namespace cbuild::builder::internal {

// The filesystem as one uncompressed tar (the layer writer's deterministic format).
void write_rootfs_tar(const FileTree& tree, ByteSink& out);

// The filesystem as a directory at `dest`, built beside it and swapped in at the end, so a
// failure leaves `dest` as it was. Owners and device nodes need root; without it files keep
// the caller's owner and device nodes are an error. Throws IoError naming the path.
void write_rootfs_directory(const FileTree& tree, const std::filesystem::path& dest);

}  // namespace cbuild::builder::internal
