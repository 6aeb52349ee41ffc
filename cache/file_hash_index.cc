#include "cache/file_hash_index.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <system_error>

#include "cache/internal/cache_layout.h"
#include "cache/internal/file_io.h"
#include "common/atomic_file.h"
#include "common/error.h"

namespace cbuild::cache {

namespace {

constexpr std::string_view k_magic = "cbuild-file-hashes 1\n";
constexpr std::size_t k_checksum_size = 32;
// Path length, size, mtime, ctime, inode, device, day, hash: all but the path's bytes.
constexpr std::size_t k_fixed_entry_size = 4 + 8 * 5 + 4 + 32;
constexpr std::uint32_t k_forget_after_days = 30;
// The index of a 20,000-file context is about 2 MB; far more than any index is not one.
constexpr std::size_t k_max_index_size = std::size_t{1} << 32;
// Reads of a file being hashed: big enough for few system calls, small enough to allocate.
constexpr std::size_t k_read_chunk = 1 << 20;

std::uint32_t today() { return static_cast<std::uint32_t>(std::time(nullptr) / 86'400); }

template <typename Number>
void append_le(std::string& out, Number value) {
    auto bits = static_cast<std::make_unsigned_t<Number>>(value);
    for (std::size_t i = 0; i < sizeof(Number); ++i, bits = static_cast<decltype(bits)>(bits >> 8))
        out += static_cast<char>(bits & 0xff);
}

// Reads little-endian numbers and byte runs; every read is bounds-checked by the caller first.
class Reader {
public:
    explicit Reader(std::string_view bytes) : m_bytes(bytes) {}

    std::size_t remaining() const { return m_bytes.size() - m_position; }

    template <typename Number>
    Number number() {
        std::make_unsigned_t<Number> bits = 0;
        for (std::size_t i = 0; i < sizeof(Number); ++i)
            bits |= static_cast<decltype(bits)>(static_cast<unsigned char>(m_bytes[m_position + i])) << (8 * i);
        m_position += sizeof(Number);
        return static_cast<Number>(bits);
    }
    std::string_view bytes(std::size_t count) {
        const std::string_view out = m_bytes.substr(m_position, count);
        m_position += count;
        return out;
    }

private:
    std::string_view m_bytes;
    std::size_t m_position = 0;
};

std::array<unsigned char, 32> raw_sha256(const Digest& digest) {
    std::array<unsigned char, 32> out{};
    const std::string& hex = digest.hex();
    const auto nibble = [](char c) { return static_cast<unsigned char>(c <= '9' ? c - '0' : c - 'a' + 10); };
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = static_cast<unsigned char>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
    return out;
}

Digest sha256_digest(const std::array<unsigned char, 32>& raw) {
    static constexpr char k_hex_digits[] = "0123456789abcdef";
    std::string text = "sha256:";
    for (const unsigned char byte : raw) {
        text += k_hex_digits[byte >> 4];
        text += k_hex_digits[byte & 0x0f];
    }
    return Digest::parse(text);
}

// The sha256 of the file's bytes and the file's status once they were read.
std::pair<Digest, struct stat> read_and_hash(const std::filesystem::path& path, std::uint64_t expected_size) {
    const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) throw IoError(path.string(), "open", errno);
    // Small files, the most common, get a buffer of their size, plus one byte to see the end.
    const std::size_t buffer_size = static_cast<std::size_t>(std::min<std::uint64_t>(expected_size + 1, k_read_chunk));
    const std::unique_ptr<char[]> buffer(new char[buffer_size]);
    Sha256 hasher;
    while (const std::size_t got = read_fully(fd.get(), buffer.get(), buffer_size, path)) {
        hasher.update(std::string_view(buffer.get(), got));
        if (got < buffer_size) break;
    }
    struct stat after {};
    if (::fstat(fd.get(), &after) != 0) throw IoError(path.string(), "fstat", errno);
    return {hasher.finish(), after};
}

}  // namespace

std::filesystem::path file_hash_index_path(const std::filesystem::path& root) {
    return root / k_cache_dir / k_file_hashes_file;
}

FileHashIndex::FileHashIndex(std::filesystem::path file) : m_file(std::move(file)), m_today(today()) {}

void FileHashIndex::load_once() {
    if (m_loaded) return;
    m_loaded = true;
    const auto opened = read_whole_file(m_file, k_max_index_size);
    if (!opened) return;
    if (auto entries = decode(opened->bytes)) m_entries = std::move(*entries);
}

Digest FileHashIndex::hash(const std::filesystem::path& path, const struct stat& info) {
    if (!S_ISREG(info.st_mode)) throw Error("`" + path.string() + "`: not a regular file, cannot hash its content");
    return hash(path, file_identity(info));
}

Digest FileHashIndex::hash(const std::filesystem::path& path, const FileIdentity& identity) {
    {
        const std::lock_guard lock(m_mutex);
        load_once();
        if (const auto it = m_entries.find(path.native()); it != m_entries.end() && it->second.identity == identity) {
            if (it->second.last_used_day != m_today) {
                it->second.last_used_day = m_today;
                m_dirty = true;
            }
            const std::array<unsigned char, 32> sha256 = it->second.sha256;
            ++m_hits;
            return sha256_digest(sha256);
        }
    }
    ++m_misses;
    const std::int64_t started = coarse_clock_now();
    auto [digest, after] = read_and_hash(path, identity.size);
    // Remembered only when what was read is what `identity` describes and no later write can keep
    // the same ctime (see "racily clean" in the header).
    if (file_identity(after) != identity || identity.ctime_ns >= started) return digest;
    const Entry wanted{.identity = identity, .last_used_day = m_today, .sha256 = raw_sha256(digest)};
    const std::lock_guard lock(m_mutex);
    m_entries.insert_or_assign(path.native(), wanted);
    m_dirty = true;
    return digest;
}

std::optional<FileHashIndex::Entries> FileHashIndex::decode(std::string_view bytes) {
    if (bytes.size() < k_magic.size() + 8 + k_checksum_size || !bytes.starts_with(k_magic)) return std::nullopt;
    const std::string_view body = bytes.substr(0, bytes.size() - k_checksum_size);
    const std::array<unsigned char, 32> checksum = raw_sha256(sha256_of(body));
    if (std::memcmp(checksum.data(), bytes.data() + body.size(), k_checksum_size) != 0) return std::nullopt;
    Reader reader(body.substr(k_magic.size()));
    const auto count = reader.number<std::uint64_t>();
    if (count > reader.remaining() / k_fixed_entry_size) return std::nullopt;
    Entries entries;
    entries.reserve(static_cast<std::size_t>(count));
    for (std::uint64_t i = 0; i < count; ++i) {
        if (reader.remaining() < 4) return std::nullopt;
        const auto path_size = reader.number<std::uint32_t>();
        if (reader.remaining() < path_size + k_fixed_entry_size - 4) return std::nullopt;
        const std::string_view path = reader.bytes(path_size);
        Entry entry;
        entry.identity.size = reader.number<std::uint64_t>();
        entry.identity.mtime_ns = reader.number<std::int64_t>();
        entry.identity.ctime_ns = reader.number<std::int64_t>();
        entry.identity.inode = reader.number<std::uint64_t>();
        entry.identity.device = reader.number<std::uint64_t>();
        entry.last_used_day = reader.number<std::uint32_t>();
        std::memcpy(entry.sha256.data(), reader.bytes(entry.sha256.size()).data(), entry.sha256.size());
        entries.insert_or_assign(std::string(path), entry);
    }
    if (reader.remaining() != 0) return std::nullopt;
    return entries;
}

std::string FileHashIndex::encode(const Entries& entries) {
    std::string out(k_magic);
    std::size_t size = out.size() + 8 + k_checksum_size;
    for (const auto& [path, entry] : entries) size += path.size() + k_fixed_entry_size;
    out.reserve(size);
    append_le<std::uint64_t>(out, entries.size());
    for (const auto& [path, entry] : entries) {
        append_le<std::uint32_t>(out, static_cast<std::uint32_t>(path.size()));
        out += path;
        append_le(out, entry.identity.size);
        append_le(out, entry.identity.mtime_ns);
        append_le(out, entry.identity.ctime_ns);
        append_le(out, entry.identity.inode);
        append_le(out, entry.identity.device);
        append_le(out, entry.last_used_day);
        out.append(reinterpret_cast<const char*>(entry.sha256.data()), entry.sha256.size());
    }
    const std::array<unsigned char, 32> checksum = raw_sha256(sha256_of(out));
    out.append(reinterpret_cast<const char*>(checksum.data()), checksum.size());
    return out;
}

FileHashIndex::Entries FileHashIndex::load_file() const {
    try {
        const auto opened = read_whole_file(m_file, k_max_index_size);
        if (!opened) return {};
        return decode(opened->bytes).value_or(Entries{});
    } catch (const Error&) {
        // What another process saved is only a bonus to merge; without it this save loses nothing.
        return {};
    }
}

void FileHashIndex::save() {
    const std::lock_guard lock(m_mutex);
    if (!m_dirty) return;
    for (auto& [path, entry] : load_file()) m_entries.try_emplace(path, entry);
    std::erase_if(m_entries, [&](const auto& item) {
        return item.second.last_used_day + k_forget_after_days < m_today;
    });
    if (const std::filesystem::path dir = m_file.parent_path(); !dir.empty()) {
        std::error_code error;
        std::filesystem::create_directories(dir, error);
        if (error) throw IoError(dir.string(), "mkdir", error.value());
    }
    write_file_atomically(m_file, encode(m_entries));
    m_dirty = false;
}

}  // namespace cbuild::cache
