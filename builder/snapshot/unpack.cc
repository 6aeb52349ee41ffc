// Unpacking follows containerd's archive.Apply (names cleaned at the root, parents resolved
// inside the root, an existing node replaced unless both are directories), with every path
// opened through openat2 RESOLVE_IN_ROOT so that the tar's symlinks can never lead outside.

#include "builder/snapshot/unpack.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <optional>
#include <set>
#include <span>

#include "builder/snapshot/internal/confined_path.h"
#include "builder/snapshot/internal/image_path.h"
#include "builder/snapshot/internal/layer_stream.h"
#include "builder/snapshot/internal/merged_view.h"
#include "builder/snapshot/internal/node_io.h"
#include "builder/snapshot/internal/overlay_xattr.h"
#include "builder/snapshot/internal/tar_reader.h"

namespace cbuild::builder {

namespace {


constexpr int k_max_dangling_links = 40;
constexpr std::string_view k_whiteout_prefix = ".wh.";
constexpr std::string_view k_whiteout_meta_prefix = ".wh..wh.";
constexpr std::string_view k_opaque_marker = ".wh..wh..opq";

class Unpacker {
public:
    Unpacker(const std::filesystem::path& blob, const std::filesystem::path& dir, WhiteoutStyle style,
             const std::vector<std::filesystem::path>& lowers)
        : m_blob(blob.string()),
          m_dir(dir),
          m_style(style),
          m_lowers(lowers),
          m_root(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)) {
        if (!m_root) throw IoError(dir.string(), "open directory", errno);
    }

    void member(internal::TarReader& reader, LayerEntry entry);
    void finish();

private:
    [[noreturn]] void corrupt(const std::string& reason) const {
        throw UnpackError("layer `" + m_blob + "`: member `" + m_member + "`: " + reason);
    }
    std::string where(const std::string& path) const { return (path.empty() ? m_dir : m_dir / path).string(); }
    [[noreturn]] void resolve_failed(int error, const std::string& path) const;
    bool written_at_or_below(const std::string& path) const;
    int directory(const std::string& path);
    UniqueFd forget_cached_directory();
    UniqueFd make_directories(const std::string& path, int depth);
    void make_implicit_directory(int parent_fd, const std::string& name, const std::string& path);
    void whiteout(const std::string& parent, const std::string& name);
    void opaque(const std::string& path);
    void remove_lower(int parent_fd, const std::string& name, const std::string& path);
    void link(const std::string& parent, const std::string& name, const std::string& target);
    bool copy_up(const std::string& path);
    void write_data(internal::TarReader& reader, int fd, const LayerEntry& entry);

