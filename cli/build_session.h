#pragma once
// What one build does once it is planned, the same for `cbuild build` and for each service of
// `cbuild bake`: solve, tag or export, push, export the cache, then write the iidfile, the
// metadata and the timeline, and say what was done.

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "builder/solve/solve.h"
#include "cache/content_store.h"
#include "cli/build_inputs.h"
#include "cli/progress.h"
#include "parser/lint.h"
#include "registry/client.h"

namespace cbuild::cli {

// The hosts (HOST[:PORT]) the build may reach over plain HTTP or unverified TLS: its
// --insecure-registry hosts and the registries of its `insecure=true` cache imports and exports.
std::vector<std::string> insecure_registries(const BuildInputs& inputs);

// Imports each of the build's --cache-from sources into the store's cache index, saying on
// `info` how many records came from where. Throws what builder::import_cache throws.
void import_build_cache(const BuildInputs& inputs, registry::Client& client, cache::ContentStore& store,
                        std::ostream& info);

// Solves `build`, then tags the image in the store or exports it (-o), pushes it when
// `inputs.output.push` (under `output.names`, else the tags), exports the cache to each
// --cache-to, writes --iidfile, --metadata-file and --timeline, and says on `info` what it did,
// after the plan's warnings and `lint`'s. `progress` has ended (its display printed its last)
// when this returns or throws. A step that fails at a Dockerfile line throws BuildFailure,
// rendered as BuildKit shows it; other failures throw what the solver, the export and the
// transfers throw.
builder::BuiltImage run_planned_build(const BuildInputs& inputs, const PlannedBuild& build,
                                      const parser::LintReport& lint, cache::ContentStore& store,
                                      registry::Client& client, BuildProgress& progress, std::ostream& info);

// BuildKit's automatic GC after a build, at most once an hour: the store at `root` is pruned,
// least recently used first, down to the default limit (10% of its disk, at most 10 GB).
// Skipped while a build holds its lease; a failure is a warning on `info`, never an error.
void collect_garbage(const std::filesystem::path& root, std::ostream& info);

// Where a build's lines that are neither progress nor errors go: stderr, or nowhere for quiet.
std::ostream& info_stream(ProgressMode mode);

}  // namespace cbuild::cli
