#include "builder/transfer/internal/mount_sources.h"

#include <optional>

#include "registry/image.h"

namespace cbuild::builder::internal {

std::map<Digest, registry::Reference> mount_sources(const cache::ContentStore& store, const std::string& domain) {
    constexpr std::size_t k_max_document = 4 << 20;
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
        for (const registry::Descriptor& layer : registry::parse_manifest(*bytes).layers)
            found.emplace(layer.digest, *reference);
    }
    return found;
}

}  // namespace cbuild::builder::internal
