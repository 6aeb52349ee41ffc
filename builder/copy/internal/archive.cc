#include "builder/copy/internal/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <vector>

#include "builder/copy/copy.h"
#include "builder/copy/internal/go_path.h"
#include "common/error.h"

namespace cbuild::builder::internal {

namespace {

// Members this small stay in memory; bigger ones go to a scratch file.
constexpr std::size_t k_inline_limit = 4096;
constexpr int k_max_symlinks = 255;  // resolveRootPath's limit

// A libarchive reader over a file's bytes, with the decompressors BuildKit's DecompressStream
// knows (detected by content, never by name) and the tar formats only.
class ArchiveReader {
public:
    explicit ArchiveReader(const EntryContent& content) : m_archive(archive_read_new()) {
        if (!m_archive) throw Error("libarchive: out of memory");
        archive_read_support_filter_gzip(m_archive);
        archive_read_support_filter_bzip2(m_archive);
        archive_read_support_filter_xz(m_archive);
        archive_read_support_filter_zstd(m_archive);
        archive_read_support_format_tar(m_archive);
        int status;
        if (content.bytes) {
            status = archive_read_open_memory(m_archive, content.bytes->data(), content.bytes->size());
        } else {
            m_fd = ::open(content.host_path.c_str(), O_RDONLY | O_CLOEXEC);
            if (m_fd < 0) {
                const int error = errno;
                archive_read_free(m_archive);
                throw IoError(content.host_path, "open", error);
            }
            status = archive_read_open_fd(m_archive, m_fd, 1 << 16);
        }
        m_open = status == ARCHIVE_OK;
    }
    ~ArchiveReader() {
        archive_read_free(m_archive);
        if (m_fd >= 0) ::close(m_fd);
    }
    ArchiveReader(const ArchiveReader&) = delete;
    ArchiveReader& operator=(const ArchiveReader&) = delete;

    archive* get() const { return m_archive; }
    bool is_open() const { return m_open; }
    std::string error() const {
        const char* message = archive_error_string(m_archive);
        return message ? message : "unknown error";
    }

private:
    archive* m_archive;
    int m_fd = -1;
    bool m_open = false;
};

class Unpacker {
public:
    Unpacker(const std::string& shown, const std::string& root, const UnpackRules& rules,
             const std::filesystem::path& scratch, LayerBuilder& out)
        : m_shown(shown), m_root(root), m_rules(rules), m_scratch(scratch), m_out(out) {}

    void member(archive* reader, archive_entry* member);

private:
    [[noreturn]] void fail(const std::string& message) const { throw CopyError(m_shown, message); }
    std::string clean_name(const char* name) const;
    std::string resolve(const std::string& name, FollowSymlink follow_last) const;
    EntryContent read_content(archive* reader, std::uint64_t& size) const;

