#include <map>
#include <memory>

#include "builder/transfer/transfer.h"
#include "builder/transfer/internal/mount_sources.h"
#include "builder/transfer/internal/transfer_progress.h"
#include "common/error.h"

namespace cbuild::builder {

namespace {

constexpr std::size_t k_max_document = 4 << 20;

// Reports how far the upload has read the blob.
class CountingReader final : public registry::BlobReader {
public:
    CountingReader(std::unique_ptr<registry::BlobReader> reader, std::shared_ptr<internal::TransferProgress::Blob> progress)
        : m_reader(std::move(reader)), m_progress(std::move(progress)) {}
    std::size_t read_at(std::int64_t offset, std::span<std::byte> out) override {
        const std::size_t read = m_reader->read_at(offset, out);
        m_progress->reach(static_cast<std::uint64_t>(offset) + read);
        return read;
    }

private:
    std::unique_ptr<registry::BlobReader> m_reader;
    std::shared_ptr<internal::TransferProgress::Blob> m_progress;
};

}  // namespace

PushResult push_image(registry::Client& client, const cache::ContentStore& store, const cache::TagEntry& tag,
                      const std::vector<registry::Reference>& targets, unsigned parallelism,
                      const ProgressSink& progress) {
    if (targets.empty()) throw Error("nothing to push to: give the image a name with -t");
    std::string names;
    for (const registry::Reference& target : targets) names += (names.empty() ? "" : ", ") + target.to_string();
    internal::TransferProgress reported(progress, ProgressEvent::Activity::push, "push " + names);
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
            if (progress) {
                auto counted = std::make_shared<internal::TransferProgress::Blob>(reported, blob.digest.to_string(),
                                                                                  static_cast<std::uint64_t>(blob.size));
                from.open = [open = std::move(from.open), counted] {
                    return std::make_unique<CountingReader>(open(), counted);
                };
            }
            return from;
        },
        parallelism);
    reported.finish();
    return PushResult{pushed.digest, pushed.existed, pushed.mounted, pushed.uploaded};
}

}  // namespace cbuild::builder
