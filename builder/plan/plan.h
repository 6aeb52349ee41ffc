#pragma once
// The build plan: typed stages + build args + target → the stages the target needs, in
// dependency order, each instruction expanded with BuildKit's ARG/ENV scoping. Pure data: no
// I/O, no execution. The solver (later) turns each step into cached work.

#include <filesystem>
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

// A `--build-context NAME=VALUE` source (BuildKit's named contexts): a local directory, or an
// image (`docker-image://REF`, or `oci-layout://DIR` once the caller has imported it into the
// store and set `image`).
struct NamedContext {
    enum class Kind { directory, image, oci_layout };
    Kind kind = Kind::directory;
    std::filesystem::path directory;           // directory; oci_layout: the layout's directory
    std::optional<registry::Reference> image;  // image; oci_layout: once imported
    std::string layout_tag = "latest";         // oci_layout: the index.json ref.name to read
    std::optional<Digest> layout_digest;       // oci_layout: `@sha256:…`, instead of the tag
    std::string value;                         // the flag's value as given, for messages
};

// The name a `--build-context` NAME, a FROM base or a `--from` value is matched by, normalised
// as BuildKit does: the familiar reference without `:latest` (`docker.io/library/alpine` and
// `alpine` are both `alpine`; `alpine:3.19` is not). nullopt when `name` is not a reference.
std::optional<std::string> context_name(std::string_view name);

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
    // `--label`: set in the target image's config over its LABELs (config only, in no cache key).
    std::map<std::string, std::string> labels;
    // `--build-context`, by context_name(NAME): each replaces the stage or image of that name
    // wherever the Dockerfile refers to it (FROM, COPY --from, RUN --mount from=). The planner
    // takes directories and images; an oci_layout without `image` is an error.
    std::map<std::string, NamedContext> named_contexts;
};

// What a stage starts from.
struct StageBase {
    enum class Kind { scratch, image, stage, directory };
    Kind kind = Kind::scratch;
    std::optional<registry::Reference> image;  // kind == image
    std::size_t stage = 0;                      // kind == stage: index into Plan::stages
    std::string platform;                       // expanded --platform, or empty
    // kind == directory: a --build-context directory, the stage's files on an empty image.
    std::filesystem::path directory;
    // The --build-context (its context_name) that gave this base, or empty.
    std::string context;
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

// A stage a --build-context replaces has that context as its base and no steps. A name the
// Dockerfile uses that is no stage but has a --build-context (`FROM alpine`, `COPY --from=alpine`)
// becomes such a stage too, appended after the Dockerfile's, named by its context_name().
struct PlannedStage {
    std::size_t index = 0;  // position in the Dockerfile (or in Plan::stages, past its stages)
    std::string name;       // `AS name`, or empty
    parser::FromInstruction from;
    StageBase base;
    std::vector<PlannedStep> steps;
    bool needed = false;  // the target depends on it; only these are expanded and built
};

struct Plan {
    std::vector<PlannedStage> stages;  // every stage of the Dockerfile, in order, then --build-context ones
    std::size_t target = 0;
    std::vector<std::size_t> build_order;   // needed stages, dependencies first
    std::vector<std::string> unused_build_args;  // given but declared by no needed stage
    std::map<std::string, std::string> labels;   // --label, for the target image's config
    std::vector<parser::Warning> warnings;
    Platform target_platform;  // what FROM scratch stages are built for
};

// The platform ARGs BuildKit predefines for every build (BUILDPLATFORM, TARGETARCH, …), by name.
std::vector<std::pair<std::string, std::string>> platform_args(const BuildRequest& request);

// Plans `dockerfile` for `request`. Throws cbuild::ParseError naming the file and line for an
// expansion error, an invalid image reference, a `--from` naming the current or a later stage,
// a FROM cycle, or an unknown `--target`, and cbuild::Error naming the flag value for an
// oci_layout context that was not imported.
Plan make_plan(const parser::Dockerfile& dockerfile, const BuildRequest& request);

// A human-readable listing: the target, then each needed stage with its base and steps, one
// line each, with the Dockerfile line it came from.
std::string describe(const Plan& plan);

}  // namespace cbuild::builder
