// The user namespace of a rootless cbuild. The process unshares it itself, so that nothing has
// to forward signals or exit statuses: Ctrl-C reaches cbuild as it would as root. Only the
// mapping needs a process outside the namespace (newuidmap must run in the parent namespace,
// and a set-user-ID program run from inside one whose root it does not map loses its bit), so a
// helper is forked before the unshare and told to write the maps once it is done.

#include "cli/rootless.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "cache/content_store.h"
#include "common/error.h"

namespace cbuild::cli {

namespace {

// The helper's exit status when it was never told to map (the unshare failed).
constexpr int k_helper_not_asked = 100;
constexpr int k_helper_exec_failed = 127;

std::string read_text(const char* path) {
    std::ifstream file(path);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

std::string user_name(uid_t uid) {
    passwd entry{};
    passwd* found = nullptr;
    std::string buffer(16384, '\0');
    if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) return {};
    return found->pw_name;
}

// Go's exec.LookPath for a bare name: the first executable file of that name along $PATH.
std::optional<std::string> find_program(const std::string& name) {
    const char* path = std::getenv("PATH");
    const std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
    for (std::size_t start = 0; start <= dirs.size();) {
        const std::size_t end = std::min(dirs.find(':', start), dirs.size());
        const std::string dir = dirs.substr(start, end - start);
        const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
        if (access(candidate.c_str(), X_OK) == 0) return candidate;
        start = end + 1;
    }
    return std::nullopt;
}

// Writes one /proc/self file of the namespace; false with errno set.
bool write_proc_file(const char* path, const std::string& text) {
    const int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    const int error = errno;
    close(fd);
    errno = error;
    return written;
}

bool map_is_empty(const char* path) { return read_text(path).find_first_not_of(" \n") == std::string::npos; }

// The argv of newuidmap/newgidmap for `pid`: `id` → 0 and `range` → 1….
std::vector<std::string> map_command(const std::string& program, pid_t pid, std::uint32_t id, const IdRange& range) {
    return {program, std::to_string(pid), "0", std::to_string(id), "1", "1", std::to_string(range.start),
            std::to_string(range.count)};
}

// Runs the commands one after the other, stderr into `error_fd`; the first failing one's
// status, or 0.
int run_all(const std::vector<std::vector<std::string>>& commands, int error_fd) {
    for (const std::vector<std::string>& command : commands) {
        std::vector<char*> argv;
        for (const std::string& word : command) argv.push_back(const_cast<char*>(word.c_str()));
        argv.push_back(nullptr);
        const pid_t pid = fork();
        if (pid < 0) return k_helper_exec_failed;
        if (pid == 0) {
            dup2(error_fd, STDERR_FILENO);
            execv(argv[0], argv.data());
            _exit(k_helper_exec_failed);
        }
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    }
    return 0;
}

// The subordinate-id maps, when the caller has ranges and the tools are installed: the commands
// to run for process `pid`, or why not.
struct MapPlan {
    std::vector<std::vector<std::string>> commands;
    std::string missing;
};

MapPlan plan_maps(pid_t pid, uid_t uid, gid_t gid) {
    const std::string name = user_name(uid);
    const std::optional<IdRange> uids = subordinate_range(read_text("/etc/subuid"), name, uid);
    const std::optional<IdRange> gids = subordinate_range(read_text("/etc/subgid"), name, uid);
    const std::string who = name.empty() ? "uid " + std::to_string(uid) : "user `" + name + "`";
    if (!uids) return {{}, "/etc/subuid has no range for " + who};
    if (!gids) return {{}, "/etc/subgid has no range for " + who};
    const std::optional<std::string> newuidmap = find_program("newuidmap");
    const std::optional<std::string> newgidmap = find_program("newgidmap");
    if (!newuidmap || !newgidmap) return {{}, "newuidmap and newgidmap are not installed (Debian package uidmap)"};
    return {{map_command(*newuidmap, pid, uid, *uids), map_command(*newgidmap, pid, gid, *gids)}, {}};
}

// Maps what newuidmap/newgidmap did not: the caller's own ids, as an unprivileged process may.
void map_own_ids(uid_t uid, gid_t gid) {
    if (map_is_empty("/proc/self/uid_map") && !write_proc_file("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1\n"))
        throw IoError("/proc/self/uid_map", "write", errno);
    if (map_is_empty("/proc/self/gid_map")) {
        if (!write_proc_file("/proc/self/setgroups", "deny")) throw IoError("/proc/self/setgroups", "write", errno);
        if (!write_proc_file("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1\n"))
            throw IoError("/proc/self/gid_map", "write", errno);
    }
}

std::string read_all(int fd) {
    std::string text;
    char buffer[4096];
    for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(n));
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}

}  // namespace

