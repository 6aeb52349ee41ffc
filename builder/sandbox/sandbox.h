#pragma once
// The RUN sandbox: one process tree in a root filesystem made of overlay snapshots, in new mount,
// PID, IPC and UTS namespaces (and a network namespace on request), with mounts, as a user. It
// knows nothing of plans, caches or Dockerfiles (BuildKit's executor); the design is in
// ARCHITECTURE.md, "The sandbox".

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace cbuild::builder {

// The sandbox could not be set up. The message names the setup step, the failing call and its
// path: "sandbox: mount /proc: mount(proc) `/proc`: Operation not permitted". A spec the sandbox
// cannot run (no args, a relative target) has error_number() 0 and an empty call().
class SandboxError : public Error {
public:
    SandboxError(std::string step, std::string call, std::string path, int error_number);
    explicit SandboxError(const std::string& message);

    const std::string& step() const { return m_step; }
    const std::string& call() const { return m_call; }
    const std::string& path() const { return m_path; }
    int error_number() const { return m_error_number; }

private:
    std::string m_step;
    std::string m_call;
    std::string m_path;
    int m_error_number = 0;
};

// One mount of the container, applied after the standard ones (see the types below the struct).
struct SandboxMount {
    enum class Type { bind, overlay_readonly, overlay_scratch, tmpfs, file, socket };
    Type type = Type::bind;
    std::string target;                         // absolute path inside the container
    std::filesystem::path source;               // bind / socket: host path
    std::vector<std::filesystem::path> lowers;  // overlay_*: snapshot dirs, top first
    std::string subpath;  // overlay_*: only this path inside the merged lowers (source=); "" for all
    bool read_only = true;                      // bind
    std::string contents;   // file: bytes placed in a private tmpfs, then bind-mounted (secrets)
    std::uint32_t mode = 0;  // file (default 0400) / tmpfs root; 0 means default. A bind's source
                             // (a cache directory) is the caller's to prepare, as BuildKit does on creation
    std::uint32_t uid = 0, gid = 0;  // file owner
    std::int64_t size_limit = 0;     // tmpfs; 0 means the kernel's default
};
// overlay_readonly: a read-only view of `lowers` (RUN --mount=type=bind,from=stage). overlay_scratch:
// the same but writable, writes going to a tmpfs upper that is thrown away (bind,rw from a stage or
// the context). tmpfs: fresh. file: a secret that never touches disk: written into a tmpfs private
// to the container's mount namespace, then bind-mounted read-only onto target. socket: a unix
// socket (ssh agent) bind-mounted as it is; its own owner and mode apply.

// host: cbuild's own network namespace; none: a new one with only the loopback interface, up.
enum class SandboxNetwork { host, none };

// One resource limit of the command (setrlimit(2) in the container before exec, as runc applies
// `process.rlimits`): an RLIMIT_* number and its values, RLIM_INFINITY for unlimited.
struct SandboxRlimit {
    int resource = 0;
    std::uint64_t soft = 0;
    std::uint64_t hard = 0;
    friend bool operator==(const SandboxRlimit&, const SandboxRlimit&) = default;
};

// What to run, on which root filesystem, as whom, with what around it.
struct SandboxSpec {
    std::vector<std::filesystem::path> lowers;  // the image so far, top first (may be empty: FROM scratch)
    std::filesystem::path upper, work;          // overlay upper/work (empty dirs on one filesystem)
    std::filesystem::path rootfs;               // instead of lowers/upper/work: an already-complete
                                                // directory used as the root (no overlayfs needed)
    std::vector<std::string> args;  // argv; args[0] without '/' is looked up in the PATH of `env`
    std::vector<std::string> env;   // NAME=VALUE, exactly what the process gets
    std::string cwd = "/";  // created as root, 0755, if missing (BuildKit), and kept; entered as root
                            // first, then as the user if root was refused (runc)
    std::uint32_t uid = 0, gid = 0;
    // Besides `gid`, which the process always keeps as a supplementary group (containerd's
    // ensureAdditionalGids).
    std::vector<std::uint32_t> additional_gids;
    std::string hostname;     // UTS hostname, also in /etc/hostname; empty: the host's, no file
    std::string hosts;        // /etc/hosts contents; empty: the image's file is left visible
    std::string resolv_conf;  // /etc/resolv.conf contents; empty: the image's file is left visible
    SandboxNetwork network = SandboxNetwork::host;
    std::int64_t shm_size = 0;          // bytes of the /dev/shm tmpfs; 0: 64 MiB, Docker's default
    std::vector<SandboxRlimit> rlimits;  // set in the container; a failing setrlimit fails the setup
    std::vector<SandboxMount> mounts;  // applied in order, after the standard ones
    std::optional<std::chrono::milliseconds> timeout;
    std::function<void(std::string_view)> output;  // stdout+stderr chunks as they come (may be empty)
    // Polled with the cancellation checks (every 50 ms, from the first): true kills the tree and
    // the result is `cancelled`. How a caller stops a step for its own reasons (the build was
    // interrupted before this run began, another step failed).
    std::function<bool()> should_stop;
};

// How the process tree ended.
struct SandboxResult {
    int exit_status = 0;      // the process's exit code; 128+signal when killed by a signal
    bool timed_out = false;
    bool cancelled = false;   // request_cancel() was called while it ran
    std::string output_tail;  // the last 32 KiB of combined output (for error messages)
};

// Runs spec.args to completion and kills whatever it left running; a missing executable is exit
// status 127 with the reason in the output. Mount points it had to create in the image are removed
// again when still empty, so they stay out of the layer. Throws SandboxError when the sandbox cannot
// be set up; a non-zero exit is a result, not a throw. An exception thrown by spec.output is
// rethrown after the process tree is killed and everything is cleaned up. As root of a user
// namespace (rootless cbuild) it runs as for root, the overlay mounted with userxattr and /sys
// bound from the host when the network namespace is not its own; a uid or gid the namespace does
// not map fails the setup, and where it maps one id only, additional_gids are not set. Without
// root it runs in a new user namespace that maps only the caller, as root: uid, gid and
// additional_gids other than 0 fail or are ignored, and the root must be `rootfs`.
SandboxResult run_in_sandbox(const SandboxSpec& spec);

// Async-signal-safe: makes every run_in_sandbox running at the time kill its process tree and
// return `cancelled` (within about 50 ms). cli installs SIGINT/SIGTERM handlers that call it.
void request_cancel() noexcept;

// Whether request_cancel() has been called in this process; it stays true. A run that starts after
// the request is not cancelled, so callers check this before starting one.
bool cancel_requested() noexcept;

}  // namespace cbuild::builder
