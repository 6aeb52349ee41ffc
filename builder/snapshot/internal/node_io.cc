#include "builder/snapshot/internal/node_io.h"

#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace cbuild::builder::internal {

namespace {

constexpr std::string_view k_capability = "security.capability";
constexpr std::size_t k_copy_chunk = std::size_t{1} << 30;
constexpr std::size_t k_read_buffer = std::size_t{1} << 16;

// A symlink, device or fifo has no descriptor of its own that can take xattrs; the path through
// its (already resolved) parent's descriptor names it without resolving anything again.
std::string proc_path(int parent_fd, const std::string& name) {
    return "/proc/self/fd/" + std::to_string(parent_fd) + "/" + name;
}

mode_t file_type(EntryType type) {
    switch (type) {
    case EntryType::directory: return S_IFDIR;
    case EntryType::symlink: return S_IFLNK;
    case EntryType::char_device: return S_IFCHR;
    case EntryType::block_device: return S_IFBLK;
    case EntryType::fifo: return S_IFIFO;
    case EntryType::file:
    case EntryType::hardlink: break;
    }
    return S_IFREG;
}

}  // namespace

std::map<std::string, std::string> read_xattrs(const std::filesystem::path& host) {
    std::map<std::string, std::string> xattrs;
    std::vector<char> names;
    for (;;) {
        const ssize_t size = ::llistxattr(host.c_str(), nullptr, 0);
        if (size < 0 && (errno == ENOTSUP || errno == ENODATA)) return xattrs;
        if (size < 0) throw IoError(host.string(), "llistxattr", errno);
        names.resize(static_cast<std::size_t>(size));
        const ssize_t got = ::llistxattr(host.c_str(), names.data(), names.size());
        if (got >= 0) {
            names.resize(static_cast<std::size_t>(got));
            break;
        }
        if (errno != ERANGE) throw IoError(host.string(), "llistxattr", errno);
    }
    for (std::size_t start = 0; start < names.size();) {
        const std::string name(names.data() + start);
        start += name.size() + 1;
        if (is_overlay_xattr(name)) continue;
        std::string value;
        for (;;) {
            const ssize_t size = ::lgetxattr(host.c_str(), name.c_str(), nullptr, 0);
            if (size < 0 && errno == ENODATA) break;  // removed since it was listed
            if (size < 0) throw IoError(host.string(), "lgetxattr " + name, errno);
            value.resize(static_cast<std::size_t>(size));
            const ssize_t got = ::lgetxattr(host.c_str(), name.c_str(), value.data(), value.size());
            if (got >= 0) {
                value.resize(static_cast<std::size_t>(got));
                xattrs[name] = value;
                break;
            }
            if (errno != ERANGE) throw IoError(host.string(), "lgetxattr " + name, errno);
        }
    }
    return xattrs;
}

LayerEntry entry_from_host(const std::string& path, const std::filesystem::path& host, const struct stat& status) {
    LayerEntry entry;
    entry.path = path;
    entry.mode = status.st_mode & 07777;
    entry.uid = status.st_uid;
    entry.gid = status.st_gid;
    entry.mtime_seconds = status.st_mtim.tv_sec;
    entry.mtime_nanoseconds = static_cast<std::uint32_t>(status.st_mtim.tv_nsec);
    switch (status.st_mode & S_IFMT) {
    case S_IFDIR: entry.type = EntryType::directory; break;
    case S_IFLNK: {
        entry.type = EntryType::symlink;
        std::string target(static_cast<std::size_t>(status.st_size) + 1, '\0');
        const ssize_t length = ::readlink(host.c_str(), target.data(), target.size());
        if (length < 0) throw IoError(host.string(), "readlink", errno);
        target.resize(static_cast<std::size_t>(length));
        entry.link_target = std::move(target);
        break;
    }
    case S_IFCHR: entry.type = EntryType::char_device; break;
    case S_IFBLK: entry.type = EntryType::block_device; break;
    case S_IFIFO: entry.type = EntryType::fifo; break;
    case S_IFREG:
        entry.type = EntryType::file;
        entry.size = static_cast<std::uint64_t>(status.st_size);
        entry.content.host_path = host.string();
        break;
    default: throw IoError(host.string(), "lstat: a socket or unknown file type cannot be in a layer", EINVAL);
    }
    if (S_ISCHR(status.st_mode) || S_ISBLK(status.st_mode)) {
        entry.device_major = major(status.st_rdev);
        entry.device_minor = minor(status.st_rdev);
    }
    entry.xattrs = read_xattrs(host);
    return entry;
}

