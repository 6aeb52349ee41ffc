#pragma once
// A SandboxSpec turned, in the parent, into everything the child needs: host paths, mount data
// strings, argv and envp, the exec candidates along PATH. The child only reads it and makes system
// calls, because after clone in a threaded process it must not allocate.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "builder/sandbox/sandbox.h"
#include "builder/snapshot/overlay_mount.h"

namespace cbuild::builder::internal {

struct PlannedMount {
    enum class How { bind, overlay, tmpfs };
    How how = How::bind;
    std::string target;   // absolute, inside the container
    std::string source;   // bind: a host path (for files and /etc files, one in the staging tmpfs)
    // overlay: prepared here, mounted by the child on a directory in its staging tmpfs (the target's
    // symlinks resolve only there), then moved onto the target.
    std::optional<OverlayMount> overlay;
    std::string overlay_mount_point;
    std::string subpath;                    // overlay: the part of it that goes on `target`
    std::string options;                    // tmpfs mount data
    std::vector<std::string> scratch_dirs;  // made in the staging tmpfs first, in order
    bool directory = true;   // the mount point is a directory, else an empty file
    bool read_only = false;  // bind
};

// A file the child writes into the staging tmpfs before mounting it (a secret, /etc/hosts).
struct StagedFile {
    std::string path;  // host path, in the staging tmpfs
    std::string contents;
    std::uint32_t mode = 0644;
    std::uint32_t uid = 0, gid = 0;
};

struct ChildPlan {
    std::string root;       // host path where the container's root is mounted
    std::string staging;    // host path where the child mounts its private tmpfs
    std::string empty_dir;  // in the staging tmpfs: an empty lower for overlays that have too few
    std::optional<OverlayMount> root_overlay;  // the root is this overlay on `root`…
    std::string rootfs;                        // …or a bind mount of this directory
    std::string upper;                 // overlay upper, to spot whiteouts a stub replaces ("" with rootfs)
    std::vector<StagedFile> staged;
    std::vector<PlannedMount> mounts;  // the /etc files, then the spec's mounts, in order
    std::string hostname;
    bool new_network = false;
    std::string shm_options;                // the /dev/shm tmpfs mount data
    std::vector<SandboxRlimit> rlimits;
    bool rootless = false;  // in a new user namespace mapping the caller to root
    // Where cbuild already runs in a user namespace (rootless cbuild), it may map too few ids:
    bool tty_group = true;   // gid 5, Docker's tty group, is mapped: devpts gets gid=5
    bool set_groups = true;  // setgroups(2) is allowed (a namespace of one id made unprivileged denies it)
    std::string uid_map, gid_map;
    std::string cwd;
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // setgroups(2): gid first, then the additional gids
    std::string command;        // args[0], for the not-found message
    std::vector<std::string> exec_candidates;  // args[0] as is, or each PATH directory joined with it
    std::vector<const char*> argv, envp;        // NULL-terminated, pointing into the spec
    int status_fd = -1, output_fd = -1;         // the child's ends of the pipes
};

// Checks the spec (lowers, upper, work, rootfs and mount sources exist; targets are absolute;
// args are not empty) and plans the child. `root` and `staging` are empty directories the child
// mounts on. Throws SandboxError.
ChildPlan plan_child(const SandboxSpec& spec, const std::filesystem::path& root, const std::filesystem::path& staging,
                     bool rootless);

}  // namespace cbuild::builder::internal
