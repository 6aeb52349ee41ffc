#pragma once
// The pieces of Go's path/filepath package that COPY's rules are written in: filepath.Match
// for wildcards and fsutil's containsWildcards. Image paths (path.Clean and the component
// order) are in builder/snapshot/internal/image_path.h.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "builder/snapshot/internal/image_path.h"

namespace cbuild::builder::internal {

// fsutil's containsWildcards: `*`, `?` or `[` not escaped by a `\`.
bool has_wildcards(std::string_view text);

// filepath.Match(pattern, name) on Linux: `*` (no `/`), `?`, `[...]` / `[^...]` with ranges,
// `\` escapes. nullopt when Go reports ErrBadPattern (Go only notices some malformed patterns
// while matching; so does this).
std::optional<bool> go_match(std::string_view pattern, std::string_view name);

}  // namespace cbuild::builder::internal
