#include "tests/support/fault_proxy.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>

#include "common/error.h"
#include "common/unique_fd.h"
#include "tests/support/fault_proxy_engine.h"

extern char** environ;

namespace cbuild::test {
namespace {

constexpr char k_binary[] = CBUILD_FAULT_PROXY;
// Hang guards, far beyond what a healthy process needs: to print its ports, to end on SIGTERM.
constexpr int k_start_timeout_ms = 30000;
constexpr int k_stop_timeout_ms = 5000;

// The first line written on `fd` without its newline; what came before the end when the writer
// closed it (exited) first. Throws cbuild::Error when it stays silent.
std::string read_first_line(int fd) {
    std::string line;
    for (;;) {
        pollfd readable{.fd = fd, .events = POLLIN, .revents = 0};
        const int ready = ::poll(&readable, 1, k_start_timeout_ms);
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) throw IoError(k_binary, "poll on its stdout", errno);
        if (ready == 0) throw Error("`" + std::string(k_binary) + "` printed no ports");
        char c = 0;
        const ssize_t n = ::read(fd, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw IoError(k_binary, "read its stdout", errno);
        if (n == 0 || c == '\n') return line;
        line += c;
    }
}

std::string describe(int wait_status) {
    if (WIFEXITED(wait_status)) return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
    if (WIFSIGNALED(wait_status)) return "was killed by signal " + std::to_string(WTERMSIG(wait_status));
    return "ended";
}

}  // namespace

FaultProxy::FaultProxy(Options options) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw IoError(k_binary, "pipe2", errno);
    const UniqueFd from_child(pipe_fds[0]);
    UniqueFd child_stdout(pipe_fds[1]);

    std::vector<std::string> arguments = {k_binary, "--upstream", options.upstream_host, "--parent-pid",
                                          std::to_string(::getpid())};
    if (!options.upstream_authorization.empty())
        arguments.insert(arguments.end(), {"--upstream-authorization", options.upstream_authorization});
    std::vector<char*> argv;
    for (auto& argument : arguments) argv.push_back(argument.data());
    argv.push_back(nullptr);

    // Only stdout (the pipe) and stderr are handed over, so the process holds no descriptor of
    // the test's (a pipe it kept open would stall that pipe's reader), and SIGTERM reaches it
    // whatever the test blocked or ignored.
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, child_stdout.get(), 1);
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t signals;
    sigemptyset(&signals);
    posix_spawnattr_setsigmask(&attributes, &signals);
    sigaddset(&signals, SIGTERM);
    posix_spawnattr_setsigdefault(&attributes, &signals);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    const int error = ::posix_spawn(&m_pid, k_binary, &actions, &attributes, argv.data(), environ);
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    if (error != 0) throw IoError(k_binary, "posix_spawn", error);
    // With our copy of its write end closed, the pipe ends when the process closes stdout or exits.
    child_stdout = UniqueFd();

    std::string line;
    try {
        line = read_first_line(from_child.get());
    } catch (...) {
        stop();
        throw;
    }
    std::istringstream ports(line);
    if (!(ports >> m_proxy_port >> m_redirect_port >> m_control_port)) {
        const int status = stop();
        throw Error("`" + std::string(k_binary) + "` " + describe(status) + " before listening" +
                    (line.empty() ? "" : ", its first line `" + line + "`") + " (its stderr is in the test's output)");
    }
}

FaultProxy::~FaultProxy() { stop(); }

int FaultProxy::stop() noexcept {
    // A pidfd turns the wait for SIGTERM's effect into one poll. (The raw syscall: glibc 2.36's
    // <sys/pidfd.h> declares pidfd_open without C linkage.)
    const UniqueFd exited(static_cast<int>(::syscall(SYS_pidfd_open, m_pid, 0)));
    ::kill(m_pid, SIGTERM);
    pollfd readable{.fd = exited.get(), .events = POLLIN, .revents = 0};
    if (!exited || ::poll(&readable, 1, k_stop_timeout_ms) != 1) ::kill(m_pid, SIGKILL);
    int status = 0;
    while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

std::string FaultProxy::host() const { return "127.0.0.1:" + std::to_string(m_proxy_port); }

std::string FaultProxy::redirect_host() const { return "127.0.0.1:" + std::to_string(m_redirect_port); }

void FaultProxy::add_rule(FaultRule rule) { control_exchange(m_control_port, "POST", "/rules", rule_to_json(rule)); }

std::vector<ProxiedRequest> FaultProxy::log() const {
    return log_from_json(control_exchange(m_control_port, "GET", "/log", ""));
}

std::vector<ProxiedRequest> FaultProxy::requests(const std::string& method, const std::string& path) const {
    std::vector<ProxiedRequest> found;
    for (auto& entry : log())
        if (entry.listener == ProxiedRequest::Listener::proxy && (method.empty() || entry.method == method) &&
            entry.target.find(path) != std::string::npos)
            found.push_back(std::move(entry));
    return found;
}

}  // namespace cbuild::test
