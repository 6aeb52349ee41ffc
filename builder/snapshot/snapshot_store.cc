#include "builder/snapshot/snapshot_store.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <system_error>

#include "builder/snapshot/internal/merged_view.h"
#include "builder/snapshot/internal/overlay_xattr.h"
#include "common/unique_fd.h"
#include "builder/snapshot/overlay_mount.h"
#include "common/atomic_file.h"
#include "common/error.h"

namespace cbuild::builder {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view k_temp_prefix = "tmp-";
constexpr std::string_view k_xattr_marker = "overlay-xattrs";

void make_directory(const fs::path& path) {
    if (::mkdir(path.c_str(), 0755) != 0) throw IoError(path.string(), "mkdir", errno);
}

// Cleanup on a path that has already failed or been abandoned: an error here would hide the
// first one, and a leftover tmp-* dir is what remove_stale() is for.
void discard(const fs::path& path) noexcept {
    std::error_code ignored;
    fs::remove_all(path, ignored);
}

// Records the namespace on first use; every later opener must use the same one.
void check_xattr_namespace(const fs::path& dir) {
    const fs::path marker = dir / k_xattr_marker;
    const std::string mine(internal::overlay_xattr_namespace());
    std::string recorded;
    if (std::ifstream in{marker}) {
        std::getline(in, recorded);
    } else {
        write_file_atomically(marker, mine + "\n");
        return;
    }
    if (recorded == mine) return;
    throw Error("snapshot store `" + dir.string() + "` keeps overlayfs metadata in " + recorded +
                ".overlay.* xattrs (" + (recorded == "user" ? "made by a rootless cbuild" : "made by root") +
                "), but this process can only use " + mine + ".overlay.*: give it another --root");
}

}  // namespace

Digest chain_id(const std::optional<Digest>& parent_chain, const Digest& diff_id) {
    if (!parent_chain) return diff_id;
    return sha256_of(parent_chain->to_string() + " " + diff_id.to_string());
}

SnapshotStore::SnapshotStore(fs::path dir) : m_dir(std::move(dir)) {
    std::error_code error;
    fs::create_directories(m_dir, error);
    if (error) throw IoError(m_dir.string(), "mkdir", error.value());
    check_xattr_namespace(m_dir);
}

std::optional<fs::path> SnapshotStore::find(const Digest& chain_id) const {
    fs::path path = m_dir / chain_id.hex() / "fs";
    struct stat status {};
    if (::lstat(path.c_str(), &status) != 0 || !S_ISDIR(status.st_mode)) return std::nullopt;
    return path;
}

fs::path SnapshotStore::ensure(const Digest& chain_id, const std::function<void(const fs::path&)>& fill) {
    if (auto found = find(chain_id)) return *found;
    const fs::path temp = make_temp_dir();
    try {
        make_directory(temp / "fs");
        fill(temp / "fs");
    } catch (...) {
        discard(temp);
        throw;
    }
    return publish(temp, chain_id);
}

