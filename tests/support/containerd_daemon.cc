#include "tests/support/containerd_daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "tests/support/shared_data.h"

extern char** environ;

namespace cbuild::test {
namespace {

namespace fs = std::filesystem;

// Readiness and shutdown waits, far beyond what a healthy containerd needs (no test asserts
// on them): 50 ms polls.
constexpr int k_start_polls = 600;
constexpr int k_stop_polls = 200;
constexpr auto k_poll = std::chrono::milliseconds(50);

bool socket_answers(const fs::path& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return ok;
}

// Whether `pid` has ended: gone, or a zombie nobody has reaped yet (a shim's parent is
// whatever adopted it, not us).
bool ended(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return true;
    const auto close_paren = line.rfind(')');
    return close_paren == std::string::npos || line.substr(close_paren + 2, 1) == "Z";
}

// The processes whose command line names `socket` (the shims containerd started for it), with
// their command lines.
std::vector<std::pair<pid_t, std::string>> processes_naming(const fs::path& socket) {
    std::vector<std::pair<pid_t, std::string>> found;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator("/proc", error)) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        const pid_t pid = std::stoi(name);
        if (pid == ::getpid() || ended(pid)) continue;
        std::ifstream file(entry.path() / "cmdline", std::ios::binary);
        std::string cmdline((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
        if (cmdline.find(socket.string()) == std::string::npos) continue;
        std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
        found.emplace_back(pid, cmdline);
    }
    return found;
}

// `pid` and every process below it: a shim is its containers' subreaper, so killing the shim
// alone would leave them running, adopted by PID 1.
std::vector<pid_t> process_tree(pid_t pid) {
    std::map<pid_t, std::vector<pid_t>> children;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator("/proc", error)) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream stat(entry.path() / "stat");
        std::string line;
        if (!std::getline(stat, line)) continue;
        const auto close_paren = line.rfind(')');
        if (close_paren == std::string::npos) continue;
        std::istringstream fields(line.substr(close_paren + 2));
        std::string state;
        pid_t parent = 0;
        fields >> state >> parent;
        children[parent].push_back(std::stoi(name));
    }
    std::vector<pid_t> tree = {pid};
    for (std::size_t i = 0; i < tree.size(); ++i)
        for (const pid_t child : children[tree[i]]) tree.push_back(child);
    return tree;
}

// Mount points under `dir` in this mount namespace, deepest first.
std::vector<std::string> mounts_under(const fs::path& dir) {
    std::vector<std::string> found;
    std::ifstream mountinfo("/proc/self/mountinfo");
    const std::string prefix = dir.string() + "/";
    for (std::string line; std::getline(mountinfo, line);) {
        std::istringstream fields(line);
        std::string id, parent, device, root, mount_point;
        fields >> id >> parent >> device >> root >> mount_point;
        // mountinfo escapes space, tab, newline and backslash as \ooo.
        std::string decoded;
        for (std::size_t i = 0; i < mount_point.size(); ++i) {
            if (mount_point[i] == '\\' && i + 3 < mount_point.size()) {
                decoded += static_cast<char>(std::stoi(mount_point.substr(i + 1, 3), nullptr, 8));
                i += 3;
            } else {
                decoded += mount_point[i];
            }
        }
        if (decoded.starts_with(prefix)) found.push_back(decoded);
    }
    std::sort(found.begin(), found.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    return found;
}

}  // namespace

std::optional<std::string> ContainerdDaemon::missing_tool() {
    for (const char* program : {"containerd", "ctr", "containerd-shim-runc-v2", "runc"})
        if (!have_program(program)) return std::string(program);
    return std::nullopt;
}

