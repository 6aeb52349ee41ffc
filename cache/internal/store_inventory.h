#pragma once
// One scan of everything under a store's root that GC weighs: blobs and what reaches them,
// cache records, snapshots, cache mounts and leftovers, each with its size and last use.

#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_set>
#include <vector>

#include "cache/cache_index.h"
#include "cache/content_store.h"
#include "cache/gc.h"
#include "common/digest.h"

namespace cbuild::cache {

struct BlobFile {
    Digest digest;
    std::uint64_t bytes = 0;
};

struct RecordFile {
    CacheRecord record;
    std::filesystem::path path;
    std::uint64_t bytes = 0;
};

// A file or directory judged whole: a snapshot, a cache mount, a leftover.
struct StoreEntry {
    std::filesystem::path path;
    std::uint64_t bytes = 0;
    std::int64_t modified = 0;  // unix seconds: the mtime of the file or directory itself
};

struct StoreInventory {
    std::unordered_set<Digest> reached;        // by index.json (blobs_reached_by_tags)
    std::vector<BlobFile> blobs;               // every blob file present
    std::vector<RecordFile> records;           // every readable cache record
    std::vector<StoreEntry> unreadable_records;
    std::vector<StoreEntry> step_files;        // <root>/cache/steps/*
    std::vector<StoreEntry> snapshots;         // committed: <root>/snapshots/<chain-hex>
    std::vector<StoreEntry> cache_mounts;      // <root>/cache-mounts/<dir>
    std::vector<StoreEntry> temporaries;       // ingest files, tmp-* dirs, the cache's .*.tmp.* files
    std::uint64_t cache_dir_bytes = 0;         // <root>/cache's files but its temporaries
};

// Scans the store. Snapshot sizes are kept in <root>/cache/snapshot-sizes, since a committed
// snapshot never changes: only new ones are walked. Throws IoError, or cbuild::Error from
// blobs_reached_by_tags.
StoreInventory take_inventory(const ContentStore& store, const CacheIndex& index);

// The inventory in DiskUsage's categories.
DiskUsage measure(const StoreInventory& inventory);

}  // namespace cbuild::cache
