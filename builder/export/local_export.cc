// `-o type=local` and `-o type=tar`. The directory is filled in an order that never follows a
// link: directories and files first, hardlinks next, symlinks last, modes and times at the end
// (deepest first, so a read-only directory is sealed after its children exist).

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <set>

#include "builder/export/internal/rootfs.h"
#include "builder/snapshot/layer_writer.h"
#include "builder/snapshot/user_namespace.h"
#include "common/error.h"

namespace cbuild::builder::internal {

namespace {

void check(int result, const std::filesystem::path& path, const char* call) {
    if (result != 0) throw IoError(path.string(), call, errno);
}

void write_content(const LayerEntry& entry, const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) throw IoError(path.string(), "open", errno);
    const auto write_all = [&](const char* data, std::size_t size) {
        while (size > 0) {
            const ssize_t written = ::write(fd, data, size);
            if (written < 0) {
                if (errno == EINTR) continue;
                const int error = errno;
                ::close(fd);
                throw IoError(path.string(), "write", error);
            }
            data += written;
            size -= static_cast<std::size_t>(written);
        }
    };
    if (entry.content.bytes) {
        write_all(entry.content.bytes->data(), entry.content.bytes->size());
    } else if (!entry.content.host_path.empty()) {
        std::ifstream in(entry.content.host_path, std::ios::binary);
        if (!in) {
            const int error = errno;
            ::close(fd);
            throw IoError(entry.content.host_path, "open", error);
        }
        std::vector<char> buffer(1 << 20);
        while (in) {
            in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
            if (in.gcount() > 0) write_all(buffer.data(), static_cast<std::size_t>(in.gcount()));
        }
    }
    if (::close(fd) != 0) throw IoError(path.string(), "close", errno);
}

}  // namespace

void write_rootfs_tar(const FileTree& tree, ByteSink& out) {
    LayerOptions options;
    options.compression = Compression::uncompressed;
    write_layer(tree.walk(), {}, out, options);
}

void write_rootfs_directory(const FileTree& tree, const std::filesystem::path& dest) {
    const std::filesystem::path parent = std::filesystem::absolute(dest).parent_path();
    std::filesystem::create_directories(parent);
    std::string pattern = (parent / ("." + dest.filename().string() + ".tmp-XXXXXX")).string();
    if (!mkdtemp(pattern.data())) throw IoError(pattern, "mkdtemp", errno);
    const std::filesystem::path staging = pattern;
    try {
        const std::vector<LayerEntry> entries = tree.walk();
        // Root of a user namespace is a rootless user (as a non-root BuildKit client): owners
        // would land as subordinate ids that user cannot remove, and device nodes are refused.
        const bool as_root = geteuid() == 0 && !builder::in_user_namespace();
        std::set<std::string> skipped;  // device nodes not made, and hardlinks to them
        for (const LayerEntry& entry : entries) {
            const std::filesystem::path path = staging / entry.path;
            switch (entry.type) {
            case EntryType::directory: check(::mkdir(path.c_str(), 0700), path, "mkdir"); break;
            case EntryType::file: write_content(entry, path); break;
            case EntryType::fifo: check(::mkfifo(path.c_str(), 0600), path, "mkfifo"); break;
            case EntryType::char_device:
            case EntryType::block_device:
                if (!as_root) {
                    skipped.insert(entry.path);
                    break;
                }
                check(::mknod(path.c_str(), (entry.type == EntryType::char_device ? S_IFCHR : S_IFBLK) | 0600,
                              makedev(entry.device_major, entry.device_minor)),
                      path, "mknod");
                break;
            case EntryType::hardlink:
            case EntryType::symlink: break;  // below, once every target exists
            }
        }
        for (const LayerEntry& entry : entries) {
            if (entry.type != EntryType::hardlink) continue;
            if (skipped.contains(entry.link_target)) {
                skipped.insert(entry.path);
                continue;
            }
            check(::link((staging / entry.link_target).c_str(), (staging / entry.path).c_str()),
                  staging / entry.path, "link");
        }
        for (const LayerEntry& entry : entries)
            if (entry.type == EntryType::symlink)
                check(::symlink(entry.link_target.c_str(), (staging / entry.path).c_str()), staging / entry.path,
                      "symlink");
        for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
            const LayerEntry& entry = *it;
            if (entry.type == EntryType::hardlink || skipped.contains(entry.path)) continue;
            const std::filesystem::path path = staging / entry.path;
            if (as_root) check(::lchown(path.c_str(), entry.uid, entry.gid), path, "lchown");
            for (const auto& [name, value] : entry.xattrs)
                if (::lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0) != 0 && as_root)
                    throw IoError(path.string(), "lsetxattr " + name, errno);
            if (entry.type != EntryType::symlink) check(::chmod(path.c_str(), entry.mode & 07777), path, "chmod");
            const timespec times[2] = {{entry.mtime_seconds, static_cast<long>(entry.mtime_nanoseconds)},
                                       {entry.mtime_seconds, static_cast<long>(entry.mtime_nanoseconds)}};
            check(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), path, "utimensat");
        }
        check(::chmod(staging.c_str(), 0755), staging, "chmod");
        // Swap the finished tree in: an existing dest moves aside first and goes only after.
        std::filesystem::path old;
        if (std::filesystem::exists(std::filesystem::symlink_status(dest))) {
            old = staging.string() + ".old";
            check(::rename(dest.c_str(), old.c_str()), dest, "rename");
        }
        check(::rename(staging.c_str(), dest.c_str()), dest, "rename");
        if (!old.empty()) std::filesystem::remove_all(old);
    } catch (...) {
        std::error_code ignored;  // the original error matters; the staging dir is ours to drop
        std::filesystem::remove_all(staging, ignored);
        throw;
    }
}

}  // namespace cbuild::builder::internal
