#pragma once
// BuildKit's Dockerfile build checks (frontend/dockerfile/linter, docs.docker.com/reference/
// build-checks): the same rule names, messages and URLs, the `# check=` directive honoured. A
// lint pass replays ARG/ENV scope stage by stage as BuildKit's dispatcher does, without running
// anything; rules that need a base image's ENV are quiet where the caller cannot supply it.

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "parser/dockerignore.h"

namespace cbuild::parser {

// One rule violated at one place. `start_line`..`end_line` is the instruction (1-based).
struct LintWarning {
    std::string rule;         // "StageNameCasing"
    std::string description;  // the rule's one-line description
    std::string url;          // https://docs.docker.com/go/dockerfile/rule/...
    std::string message;      // this occurrence: "Stage name 'Builder' should be lowercase"
    std::string file;
    int start_line = 0;
    int end_line = 0;
};

// The `# check=` directive (or the BUILDKIT_DOCKERFILE_CHECK build arg): `skip=A,B|all`,
// `experimental=A,B|all` (opts into CopyIgnoredFile, InvalidDefinitionDescription) and
// `error=true`, separated by `;`.
struct CheckConfig {
    bool skip_all = false;
    std::set<std::string> skip;
    bool experimental_all = false;
    std::set<std::string> experimental;
    bool error = false;  // warnings fail the build
};

// Parses a check directive value as BuildKit's ParseLintOptions. Throws cbuild::ParseError
// naming `file` and `line` for an unknown option or an `error=` that is not a boolean.
CheckConfig parse_check_config(std::string_view value, const std::string& file, int line);

struct LintOptions {
    // --build-arg values. BUILDKIT_DOCKERFILE_CHECK, when given, replaces the `# check=` directive.
    std::map<std::string, std::string> build_args;
    // The predefined ARGs with their values for this build (BUILDPLATFORM, TARGETARCH, ...).
    std::vector<std::pair<std::string, std::string>> predefined_args;
    // A base image's ENV (NAME=VALUE), or nullopt when it is not known; stages over an image of
    // unknown ENV are not checked for UndefinedVar. Unset means nothing is known.
    std::function<std::optional<std::vector<std::string>>(const std::string& image, const std::string& platform)>
        image_environment;
    // The build's .dockerignore, for CopyIgnoredFile; null when there is none.
    const PatternMatcher* ignore = nullptr;
    // Which stages are dispatched: every one (as `docker build --check` without --target), or
    // only those `target` (empty: the last stage) needs, as a build does.
    bool all_stages = true;
    std::string target;
};

struct LintReport {
    std::vector<LintWarning> warnings;  // by line, each once
    bool error_on_warnings = false;     // the check config said error=true
};

// Lints a whole Dockerfile. Throws cbuild::ParseError for what parse_dockerfile rejects and for
// an invalid check directive; expansion errors are left to the planner (no warning, no throw).
LintReport lint_dockerfile(std::string_view bytes, const std::string& file_name, const LintOptions& options);

// `docker build --check`'s report: "Check complete, N warnings have been found!" and then each
// warning with its rule, URL, message, FILE:LINE and the lines of the instruction; or "Check
// complete, no warnings found." `bytes` is the Dockerfile the report is about.
std::string format_check_report(const LintReport& report, std::string_view bytes);

// What a build prints: " N warnings found:" and one " - Rule: message (FILE:LINE)" line each;
// empty when there is no warning.
std::string format_build_warnings(const LintReport& report);

// BuildKit's error for check=error=true: "lint violation found for rules: A, B" (sorted).
std::string lint_violation_message(const LintReport& report);

}  // namespace cbuild::parser
