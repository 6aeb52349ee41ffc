// `cbuild [build] [OPTIONS] PATH`: plan, solve into the local store, then tag or export.

#include <iostream>
#include <nlohmann/json.hpp>

#include "builder/export/export.h"
#include "builder/solve/solve.h"
#include "builder/transfer/cache_transfer.h"
#include "builder/transfer/transfer.h"
#include "cache/cache_index.h"
#include "cache/gc.h"
#include "cli/build_inputs.h"
#include "cli/commands.h"
#include "cli/registry_access.h"
#include "common/atomic_file.h"
#include "common/error.h"

namespace cbuild::cli {

namespace {

// buildx's --metadata-file keys for an image build.
std::string build_metadata(const builder::BuiltImage& image, const std::vector<std::string>& tags) {
    std::string names;
    for (const std::string& tag : tags) names += (names.empty() ? "" : ",") + tag;
    nlohmann::json metadata = {{"containerimage.config.digest", image.manifest.config.digest.to_string()},
                               {"containerimage.digest", image.manifest_descriptor.digest.to_string()},
                               {"containerimage.descriptor",
                                {{"mediaType", image.manifest_descriptor.media_type},
                                 {"digest", image.manifest_descriptor.digest.to_string()},
                                 {"size", image.manifest_descriptor.size}}}};
    if (!names.empty()) metadata["image.name"] = names;
    return metadata.dump(2) + "\n";
}

// BuildKit's automatic GC, at most once an hour: the store is pruned, least recently used first,
// down to the default limit (10% of its disk, at most 10 GB). Skipped while another build runs.
void collect_garbage(const std::filesystem::path& root) {
    const std::filesystem::path stamp = cache::cache_index_dir(root) / "last-gc";
    std::error_code error;
    const auto last = std::filesystem::last_write_time(stamp, error);
    if (!error && std::filesystem::file_time_type::clock::now() - last < std::chrono::hours(1)) return;
    try {
        write_file_atomically(stamp, "");
        cache::PruneOptions options;
        options.keep_storage = cache::default_gc_limit(root);
        if (const auto result = cache::try_prune(root, options); result && result->bytes_freed > 0)
            std::cerr << "automatic GC freed " << result->bytes_freed << " bytes\n";
    } catch (const Error& failure) {
        std::cerr << "warning: automatic GC failed: " << failure.what() << "\n";
    }
}

int build_with_lease(const BuildInputs& inputs, cache::ContentStore& store);

}  // namespace

int run_build(const Arguments& arguments, const GlobalOptions& globals) {
    const auto inputs = parse_build_arguments(arguments, /*for_build=*/true,
                                              "Usage: cbuild [build] [OPTIONS] PATH\n\nBuild an image from a Dockerfile.");
    if (!inputs) return 0;
    if (inputs->check) {
        const PlannedBuild build = plan_build(*inputs, nullptr, nullptr);
        for (const parser::Warning& warning : build.plan.warnings) std::cerr << "warning: " << warning.short_text << "\n";
        std::cout << "Check complete, no problems found: " << build.plan.build_order.size() << " of "
                  << build.plan.stages.size() << " stages needed for the target";
        if (!build.ignore_file.empty())
            std::cout << "; " << build.ignore_file << " has " << build.ignore_patterns.size() << " patterns";
        std::cout << "\n";
        return 0;
    }

    cache::ContentStore store(globals.store_root());
    const int status = build_with_lease(*inputs, store);
    collect_garbage(store.root());
    return status;
}

namespace {

int build_with_lease(const BuildInputs& inputs, cache::ContentStore& store) {
    // Held from the first blob this build writes until its tags are set, so a concurrent prune
    // never removes what the build has made but not yet named.
    const cache::GcLease lease(store.root());
    std::vector<std::string> insecure = inputs.insecure_registries;
    for (const builder::CacheExportSpec& spec : inputs.cache_to)
        if (spec.insecure && spec.type == builder::CacheExportSpec::Type::registry)
            insecure.push_back(registry::Reference::parse(spec.ref).registry_host());
    for (const builder::CacheImportSpec& spec : inputs.cache_from)
        if (spec.insecure && spec.type == builder::CacheImportSpec::Type::registry)
            insecure.push_back(registry::Reference::parse(spec.ref).registry_host());
    registry::Client client(client_options(insecure));
    const std::filesystem::path cache_mounts_dir = store.root() / "cache-mounts";
    if (!inputs.cache_from.empty()) {
        cache::CacheIndex index(cache::cache_index_dir(store.root()));
        for (const builder::CacheImportSpec& spec : inputs.cache_from) {
            const std::string name = spec.type == builder::CacheImportSpec::Type::registry ? spec.ref : spec.dir.string();
            const std::size_t imported = builder::import_cache(client, store, index, cache_mounts_dir, spec);
            std::cerr << (imported ? "imported " + std::to_string(imported) + " cache records from " + name
                                   : "no build cache at " + name + " yet")
                      << "\n";
        }
    }
    const PlannedBuild build = plan_build(inputs, &store, &client);
    for (const parser::Warning& warning : build.plan.warnings) std::cerr << "warning: " << warning.short_text << "\n";

    builder::SolveOptions options;
    options.context_dir = inputs.context;
    options.context_ignore = build.ignore_patterns;
    options.layers = inputs.layers;
    options.source_date_epoch = inputs.layers.source_date_epoch;
    options.secrets = inputs.secrets;
    options.ssh_sockets = inputs.ssh_sockets;
    options.step_output = [](std::string_view text) { std::cerr.write(text.data(), static_cast<std::streamsize>(text.size())); };
    options.log = [](const std::string& line) { std::cerr << line << "\n"; };
    options.explain = inputs.explain;
    options.no_cache = inputs.no_cache;
    options.no_cache_filter = inputs.no_cache_filter;
    options.jobs = inputs.jobs;
    options.need_filesystem =
        inputs.output.type == builder::ExportType::local || inputs.output.type == builder::ExportType::tar;
    const builder::BuiltImage image = builder::solve(build.plan, options, store);

    if (inputs.output.type == builder::ExportType::store) {
        builder::tag_image(store, image, inputs.tags);
    } else {
        builder::export_image(store, image, inputs.output, inputs.tags, options.source_date_epoch);
    }
    if (inputs.output.push) {
        const std::vector<std::string>& names = inputs.output.names.empty() ? inputs.tags : inputs.output.names;
        std::vector<registry::Reference> targets;
        for (const std::string& name : names) targets.push_back(registry::Reference::parse(name));
        const cache::TagEntry built{.name = "",
                                    .media_type = image.manifest_descriptor.media_type,
                                    .digest = image.manifest_descriptor.digest,
                                    .size = static_cast<std::uint64_t>(image.manifest_descriptor.size),
                                    .annotations = {}};
        const builder::PushResult pushed = builder::push_image(client, store, built, targets);
        for (const registry::Reference& target : targets)
            std::cerr << "pushed " << target.familiar() << " (" << pushed.uploaded << " blobs uploaded, "
                      << pushed.existed << " already there)\n";
    }
    if (!inputs.cache_to.empty()) {
        const cache::CacheIndex index(cache::cache_index_dir(store.root()));
        for (const builder::CacheExportSpec& spec : inputs.cache_to) {
            std::vector<cache::CacheRecord> records;
            for (const Digest& key : spec.mode_max ? image.all_step_keys : image.target_step_keys)
                if (auto record = index.find(key)) records.push_back(std::move(*record));
            const builder::CacheExportResult exported =
                builder::export_cache(client, store, records, cache_mounts_dir, spec);
            std::cerr << "exported " << exported.records << " cache records to "
                      << (spec.type == builder::CacheExportSpec::Type::registry ? spec.ref : spec.dir.string()) << " ("
                      << exported.uploaded << " blobs uploaded)\n";
        }
    }
    if (!inputs.iidfile.empty()) write_file_atomically(inputs.iidfile, image.manifest.config.digest.to_string());
    if (!inputs.metadata_file.empty()) write_file_atomically(inputs.metadata_file, build_metadata(image, inputs.tags));

    std::cerr << "writing image " << image.manifest.config.digest.to_string() << " (manifest "
              << image.manifest_descriptor.digest.to_string() << ")\n";
    if (inputs.output.type == builder::ExportType::store) {
        for (const std::string& tag : inputs.tags) std::cerr << "naming to " << builder::store_tag_name(tag) << "\n";
    } else if (inputs.output.type != builder::ExportType::registry) {
        std::cerr << "exported " << builder::export_type_name(inputs.output.type) << " to " << inputs.output.dest << "\n";
    }
    return 0;
}

}  // namespace

}  // namespace cbuild::cli
