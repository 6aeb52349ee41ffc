#pragma once
// An flock() held for the life of an object: how processes sharing a store take turns on
// index.json.

#include <filesystem>

namespace cbuild::cache {

// A lock on the file at a path, released by the destructor. Each FileLock opens its own
// descriptor, and flock() locks belong to the open file, so two FileLocks exclude each other
// within one process as well as across processes.
class FileLock {
public:
    enum class Mode { shared, exclusive };

    // Creates the file if absent and blocks until the lock is granted. A shared lock on a file
    // that cannot be opened for writing (a read-only store) is taken through a read-only
    // descriptor. Throws IoError naming the path.
    FileLock(const std::filesystem::path& path, Mode mode);
    ~FileLock();
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;

private:
    int m_fd = -1;
};

}  // namespace cbuild::cache
