#include <map>

#include "builder/transfer/transfer.h"
#include "builder/transfer/internal/mount_sources.h"
#include "common/error.h"

namespace cbuild::builder {

namespace {

constexpr std::size_t k_max_document = 4 << 20;

}  // namespace

PushResult push_image(registry::Client& client, const cache::ContentStore& store, const cache::TagEntry& tag,
                      const std::vector<registry::Reference>& targets, unsigned parallelism) {
    if (targets.empty()) throw Error("nothing to push to: give the image a name with -t");
    const auto bytes = store.read_blob(tag.digest, k_max_document);
    if (!bytes) throw Error("manifest " + tag.digest.to_string() + " is missing from the local store");
    const registry::ImageManifest manifest = registry::parse_manifest(*bytes);

    registry::ImageToPush image{.media_type = tag.media_type, .manifest = *bytes, .blobs = {manifest.config}};
    image.blobs.insert(image.blobs.end(), manifest.layers.begin(), manifest.layers.end());
    const auto mounts = internal::mount_sources(store, targets.front().domain());
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
