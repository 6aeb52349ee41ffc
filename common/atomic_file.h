#pragma once
// Files that appear whole or not at all (ccache's AtomicFile): bytes go to a temporary file
// beside the target, and only an explicit commit() renames it into place. A crash, an exception
// or a forgotten commit leaves the target as it was and no temporary file behind.

#include <sys/types.h>

#include <filesystem>
#include <span>
#include <string_view>

#include "common/byte_sink.h"

namespace cbuild {

// A file being written atomically. Writes go to `.<name>.tmp.XXXXXX` in the target's directory
// (same filesystem, so the final rename is atomic), created with O_EXCL under a unique name, so
// concurrent writers of one target never share a temporary file; the last commit wins.
// Move-only. Not thread-safe.
class AtomicFile final : public ByteSink {
public:
    // Creates the temporary file for `path`. The committed file gets exactly `mode` (not
    // filtered by the umask). Throws IoError naming `path` and the failed call, e.g. when the
    // directory does not exist or is not writable.
    explicit AtomicFile(std::filesystem::path path, mode_t mode = 0644);
    AtomicFile(AtomicFile&& other) noexcept;
    AtomicFile& operator=(AtomicFile&&) = delete;
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;
    // Without a successful commit(), removes the temporary file; the target is untouched.
    ~AtomicFile() override;

    // Appends to the temporary file. Throws IoError (the disk is full…), after which the file is
    // discarded and commit() throws; throws cbuild::Error after commit().
    void write(std::span<const std::byte> bytes) override;
    using ByteSink::write;

    // Whether commit() makes the new content survive a crash, or only appear whole.
    enum class Durability { synced, unsynced };

    // Makes the written bytes the content of the target: fsyncs the file, sets its mode, renames
    // it over the target and fsyncs the directory, so the new content survives a crash once
    // commit() returns (`unsynced`: no fsync, for caches whose loss costs only time). Throws
    // IoError naming the failed call; if that happens before the rename, the target keeps its
    // old content. May be called once.
    void commit(Durability durability = Durability::synced);

    // The target path given to the constructor.
    const std::filesystem::path& path() const { return m_path; }

private:
    void discard() noexcept;

    std::filesystem::path m_path;
    std::filesystem::path m_temp_path;
    mode_t m_mode;
    int m_fd = -1;
    bool m_committed = false;
};

// Replaces (or creates) `path` with `bytes` through an AtomicFile, committed before returning.
// Throws IoError as AtomicFile does; on error the old content is left in place.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes,
                           mode_t mode = 0644);

// Replaces (or creates) `path` with `bytes`, whole or not at all but not synced to disk: for a
// cache whose loss after a crash costs only time. Best effort: false on any error, after which
// the old content is left in place and no temporary file.
bool replace_cache_file(const std::filesystem::path& path, std::string_view bytes) noexcept;

// Flushes `directory`'s entries to disk, so that a rename or a new file inside it survives a
// crash (a file's own fsync does not cover its name). Throws IoError.
void sync_directory(const std::filesystem::path& directory);

}  // namespace cbuild
