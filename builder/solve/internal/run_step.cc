// RUN's command line, environment, user and mounts, following BuildKit's dockerfile2llb
// (dispatchRun, runmount.go) and its executor (the hosts file, the default PATH).

#include "builder/solve/internal/run_step.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <map>
#include <sstream>

#include "builder/sandbox/user.h"
#include "builder/snapshot/internal/image_path.h"
#include "common/digest.h"
#include "common/error.h"
#include "parser/ast.h"

namespace cbuild::builder::internal {

namespace {

constexpr const char* k_default_path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr const char* k_hostname = "buildkitsandbox";
constexpr std::uint64_t k_max_account_file = 4 << 20;

std::string env_name(const std::string& entry) { return entry.substr(0, entry.find('=')); }

bool has_env(const std::vector<std::string>& env, const std::string& name) {
    for (const std::string& entry : env)
        if (env_name(entry) == name) return true;
    return false;
}

std::string join(const std::vector<std::string>& words, const std::string& separator) {
    std::string out;
    for (const std::string& word : words) out += (out.empty() ? "" : separator) + word;
    return out;
}

std::string image_env_value(const std::vector<std::string>& env, const std::string& name, bool& found) {
    for (const std::string& entry : env) {
        if (env_name(entry) != name) continue;
        found = true;
        const std::size_t equals = entry.find('=');
        return equals == std::string::npos ? "" : entry.substr(equals + 1);
    }
    found = false;
    return "";
}

// BuildKit's runCommandString: `|N NAME=VALUE … ARGS`, a declared ARG's value taken from the
// stage's ENV when it has one of the same name.
std::string run_history(const std::vector<std::string>& args, const std::vector<parser::ArgDefinition>& declared,
                        const std::vector<std::string>& image_env) {
    std::vector<std::string> build_env;
    std::map<std::string, std::size_t> positions;
    for (const parser::ArgDefinition& arg : declared) {
        bool found = false;
        std::string value = image_env_value(image_env, arg.key, found);
        if (!found) value = arg.value.value_or("");
        const std::string entry = arg.key + "=" + value;
        if (const auto it = positions.find(arg.key); it != positions.end()) {
            build_env[it->second] = entry;
        } else {
            positions[arg.key] = build_env.size();
            build_env.push_back(entry);
        }
    }
    std::vector<std::string> words;
    if (!build_env.empty()) {
        words.push_back("|" + std::to_string(build_env.size()));
        words.insert(words.end(), build_env.begin(), build_env.end());
    }
    words.insert(words.end(), args.begin(), args.end());
    return "RUN " + join(words, " ") + " # buildkit";
}

// The argv of the step (BuildKit's dispatchRun): exec form as written; shell form behind the
// stage's SHELL; a lone heredoc with a shebang is run as a file mounted under /dev/pipes, a lone
// heredoc without one is given to the shell as its script, and heredocs inside a longer command
// are put back after it for the shell to read.
std::vector<std::string> command_args(const parser::RunInstruction& run, const StageImage& image,
                                      std::vector<SandboxMount>& mounts) {
    const std::vector<std::string>& written = run.command.arguments;
    if (!run.command.prepend_shell) return written;
    std::vector<std::string> args =
        image.config.config.shell.empty() ? std::vector<std::string>{"/bin/sh", "-c"} : image.config.config.shell;
    if (run.heredocs.empty()) {
        args.push_back(join(written, " "));
        return args;
    }
    const std::string command = join(written, " ");
    if (written.size() == 1 && parser::parse_heredoc(command)) {
        const parser::InlineFile& script = run.heredocs.front();
        const std::string data = script.content();
        if (data.rfind("#!", 0) == 0) {
            SandboxMount file;
            file.type = SandboxMount::Type::file;
            file.target = "/dev/pipes/" + script.name;
            file.contents = data;
            file.mode = 0755;
            mounts.push_back(std::move(file));
            return {"/dev/pipes/" + script.name};
        }
        args.push_back(data);
        return args;
    }
    std::string full = command;
    for (const parser::InlineFile& file : run.heredocs) full += "\n" + file.data + file.name;
    args.push_back(full);
    return args;
}

std::string read_host_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// The host's resolver configuration, as BuildKit copies it into the sandbox; Google's public
// servers when the host has none (BuildKit's default too).
std::string resolv_conf() {
    std::string text = read_host_file("/etc/resolv.conf");
    if (text.find("nameserver") == std::string::npos) text += "nameserver 8.8.8.8\nnameserver 8.8.4.4\n";
    return text;
}

// Holds an flock() on a cache mount's lock file while the step runs.
class HeldLock {
public:
    explicit HeldLock(int fd) : m_fd(fd) {}
    ~HeldLock() { ::close(m_fd); }
    HeldLock(const HeldLock&) = delete;
    HeldLock& operator=(const HeldLock&) = delete;

private:
    int m_fd;
};

int open_lock(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) throw IoError(path.string(), "open", errno);
    return fd;
}

void make_cache_directory(const std::filesystem::path& dir, const parser::Mount& mount) {
    if (::mkdir(dir.c_str(), 0755) != 0) {
        if (errno == EEXIST) return;
        throw IoError(dir.string(), "mkdir", errno);
    }
    // A new cache directory takes the mount's owner and mode (BuildKit applies them on creation).
    if (::chown(dir.c_str(), mount.uid.value_or(0), mount.gid.value_or(0)) != 0 && geteuid() == 0)
        throw IoError(dir.string(), "chown", errno);
    if (::chmod(dir.c_str(), mount.mode.value_or(0755)) != 0) throw IoError(dir.string(), "chmod", errno);
}

// A persistent cache directory for `id=`: shared ones are used by every step at once, locked ones
// one step at a time, and a private one gets a directory of its own while another holds it.
SandboxMount cache_mount(const parser::Mount& mount, const RunInputs& inputs, PreparedRun& prepared) {
    if (!mount.from.empty())
        throw Error("cache mount `" + mount.target + "`: seeding a cache mount from= a stage or image is not supported");
    std::filesystem::create_directories(inputs.cache_mounts_dir);
    const std::string id = mount.cache_id.empty() ? mount.target : mount.cache_id;
    const std::string key = sha256_of(id).hex();
    const parser::CacheSharing sharing = mount.sharing.value_or(parser::CacheSharing::shared);
    std::filesystem::path dir = inputs.cache_mounts_dir / key;
    if (sharing == parser::CacheSharing::locked) {
        const int fd = open_lock(inputs.cache_mounts_dir / (key + ".lock"));
        prepared.held.push_back(std::make_shared<HeldLock>(fd));
        if (::flock(fd, LOCK_EX) != 0) throw IoError(dir.string() + ".lock", "flock", errno);
    } else if (sharing == parser::CacheSharing::private_) {
        for (int instance = 0;; ++instance) {
            const std::string name = instance == 0 ? key : key + "-" + std::to_string(instance);
            const int fd = open_lock(inputs.cache_mounts_dir / (name + ".lock"));
            auto lock = std::make_shared<HeldLock>(fd);
            if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
                prepared.held.push_back(std::move(lock));
                dir = inputs.cache_mounts_dir / name;
                break;
            }
            if (errno != EWOULDBLOCK) throw IoError(name + ".lock", "flock", errno);
        }
    }
    make_cache_directory(dir, mount);
    SandboxMount out;
    out.type = SandboxMount::Type::bind;
    out.target = mount.target;
    out.source = dir;
    out.read_only = mount.read_only;
    return out;
}

