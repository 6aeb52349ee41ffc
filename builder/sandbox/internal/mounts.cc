#include "builder/sandbox/internal/mounts.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>

#include "builder/sandbox/internal/mount_stubs.h"

namespace cbuild::builder::internal {

namespace {

bool fail_mount(ChildState& state, std::string_view what, std::string_view target) noexcept {
    const int error = errno;
    PathBuffer call;
    call.assign("mount(");
    call.append(what);
    call.append(")");
    errno = error;
    return state.fail(call.view(), target);
}

// The flags a bind remount must repeat: the kernel refuses to clear them in a user namespace.
unsigned long locked_flags(const struct statfs& info) noexcept {
    unsigned long flags = 0;
    if (info.f_flags & ST_NOSUID) flags |= MS_NOSUID;
    if (info.f_flags & ST_NODEV) flags |= MS_NODEV;
    if (info.f_flags & ST_NOEXEC) flags |= MS_NOEXEC;
    if (info.f_flags & ST_NOATIME) flags |= MS_NOATIME;
    if (info.f_flags & ST_NODIRATIME) flags |= MS_NODIRATIME;
    if (info.f_flags & ST_RELATIME) flags |= MS_RELATIME;
    return flags;
}

// The overlay goes up in the staging tmpfs first; then all of it is moved onto the target, or
// the subpath (resolved inside the overlay) is bound there, as a file or a directory.
bool mount_overlay_part(ChildState& state, const PlannedMount& planned, PathBuffer& target) noexcept {
    const char* mount_point = planned.overlay_mount_point.c_str();
    if (const int error = planned.overlay->mount()) {
        errno = error;
        return state.fail("mount(overlay)", mount_point);
    }
    if (planned.subpath.empty())
        return make_mount_point(state, planned.target, true, true, target) &&
               (::mount(mount_point, target.c_str(), nullptr, MS_MOVE, nullptr) == 0 ||
                fail_mount(state, "move", target.view()));
    const int overlay_fd = open(mount_point, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (overlay_fd < 0) return state.fail("open", mount_point);
    PathBuffer inside;
    PathBuffer source;
    struct stat info {};
    const int error = resolve_in_root(overlay_fd, planned.subpath, inside);
    const bool found = error == 0 && fstatat(overlay_fd, inside.c_str(), &info, AT_EMPTY_PATH) == 0;
    const int stat_error = error != 0 ? error : errno;
    close(overlay_fd);
    if (!found) {
        errno = stat_error;
        return state.fail("stat", planned.subpath);
    }
    source.assign(planned.overlay_mount_point);
    source.append_component(inside.view());
    return make_mount_point(state, planned.target, S_ISDIR(info.st_mode), true, target) &&
           bind_mount(state, source.c_str(), target.c_str(), false);
}

}  // namespace

bool mount_filesystem(ChildState& state, const char* source, const char* target, const char* type,
                      unsigned long flags, const char* data) noexcept {
    if (mount(source, target, type, flags, data) == 0) return true;
    return fail_mount(state, type, target);
}

bool bind_mount(ChildState& state, const char* source, const char* target, bool read_only) noexcept {
    if (mount(source, target, nullptr, MS_BIND | MS_REC, nullptr) != 0) return fail_mount(state, "bind", target);
    if (!read_only) return true;
    struct statfs info {};
    if (statfs(target, &info) != 0) return state.fail("statfs", target);
    if (mount(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(info), nullptr) != 0)
        return fail_mount(state, "remount,ro", target);
    return true;
}

bool mount_root(ChildState& state) noexcept {
    const ChildPlan& plan = state.plan;
    const char* root = plan.root.c_str();
    if (!plan.rootfs.empty()) {
        if (mount(plan.rootfs.c_str(), root, nullptr, MS_BIND | MS_REC, nullptr) != 0)
            return fail_mount(state, "bind", root);
    } else if (const int error = plan.root_overlay->mount()) {
        errno = error;
        return state.fail("mount(overlay)", root);
    }
    state.root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (state.root_fd < 0) return state.fail("open", root);
    struct statx info {};
    if (statx(state.root_fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &info) != 0) return state.fail("statx", root);
    state.root_mount_id = info.stx_mnt_id;
    return true;
}

bool mount_proc(ChildState& state) noexcept {
    PathBuffer proc;
    return make_mount_point(state, "/proc", true, true, proc) &&
           mount_filesystem(state, "proc", proc.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
}

bool mount_sys(ChildState& state) noexcept {
    PathBuffer sys;
    if (!make_mount_point(state, "/sys", true, true, sys)) return false;
    if (mount("sysfs", sys.c_str(), "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0) return true;
    return bind_mount(state, "/sys", sys.c_str(), true);
}

bool apply_mount(ChildState& state, const PlannedMount& planned) noexcept {
    for (const std::string& dir : planned.scratch_dirs)
        if (mkdir(dir.c_str(), 0755) != 0) return state.fail("mkdir", dir);
    PathBuffer target;
    switch (planned.how) {
    case PlannedMount::How::bind:
        return make_mount_point(state, planned.target, planned.directory, true, target) &&
               bind_mount(state, planned.source.c_str(), target.c_str(), planned.read_only);
    case PlannedMount::How::overlay: return mount_overlay_part(state, planned, target);
    case PlannedMount::How::tmpfs:
        return make_mount_point(state, planned.target, true, true, target) &&
               mount_filesystem(state, "tmpfs", target.c_str(), "tmpfs", MS_NOSUID,
                                planned.options.empty() ? nullptr : planned.options.c_str());
    }
    return true;
}

}  // namespace cbuild::builder::internal
