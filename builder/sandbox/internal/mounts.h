#pragma once
// The sandbox child's mounts, all made under the new root before pivot_root: the standard
// filesystems (/proc, /dev, /sys) and the planned mounts. Child side: no allocation, failures go
// through ChildState::fail.

#include "builder/sandbox/internal/container_init.h"

namespace cbuild::builder::internal {

// mount(2), failing as "mount(<type>)" on `target`.
bool mount_filesystem(ChildState& state, const char* source, const char* target, const char* type,
                      unsigned long flags, const char* data) noexcept;

// A recursive bind mount, made read-only when asked, keeping the flags the kernel locks (nosuid,
// nodev, noexec, atime) so the remount is also allowed in a user namespace.
bool bind_mount(ChildState& state, const char* source, const char* target, bool read_only) noexcept;

// The overlay of the container's root at plan.root, or the bind mount of plan.rootfs there.
bool mount_root(ChildState& state) noexcept;

// A fresh /proc for the new PID namespace.
bool mount_proc(ChildState& state) noexcept;

// /sys read-only: sysfs, or where that is refused (a user namespace without its own network
// namespace) a read-only bind of the host's.
bool mount_sys(ChildState& state) noexcept;

// /dev as a tmpfs with the host's null, zero, full, random, urandom and tty bound in (mknod may be
// refused), pts, ptmx, shm, mqueue when allowed, and the fd/stdin/stdout/stderr links.
bool mount_dev(ChildState& state) noexcept;

// One planned mount, its mount point made first.
bool apply_mount(ChildState& state, const PlannedMount& mount) noexcept;

}  // namespace cbuild::builder::internal
