#pragma once
// A shortcut for a COPY from the build context on a rebuild: the step's cache key remembered
// under a fingerprint of what stat() says of everything below the copy's sources, so an
// unchanged context gives the key after one walk of stat calls, without resolving the copy,
// reading the file-hash index or hashing a line per file. The memo is only a shortcut: a
// missing, stale or unreadable one sends the step the long way (copy_key), which is always
// right, and the long way then records the memo for next time.
//
// Memo files live in <cache dir>/copy-memo/<fingerprint hex>; each holds the magic line
// "cbuild-copy-memo 1" and the key ("sha256:…"). Beside them, dirs-<sha256 of a source root's
// path> holds the walk's directory listings for that root. They are written without fsync
// (losing one costs one long way) and removed by prune with the records.

#include <filesystem>
#include <optional>
#include <string>

#include "builder/copy/copy.h"
#include "common/digest.h"
#include "parser/dockerignore.h"

namespace cbuild::builder::internal {

// The fingerprint of a COPY from the context at `context`: the parent key, the instruction
// text and the request's options, the .dockerignore patterns, and for each source, it and
// every file below it: path, type, mode, owner, size, modification and change times, inode,
// device. Nullopt when the copy cannot be fingerprinted this simply (heredocs, a wildcard, a
// source that is missing or a symlink), and when a file changed so recently that a later write
// could leave its stat unchanged (FileHashIndex's racily clean files). The walk reads the names
// in unchanged directories from the listings it keeps in the cache at `cache_dir`
// (directory_listings.h). Throws IoError when a directory cannot be read.
std::optional<Digest> copy_fingerprint(const Digest& parent, const CopyRequest& request, const std::string& instruction_text,
                                       const std::filesystem::path& context, const parser::PatternMatcher& ignore,
                                       const std::filesystem::path& cache_dir);

// The key remembered under `fingerprint` in the cache at `cache_dir`, or nullopt.
std::optional<Digest> recall_copy_key(const std::filesystem::path& cache_dir, const Digest& fingerprint);

// Remembers `key` under `fingerprint`; best effort, never throws.
void remember_copy_key(const std::filesystem::path& cache_dir, const Digest& fingerprint, const Digest& key);

}  // namespace cbuild::builder::internal
