#include "builder/sandbox/internal/mount_stubs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cbuild::builder::internal {

namespace {

bool statx_of(int dir_fd, const char* path, struct statx& out) noexcept {
    const int flags = AT_SYMLINK_NOFOLLOW | (path[0] == '\0' ? AT_EMPTY_PATH : 0);
    return statx(dir_fd, path, flags, STATX_MNT_ID | STATX_ATIME | STATX_MTIME, &out) == 0;
}

timespec to_timespec(const statx_timestamp& time) noexcept {
    return {static_cast<time_t>(time.tv_sec), static_cast<long>(time.tv_nsec)};
}

// Whether the upper dir holds a whiteout (a 0/0 character device) at `relative`: the image had
// something there that an earlier step deleted.
bool upper_has_whiteout(const ChildPlan& plan, std::string_view relative) noexcept {
    if (plan.upper.empty()) return false;
    PathBuffer path;
    struct stat info {};
    return path.assign(plan.upper) && path.append_component(relative) && ::lstat(path.c_str(), &info) == 0 &&
           S_ISCHR(info.st_mode) && info.st_rdev == 0;
}

bool create_component(ChildState& state, const PathBuffer& relative, std::size_t parent_size, bool directory,
                      bool stub) noexcept {
    PathBuffer parent;
    parent.assign(relative.view().substr(0, parent_size));
    struct statx before {};
    if (stub && !statx_of(state.root_fd, parent.c_str(), before)) return state.fail("statx", parent.view());
    const bool whiteout = stub && upper_has_whiteout(state.plan, relative.view());
    if (directory) {
        if (mkdirat(state.root_fd, relative.c_str(), 0755) != 0) return state.fail("mkdirat", relative.view());
    } else {
        const int fd = openat(state.root_fd, relative.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0755);
        if (fd < 0) return state.fail("openat", relative.view());
        close(fd);
    }
    if (!stub) return true;
    struct statx after {};
    if (!statx_of(state.root_fd, parent.c_str(), after)) return state.fail("statx", parent.view());
    // A component made inside another mount (the /dev tmpfs, a bind mount) is not in the layer.
    if (before.stx_mnt_id == state.root_mount_id)
        report_stub(state.status_fd, relative.view(), directory, whiteout, to_timespec(before.stx_atime),
                    to_timespec(before.stx_mtime), to_timespec(after.stx_mtime));
    return true;
}

bool same_time(const timespec& a, const timespec& b) noexcept { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }

// The stub is still what the child made and nothing was put in it.
bool still_empty_stub(int parent_fd, const char* name, const StubRecord& stub) noexcept {
    struct stat info {};
    if (fstatat(parent_fd, name, &info, AT_SYMLINK_NOFOLLOW) != 0) return false;
    if (!stub.directory) return S_ISREG(info.st_mode) && info.st_size == 0;
    if (!S_ISDIR(info.st_mode)) return false;
    const int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return false;
    DIR* dir = fdopendir(fd);
    if (dir == nullptr) {
        close(fd);
        return false;
    }
    bool empty = true;
    while (const dirent* entry = readdir(dir))
        if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0) empty = false;
    closedir(dir);
    return empty;
}

void remove_stub(int dir_fd, const StubRecord& stub) noexcept {
    const std::size_t slash = stub.path.rfind('/');
    const std::string parent = slash == std::string::npos ? "." : stub.path.substr(0, slash);
    const char* name = stub.path.c_str() + (slash == std::string::npos ? 0 : slash + 1);
    // The command may have swapped a parent for a symlink; never follow one out of `dir`.
    open_how how{};
    how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    const int parent_fd = static_cast<int>(syscall(SYS_openat2, dir_fd, parent.c_str(), &how, sizeof how));
    if (parent_fd < 0) return;
    struct stat parent_info {};
    if (still_empty_stub(parent_fd, name, stub) && fstat(parent_fd, &parent_info) == 0 &&
        unlinkat(parent_fd, name, stub.directory ? AT_REMOVEDIR : 0) == 0) {
        if (stub.replaced_whiteout) mknodat(parent_fd, name, S_IFCHR, 0);
        // Back to the times before the stub was made, unless the command changed the directory
        // since; then only removing the stub must not show (BuildKit issue 3148).
        timespec times[2] = {parent_info.st_atim, parent_info.st_mtim};
        if (same_time(parent_info.st_mtim, stub.parent_mtime_after)) {
            times[0] = stub.parent_atime;
            times[1] = stub.parent_mtime;
        }
        futimens(parent_fd, times);
    }
    close(parent_fd);
}

}  // namespace

bool make_mount_point(ChildState& state, std::string_view target, bool directory, bool stub,
                      PathBuffer& host_path) noexcept {
    PathBuffer resolved;
    if (const int error = resolve_in_root(state.root_fd, target, resolved)) {
        errno = error;
        return state.fail("resolve", target);
    }
    const std::string_view whole = resolved.view();
    PathBuffer prefix;
    std::size_t position = 0;
    while (position < whole.size()) {
        const std::size_t slash = whole.find('/', position);
        const std::size_t end = slash == std::string_view::npos ? whole.size() : slash;
        const std::size_t parent_size = prefix.size();
        prefix.append_component(whole.substr(position, end - position));  // fits: `resolved` did
        position = end + 1;
        const bool last = end == whole.size();
        struct stat info {};
        if (fstatat(state.root_fd, prefix.c_str(), &info, AT_SYMLINK_NOFOLLOW) == 0) {
            if (last || S_ISDIR(info.st_mode)) continue;
            errno = ENOTDIR;
            return state.fail("mkdirat", prefix.view());
        }
        if (errno != ENOENT) return state.fail("fstatat", prefix.view());
        if (!create_component(state, prefix, parent_size, last ? directory : true, stub)) return false;
    }
    if (!host_path.assign(state.plan.root) || !host_path.append_component(whole)) {
        errno = ENAMETOOLONG;
        return state.fail("resolve", target);
    }
    return true;
}

void remove_mount_stubs(const std::filesystem::path& dir, const std::vector<StubRecord>& stubs) noexcept {
    if (stubs.empty()) return;
    const int dir_fd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) return;
    for (auto stub = stubs.rbegin(); stub != stubs.rend(); ++stub) remove_stub(dir_fd, *stub);
    close(dir_fd);
}

}  // namespace cbuild::builder::internal
