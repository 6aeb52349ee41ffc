// /dev for the container, as runc builds it for Docker's default spec.

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "builder/sandbox/internal/mount_stubs.h"
#include "builder/sandbox/internal/mounts.h"

namespace cbuild::builder::internal {

namespace {

// Bound in from the host rather than made with mknod, which a user namespace refuses.
constexpr const char* k_devices[] = {"null", "zero", "full", "random", "urandom", "tty"};

struct DevLink {
    const char* name;
    const char* target;
};
constexpr DevLink k_links[] = {{"ptmx", "pts/ptmx"},
                               {"fd", "/proc/self/fd"},
                               {"stdin", "/proc/self/fd/0"},
                               {"stdout", "/proc/self/fd/1"},
                               {"stderr", "/proc/self/fd/2"}};

bool join(ChildState& state, const PathBuffer& dir, std::string_view name, PathBuffer& out) noexcept {
    if (out.assign(dir.view()) && out.append_component(name)) return true;
    errno = ENAMETOOLONG;
    return state.fail("join", dir.view());
}

bool make_dir(ChildState& state, const PathBuffer& dev, std::string_view name, PathBuffer& out) noexcept {
    if (!join(state, dev, name, out)) return false;
    if (mkdir(out.c_str(), 0755) != 0) return state.fail("mkdir", out.view());
    return true;
}

}  // namespace

bool mount_dev(ChildState& state) noexcept {
    PathBuffer dev;
    if (!make_mount_point(state, "/dev", true, true, dev) ||
        !mount_filesystem(state, "tmpfs", dev.c_str(), "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"))
        return false;
    PathBuffer path;
    PathBuffer host;
    for (const char* name : k_devices) {
        if (!join(state, dev, name, path)) return false;
        const int fd = open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
        if (fd < 0) return state.fail("open", path.view());
        close(fd);
        host.assign("/dev/");
        host.append(name);
        if (!bind_mount(state, host.c_str(), path.c_str(), false)) return false;
    }
    // gid 5 is the tty group of Docker's spec; a user namespace may map only the caller's group.
    const char* pts_options =
        state.plan.tty_group ? "newinstance,ptmxmode=0666,mode=0620,gid=5" : "newinstance,ptmxmode=0666,mode=0620";
    if (!make_dir(state, dev, "pts", path) ||
        !mount_filesystem(state, "devpts", path.c_str(), "devpts", MS_NOSUID | MS_NOEXEC, pts_options))
        return false;
    if (!make_dir(state, dev, "shm", path) ||
        !mount_filesystem(state, "shm", path.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                          state.plan.shm_options.c_str()))
        return false;
    // POSIX message queues are optional: without them the directory goes again.
    if (!make_dir(state, dev, "mqueue", path)) return false;
    if (mount("mqueue", path.c_str(), "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) rmdir(path.c_str());
    for (const DevLink& link : k_links) {
        if (!join(state, dev, link.name, path)) return false;
        if (symlink(link.target, path.c_str()) != 0) return state.fail("symlink", path.view());
    }
    return true;
}

}  // namespace cbuild::builder::internal
