#include "cache/internal/reachability.h"

#include <nlohmann/json.hpp>

#include "cache/internal/file_io.h"
#include "cache/internal/file_lock.h"
#include "cache/internal/store_paths.h"
#include "common/error.h"

namespace cbuild::cache {

namespace {

using nlohmann::json;

// Manifests and indexes are small; anything bigger under those media types is not one.
constexpr std::size_t k_max_manifest_size = 16 << 20;

constexpr std::string_view k_manifest_media_types[] = {
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
};

bool is_manifest_media_type(std::string_view media_type) {
    for (const std::string_view known : k_manifest_media_types)
        if (media_type == known) return true;
    return false;
}

class Reacher {
public:
    explicit Reacher(const ContentStore& store) : m_store(store) {}

    std::unordered_set<Digest> take() { return std::move(m_reached); }

    // Marks every descriptor anywhere inside `node`, following manifests and indexes.
    void walk(const json& node) {
        if (node.is_array()) {
            for (const json& element : node) walk(element);
            return;
        }
        if (!node.is_object()) return;
        if (const auto digest = node.find("digest"); digest != node.end() && digest->is_string())
            descriptor(node, digest->get<std::string>());
        for (const auto& [key, value] : node.items())
            if (value.is_structured()) walk(value);
    }

private:
    void descriptor(const json& node, const std::string& digest_text) {
        std::optional<Digest> digest;
        try {
            digest = Digest::parse(digest_text);
        } catch (const DigestError&) {
            return;  // not a descriptor of this store: nothing it could keep alive
        }
        if (!m_reached.insert(*digest).second) return;
        const auto media_type = node.find("mediaType");
        const bool typed = media_type != node.end() && media_type->is_string();
        if (typed && !is_manifest_media_type(media_type->get<std::string>())) return;
        const std::string name = "`" + digest->to_string() + "`";
        std::optional<std::string> bytes;
        try {
            bytes = m_store.read_blob(*digest, k_max_manifest_size);
        } catch (const Error& error) {
            if (!typed) return;  // an untyped blob too big to be a manifest is not one
            throw Error("manifest " + name + " reached from index.json: " + error.what());
        }
        if (!bytes) return;
        json parsed = json::parse(*bytes, nullptr, false);
        if (parsed.is_discarded() || !parsed.is_object()) {
            if (!typed) return;
            throw Error("manifest " + name + " reached from index.json is not a JSON object: what it reaches is unknown");
        }
        walk(parsed);
    }

    const ContentStore& m_store;
    std::unordered_set<Digest> m_reached;
};

}  // namespace

std::unordered_set<Digest> blobs_reached_by_tags(const ContentStore& store) {
    const std::filesystem::path path = store.root() / k_index_file;
    std::string text;
    {
        const FileLock lock(store.root() / k_lock_file, FileLock::Mode::shared);
        auto file = read_whole_file(path, k_max_manifest_size * 4);
        if (!file) throw IoError(path.string(), "open", ENOENT);
        text = std::move(file->bytes);
    }
    const json index = json::parse(text, nullptr, false);
    if (index.is_discarded() || !index.is_object())
        throw Error("`" + path.string() + "` is not a JSON object: which blobs the tags reach is unknown");
    Reacher reacher(store);
    reacher.walk(index);
    return reacher.take();
}

}  // namespace cbuild::cache
