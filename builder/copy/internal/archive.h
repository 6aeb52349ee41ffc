#pragma once
// ADD's local archives: BuildKit's isArchivePath (a regular file that, once decompressed by
// content — gzip, bzip2, xz, zstd or none — starts with a readable tar header) and its
// unpacker (solver/llbsolver/file/unpack_root.go), writing into the layer instead of a disk.
//
// Safety: member names never become host paths. A regular member's bytes go to a file named by
// us (mkstemp) in the scratch directory, or stay in memory when small; nothing else is written
// on the host. Member names are image paths below the extraction directory, with BuildKit's
// rules: a leading `/` is dropped, the name is cleaned, and one that still climbs out with `..`
// is an error. Symlinks already in the extraction directory (from the image or from earlier
// members) are followed inside it: an absolute target starts again at the extraction
// directory, and a target that leaves it is an error. Hardlinks name a path of the extraction
// directory the same way (absolute names relative to it, `..` out of it an error) that must
// exist and not be a directory. So nothing is ever written outside the extraction directory,
// itself inside the image root.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "builder/copy/internal/layer_builder.h"
#include "builder/copy/internal/owner.h"
#include "builder/snapshot/layer_entry.h"

namespace cbuild::builder::internal {

// Whether `content` (of a regular file) is a tar archive, possibly compressed.
bool is_archive(const EntryContent& content);

struct UnpackRules {
    std::optional<Owner> owner;    // --chown: every member's owner (BuildKit's mapArchiveHeaderOwner)
    LayerEntry implied_directory;  // model of the parent directories members need (0755, 0:0)
};

// Unpacks the archive in `content` into the existing image directory `root` (resolved).
// Member modes, owners (unless --chown) and mtimes are the archive's; --chmod does not apply.
// Throws CopyError naming `shown_name` for a corrupt archive, a member leaving the extraction
// directory, a hardlink to nothing, or a device member (unsupported, as in BuildKit); IoError
// when the archive cannot be read or the scratch directory written.
void unpack_archive(const EntryContent& content, const std::string& shown_name, const std::string& root,
                    const UnpackRules& rules, const std::filesystem::path& scratch_dir, LayerBuilder& out);

}  // namespace cbuild::builder::internal
