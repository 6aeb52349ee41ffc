#include "builder/sandbox/internal/container_init.h"

#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "builder/sandbox/internal/child_report.h"
#include "builder/sandbox/internal/mount_stubs.h"
#include "builder/sandbox/internal/mounts.h"
#include "builder/sandbox/internal/process.h"

namespace cbuild::builder::internal {

namespace {

// Where arrange_file_descriptors parks the pipes before moving them to 1, 2 and 3.
constexpr int k_parked_fd = 64;
constexpr int k_status_fd = 3;

bool die_with_cbuild(ChildState& state) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) return state.fail("prctl(PR_SET_PDEATHSIG)", "");
    // cbuild may have died before that took effect; then nobody reads the status pipe.
    pollfd status{state.status_fd, POLLOUT, 0};
    if (poll(&status, 1, 0) == 1 && (status.revents & POLLERR)) _exit(k_setup_failed);
    return true;
}

// cbuild's signal handlers and mask are no business of the container (an ignored SIGCHLD would
// even stop init from reaping).
bool reset_signals(ChildState&) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    for (int signal_number = 1; signal_number < NSIG; ++signal_number) sigaction(signal_number, &default_action, nullptr);
    return true;
}

// stdin /dev/null, stdout and stderr the output pipe, the status pipe at 3, nothing else: a copy
// of another sandbox's pipe would keep that one from seeing end of file.
bool arrange_file_descriptors(ChildState& state) {
    const int status = fcntl(state.status_fd, F_DUPFD_CLOEXEC, k_parked_fd);
    if (status < 0) return state.fail("fcntl(F_DUPFD_CLOEXEC)", "");
    state.status_fd = status;
    const int output = fcntl(state.plan.output_fd, F_DUPFD_CLOEXEC, k_parked_fd);
    if (output < 0) return state.fail("fcntl(F_DUPFD_CLOEXEC)", "");
    const int null = open("/dev/null", O_RDONLY);  // inherited by the command, so no O_CLOEXEC
    if (null < 0) return state.fail("open", "/dev/null");
    if (dup2(null, STDIN_FILENO) < 0 || dup2(output, STDOUT_FILENO) < 0 || dup2(output, STDERR_FILENO) < 0 ||
        dup3(status, k_status_fd, O_CLOEXEC) < 0)
        return state.fail("dup2", "");
    state.status_fd = k_status_fd;
    if (close_range(k_status_fd + 1, ~0U, 0) != 0) return state.fail("close_range", "");
    return true;
}

bool write_file(ChildState& state, const char* path, std::string_view contents) {
    const int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return state.fail("open", path);
    const bool written = write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size());
    close(fd);
    return written || state.fail("write", path);
}

// Rootless: the caller becomes root of a user namespace that maps only its own ids. A process
// that changed its uid is not dumpable, and then /proc/self belongs to the outer root (runc's
// nsexec makes itself dumpable for the same reason).
bool map_user_namespace(ChildState& state) {
    const ChildPlan& plan = state.plan;
    if (plan.rootless && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) return state.fail("prctl(PR_SET_DUMPABLE)", "");
    return !plan.rootless || (write_file(state, "/proc/self/setgroups", "deny") &&
                              write_file(state, "/proc/self/uid_map", plan.uid_map) &&
                              write_file(state, "/proc/self/gid_map", plan.gid_map));
}

bool make_mounts_private(ChildState& state) {
    return mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 || state.fail("mount(private)", "/");
}

