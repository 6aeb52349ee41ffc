#pragma once
// What `build` and `debug plan` share: their options, and reading the Dockerfile and the
// .dockerignore they name (the only I/O the front end needs).

#include <boost/program_options.hpp>
#include <string>
#include <vector>

#include "builder/plan/plan.h"
#include "cli/commands.h"
#include "parser/dockerfile.h"

namespace cbuild::cli {

struct BuildInputs {
    std::string context;          // PATH
    std::string dockerfile_path;  // -f, or PATH/Dockerfile; "-" for stdin
    std::vector<std::string> tags;
    builder::BuildRequest request;
    bool check = false;
};

// The options of `build` (and of `debug plan`, without tags/--check when `for_build` is false).
boost::program_options::options_description build_options(bool for_build);

// Parses `arguments` against build_options. Throws cbuild::UsageError for an unknown option,
// a missing or extra PATH, a bad --platform or --build-arg, or an invalid -t reference.
// Returns nullopt when --help was given (and printed).
std::optional<BuildInputs> parse_build_arguments(const Arguments& arguments, bool for_build,
                                                 const std::string& usage);

// Reads the Dockerfile (stdin for "-"); throws cbuild::IoError naming the path.
std::string read_dockerfile(const std::string& path);

// Reads and parses the Dockerfile, checks the context's .dockerignore, and plans the build.
// Throws cbuild::ParseError / IoError / Error.
builder::Plan plan_build(const BuildInputs& inputs);

}  // namespace cbuild::cli
