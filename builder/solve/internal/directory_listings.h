#pragma once
// The names in a build context's directories, remembered from one walk to the next (the copy
// memo's walk, copy_memo.h) under each directory's identity (device, inode) and its modification
// and change times. Adding, removing or renaming an entry changes a directory's modification
// time, so a directory whose times are unchanged still holds the names remembered, and the walk
// of an unchanged context reads no directory: on ext4's hashed directories reading one costs
// more than the stat calls of its files. Like the memo, a listing is only a shortcut: a missing
// or damaged one, or a directory whose times differ, sends the walk to the directory itself.
//
// File format: the line "cbuild-dir-listing 1", then per directory a line
// "<device> <inode> <mtime ns> <ctime ns> <bytes>" and that many bytes of names, each ended by
// a NUL, in sorted order.

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace cbuild::builder::internal {

// The names of one directory: NUL-terminated names, one after another, in sorted order.
class NameList {
public:
    explicit NameList(std::string_view names) : m_names(names) {}

    // Calls `visit(name)` for each name, in order, with a NUL-terminated std::string_view;
    // stops early and returns false when `visit` does.
    template <typename Visit>
    bool each(Visit&& visit) const {
        for (std::size_t at = 0; at < m_names.size();) {
            const std::size_t end = m_names.find('\0', at);
            if (!visit(m_names.substr(at, end - at))) return false;
            at = end + 1;
        }
        return true;
    }

    std::string_view bytes() const { return m_names; }

private:
    std::string_view m_names;
};

// The sorted names in the directory open at `fd` (without . and ..), as NameList bytes.
// Throws IoError naming `shown`.
std::string read_directory_names(int fd, const std::string& shown);

// Listings loaded from one file, and the lines of the next one. Looking up is read-only and
// thread-safe; each walking thread keeps its own ListingWriter.
class DirectoryListings {
public:
    // The listings in `file`; none when it is missing or damaged (never throws for that).
    explicit DirectoryListings(const std::filesystem::path& file);
    // Not copied or moved: the listings are views into the file's bytes held here.
    DirectoryListings(const DirectoryListings&) = delete;
    DirectoryListings& operator=(const DirectoryListings&) = delete;

    // The names remembered for the directory `st` describes, when its times are the ones
    // remembered with them.
    std::optional<NameList> find(const struct stat& st) const;

    std::size_t size() const { return m_listings.size(); }

private:
    struct Identity {
        std::uint64_t device;
        std::uint64_t inode;
        friend bool operator==(const Identity&, const Identity&) = default;
    };
    struct IdentityHash {
        std::size_t operator()(const Identity& identity) const { return identity.inode * 31 + identity.device; }
    };
    struct Listing {
        std::int64_t mtime_ns;
        std::int64_t ctime_ns;
        std::string_view names;  // into m_file
    };

    void parse();

    std::string m_file;
    std::unordered_map<Identity, Listing, IdentityHash> m_listings;
};

// The listings one walk saw, to be saved for the next.
class ListingWriter {
public:
    // Adds the directory `st` describes with `names`; `fresh` when they were read from the
    // directory rather than found in the listings loaded.
    void add(const struct stat& st, std::string_view names, bool fresh);

    // Appends another thread's listings.
    void add(const ListingWriter& other);

    // Whether the listings differ from `loaded`: a directory was read, or one loaded was not seen.
    bool differs_from(const DirectoryListings& loaded) const;

    // Writes the listings to `file` (a temporary file beside it, renamed into place, not synced:
    // losing it costs one walk that reads its directories). Best effort, never throws.
    void save(const std::filesystem::path& file) const;

private:
    std::string m_bytes;
    std::size_t m_count = 0;
    std::size_t m_fresh = 0;
};

}  // namespace cbuild::builder::internal
