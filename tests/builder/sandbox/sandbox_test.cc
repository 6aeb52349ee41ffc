// run_in_sandbox for real, as root: processes, namespaces, user, timeout and cancellation. The
// mounts and mount stubs are in sandbox_mounts_test.cc.

#include "builder/sandbox/sandbox.h"

#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <future>
#include <set>
#include <sstream>
#include <thread>

#include "tests/builder/sandbox/sandbox_fixture.h"
#include "tests/support/command.h"

namespace cbuild::builder {
namespace {

std::set<std::string> interfaces(const std::string& proc_net_dev) {
    std::set<std::string> names;
    std::istringstream lines(proc_net_dev);
    for (std::string line; std::getline(lines, line);) {
        const std::size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        const std::size_t start = line.find_first_not_of(' ');
        names.insert(line.substr(start, colon - start));
    }
    return names;
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// Whether any process on the host runs `sleep SECONDS`.
bool host_runs_sleep(const std::string& seconds) {
    const std::string wanted = std::string("sleep") + '\0' + seconds + '\0';
    for (const auto& entry : fs::directory_iterator("/proc"))
        if (read_file(entry.path() / "cmdline") == wanted) return true;
    return false;
}

TEST_F(SandboxTest, CapturesOutputAndExitZero) {
    SandboxSpec run = shell("echo hello; echo oops >&2");
    std::string streamed;
    run.output = [&](std::string_view chunk) { streamed.append(chunk); };
    const SandboxResult result = run_in_sandbox(run);
    EXPECT_EQ(result.exit_status, 0);
    EXPECT_FALSE(result.timed_out);
    EXPECT_FALSE(result.cancelled);
    EXPECT_EQ(result.output_tail, "hello\noops\n");
    EXPECT_EQ(streamed, "hello\noops\n");
}

TEST_F(SandboxTest, ReportsExitStatusAndSignals) {
    EXPECT_EQ(run_in_sandbox(shell("exit 3")).exit_status, 3);
    EXPECT_EQ(run_in_sandbox(shell("kill -9 $$")).exit_status, 128 + 9);
}

TEST_F(SandboxTest, OutputTailKeepsTheLast32KiB) {
    const SandboxResult result = run_in_sandbox(shell("yes 0123456789abcdef | head -c 100000; echo END"));
    EXPECT_EQ(result.output_tail.size(), 32u * 1024);
    EXPECT_EQ(result.output_tail.substr(result.output_tail.size() - 4), "END\n");
}

TEST_F(SandboxTest, PassesArgsAndEnvExactly) {
    SandboxSpec run = spec({"printf", "[%s]", "a b", "", "$HOME"});
    EXPECT_EQ(run_in_sandbox(run).output_tail, "[a b][][$HOME]");
    run = spec({"env"});
    run.env = {"PATH=/bin", "EMPTY=", "SPACED=x  y"};
    EXPECT_EQ(run_in_sandbox(run).output_tail, "PATH=/bin\nEMPTY=\nSPACED=x  y\n");
}

TEST_F(SandboxTest, CreatesTheWorkingDirectoryAndKeepsIt) {
    SandboxSpec run = spec({"pwd"});
    run.cwd = "/work/dir";
    EXPECT_EQ(run_in_sandbox(run).output_tail, "/work/dir\n");
    struct stat info {};
    ASSERT_EQ(::stat((upper() / "work" / "dir").c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 07777, 0755u);
    EXPECT_EQ(info.st_uid, 0u);
}

TEST_F(SandboxTest, TakesUserGroupsAndDockersCapabilities) {
    SandboxSpec run = shell("id -u; id -g; id -G; grep -E '^Cap(Inh|Prm|Eff|Bnd)' /proc/self/status");
    run.uid = 1000;
    run.gid = 1001;
    run.additional_gids = {2000, 3000, 1001};
    EXPECT_EQ(run_in_sandbox(run).output_tail,
              "1000\n1001\n1001 2000 3000\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n"
              "CapEff:\t0000000000000000\nCapBnd:\t00000000a80425fb\n");
    run = shell("id -G; grep -E '^Cap(Prm|Eff)' /proc/self/status");
    EXPECT_EQ(run_in_sandbox(run).output_tail, "0\nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\n");
}

TEST_F(SandboxTest, SetsTheHostname) {
    SandboxSpec run = shell("hostname; cat /etc/hostname");
    run.hostname = "buildbox";
    EXPECT_EQ(run_in_sandbox(run).output_tail, "buildbox\nbuildbox\n");
}

TEST_F(SandboxTest, NetworkNoneHasOnlyLoopbackAndItIsUp) {
    SandboxSpec run = shell("cat /proc/net/dev; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags");
    run.network = SandboxNetwork::none;
    const SandboxResult result = run_in_sandbox(run);
    EXPECT_EQ(interfaces(result.output_tail), std::set<std::string>{"lo"});
    EXPECT_NE(result.output_tail.find("0x9\n"), std::string::npos) << result.output_tail;  // IFF_UP | IFF_LOOPBACK
}

TEST_F(SandboxTest, HostNetworkSeesTheHostsInterfaces) {
    const SandboxResult result = run_in_sandbox(shell("cat /proc/net/dev"));
    EXPECT_EQ(interfaces(result.output_tail), interfaces(read_file("/proc/self/net/dev")));
}

TEST_F(SandboxTest, ProcShowsTheNewPidNamespace) {
    // init is 1 and the shell 2 (the glob is expanded before ls starts).
    const SandboxResult result = run_in_sandbox(shell("echo $$; ls -d /proc/[0-9]*"));
    EXPECT_EQ(result.output_tail, "2\n/proc/1\n/proc/2\n");
}

TEST_F(SandboxTest, KillsWhatTheCommandLeftRunning) {
    const SandboxResult result = run_in_sandbox(shell("sleep 31337 & echo started"));
    EXPECT_EQ(result.exit_status, 0);
    EXPECT_EQ(result.output_tail, "started\n");
    EXPECT_FALSE(host_runs_sleep("31337"));
}

TEST_F(SandboxTest, TimeoutKillsTheTree) {
    SandboxSpec run = shell("sleep 31338 & sleep 31339");
    run.timeout = std::chrono::milliseconds(200);
    const SandboxResult result = run_in_sandbox(run);
    EXPECT_TRUE(result.timed_out);
    EXPECT_FALSE(result.cancelled);
    EXPECT_EQ(result.exit_status, 128 + 9);
    EXPECT_FALSE(host_runs_sleep("31338"));
    EXPECT_FALSE(host_runs_sleep("31339"));
}

TEST_F(SandboxTest, TimeoutStopsAFloodOfOutput) {
    SandboxSpec run = spec({"yes"});
    run.timeout = std::chrono::milliseconds(200);
    std::size_t streamed = 0;
    run.output = [&](std::string_view chunk) { streamed += chunk.size(); };
    const SandboxResult result = run_in_sandbox(run);
    EXPECT_TRUE(result.timed_out);
    EXPECT_GT(streamed, result.output_tail.size());
    EXPECT_EQ(result.output_tail.size(), 32u * 1024);
}

TEST_F(SandboxTest, RequestCancelFromAnotherThreadKillsTheTree) {
    SandboxSpec run = shell("echo ready; sleep 31340");
    std::promise<void> ready;
    bool signalled = false;
    run.output = [&](std::string_view chunk) {
        if (!signalled && chunk.find("ready") != std::string_view::npos) {
            signalled = true;
            ready.set_value();
        }
    };
    std::thread canceller([future = ready.get_future()]() mutable {
        future.wait();
        request_cancel();
    });
    const SandboxResult result = run_in_sandbox(run);
    canceller.join();
    EXPECT_TRUE(result.cancelled);
    EXPECT_EQ(result.exit_status, 128 + 9);
    EXPECT_TRUE(cancel_requested());
    EXPECT_FALSE(host_runs_sleep("31340"));
    EXPECT_EQ(run_in_sandbox(shell("true")).exit_status, 0) << "a later run is not cancelled";
}

TEST_F(SandboxTest, OutputCallbackErrorIsRethrownAfterCleanup) {
    SandboxSpec run = shell("echo x; sleep 31341", true);
    run.hosts = "127.0.0.1\tlocalhost\n";
    run.output = [](std::string_view) { throw std::runtime_error("sink failed"); };
    EXPECT_THROW(run_in_sandbox(run), std::runtime_error);
    EXPECT_FALSE(host_runs_sleep("31341"));
    EXPECT_TRUE(fs::is_empty(upper()));
}

// The host's pid of the process whose command line is `argv`, or 0.
pid_t host_pid_of(const std::vector<std::string>& argv) {
    std::string wanted;
    for (const std::string& arg : argv) wanted += arg + '\0';
    for (const auto& entry : fs::directory_iterator("/proc"))
        if (read_file(entry.path() / "cmdline") == wanted) return std::stoi(entry.path().filename().string());
    return 0;
}

TEST_F(SandboxTest, TheTreeDiesWithCbuild) {
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    const pid_t helper = fork();
    if (helper == 0) {
        close(ready[0]);
        fs::create_directories(dir() / "helper-tmp");  // its workspace stays: it never gets to clean up
        setenv("TMPDIR", (dir() / "helper-tmp").c_str(), 1);
        SandboxSpec run = shell("echo ready; sleep 31342; true");  // `true`: sh must not exec sleep
        run.output = [&](std::string_view) { [[maybe_unused]] const ssize_t n = write(ready[1], "r", 1); };
        try {
            run_in_sandbox(run);
        } catch (...) {
        }
        _exit(1);
    }
    close(ready[1]);
    char byte = 0;
    ASSERT_EQ(read(ready[0], &byte, 1), 1);
    close(ready[0]);
    // The shell has printed "ready", so it exists; it dies with its namespace.
    const pid_t shell_pid = host_pid_of({"/bin/sh", "-c", "echo ready; sleep 31342; true"});
    const int shell_fd = shell_pid == 0 ? -1 : static_cast<int>(syscall(SYS_pidfd_open, shell_pid, 0));
    kill(helper, SIGKILL);
    waitpid(helper, nullptr, 0);
    ASSERT_GE(shell_fd, 0) << "no shell found";
    pollfd gone{shell_fd, POLLIN, 0};
    EXPECT_EQ(poll(&gone, 1, -1), 1);  // PR_SET_PDEATHSIG killed init, and the namespace with it
    close(shell_fd);
}

TEST_F(SandboxTest, RunsSideBySide) {
    std::vector<SandboxResult> results(4);
    std::vector<std::thread> threads;
    std::vector<std::unique_ptr<test::TempDir>> dirs;
    for (std::size_t i = 0; i < results.size(); ++i) {
        dirs.push_back(std::make_unique<test::TempDir>());
        fs::create_directories(dirs.back()->path() / "upper");
        fs::create_directories(dirs.back()->path() / "work");
        SandboxSpec run = shell("echo run " + std::to_string(i));
        run.upper = dirs.back()->path() / "upper";
        run.work = dirs.back()->path() / "work";
        threads.emplace_back([&results, i, run] { results[i] = run_in_sandbox(run); });
    }
    for (std::thread& thread : threads) thread.join();
    dirs.clear();
    for (std::size_t i = 0; i < results.size(); ++i)
        EXPECT_EQ(results[i].output_tail, "run " + std::to_string(i) + "\n");
}

TEST_F(SandboxTest, MissingExecutableIsExit127WithRuncsMessage) {
    SandboxResult result = run_in_sandbox(spec({"no-such-tool", "x"}));
    EXPECT_EQ(result.exit_status, 127);
    EXPECT_EQ(result.output_tail, "exec: \"no-such-tool\": executable file not found in $PATH\n");
    result = run_in_sandbox(spec({"/bin/no-such-tool"}));
    EXPECT_EQ(result.exit_status, 127);
    EXPECT_EQ(result.output_tail, "exec: \"/bin/no-such-tool\": No such file or directory\n");
    result = run_in_sandbox(spec({"/etc/passwd"}));
    EXPECT_EQ(result.exit_status, 126);
    EXPECT_EQ(result.output_tail, "exec: \"/etc/passwd\": Permission denied\n");
}

TEST_F(SandboxTest, SetupFailureThrowsNamingTheCallAndPath) {
    SandboxSpec run = shell("true");
    run.lowers = {dir() / "missing"};
    try {
        run_in_sandbox(run);
        FAIL() << "no SandboxError";
    } catch (const SandboxError& error) {
        EXPECT_EQ(error.call(), "stat");
        EXPECT_EQ(error.path(), (dir() / "missing").string());
        EXPECT_EQ(error.error_number(), ENOENT);
    }
    // A failure inside the child: a mount point below a file.
    run = shell("true");
    SandboxMount tmpfs;
    tmpfs.type = SandboxMount::Type::tmpfs;
    tmpfs.target = "/bin/busybox/sub";
    run.mounts = {tmpfs};
    try {
        run_in_sandbox(run);
        FAIL() << "no SandboxError";
    } catch (const SandboxError& error) {
        EXPECT_EQ(error.step(), "apply the mounts");
        EXPECT_EQ(error.call(), "mkdirat");
        EXPECT_EQ(error.path(), "/bin/busybox");
        EXPECT_STREQ(error.what(), "sandbox: apply the mounts: mkdirat `/bin/busybox`: Not a directory");
    }
    EXPECT_TRUE(fs::is_empty(upper())) << "the stubs of a failed setup are cleaned up too";
}

TEST_F(SandboxTest, WorkingDirectoryIsEnteredAsRootFirstLikeRunc) {
    fs::create_directories(upper() / "secret");
    fs::permissions(upper() / "secret", fs::perms::owner_all);
    SandboxSpec run = shell("pwd; ls . || echo denied");
    run.cwd = "/secret";
    run.uid = 1000;
    EXPECT_EQ(run_in_sandbox(run).output_tail, "/secret\nls: .: Permission denied\ndenied\n");
    run.cwd = "/etc/passwd";
    try {
        run_in_sandbox(run);
        FAIL() << "no SandboxError";
    } catch (const SandboxError& error) {
        EXPECT_STREQ(error.what(), "sandbox: enter the working directory: chdir `/etc/passwd`: Not a directory");
    }
}

// Rootless: a process of uid 65534 runs the sandbox on a rootfs it owns, in a user namespace
// mapping it to root.
TEST_F(SandboxTest, RunsWithoutRootInAUserNamespace) {
    const fs::path home = dir() / "rootless";
    ASSERT_FALSE(test::write_busybox_rootfs(home / "rootfs"));
    fs::create_directories(home / "tmp");
    for (const fs::path& path : {dir().parent_path(), dir()})
        fs::permissions(path, fs::perms::others_exec | fs::perms::group_exec, fs::perm_options::add);
    ASSERT_EQ(test::run_command("chown -R 65534:65534 " + test::shell_quote(home.string())).status, 0);
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t child = fork();
    if (child == 0) {
        close(fds[0]);
        std::string answer;
        if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
            answer = "setup: cannot become 65534";
        } else {
            setenv("TMPDIR", (home / "tmp").c_str(), 1);
            SandboxSpec run;
            run.rootfs = home / "rootfs";
            run.args = {"/bin/sh", "-c", "id -u; id -g; echo x > /tmp/written; cat /tmp/written"};
            run.env = {"PATH=/bin"};
            try {
                const SandboxResult result = run_in_sandbox(run);
                answer = std::to_string(result.exit_status) + ":" + result.output_tail;
            } catch (const SandboxError& error) {
                answer = std::string(error.call() == "clone3" ? "skip: " : "error: ") + error.what();
            } catch (const std::exception& error) {
                answer = std::string("error: ") + error.what();
            }
        }
        const ssize_t written = write(fds[1], answer.data(), answer.size());
        _exit(written == static_cast<ssize_t>(answer.size()) ? 0 : 1);
    }
    close(fds[1]);
    std::string answer;
    char buffer[4096];
    for (ssize_t n; (n = read(fds[0], buffer, sizeof buffer)) > 0;) answer.append(buffer, static_cast<std::size_t>(n));
    close(fds[0]);
    int status = 0;
    waitpid(child, &status, 0);
    if (answer.rfind("skip: ", 0) == 0) {
        if (test::in_ci()) FAIL() << "unprivileged user namespaces are needed: " << answer;
        GTEST_SKIP() << answer;
    }
    EXPECT_EQ(answer, "0:0\n0\nx\n");
    EXPECT_EQ(tree(home / "tmp"), std::vector<std::string>{});
    EXPECT_FALSE(fs::exists(home / "rootfs" / "proc")) << "stubs are removed in rootfs mode too";
    EXPECT_TRUE(fs::exists(home / "rootfs" / "tmp" / "written"));
}

}  // namespace
}  // namespace cbuild::builder
