#include "builder/sandbox/internal/child_plan.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>

namespace cbuild::builder::internal {

namespace {

namespace fs = std::filesystem;

const char* const k_check_step = "check the spec";
constexpr std::uint32_t k_tty_gid = 5;

// Whether this process's user namespace maps `gid`: /proc/self/gid_map's lines are "inside
// outside count" ranges (the initial namespace's one line maps every id).
bool gid_mapped(std::uint32_t gid) {
    std::ifstream map("/proc/self/gid_map");
    for (std::uint64_t inside = 0, outside = 0, count = 0; map >> inside >> outside >> count;)
        if (gid >= inside && gid - inside < count) return true;
    return false;
}

// "deny" in /proc/self/setgroups: a user namespace whose gid_map an unprivileged process wrote.
bool setgroups_allowed() {
    std::ifstream file("/proc/self/setgroups");
    std::string value;
    return !(file >> value) || value != "deny";
}

struct stat stat_or_throw(const fs::path& path, bool follow) {
    struct stat info {};
    if ((follow ? ::stat(path.c_str(), &info) : ::lstat(path.c_str(), &info)) != 0)
        throw SandboxError(k_check_step, follow ? "stat" : "lstat", path.string(), errno);
    return info;
}

void require_directory(const fs::path& path) {
    if (!S_ISDIR(stat_or_throw(path, true).st_mode)) throw SandboxError(k_check_step, "stat", path.string(), ENOTDIR);
}

// overlayfs needs a lower dir: FROM scratch gets an empty one.
std::vector<fs::path> checked_lowers(const std::vector<fs::path>& lowers, const std::string& empty_dir) {
    for (const fs::path& lower : lowers) require_directory(lower);
    return lowers.empty() ? std::vector<fs::path>{empty_dir} : lowers;
}

std::string octal(std::uint32_t value) {
    std::string digits;
    do {
        digits.insert(digits.begin(), static_cast<char>('0' + (value & 7)));
        value >>= 3;
    } while (value);
    return "0" + digits;
}

void add_staged_file(ChildPlan& plan, const std::string& target, std::string name, std::string contents,
                     std::uint32_t mode, std::uint32_t uid, std::uint32_t gid) {
    StagedFile file{plan.staging + "/" + std::move(name), std::move(contents), mode, uid, gid};
    PlannedMount mount;
    mount.target = target;
    mount.source = file.path;
    mount.directory = false;
    mount.read_only = true;
    plan.staged.push_back(std::move(file));
    plan.mounts.push_back(std::move(mount));
}

void plan_mount(ChildPlan& plan, const SandboxMount& mount, std::size_t index) {
    if (mount.target.empty() || mount.target[0] != '/' || mount.target.find_first_not_of('/') == std::string::npos)
        throw SandboxError("sandbox: mount target `" + mount.target + "` is not an absolute path below /");
    const std::string name = std::to_string(index);
    PlannedMount out;
    out.target = mount.target;
    switch (mount.type) {
    case SandboxMount::Type::bind: {
        const struct stat info = stat_or_throw(mount.source, true);
        out.source = mount.source.string();
        out.directory = S_ISDIR(info.st_mode);
        out.read_only = mount.read_only;
        break;
    }
    case SandboxMount::Type::overlay_readonly:
    case SandboxMount::Type::overlay_scratch: {
        if (mount.type == SandboxMount::Type::overlay_readonly && mount.lowers.empty())
            throw SandboxError("sandbox: read-only overlay at `" + mount.target + "` has no lowers");
        const std::string dir = plan.staging + "/overlay-" + name;
        out.how = PlannedMount::How::overlay;
        out.overlay_mount_point = dir + "/mnt";
        out.subpath = mount.subpath;
        out.scratch_dirs = {dir, out.overlay_mount_point};
        if (mount.type == SandboxMount::Type::overlay_readonly) {
            out.overlay.emplace(out.overlay_mount_point, checked_lowers(mount.lowers, plan.empty_dir));
        } else {
            out.scratch_dirs.insert(out.scratch_dirs.end(), {dir + "/upper", dir + "/work"});
            out.overlay.emplace(out.overlay_mount_point, checked_lowers(mount.lowers, plan.empty_dir), dir + "/upper",
                                dir + "/work");
        }
        break;
    }
    case SandboxMount::Type::tmpfs:
        out.how = PlannedMount::How::tmpfs;
        if (mount.mode != 0) out.options = "mode=" + octal(mount.mode);
        if (mount.size_limit > 0)
            out.options += (out.options.empty() ? "size=" : ",size=") + std::to_string(mount.size_limit);
        break;
    case SandboxMount::Type::file:
        add_staged_file(plan, mount.target, "file-" + name, mount.contents, mount.mode ? mount.mode : 0400, mount.uid,
                        mount.gid);
        return;
    case SandboxMount::Type::socket:
        if (!S_ISSOCK(stat_or_throw(mount.source, false).st_mode))
            throw SandboxError(k_check_step, "lstat", mount.source.string(), ENOTSOCK);
        out.source = mount.source.string();
        out.directory = false;
        break;
    }
    plan.mounts.push_back(std::move(out));
}

// Go's exec.LookPath over the PATH the process will get: an empty entry is the working directory.
std::vector<std::string> exec_candidates(const std::string& command, const std::vector<std::string>& env) {
    if (command.find('/') != std::string::npos) return {command};
    const auto path = std::find_if(env.begin(), env.end(), [](const std::string& e) { return e.rfind("PATH=", 0) == 0; });
    if (path == env.end() || command.empty()) return {};
    std::vector<std::string> out;
    const std::string dirs = path->substr(5);
    for (std::size_t start = 0;;) {
        const std::size_t end = dirs.find(':', start);
        const std::string dir = dirs.substr(start, end == std::string::npos ? std::string::npos : end - start);
        out.push_back((dir.empty() ? "." : dir) + "/" + command);
        if (end == std::string::npos) return out;
        start = end + 1;
    }
}

}  // namespace

ChildPlan plan_child(const SandboxSpec& spec, const fs::path& root, const fs::path& staging, bool rootless) {
    if (spec.args.empty()) throw SandboxError("sandbox: no command to run");
    if (spec.cwd.empty() || spec.cwd[0] != '/')
        throw SandboxError("sandbox: working directory `" + spec.cwd + "` is not absolute");
    const bool overlay = spec.rootfs.empty();
    if (!overlay && (!spec.lowers.empty() || !spec.upper.empty() || !spec.work.empty()))
        throw SandboxError("sandbox: set either rootfs or lowers, upper and work");
    if (overlay && (spec.upper.empty() || spec.work.empty()))
        throw SandboxError("sandbox: an overlay root needs upper and work directories");

    ChildPlan plan;
    plan.root = root.string();
    plan.staging = staging.string();
    plan.empty_dir = plan.staging + "/empty";
    plan.rootless = rootless;
    if (overlay) {
        require_directory(spec.upper);
        require_directory(spec.work);
        plan.root_overlay.emplace(root, checked_lowers(spec.lowers, plan.empty_dir), spec.upper, spec.work);
        plan.upper = spec.upper.string();
    } else {
        require_directory(spec.rootfs);
        plan.rootfs = spec.rootfs.string();
    }

    // BuildKit mounts resolv.conf and hosts read-only, before the RUN's own mounts.
    if (!spec.resolv_conf.empty()) add_staged_file(plan, "/etc/resolv.conf", "resolv.conf", spec.resolv_conf, 0644, 0, 0);
    if (!spec.hosts.empty()) add_staged_file(plan, "/etc/hosts", "hosts", spec.hosts, 0644, 0, 0);
    if (!spec.hostname.empty()) add_staged_file(plan, "/etc/hostname", "hostname", spec.hostname + "\n", 0644, 0, 0);
    for (std::size_t i = 0; i < spec.mounts.size(); ++i) plan_mount(plan, spec.mounts[i], i);

    plan.hostname = spec.hostname;
    plan.new_network = spec.network == SandboxNetwork::none;
    if (spec.shm_size < 0) throw SandboxError("sandbox: negative /dev/shm size " + std::to_string(spec.shm_size));
    plan.shm_options = "mode=1777,size=" + (spec.shm_size ? std::to_string(spec.shm_size) : std::string("65536k"));
    plan.rlimits = spec.rlimits;
    if (rootless) {
        plan.uid_map = "0 " + std::to_string(geteuid()) + " 1\n";
        plan.gid_map = "0 " + std::to_string(getegid()) + " 1\n";
    }
    plan.tty_group = !rootless && gid_mapped(k_tty_gid);
    plan.set_groups = !rootless && setgroups_allowed();
    plan.cwd = spec.cwd;
    plan.uid = spec.uid;
    plan.gid = spec.gid;
    plan.groups.push_back(spec.gid);
    for (const std::uint32_t gid : spec.additional_gids)
        if (std::find(plan.groups.begin(), plan.groups.end(), gid) == plan.groups.end()) plan.groups.push_back(gid);
    plan.command = spec.args[0];
    plan.exec_candidates = exec_candidates(spec.args[0], spec.env);
    for (const std::string& arg : spec.args) plan.argv.push_back(arg.c_str());
    plan.argv.push_back(nullptr);
    for (const std::string& entry : spec.env) plan.envp.push_back(entry.c_str());
    plan.envp.push_back(nullptr);
    return plan;
}

}  // namespace cbuild::builder::internal
