#include "builder/transfer/transfer.h"

#include "common/error.h"

namespace cbuild::builder {

namespace {

constexpr std::size_t k_max_document = 4 << 20;

registry::Platform registry_platform(const Platform& platform) {
    registry::Platform out;
    out.os = platform.os;
    out.architecture = platform.architecture;
    out.variant = platform.variant;
    return out;
}

// Fetches one blob into the store unless it is there; returns the bytes downloaded.
std::uint64_t fetch_into_store(registry::Client& client, cache::ContentStore& store,
                               const registry::Reference& reference, const registry::Descriptor& descriptor) {
    if (store.has(descriptor.digest)) return 0;
    cache::BlobWriter writer = store.begin_blob();
    client.fetch_blob(reference, descriptor, writer);
    writer.commit(descriptor.digest, static_cast<std::uint64_t>(descriptor.size));
    return static_cast<std::uint64_t>(descriptor.size);
}

}  // namespace

PullResult pull_image(registry::Client& client, cache::ContentStore& store, const registry::Reference& reference,
                      const Platform& platform) {
    const registry::FetchedManifest fetched = client.fetch_manifest_for(reference, registry_platform(platform));
    const registry::ImageManifest manifest = registry::parse_manifest(fetched.bytes);
    PullResult result{StoredImage{manifest, {}, registry::digest_of(fetched.bytes, fetched.media_type)}, "", 0};
    result.image.manifest_descriptor.media_type = fetched.media_type;

    // Config and layers first, the manifest and the tag last: a tag never names an image whose
    // blobs are not all in the store.
    result.fetched_bytes += fetch_into_store(client, store, reference, manifest.config);
    for (const registry::Descriptor& layer : manifest.layers)
        result.fetched_bytes += fetch_into_store(client, store, reference, layer);
    const auto config = store.read_blob(manifest.config.digest, k_max_document);
    if (!config) throw Error("`" + reference.familiar() + "`: the config blob vanished from the store");
    result.image.config = registry::parse_config(*config);
    store.put_blob(fetched.bytes);

    result.tag = reference.familiar();
    store.set_tag({.name = result.tag,
                   .media_type = fetched.media_type,
                   .digest = result.image.manifest_descriptor.digest,
                   .size = static_cast<std::uint64_t>(result.image.manifest_descriptor.size),
                   .annotations = {}});
    return result;
}

StoredImage ensure_image(registry::Client& client, cache::ContentStore& store, const registry::Reference& reference,
                         const Platform& platform) {
    if (auto stored = load_stored_image(store, reference.to_string(), platform)) return *stored;
    return pull_image(client, store, reference, platform).image;
}

}  // namespace cbuild::builder
