#pragma once
// index.json and oci-layout of the content store as documents: parsed, edited and serialised
// with everything cbuild does not understand kept intact. The format is documented in
// cache/content_store.h.

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache/content_store.h"

namespace cbuild::cache {

inline constexpr std::string_view k_ref_name_annotation = "org.opencontainers.image.ref.name";
inline constexpr std::string_view k_image_index_media_type =
    "application/vnd.oci.image.index.v1+json";

// The oci-layout file cbuild writes.
std::string oci_layout_text();
// Throws cbuild::Error naming `path` unless `text` is an oci-layout of version 1.0.0.
void check_oci_layout(std::string_view text, const std::filesystem::path& path);

// A parsed index.json. Edits touch only the entries they name; every other entry, key and
// annotation, and the order of keys, survive text() unchanged. Move-only.
class IndexDocument {
public:
    // An index with no entries.
    static std::string empty_text();

    // Parses `text`. Throws cbuild::Error naming `path` if it is not JSON, not an object, has a
    // schemaVersion other than 2, or a "manifests" that is not an array.
    IndexDocument(std::string_view text, const std::filesystem::path& path);
    ~IndexDocument();
    IndexDocument(IndexDocument&&) noexcept;
    IndexDocument& operator=(IndexDocument&&) noexcept;

    // The named entries, in order. Throws cbuild::Error naming the path and the entry when a
    // named entry has a missing or malformed digest, size or media type.
    std::vector<TagEntry> tags() const;
    // Replaces the first entry named entry.name in place and removes any later ones, or appends.
    // Throws cbuild::Error for an empty name or media type.
    void set(const TagEntry& entry);
    // Removes every entry named `name`; returns whether there was one.
    bool remove(std::string_view name);

    // The document as JSON text, ending with a newline.
    std::string text() const;

private:
    // Holds the JSON value, so that no nlohmann type appears in this header.
    struct State;
    std::unique_ptr<State> m_state;
    std::filesystem::path m_path;
};

}  // namespace cbuild::cache
