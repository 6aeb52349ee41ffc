// `cbuild [build] [OPTIONS] PATH`: plan, solve into the local store, then tag or export.

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>

#include "cache/gc.h"
#include "cli/build_inputs.h"
#include "cli/build_session.h"
#include "cli/check.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "cli/registry_access.h"

namespace cbuild::cli {

namespace {

int build_with_lease(const BuildInputs& inputs, cache::ContentStore& store) {
    // Held from the first blob this build writes until its tags are set, so a concurrent prune
    // never removes what the build has made but not yet named.
    const cache::GcLease lease(store.root());
    std::ostream& info = info_stream(inputs.progress);
    registry::Client client(client_options(insecure_registries(inputs)));
    import_build_cache(inputs, client, store, info);
    const bool terminal = isatty(STDERR_FILENO) == 1;
    const char* ci = std::getenv("CI");
    const ProgressMode mode = resolve_progress_mode(inputs.progress, terminal, ci && std::strcmp(ci, "true") == 0);
    std::filesystem::path log_dir = inputs.log_dir;
    if (log_dir.empty() && !inputs.metadata_file.empty()) log_dir = inputs.metadata_file + ".logs";
    BuildProgress progress(make_progress_display(mode, std::cerr, terminal, inputs.explain), log_dir);
    const PlannedBuild build = plan_build(inputs, &store, &client, progress.sink());
    const parser::LintReport lint = lint_build(inputs, &store);  // before any work: check=error=true fails here
    const builder::BuiltImage image = run_planned_build(inputs, build, lint, store, client, progress, info);
    if (mode == ProgressMode::quiet) std::cout << image.manifest.config.digest.to_string() << "\n";
    return 0;
}

}  // namespace

int run_build(const Arguments& arguments, const GlobalOptions& globals) {
    const auto inputs = parse_build_arguments(arguments, /*for_build=*/true,
                                              "Usage: cbuild [build] [OPTIONS] PATH\n\nBuild an image from a Dockerfile.");
    if (!inputs) return 0;
    if (inputs->check) return run_check(*inputs, globals);

    cache::ContentStore store(globals.store_root());
    const int status = build_with_lease(*inputs, store);
    collect_garbage(store.root(), info_stream(inputs->progress));
    return status;
}

}  // namespace cbuild::cli
