#pragma once
// The cache index: what each finished layer-producing step left (its layer blob and history
// entry), found by the step's cache key, so an unchanged step is never run again; and, per step
// identity, the key it had last time, so a miss can say which input changed.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cache/cache_key.h"
#include "common/digest.h"

namespace cbuild::cache {

// On-disk format (version 1), under <root>/cache beside the content store:
//
//   records/<algorithm>-<hex>   one CacheRecord, named by its key (cache_key.h)
//   steps/<hex>                 the last key of one step identity, named by the sha256 (hex) of
//                               the identity string
//   file-hashes                 the FileHashIndex (file_hash_index.h)
//   snapshot-sizes              GC's memo of committed snapshots' sizes (they never change):
//                               framed text (below), magic "cbuild-snapshot-sizes 1", one line
//                               `snapshot N:<chain-hex> N:<bytes>` per snapshot
//   files/<hex>                 the per-file lines of a copy's key, to explain its misses
//   members/<hex>               the gzip member table of a copy's layer, for the next build of
//                               the step to reuse unchanged members (builder/snapshot/layer_members.h)
//   copy-memo/<hex>             the solver's shortcuts from a context fingerprint to a copy's
//                               key (builder/solve/internal/copy_memo.h); prune drops them all
//                               whenever it removes a record
//   locks/<hex>                 a step being worked on (step_lock.h)
//   .<name>.tmp.*               files being written (in each of these directories); prune()
//                               deletes those an hour old, which a killed writer left
//
// Both kinds of small file are framed text, so any bytes round-trip and the files stay
// readable with `cat`:
//
//   file     = magic LF line* "checksum" SP netstr(hex) LF        (and nothing after it)
//   line     = name (SP netstr)* LF
//   netstr   = decimal byte length (no leading zero) ":" the bytes
//
// where the checksum is the sha256, in hex, of every byte before the "checksum" line. A record
// file's magic is "cbuild-cache-record 1" and its lines, in this order:
//
//   key N:sha256:…               the file's own key (a record under another name is ignored)
//   description N:…              e.g. "[stage 2/3] RUN make"
//   layer_media_type N:…
//   layer_digest N:sha256:…      the compressed layer, a blob of the content store
//   layer_size N:decimal
//   diff_id N:sha256:…
//   history N:{…}                the OCI history entry, JSON text
//   created N:decimal            unix seconds
//   scalar N:field N:value       one per CacheKeyInput, in key order: a scalar field,
//   list N:field (N:element)*    or a list field with its elements
//
// A step file's magic is "cbuild-step-key 1" and its lines are `identity N:…` and `key N:…`.
// last_used is not in the record: it is the record file's mtime, so a hit refreshes it with
// one utimensat() instead of a rewrite. Every file is written to a temporary name
// (`.<name>.tmp.*`, AtomicFile), fsynced and renamed, so readers never see a torn file and
// concurrent writers of one name end with the last one's whole file. A file that fails to
// parse, whatever made it, reads as absent. Bump the magic's version on any change.

// Where the store at `root` keeps its cache index: <root>/cache.
std::filesystem::path cache_index_dir(const std::filesystem::path& root);

// What one finished layer-producing step (COPY, ADD, RUN, WORKDIR) left: its layer and history entry.
struct CacheRecord {
    Digest key;                              // the step's cache key (CacheKeyBuilder::finish())
    std::vector<CacheKeyInput> inputs;       // what went into the key, for --explain
    std::string description;                 // e.g. "[stage 2/3] RUN make" (for du/explain output)
    std::string layer_media_type;
    Digest layer_digest;                     // the compressed blob in the content store
    std::uint64_t layer_size = 0;
    Digest diff_id;
    std::string history_json;                // the OCI history entry, a JSON object as text
    std::int64_t created = 0;                // unix seconds
    std::int64_t last_used = 0;              // unix seconds; updated by find()

    friend bool operator==(const CacheRecord&, const CacheRecord&) = default;
};

// The index at one directory. Every call opens what it needs, so one CacheIndex may be shared
// by threads and any number of processes may use one directory at once.
class CacheIndex {
public:
    // Opens the index at `dir` (<root>/cache), creating it and its subdirectories when
    // missing. Throws IoError if they cannot be created.
    explicit CacheIndex(std::filesystem::path dir);

    // The directory given to the constructor.
    const std::filesystem::path& dir() const { return m_dir; }

    // The record for `key`, or nullopt (also when its file is unreadable or corrupt: a miss,
    // never an error); a hit sets the file's mtime, and so the returned last_used, to now.
    std::optional<CacheRecord> find(const Digest& key) const;

    // Stores `record` under record.key atomically (temp + fsync + rename); concurrent writers of
    // one key: last wins, never torn. The file's mtime becomes record.last_used when it is
    // non-zero (an imported record keeps its age), else now. Throws IoError.
    void put(const CacheRecord& record);

    // The key last recorded for a step's identity (a string the solver makes from the
    // Dockerfile path, stage and instruction position), so a miss can be explained against it;
    // nullopt when none or when its file is corrupt.
    std::optional<Digest> previous_key(const std::string& step_identity) const;
    // Records `key` as the identity's latest. Throws IoError.
    void set_previous_key(const std::string& step_identity, const Digest& key);

    // Every readable record, in no particular order (for du, prune and export); corrupt files
    // are skipped. Throws IoError only if the records directory cannot be listed.
    std::vector<CacheRecord> list() const;

    // Deletes the record for `key`; returns whether there was a file (corrupt or not). Throws
    // IoError when it cannot be deleted.
    bool remove(const Digest& key);

private:
    std::filesystem::path record_path(const Digest& key) const;

    std::filesystem::path m_dir;
};

}  // namespace cbuild::cache
