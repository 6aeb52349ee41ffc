#pragma once
// RUN, as BuildKit's Dockerfile frontend and executor define it: the command line (SHELL,
// exec form, heredoc bodies), the process environment and user, the sandbox mounts each
// `--mount` asks for, and the history text. The solver supplies the snapshots and turns what
// the step changed into a layer.

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "builder/plan/plan.h"
#include "builder/sandbox/sandbox.h"
#include "builder/solve/internal/stage_image.h"
#include "builder/solve/solve.h"

namespace cbuild::builder::internal {

// What a RUN's mounts and environment read from outside its own image.
struct RunInputs {
    const SolveOptions& options;
    // Where `--mount=type=cache` directories persist, one per id (kept out of every layer).
    std::filesystem::path cache_mounts_dir;
    // The snapshot directories (top first) of the stage or image a `--mount ... from=` names.
    std::function<std::vector<std::filesystem::path>(const parser::Mount& mount)> source_lowers;
    // ARGs the stage declared so far, in declaration order, with their values (BuildKit's
    // d.buildArgs): the `|N NAME=VALUE` prefix of the history text.
    const std::vector<parser::ArgDefinition>& declared_args;
};

// A RUN ready for the sandbox: the spec without its root filesystem (the solver adds lowers,
// upper and work), the history text, and what must stay held while it runs (cache-mount
// locks).
struct PreparedRun {
    SandboxSpec spec;
    std::string created_by;
    // The environment as the cache key sees it: the process's, before secrets and the ssh socket
    // are added (they must never reach a key).
    std::vector<std::string> key_env;
    // For the key: "network=none", then the build's --add-host, --shm-size and --ulimit if given.
    std::string sandbox_text;
    std::vector<std::shared_ptr<void>> held;
};

// Throws cbuild::Error for a mount that cannot be provided (a required secret or ssh socket
// that was not given, a bind source outside the context or missing, an unknown user); the
// solver reports it at the RUN line.
PreparedRun prepare_run(const parser::RunInstruction& run, const PlannedStep& step, const StageImage& image,
                        const RunInputs& inputs);

// BuildKit's error for a command that exited non-zero: `process "/bin/sh -c exit 3" did not
// complete successfully: exit code: 3`.
std::string failed_process_message(const std::vector<std::string>& args, const SandboxResult& result);

// The last `count` lines of a step's output, for its error message.
std::string last_lines(const std::string& output, std::size_t count);

}  // namespace cbuild::builder::internal
