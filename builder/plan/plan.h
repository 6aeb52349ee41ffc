#pragma once
// The build plan: typed stages + build args + target → the stages the target needs, in
// dependency order, each instruction expanded with BuildKit's ARG/ENV scoping. Pure data: no
// I/O, no execution. The solver (later) turns each step into cached work.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "parser/dockerfile.h"
#include "registry/reference.h"

namespace cbuild::builder {

// os/architecture[/variant], as in `--platform linux/arm64/v8`.
struct Platform {
    std::string os;
    std::string architecture;
    std::string variant;

    // Parses `os/arch[/variant]` (also `os`/`arch` alone is rejected); normalises as
    // containerd does (`aarch64` → `arm64`, `x86_64` → `amd64`, arm64's default variant `v8`
    // dropped). Throws cbuild::UsageError naming the text.
    static Platform parse(std::string_view text);
    // The machine cbuild runs on (uname), e.g. linux/amd64.
    static Platform host();
    std::string to_string() const;
    friend bool operator==(const Platform&, const Platform&) = default;
};

struct BuildRequest {
    // `--build-arg` values; a key given without `=` is resolved by the CLI from the
    // environment (and dropped when unset there), as docker does.
    std::map<std::string, std::string> build_args;
    std::string target;  // stage name; empty means the last stage
    Platform target_platform;
    Platform build_platform;
    // The ENV of a base image (NAME=VALUE), in scope for expansion in stages built FROM it.
    // The planner cannot fetch it; the caller that can (the solver, once images are pulled)
    // supplies it (pulling the image when it must). Unset means base images contribute no
    // variables. A cbuild::Error it throws is reported at the FROM line.
    std::function<std::vector<std::string>(const registry::Reference& image, const std::string& platform)>
        image_environment;
};

// What a stage starts from.
struct StageBase {
    enum class Kind { scratch, image, stage };
    Kind kind = Kind::scratch;
    std::optional<registry::Reference> image;  // kind == image
    std::size_t stage = 0;                      // kind == stage: index into Plan::stages
    std::string platform;                       // expanded --platform, or empty
};

// One instruction of a stage, expanded, with what else it reads.
struct PlannedStep {
    // Expanded (RUN commands are left to the shell). COPY/ADD heredoc bodies are final: chomped
    // and, unless their delimiter was quoted, expanded (their `chomp`/`expand` are cleared).
    parser::Instruction instruction;
    // For RUN: the ARGs in scope, given to the command as environment variables and part of
    // its cache key (NAME=VALUE, sorted). Proxy ARGs are included but kept out of the key.
    std::vector<std::string> build_arg_environment;
    // Stages this step reads (COPY --from, RUN --mount from=), as indexes into Plan::stages.
    std::vector<std::size_t> stage_inputs;
    // Images this step reads (COPY --from=image, RUN --mount from=image).
    std::vector<registry::Reference> image_inputs;
    // For ARG: each name with the value it took (a build arg, its default, the global value or
    // a platform ARG), or none; what BuildKit records in the image history.
    std::vector<parser::ArgDefinition> resolved_args;
};

struct PlannedStage {
    std::size_t index = 0;  // position in the Dockerfile
    std::string name;       // `AS name`, or empty
    parser::FromInstruction from;
    StageBase base;
    std::vector<PlannedStep> steps;
    bool needed = false;  // the target depends on it; only these are expanded and built
};

struct Plan {
    std::vector<PlannedStage> stages;  // every stage of the Dockerfile, in order
    std::size_t target = 0;
    std::vector<std::size_t> build_order;   // needed stages, dependencies first
    std::vector<std::string> unused_build_args;  // given but declared by no needed stage
    std::vector<parser::Warning> warnings;
    Platform target_platform;  // what FROM scratch stages are built for
};

// Plans `dockerfile` for `request`. Throws cbuild::ParseError naming the file and line for an
// expansion error, an invalid image reference, a `--from` naming the current or a later stage,
// a FROM cycle, or an unknown `--target`.
Plan make_plan(const parser::Dockerfile& dockerfile, const BuildRequest& request);

// A human-readable listing: the target, then each needed stage with its base and steps, one
// line each, with the Dockerfile line it came from.
std::string describe(const Plan& plan);

}  // namespace cbuild::builder
