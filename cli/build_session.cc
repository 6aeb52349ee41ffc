#include "cli/build_session.h"

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "builder/export/export.h"
#include "builder/transfer/cache_transfer.h"
#include "builder/transfer/transfer.h"
#include "cache/cache_index.h"
#include "cache/gc.h"
#include "cli/failure_display.h"
#include "cli/timeline.h"
#include "common/atomic_file.h"
#include "common/error.h"

namespace cbuild::cli {

namespace {

// buildx's --metadata-file keys for an image build, and cbuild's record of each step.
std::string build_metadata(const builder::BuiltImage& image, const std::vector<std::string>& tags,
                           const std::vector<StepRecord>& steps) {
    std::string names;
    for (const std::string& tag : tags) names += (names.empty() ? "" : ",") + tag;
    nlohmann::json metadata = {{"containerimage.config.digest", image.manifest.config.digest.to_string()},
                               {"containerimage.digest", image.manifest_descriptor.digest.to_string()},
                               {"containerimage.descriptor",
                                {{"mediaType", image.manifest_descriptor.media_type},
                                 {"digest", image.manifest_descriptor.digest.to_string()},
                                 {"size", image.manifest_descriptor.size}}}};
    if (!names.empty()) metadata["image.name"] = names;
    metadata["cbuild.steps"] = steps_metadata(steps);
    return metadata.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// Solves the plan; a step that fails at a Dockerfile line is shown as BuildKit shows it (its
// output, the lines around it) as a BuildFailure. The progress display ends before the error
// is printed.
builder::BuiltImage solve_shown(const PlannedBuild& build, const builder::SolveOptions& options,
                                cache::ContentStore& store, BuildProgress& progress) {
    try {
        return builder::solve(build.plan, options, store);
    } catch (const ParseError& error) {
        progress.finish();
        FailedStep failed;
        for (const StepRecord& step : progress.steps())
            if (step.state == StepRecord::State::failed && step.file == error.file() && step.line == error.line())
                failed = FailedStep{step.description, step.end_line};
        const std::string_view dockerfile =
            error.file() == build.dockerfile_name ? std::string_view(build.dockerfile_text) : std::string_view();
        throw BuildFailure(render_build_failure(error, dockerfile, failed));
    } catch (...) {
        progress.finish();
        throw;
    }
}

void push(const BuildInputs& inputs, const builder::BuiltImage& image, cache::ContentStore& store,
          registry::Client& client, BuildProgress& progress, std::ostream& info) {
    const std::vector<std::string>& names = inputs.output.names.empty() ? inputs.tags : inputs.output.names;
    std::vector<registry::Reference> targets;
    for (const std::string& name : names) targets.push_back(registry::Reference::parse(name));
    const cache::TagEntry built{.name = "",
                                .media_type = image.manifest_descriptor.media_type,
                                .digest = image.manifest_descriptor.digest,
                                .size = static_cast<std::uint64_t>(image.manifest_descriptor.size),
                                .annotations = {}};
    const builder::PushResult pushed = builder::push_image(client, store, built, targets, 4, progress.sink());
    progress.finish();  // the tty view stops redrawing before plain lines follow it
    for (const registry::Reference& target : targets)
        info << "pushed " << target.familiar() << " (" << pushed.uploaded << " blobs uploaded, " << pushed.existed
             << " already there)\n";
}

void export_build_cache(const BuildInputs& inputs, const builder::BuiltImage& image, cache::ContentStore& store,
                        registry::Client& client, std::ostream& info) {
    const cache::CacheIndex index(cache::cache_index_dir(store.root()));
    for (const builder::CacheExportSpec& spec : inputs.cache_to) {
        std::vector<cache::CacheRecord> records;
        for (const Digest& key : spec.mode_max ? image.all_step_keys : image.target_step_keys)
            if (auto record = index.find(key)) records.push_back(std::move(*record));
        const builder::CacheExportResult exported =
            builder::export_cache(client, store, records, store.root() / "cache-mounts", spec);
        info << "exported " << exported.records << " cache records to "
             << (spec.type == builder::CacheExportSpec::Type::registry ? spec.ref : spec.dir.string()) << " ("
             << exported.uploaded << " blobs uploaded)\n";
    }
}

}  // namespace

std::vector<std::string> insecure_registries(const BuildInputs& inputs) {
    std::vector<std::string> insecure = inputs.insecure_registries;
    for (const builder::CacheExportSpec& spec : inputs.cache_to)
        if (spec.insecure && spec.type == builder::CacheExportSpec::Type::registry)
            insecure.push_back(registry::Reference::parse(spec.ref).registry_host());
    for (const builder::CacheImportSpec& spec : inputs.cache_from)
        if (spec.insecure && spec.type == builder::CacheImportSpec::Type::registry)
            insecure.push_back(registry::Reference::parse(spec.ref).registry_host());
    return insecure;
}

void import_build_cache(const BuildInputs& inputs, registry::Client& client, cache::ContentStore& store,
                        std::ostream& info) {
    if (inputs.cache_from.empty()) return;
    cache::CacheIndex index(cache::cache_index_dir(store.root()));
    for (const builder::CacheImportSpec& spec : inputs.cache_from) {
        const std::string name = spec.type == builder::CacheImportSpec::Type::registry ? spec.ref : spec.dir.string();
        const std::size_t imported = builder::import_cache(client, store, index, store.root() / "cache-mounts", spec);
        info << (imported ? "imported " + std::to_string(imported) + " cache records from " + name
                          : "no build cache at " + name + " yet")
             << "\n";
    }
}

builder::BuiltImage run_planned_build(const BuildInputs& inputs, const PlannedBuild& build,
                                      const parser::LintReport& lint, cache::ContentStore& store,
                                      registry::Client& client, BuildProgress& progress, std::ostream& info) {
    builder::SolveOptions options;
    options.context_dir = inputs.context;
    options.context_ignore = build.ignore_patterns;
    options.layers = inputs.layers;
    options.source_date_epoch = inputs.layers.source_date_epoch;
    options.secrets = inputs.secrets;
    options.ssh_sockets = inputs.ssh_sockets;
    options.run = inputs.run;
    options.progress = progress.sink();
    options.explain = inputs.explain;
    options.no_cache = inputs.no_cache;
    options.no_cache_filter = inputs.no_cache_filter;
    options.jobs = inputs.jobs;
    options.need_filesystem =
        inputs.output.type == builder::ExportType::local || inputs.output.type == builder::ExportType::tar;
    const builder::BuiltImage image = solve_shown(build, options, store, progress);
    try {
        if (inputs.output.type == builder::ExportType::store) {
            builder::tag_image(store, image, inputs.tags);
        } else {
            builder::export_image(store, image, inputs.output, inputs.tags, options.source_date_epoch);
        }
        if (inputs.output.push) push(inputs, image, store, client, progress, info);
        export_build_cache(inputs, image, store, client, info);
        if (!inputs.iidfile.empty()) write_file_atomically(inputs.iidfile, image.manifest.config.digest.to_string());
    } catch (...) {
        progress.finish();
        throw;
    }
    progress.finish();
    if (!inputs.metadata_file.empty())
        write_file_atomically(inputs.metadata_file, build_metadata(image, inputs.tags, progress.steps()));
    if (!inputs.timeline.empty()) write_timeline(inputs.timeline, progress.steps());

    for (const parser::Warning& warning : build.plan.warnings) info << "warning: " << warning.short_text << "\n";
    info << parser::format_build_warnings(lint);
    info << "writing image " << image.manifest.config.digest.to_string() << " (manifest "
         << image.manifest_descriptor.digest.to_string() << ")\n";
    if (inputs.output.type == builder::ExportType::store) {
        for (const std::string& tag : inputs.tags) info << "naming to " << builder::store_tag_name(tag) << "\n";
    } else if (inputs.output.type != builder::ExportType::registry) {
        info << "exported " << builder::export_type_name(inputs.output.type) << " to " << inputs.output.dest << "\n";
    }
    return image;
}

void collect_garbage(const std::filesystem::path& root, std::ostream& info) {
    const std::filesystem::path stamp = cache::cache_index_dir(root) / "last-gc";
    std::error_code error;
    const auto last = std::filesystem::last_write_time(stamp, error);
    if (!error && std::filesystem::file_time_type::clock::now() - last < std::chrono::hours(1)) return;
    try {
        write_file_atomically(stamp, "");
        cache::PruneOptions options;
        options.keep_storage = cache::default_gc_limit(root);
        if (const auto result = cache::try_prune(root, options); result && result->bytes_freed > 0)
            info << "automatic GC freed " << result->bytes_freed << " bytes\n";
    } catch (const Error& failure) {
        info << "warning: automatic GC failed: " << failure.what() << "\n";
    }
}

std::ostream& info_stream(ProgressMode mode) {
    static std::ostream nowhere(nullptr);
    return mode == ProgressMode::quiet ? nowhere : std::cerr;
}

}  // namespace cbuild::cli
