#pragma once
// The content hashes of build-context files, remembered by what stat() says about them, so that
// hashing an unchanged context a second time is a walk of stat() calls, not a read of its bytes.

#include <sys/stat.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/digest.h"
#include "common/file_identity.h"

namespace cbuild::cache {

// Where the store at `root` keeps its file hash index: <root>/cache/file-hashes.
std::filesystem::path file_hash_index_path(const std::filesystem::path& root);

// The content hash (sha256 of the bytes) of files, remembered by (path, size, mtime ns, ctime ns,
// inode, device): a file whose stat is unchanged is not read again; any of those changing forces
// a re-read, so there is no false hit when size and mtime are equal but ctime or inode differ.
//
// A file whose ctime is not older than the moment its read began is hashed but not remembered
// (git's "racily clean" entries): file times tick with the kernel's coarse clock, so a second
// write within the same tick would leave every stat field equal to what was remembered. Such a
// file is simply read again next time.
//
// File format (version 1), all integers little-endian:
//
//   magic       "cbuild-file-hashes 1\n"
//   count       u64
//   entry*      u32 path length, the path's bytes, u64 size, i64 mtime ns, i64 ctime ns,
//               u64 inode, u64 device, u32 day of last use (days since the epoch), 32 bytes sha256
//   checksum    32 bytes: the sha256 of everything before it
//
// A file that is missing, of another version or fails its checksum loads as empty: the index
// only ever saves work, so losing it costs a re-read. An entry unused for 30 days is dropped
// at save().
//
// Thread-safe: the solver may hash from several threads.
class FileHashIndex {
public:
    // The index kept in `file`, read (once) by the first hash() or save(): a build whose steps
    // all come from the cache never pays for it. A missing or damaged file gives an empty index.
    explicit FileHashIndex(std::filesystem::path file);

    // The sha256 of the regular file at `path`, whose lstat()/fstat() is `info`: remembered when
    // `path` was hashed before with exactly this stat, else read (then remembered). Throws
    // IoError when the file (or the index file) cannot be read, cbuild::Error when `info` is not
    // a regular file's.
    Digest hash(const std::filesystem::path& path, const struct stat& info);
    // The same for a regular file whose identity was taken earlier (file_identity()).
    Digest hash(const std::filesystem::path& path, const FileIdentity& identity);

    // Writes the index back atomically (temp + fsync + rename) when anything changed since it was
    // loaded, merging entries another process saved meanwhile for paths this one never hashed.
    // Concurrent saves: the last one wins, so an entry may be lost (a re-read next time), never
    // corrupted. Throws IoError.
    void save();

    // How many hash() calls were answered from the index, and how many read the file.
    std::size_t hits() const { return m_hits.load(); }
    std::size_t misses() const { return m_misses.load(); }

private:
    struct Entry {
        FileIdentity identity;
        std::uint32_t last_used_day = 0;
        std::array<unsigned char, 32> sha256{};
    };
    using Entries = std::unordered_map<std::string, Entry>;

    // The entries in `bytes`, or nullopt when they are not a whole version-1 index.
    static std::optional<Entries> decode(std::string_view bytes);
    static std::string encode(const Entries& entries);
    // The entries of the file as it is now on disk, empty when absent or unreadable as an index.
    Entries load_file() const;
    // Reads the index file into m_entries the first time it is needed (m_mutex held).
    void load_once();

    std::filesystem::path m_file;
    std::uint32_t m_today = 0;
    mutable std::mutex m_mutex;
    Entries m_entries;
    bool m_loaded = false;
    bool m_dirty = false;
    std::atomic<std::size_t> m_hits = 0;
    std::atomic<std::size_t> m_misses = 0;
};

}  // namespace cbuild::cache
