#include "builder/sandbox/internal/process.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace cbuild::builder::internal {

namespace {

constexpr std::uint64_t capability(int number) { return std::uint64_t{1} << number; }

// Docker's (and BuildKit's) default set.
constexpr std::uint64_t k_default_capabilities =
    capability(CAP_CHOWN) | capability(CAP_DAC_OVERRIDE) | capability(CAP_FSETID) | capability(CAP_FOWNER) |
    capability(CAP_MKNOD) | capability(CAP_NET_RAW) | capability(CAP_SETGID) | capability(CAP_SETUID) |
    capability(CAP_SETFCAP) | capability(CAP_SETPCAP) | capability(CAP_NET_BIND_SERVICE) |
    capability(CAP_SYS_CHROOT) | capability(CAP_KILL) | capability(CAP_AUDIT_WRITE);

bool drop_capabilities(ChildState& state) noexcept {
    for (int number = 0; number < 64; ++number) {
        if (prctl(PR_CAPBSET_READ, number, 0, 0, 0) < 0) break;  // past the kernel's last capability
        if ((k_default_capabilities & capability(number)) == 0 && prctl(PR_CAPBSET_DROP, number, 0, 0, 0) != 0)
            return state.fail("prctl(PR_CAPBSET_DROP)", "");
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) return state.fail("prctl(PR_CAP_AMBIENT)", "");
    return true;
}

// Before capabilities are dropped: raising a hard limit needs CAP_SYS_RESOURCE (runc sets them in
// its init, still privileged). The raw call, like the others after clone.
bool set_rlimits(ChildState& state) noexcept {
    for (const SandboxRlimit& limit : state.plan.rlimits) {
        const rlimit value{limit.soft, limit.hard};
        if (syscall(SYS_prlimit64, 0, limit.resource, &value, nullptr) != 0) return state.fail("setrlimit", "");
    }
    return true;
}

bool take_user(ChildState& state) noexcept {
    const ChildPlan& plan = state.plan;
    // A user namespace without a subordinate range has setgroups denied.
    if (plan.set_groups && syscall(SYS_setgroups, plan.groups.size(), plan.groups.data()) != 0)
        return state.fail("setgroups", "");
    if (syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) != 0) return state.fail("setresgid", "");
    if (syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) != 0) return state.fail("setresuid", "");
    if (plan.uid != 0) return true;  // leaving uid 0 cleared the permitted and effective sets
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    data[0].effective = data[0].permitted = static_cast<std::uint32_t>(k_default_capabilities);
    data[1].effective = data[1].permitted = static_cast<std::uint32_t>(k_default_capabilities >> 32);
    if (syscall(SYS_capset, &header, data) != 0) return state.fail("capset", "");
    return true;
}

void write_stderr(std::string_view a, std::string_view b, std::string_view c) noexcept {
    for (const std::string_view part : {a, b, c}) {
        std::size_t done = 0;
        while (done < part.size()) {
            const ssize_t n = write(STDERR_FILENO, part.data() + done, part.size() - done);
            if (n <= 0) return;
            done += static_cast<std::size_t>(n);
        }
    }
}

}  // namespace

[[noreturn]] void exec_command(ChildState& state) noexcept {
    const ChildPlan& plan = state.plan;
    // No controlling terminal: the command must not reach cbuild's through /dev/tty.
    setsid();
    if (!set_rlimits(state)) report_and_exit(state, "set the resource limits");
    if (!drop_capabilities(state)) report_and_exit(state, "drop capabilities");
    // runc enters the working directory as root first, so that one only root may enter still works,
    // and tries again as the user when root was refused (a directory on a volume owned by the user).
    const bool entered = chdir(plan.cwd.c_str()) == 0;
    if (!entered && errno != EACCES && errno != EPERM) {
        state.fail("chdir", plan.cwd);
        report_and_exit(state, "enter the working directory");
    }
    if (!take_user(state)) report_and_exit(state, "set the user");
    if (!entered && chdir(plan.cwd.c_str()) != 0) {
        state.fail("chdir", plan.cwd);
        report_and_exit(state, "enter the working directory");
    }
    // Go's exec.LookPath, as runc uses it: go on past missing or non-executable candidates.
    int error = ENOENT;
    for (const std::string& candidate : plan.exec_candidates) {
        execve(candidate.c_str(), const_cast<char* const*>(plan.argv.data()), const_cast<char* const*>(plan.envp.data()));
        if (errno == ENOENT || errno == ENOTDIR) continue;
        error = errno;
        if (errno != EACCES) break;
    }
    const bool searched = plan.command.find('/') == std::string::npos;
    if (searched && error == ENOENT) {
        write_stderr("exec: \"", plan.command, "\": executable file not found in $PATH\n");
    } else {
        write_stderr("exec: \"", plan.command, "\": ");
        write_stderr(strerrordesc_np(error), "\n", "");
    }
    _exit(error == ENOENT ? 127 : 126);
}

}  // namespace cbuild::builder::internal
