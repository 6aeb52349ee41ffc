#include "cache/internal/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "common/error.h"

namespace cbuild::cache {

FileLock::FileLock(const std::filesystem::path& path, Mode mode) {
    m_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (m_fd < 0 && mode == Mode::shared && (errno == EACCES || errno == EROFS))
        m_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (m_fd < 0) throw IoError(path.string(), "open (lock file)", errno);
    const int operation = mode == Mode::shared ? LOCK_SH : LOCK_EX;
    while (::flock(m_fd, operation) != 0) {
        if (errno == EINTR) continue;
        const int saved_errno = errno;
        ::close(m_fd);
        throw IoError(path.string(), "flock", saved_errno);
    }
}

FileLock::~FileLock() {
    // Closing the descriptor releases the lock.
    ::close(m_fd);
}

}  // namespace cbuild::cache