fs::path SnapshotStore::make_temp_dir() const {
    std::string pattern = (m_dir / (std::string(k_temp_prefix) + "XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) throw IoError(pattern, "mkdtemp", errno);
    // mkdtemp makes it 0700; a snapshot's path must be searchable by whoever the sandbox runs as.
    if (::chmod(pattern.c_str(), 0755) != 0) {
        const int error = errno;
        discard(pattern);
        throw IoError(pattern, "chmod", error);
    }
    return pattern;
}

fs::path SnapshotStore::publish(const fs::path& temp, const Digest& chain_id) {
    const fs::path final_path = m_dir / chain_id.hex();
    try {
        const UniqueFd fd(::open(temp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fd || ::syncfs(fd.get()) != 0) throw IoError(temp.string(), "syncfs", errno);
        if (::rename(temp.c_str(), final_path.c_str()) != 0) {
            // Another maker published first: theirs is as good as ours.
            if ((errno == ENOTEMPTY || errno == EEXIST) && find(chain_id)) {
                discard(temp);
                return final_path / "fs";
            }
            throw IoError(final_path.string(), "rename from " + temp.filename().string(), errno);
        }
        sync_directory(m_dir);
    } catch (...) {
        discard(temp);
        throw;
    }
    return final_path / "fs";
}

SnapshotStore::Scratch::Scratch(fs::path dir)
    : m_dir(std::move(dir)), m_upper(m_dir / "upper"), m_work(m_dir / "work") {}

SnapshotStore::Scratch::Scratch(Scratch&& other) noexcept
    : m_dir(std::exchange(other.m_dir, {})), m_upper(std::move(other.m_upper)), m_work(std::move(other.m_work)) {}

SnapshotStore::Scratch::~Scratch() {
    if (!m_dir.empty()) discard(m_dir);
}

SnapshotStore::Scratch SnapshotStore::make_scratch() {
    Scratch scratch(make_temp_dir());
    make_directory(scratch.upper());
    make_directory(scratch.work());
    return scratch;
}

fs::path SnapshotStore::commit(Scratch&& scratch, const Digest& chain_id) {
    const fs::path temp = std::exchange(scratch.m_dir, {});
    try {
        // The work dir holds overlayfs's private state (a mode-000 `work/work`), no part of a layer.
        std::error_code error;
        fs::remove_all(temp / "work", error);
        if (error) throw IoError((temp / "work").string(), "remove", error.value());
        if (::rename((temp / "upper").c_str(), (temp / "fs").c_str()) != 0)
            throw IoError((temp / "upper").string(), "rename to fs", errno);
    } catch (...) {
        discard(temp);
        throw;
    }
    return publish(temp, chain_id);
}

bool SnapshotStore::overlay_supported() const {
    std::call_once(m_probed, [this] { m_overlay_supported = probe_overlay(); });
    return m_overlay_supported;
}

bool SnapshotStore::probe_overlay() const {
    const fs::path temp = make_temp_dir();
    try {
        for (const char* name : {"lower", "upper", "work", "merged"}) make_directory(temp / name);
        if (!(std::ofstream(temp / "lower" / "file") << "probe"))
            throw IoError((temp / "lower" / "file").string(), "write", errno);
        // Everything the child needs is made here: after fork() it may only make system calls.
        const OverlayMount overlay(temp / "merged", {temp / "lower"}, temp / "upper", temp / "work");
        const std::string victim = (temp / "merged" / "file").string();
        const std::string merged = (temp / "merged").string();
        const pid_t child = ::fork();
        if (child < 0) throw IoError(temp.string(), "fork (overlay probe)", errno);
        if (child == 0) {
            if (::unshare(CLONE_NEWNS) != 0) ::_exit(1);
            if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(1);
            if (overlay.mount() != 0) ::_exit(1);
            const int removed = ::unlink(victim.c_str());
            ::umount2(merged.c_str(), MNT_DETACH);
            ::_exit(removed == 0 ? 0 : 1);
        }
        int status = 0;
        while (::waitpid(child, &status, 0) < 0)
            if (errno != EINTR) throw IoError(temp.string(), "waitpid (overlay probe)", errno);
        struct stat whiteout {};
        const bool supported = WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
                               ::lstat((temp / "upper" / "file").c_str(), &whiteout) == 0 &&
                               internal::is_whiteout(whiteout);
        discard(temp);
        return supported;
    } catch (...) {
        discard(temp);
        throw;
    }
}

std::size_t SnapshotStore::remove_stale(std::chrono::seconds age) {
    const auto cutoff = std::chrono::system_clock::now() - age;
    std::size_t removed = 0;
    std::error_code error;
    for (fs::directory_iterator it(m_dir, error), end; !error && it != end; it.increment(error)) {
        const std::string name = it->path().filename().string();
        if (name.rfind(k_temp_prefix, 0) != 0) continue;
        struct stat status {};
        if (::lstat(it->path().c_str(), &status) != 0 || !S_ISDIR(status.st_mode)) continue;
        const auto made = std::chrono::system_clock::from_time_t(status.st_mtim.tv_sec);
        if (made >= cutoff) continue;
        std::error_code remove_error;
        fs::remove_all(it->path(), remove_error);
        if (remove_error) throw IoError(it->path().string(), "remove", remove_error.value());
        ++removed;
    }
    if (error) throw IoError(m_dir.string(), "readdir", error.value());
    return removed;
}

}  // namespace cbuild::builder