    std::string m_blob;
    std::filesystem::path m_dir;
    WhiteoutStyle m_style;
    internal::MergedView m_lowers;
    UniqueFd m_root;
    std::string m_member;  // the current member's name as the tar spells it, for messages
    // The directory last resolved: members of one directory come together in most tars.
    std::string m_cached_path;
    UniqueFd m_cached;
    // The paths this layer wrote: its whiteouts and opaque markers never delete them.
    std::set<std::string> m_written;
    // Directories' mtimes, set once every member is in place.
    std::map<std::string, std::pair<std::int64_t, std::uint32_t>> m_directory_mtimes;
};

void Unpacker::member(internal::TarReader& reader, LayerEntry entry) {
    m_member = entry.path;
    const std::string path = internal::clamp_path(m_member);
    if (path.empty()) return;  // the root keeps the snapshot's own metadata, as in containerd
    const std::string parent = internal::parent_path(path);
    const std::string name = internal::base_name(path);
    if (name.rfind(k_whiteout_prefix, 0) == 0) {
        if (name == k_opaque_marker)
            opaque(parent);
        else if (name.rfind(k_whiteout_meta_prefix, 0) != 0)
            whiteout(parent, name.substr(k_whiteout_prefix.size()));
        return;
    }
    entry.path = path;
    const int parent_fd = directory(parent);
    // Keeps the parent open when a removal takes it out of the cache.
    UniqueFd parent_kept;
    struct stat existing {};
    if (::fstatat(parent_fd, name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0 &&
        !(S_ISDIR(existing.st_mode) && entry.type == EntryType::directory)) {
        internal::remove_at(parent_fd, name, where(path));
        parent_kept = forget_cached_directory();
    }
    m_written.insert(path);
    // A user namespace may make no device but a whiteout; containerd's Apply leaves them out there.
    if ((entry.type == EntryType::char_device || entry.type == EntryType::block_device) &&
        internal::in_user_namespace())
        return;
    if (entry.type == EntryType::hardlink) return link(parent, name, internal::clamp_path(entry.link_target));
    const UniqueFd fd = internal::create_node(parent_fd, name, entry, where(path));
    if (entry.type == EntryType::file) write_data(reader, fd.get(), entry);
    internal::set_metadata(parent_fd, name, fd.get(), entry, where(path));
    if (entry.type == EntryType::directory) m_directory_mtimes[path] = {entry.mtime_seconds, entry.mtime_nanoseconds};
}

void Unpacker::write_data(internal::TarReader& reader, int fd, const LayerEntry& entry) {
    // Blocks come with their offsets, so the holes of a sparse member stay holes.
    reader.read_data([&](std::uint64_t offset, std::span<const std::byte> bytes) {
        for (std::size_t done = 0; done < bytes.size();) {
            const ssize_t written =
                ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
            if (written < 0 && errno == EINTR) continue;
            if (written < 0) throw IoError(where(entry.path), "write", errno);
            done += static_cast<std::size_t>(written);
        }
    });
    if (::ftruncate(fd, static_cast<off_t>(entry.size)) != 0) throw IoError(where(entry.path), "ftruncate", errno);
}

void Unpacker::resolve_failed(int error, const std::string& path) const {
    if (error == ENOTDIR) corrupt("`" + path + "` is not a directory");
    if (error == ELOOP) corrupt("too many symlinks resolving `" + path + "`");
    throw IoError(where(path), "resolve inside the layer root", error);
}

bool Unpacker::written_at_or_below(const std::string& path) const {
    if (m_written.count(path)) return true;
    const std::string prefix = path + "/";
    const auto next = m_written.lower_bound(prefix);
    return next != m_written.end() && next->compare(0, prefix.size(), prefix) == 0;
}

// The directory at `path`, resolved inside the root and created (with its missing parents)
// when absent; the descriptor stays valid until the next call.
int Unpacker::directory(const std::string& path) {
    if (m_cached && m_cached_path == path) return m_cached.get();
    UniqueFd fd = internal::open_in_root(m_root.get(), path, O_PATH | O_DIRECTORY);
    if (!fd && errno == ENOENT) fd = make_directories(path, 0);
    if (!fd) resolve_failed(errno, path);
    m_cached = std::move(fd);
    m_cached_path = path;
    return m_cached.get();
}

// A removal may have been on the way to the cached directory (a `..` symlink can lead back
// out of what was removed), so its path must be resolved again. Returns the descriptor, which
// the caller may go on using for the directory it already resolved.
UniqueFd Unpacker::forget_cached_directory() {
    m_cached_path.clear();
    return std::move(m_cached);
}

UniqueFd Unpacker::make_directories(const std::string& path, int depth) {
    UniqueFd current = internal::open_in_root(m_root.get(), "", O_PATH | O_DIRECTORY);
    std::string prefix;
    for (const std::string& component : internal::split_path(path)) {
        const std::string parent = prefix;
        prefix = internal::join_path(prefix, component);
        UniqueFd next = internal::open_in_root(m_root.get(), prefix, O_PATH | O_DIRECTORY);
        if (!next && errno == ENOENT) {
            struct stat status {};
            if (::fstatat(current.get(), component.c_str(), &status, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(status.st_mode)) {
                // A symlink to nothing yet: like containerd's MkdirAll, create what it names.
                if (depth >= k_max_dangling_links) corrupt("too many symlinks resolving `" + path + "`");
                std::string target(static_cast<std::size_t>(status.st_size) + 1, '\0');
                const ssize_t length = ::readlinkat(current.get(), component.c_str(), target.data(), target.size());
                if (length < 0) throw IoError(where(prefix), "readlink", errno);
                target.resize(static_cast<std::size_t>(length));
                make_directories(
                    internal::clamp_path(target.front() == '/' ? target : internal::join_path(parent, target)),
                    depth + 1);
            } else {
                make_implicit_directory(current.get(), component, prefix);
            }
            next = internal::open_in_root(m_root.get(), prefix, O_PATH | O_DIRECTORY);
        }
        if (!next) resolve_failed(errno, prefix);
        current = std::move(next);
    }
    return current;
}

// A parent the tar does not list: in overlay style it takes the metadata of the directory the
// layers below have there (or overlayfs would show this layer's defaults over it), else 0755 root.
void Unpacker::make_implicit_directory(int parent_fd, const std::string& name, const std::string& path) {
    LayerEntry entry;
    entry.type = EntryType::directory;
    entry.mode = 0755;
    if (m_style == WhiteoutStyle::overlay) {
        const auto lower = m_lowers.lookup(path);
        if (lower && S_ISDIR(lower->status.st_mode)) {
            entry = internal::entry_from_host(path, m_lowers.host_path(*lower, path), lower->status);
            m_directory_mtimes[path] = {entry.mtime_seconds, entry.mtime_nanoseconds};
        }
    }
    const UniqueFd fd = internal::create_node(parent_fd, name, entry, where(path));
    internal::set_metadata(parent_fd, name, fd.get(), entry, where(path));
}

void Unpacker::whiteout(const std::string& parent, const std::string& name) {
    if (name.empty() || name == "." || name == "..") return;
    const std::string path = internal::join_path(parent, name);
    if (m_style == WhiteoutStyle::apply) {
        const UniqueFd parent_fd = internal::open_in_root(m_root.get(), parent, O_PATH | O_DIRECTORY);
        if (!parent_fd) return;  // nothing below to delete
        remove_lower(parent_fd.get(), name, path);
        forget_cached_directory();
        return;
    }
    const int parent_fd = directory(parent);
    struct stat existing {};
    if (::fstatat(parent_fd, name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0) {
        // A whiteout hides only the layers below: what this layer put there stays, and a
        // directory hides the lower one's children by being opaque.
        if (S_ISDIR(existing.st_mode)) opaque(path);
        return;
    }
    if (::mknodat(parent_fd, name.c_str(), S_IFCHR | 0, 0) != 0) throw IoError(where(path), "mknod (whiteout)", errno);
}

void Unpacker::opaque(const std::string& path) {
    if (m_style == WhiteoutStyle::apply) {
        const UniqueFd fd = internal::open_in_root(m_root.get(), path, O_PATH | O_DIRECTORY);
        if (!fd) return;
        for (const std::string& child : internal::list_directory(fd.get(), where(path)))
            remove_lower(fd.get(), child, internal::join_path(path, child));
        forget_cached_directory();
        return;
    }
    if (path.empty()) return;  // overlayfs ignores opaque on a layer's root: it has nothing below
    const UniqueFd fd(::openat(directory(path), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) throw IoError(where(path), "open directory", errno);
    const std::string opaque = internal::overlay_xattr("opaque");
    if (::fsetxattr(fd.get(), opaque.c_str(), "y", 1, 0) != 0) throw IoError(where(path), "setxattr " + opaque, errno);
}

// Deletes what the layers below put at `path`, keeping what this layer wrote there or below.
void Unpacker::remove_lower(int parent_fd, const std::string& name, const std::string& path) {
    if (!written_at_or_below(path)) return internal::remove_at(parent_fd, name, where(path));
    struct stat status {};
    if (::fstatat(parent_fd, name.c_str(), &status, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(status.st_mode)) return;
    const UniqueFd fd(::openat(parent_fd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) throw IoError(where(path), "open directory", errno);
    for (const std::string& child : internal::list_directory(fd.get(), where(path)))
        remove_lower(fd.get(), child, internal::join_path(path, child));
}

void Unpacker::link(const std::string& parent, const std::string& name, const std::string& target) {
    const std::string path = internal::join_path(parent, name);
    if (target.empty() || target == path) corrupt("a hardlink to itself or to the root");
    const std::string target_name = internal::base_name(target);
    for (bool copied_up = false;;) {
        const UniqueFd target_parent =
            internal::open_in_root(m_root.get(), internal::parent_path(target), O_PATH | O_DIRECTORY);
        if (target_parent &&
            ::linkat(target_parent.get(), target_name.c_str(), directory(parent), name.c_str(), 0) == 0)
            return;
        const int error = errno;
        if (error == ENOENT && !copied_up && m_style == WhiteoutStyle::overlay && copy_up(target)) {
            copied_up = true;
            continue;
        }
        if (error == ENOENT) corrupt("hardlink target `" + target + "` does not exist");
        if (error == EPERM) corrupt("hardlink target `" + target + "` is a directory");
        if (error == ENOTDIR || error == ELOOP) resolve_failed(error, target);
        throw IoError(where(path), "link to `" + target + "`", error);
    }
}

// Copies `path` from the layers below into this one, as overlayfs copies a file up before
// linking it; false when they have no non-directory there.
bool Unpacker::copy_up(const std::string& path) {
    const auto lower = m_lowers.lookup(path);
    if (!lower || S_ISDIR(lower->status.st_mode)) return false;
    const std::filesystem::path host = m_lowers.host_path(*lower, path);
    const LayerEntry entry = internal::entry_from_host(path, host, lower->status);
    const std::string name = internal::base_name(path);
    const int parent_fd = directory(internal::parent_path(path));
    const UniqueFd fd = internal::create_node(parent_fd, name, entry, where(path));
    if (entry.type == EntryType::file) internal::copy_content(host, fd.get(), where(path));
    internal::set_metadata(parent_fd, name, fd.get(), entry, where(path));
    m_written.insert(path);
    return true;
}

void Unpacker::finish() {
    for (const auto& [path, mtime] : m_directory_mtimes) {
        const UniqueFd parent = internal::open_in_root(m_root.get(), internal::parent_path(path), O_PATH | O_DIRECTORY);
        const std::string name = internal::base_name(path);
        struct stat status {};
        // A later member may have replaced the directory: its own mtime is already right.
        if (!parent || ::fstatat(parent.get(), name.c_str(), &status, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISDIR(status.st_mode))
            continue;
        LayerEntry entry;
        entry.mtime_seconds = mtime.first;
        entry.mtime_nanoseconds = mtime.second;
        internal::set_mtime(parent.get(), name, entry, where(path));
    }
}

}  // namespace

Digest unpack_layer(const std::filesystem::path& layer_blob, const std::filesystem::path& dir, WhiteoutStyle style,
                    const std::vector<std::filesystem::path>& lowers) {
    internal::LayerStream stream(layer_blob);
    internal::TarReader reader(stream, layer_blob.string());
    Unpacker unpacker(layer_blob, dir, style, lowers);
    while (std::optional<LayerEntry> entry = reader.next()) unpacker.member(reader, std::move(*entry));
    unpacker.finish();
    return stream.finish();
}

}  // namespace cbuild::builder
