#pragma once
// The command process, forked by the container's init after pivot_root.

#include "builder/sandbox/internal/container_init.h"

namespace cbuild::builder::internal {

// Drops capabilities to Docker's default set, takes the user (setgroups, setgid, setuid as raw
// system calls: glibc's wrappers would signal the parent's threads, which the child does not
// have), enters the working directory (as root first, like runc) and execs with exactly the spec's environment. A setup
// failure goes over the status pipe; an executable that cannot be found or run is exit status 127
// (or 126) with runc's message on stderr, so the caller sees it in the output.
[[noreturn]] void exec_command(ChildState& state) noexcept;

}  // namespace cbuild::builder::internal