// Files and scratch overlays live in a tmpfs of this mount namespace only, so they never touch
// the disk and vanish with the namespace.
bool mount_staging(ChildState& state) {
    const ChildPlan& plan = state.plan;
    if (!mount_filesystem(state, "tmpfs", plan.staging.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700")) return false;
    return mkdir(plan.empty_dir.c_str(), 0755) == 0 || state.fail("mkdir", plan.empty_dir);
}

bool write_staged_files(ChildState& state) {
    for (const StagedFile& file : state.plan.staged) {
        const int fd = open(file.path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0) return state.fail("open", file.path);
        std::size_t done = 0;
        while (done < file.contents.size()) {
            const ssize_t n = write(fd, file.contents.data() + done, file.contents.size() - done);
            if (n <= 0) {
                close(fd);
                return state.fail("write", file.path);
            }
            done += static_cast<std::size_t>(n);
        }
        const bool owned = fchown(fd, file.uid, file.gid) == 0 || state.fail("fchown", file.path);
        const bool moded = owned && (fchmod(fd, file.mode) == 0 || state.fail("fchmod", file.path));
        close(fd);
        if (!moded) return false;
    }
    return true;
}

// Made as root before the user is taken, and kept: it is not a mount stub (BuildKit).
bool make_working_directory(ChildState& state) {
    PathBuffer unused;
    return make_mount_point(state, state.plan.cwd, true, false, unused);
}

bool apply_mounts(ChildState& state) {
    for (const PlannedMount& mount : state.plan.mounts)
        if (!apply_mount(state, mount)) return false;
    return true;
}

bool set_hostname(ChildState& state) {
    const std::string& name = state.plan.hostname;
    return name.empty() || sethostname(name.data(), name.size()) == 0 || state.fail("sethostname", name);
}

bool bring_up_loopback(ChildState& state) {
    if (!state.plan.new_network) return true;
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return state.fail("socket", "");
    ifreq request{};
    std::memcpy(request.ifr_name, "lo", 3);
    bool up = ioctl(fd, SIOCGIFFLAGS, &request) == 0 || state.fail("ioctl(SIOCGIFFLAGS)", "lo");
    request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
    up = up && (ioctl(fd, SIOCSIFFLAGS, &request) == 0 || state.fail("ioctl(SIOCSIFFLAGS)", "lo"));
    close(fd);
    return up;
}

// runc's pivot_root(".", "."): the old root ends up stacked on the new one and is detached, so
// no directory for it is ever made in the image.
bool pivot_into_root(ChildState& state) {
    if (fchdir(state.root_fd) != 0) return state.fail("fchdir", state.plan.root);
    if (syscall(SYS_pivot_root, ".", ".") != 0) return state.fail("pivot_root", state.plan.root);
    if (umount2(".", MNT_DETACH) != 0) return state.fail("umount2", "/");
    return chdir("/") == 0 || state.fail("chdir", "/");
}

struct NamedStep {
    const char* name;
    bool (*run)(ChildState&);
};

constexpr NamedStep k_steps[] = {
    {"die with cbuild", die_with_cbuild},
    {"reset signals", reset_signals},
    {"arrange file descriptors", arrange_file_descriptors},
    {"map the user namespace", map_user_namespace},
    {"make mounts private", make_mounts_private},
    {"mount the staging tmpfs", mount_staging},
    {"write the staged files", write_staged_files},
    {"mount the root filesystem", mount_root},
    {"create the working directory", make_working_directory},
    {"mount /proc", mount_proc},
    {"mount /dev", mount_dev},
    {"mount /sys", mount_sys},
    {"apply the mounts", apply_mounts},
    {"set the hostname", set_hostname},
    {"bring up the loopback interface", bring_up_loopback},
    {"pivot into the root", pivot_into_root},
};

// PID 1 exits with the command's status as soon as the command exits; the kernel then kills
// everything else in the namespace.
[[noreturn]] void become_init(ChildState& state) {
    const pid_t command = _Fork();
    if (command < 0) {
        state.fail("fork", "");
        report_and_exit(state, "start the command");
    }
    if (command == 0) exec_command(state);
    close(state.status_fd);  // from here on only the command reports, until execve closes its copy
    close(state.root_fd);
    for (;;) {
        int status = 0;
        const pid_t pid = waitpid(-1, &status, 0);
        if (pid == command) _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        if (pid < 0 && errno != EINTR) _exit(k_setup_failed);
    }
}

}  // namespace

bool ChildState::fail(std::string_view call, std::string_view path) noexcept {
    failed_errno = errno;
    failed_call.assign(call.substr(0, PathBuffer::k_capacity - 1));
    failed_path.assign(path.substr(0, PathBuffer::k_capacity - 1));
    return false;
}

[[noreturn]] void report_and_exit(ChildState& state, std::string_view step) noexcept {
    report_failure(state.status_fd, step, state.failed_call.view(), state.failed_path.view(), state.failed_errno);
    _exit(k_setup_failed);
}

[[noreturn]] void run_container_init(const ChildPlan& plan) noexcept {
    ChildState state(plan);
    umask(022);
    for (const NamedStep& step : k_steps)
        if (!step.run(state)) report_and_exit(state, step.name);
    become_init(state);
}

}  // namespace cbuild::builder::internal
