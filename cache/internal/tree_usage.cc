#include "cache/internal/tree_usage.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <set>
#include <system_error>
#include <utility>

#include "cache/internal/file_io.h"
#include "common/error.h"

namespace cbuild::cache {

namespace {

class TreeWalk {
public:
    explicit TreeWalk(dev_t device) : m_device(device) {}

    std::uint64_t bytes() const { return m_bytes; }

    void count(const struct stat& status) {
        if (!S_ISREG(status.st_mode) && !S_ISLNK(status.st_mode)) return;
        if (status.st_nlink > 1 && !m_seen.insert({status.st_dev, status.st_ino}).second) return;
        m_bytes += static_cast<std::uint64_t>(status.st_size);
    }

    // Counts what is inside the directory open as `fd` (which it takes), `path` naming it in errors.
    void directory(UniqueFd fd, const std::filesystem::path& path) {
        DIR* dir = ::fdopendir(fd.get());
        if (dir == nullptr) throw IoError(path.string(), "fdopendir", errno);
        // The DIR owns the descriptor now.
        const int dir_fd = fd.release();
        const std::unique_ptr<DIR, int (*)(DIR*)> closer(dir, ::closedir);
        while (true) {
            errno = 0;
            const dirent* entry = ::readdir(dir);
            if (entry == nullptr) {
                if (errno != 0) throw IoError(path.string(), "readdir", errno);
                return;
            }
            const char* name = entry->d_name;
            if (std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0) continue;
            struct stat status {};
            if (::fstatat(dir_fd, name, &status, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno == ENOENT) continue;
                throw IoError((path / name).string(), "fstatat", errno);
            }
            if (!S_ISDIR(status.st_mode)) {
                count(status);
                continue;
            }
            if (status.st_dev != m_device) continue;
            UniqueFd child(::openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (child.get() < 0) {
                if (errno == ENOENT) continue;
                throw IoError((path / name).string(), "open", errno);
            }
            directory(std::move(child), path / name);
        }
    }

private:
    dev_t m_device;
    std::uint64_t m_bytes = 0;
    std::set<std::pair<dev_t, ino_t>> m_seen;
};

}  // namespace

std::uint64_t tree_bytes(const std::filesystem::path& path) {
    struct stat status {};
    if (::lstat(path.c_str(), &status) != 0) {
        if (errno == ENOENT) return 0;
        throw IoError(path.string(), "lstat", errno);
    }
    TreeWalk walk(status.st_dev);
    if (!S_ISDIR(status.st_mode)) {
        walk.count(status);
        return walk.bytes();
    }
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd.get() < 0) {
        if (errno == ENOENT) return 0;
        throw IoError(path.string(), "open", errno);
    }
    walk.directory(std::move(fd), path);
    return walk.bytes();
}

void remove_tree(const std::filesystem::path& path) {
    std::error_code error;
    std::filesystem::remove_all(path, error);
    if (error) throw IoError(path.string(), "remove", error.value());
}

}  // namespace cbuild::cache