std::string secret_value(const std::string& id, const SolveOptions& options) {
    const auto it = options.secrets.find(id);
    if (it == options.secrets.end()) return {};
    if (!it->second.env.empty()) {
        const char* value = std::getenv(it->second.env.c_str());
        return value ? value : "";
    }
    std::ifstream in(it->second.file, std::ios::binary);
    if (!in) throw IoError(it->second.file.string(), "open", errno);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// dispatchSecret: the id defaults to the target's base name, the target to /run/secrets/ID.
void secret_mount(const parser::Mount& mount, const RunInputs& inputs, PreparedRun& prepared) {
    std::string id = mount.source.empty() ? mount.cache_id : mount.source;
    if (id.empty()) id = std::filesystem::path(mount.target).filename().string();
    if (!inputs.options.secrets.count(id)) {
        if (mount.required) throw Error("secret " + id + " not found (pass it with --secret id=" + id + ",src=FILE)");
        return;
    }
    const std::string value = secret_value(id, inputs.options);
    if (mount.env) prepared.spec.env.push_back(*mount.env + "=" + value);
    if (mount.env && mount.target.empty()) return;
    SandboxMount out;
    out.type = SandboxMount::Type::file;
    out.target = mount.target.empty() ? "/run/secrets/" + std::filesystem::path(id).filename().string() : mount.target;
    out.contents = value;
    out.mode = mount.mode.value_or(0400);
    out.uid = mount.uid.value_or(0);
    out.gid = mount.gid.value_or(0);
    prepared.spec.mounts.push_back(std::move(out));
}

void ssh_mount(const parser::Mount& mount, std::size_t index, const RunInputs& inputs, PreparedRun& prepared) {
    if (!mount.source.empty()) throw Error("ssh does not support source");
    const std::string id = mount.cache_id.empty() ? "default" : mount.cache_id;
    const auto it = inputs.options.ssh_sockets.find(id);
    if (it == inputs.options.ssh_sockets.end()) {
        if (mount.required) throw Error("no SSH key " + id + " forwarded from the client (pass --ssh " + id + ")");
        return;
    }
    SandboxMount out;
    out.type = SandboxMount::Type::socket;
    out.target = mount.target.empty() ? "/run/buildkit/ssh_agent." + std::to_string(index) : mount.target;
    out.source = it->second;
    out.mode = mount.mode.value_or(0600);
    out.uid = mount.uid.value_or(0);
    out.gid = mount.gid.value_or(0);
    if (!has_env(prepared.spec.env, "SSH_AUTH_SOCK")) prepared.spec.env.push_back("SSH_AUTH_SOCK=" + out.target);
    prepared.spec.mounts.push_back(std::move(out));
}

// A bind mount: from the build context (a path inside it, never outside), or from a stage or
// image (an overlay of its snapshots). Writable binds keep their writes in a scratch upper
// that is thrown away.
void bind_mount(const parser::Mount& mount, const RunInputs& inputs, PreparedRun& prepared) {
    SandboxMount out;
    out.target = mount.target;
    const std::string source = clamp_path(mount.source);
    if (mount.from.empty()) {
        const std::filesystem::path host = source.empty() ? inputs.options.context_dir : inputs.options.context_dir / source;
        struct stat info {};
        if (::lstat(host.c_str(), &info) != 0)
            throw Error("bind mount source `" + mount.source + "` is not in the build context");
        if (S_ISLNK(info.st_mode))
            throw Error("bind mount source `" + mount.source + "` is a symlink, which cbuild does not follow out of the context");
        if (mount.read_only || !S_ISDIR(info.st_mode)) {
            out.type = SandboxMount::Type::bind;
            out.source = host;
            out.read_only = mount.read_only;
        } else {
            out.type = SandboxMount::Type::overlay_scratch;
            out.lowers = {host};
        }
    } else {
        out.type = mount.read_only ? SandboxMount::Type::overlay_readonly : SandboxMount::Type::overlay_scratch;
        out.lowers = inputs.source_lowers(mount);
        out.subpath = source;
    }
    prepared.spec.mounts.push_back(std::move(out));
}

}  // namespace

