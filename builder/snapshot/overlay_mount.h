#pragma once
// Mounting snapshots as an overlay: the lower dirs (top first) merged read-only, or with an
// upper and a work dir where a RUN step writes. Meant for a sandbox's own mount namespace.

#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"

namespace cbuild::builder {

// The mount(2) data for an overlay: "lowerdir=A:B:C" (top first), then ",upperdir=U,workdir=W"
// and the options that keep the upper dir a plain diff (no redirect_dir, no metacopy, no
// index) when `upper` is not empty; in a user namespace (not the initial one) also "userxattr",
// so that overlayfs reads and writes user.overlay.* xattrs, and redirect_dir=nofollow, the only
// value userxattr allows that makes no redirects. `\`, `:` and `,` in a path are escaped with
// `\`, as overlayfs's option parser expects.
std::string overlay_mount_options(const std::vector<std::filesystem::path>& lowers,
                                  const std::filesystem::path& upper = {}, const std::filesystem::path& work = {});

// Which kernel interface mounts the overlay.
enum class MountApi {
    // fsopen("overlay") with one fsconfig "lowerdir+" per layer (Linux 6.8+, no limit on the
    // number of layers), else mount(2).
    automatic,
    // mount(2) with overlay_mount_options(), limited to one page of options.
    legacy,
};

// An overlay mount prepared in full before it is made, so that mount() only makes system calls:
// safe in the child of a fork() from a multithreaded process, where allocating is not.
class OverlayMount {
public:
    // Without an upper dir the mount is read-only; with exactly one lower it is then a
    // read-only bind mount of that dir, since overlayfs needs two lowers without an upper.
    // Throws Error when `lowers` is empty or only one of `upper` and `work` is given.
    OverlayMount(std::filesystem::path target, std::vector<std::filesystem::path> lowers,
                 std::filesystem::path upper = {}, std::filesystem::path work = {});

    // Mounts it on the target: 0, or the errno of the call that failed (E2BIG when the legacy
    // options do not fit in a page). Allocates nothing, throws nothing, and leaves nothing
    // mounted on failure.
    int mount(MountApi api = MountApi::automatic) const noexcept;

private:
    int mount_new_api() const noexcept;
    int mount_legacy() const noexcept;
    int bind_read_only() const noexcept;

    std::string m_target;
    std::vector<std::string> m_lowers;
    std::string m_upper;
    std::string m_work;
    std::string m_options;
    bool m_userxattr = false;  // in a user namespace: known before a fork, after which files are not read
};

// Prepares and makes an overlay mount on `target` in one call (OverlayMount::mount with
// MountApi::automatic); empty `upper` and `work` mean read-only. Returns 0 or an errno, EINVAL
// for arguments OverlayMount rejects; throws nothing. It allocates: after a fork() from a
// multithreaded process, prepare an OverlayMount before forking instead.
int mount_overlay(const std::filesystem::path& target, const std::vector<std::filesystem::path>& lowers,
                  const std::filesystem::path& upper, const std::filesystem::path& work) noexcept;

}  // namespace cbuild::builder
