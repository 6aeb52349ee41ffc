// The parent's half of the sandbox: a private temp dir, the clone into new namespaces, then
// watching the child (its pidfd, the output and status pipes, the timeout, cancellation) and
// cleaning up after it. The child's half is internal/container_init.cc.

#include "builder/sandbox/sandbox.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include "builder/sandbox/internal/child_plan.h"
#include "builder/sandbox/internal/child_report.h"
#include "builder/sandbox/internal/container_init.h"
#include "builder/sandbox/internal/mount_stubs.h"

namespace cbuild::builder {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// request_cancel() bumps it; a run compares it with the value it started with.
std::atomic<std::uint64_t> g_cancel_generation{0};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "request_cancel must be async-signal-safe");

constexpr auto k_cancel_check_interval = std::chrono::milliseconds(50);
constexpr std::size_t k_tail_bytes = 32 * 1024;
const char* const k_start_step = "start the container";

std::string message_for(const std::string& step, const std::string& call, const std::string& path, int error_number) {
    std::string message = "sandbox: " + step + ": " + call;
    if (!path.empty()) message += " `" + path + "`";
    return message + ": " + std::strerror(error_number);
}

// The directory the child mounts the root and its staging tmpfs on. The mounts exist only in the
// child's mount namespace, so here they are always empty directories.
class Workspace {
public:
    Workspace() {
        std::error_code error;
        const fs::path tmp = fs::temp_directory_path(error);
        if (error) throw SandboxError(k_start_step, "temp_directory_path", tmp.string(), error.value());
        std::string pattern = (tmp / "cbuild-sandbox-XXXXXX").string();
        if (mkdtemp(pattern.data()) == nullptr) throw SandboxError(k_start_step, "mkdtemp", pattern, errno);
        m_dir = pattern;
        for (const fs::path& dir : {root(), staging()})
            if (mkdir(dir.c_str(), 0700) != 0) throw SandboxError(k_start_step, "mkdir", dir.string(), errno);
    }
    ~Workspace() {
        std::error_code ignored;  // a destructor must not throw; what is left is empty directories
        fs::remove_all(m_dir, ignored);
    }
    Workspace(const Workspace&) = delete;
    Workspace& operator=(const Workspace&) = delete;

    fs::path root() const { return m_dir / "root"; }
    fs::path staging() const { return m_dir / "staging"; }

private:
    fs::path m_dir;
};

class Pipe {
public:
    Pipe() {
        if (pipe2(m_fds, O_CLOEXEC) != 0) throw SandboxError(k_start_step, "pipe2", "", errno);
        fcntl(m_fds[0], F_SETFL, O_NONBLOCK);
    }
    ~Pipe() {
        close_read();
        close_write();
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;

    int read_end() const { return m_fds[0]; }
    int write_end() const { return m_fds[1]; }
    void close_read() { close_fd(m_fds[0]); }
    void close_write() { close_fd(m_fds[1]); }

private:
    static void close_fd(int& fd) {
        if (fd >= 0) close(fd);
        fd = -1;
    }
    int m_fds[2] = {-1, -1};
};

// The child: PID 1 of its namespaces, known by a pidfd. Killing it kills its whole PID namespace.
class Container {
public:
    Container(const internal::ChildPlan& plan, std::uint64_t flags) {
        clone_args args{};
        args.flags = flags | CLONE_PIDFD;
        args.pidfd = reinterpret_cast<std::uint64_t>(&m_pidfd);
        args.exit_signal = SIGCHLD;
        long pid = syscall(SYS_clone3, &args, sizeof args);
        // Seccomp profiles (Docker's) answer clone3 with ENOSYS so that callers fall back to clone;
        // CLONE_PIDFD stores the pidfd through the third argument there.
        if (pid < 0 && errno == ENOSYS) pid = syscall(SYS_clone, flags | CLONE_PIDFD | SIGCHLD, nullptr, &m_pidfd, nullptr, nullptr);
        if (pid < 0) throw SandboxError(k_start_step, "clone3", "", errno);
        if (pid == 0) internal::run_container_init(plan);
    }
    ~Container() { reap(); }
    Container(const Container&) = delete;
    Container& operator=(const Container&) = delete;

    int pidfd() const { return m_pidfd; }
    // A raw call: glibc 2.36's <sys/pidfd.h> lacks extern "C".
    void kill() { syscall(SYS_pidfd_send_signal, m_pidfd, SIGKILL, nullptr, 0); }

    // Kills the child unless it has exited, waits for it, and returns its status the shell's way.
    int reap() {
        if (m_pidfd < 0) return m_status;
        siginfo_t info{};
        const auto pidfd_id = static_cast<id_t>(m_pidfd);
        if (waitid(P_PIDFD, pidfd_id, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0) kill();
        while (waitid(P_PIDFD, pidfd_id, &info, WEXITED) != 0 && errno == EINTR) {
        }
        m_status = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
        close(m_pidfd);
        m_pidfd = -1;
        return m_status;
    }

private:
    int m_pidfd = -1;
    int m_status = 0;
};

// One read(2) into `sink`; false at end of file. One per wakeup, so that a command flooding its
// output cannot keep the loop from its timeout and cancellation checks.
bool read_some(int fd, const std::function<void(std::string_view)>& sink) {
    char buffer[64 * 1024];
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n > 0) sink(std::string_view(buffer, static_cast<std::size_t>(n)));
    return n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR));
}

