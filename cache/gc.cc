#include "cache/gc.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <system_error>
#include <tuple>
#include <unordered_map>

#include "cache/cache_index.h"
#include "cache/content_store.h"
#include "cache/internal/cache_layout.h"
#include "cache/internal/file_io.h"
#include "cache/internal/store_inventory.h"
#include "cache/internal/tree_usage.h"
#include "common/error.h"

namespace cbuild::cache {

namespace {

namespace fs = std::filesystem;

// Older than any live writer's work (an unpack, a RUN step, a blob download) could be, for
// writers that hold no GcLease.
constexpr std::int64_t k_stale_after_seconds = 60 * 60;
constexpr std::uint64_t k_max_default_gc_limit = 10'000'000'000;

enum class Wait { yes, no };

// <root>/gc.lock flocked with `operation`; an empty descriptor when `wait` is no and another
// holder conflicts.
UniqueFd lock_gc(const fs::path& root, int operation, Wait wait) {
    std::error_code error;
    fs::create_directories(root, error);
    if (error) throw IoError(root.string(), "mkdir", error.value());
    const fs::path path = root / k_gc_lock_file;
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (fd.get() < 0 && operation == LOCK_SH && (errno == EACCES || errno == EROFS))
        fd = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) throw IoError(path.string(), "open (lock file)", errno);
    while (::flock(fd.get(), operation | (wait == Wait::no ? LOCK_NB : 0)) != 0) {
        if (errno == EINTR) continue;
        if (errno == EWOULDBLOCK && wait == Wait::no) return UniqueFd();
        throw IoError(path.string(), "flock", errno);
    }
    return fd;
}

// One prune over one inventory: every removal goes through here, so a dry run counts exactly
// what a real run removes.
class Pruner {
public:
    Pruner(StoreInventory inventory, const ContentStore& store, CacheIndex& index, const PruneOptions& options)
        : m_inventory(std::move(inventory)), m_store(store), m_index(index), m_options(options), m_now(std::time(nullptr)),
          m_usage(measure(m_inventory).total_bytes()) {
        for (const RecordFile& file : m_inventory.records) ++m_record_refs[file.record.layer_digest];
        for (const BlobFile& blob : m_inventory.blobs) m_blobs.emplace(blob.digest, &blob);
    }

    PruneResult run() {
        remove_debris();
        for (const BlobFile& blob : m_inventory.blobs)
            if (!m_inventory.reached.count(blob.digest) && !m_record_refs.count(blob.digest)) remove_blob(blob);
        remove_cached_work();
        if (m_options.all)
            for (const StoreEntry& step : m_inventory.step_files) remove_path(step);
        return m_result;
    }

private:
    // In the order they go: the cheapest to redo first (see prune() in gc.h).
    enum class Kind { snapshot, record, cache_mount };

    struct Candidate {
        Kind kind;
        std::int64_t last_used;
        std::size_t index;
    };

    void freed(std::uint64_t bytes) {
        m_result.bytes_freed += bytes;
        m_usage -= std::min(bytes, m_usage);
    }

    void remove_path(const StoreEntry& entry) {
        if (!m_options.dry_run) remove_tree(entry.path);
        freed(entry.bytes);
    }

    void remove_debris() {
        for (const StoreEntry& entry : m_inventory.temporaries) {
            if (m_now - entry.modified < k_stale_after_seconds) continue;
            remove_path(entry);
            ++m_result.temporary;
        }
        for (const StoreEntry& entry : m_inventory.unreadable_records) {
            remove_path(entry);
            ++m_result.temporary;
        }
    }

    void remove_blob(const BlobFile& blob) {
        if (!m_options.dry_run) {
            const fs::path path = m_store.blob_path(blob.digest);
            if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw IoError(path.string(), "unlink", errno);
        }
        freed(blob.bytes);
        ++m_result.blobs;
    }

    void remove_record(const RecordFile& file) {
        if (!m_options.dry_run) m_index.remove(file.record.key);
        freed(file.bytes);
        ++m_result.records;
        const Digest& layer = file.record.layer_digest;
        if (--m_record_refs[layer] > 0) return;
        m_record_refs.erase(layer);
        if (m_inventory.reached.count(layer)) return;
        if (const auto blob = m_blobs.find(layer); blob != m_blobs.end()) remove_blob(*blob->second);
    }

    void remove_snapshot(const StoreEntry& snapshot) {
        if (!m_options.dry_run) {
            // Renamed first: a crash halfway through the removal must not leave a partial
            // snapshot under its committed name, and tmp-* is what builders clean up by age.
            const fs::path doomed = snapshot.path.parent_path() / ("tmp-gc-" + snapshot.path.filename().string());
            remove_tree(doomed);
            if (::rename(snapshot.path.c_str(), doomed.c_str()) != 0) {
                if (errno == ENOENT) return;
                throw IoError(snapshot.path.string(), "rename (to `" + doomed.string() + "`)", errno);
            }
            remove_tree(doomed);
        }
        freed(snapshot.bytes);
        ++m_result.snapshots;
    }

