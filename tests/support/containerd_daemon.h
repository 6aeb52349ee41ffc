#pragma once
// A private containerd (Debian's /usr/bin/containerd, the runtime Kubernetes nodes run) for
// tests: its root, state, socket, config and log in a temp dir, the CRI plugin off, so it
// touches nothing of a containerd the machine may run. `ctr` drives it with the runc shim, its
// runc root and IO fifos in the same temp dir, and no cgroup of its own. Only the shims'
// sockets go where containerd 1.6 always puts them, /run/containerd/s, gone when they exit.

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/command.h"
#include "tests/support/temp_dir.h"

namespace cbuild::test {

class ContainerdDaemon {
public:
    // The program a test needs that is missing ("containerd", "ctr", "containerd-shim-runc-v2",
    // "runc"), if any: the test skips (or fails under CI=true) on it.
    static std::optional<std::string> missing_tool();

    // Starts containerd and waits until its socket accepts connections. Throws cbuild::Error
    // with containerd's log when it exits or does not answer.
    ContainerdDaemon();
    // stop(), ignoring what it reports.
    ~ContainerdDaemon();
    ContainerdDaemon(const ContainerdDaemon&) = delete;
    ContainerdDaemon& operator=(const ContainerdDaemon&) = delete;

    // The gRPC socket, as `ctr --address` takes it.
    std::filesystem::path socket() const { return m_dir.path() / "containerd.sock"; }

    // `ctr --address SOCKET ARGS` (ARGS is shell text, quoted as needed): stdout and stderr.
    CommandResult ctr(const std::string& args) const;
    // `ctr --address SOCKET run --rm … IMAGE ID`: the container's stdout only (ctr's and the
    // container's stderr go to stderr_file()), with the runc root and fifos in the temp dir and
    // no cgroup.
    CommandResult run(const std::string& image, const std::string& id) const;
    std::filesystem::path stderr_file() const { return m_dir.path() / "run.stderr"; }

    // containerd's log so far.
    std::string log() const;

    // Deletes any task still there (`ctr task delete --force`), stops containerd (SIGTERM, then
    // SIGKILL if it has not ended in 10 s) and reaps it, then kills any shim still serving its
    // socket with the processes below it, and unmounts anything still mounted under its dirs.
    // Returns what it had to clean up ("task ID", "process PID: CMDLINE", "mount PATH"), which
    // a clean run leaves empty; a second call finds nothing left.
    std::vector<std::string> stop();

private:
    TempDir m_dir;
    pid_t m_pid = -1;
};

}  // namespace cbuild::test
