#include "cache/content_store.h"

#include "cache/internal/file_io.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <utility>

#include "cache/internal/file_lock.h"
#include "cache/internal/index_document.h"
#include "cache/internal/store_paths.h"
#include "common/atomic_file.h"

namespace cbuild::cache {

namespace {

// Large enough that importing a layer takes few system calls, small enough to allocate per call.
constexpr std::size_t k_copy_chunk = 1 << 20;

// The file's stat, or nullopt when it does not exist. Throws IoError for other failures.
std::optional<struct stat> stat_if_present(const std::filesystem::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) return st;
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    throw IoError(path.string(), "stat", errno);
}

// "`text`", built by appending: g++ 12 at -O2 warns falsely on `"`" + std::string` here
// (-Wrestrict, GCC bug 105651), and CI builds with -Werror.
std::string in_backticks(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 2);
    out.append("`").append(text).append("`");
    return out;
}

void make_directory(const std::filesystem::path& path) {
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
        throw IoError(path.string(), "mkdir", errno);
}

// The whole file, or nullopt when it does not exist. Throws cbuild::Error when it is larger
// than `max_size`, checked before reading it.
std::optional<std::string> read_file_bytes(const std::filesystem::path& path, std::size_t max_size) {
    std::optional<OpenedFile> file = read_whole_file(path, max_size);
    if (!file) return std::nullopt;
    return std::move(file->bytes);
}

std::string read_required_file(const std::filesystem::path& path) {
    std::optional<std::string> bytes = read_file_bytes(path, SIZE_MAX);
    if (!bytes) throw IoError(path.string(), "open", ENOENT);
    return std::move(*bytes);
}

IndexDocument load_index(const std::filesystem::path& root) {
    const std::filesystem::path path = root / k_index_file;
    return IndexDocument(read_required_file(path), path);
}

// Runs `edit` on index.json under the exclusive lock and writes the result back when `edit`
// returns true. The whole read-modify-write is under the lock, so concurrent edits serialise.
bool update_index(const std::filesystem::path& root,
                  const std::function<bool(IndexDocument&)>& edit) {
    const FileLock lock(root / k_lock_file, FileLock::Mode::exclusive);
    IndexDocument index = load_index(root);
    if (!edit(index)) return false;
    write_file_atomically(root / k_index_file, index.text());
    return true;
}

}  // namespace

// ---- BlobWriter --------------------------------------------------------------------------

BlobWriter::BlobWriter(std::filesystem::path blobs_dir, const std::filesystem::path& ingest_dir, BlobHashing hashing)
    : m_blobs_dir(std::move(blobs_dir)), m_hashing(hashing) {
    std::string pattern = (ingest_dir / "blob-XXXXXX").string();
    m_fd = mkostemp(pattern.data(), O_CLOEXEC);
    if (m_fd < 0 && errno == ENOENT) {
        // Someone cleaned up ingest/ (it only ever holds leftovers); make it again.
        make_directory(ingest_dir);
        m_fd = mkostemp(pattern.data(), O_CLOEXEC);
    }
    if (m_fd < 0) throw IoError(ingest_dir.string(), "mkostemp (blob being written)", errno);
    m_temp_path = pattern;
}

BlobWriter::BlobWriter(BlobWriter&& other) noexcept
    : m_blobs_dir(std::move(other.m_blobs_dir)),
      m_temp_path(std::exchange(other.m_temp_path, {})),
      m_fd(std::exchange(other.m_fd, -1)),
      m_hashing(other.m_hashing),
      m_hasher(std::move(other.m_hasher)),
      m_size(other.m_size),
      m_written_back(other.m_written_back) {}

BlobWriter::~BlobWriter() { discard(); }

void BlobWriter::discard() noexcept {
    if (m_fd >= 0) ::close(m_fd);
    m_fd = -1;
    if (!m_temp_path.empty()) ::unlink(m_temp_path.c_str());
    m_temp_path.clear();
}

