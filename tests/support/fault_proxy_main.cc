// cbuild_fault_proxy: the fault-injecting proxy that FaultProxy starts as a process of its own.
// tests/support/fault_proxy.h documents its arguments, its first line of output and its control
// protocol. Exit status: 1 when it cannot start or a listener fails, 2 on bad arguments.

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "common/error.h"
#include "tests/support/fault_proxy_engine.h"

namespace {

using cbuild::UsageError;

struct Arguments {
    std::string upstream;
    std::string upstream_authorization;
    pid_t parent_pid = 0;  // 0: not checked
};

Arguments parse_arguments(int argc, char** argv) {
    Arguments arguments;
    for (int i = 1; i < argc; i += 2) {
        const std::string flag = argv[i];
        if (i + 1 == argc) throw UsageError("`" + flag + "` needs a value");
        const std::string value = argv[i + 1];
        if (flag == "--upstream")
            arguments.upstream = value;
        else if (flag == "--upstream-authorization")
            arguments.upstream_authorization = value;
        else if (flag == "--parent-pid")
            arguments.parent_pid = std::atoi(value.c_str());
        else
            throw UsageError("unknown argument `" + flag + "`");
    }
    if (arguments.upstream.empty()) throw UsageError("`--upstream HOST:PORT` is required");
    return arguments;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const Arguments arguments = parse_arguments(argc, argv);
        // Die with the test that started us. A parent that died before the signal was armed has
        // already handed us to another process, which getppid() shows.
        if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) throw cbuild::IoError("prctl", "PR_SET_PDEATHSIG", errno);
        if (arguments.parent_pid != 0 && ::getppid() != arguments.parent_pid) return 1;

        cbuild::test::FaultProxyEngine engine(arguments.upstream, arguments.upstream_authorization);
        const auto ports = engine.ports();
        if (std::printf("%d %d %d\n", ports.proxy, ports.redirect, ports.control) < 0 || std::fflush(stdout) != 0)
            throw cbuild::IoError("stdout", "write", errno);
        engine.serve();
    } catch (const UsageError& error) {
        std::fprintf(stderr, "cbuild_fault_proxy: %s\n", error.what());
        return 2;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "cbuild_fault_proxy: %s\n", error.what());
        return 1;
    }
}
