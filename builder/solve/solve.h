#pragma once
// Runs a plan: each needed stage, in order, from its base (scratch, an earlier stage, or an
// image in the local store) through its instructions: metadata into the image config,
// COPY/ADD/WORKDIR into layers written once, compressed, into the content store. The result is
// the target stage's image, stored by digest (tagging and exporting are the caller's).
// Steps run one after another; parallel, cached solving replaces this loop later.

#include <filesystem>
#include <optional>
#include <string>

#include "builder/plan/plan.h"
#include "builder/snapshot/file_tree.h"
#include "builder/snapshot/layer_writer.h"
#include "cache/content_store.h"
#include "parser/dockerignore.h"
#include "registry/image.h"

namespace cbuild::builder {

struct SolveOptions {
    std::filesystem::path context_dir;
    parser::PatternMatcher context_ignore;  // the build's .dockerignore
    LayerOptions layers;                    // compression, level, SOURCE_DATE_EPOCH
    std::optional<std::int64_t> source_date_epoch;
};

// The target stage's image, with its blobs in the store.
struct BuiltImage {
    registry::ImageManifest manifest;
    registry::ImageConfig config;
    registry::Descriptor manifest_descriptor;  // of the stored manifest
    FileTree filesystem;                       // the final root filesystem
    // Keeps alive the temporary files `filesystem` refers to (unpacked ADD archives, base
    // image contents) until the last copy of this value goes.
    std::shared_ptr<const void> resources;
};

// Throws cbuild::ParseError naming the Dockerfile line of the instruction that failed (a missing
// COPY source, an unknown --chown user, RUN, which needs the sandbox this version lacks), or
// cbuild::Error for a base image that is not in the local store. A failed build adds nothing to
// the store (layers are committed only once every step has succeeded) and touches no tag.
BuiltImage solve(const Plan& plan, const SolveOptions& options, cache::ContentStore& store);

// The image config and manifest of `name` (a tag in the store, or a digest), or nullopt. An
// index is resolved to the manifest for `platform`.
struct StoredImage {
    registry::ImageManifest manifest;
    registry::ImageConfig config;
    registry::Descriptor manifest_descriptor;
};
std::optional<StoredImage> load_stored_image(const cache::ContentStore& store, const std::string& name,
                                             const Platform& platform);

}  // namespace cbuild::builder
