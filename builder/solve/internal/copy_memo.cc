#include "builder/solve/internal/copy_memo.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <cerrno>
#include <fstream>
#include <functional>
#include <string_view>
#include <vector>

#include "builder/snapshot/internal/image_path.h"
#include "builder/solve/internal/directory_listings.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/file_identity.h"
#include "common/unique_fd.h"

namespace cbuild::builder::internal {

namespace {

constexpr std::string_view k_magic = "cbuild-copy-memo 1";

// Feeds one entry's stat record to `hash`; false when its ctime is not older than the walk's
// start (`started`), so that a later write could leave its stat unchanged.
bool record(Sha256& hash, const struct stat& st, std::string_view path, std::int64_t started) {
    if (nanoseconds(st.st_ctim) >= started) return false;
    const std::uint64_t fields[] = {static_cast<std::uint64_t>(st.st_mode),
                                    static_cast<std::uint64_t>(st.st_uid),
                                    static_cast<std::uint64_t>(st.st_gid),
                                    static_cast<std::uint64_t>(st.st_size),
                                    static_cast<std::uint64_t>(nanoseconds(st.st_mtim)),
                                    static_cast<std::uint64_t>(nanoseconds(st.st_ctim)),
                                    static_cast<std::uint64_t>(st.st_ino),
                                    static_cast<std::uint64_t>(st.st_dev),
                                    static_cast<std::uint64_t>(st.st_rdev),
                                    path.size()};
    hash.update(std::as_bytes(std::span(fields)));
    hash.update(path);
    return true;
}

struct Entry {
    struct stat st {};
    UniqueFd fd;  // a directory's, to read it
};

// lstat of `name` in `dir_fd` (AT_FDCWD: a whole path), and a descriptor when it is a
// directory; nullopt when it vanished.
std::optional<Entry> open_entry(int dir_fd, const char* name, const std::function<std::string()>& shown) {
    Entry entry;
    if (::fstatat(dir_fd, name, &entry.st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return std::nullopt;
        throw IoError(shown(), "lstat", errno);
    }
    if (S_ISDIR(entry.st.st_mode)) {
        entry.fd = UniqueFd(::openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!entry.fd) throw IoError(shown(), "open", errno);
    }
    return entry;
}

// One thread's walk below a source root: the root's place on the host, the path entries are
// recorded under, the directory listings of the last walk and the ones this walk sees. `path`
// is a buffer each level appends its name to and trims back, so a walk of 20,000 files makes no
// string per file; error messages rebuild the host path from it.
struct Walk {
    const std::filesystem::path& root;
    std::size_t root_length;  // of the recorded path of the root itself
    std::string path;
    std::int64_t started;
    const DirectoryListings& known;
    ListingWriter seen;

    std::string shown() const { return root.string() + path.substr(root_length); }
};

bool add_tree(Sha256& hash, int dir_fd, const char* name, Walk& walk);

// The children of the directory `dir` (at walk.path), in sorted order, into `hash`; their names
// from the last walk's listing when the directory is unchanged since, else from the directory.
bool add_children(Sha256& hash, const Entry& dir, Walk& walk) {
    std::optional<NameList> names = walk.known.find(dir.st);
    const bool read_here = !names;
    std::string read;
    if (read_here) {
        read = read_directory_names(dir.fd.get(), walk.shown());
        names.emplace(read);
    }
    walk.seen.add(dir.st, names->bytes(), read_here);
    const std::size_t length = walk.path.size();
    return names->each([&](std::string_view child) {
        walk.path.append("/").append(child);
        const bool trusted = add_tree(hash, dir.fd.get(), child.data(), walk);
        walk.path.resize(length);
        return trusted;
    });
}

// The entry `name` (already appended to walk.path) and everything below it, in sorted order,
// into `hash`; false as record() is.
bool add_tree(Sha256& hash, int dir_fd, const char* name, Walk& walk) {
    const std::optional<Entry> entry = open_entry(dir_fd, name, [&] { return walk.shown(); });
    if (!entry || !record(hash, entry->st, walk.path, walk.started)) return false;
    return !entry->fd || add_children(hash, *entry, walk);
}

// A source root and everything below it into `hash`: the root's record, then each child's
// subtree as its own digest. The subtrees are walked on several threads, since a walk of a
// large context is stat calls the kernel answers from its caches, on any core. The directory
// listings for the root live in `listings_file`, rewritten when the walk saw others.
bool add_root(Sha256& hash, const std::filesystem::path& root, const std::string& path, std::int64_t started,
              const std::filesystem::path& listings_file) {
    const auto shown = [&] { return root.string(); };
    const std::optional<Entry> entry = open_entry(AT_FDCWD, root.c_str(), shown);
    if (!entry || !record(hash, entry->st, path, started)) return false;
    if (!entry->fd) return true;
    const DirectoryListings known(listings_file);
    const std::optional<NameList> known_names = known.find(entry->st);
    const std::string names_bytes =
        known_names ? std::string(known_names->bytes()) : read_directory_names(entry->fd.get(), root.string());
    std::vector<std::string_view> names;
    NameList(names_bytes).each([&](std::string_view name) {
        names.push_back(name);
        return true;
    });
    std::vector<std::optional<Digest>> subtrees(names.size());
    std::atomic<std::size_t> next = 0;
    std::atomic<bool> stale = false;
    std::exception_ptr failure;
    std::mutex failure_mutex;
    const std::size_t helpers = std::min<std::size_t>(std::max(1u, std::thread::hardware_concurrency()), 8) - 1;
    std::vector<Walk> walks;
    for (std::size_t i = 0; i <= helpers; ++i)
        walks.push_back(
            Walk{.root = root, .root_length = path.size(), .path = path, .started = started, .known = known, .seen = {}});
    const auto work = [&](Walk& walk) {
        for (std::size_t i = next++; i < names.size() && !stale; i = next++) {
            try {
                Sha256 subtree;
                walk.path.resize(path.size());
                walk.path.append("/").append(names[i]);
                if (add_tree(subtree, entry->fd.get(), names[i].data(), walk))
                    subtrees[i] = subtree.finish();
                else
                    stale = true;
            } catch (...) {
                const std::lock_guard lock(failure_mutex);
                if (!failure) failure = std::current_exception();
                stale = true;
            }
        }
    };
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < helpers && i + 1 < names.size(); ++i) threads.emplace_back(work, std::ref(walks[i + 1]));
    work(walks[0]);
    for (std::thread& thread : threads) thread.join();
    if (failure) std::rethrow_exception(failure);
    if (stale) return false;
    for (const std::optional<Digest>& subtree : subtrees) hash.update(subtree->to_string());
    ListingWriter seen;
    seen.add(entry->st, names_bytes, !known_names);
    for (const Walk& walk : walks) seen.add(walk.seen);
    if (seen.differs_from(known)) seen.save(listings_file);
    return true;
}

bool has_wildcard(const std::string& source) { return source.find_first_of("*?[\\") != std::string::npos; }

}  // namespace

std::optional<Digest> copy_fingerprint(const Digest& parent, const CopyRequest& request, const std::string& instruction_text,
                                       const std::filesystem::path& context, const parser::PatternMatcher& ignore,
                                       const std::filesystem::path& cache_dir) {
    if (!request.inline_files.empty() || request.sources.empty()) return std::nullopt;
    Sha256 hash;
    const auto field = [&](std::string_view name, std::string_view value) {
        hash.update(std::to_string(name.size()) + ":" + std::string(name) + std::to_string(value.size()) + ":");
        hash.update(value);
    };
    field("memo", k_magic);
    field("parent", parent.to_string());
    field("instruction", instruction_text);
    field("workdir", request.working_dir);
    field("dest", request.dest);
    field("chown", request.chown);
    field("chmod", request.chmod);
    field("flags", std::string(request.parents ? "parents " : "") + (request.link ? "link" : ""));
    for (const std::string& exclude : request.excludes) field("exclude", exclude);
    for (const std::string& pattern : ignore.patterns()) field("ignore", pattern);
    const std::int64_t started = coarse_clock_now();
    for (const std::string& source : request.sources) {
        if (has_wildcard(source)) return std::nullopt;
        const std::string relative = clamp_path(source);
        field("source", relative);
        // COPY resolves symlinks inside the context, the host would not: a source reached
        // through one takes the long way. (The context directory itself may be a link.)
        std::filesystem::path root = std::filesystem::canonical(context);
        for (const auto& component : std::filesystem::path(relative)) {
            root /= component;
            struct stat st {};
            if (::lstat(root.c_str(), &st) != 0 || S_ISLNK(st.st_mode)) return std::nullopt;
        }
        const std::filesystem::path listings = cache_dir / "copy-memo" / ("dirs-" + sha256_of(root.string()).hex());
        if (!add_root(hash, root, relative, started, listings)) return std::nullopt;
    }
    return hash.finish();
}

std::optional<Digest> recall_copy_key(const std::filesystem::path& cache_dir, const Digest& fingerprint) {
    std::ifstream in(cache_dir / "copy-memo" / fingerprint.hex());
    std::string magic;
    std::string key;
    if (!std::getline(in, magic) || magic != k_magic || !std::getline(in, key)) return std::nullopt;
    try {
        return Digest::parse(key);
    } catch (const Error&) {
        return std::nullopt;
    }
}

void remember_copy_key(const std::filesystem::path& cache_dir, const Digest& fingerprint, const Digest& key) {
    const std::filesystem::path dir = cache_dir / "copy-memo";
    std::error_code error;
    std::filesystem::create_directories(dir, error);
    if (!error) replace_cache_file(dir / fingerprint.hex(), std::string(k_magic) + "\n" + key.to_string() + "\n");
}

}  // namespace cbuild::builder::internal