    const std::string& m_shown;
    const std::string& m_root;
    const UnpackRules& m_rules;
    const std::filesystem::path& m_scratch;
    LayerBuilder& m_out;
};

// cleanRootTarPath: leading `/` dropped, cleaned; still climbing out is an error. "" is the
// extraction directory itself.
std::string Unpacker::clean_name(const char* name) const {
    const std::string text = name ? name : "";
    const std::size_t start = text.find_first_not_of('/');
    const std::optional<std::string> cleaned =
        clean_relative(start == std::string::npos ? "" : text.substr(start));
    if (!cleaned) fail("archive path `" + text + "` is outside the extraction directory");
    return *cleaned;
}

// resolveRootPath: `name` (clean, relative to the extraction directory) with the symlinks of
// its parents (and of itself with `follow_last`) followed inside the extraction directory.
std::string Unpacker::resolve(const std::string& name, FollowSymlink follow_last) const {
    std::string current = name;
    for (int round = 0; round < k_max_symlinks; ++round) {
        const std::vector<std::string> parts = split_path(current);
        std::vector<std::string> resolved;
        bool followed = false;
        for (std::size_t i = 0; i < parts.size(); ++i) {
            resolved.push_back(parts[i]);
            if (i + 1 == parts.size() && follow_last == FollowSymlink::no) break;
            const std::string candidate = join_path(resolved);
            const std::optional<LayerEntry> found = m_out.at(join_path(m_root, candidate));
            if (!found) {
                resolved.insert(resolved.end(), parts.begin() + static_cast<long>(i) + 1, parts.end());
                return join_path(resolved);
            }
            if (found->type != EntryType::symlink) continue;
            const std::string& target = found->link_target;
            std::optional<std::string> next;
            if (!target.empty() && target.front() == '/') {
                next = clean_name(target.c_str());
            } else {
                next = clean_relative(join_path(parent_path(candidate), target));
                if (!next) fail("archive symlink `" + candidate + "` points outside the extraction directory");
            }
            const std::vector<std::string> rest(parts.begin() + static_cast<long>(i) + 1, parts.end());
            current = join_path(*next, join_path(rest));
            followed = true;
            break;
        }
        if (!followed) return join_path(resolved);
    }
    fail("too many symlinks resolving archive path `" + name + "`");
}

EntryContent Unpacker::read_content(archive* reader, std::uint64_t& size) const {
    std::string small;
    int fd = -1;
    std::string temp_path;
    const auto write_all = [&](const char* data, std::size_t length) {
        while (length > 0) {
            const ssize_t n = ::write(fd, data, length);
            if (n < 0) {
                if (errno == EINTR) continue;
                throw IoError(temp_path, "write", errno);
            }
            data += n;
            length -= static_cast<std::size_t>(n);
        }
    };
    char buffer[1 << 16];
    size = 0;
    try {
        while (true) {
            const la_ssize_t n = archive_read_data(reader, buffer, sizeof buffer);
            if (n < 0)
                fail("corrupt archive: " +
                     std::string(archive_error_string(reader) ? archive_error_string(reader) : "read error"));
            if (n == 0) break;
            size += static_cast<std::uint64_t>(n);
            if (fd < 0 && small.size() + static_cast<std::size_t>(n) <= k_inline_limit) {
                small.append(buffer, static_cast<std::size_t>(n));
                continue;
            }
            if (fd < 0) {
                // A name of our own, created exclusively: the member's name never reaches the host.
                temp_path = (m_scratch / "add-XXXXXX").string();
                fd = ::mkstemp(temp_path.data());
                if (fd < 0) throw IoError(temp_path, "mkstemp", errno);
                write_all(small.data(), small.size());
                small.clear();
            }
            write_all(buffer, static_cast<std::size_t>(n));
        }
    } catch (...) {
        if (fd >= 0) ::close(fd);
        throw;
    }
    EntryContent content;
    if (fd < 0) {
        content.bytes = std::make_shared<const std::string>(std::move(small));
        return content;
    }
    if (::close(fd) != 0) throw IoError(temp_path, "close", errno);
    content.host_path = temp_path;
    return content;
}

void Unpacker::member(archive* reader, archive_entry* member) {
    const char* raw_name = archive_entry_pathname(member);
    if (!raw_name) raw_name = archive_entry_pathname_utf8(member);
    if (!raw_name) fail("corrupt archive: a member has no readable name");
    const std::string name = clean_name(raw_name);
    if (name.empty()) return;  // the extraction directory itself

    LayerEntry entry;
    const char* link_name = archive_entry_hardlink(member);
    if (link_name) {
        entry.type = EntryType::hardlink;
    } else {
        switch (archive_entry_filetype(member)) {
        case AE_IFREG: entry.type = EntryType::file; break;
        case AE_IFDIR: entry.type = EntryType::directory; break;
        case AE_IFLNK: entry.type = EntryType::symlink; break;
        case AE_IFIFO: entry.type = EntryType::fifo; break;
        default: fail("unsupported tar entry `" + std::string(raw_name) + "` (devices cannot be unpacked)");
        }
    }
    const std::string path = join_path(
        m_root, resolve(name, entry.type == EntryType::directory ? FollowSymlink::yes : FollowSymlink::no));
    m_out.make_directories(parent_path(path), m_rules.implied_directory);

    entry.path = path;
    entry.mode = static_cast<std::uint32_t>(archive_entry_mode(member)) & 07777;
    entry.uid = m_rules.owner ? m_rules.owner->uid : static_cast<std::uint32_t>(archive_entry_uid(member));
    entry.gid = m_rules.owner ? m_rules.owner->gid : static_cast<std::uint32_t>(archive_entry_gid(member));
    // boundRootTime: a time before the epoch becomes the epoch.
    if (archive_entry_mtime(member) > 0) {
        entry.mtime_seconds = archive_entry_mtime(member);
        entry.mtime_nanoseconds = static_cast<std::uint32_t>(archive_entry_mtime_nsec(member));
    }
    archive_entry_xattr_reset(member);
    const char* xattr_name = nullptr;
    const void* xattr_value = nullptr;
    std::size_t xattr_size = 0;
    while (archive_entry_xattr_next(member, &xattr_name, &xattr_value, &xattr_size) == ARCHIVE_OK)
        entry.xattrs[xattr_name] = std::string(static_cast<const char*>(xattr_value), xattr_size);

    switch (entry.type) {
    case EntryType::directory:
        m_out.put_directory(entry, ExistingMetadata::overwrite, ReplaceDirectory::yes);
        return;
    case EntryType::file: entry.content = read_content(reader, entry.size); break;
    case EntryType::symlink:
        // Kept as written: it is only ever followed inside the extraction directory.
        entry.link_target = archive_entry_symlink(member) ? archive_entry_symlink(member) : "";
        break;
    case EntryType::hardlink: {
        const std::string target_name = clean_name(link_name);
        if (target_name.empty())
            fail("archive hardlink `" + std::string(raw_name) + "` targets the extraction directory");
        const std::string target = join_path(m_root, resolve(target_name, FollowSymlink::no));
        const std::optional<LayerEntry> existing = m_out.at(target);
        if (!existing)
            fail("archive hardlink `" + std::string(raw_name) + "` targets `" + std::string(link_name) +
                 "`, which does not exist");
        if (existing->type == EntryType::directory)
            fail("archive hardlink `" + std::string(raw_name) + "` targets the directory `" +
                 std::string(link_name) + "`");
        // The link keeps the target's metadata: the two names are one file.
        m_out.put_hardlink(path, target, ReplaceDirectory::yes);
        return;
    }
    default: break;
    }
    m_out.put(entry, ReplaceDirectory::yes);
}

}  // namespace

bool is_archive(const EntryContent& content) {
    ArchiveReader reader(content);
    if (!reader.is_open()) return false;
    archive_entry* member = nullptr;
    const int status = archive_read_next_header(reader.get(), &member);
    return status == ARCHIVE_OK || status == ARCHIVE_WARN;
}

void unpack_archive(const EntryContent& content, const std::string& shown_name, const std::string& root,
                    const UnpackRules& rules, const std::filesystem::path& scratch_dir, LayerBuilder& out) {
    ArchiveReader reader(content);
    if (!reader.is_open()) throw CopyError(shown_name, "cannot read archive: " + reader.error());
    Unpacker unpacker(shown_name, root, rules, scratch_dir, out);
    while (true) {
        archive_entry* member = nullptr;
        const int status = archive_read_next_header(reader.get(), &member);
        if (status == ARCHIVE_EOF) return;
        if (status != ARCHIVE_OK && status != ARCHIVE_WARN)
            throw CopyError(shown_name, "corrupt archive: " + reader.error());
        unpacker.member(reader.get(), member);
    }
}

}  // namespace cbuild::builder::internal