// Reads what is left once every writer is gone (or until a stray one has nothing more).
void drain(int fd, const std::function<void(std::string_view)>& sink) {
    char buffer[64 * 1024];
    for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) > 0;) sink(std::string_view(buffer, static_cast<std::size_t>(n)));
}

std::string display_path(const std::string& path, const std::string& root) {
    if (path.rfind(root, 0) == 0 && (path.size() == root.size() || path[root.size()] == '/'))
        return path.size() == root.size() ? "/" : path.substr(root.size());
    if (!path.empty() && path[0] != '/') return "/" + path;  // relative to the container's root
    return path;
}

}  // namespace

SandboxError::SandboxError(std::string step, std::string call, std::string path, int error_number)
    : Error(message_for(step, call, path, error_number)),
      m_step(std::move(step)),
      m_call(std::move(call)),
      m_path(std::move(path)),
      m_error_number(error_number) {}

SandboxError::SandboxError(const std::string& message) : Error(message) {}

void request_cancel() noexcept { g_cancel_generation.fetch_add(1, std::memory_order_relaxed); }

bool cancel_requested() noexcept { return g_cancel_generation.load(std::memory_order_relaxed) != 0; }

SandboxResult run_in_sandbox(const SandboxSpec& spec) {
    const std::uint64_t generation = g_cancel_generation.load(std::memory_order_relaxed);
    const bool rootless = geteuid() != 0;
    const Workspace workspace;
    internal::ChildPlan plan = internal::plan_child(spec, workspace.root(), workspace.staging(), rootless);
    const fs::path stub_dir = spec.rootfs.empty() ? spec.upper : spec.rootfs;
    Pipe status;
    Pipe output;
    plan.status_fd = status.write_end();
    plan.output_fd = output.write_end();
    const std::uint64_t flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
                                (plan.new_network ? CLONE_NEWNET : 0) | (rootless ? CLONE_NEWUSER : 0);

    std::string report_bytes;
    const auto append_report = [&](std::string_view bytes) { report_bytes.append(bytes); };
    Container container(plan, flags);
    status.close_write();
    output.close_write();

    SandboxResult result;
    try {
        const auto forward = [&](std::string_view chunk) {
            result.output_tail.append(chunk);
            if (result.output_tail.size() > k_tail_bytes)
                result.output_tail.erase(0, result.output_tail.size() - k_tail_bytes);
            if (spec.output) spec.output(chunk);
        };
        const std::optional<Clock::time_point> deadline =
            spec.timeout ? std::optional(Clock::now() + *spec.timeout) : std::nullopt;
        bool output_open = true;
        bool status_open = true;
        for (bool exited = false; !exited;) {
            auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(k_cancel_check_interval);
            if (deadline && !result.timed_out && !result.cancelled)
                wait = std::clamp(std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now()),
                                  std::chrono::milliseconds(0), wait);
            pollfd fds[3] = {{container.pidfd(), POLLIN, 0},
                             {output_open ? output.read_end() : -1, POLLIN, 0},
                             {status_open ? status.read_end() : -1, POLLIN, 0}};
            if (poll(fds, 3, static_cast<int>(wait.count())) < 0 && errno != EINTR)
                throw SandboxError(k_start_step, "poll", "", errno);
            exited = (fds[0].revents & POLLIN) != 0;
            if (output_open && fds[1].revents) output_open = read_some(output.read_end(), forward);
            if (status_open && fds[2].revents) status_open = read_some(status.read_end(), append_report);
            if (exited || result.timed_out || result.cancelled) continue;
            if (g_cancel_generation.load(std::memory_order_relaxed) != generation ||
                (spec.should_stop && spec.should_stop())) {
                result.cancelled = true;
                container.kill();
            } else if (deadline && Clock::now() >= *deadline) {
                result.timed_out = true;
                container.kill();
            }
        }
        // Everything in the namespace died with its init; whatever they wrote is in the pipes.
        if (output_open) drain(output.read_end(), forward);
        if (status_open) drain(status.read_end(), append_report);
    } catch (...) {
        container.reap();
        drain(status.read_end(), append_report);
        internal::remove_mount_stubs(stub_dir, internal::parse_child_report(report_bytes).stubs);
        throw;
    }
    result.exit_status = container.reap();
    const internal::ChildReport report = internal::parse_child_report(report_bytes);
    internal::remove_mount_stubs(stub_dir, report.stubs);
    if (report.failure && !result.timed_out && !result.cancelled) {
        const internal::SetupFailure& failure = *report.failure;
        throw SandboxError(failure.step, failure.call, display_path(failure.path, plan.root), failure.error_number);
    }
    return result;
}

}  // namespace cbuild::builder
