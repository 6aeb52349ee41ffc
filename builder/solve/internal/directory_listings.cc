#include "builder/solve/internal/directory_listings.h"

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <vector>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/file_identity.h"

namespace cbuild::builder::internal {
namespace {

constexpr std::string_view k_magic = "cbuild-dir-listing 1\n";

// Reads one decimal number and the separator after it from `text` at `at`.
template <typename Number>
bool read_number(std::string_view text, std::size_t& at, char separator, Number& out) {
    const char* end = text.data() + text.size();
    const auto [next, error] = std::from_chars(text.data() + at, end, out);
    if (error != std::errc() || next == end || *next != separator) return false;
    at = static_cast<std::size_t>(next - text.data()) + 1;
    return true;
}

}  // namespace

std::string read_directory_names(int fd, const std::string& shown) {
    // getdents64 straight into one buffer: stdio's DIR would add a dup, two fcntl calls and a
    // close to each of the hundreds of directories a context walk reads.
    constexpr std::size_t k_chunk = 32 * 1024;
    std::vector<char> buffer;
    std::size_t used = 0;
    for (;;) {
        if (buffer.size() - used < k_chunk) buffer.resize(used + k_chunk);
        const ssize_t got = ::getdents64(fd, buffer.data() + used, buffer.size() - used);
        if (got < 0) throw IoError(shown, "getdents64", errno);
        if (got == 0) break;
        used += static_cast<std::size_t>(got);
    }
    std::vector<std::string_view> names;
    std::size_t bytes = 0;
    for (std::size_t at = 0; at < used;) {
        const auto* entry = reinterpret_cast<const struct dirent64*>(buffer.data() + at);
        const std::string_view name = entry->d_name;
        if (name != "." && name != "..") {
            names.push_back(name);
            bytes += name.size() + 1;
        }
        at += entry->d_reclen;
    }
    std::sort(names.begin(), names.end());
    std::string out;
    out.reserve(bytes);
    for (const std::string_view name : names) out.append(name).push_back('\0');
    return out;
}

DirectoryListings::DirectoryListings(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary | std::ios::ate);
    const std::streamoff size = in ? static_cast<std::streamoff>(in.tellg()) : -1;
    if (size <= 0) return;
    m_file.resize(static_cast<std::size_t>(size));
    if (!in.seekg(0) || !in.read(m_file.data(), size)) return;
    parse();
}

void DirectoryListings::parse() {
    const std::string_view text = m_file;
    if (!text.starts_with(k_magic)) return;
    for (std::size_t at = k_magic.size(); at < text.size();) {
        Identity identity{};
        Listing listing{};
        std::size_t length = 0;
        if (!read_number(text, at, ' ', identity.device) || !read_number(text, at, ' ', identity.inode) ||
            !read_number(text, at, ' ', listing.mtime_ns) || !read_number(text, at, ' ', listing.ctime_ns) ||
            !read_number(text, at, '\n', length) || length > text.size() - at ||
            (length > 0 && text[at + length - 1] != '\0')) {
            m_listings.clear();
            return;
        }
        listing.names = text.substr(at, length);
        m_listings.insert_or_assign(identity, listing);
        at += length;
    }
}

std::optional<NameList> DirectoryListings::find(const struct stat& st) const {
    const auto found = m_listings.find(
        Identity{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)});
    if (found == m_listings.end() || found->second.mtime_ns != nanoseconds(st.st_mtim) ||
        found->second.ctime_ns != nanoseconds(st.st_ctim))
        return std::nullopt;
    return NameList(found->second.names);
}

void ListingWriter::add(const struct stat& st, std::string_view names, bool fresh) {
    m_bytes.append(std::to_string(st.st_dev)).push_back(' ');
    m_bytes.append(std::to_string(st.st_ino)).push_back(' ');
    m_bytes.append(std::to_string(nanoseconds(st.st_mtim))).push_back(' ');
    m_bytes.append(std::to_string(nanoseconds(st.st_ctim))).push_back(' ');
    m_bytes.append(std::to_string(names.size())).push_back('\n');
    m_bytes.append(names);
    ++m_count;
    if (fresh) ++m_fresh;
}

void ListingWriter::add(const ListingWriter& other) {
    m_bytes += other.m_bytes;
    m_count += other.m_count;
    m_fresh += other.m_fresh;
}

bool ListingWriter::differs_from(const DirectoryListings& loaded) const {
    return m_fresh > 0 || m_count != loaded.size();
}

void ListingWriter::save(const std::filesystem::path& file) const {
    std::error_code error;
    std::filesystem::create_directories(file.parent_path(), error);
    if (!error) replace_cache_file(file, std::string(k_magic) + m_bytes);
}

}  // namespace cbuild::builder::internal