std::optional<IdRange> subordinate_range(std::string_view file_text, std::string_view user, std::uint32_t id) {
    const std::string id_text = std::to_string(id);
    std::size_t start = 0;
    while (start < file_text.size()) {
        const std::size_t end = std::min(file_text.find('\n', start), file_text.size());
        const std::string_view line = file_text.substr(start, end - start);
        start = end + 1;
        const std::size_t first = line.find(':');
        const std::size_t second = first == std::string_view::npos ? first : line.find(':', first + 1);
        if (second == std::string_view::npos) continue;
        const std::string_view owner = line.substr(0, first);
        if (owner.empty() || (owner != user && owner != id_text)) continue;
        IdRange range;
        const std::string_view start_text = line.substr(first + 1, second - first - 1);
        const std::string_view count_text = line.substr(second + 1);
        const auto parsed_start = std::from_chars(start_text.data(), start_text.data() + start_text.size(), range.start);
        const auto parsed_count = std::from_chars(count_text.data(), count_text.data() + count_text.size(), range.count);
        if (parsed_start.ec != std::errc() || parsed_start.ptr != start_text.data() + start_text.size() ||
            parsed_count.ec != std::errc() || parsed_count.ptr != count_text.data() + count_text.size() ||
            range.count == 0)
            return std::nullopt;
        return range;
    }
    return std::nullopt;
}

UserNamespaceOutcome enter_user_namespace() {
    if (geteuid() == 0) return {};
    const uid_t uid = geteuid();
    const gid_t gid = getegid();
    MapPlan maps = plan_maps(getpid(), uid, gid);
    // A process that changed its ids (a set-user-ID wrapper, a test) is not dumpable, and then its
    // /proc/self files are root's and it cannot write its own maps (runc's nsexec does the same).
    if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) throw Error(std::string("rootless: prctl: ") + std::strerror(errno));

    int go[2] = {-1, -1};
    int errors[2] = {-1, -1};
    pid_t helper = -1;
    if (maps.commands.empty()) {
        // No helper: the process maps its own ids.
    } else if (pipe2(go, O_CLOEXEC) != 0 || pipe2(errors, O_CLOEXEC) != 0) {
        throw Error(std::string("rootless: pipe2: ") + std::strerror(errno));
    } else if ((helper = fork()) < 0) {
        throw Error(std::string("rootless: fork (the newuidmap helper): ") + std::strerror(errno));
    } else if (helper == 0) {
        close(go[1]);
        close(errors[0]);
        char byte = 0;
        ssize_t n;
        while ((n = read(go[0], &byte, 1)) < 0 && errno == EINTR) {
        }
        _exit(n == 1 ? run_all(maps.commands, errors[1]) : k_helper_not_asked);
    }
    if (helper > 0) {
        close(go[0]);
        close(errors[1]);
    }

    const bool unshared = unshare(CLONE_NEWUSER) == 0;
    const int unshare_error = errno;
    std::string helper_error;
    int helper_status = 0;
    if (helper > 0) {
        if (unshared && write(go[1], "m", 1) != 1) helper_error = std::string("cannot wake the helper: ") + std::strerror(errno);
        close(go[1]);
        helper_error += read_all(errors[0]);
        close(errors[0]);
        int status = 0;
        while (waitpid(helper, &status, 0) < 0 && errno == EINTR) {
        }
        helper_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    }
    if (!unshared)
        return {UserNamespace::unavailable, std::string("cannot create a user namespace: unshare: ") + std::strerror(unshare_error)};

    map_own_ids(uid, gid);
    if (maps.commands.empty()) return {UserNamespace::single_id, maps.missing};
    if (helper_status != 0)
        return {UserNamespace::single_id, "newuidmap/newgidmap failed (exit status " + std::to_string(helper_status) +
                                              ")" + (helper_error.empty() ? "" : ": " + helper_error)};
    // The caller's supplementary groups are not mapped: they would show as nobody's.
    if (setgroups(0, nullptr) != 0) throw Error(std::string("rootless: setgroups: ") + std::strerror(errno));
    return {UserNamespace::subordinate_ids, {}};
}

void become_root_for_snapshots(GlobalOptions& globals) {
    if (geteuid() == 0) return;
    if (!globals.root) globals.root = cache::ContentStore::default_root();
    const uid_t uid = geteuid();
    const UserNamespaceOutcome outcome = enter_user_namespace();
    if (outcome.kind == UserNamespace::single_id)
        std::cerr << "cbuild: warning: " << outcome.reason << "; running as root of a user namespace that maps only uid "
                  << uid << ": files of other owners are kept as root's, and RUN cannot switch to another user\n";
    else if (outcome.kind == UserNamespace::unavailable)
        std::cerr << "cbuild: warning: " << outcome.reason << "; RUN steps need root\n";
}

}  // namespace cbuild::cli
