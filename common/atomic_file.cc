#include "common/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <utility>

#include "common/error.h"

namespace cbuild {

namespace {

// Leaves room for the ".", ".tmp.XXXXXX" decoration within NAME_MAX (255) for any target name.
constexpr std::size_t k_max_name_in_temp = 200;

std::filesystem::path directory_of(const std::filesystem::path& path) {
    const std::filesystem::path parent = path.parent_path();
    return parent.empty() ? std::filesystem::path(".") : parent;
}

}  // namespace

AtomicFile::AtomicFile(std::filesystem::path path, mode_t mode)
    : m_path(std::move(path)), m_mode(mode) {
    const std::string name = m_path.filename().string().substr(0, k_max_name_in_temp);
    std::string pattern = (directory_of(m_path) / ("." + name + ".tmp.XXXXXX")).string();
    // mkostemp opens with O_CREAT | O_EXCL, so the name is ours alone; mode 0600 until commit.
    m_fd = mkostemp(pattern.data(), O_CLOEXEC);
    if (m_fd < 0) throw IoError(m_path.string(), "mkostemp (temporary file beside it)", errno);
    m_temp_path = pattern;
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : m_path(std::move(other.m_path)),
      m_temp_path(std::move(other.m_temp_path)),
      m_mode(other.m_mode),
      m_fd(std::exchange(other.m_fd, -1)),
      m_committed(std::exchange(other.m_committed, true)) {}

AtomicFile::~AtomicFile() { discard(); }

void AtomicFile::discard() noexcept {
    if (m_fd >= 0) ::close(m_fd);
    m_fd = -1;
    // A destructor must not throw; a failed unlink leaves only a dot-file that no reader opens.
    if (!m_committed && !m_temp_path.empty()) ::unlink(m_temp_path.c_str());
    m_temp_path.clear();
}

void AtomicFile::write(std::span<const std::byte> bytes) {
    if (m_fd < 0)
        throw Error("`" + m_path.string() + "`: write after commit or after a failed write");
    while (!bytes.empty()) {
        const ssize_t written = ::write(m_fd, bytes.data(), bytes.size());
        if (written < 0) {
            if (errno == EINTR) continue;
            const IoError error(m_path.string(), "write (temporary file)", errno);
            // Part of `bytes` may be missing: a later commit() must not publish the file.
            discard();
            throw error;
        }
        bytes = bytes.subspan(static_cast<std::size_t>(written));
    }
}

void AtomicFile::commit(Durability durability) {
    if (m_fd < 0)
        throw Error("`" + m_path.string() + "`: commit after a commit or a failed commit");
    const bool synced = durability == Durability::synced;
    if (synced && ::fsync(m_fd) != 0) throw IoError(m_path.string(), "fsync (temporary file)", errno);
    if (::fchmod(m_fd, m_mode) != 0)
        throw IoError(m_path.string(), "fchmod (temporary file)", errno);
    const int fd = std::exchange(m_fd, -1);
    // close() can report a deferred write error (NFS); the descriptor is gone either way.
    if (::close(fd) != 0) throw IoError(m_path.string(), "close (temporary file)", errno);
    if (::rename(m_temp_path.c_str(), m_path.c_str()) != 0)
        throw IoError(m_path.string(), "rename (from `" + m_temp_path.string() + "`)", errno);
    // From here the temporary name is gone: the destructor must not unlink a name that another
    // writer's mkostemp may already have taken.
    m_committed = true;
    m_temp_path.clear();
    if (synced) sync_directory(directory_of(m_path));
}

void write_file_atomically(const std::filesystem::path& path, std::string_view bytes, mode_t mode) {
    AtomicFile file(path, mode);
    file.write(bytes);
    file.commit();
}

bool replace_cache_file(const std::filesystem::path& path, std::string_view bytes) noexcept {
    try {
        AtomicFile file(path);
        file.write(bytes);
        file.commit(AtomicFile::Durability::unsynced);
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

void sync_directory(const std::filesystem::path& directory) {
    const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw IoError(directory.string(), "open (directory, to fsync it)", errno);
    const int result = ::fsync(fd);
    const int saved_errno = errno;
    ::close(fd);
    if (result != 0) throw IoError(directory.string(), "fsync (directory)", saved_errno);
}

}  // namespace cbuild
