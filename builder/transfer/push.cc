#include <map>

#include "builder/transfer/transfer.h"
#include "common/error.h"

namespace cbuild::builder {

namespace {

constexpr std::size_t k_max_document = 4 << 20;

// Blob digest → a repository of `domain` that a stored tag says holds it, for mounts.
std::map<Digest, registry::Reference> known_repositories(const cache::ContentStore& store, const std::string& domain) {
    std::map<Digest, registry::Reference> found;
    for (const cache::TagEntry& tag : store.list_tags()) {
        if (!registry::is_manifest(tag.media_type)) continue;
        std::optional<registry::Reference> reference;
        try {
            reference = registry::Reference::parse(tag.name);
        } catch (const registry::ReferenceError&) {
            continue;  // a name that is no reference cannot be mounted from
        }
        if (reference->domain() != domain) continue;
        const auto bytes = store.read_blob(tag.digest, k_max_document);
        if (!bytes) continue;
        const registry::ImageManifest manifest = registry::parse_manifest(*bytes);
        for (const registry::Descriptor& layer : manifest.layers) found.emplace(layer.digest, *reference);
    }
    return found;
}

}  // namespace

PushResult push_image(registry::Client& client, const cache::ContentStore& store, const cache::TagEntry& tag,
                      const std::vector<registry::Reference>& targets, unsigned parallelism) {
    if (targets.empty()) throw Error("nothing to push to: give the image a name with -t");
    const auto bytes = store.read_blob(tag.digest, k_max_document);
    if (!bytes) throw Error("manifest " + tag.digest.to_string() + " is missing from the local store");
    const registry::ImageManifest manifest = registry::parse_manifest(*bytes);

    registry::ImageToPush image{.media_type = tag.media_type, .manifest = *bytes, .blobs = {manifest.config}};
    image.blobs.insert(image.blobs.end(), manifest.layers.begin(), manifest.layers.end());
    const auto mounts = known_repositories(store, targets.front().domain());
    const registry::PushedImage pushed = client.push_image(
        targets, image,
        [&](const registry::Descriptor& blob) -> std::optional<registry::BlobSource> {
            if (!store.has(blob.digest)) return std::nullopt;
            registry::BlobSource from = registry::BlobSource::file(store.blob_path(blob.digest));
            if (const auto it = mounts.find(blob.digest); it != mounts.end()) from.mount_from = it->second;
            return from;
        },
        parallelism);
    return PushResult{pushed.digest, pushed.existed, pushed.mounted, pushed.uploaded};
}

}  // namespace cbuild::builder
