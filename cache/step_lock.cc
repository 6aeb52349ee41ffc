#include "cache/step_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "common/error.h"

namespace cbuild::cache {

namespace {

// Whether `fd` is still the file at `path`: the previous holder unlinks it on release, and a
// lock on an unlinked file excludes nobody who opens the path afresh.
bool still_linked(int fd, const std::filesystem::path& path) {
    struct stat held {};
    struct stat named {};
    if (::fstat(fd, &held) != 0) throw IoError(path.string(), "fstat (lock file)", errno);
    if (::stat(path.c_str(), &named) != 0) {
        if (errno == ENOENT) return false;
        throw IoError(path.string(), "stat (lock file)", errno);
    }
    return held.st_dev == named.st_dev && held.st_ino == named.st_ino;
}

}  // namespace

StepLock::StepLock(const std::filesystem::path& cache_dir, const Digest& key, const std::function<bool()>& should_stop,
                   const std::function<void()>& waiting)
    : m_path(cache_dir / "locks" / key.hex()) {
    std::error_code error;
    std::filesystem::create_directories(m_path.parent_path(), error);
    if (error) throw IoError(m_path.parent_path().string(), "mkdir", error.value());
    bool told = false;
    // Polled rather than blocking, so Ctrl-C or a failed sibling stage ends the wait; the
    // interval grows to 50 ms, small next to any step worth waiting for.
    auto pause = std::chrono::milliseconds(1);
    while (true) {
        m_fd = ::open(m_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (m_fd < 0) throw IoError(m_path.string(), "open (lock file)", errno);
        while (::flock(m_fd, LOCK_EX | LOCK_NB) != 0) {
            if (errno != EWOULDBLOCK && errno != EINTR) {
                const int saved = errno;
                ::close(m_fd);
                throw IoError(m_path.string(), "flock", saved);
            }
            if (!told && waiting) waiting();
            told = true;
            if (should_stop && should_stop()) {
                ::close(m_fd);
                throw InterruptedError("stopped while waiting for another build of the same step");
            }
            std::this_thread::sleep_for(pause);
            pause = std::min(pause * 2, std::chrono::milliseconds(50));
        }
        try {
            if (still_linked(m_fd, m_path)) return;
        } catch (...) {
            ::close(m_fd);
            throw;
        }
        ::close(m_fd);
    }
}

StepLock::~StepLock() {
    // Unlink before unlocking, so the next opener of the path gets a fresh file while anyone
    // already waiting on this one sees it gone and starts over.
    ::unlink(m_path.c_str());
    ::close(m_fd);
}

}  // namespace cbuild::cache
