#pragma once
// Mount points the image lacks, made by the child and removed again by the parent: BuildKit's
// executor.MountStubsCleaner. The child creates each missing component (directories 0755, a file
// 0755 as runc does) and reports the ones it made on the root's own filesystem, with the parent
// directory's times. Once the namespace is gone, the parent removes the stubs that are still
// empty from the upper dir (or rootfs), newest first, so created parents go too, and puts the
// parent's times back. See ARCHITECTURE.md, "The sandbox".

#include <filesystem>
#include <string_view>
#include <vector>

#include "builder/sandbox/internal/child_report.h"
#include "builder/sandbox/internal/container_init.h"
#include "builder/sandbox/internal/path_in_root.h"

namespace cbuild::builder::internal {

// Child side. Makes `target` exist under the root, resolving symlinks inside it, as a directory or
// an empty file; `host_path` receives where it is on the host side of pivot_root. When `stub`, the
// created components are reported as stubs (the working directory is not one: it stays).
bool make_mount_point(ChildState& state, std::string_view target, bool directory, bool stub,
                      PathBuffer& host_path) noexcept;

// Parent side. `dir` is the upper dir or rootfs the stubs were made in. Never fails: a stub that
// is no longer empty, or whose parent was replaced by a symlink, is left alone (as BuildKit does).
void remove_mount_stubs(const std::filesystem::path& dir, const std::vector<StubRecord>& stubs) noexcept;

}  // namespace cbuild::builder::internal
