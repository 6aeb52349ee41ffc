#pragma once
// The values of `build --cache-to` and `--cache-from`, in buildx's syntax: comma-separated
// key=value fields, or a bare reference meaning type=registry,ref=REFERENCE.

#include <string>

#include "builder/transfer/cache_transfer.h"

namespace cbuild::cli {

// `--cache-to` (keys are case-insensitive, as buildx lowercases them):
//   type=registry,ref=REGISTRY/REPOSITORY:TAG[,mode=min|max][,cache-mounts=true|false]
//                 [,registry.insecure=true|false]
//   type=local,dest=DIR[,tag=TAG][,mode=min|max][,cache-mounts=true|false]
//   REGISTRY/REPOSITORY:TAG        (type=registry,ref=…)
// Throws cbuild::UsageError naming the value: an unknown type or key, a missing type, ref or
// dest, a ref that is no valid reference or names a digest, a value not in its set.
builder::CacheExportSpec parse_cache_to(const std::string& text);

// `--cache-from`:
//   type=registry,ref=REGISTRY/REPOSITORY[:TAG|@DIGEST][,registry.insecure=true|false]
//   type=local,src=DIR[,tag=TAG]
//   REFERENCE                      (type=registry,ref=…)
// Throws cbuild::UsageError naming the value, as parse_cache_to.
builder::CacheImportSpec parse_cache_from(const std::string& text);

}  // namespace cbuild::cli
