#pragma once
// Garbage collection of a store and what lives beside it: cache records, blobs nothing needs,
// snapshots, cache mounts and debris of crashed writers; and the disk usage `cbuild du` shows.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace cbuild::cache {

// How many of one kind of thing the store holds, and their bytes: apparent sizes (st_size) of
// files and symlinks, each inode once, directories themselves not counted.
struct Usage {
    std::size_t count = 0;
    std::uint64_t bytes = 0;

    friend bool operator==(const Usage&, const Usage&) = default;
};

// One cache record, snapshot or cache mount, as `cbuild du --verbose` lists them.
struct UsageItem {
    enum class Kind { cache_record, snapshot, cache_mount };

    Kind kind = Kind::cache_record;
    std::string id;           // a record's key, a snapshot's chain ID hex, a cache mount's directory name
    std::string description;  // a record's step, e.g. "[stage 2/3] RUN make"; empty for the others
    std::uint64_t bytes = 0;  // a record's layer size; the files of a snapshot or cache mount
    std::int64_t last_used = 0;  // unix seconds
};

// Everything under a store's root, each byte in exactly one category.
struct DiskUsage {
    Usage tagged_blobs;        // blobs index.json reaches: never reclaimable
    Usage cache_blobs;         // blobs only cache records reach (layers of cached steps)
    Usage unreferenced_blobs;  // blobs nothing reaches
    Usage snapshots;           // committed snapshot dirs (<root>/snapshots/<chain-hex>)
    Usage cache_mounts;        // RUN --mount=type=cache dirs (<root>/cache-mounts)
    Usage cache_records;       // count: the records; bytes: all of <root>/cache (records, step
                               // keys, the file hash index)
    Usage temporary;           // ingest/ files and snapshots' tmp-* dirs: work in progress, or
                               // what a killed cbuild left; removed by prune() an hour old
    std::vector<UsageItem> items;  // every record, snapshot and cache mount

    // The sum of the categories' bytes.
    std::uint64_t total_bytes() const;
    // What `prune --all` frees at most: everything but tagged blobs.
    std::uint64_t reclaimable_bytes() const;
};

// Measures the store at `root` (created when missing). Waits while a prune runs. Throws
// IoError, or cbuild::Error when a manifest a tag reaches is corrupt (see prune()).
DiskUsage disk_usage(const std::filesystem::path& root);

struct PruneOptions {
    bool all = false;                            // every record, snapshot and cache mount
    std::optional<std::uint64_t> keep_storage;   // stop once the store's total is at most this
    std::optional<std::chrono::seconds> until;   // only what was last used longer ago than this
    bool dry_run = false;                        // remove nothing; report what would go
};

struct PruneResult {
    std::uint64_t bytes_freed = 0;
    std::size_t records = 0, blobs = 0, snapshots = 0, cache_mounts = 0;
    std::size_t temporary = 0;  // stale ingest files, tmp-* dirs, unreadable records, temp files
};

// Removes, in this order:
//  1. debris: ingest/ files, snapshots' tmp-* dirs and the cache index's `.*.tmp.*` files an
//     hour old (what killed writers left), and record files that do not read back;
//  2. blobs that no tag and no cache record reaches (manifests of tagged images reach their
//     config and layers; an index reaches its manifests; see blobs_reached_by_tags);
//  3. cached work, oldest last use first: snapshots (each is an unpack of a blob the store
//     keeps, the cheapest to redo), then cache records (each taking its layer blob along when
//     nothing else reaches it), then, with `all`, cache mounts (a tool's own cache, the
//     dearest). With `keep_storage`, only until the store's total (DiskUsage::total_bytes) is
//     at most that; otherwise all of them with `all`, or those `until` selects, or none.
//     `until` always spares what was used more recently than that.
//  With `all`, the step keys kept for --explain go too.
// Never removes anything a tag reaches: a tagged manifest that is corrupt or not JSON stops the
// prune (cbuild::Error) before anything is removed. A snapshot's last use is its directory's
// mtime (a builder refreshes it with utimensat when it uses one); a record's is its file's
// (CacheIndex::find); a cache mount's, its directory's. Safe while other cbuild processes run:
// takes <root>/gc.lock exclusively, so it waits until no GcLease is held (and a dry run takes
// it shared). Throws IoError; what was removed before the error stays removed.
PruneResult prune(const std::filesystem::path& root, const PruneOptions& options);

// prune() unless a GcLease is held on `root` (a build runs), in which case nothing is done and
// nullopt returned at once: for a GC a build runs by itself after releasing its own lease.
std::optional<PruneResult> try_prune(const std::filesystem::path& root, const PruneOptions& options);

// The default automatic GC limit, as BuildKit: 10% of the filesystem holding `root` (or its
// nearest existing parent), at most 10 GB (10^10 bytes). Throws IoError when statvfs fails.
std::uint64_t default_gc_limit(const std::filesystem::path& root);

// A shared hold on <root>/gc.lock for the object's life, taken by whatever writes blobs,
// snapshots or records that nothing reaches yet (a build until its tags are set, a pull until
// its tag is), so that prune() waits rather than removes them. Any number may be held at once;
// blocks while a prune runs. A process must not call prune() while holding one (it would wait
// for itself); try_prune() returns nullopt instead. Throws IoError.
class GcLease {
public:
    explicit GcLease(const std::filesystem::path& root);
    ~GcLease();
    GcLease(const GcLease&) = delete;
    GcLease& operator=(const GcLease&) = delete;

private:
    int m_fd = -1;
};

}  // namespace cbuild::cache
