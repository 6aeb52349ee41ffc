#include "builder/snapshot/internal/confined_path.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <deque>

#include "builder/snapshot/internal/image_path.h"
#include "common/error.h"

namespace cbuild::builder::internal {

namespace {

constexpr int k_max_symlinks = 40;  // the kernel's MAXSYMLINKS
// openat2 answers EAGAIN when a rename elsewhere raced with a `..`; it asks to be retried.
constexpr int k_max_retries = 64;

std::atomic<bool> g_openat2_missing{false};

std::string read_link_at(int dir_fd, const std::string& name) {
    std::string target(256, '\0');
    for (;;) {
        const ssize_t length = ::readlinkat(dir_fd, name.c_str(), target.data(), target.size());
        if (length < 0) return {};
        if (static_cast<std::size_t>(length) < target.size()) {
            target.resize(static_cast<std::size_t>(length));
            return target;
        }
        target.resize(target.size() * 2);
    }
}

}  // namespace

UniqueFd open_in_root(int root_fd, std::string_view path, int flags) {
    if (g_openat2_missing.load(std::memory_order_relaxed)) return open_in_root_by_walk(root_fd, path, flags);
    const std::string relative = path.empty() ? std::string(".") : std::string(path);
    open_how how{};
    how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    for (int attempt = 0; attempt < k_max_retries; ++attempt) {
        const long fd = ::syscall(SYS_openat2, root_fd, relative.c_str(), &how, sizeof how);
        if (fd >= 0) return UniqueFd(static_cast<int>(fd));
        if (errno == EAGAIN) continue;
        if (errno == ENOSYS) {
            g_openat2_missing.store(true, std::memory_order_relaxed);
            return open_in_root_by_walk(root_fd, path, flags);
        }
        return {};
    }
    return {};
}

UniqueFd open_in_root_by_walk(int root_fd, std::string_view path, int flags) {
    // The directories entered so far, below the root; `..` pops one, an absolute link clears all.
    std::vector<UniqueFd> entered;
    const std::vector<std::string> initial = split_path(path);
    std::deque<std::string> pending(initial.begin(), initial.end());
    int links = 0;
    while (!pending.empty()) {
        const std::string component = std::move(pending.front());
        pending.pop_front();
        if (component == ".") continue;
        if (component == "..") {
            if (!entered.empty()) entered.pop_back();
            continue;
        }
        const int current = entered.empty() ? root_fd : entered.back().get();
        UniqueFd found(::openat(current, component.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
        if (!found) return {};
        struct stat status {};
        if (::fstat(found.get(), &status) != 0) return {};
        const bool last = pending.empty();
        if (S_ISLNK(status.st_mode) && !(last && (flags & O_NOFOLLOW))) {
            if (++links > k_max_symlinks) {
                errno = ELOOP;
                return {};
            }
            const std::string target = read_link_at(current, component);
            if (target.empty()) {
                errno = ENOENT;
                return {};
            }
            if (target.front() == '/') entered.clear();
            const std::vector<std::string> parts = split_path(target);
            pending.insert(pending.begin(), parts.begin(), parts.end());
            continue;
        }
        if (last) return UniqueFd(::openat(current, component.c_str(), flags | O_NOFOLLOW | O_CLOEXEC));
        if (!S_ISDIR(status.st_mode)) {
            errno = ENOTDIR;
            return {};
        }
        entered.push_back(std::move(found));
    }
    return UniqueFd(::openat(entered.empty() ? root_fd : entered.back().get(), ".", flags | O_CLOEXEC));
}

std::vector<std::string> list_directory(int dir_fd, const std::string& where) {
    const int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw IoError(where, "open directory", errno);
    DIR* directory = ::fdopendir(fd);
    if (directory == nullptr) {
        const int error = errno;
        ::close(fd);
        throw IoError(where, "fdopendir", error);
    }
    std::vector<std::string> names;
    errno = 0;
    while (const dirent* entry = ::readdir(directory)) {
        const std::string_view name = entry->d_name;
        if (name != "." && name != "..") names.emplace_back(name);
        errno = 0;
    }
    const int error = errno;
    ::closedir(directory);
    if (error != 0) throw IoError(where, "readdir", error);
    std::sort(names.begin(), names.end());
    return names;
}

void remove_at(int parent_fd, const std::string& name, const std::string& where) {
    struct stat status {};
    if (::fstatat(parent_fd, name.c_str(), &status, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return;
        throw IoError(where, "lstat", errno);
    }
    if (S_ISDIR(status.st_mode)) {
        const UniqueFd directory(::openat(parent_fd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!directory) throw IoError(where, "open directory", errno);
        for (const std::string& child : list_directory(directory.get(), where))
            remove_at(directory.get(), child, join_path(where, child));
    }
    if (::unlinkat(parent_fd, name.c_str(), S_ISDIR(status.st_mode) ? AT_REMOVEDIR : 0) != 0 && errno != ENOENT)
        throw IoError(where, S_ISDIR(status.st_mode) ? "rmdir" : "unlink", errno);
}

}  // namespace cbuild::builder::internal