PreparedRun prepare_run(const parser::RunInstruction& run, const PlannedStep& step, const StageImage& image,
                        const RunInputs& inputs) {
    PreparedRun prepared;
    SandboxSpec& spec = prepared.spec;
    std::vector<SandboxMount> script_mounts;
    spec.args = command_args(run, image, script_mounts);
    prepared.created_by = run_history(spec.args, inputs.declared_args, image.config.config.env);

    spec.env = image.config.config.env;
    for (const std::string& entry : step.build_arg_environment)
        if (!has_env(spec.env, env_name(entry))) spec.env.push_back(entry);
    if (!has_env(spec.env, "PATH")) spec.env.insert(spec.env.begin(), k_default_path);

    const ResolvedUser user = resolve_user(image.config.config.user, image.tree.read_file("etc/passwd", k_max_account_file),
                                           image.tree.read_file("etc/group", k_max_account_file));
    spec.uid = user.uid;
    spec.gid = user.gid;
    spec.additional_gids = user.additional_gids;
    if (!has_env(spec.env, "HOME")) spec.env.push_back("HOME=" + user.home);
    spec.cwd = image.config.config.working_dir.empty() ? "/" : image.config.config.working_dir;

    spec.hostname = k_hostname;
    const RunOptions& defaults = inputs.options.run;
    spec.hosts = std::string("127.0.0.1\tlocalhost ") + k_hostname + "\n::1\tlocalhost ip6-localhost ip6-loopback\n";
    // BuildKit's executor appends --add-host entries after its own, one `IP<tab>host` line each.
    for (const auto& [host, ip] : defaults.extra_hosts) spec.hosts += ip + "\t" + host + "\n";
    spec.resolv_conf = resolv_conf();
    // `RUN --network=default` is the build's default, which --network sets (BuildKit).
    const parser::NetworkMode network = run.network == parser::NetworkMode::default_ ? defaults.network : run.network;
    spec.network = network == parser::NetworkMode::none ? SandboxNetwork::none : SandboxNetwork::host;
    spec.shm_size = defaults.shm_size;
    spec.rlimits = defaults.ulimits;
    if (run.security == parser::SecurityMode::insecure)
        throw Error("RUN --security=insecure needs the security.insecure entitlement, which cbuild does not grant");
    prepared.key_env = spec.env;
    prepared.sandbox_text = std::string("network=") +
                            (network == parser::NetworkMode::none   ? "none"
                             : network == parser::NetworkMode::host ? "host"
                                                                     : "default");
    // Only what was set, so a build without these flags keeps the keys it always had.
    for (const auto& [host, ip] : defaults.extra_hosts) prepared.sandbox_text += " add-host=" + host + "=" + ip;
    if (defaults.shm_size) prepared.sandbox_text += " shm-size=" + std::to_string(defaults.shm_size);
    for (const SandboxRlimit& limit : defaults.ulimits)
        prepared.sandbox_text += " ulimit=" + std::to_string(limit.resource) + ":" + std::to_string(limit.soft) + ":" +
                                 std::to_string(limit.hard);

    std::size_t ssh_index = 0;
    for (const parser::Mount& mount : run.mounts) {
        switch (mount.type) {
        case parser::MountType::bind: bind_mount(mount, inputs, prepared); break;
        case parser::MountType::cache: spec.mounts.push_back(cache_mount(mount, inputs, prepared)); break;
        case parser::MountType::tmpfs: {
            SandboxMount out;
            out.type = SandboxMount::Type::tmpfs;
            out.target = mount.target;
            out.size_limit = mount.size_limit;
            spec.mounts.push_back(std::move(out));
            break;
        }
        case parser::MountType::secret: secret_mount(mount, inputs, prepared); break;
        case parser::MountType::ssh: ssh_mount(mount, ssh_index++, inputs, prepared); break;
        }
    }
    for (SandboxMount& mount : script_mounts) spec.mounts.push_back(std::move(mount));
    return prepared;
}

std::string failed_process_message(const std::vector<std::string>& args, const SandboxResult& result) {
    std::string message = "process \"" + join(args, " ") + "\" did not complete successfully: ";
    if (result.cancelled) return message + "cancelled";
    if (result.timed_out) return message + "timed out";
    return message + "exit code: " + std::to_string(result.exit_status);
}

std::string last_lines(const std::string& output, std::size_t count) {
    std::size_t end = output.size();
    while (end > 0 && output[end - 1] == '\n') --end;
    std::size_t start = end;
    for (std::size_t lines = 0; start > 0; --start) {
        if (output[start - 1] == '\n' && ++lines == count) break;
    }
    return output.substr(start, end - start);
}

}  // namespace cbuild::builder::internal
