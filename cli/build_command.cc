// `cbuild [build] [OPTIONS] PATH`: plan, solve into the local store, then tag or export.

#include <iostream>
#include <nlohmann/json.hpp>

#include "builder/export/export.h"
#include "builder/solve/solve.h"
#include "builder/transfer/transfer.h"
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
    registry::Client client(client_options(inputs->insecure_registries));
    const PlannedBuild build = plan_build(*inputs, &store, &client);
    for (const parser::Warning& warning : build.plan.warnings) std::cerr << "warning: " << warning.short_text << "\n";

    builder::SolveOptions options;
    options.context_dir = inputs->context;
    options.context_ignore = build.ignore_patterns;
    options.layers = inputs->layers;
    options.source_date_epoch = inputs->layers.source_date_epoch;
    const builder::BuiltImage image = builder::solve(build.plan, options, store);

    if (inputs->output.type == builder::ExportType::store) {
        builder::tag_image(store, image, inputs->tags);
    } else {
        builder::export_image(store, image, inputs->output, inputs->tags, options.source_date_epoch);
    }
    if (inputs->output.push) {
        const std::vector<std::string>& names = inputs->output.names.empty() ? inputs->tags : inputs->output.names;
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
    if (!inputs->iidfile.empty()) write_file_atomically(inputs->iidfile, image.manifest.config.digest.to_string());
    if (!inputs->metadata_file.empty()) write_file_atomically(inputs->metadata_file, build_metadata(image, inputs->tags));

    std::cerr << "writing image " << image.manifest.config.digest.to_string() << " (manifest "
              << image.manifest_descriptor.digest.to_string() << ")\n";
    if (inputs->output.type == builder::ExportType::store) {
        for (const std::string& tag : inputs->tags) std::cerr << "naming to " << builder::store_tag_name(tag) << "\n";
    } else if (inputs->output.type != builder::ExportType::registry) {
        std::cerr << "exported " << builder::export_type_name(inputs->output.type) << " to " << inputs->output.dest << "\n";
    }
    return 0;
}

}  // namespace cbuild::cli
