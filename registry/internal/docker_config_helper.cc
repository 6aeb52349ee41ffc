#include "registry/internal/docker_config_helper.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <vector>

#include "common/error.h"

extern char** environ;

namespace cbuild::registry::internal {
namespace {

void close_if_open(int& fd) {
    if (fd >= 0) close(fd);
    fd = -1;
}

// Closes what it holds when the call leaves, thrown or not.
struct Fds {
    int stdin_ours = -1, stdin_theirs = -1, stdout_ours = -1, stdout_theirs = -1;
    ~Fds() {
        for (int* fd : {&stdin_ours, &stdin_theirs, &stdout_ours, &stdout_theirs}) close_if_open(*fd);
    }
};

}  // namespace

HelperResult run_credential_helper(const std::string& name, const std::string& action, std::string_view input) {
    const std::string program = "docker-credential-" + name;
    Fds fds;
    // stdin is a socket so that a helper exiting without reading it gives EPIPE on send
    // (MSG_NOSIGNAL), not a SIGPIPE that would kill us.
    int stdin_pair[2];
    int stdout_pipe[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, stdin_pair) != 0) throw IoError(program, "socketpair", errno);
    fds.stdin_ours = stdin_pair[0];
    fds.stdin_theirs = stdin_pair[1];
    if (pipe2(stdout_pipe, O_CLOEXEC) != 0) throw IoError(program, "pipe2", errno);
    fds.stdout_ours = stdout_pipe[0];
    fds.stdout_theirs = stdout_pipe[1];

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds.stdin_theirs, 0);
    posix_spawn_file_actions_adddup2(&actions, fds.stdout_theirs, 1);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    std::vector<char*> argv = {const_cast<char*>(program.c_str()), const_cast<char*>(action.c_str()), nullptr};
    pid_t pid = -1;
    const int error = posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (error == ENOENT) throw Error("credential helper `" + program + "` is not on PATH");
    if (error != 0) throw IoError(program, "posix_spawnp", error);
    close_if_open(fds.stdin_theirs);
    close_if_open(fds.stdout_theirs);

    std::size_t sent = 0;
    while (sent < input.size()) {
        const ssize_t n = send(fds.stdin_ours, input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // the helper stopped reading; its exit status tells the rest
        sent += static_cast<std::size_t>(n);
    }
    close_if_open(fds.stdin_ours);

    HelperResult result;
    std::array<char, 4096> buffer{};
    for (;;) {
        const ssize_t n = read(fds.stdout_ours, buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        result.output.append(buffer.data(), static_cast<std::size_t>(n));
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) throw IoError(program, "waitpid", errno);
    }
    result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

bool is_credentials_not_found(std::string_view output) {
    return output.find("credentials not found") != std::string_view::npos;
}

}  // namespace cbuild::registry::internal