ContainerdDaemon::ContainerdDaemon() {
    const fs::path dir = m_dir.path();
    // Every path containerd and its plugins write is in the temp dir: root, state, both
    // sockets, and the `opt` plugin's directory (by default /opt/containerd).
    write_file(dir / "config.toml", "version = 2\n"
                                    "root = \"" + (dir / "root").string() + "\"\n"
                                    "state = \"" + (dir / "state").string() + "\"\n"
                                    "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
                                    "[grpc]\n  address = \"" + socket().string() + "\"\n"
                                    "[ttrpc]\n  address = \"" + socket().string() + ".ttrpc\"\n"
                                    "[plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"" +
                                        (dir / "opt").string() + "\"\n");
    const std::string log_path = (dir / "containerd.log").string();
    const std::string config_path = (dir / "config.toml").string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> argv = {const_cast<char*>("containerd"), const_cast<char*>("--config"),
                               const_cast<char*>(config_path.c_str()), nullptr};
    const int error = posix_spawnp(&m_pid, "containerd", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (error != 0) {
        m_pid = -1;
        throw IoError("containerd", "posix_spawnp", error);
    }
    for (int i = 0; i < k_start_polls; ++i) {
        if (socket_answers(socket())) return;
        int status = 0;
        if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
            m_pid = -1;
            throw Error("containerd exited at start-up: " + log());
        }
        std::this_thread::sleep_for(k_poll);
    }
    stop();
    throw Error("containerd did not open `" + socket().string() + "`: " + log());
}

ContainerdDaemon::~ContainerdDaemon() { stop(); }

CommandResult ContainerdDaemon::ctr(const std::string& args) const {
    return run_command("ctr --address " + shell_quote(socket().string()) + " " + args);
}

CommandResult ContainerdDaemon::run(const std::string& image, const std::string& id) const {
    const fs::path dir = m_dir.path();
    return run_command("ctr --address " + shell_quote(socket().string()) + " run --rm --cgroup '' --runc-root " +
                       shell_quote((dir / "runc").string()) + " --fifo-dir " + shell_quote((dir / "fifo").string()) +
                       " " + shell_quote(image) + " " + shell_quote(id) + " 2>" + shell_quote(stderr_file().string()));
}

std::string ContainerdDaemon::log() const {
    std::error_code error;
    if (!fs::exists(m_dir.path() / "containerd.log", error)) return "";
    return read_file(m_dir.path() / "containerd.log");
}

std::vector<std::string> ContainerdDaemon::stop() {
    std::vector<std::string> cleaned;
    if (m_pid > 0) {
        // A task still there is a container the test did not remove: containerd kills and
        // deletes it (its shim then exits and its rootfs is unmounted).
        const CommandResult listed = ctr("task ls -q");
        std::istringstream tasks(listed.status == 0 ? listed.output : "");
        for (std::string id; std::getline(tasks, id);) {
            if (id.empty()) continue;
            cleaned.push_back("task " + id);
            ctr("task delete --force " + shell_quote(id));
        }
        ::kill(m_pid, SIGTERM);
        bool reaped = false;
        for (int i = 0; i < k_stop_polls && !reaped; ++i) {
            reaped = ::waitpid(m_pid, nullptr, WNOHANG) == m_pid;
            if (!reaped) std::this_thread::sleep_for(k_poll);
        }
        if (!reaped) {
            ::kill(m_pid, SIGKILL);
            ::waitpid(m_pid, nullptr, 0);
        }
        m_pid = -1;
    }
    // A shim outlives containerd on purpose (so containers survive a restart); one still
    // serving this containerd's socket is a container the test did not remove.
    for (const auto& [pid, cmdline] : processes_naming(socket())) {
        cleaned.push_back("process " + std::to_string(pid) + ": " + cmdline);
        const std::vector<pid_t> tree = process_tree(pid);
        for (const pid_t member : tree) ::kill(member, SIGKILL);
        for (const pid_t member : tree)
            for (int i = 0; i < k_stop_polls && !ended(member); ++i) std::this_thread::sleep_for(k_poll);
    }
    for (const std::string& mount_point : mounts_under(m_dir.path())) {
        cleaned.push_back("mount " + mount_point);
        ::umount2(mount_point.c_str(), MNT_DETACH);
    }
    return cleaned;
}

}  // namespace cbuild::test
