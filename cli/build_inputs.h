#pragma once
// What `build` and `debug plan` share: their options, and reading the Dockerfile and the
// .dockerignore they name (the only I/O the front end needs).

#include <boost/program_options.hpp>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "builder/export/export.h"
#include "builder/plan/plan.h"
#include "builder/solve/solve.h"
#include "builder/transfer/cache_transfer.h"
#include "builder/snapshot/layer_writer.h"
#include "cache/content_store.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "registry/client.h"
#include "parser/dockerfile.h"
#include "parser/dockerignore.h"

namespace cbuild::cli {

struct BuildInputs {
    std::string context;          // PATH
    std::string dockerfile_path;  // -f, or PATH/Dockerfile; "-" for stdin
    std::vector<std::string> tags;
    builder::BuildRequest request;
    bool check = false;
    builder::ExportRequest output;  // -o (default: the local store)
    builder::LayerOptions layers;   // --compression, --compression-level, SOURCE_DATE_EPOCH
    std::string iidfile;
    std::string metadata_file;
    std::vector<std::string> insecure_registries;  // --insecure-registry
    std::map<std::string, builder::SecretSource> secrets;           // --secret, by id
    std::map<std::string, std::filesystem::path> ssh_sockets;      // --ssh, id → agent socket
    builder::RunOptions run;                                       // --add-host, --network, --shm-size, --ulimit
    bool no_cache = false;                                         // --no-cache
    std::set<std::string> no_cache_filter;                         // --no-cache-filter
    bool pull = false;                                             // --pull
    bool explain = false;                                          // --explain
    std::size_t jobs = 1;                                          // --jobs
    std::vector<builder::CacheExportSpec> cache_to;                // --cache-to
    std::vector<builder::CacheImportSpec> cache_from;              // --cache-from
    ProgressMode progress = ProgressMode::automatic;               // --progress; -q is quiet
    std::filesystem::path log_dir;                                 // --log-dir
    std::filesystem::path timeline;                                // --timeline
};

// Parses `arguments` against the options of `build` (or of `debug plan` when `for_build` is
// false). Throws cbuild::UsageError for an unknown option, a missing or extra PATH, a bad
// --platform, --build-arg, -o or compression value, or an invalid -t reference, and as
// cli/build_flags.h says for --build-arg-file, --label, --build-context, --add-host, --network,
// --shm-size and --ulimit (each --build-arg wins over the file's value). Returns nullopt
// when --help was given (and printed).
std::optional<BuildInputs> parse_build_arguments(const Arguments& arguments, bool for_build,
                                                 const std::string& usage);

// Reads the Dockerfile (stdin for "-"); throws cbuild::IoError naming the path.
std::string read_dockerfile(const std::string& path);

// What the front end makes of a build's inputs.
struct PlannedBuild {
    builder::Plan plan;
    std::string ignore_file;  // the .dockerignore in effect, or empty
    parser::PatternMatcher ignore_patterns;
    std::string dockerfile_name;  // as errors name it: the -f path, or "Dockerfile" for stdin
    std::string dockerfile_text;
};

// Reads and parses the Dockerfile, reads the build's .dockerignore
// (`<Dockerfile>.dockerignore` first, then PATH/.dockerignore) and plans the build. With a
// store, the ENV of base images is in scope, and with a client too, every image the plan needs
// (FROM, COPY --from) that the store lacks is pulled into it; an oci-layout:// --build-context
// is imported into the store first (without a store it is an error). Pulls are reported to
// `progress` when set. Throws cbuild::ParseError / IoError / Error / UsageError /
// registry::RegistryError.
PlannedBuild plan_build(const BuildInputs& inputs, cache::ContentStore* store, registry::Client* client,
                        const builder::ProgressSink& progress = {});

}  // namespace cbuild::cli