UniqueFd create_node(int parent_fd, const std::string& name, const LayerEntry& entry, const std::string& where) {
    const char* const c_name = name.c_str();
    switch (entry.type) {
    case EntryType::directory: {
        if (::mkdirat(parent_fd, c_name, 0700) != 0 && errno != EEXIST) throw IoError(where, "mkdir", errno);
        UniqueFd fd(::openat(parent_fd, c_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd) throw IoError(where, "open directory", errno);
        return fd;
    }
    case EntryType::file: {
        UniqueFd fd(::openat(parent_fd, c_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!fd) throw IoError(where, "create", errno);
        return fd;
    }
    case EntryType::symlink:
        if (::symlinkat(entry.link_target.c_str(), parent_fd, c_name) != 0) throw IoError(where, "symlink", errno);
        return {};
    case EntryType::char_device:
    case EntryType::block_device:
    case EntryType::fifo:
        if (::mknodat(parent_fd, c_name, file_type(entry.type) | 0600,
                      makedev(entry.device_major, entry.device_minor)) != 0)
            throw IoError(where, "mknod", errno);
        return {};
    case EntryType::hardlink: break;
    }
    throw IoError(where, "create: a hardlink is made with linkat", EINVAL);
}

void set_metadata(int parent_fd, const std::string& name, int fd, const LayerEntry& entry, const std::string& where) {
    const bool symlink = entry.type == EntryType::symlink;
    // An id the user namespace does not map (one made without a subordinate range) can own
    // nothing: the node stays root's, as with rootless podman's ignore_chown_errors (cli warns).
    if ((fd >= 0 ? ::fchown(fd, entry.uid, entry.gid) != 0
                 : ::fchownat(parent_fd, name.c_str(), entry.uid, entry.gid, AT_SYMLINK_NOFOLLOW) != 0) &&
        !(errno == EINVAL && in_user_namespace()))
        throw IoError(where, "chown", errno);
    // fchmodat would follow a symlink at `name`, but the caller has just created `name` as a
    // node that is not one.
    if (!symlink && (fd >= 0 ? ::fchmod(fd, entry.mode & 07777) != 0
                             : ::fchmodat(parent_fd, name.c_str(), entry.mode & 07777, 0) != 0))
        throw IoError(where, "chmod", errno);
    const bool own_descriptor = entry.type == EntryType::file || entry.type == EntryType::directory;
    for (const auto& [key, value] : entry.xattrs) {
        if (is_overlay_xattr(key)) continue;
        if (!own_descriptor && key.rfind("user.", 0) == 0) continue;
        const int status =
            fd >= 0 ? ::fsetxattr(fd, key.c_str(), value.data(), value.size(), 0)
                    : ::lsetxattr(proc_path(parent_fd, name).c_str(), key.c_str(), value.data(), value.size(), 0);
        // trusted.* needs the initial namespace's root: a user namespace skips it like an
        // unsupported namespace.
        const bool refused = errno == ENOTSUP || (errno == EPERM && key.starts_with("trusted.") && in_user_namespace());
        if (status != 0 && (!refused || key == k_capability)) throw IoError(where, "setxattr " + key, errno);
    }
    if (entry.type != EntryType::directory) set_mtime(parent_fd, name, entry, where);
}

void copy_content(const std::filesystem::path& from, int to_fd, const std::string& where) {
    const UniqueFd in(::open(from.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!in) throw IoError(from.string(), "open", errno);
    // copy_file_range copies inside the kernel (or shares extents); where a filesystem refuses
    // it, or across filesystems before Linux 5.19, read and write instead.
    for (;;) {
        const ssize_t copied = ::copy_file_range(in.get(), nullptr, to_fd, nullptr, k_copy_chunk, 0);
        if (copied == 0) return;
        if (copied > 0 || errno == EINTR) continue;
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
            throw IoError(where, "copy_file_range", errno);
        break;
    }
    std::vector<char> buffer(k_read_buffer);
    for (;;) {
        const ssize_t got = ::read(in.get(), buffer.data(), buffer.size());
        if (got == 0) return;
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) throw IoError(from.string(), "read", errno);
        for (ssize_t done = 0; done < got;) {
            const ssize_t written = ::write(to_fd, buffer.data() + done, static_cast<std::size_t>(got - done));
            if (written < 0 && errno == EINTR) continue;
            if (written < 0) throw IoError(where, "write", errno);
            done += written;
        }
    }
}

void set_mtime(int parent_fd, const std::string& name, const LayerEntry& entry, const std::string& where) {
    const timespec mtime{entry.mtime_seconds, static_cast<long>(entry.mtime_nanoseconds)};
    const timespec times[2] = {mtime, mtime};
    if (::utimensat(parent_fd, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) throw IoError(where, "utimensat", errno);
}

}  // namespace cbuild::builder::internal
