#pragma once
// fsutil's copier: one source (a file, or a directory whose contents are copied) written into
// the layer, with its metadata rules, hardlinks kept within the source, and the include
// (--parents) and exclude (--exclude) patterns applied below the source.

#include <cstdint>
#include <optional>
#include <string>

#include "builder/copy/internal/layer_builder.h"
#include "builder/copy/internal/owner.h"
#include "builder/copy/internal/source_fs.h"
#include "parser/dockerignore.h"

namespace cbuild::builder::internal {

struct CopyRules {
    std::optional<Owner> owner;                       // --chown; the source's owner otherwise
    std::string chmod;                                // --chmod; the source's mode otherwise (not for symlinks)
    std::optional<std::int64_t> mtime;                // SOURCE_DATE_EPOCH; the source's mtime otherwise
    const parser::PatternMatcher* include = nullptr;  // --parents: paths below the source to copy
    const parser::PatternMatcher* exclude = nullptr;  // --exclude: paths below the source to skip
};

// The entry `source` becomes at image path `target` under `rules`.
LayerEntry copied_entry(const SourceEntry& source, const std::string& target, const CopyRules& rules);

// Copies what is below the directory `source_dir` of `fs` into the directory `target_dir`
// (resolved image path; it exists). Entries are merged into existing directories, whose
// metadata they take; a directory onto a non-directory, or a file onto a directory, is a
// CopyError. With include or exclude patterns (matched on paths relative to `source_dir`),
// a directory that is not itself copied is created only once something below it is.
void copy_directory_contents(SourceFs& fs, const std::string& source_dir, const std::string& target_dir,
                             const CopyRules& rules, LayerBuilder& out);

// Copies the non-directory `source` to the image path `target` (its parent exists).
void copy_leaf(const SourceEntry& source, const std::string& target, const CopyRules& rules, LayerBuilder& out);

}  // namespace cbuild::builder::internal
