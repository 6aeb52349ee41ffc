// Images already in the local store, used as a base (FROM) or a source (COPY --from=image, RUN
// --mount from=): their manifest and config, and their layers as snapshots (unpack_layer
// confines every member to the snapshot directory, whatever the tar says).

#include "builder/snapshot/unpack.h"
#include "builder/snapshot/upper_diff.h"
#include "builder/solve/internal/stored_filesystem.h"
#include "builder/solve/solve.h"
#include "common/error.h"
#include "registry/reference.h"

namespace cbuild::builder {

namespace {

constexpr std::size_t k_max_document = 4 << 20;

std::optional<cache::TagEntry> find_tag(const cache::ContentStore& store, const std::string& name) {
    if (auto entry = store.resolve(name)) return entry;
    try {
        const registry::Reference reference = registry::Reference::parse(name);
        for (const std::string& candidate : {reference.familiar(), reference.to_string()})
            if (auto entry = store.resolve(candidate)) return entry;
    } catch (const registry::ReferenceError&) {
    }
    return std::nullopt;
}

bool platform_matches(const registry::Platform& candidate, const Platform& wanted) {
    return candidate.os == wanted.os && candidate.architecture == wanted.architecture &&
           (wanted.variant.empty() || candidate.variant.empty() || candidate.variant == wanted.variant);
}

}  // namespace

std::optional<StoredImage> load_stored_image(const cache::ContentStore& store, const std::string& name,
                                             const Platform& platform) {
    const auto tag = find_tag(store, name);
    if (!tag) return std::nullopt;
    registry::Descriptor descriptor{
        .media_type = tag->media_type, .digest = tag->digest, .size = static_cast<std::int64_t>(tag->size)};
    std::optional<std::string> bytes = store.read_blob(descriptor.digest, k_max_document);
    if (!bytes) throw Error("image `" + name + "`: its manifest " + descriptor.digest.to_string() + " is missing from the store");
    if (registry::is_index(descriptor.media_type)) {
        const registry::ImageIndex index = registry::parse_index(*bytes);
        const registry::Descriptor* chosen = nullptr;
        for (const registry::Descriptor& manifest : index.manifests)
            if (manifest.platform && platform_matches(*manifest.platform, platform)) chosen = &manifest;
        if (!chosen) throw Error("image `" + name + "` has no manifest for " + platform.to_string());
        descriptor = *chosen;
        bytes = store.read_blob(descriptor.digest, k_max_document);
        if (!bytes) throw Error("image `" + name + "`: manifest " + descriptor.digest.to_string() + " is missing");
    }
    StoredImage image{registry::parse_manifest(*bytes), {}, descriptor};
    const auto config = store.read_blob(image.manifest.config.digest, k_max_document);
    if (!config) throw Error("image `" + name + "`: config " + image.manifest.config.digest.to_string() + " is missing");
    image.config = registry::parse_config(*config);
    return image;
}

namespace internal {

std::vector<std::filesystem::path> layer_snapshots(SnapshotStore& snapshots, const std::vector<Digest>& diff_ids,
                                                   const std::vector<std::filesystem::path>& blobs) {
    std::vector<std::filesystem::path> lowers;  // top first, as overlayfs and unpack_layer take them
    std::optional<Digest> chain;
    for (std::size_t i = 0; i < diff_ids.size(); ++i) {
        chain = chain_id(chain, diff_ids[i]);
        const std::filesystem::path& blob = blobs.at(i);
        const std::filesystem::path dir = snapshots.ensure(*chain, [&](const std::filesystem::path& target) {
            if (!std::filesystem::exists(blob)) throw Error("layer " + diff_ids[i].to_string() + " is missing from the store");
            const Digest unpacked = unpack_layer(blob, target, WhiteoutStyle::overlay, lowers);
            if (unpacked != diff_ids[i])
                throw Error("layer `" + blob.string() + "` unpacks to " + unpacked.to_string() + ", not its diff_id " +
                            diff_ids[i].to_string());
        });
        lowers.insert(lowers.begin(), dir);
    }
    return lowers;
}

FileTree snapshot_filesystem(const std::vector<std::filesystem::path>& lowers) {
    FileTree tree;
    for (auto layer = lowers.rbegin(); layer != lowers.rend(); ++layer) {
        const LayerChanges changes = diff_upper(*layer, {});
        tree.apply(changes.entries, changes.whiteouts);
    }
    return tree;
}

}  // namespace internal

}  // namespace cbuild::builder
