#include "builder/transfer/transfer.h"

#include "builder/transfer/internal/transfer_progress.h"
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

// Counts what passes on to the store, for progress.
class CountingSink final : public ByteSink {
public:
    CountingSink(ByteSink& out, internal::TransferProgress::Blob& progress) : m_out(out), m_progress(progress) {}
    using ByteSink::write;
    void write(std::span<const std::byte> bytes) override {
        m_out.write(bytes);
        m_written += bytes.size();
        m_progress.reach(m_written);
    }

private:
    ByteSink& m_out;
    internal::TransferProgress::Blob& m_progress;
    std::uint64_t m_written = 0;
};

// Fetches one blob into the store unless it is there; returns the bytes downloaded.
std::uint64_t fetch_into_store(registry::Client& client, cache::ContentStore& store,
                               const registry::Reference& reference, const registry::Descriptor& descriptor,
                               const internal::TransferProgress& progress) {
    if (store.has(descriptor.digest)) return 0;
    cache::BlobWriter writer = store.begin_blob();
    internal::TransferProgress::Blob blob(progress, descriptor.digest.to_string(),
                                          static_cast<std::uint64_t>(descriptor.size));
    CountingSink counted(writer, blob);
    client.fetch_blob(reference, descriptor, counted);
    writer.commit(descriptor.digest, static_cast<std::uint64_t>(descriptor.size));
    return static_cast<std::uint64_t>(descriptor.size);
}

}  // namespace

PullResult pull_image(registry::Client& client, cache::ContentStore& store, const registry::Reference& reference,
                      const Platform& platform, const ProgressSink& progress) {
    internal::TransferProgress reported(progress, ProgressEvent::Activity::pull, "pull " + reference.to_string());
    const registry::FetchedManifest fetched = client.fetch_manifest_for(reference, registry_platform(platform));
    const registry::ImageManifest manifest = registry::parse_manifest(fetched.bytes);
    PullResult result{StoredImage{manifest, {}, registry::digest_of(fetched.bytes, fetched.media_type)}, "", 0};
    result.image.manifest_descriptor.media_type = fetched.media_type;

    // Config and layers first, the manifest and the tag last: a tag never names an image whose
    // blobs are not all in the store.
    result.fetched_bytes += fetch_into_store(client, store, reference, manifest.config, reported);
    for (const registry::Descriptor& layer : manifest.layers)
        result.fetched_bytes += fetch_into_store(client, store, reference, layer, reported);
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
    reported.finish();
    return result;
}

StoredImage ensure_image(registry::Client& client, cache::ContentStore& store, const registry::Reference& reference,
                         const Platform& platform, const ProgressSink& progress) {
    if (auto stored = load_stored_image(store, reference.to_string(), platform)) return *stored;
    return pull_image(client, store, reference, platform, progress).image;
}

}  // namespace cbuild::builder
