// Images already in the local store, used as a base (FROM) or a source (COPY --from=image, RUN
// --mount from=): their manifest and config, and their layers as snapshots (unpack_layer
// confines every member to the snapshot directory, whatever the tar says).

#include <fstream>

#include "builder/snapshot/internal/image_path.h"
#include "builder/snapshot/internal/layer_stream.h"
#include "builder/snapshot/internal/tar_reader.h"
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

FileTree tar_filesystem(const std::vector<std::filesystem::path>& blobs, const std::filesystem::path& scratch) {
    FileTree tree;
    std::size_t counter = 0;
    for (const std::filesystem::path& blob : blobs) {
        LayerStream stream(blob);
        TarReader reader(stream, blob.string());
        std::vector<LayerEntry> entries;
        std::vector<Whiteout> whiteouts;
        while (std::optional<LayerEntry> member = reader.next()) {
            LayerEntry entry = std::move(*member);
            entry.path = clamp_path(entry.path);
            if (entry.path.empty()) continue;
            const std::size_t slash = entry.path.rfind('/');
            const std::string base = entry.path.substr(slash == std::string::npos ? 0 : slash + 1);
            const std::string parent = slash == std::string::npos ? "" : entry.path.substr(0, slash);
            if (base == ".wh..wh..opq") {
                whiteouts.push_back({parent, true});
                continue;
            }
            if (base.rfind(".wh.", 0) == 0) {
                whiteouts.push_back({(parent.empty() ? "" : parent + "/") + base.substr(4), false});
                continue;
            }
            if (entry.type == EntryType::hardlink) entry.link_target = clamp_path(entry.link_target);
            if (entry.type == EntryType::file) {
                const std::filesystem::path target = scratch / ("layer-file-" + std::to_string(counter++));
                // Scratch files live as long as the build and are never read after a crash, so
                // they need no fsync.
                std::ofstream out(target, std::ios::binary);
                if (!out) throw IoError(target.string(), "create", errno);
                reader.read_data([&](std::uint64_t offset, std::span<const std::byte> bytes) {
                    out.seekp(static_cast<std::streamoff>(offset));
                    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
                });
                out.close();
                if (!out) throw IoError(target.string(), "write", errno);
                entry.content.host_path = target.string();
            }
            entries.push_back(std::move(entry));
        }
        tree.apply(entries, whiteouts);
    }
    return tree;
}

}  // namespace internal

}  // namespace cbuild::builder
