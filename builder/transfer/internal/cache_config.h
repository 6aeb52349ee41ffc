#pragma once
// The config document of a cache artifact (its format is at the top of
// builder/transfer/cache_transfer.h): written from records and cache mounts, and read back
// strictly, checked against the manifest's layers.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cache/cache_index.h"
#include "common/digest.h"
#include "registry/image.h"

namespace cbuild::builder::internal {

inline constexpr int k_cache_format_version = 1;

// One cache-mount directory of the artifact.
struct CacheMount {
    std::string name;        // the directory's name under cache-mounts/
    std::size_t layer = 0;   // into the manifest's layers
    Digest diff_id;
    std::uint32_t mode = 0755;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
};

// What the config says of the manifest's layers.
struct CacheContents {
    std::vector<cache::CacheRecord> records;
    std::vector<std::size_t> record_layers;  // records[i]'s index into the manifest's layers
    std::vector<CacheMount> mounts;
};

// Whether `name` can name a cache-mount directory: 64 lowercase hex digits, the sha256 of the id.
bool is_cache_mount_name(std::string_view name);

// The config document of `contents`: the same contents always give the same bytes.
std::string cache_config_json(const CacheContents& contents);

// Reads a config document whose manifest has `layers`. Each record's layer digest and size come
// from its layer's descriptor. Throws cbuild::Error naming `name` (the cache) and the field:
// not JSON, another version, a member missing, unknown or of the wrong type, a layer index out
// of range, a media type other than its layer's, a key or mount name given twice, a mount name
// that is not a digest's hex.
CacheContents read_cache_config(std::string_view bytes, const std::vector<registry::Descriptor>& layers,
                                const std::string& name);

}  // namespace cbuild::builder::internal