void BlobWriter::write(std::span<const std::byte> bytes) {
    if (m_fd < 0) throw Error("blob writer: write after commit or after a failed write");
    if (m_hashing == BlobHashing::by_writer) m_hasher.update(bytes);
    m_size += bytes.size();
    while (!bytes.empty()) {
        const ssize_t written = ::write(m_fd, bytes.data(), bytes.size());
        if (written < 0 && errno == EINTR) continue;
        if (written < 0) {
            const IoError error(m_temp_path.string(), "write", errno);
            // The hash already covers bytes the file lacks: this writer can never commit.
            discard();
            throw error;
        }
        bytes = bytes.subspan(static_cast<std::size_t>(written));
    }
    // Start the disk on what is written so far, so that commit()'s fsync of a large blob (a
    // layer) waits for the last stretch only (RocksDB's bytes_per_sync). A hint: its failure
    // changes nothing.
    if (m_size - m_written_back >= k_writeback_stride) {
        ::sync_file_range(m_fd, static_cast<off_t>(m_written_back), static_cast<off_t>(m_size - m_written_back),
                          SYNC_FILE_RANGE_WRITE);
        m_written_back = m_size;
    }
}

Digest BlobWriter::commit(std::optional<Digest> expected,
                          std::optional<std::uint64_t> expected_size) {
    if (m_fd < 0) throw Error("blob writer: commit after a commit or a failed commit");
    try {
        if (m_hashing == BlobHashing::by_caller && !expected)
            throw Error("blob writer: a blob hashed by its caller needs the digest at commit");
        const Digest actual = m_hashing == BlobHashing::by_caller ? *expected : m_hasher.finish();
        const std::string name = expected ? in_backticks(expected->to_string()) : "being written";
        if (expected && expected->algorithm() != "sha256")
            throw Error("blob " + name + ": only sha256 digests can be verified");
        if (expected_size && *expected_size != m_size)
            throw BlobMismatchError("blob " + name + ": size mismatch: expected " +
                                    std::to_string(*expected_size) + " bytes, got " +
                                    std::to_string(m_size));
        if (expected && *expected != actual)
            throw BlobMismatchError("blob " + name + ": digest mismatch: the " +
                                    std::to_string(m_size) + " bytes written hash to `" +
                                    actual.to_string() + "`");

        const std::filesystem::path target = m_blobs_dir / actual.hex();
        if (const auto existing = stat_if_present(target); existing && S_ISREG(existing->st_mode)) {
            discard();  // content-addressed: the stored copy has these very bytes
            return actual;
        }
        if (::fsync(m_fd) != 0) throw IoError(m_temp_path.string(), "fsync", errno);
        if (::fchmod(m_fd, 0644) != 0) throw IoError(m_temp_path.string(), "fchmod", errno);
        if (::close(std::exchange(m_fd, -1)) != 0)
            throw IoError(m_temp_path.string(), "close", errno);
        // Two writers of one blob may both get here; either rename leaves identical bytes.
        if (::rename(m_temp_path.c_str(), target.c_str()) != 0)
            throw IoError(target.string(), "rename (from `" + m_temp_path.string() + "`)", errno);
        m_temp_path.clear();
        sync_directory(m_blobs_dir);
        return actual;
    } catch (...) {
        discard();
        throw;
    }
}

// ---- ContentStore ------------------------------------------------------------------------

std::filesystem::path ContentStore::default_root() {
    const char* home = std::getenv("HOME");
    std::string passwd_home;
    if (home == nullptr || *home == '\0') {
        struct passwd entry {};
        struct passwd* found = nullptr;
        std::string buffer(16384, '\0');
        if (::getpwuid_r(::geteuid(), &entry, buffer.data(), buffer.size(), &found) == 0 &&
            found != nullptr && found->pw_dir != nullptr) {
            passwd_home = found->pw_dir;
            home = passwd_home.c_str();
        }
    }
    return default_root_for(::geteuid(), std::getenv("XDG_DATA_HOME"), home);
}

