#include "cache/internal/store_inventory.h"

#include <sys/stat.h>

#include <cerrno>
#include <map>
#include <system_error>

#include "cache/internal/cache_layout.h"
#include "cache/internal/file_io.h"
#include "cache/internal/framed_lines.h"
#include "cache/internal/reachability.h"
#include "cache/internal/store_paths.h"
#include "cache/internal/tree_usage.h"
#include "common/atomic_file.h"
#include "common/error.h"

namespace cbuild::cache {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view k_sizes_magic = "cbuild-snapshot-sizes 1";
constexpr std::size_t k_max_sizes_file = 64 << 20;

// Calls `visit(name, status)` for each entry of `dir` (none when it does not exist), skipping
// entries that vanish meanwhile.
template <typename Visit>
void for_each_entry(const fs::path& dir, Visit&& visit) {
    std::error_code error;
    fs::directory_iterator it(dir, error);
    if (error == std::errc::no_such_file_or_directory) return;
    for (const fs::directory_iterator end; !error && it != end; it.increment(error)) {
        struct stat status {};
        if (::lstat(it->path().c_str(), &status) != 0) {
            if (errno == ENOENT) continue;
            throw IoError(it->path().string(), "lstat", errno);
        }
        visit(it->path().filename().string(), status);
    }
    if (error) throw IoError(dir.string(), "readdir", error.value());
}

bool is_chain_hex(std::string_view name) {
    if (name.size() != 64) return false;
    for (const char c : name)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

StoreEntry entry_of(const fs::path& path, const struct stat& status, std::uint64_t bytes) {
    return StoreEntry{path, bytes, status.st_mtim.tv_sec};
}

std::map<std::string, std::uint64_t> read_snapshot_sizes(const fs::path& path) {
    std::map<std::string, std::uint64_t> sizes;
    try {
        const auto file = read_whole_file(path, k_max_sizes_file);
        const auto lines = file ? decode_framed_lines(k_sizes_magic, file->bytes) : std::nullopt;
        if (!lines) return sizes;
        for (const FramedLine& line : *lines)
            if (line.name == "snapshot" && line.values.size() == 2)
                sizes[line.values[0]] = std::stoull(line.values[1]);
    } catch (const std::exception&) {
        // A lost or damaged size cache only means walking the snapshots again.
        sizes.clear();
    }
    return sizes;
}

void scan_snapshots(const fs::path& dir, const fs::path& sizes_file, StoreInventory& inventory) {
    const std::map<std::string, std::uint64_t> known = read_snapshot_sizes(sizes_file);
    std::map<std::string, std::uint64_t> current;
    for_each_entry(dir, [&](const std::string& name, const struct stat& status) {
        if (!S_ISDIR(status.st_mode)) return;
        if (name.starts_with("tmp-")) {
            inventory.temporaries.push_back(entry_of(dir / name, status, tree_bytes(dir / name)));
        } else if (is_chain_hex(name)) {
            const auto it = known.find(name);
            const std::uint64_t bytes = it != known.end() ? it->second : tree_bytes(dir / name);
            current[name] = bytes;
            inventory.snapshots.push_back(entry_of(dir / name, status, bytes));
        }
    });
    if (current == known) return;
    std::vector<FramedLine> lines;
    for (const auto& [name, bytes] : current) lines.push_back({"snapshot", {name, std::to_string(bytes)}});
    try {
        write_file_atomically(sizes_file, encode_framed_lines(k_sizes_magic, lines));
    } catch (const IoError&) {
        // A memo only: a store this process cannot write (du on a read-only store) is still
        // measured, by walking its snapshots each time.
    }
}

void scan_blobs(const ContentStore& store, StoreInventory& inventory) {
    const fs::path blobs = store.root() / k_blobs_dir;
    for_each_entry(blobs, [&](const std::string& algorithm, const struct stat& algorithm_status) {
        if (!S_ISDIR(algorithm_status.st_mode)) return;
        for_each_entry(blobs / algorithm, [&](const std::string& hex, const struct stat& status) {
            if (!S_ISREG(status.st_mode)) return;
            try {
                inventory.blobs.push_back({Digest::parse(algorithm + ":" + hex), static_cast<std::uint64_t>(status.st_size)});
            } catch (const DigestError&) {
                // Not a blob name: something else's file, which GC leaves alone.
            }
        });
    });
}

void scan_cache_index(const CacheIndex& index, StoreInventory& inventory) {
    const fs::path records = index.dir() / k_records_dir;
    std::map<std::string, CacheRecord> readable;
    for (CacheRecord& record : index.list()) readable.emplace(record_file_name(record.key), std::move(record));
    // Each of the cache's files goes to one list, and each list to one category (measure()).
    const auto sort = [&](const fs::path& dir, const std::string& name, const struct stat& status,
                          std::vector<StoreEntry>& list) {
        const auto size = static_cast<std::uint64_t>(status.st_size);
        if (is_atomic_temp_name(name)) {
            inventory.temporaries.push_back(entry_of(dir / name, status, size));
            return;
        }
        list.push_back(entry_of(dir / name, status, S_ISREG(status.st_mode) ? size : tree_bytes(dir / name)));
        inventory.cache_dir_bytes += list.back().bytes;
    };
    for_each_entry(records, [&](const std::string& name, const struct stat& status) {
        const auto it = readable.find(name);
        if (it == readable.end() || is_atomic_temp_name(name)) {
            sort(records, name, status, inventory.unreadable_records);
            return;
        }
        const auto size = static_cast<std::uint64_t>(status.st_size);
        inventory.records.push_back({std::move(it->second), records / name, size});
        inventory.cache_dir_bytes += size;
    });
    const fs::path steps = index.dir() / k_steps_dir;
    for_each_entry(steps, [&](const std::string& name, const struct stat& status) {
        sort(steps, name, status, inventory.step_files);
    });
    std::vector<StoreEntry> own_files;  // the file hash index, the snapshot sizes
    for_each_entry(index.dir(), [&](const std::string& name, const struct stat& status) {
        if (!S_ISDIR(status.st_mode)) sort(index.dir(), name, status, own_files);
    });
}

}  // namespace

StoreInventory take_inventory(const ContentStore& store, const CacheIndex& index) {
    const fs::path& root = store.root();
    StoreInventory inventory;
    inventory.reached = blobs_reached_by_tags(store);
    scan_blobs(store, inventory);
    // Snapshots first: their scan may rewrite the size cache that the cache index's scan counts.
    scan_snapshots(root / k_snapshots_dir, index.dir() / k_snapshot_sizes_file, inventory);
    scan_cache_index(index, inventory);
    for_each_entry(root / k_ingest_dir, [&](const std::string& name, const struct stat& status) {
        inventory.temporaries.push_back(entry_of(root / k_ingest_dir / name, status, tree_bytes(root / k_ingest_dir / name)));
    });
    for_each_entry(root / k_cache_mounts_dir, [&](const std::string& name, const struct stat& status) {
        if (S_ISDIR(status.st_mode))
            inventory.cache_mounts.push_back(entry_of(root / k_cache_mounts_dir / name, status, tree_bytes(root / k_cache_mounts_dir / name)));
    });
    return inventory;
}

DiskUsage measure(const StoreInventory& inventory) {
    DiskUsage usage;
    const auto add = [](Usage& to, std::uint64_t bytes) {
        ++to.count;
        to.bytes += bytes;
    };
    std::unordered_set<Digest> cached;
    for (const RecordFile& file : inventory.records) cached.insert(file.record.layer_digest);
    for (const BlobFile& blob : inventory.blobs) {
        if (inventory.reached.count(blob.digest))
            add(usage.tagged_blobs, blob.bytes);
        else if (cached.count(blob.digest))
            add(usage.cache_blobs, blob.bytes);
        else
            add(usage.unreferenced_blobs, blob.bytes);
    }
    for (const StoreEntry& entry : inventory.snapshots) add(usage.snapshots, entry.bytes);
    for (const StoreEntry& entry : inventory.cache_mounts) add(usage.cache_mounts, entry.bytes);
    for (const StoreEntry& entry : inventory.temporaries) add(usage.temporary, entry.bytes);
    usage.cache_records = {inventory.records.size(), inventory.cache_dir_bytes};
    return usage;
}

}  // namespace cbuild::cache
