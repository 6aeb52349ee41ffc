#pragma once
// The sandbox child, PID 1 of the new PID namespace: a flat list of named setup steps (namespaces,
// mounts, pivot_root), then it forks the command, reaps every process and exits with the command's
// status when the command exits, so that the kernel kills whatever else is left. It never throws
// and never allocates; a failing step is reported over the status pipe before _exit.

#include <cstdint>
#include <string_view>

#include "builder/sandbox/internal/child_plan.h"
#include "builder/sandbox/internal/path_in_root.h"

namespace cbuild::builder::internal {

// The child's working state; setup functions return false after fail().
struct ChildState {
    explicit ChildState(const ChildPlan& child_plan) : plan(child_plan), status_fd(child_plan.status_fd) {}

    const ChildPlan& plan;
    int status_fd;
    int root_fd = -1;                 // the container's root directory, once mounted
    std::uint64_t root_mount_id = 0;  // its mount, to tell stubs in the image from ones on other mounts
    int failed_errno = 0;
    PathBuffer failed_call;
    PathBuffer failed_path;

    // Records the call, its path and errno; returns false.
    bool fail(std::string_view call, std::string_view path) noexcept;
};

// Exit status of the child when a setup step failed (the report says which).
constexpr int k_setup_failed = 125;

// Sends the failure recorded in `state` as the failure of `step` and exits with k_setup_failed.
[[noreturn]] void report_and_exit(ChildState& state, std::string_view step) noexcept;

// Runs in the child right after clone: sets up the container and becomes its init.
[[noreturn]] void run_container_init(const ChildPlan& plan) noexcept;

}  // namespace cbuild::builder::internal
