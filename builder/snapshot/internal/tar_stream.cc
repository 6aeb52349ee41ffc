#include "builder/snapshot/internal/tar_stream.h"

#include <algorithm>
#include <cerrno>
#include <span>
#include <string>
#include <utility>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/snapshot/layer_writer.h"
#include "common/error.h"

namespace cbuild::builder::internal {

namespace {

constexpr std::size_t k_read_buffer_size = 256 * 1024;

class FileDescriptor {
public:
    explicit FileDescriptor(int fd) : m_fd(fd) {}
    ~FileDescriptor() {
        if (m_fd >= 0) ::close(m_fd);
    }
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    int get() const { return m_fd; }

private:
    int m_fd;
};

unsigned file_type(EntryType type) {
    switch (type) {
    case EntryType::file: return AE_IFREG;
    case EntryType::hardlink: return AE_IFREG;  // the hardlink field makes it a link
    case EntryType::directory: return AE_IFDIR;
    case EntryType::symlink: return AE_IFLNK;
    case EntryType::char_device: return AE_IFCHR;
    case EntryType::block_device: return AE_IFBLK;
    case EntryType::fifo: return AE_IFIFO;
    }
    return AE_IFREG;
}

// Reads up to `size` bytes, retrying on EINTR; 0 at the end of the file.
std::size_t read_some(int fd, char* buffer, std::size_t size, const std::string& path) {
    for (;;) {
        const ssize_t got = ::read(fd, buffer, size);
        if (got >= 0) return static_cast<std::size_t>(got);
        if (errno != EINTR) throw IoError(path, "read", errno);
    }
}

}  // namespace

TarStream::TarStream(ByteSink& out, std::optional<std::int64_t> mtime_clamp)
    : m_out(out), m_mtime_clamp(mtime_clamp), m_read_buffer(k_read_buffer_size) {
    // libarchive converts names from the thread's locale charset to UTF-8; pinning that
    // charset makes the bytes independent of LANG (in the "C" locale every non-ASCII name
    // would fall back to hdrcharset=BINARY).
    m_utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
    if (m_utf8_locale == nullptr) throw IoError("C.UTF-8", "newlocale", errno);
    m_previous_locale = uselocale(m_utf8_locale);

    m_archive = archive_write_new();
    m_entry = archive_entry_new();
    try {
        if (m_archive == nullptr || m_entry == nullptr) throw Error("layer tar: cannot allocate a libarchive writer");
        check(archive_write_set_format_pax(m_archive), nullptr, "set_format_pax");
        // SCHILY.xattr.* only: the LIBARCHIVE.xattr.* copies are read by nothing else.
        check(archive_write_set_format_option(m_archive, "pax", "xattrheader", "SCHILY"), nullptr,
              "xattrheader=SCHILY");
        check(archive_write_add_filter_none(m_archive), nullptr, "add_filter_none");
        // Unblocked: no 10 KiB record padding, and data goes to the callback without a copy.
        check(archive_write_set_bytes_per_block(m_archive, 0), nullptr, "set_bytes_per_block");
        check(archive_write_open2(m_archive, this, nullptr, &TarStream::write_callback, nullptr, nullptr),
              nullptr, "open");
    } catch (...) {
        release();
        throw;
    }
}

TarStream::~TarStream() { release(); }

void TarStream::release() {
    m_abandoned = true;  // archive_write_free() closes the archive: keep the end blocks out of `out`
    if (m_archive != nullptr) archive_write_free(m_archive);
    if (m_entry != nullptr) archive_entry_free(m_entry);
    m_archive = nullptr;
    m_entry = nullptr;
    if (m_utf8_locale != nullptr) {
        uselocale(m_previous_locale);
        freelocale(m_utf8_locale);
        m_utf8_locale = nullptr;
    }
}

ssize_t TarStream::write_callback(struct archive*, void* client, const void* buffer, std::size_t length) {
    auto* self = static_cast<TarStream*>(client);
    if (self->m_abandoned) return -1;
    // An exception must not unwind through libarchive's C frames: keep it for check().
    try {
        self->m_out.write(std::span<const std::byte>(static_cast<const std::byte*>(buffer), length));
    } catch (...) {
        self->m_write_error = std::current_exception();
        return -1;
    }
    return static_cast<ssize_t>(length);
}

void TarStream::check(int status, const LayerEntry* entry, const char* what) {
    // ARCHIVE_WARN: a name that is not valid UTF-8, written with hdrcharset=BINARY.
    if (status >= ARCHIVE_WARN) return;
    if (m_write_error) std::rethrow_exception(std::exchange(m_write_error, nullptr));
    const char* message = archive_error_string(m_archive);
    const std::string detail = std::string(what) + ": " + (message != nullptr ? message : "unknown error");
    if (entry != nullptr) throw LayerError(entry->path, "writing the tar entry: " + detail);
    throw Error("layer tar: " + detail);
}

TarTime tar_time(const LayerEntry& entry, std::optional<std::int64_t> mtime_clamp) {
    const std::int64_t seconds = entry.mtime_seconds;
    const long nanoseconds = entry.mtime_nanoseconds;
    if (mtime_clamp && (seconds > *mtime_clamp || (seconds == *mtime_clamp && nanoseconds > 0))) return {*mtime_clamp, 0};
    return {seconds, nanoseconds};
}

void TarStream::add(const LayerEntry& entry) {
    archive_entry_clear(m_entry);
    const std::string name = entry.type == EntryType::directory ? entry.path + "/" : entry.path;
    archive_entry_copy_pathname(m_entry, name.c_str());
    archive_entry_set_filetype(m_entry, file_type(entry.type));
    archive_entry_set_perm(m_entry, entry.mode & 07777);
    archive_entry_set_uid(m_entry, entry.uid);
    archive_entry_set_gid(m_entry, entry.gid);
    const TarTime mtime = tar_time(entry, m_mtime_clamp);
    archive_entry_set_mtime(m_entry, mtime.seconds, mtime.nanoseconds);
    switch (entry.type) {
    case EntryType::file: archive_entry_set_size(m_entry, static_cast<la_int64_t>(entry.size)); break;
    case EntryType::symlink: archive_entry_copy_symlink(m_entry, entry.link_target.c_str()); break;
    case EntryType::hardlink: archive_entry_copy_hardlink(m_entry, entry.link_target.c_str()); break;
    case EntryType::char_device:
    case EntryType::block_device:
        archive_entry_set_rdevmajor(m_entry, entry.device_major);
        archive_entry_set_rdevminor(m_entry, entry.device_minor);
        break;
    case EntryType::directory:
    case EntryType::fifo: break;
    }
    for (const auto& [key, value] : entry.xattrs)
        archive_entry_xattr_add_entry(m_entry, key.c_str(), value.data(), value.size());

    check(archive_write_header(m_archive, m_entry), &entry, "header");
    if (entry.type == EntryType::file) write_content(entry);
    check(archive_write_finish_entry(m_archive), &entry, "finish entry");
}

void TarStream::write_content(const LayerEntry& entry) {
    if (entry.content.bytes) {
        if (entry.content.bytes->size() != entry.size)
            throw LayerError(entry.path, "has " + std::to_string(entry.content.bytes->size()) +
                                             " bytes of content but a size of " + std::to_string(entry.size));
        write_data(entry, entry.content.bytes->data(), entry.content.bytes->size());
        return;
    }
    if (entry.size == 0) return;
    const std::string& host_path = entry.content.host_path;
    if (host_path.empty())
        throw LayerError(entry.path, "regular file of " + std::to_string(entry.size) + " bytes has no content");

    const FileDescriptor fd(::open(host_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (fd.get() < 0) throw IoError(host_path, "open", errno);
    struct stat status {};
    if (::fstat(fd.get(), &status) != 0) throw IoError(host_path, "fstat", errno);
    auto changed = [&](const std::string& how) {
        return LayerError(entry.path, "`" + host_path + "` changed during the build: " + how);
    };
    if (!S_ISREG(status.st_mode)) throw changed("it is no longer a regular file");
    if (static_cast<std::uint64_t>(status.st_size) != entry.size)
        throw changed("it has " + std::to_string(status.st_size) + " bytes, expected " + std::to_string(entry.size));
    ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);  // a hint: failure changes nothing

    std::uint64_t remaining = entry.size;
    while (remaining > 0) {
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, m_read_buffer.size()));
        const std::size_t got = read_some(fd.get(), m_read_buffer.data(), want, host_path);
        if (got == 0) throw changed("it ended after " + std::to_string(entry.size - remaining) + " bytes");
        write_data(entry, m_read_buffer.data(), got);
        remaining -= got;
    }
    if (read_some(fd.get(), m_read_buffer.data(), 1, host_path) != 0)
        throw changed("it grew past " + std::to_string(entry.size) + " bytes");
}

void TarStream::write_data(const LayerEntry& entry, const void* data, std::size_t size) {
    const la_ssize_t written = archive_write_data(m_archive, data, size);
    if (written < 0) check(static_cast<int>(written), &entry, "data");
    if (static_cast<std::size_t>(written) != size)
        throw LayerError(entry.path, "writing the tar entry: libarchive took " + std::to_string(written) +
                                         " of " + std::to_string(size) + " bytes");
}

void TarStream::finish() {
    check(archive_write_close(m_archive), nullptr, "close");
}

}  // namespace cbuild::builder::internal
