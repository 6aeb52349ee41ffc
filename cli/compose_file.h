#pragma once
// The compose file model `cbuild bake` builds from: each service's `build:` section (the
// Compose specification's build element), with `${VAR}` interpolated from the environment and
// the `.env` file beside the compose file, paths resolved against the compose file's directory.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cbuild::cli {

// Variables for interpolation, by name.
using ComposeEnvironment = std::map<std::string, std::string>;

// Where a build secret comes from: a file, or an environment variable of cbuild's.
struct ComposeSecret {
    std::filesystem::path file;
    std::string env;  // set: read this variable instead of `file`
};

// A service's `build:` section, interpolated and resolved.
struct ComposeBuild {
    std::filesystem::path context;     // absolute: `context` resolved against the compose file's directory
    std::filesystem::path dockerfile;  // `dockerfile` resolved against the context; empty with dockerfile_inline
    std::optional<std::string> dockerfile_inline;
    std::map<std::string, std::string> args;  // a bare `K` unset in the environment is left out
    std::string target;
    // `image:` (or compose's default `<project>-<service>`) first, then `tags:`.
    std::vector<std::string> tags;
    std::map<std::string, std::string> labels;
    std::vector<std::string> cache_from;  // in --cache-from syntax
    std::vector<std::string> cache_to;    // in --cache-to syntax
    std::map<std::string, ComposeSecret> secrets;  // by build secret id
    std::vector<std::string> platforms;
    std::string network;  // empty when not given
    bool pull = false;      // `pull: true`: refresh base images, as --pull
    bool no_cache = false;  // `no_cache: true`, as --no-cache
    int line = 0;         // of the `build:` key, for messages
};

struct ComposeService {
    std::string name;
    std::string image;                  // `image:`, interpolated; may be empty
    std::optional<ComposeBuild> build;  // nullopt: the service only runs an image
    int line = 0;
};

struct ComposeProject {
    std::filesystem::path file;  // the compose file, as given
    std::string name;            // top-level `name:`, COMPOSE_PROJECT_NAME, or the directory's name
    std::vector<ComposeService> services;  // in file order
};

// Parses a compose file's text. `file` names it in messages and anchors relative paths;
// `environment` supplies `${VAR}` values (the caller merges the process environment over the
// .env file, as compose does). Throws cbuild::ParseError naming the file and line for a YAML
// error, a value of the wrong shape, a build key cbuild does not support (ssh,
// additional_contexts, ...), a remote context, a missing `${VAR:?message}` variable, an
// unknown or malformed secret, or a bad `${`.
ComposeProject parse_compose(std::string_view text, const std::filesystem::path& file,
                             const ComposeEnvironment& environment);

// Reads and parses `file` with the process environment over the `.env` file beside it.
// Throws cbuild::IoError when a file cannot be read, else as parse_compose.
ComposeProject load_compose_file(const std::filesystem::path& file);

// The `.env` format: `KEY=VALUE` lines, `#` comments, an optional `export `, values in single
// (literal) or double quotes (with \n, \t, \\ and \" escapes). Throws cbuild::ParseError
// naming `file` and the line of a line with no `=` or an unterminated quote.
ComposeEnvironment parse_dot_env(std::string_view text, const std::string& file);

// Compose's interpolation of one value: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
// `${VAR:?error}`, `${VAR?error}`, `${VAR:+replacement}`, `${VAR+replacement}` (defaults may
// nest) and `$$` for a literal `$`. An unset variable without a default is empty. Throws
// cbuild::Error with the message alone for an unterminated `${`, a bad name or a `?` error;
// parse_compose adds the file and line.
std::string interpolate(std::string_view value, const ComposeEnvironment& environment);

// The compose file in `dir` when none is named: compose.yaml, compose.yml,
// docker-compose.yaml, docker-compose.yml, the first that exists; nullopt when none does.
std::optional<std::filesystem::path> find_compose_file(const std::filesystem::path& dir);

// Compose's project name rule: lower-cased, only [a-z0-9_-] kept, leading `_`/`-` dropped.
std::string normalize_project_name(std::string_view name);

}  // namespace cbuild::cli
