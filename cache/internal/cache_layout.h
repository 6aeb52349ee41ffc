#pragma once
// The names of what lives beside the content store: the cache index (documented in
// cache/cache_index.h), the snapshots and cache mounts the builder keeps, and the GC lock.

#include <string>
#include <string_view>

#include "common/digest.h"

namespace cbuild::cache {

inline constexpr std::string_view k_cache_dir = "cache";
inline constexpr std::string_view k_records_dir = "records";
inline constexpr std::string_view k_steps_dir = "steps";
inline constexpr std::string_view k_file_hashes_file = "file-hashes";
inline constexpr std::string_view k_snapshots_dir = "snapshots";
inline constexpr std::string_view k_cache_mounts_dir = "cache-mounts";
inline constexpr std::string_view k_snapshot_sizes_file = "snapshot-sizes";
inline constexpr std::string_view k_gc_lock_file = "gc.lock";

// A record's file name under records/: its key as "<algorithm>-<hex>".
inline std::string record_file_name(const Digest& key) { return key.algorithm() + "-" + key.hex(); }

// The name AtomicFile gives its temporary files: ".<target>.tmp.XXXXXX".
inline bool is_atomic_temp_name(std::string_view name) {
    return name.starts_with('.') && name.find(".tmp.") != std::string_view::npos;
}

}  // namespace cbuild::cache
