#pragma once
// One step key worked on by one build at a time: two builds (threads of one process, or
// processes sharing a store) that reach the same step take turns, so the second finds the
// first's result in the cache instead of doing the same work again.

#include <filesystem>
#include <functional>

#include "common/digest.h"

namespace cbuild::cache {

// An exclusive flock() on <cache dir>/locks/<key hex>, held for the object's life. The file is
// removed by the holder when it lets go, so the directory only holds the keys being worked on;
// a waiter that wakes to find its file unlinked or replaced opens the new one and waits again.
// flock() belongs to the open file, so two StepLocks exclude each other within one process as
// well as across processes, and a process that dies lets go (a stale file is harmless).
class StepLock {
public:
    // Blocks until the key is free. `should_stop` is polled while waiting; when it returns
    // true the wait ends with cbuild::InterruptedError. `waiting` (may be empty) is called
    // once if the key is busy, before the wait. Throws IoError naming the lock file.
    StepLock(const std::filesystem::path& cache_dir, const Digest& key, const std::function<bool()>& should_stop,
             const std::function<void()>& waiting = {});
    ~StepLock();
    StepLock(const StepLock&) = delete;
    StepLock& operator=(const StepLock&) = delete;

private:
    std::filesystem::path m_path;
    int m_fd = -1;
};

}  // namespace cbuild::cache