ContentStore::ContentStore(std::filesystem::path root) : m_root(std::move(root)) {
    const std::filesystem::path layout = m_root / k_oci_layout_file;
    const std::filesystem::path index = m_root / k_index_file;
    const std::filesystem::path blobs = m_root / k_blobs_dir;
    const std::filesystem::path ingest = m_root / k_ingest_dir;
    const bool complete = stat_if_present(layout) && stat_if_present(index) &&
                          stat_if_present(blobs / "sha256") && stat_if_present(ingest);
    if (!complete) {
        std::error_code error;
        std::filesystem::create_directories(m_root, error);
        if (error) throw IoError(m_root.string(), "mkdir", error.value());
        // The lock makes "check, then create" one step, so two processes creating the store
        // at once never overwrite a tag the faster one has already written.
        const FileLock lock(m_root / k_lock_file, FileLock::Mode::exclusive);
        make_directory(blobs);
        make_directory(blobs / "sha256");
        make_directory(ingest);
        if (!stat_if_present(layout)) write_file_atomically(layout, oci_layout_text());
        if (!stat_if_present(index)) write_file_atomically(index, IndexDocument::empty_text());
    }
    check_oci_layout(read_required_file(layout), layout);
    const FileLock lock(m_root / k_lock_file, FileLock::Mode::shared);
    (void)load_index(m_root);
}

bool ContentStore::has(const Digest& digest) const {
    const auto st = stat_if_present(blob_path(digest));
    return st && S_ISREG(st->st_mode);
}

std::filesystem::path ContentStore::blob_path(const Digest& digest) const {
    return m_root / k_blobs_dir / digest.algorithm() / digest.hex();
}

std::optional<std::uint64_t> ContentStore::blob_size(const Digest& digest) const {
    const auto st = stat_if_present(blob_path(digest));
    if (!st || !S_ISREG(st->st_mode)) return std::nullopt;
    return static_cast<std::uint64_t>(st->st_size);
}

std::optional<std::string> ContentStore::read_blob(const Digest& digest,
                                                   std::size_t max_size) const {
    if (digest.algorithm() != "sha256")
        throw Error("blob `" + digest.to_string() + "`: only sha256 blobs can be verified");
    const std::filesystem::path path = blob_path(digest);
    std::optional<std::string> bytes = read_file_bytes(path, max_size);
    if (bytes && sha256_of(*bytes) != digest)
        throw BlobMismatchError("`" + path.string() +
                                "`: content does not match its digest (corrupt store)");
    return bytes;
}

Digest ContentStore::put_blob(std::string_view bytes) {
    const Digest digest = sha256_of(bytes);
    if (has(digest)) return digest;
    BlobWriter writer = begin_blob(BlobHashing::by_caller);
    writer.write(bytes);
    return writer.commit(digest, bytes.size());
}

BlobWriter ContentStore::begin_blob(BlobHashing hashing) {
    return BlobWriter(m_root / k_blobs_dir / "sha256", m_root / k_ingest_dir, hashing);
}

Digest ContentStore::import_file(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw IoError(path.string(), "open", errno);
    const UniqueFd closer(fd);
    BlobWriter writer = begin_blob();
    std::string chunk(k_copy_chunk, '\0');
    while (const std::size_t got = read_fully(fd, chunk.data(), chunk.size(), path))
        writer.write(std::string_view(chunk.data(), got));
    return writer.commit();
}

std::vector<TagEntry> ContentStore::list_tags() const {
    const FileLock lock(m_root / k_lock_file, FileLock::Mode::shared);
    return load_index(m_root).tags();
}

std::optional<TagEntry> ContentStore::resolve(std::string_view name) const {
    for (TagEntry& tag : list_tags())
        if (tag.name == name) return std::move(tag);
    return std::nullopt;
}

void ContentStore::set_tag(const TagEntry& entry) {
    update_index(m_root, [&](IndexDocument& index) {
        // Retagging what the name already points at (a rebuild that changed nothing) writes nothing.
        for (const TagEntry& existing : index.tags())
            if (existing.name == entry.name) {
                if (existing == entry) return false;
                break;
            }
        index.set(entry);
        return true;
    });
}

bool ContentStore::remove_tag(std::string_view name) {
    return update_index(m_root, [&](IndexDocument& index) { return index.remove(name); });
}

}  // namespace cbuild::cache
