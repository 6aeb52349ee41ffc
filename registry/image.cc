#include "registry/image.h"

#include <algorithm>
#include <array>

#include "registry/internal/image_json.h"
#include "registry/internal/json_fields.h"

namespace cbuild::registry {

using internal::Json;
using internal::Where;

namespace {

constexpr std::string_view k_manifest_document = "image manifest";
constexpr std::string_view k_index_document = "image index";
constexpr std::string_view k_config_document = "image config";
constexpr std::string_view k_descriptor_document = "descriptor";

std::string error_message(const std::string& document, const std::string& field,
                          const std::string& reason) {
    std::string message = "invalid " + document + ": ";
    if (!field.empty()) message += "`" + field + "`: ";
    return message + reason;
}

}  // namespace

bool is_manifest(std::string_view media_type) {
    return media_type == k_oci_manifest || media_type == k_docker_manifest;
}

bool is_index(std::string_view media_type) {
    return media_type == k_oci_index || media_type == k_docker_manifest_list;
}

bool is_config(std::string_view media_type) {
    return media_type == k_oci_config || media_type == k_docker_config;
}

bool is_layer(std::string_view media_type) {
    static constexpr std::array<std::string_view, 9> k_layers = {
        k_oci_layer,
        k_oci_layer_gzip,
        k_oci_layer_zstd,
        k_oci_layer_nondistributable,
        k_oci_layer_nondistributable_gzip,
        k_oci_layer_nondistributable_zstd,
        k_docker_layer,
        k_docker_layer_gzip,
        k_docker_foreign_layer,
    };
    return std::find(k_layers.begin(), k_layers.end(), media_type) != k_layers.end();
}

ImageFormatError::ImageFormatError(std::string document, std::string field,
                                   const std::string& reason)
    : Error(error_message(document, field, reason)),
      m_document(std::move(document)),
      m_field(std::move(field)) {}

// ---- UnknownFields -------------------------------------------------------------------------

struct UnknownFields::Members {
    Json object;
};

UnknownFields::UnknownFields() = default;
UnknownFields::~UnknownFields() = default;
UnknownFields::UnknownFields(UnknownFields&& other) noexcept = default;
UnknownFields& UnknownFields::operator=(UnknownFields&& other) noexcept = default;

UnknownFields::UnknownFields(const UnknownFields& other)
    : m_members(other.m_members ? std::make_unique<Members>(*other.m_members) : nullptr) {}

UnknownFields& UnknownFields::operator=(const UnknownFields& other) {
    if (this != &other) UnknownFields(other).m_members.swap(m_members);
    return *this;
}

bool UnknownFields::empty() const { return m_members == nullptr; }

std::vector<std::string> UnknownFields::names() const {
    std::vector<std::string> out;
    if (m_members)
        for (const auto& [name, value] : m_members->object.items()) out.push_back(name);
    return out;
}

std::optional<std::string> UnknownFields::get(std::string_view name) const {
    if (!m_members) return std::nullopt;
    const auto it = m_members->object.find(std::string(name));
    if (it == m_members->object.end()) return std::nullopt;
    return internal::canonical_dump(*it);
}

void UnknownFields::set(std::string_view name, std::string_view json) {
    Json value =
        internal::parse_document(json, Where("unknown member `" + std::string(name) + "`"));
    if (!m_members) m_members = std::make_unique<Members>(Members{Json::object()});
    m_members->object[std::string(name)] = std::move(value);
}

void UnknownFields::erase(std::string_view name) {
    if (!m_members) return;
    m_members->object.erase(std::string(name));
    // Keep "no members" and "null pointer" the same thing, so empty() and == stay simple.
    if (m_members->object.empty()) m_members.reset();
}

bool operator==(const UnknownFields& a, const UnknownFields& b) {
    if (!a.m_members || !b.m_members) return !a.m_members && !b.m_members;
    return a.m_members->object == b.m_members->object;
}

const Json* internal::UnknownFieldsAccess::object(const UnknownFields& fields) {
    return fields.m_members ? &fields.m_members->object : nullptr;
}

UnknownFields internal::UnknownFieldsAccess::make(Json object) {
    UnknownFields fields;
    if (!object.empty())
        fields.m_members =
            std::make_unique<UnknownFields::Members>(UnknownFields::Members{std::move(object)});
    return fields;
}

// ---- parsing and writing -------------------------------------------------------------------

ImageManifest parse_manifest(std::string_view json) {
    const Where where(k_manifest_document);
    return internal::decode_manifest(internal::parse_document(json, where), where);
}

ImageIndex parse_index(std::string_view json) {
    const Where where(k_index_document);
    return internal::decode_index(internal::parse_document(json, where), where);
}

ImageConfig parse_config(std::string_view json) {
    const Where where(k_config_document);
    return internal::decode_config(internal::parse_document(json, where), where);
}

Descriptor parse_descriptor(std::string_view json) {
    const Where where(k_descriptor_document);
    return internal::decode_descriptor(internal::parse_document(json, where), where);
}

std::string to_json(const ImageManifest& manifest) {
    return internal::canonical_dump(internal::encode(manifest));
}

std::string to_json(const ImageIndex& index) {
    return internal::canonical_dump(internal::encode(index));
}

std::string to_json(const ImageConfig& config) {
    return internal::canonical_dump(internal::encode(config));
}

std::string to_json(const Descriptor& descriptor) {
    return internal::canonical_dump(internal::encode(descriptor));
}

Descriptor digest_of(std::string_view bytes, std::string media_type) {
    return Descriptor{
        .media_type = std::move(media_type),
        .digest = sha256_of(bytes),
        .size = static_cast<std::int64_t>(bytes.size()),
    };
}

// ---- growing an image ----------------------------------------------------------------------

ImageManifest with_config(ImageManifest manifest, const ImageConfig& config) {
    const Descriptor described = digest_of(to_json(config), manifest.config.media_type);
    manifest.config.digest = described.digest;
    manifest.config.size = described.size;
    // Content embedded in the descriptor (image-spec `data`) would now contradict the digest.
    manifest.config.unknown.erase("data");
    return manifest;
}

std::pair<ImageManifest, ImageConfig> append_layer(ImageManifest manifest, ImageConfig config,
                                                   Descriptor layer, Digest diff_id,
                                                   HistoryEntry history) {
    if (!is_layer(layer.media_type))
        throw ImageFormatError("image", "layers",
                               "cannot append `" + layer.media_type + "`: not a layer media type");
    const std::size_t layers = manifest.layers.size();
    if (layers != config.rootfs.diff_ids.size())
        throw ImageFormatError("image", "rootfs.diff_ids",
                               "the manifest has " + std::to_string(layers) +
                                   " layers but the config " +
                                   std::to_string(config.rootfs.diff_ids.size()) + " diff_ids");
    const auto described = static_cast<std::size_t>(
        std::count_if(config.history.begin(), config.history.end(),
                      [](const HistoryEntry& entry) { return !entry.empty_layer; }));
    if (described > layers)
        throw ImageFormatError("image", "history",
                               std::to_string(described) +
                                   " history entries describe layers but "
                                   "the image has " +
                                   std::to_string(layers));
    // Base layers without history (e.g. an image imported from a tarball) get blank entries at
    // the bottom, so that the n-th non-empty entry keeps describing the n-th layer.
    config.history.insert(config.history.begin(), layers - described, HistoryEntry{});

    manifest.layers.push_back(std::move(layer));
    config.rootfs.diff_ids.push_back(std::move(diff_id));
    history.empty_layer = false;
    config.history.push_back(std::move(history));
    manifest = with_config(std::move(manifest), config);
    return {std::move(manifest), std::move(config)};
}

ImageConfig add_history(ImageConfig config, HistoryEntry history) {
    history.empty_layer = true;
    config.history.push_back(std::move(history));
    return config;
}

}  // namespace cbuild::registry