    void remove_cache_mount(const StoreEntry& mount) {
        remove_path(mount);
        if (!m_options.dry_run) {
            const fs::path lock = mount.path.string() + ".lock";
            if (::unlink(lock.c_str()) != 0 && errno != ENOENT) throw IoError(lock.string(), "unlink", errno);
        }
        ++m_result.cache_mounts;
    }

    void remove_cached_work() {
        if (!m_options.keep_storage && !m_options.all && !m_options.until) return;
        std::vector<Candidate> candidates;
        for (std::size_t i = 0; i < m_inventory.snapshots.size(); ++i)
            candidates.push_back({Kind::snapshot, m_inventory.snapshots[i].modified, i});
        for (std::size_t i = 0; i < m_inventory.records.size(); ++i)
            candidates.push_back({Kind::record, m_inventory.records[i].record.last_used, i});
        if (m_options.all)
            for (std::size_t i = 0; i < m_inventory.cache_mounts.size(); ++i)
                candidates.push_back({Kind::cache_mount, m_inventory.cache_mounts[i].modified, i});
        std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
            return std::tie(a.kind, a.last_used) < std::tie(b.kind, b.last_used);
        });
        for (const Candidate& candidate : candidates) {
            if (m_options.keep_storage && m_usage <= *m_options.keep_storage) return;
            if (m_options.until && m_now - candidate.last_used <= m_options.until->count()) continue;
            switch (candidate.kind) {
            case Kind::snapshot: remove_snapshot(m_inventory.snapshots[candidate.index]); break;
            case Kind::record: remove_record(m_inventory.records[candidate.index]); break;
            case Kind::cache_mount: remove_cache_mount(m_inventory.cache_mounts[candidate.index]); break;
            }
        }
    }

    StoreInventory m_inventory;
    const ContentStore& m_store;
    CacheIndex& m_index;
    const PruneOptions& m_options;
    std::int64_t m_now;
    std::uint64_t m_usage;
    std::unordered_map<Digest, std::size_t> m_record_refs;
    std::unordered_map<Digest, const BlobFile*> m_blobs;
    PruneResult m_result;
};

PruneResult prune_locked(const fs::path& root, const PruneOptions& options) {
    const ContentStore store(root);
    CacheIndex index(cache_index_dir(root));
    const PruneResult result = Pruner(take_inventory(store, index), store, index, options).run();
    // The solver's shortcuts to keys (copy-memo/, see cache_index.h) may name records just
    // removed; they are only shortcuts, so a prune that removed any record drops them all.
    if (result.records > 0 && !options.dry_run) {
        std::error_code ignored;
        fs::remove_all(index.dir() / "copy-memo", ignored);
    }
    return result;
}

}  // namespace

std::uint64_t DiskUsage::total_bytes() const {
    return tagged_blobs.bytes + cache_blobs.bytes + unreferenced_blobs.bytes + snapshots.bytes + cache_mounts.bytes +
           cache_records.bytes + temporary.bytes;
}

std::uint64_t DiskUsage::reclaimable_bytes() const { return total_bytes() - tagged_blobs.bytes; }

DiskUsage disk_usage(const fs::path& root) {
    const UniqueFd lock = lock_gc(root, LOCK_SH, Wait::yes);
    const ContentStore store(root);
    const CacheIndex index(cache_index_dir(root));
    const StoreInventory inventory = take_inventory(store, index);
    DiskUsage usage = measure(inventory);
    for (const RecordFile& file : inventory.records)
        usage.items.push_back({UsageItem::Kind::cache_record, file.record.key.to_string(), file.record.description,
                               file.record.layer_size, file.record.last_used});
    for (const StoreEntry& entry : inventory.snapshots)
        usage.items.push_back(
            {UsageItem::Kind::snapshot, entry.path.filename().string(), {}, entry.bytes, entry.modified});
    for (const StoreEntry& entry : inventory.cache_mounts)
        usage.items.push_back(
            {UsageItem::Kind::cache_mount, entry.path.filename().string(), {}, entry.bytes, entry.modified});
    return usage;
}

PruneResult prune(const fs::path& root, const PruneOptions& options) {
    const UniqueFd lock = lock_gc(root, options.dry_run ? LOCK_SH : LOCK_EX, Wait::yes);
    return prune_locked(root, options);
}

std::optional<PruneResult> try_prune(const fs::path& root, const PruneOptions& options) {
    const UniqueFd lock = lock_gc(root, options.dry_run ? LOCK_SH : LOCK_EX, Wait::no);
    if (lock.get() < 0) return std::nullopt;
    return prune_locked(root, options);
}

std::uint64_t default_gc_limit(const fs::path& root) {
    fs::path existing = fs::absolute(root);
    std::error_code error;
    while (!fs::exists(existing, error) && existing.has_relative_path()) existing = existing.parent_path();
    struct statvfs info {};
    if (::statvfs(existing.c_str(), &info) != 0) throw IoError(existing.string(), "statvfs", errno);
    const std::uint64_t size = static_cast<std::uint64_t>(info.f_blocks) * info.f_frsize;
    return std::min(size / 10, k_max_default_gc_limit);
}

GcLease::GcLease(const fs::path& root) : m_fd(lock_gc(root, LOCK_SH, Wait::yes).release()) {}

GcLease::~GcLease() { ::close(m_fd); }

}  // namespace cbuild::cache
