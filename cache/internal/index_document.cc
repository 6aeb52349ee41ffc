#include "cache/internal/index_document.h"

#include <utility>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace cbuild::cache {

namespace {

// ordered_json keeps keys in file order, so rewriting another tool's index.json changes only
// what cbuild edited.
using Json = nlohmann::ordered_json;

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& message) {
    throw Error("`" + path.string() + "`: " + message);
}

// The entry's ref.name annotation, or nullptr when it has none (an untagged entry, kept as is).
const std::string* name_of(const Json& entry) {
    if (!entry.is_object()) return nullptr;
    const auto annotations = entry.find("annotations");
    if (annotations == entry.end() || !annotations->is_object()) return nullptr;
    const auto name = annotations->find(k_ref_name_annotation);
    if (name == annotations->end() || !name->is_string()) return nullptr;
    return name->get_ptr<const std::string*>();
}

TagEntry tag_of(const Json& entry, const std::string& name, const std::filesystem::path& path) {
    const auto where = [&] { return "entry `" + name + "`: "; };
    const auto media_type = entry.find("mediaType");
    if (media_type == entry.end() || !media_type->is_string() ||
        media_type->get_ref<const std::string&>().empty())
        fail(path, where() + "missing mediaType");
    const auto digest = entry.find("digest");
    if (digest == entry.end() || !digest->is_string()) fail(path, where() + "missing digest");
    const auto size = entry.find("size");
    if (size == entry.end() || !size->is_number_unsigned())
        fail(path, where() + "missing or negative size");

    TagEntry tag{name,
                 media_type->get<std::string>(),
                 Digest::parse(digest->get_ref<const std::string&>()),
                 size->get<std::uint64_t>(),
                 {}};
    for (const auto& [key, value] : entry["annotations"].items())
        if (key != k_ref_name_annotation && value.is_string())
            tag.annotations.emplace(key, value.get<std::string>());
    return tag;
}

}  // namespace

struct IndexDocument::State {
    Json value;
};

std::string oci_layout_text() { return "{\"imageLayoutVersion\":\"1.0.0\"}"; }

void check_oci_layout(std::string_view text, const std::filesystem::path& path) {
    const Json layout = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!layout.is_object()) fail(path, "not a JSON object, so not an OCI image layout");
    const auto version = layout.find("imageLayoutVersion");
    if (version == layout.end() || *version != "1.0.0")
        fail(path, "unsupported imageLayoutVersion (expected \"1.0.0\")");
}

std::string IndexDocument::empty_text() {
    const Json index = {{"schemaVersion", 2},
                        {"mediaType", std::string(k_image_index_media_type)},
                        {"manifests", Json::array()}};
    return index.dump() + "\n";
}

IndexDocument::IndexDocument(std::string_view text, const std::filesystem::path& path)
    : m_state(std::make_unique<State>()), m_path(path) {
    Json& document = m_state->value;
    document = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (document.is_discarded()) fail(path, "not valid JSON");
    if (!document.is_object()) fail(path, "not a JSON object, so not an OCI image index");
    const auto version = document.find("schemaVersion");
    if (version != document.end() && *version != 2) fail(path, "schemaVersion is not 2");
    const auto manifests = document.find("manifests");
    if (manifests != document.end() && !manifests->is_array())
        fail(path, "\"manifests\" is not an array");
}

IndexDocument::~IndexDocument() = default;
IndexDocument::IndexDocument(IndexDocument&&) noexcept = default;
IndexDocument& IndexDocument::operator=(IndexDocument&&) noexcept = default;

std::vector<TagEntry> IndexDocument::tags() const {
    std::vector<TagEntry> tags;
    const auto manifests = m_state->value.find("manifests");
    if (manifests == m_state->value.end()) return tags;
    for (const auto& entry : *manifests) {
        const std::string* name = name_of(entry);
        if (name == nullptr) continue;
        try {
            tags.push_back(tag_of(entry, *name, m_path));
        } catch (const DigestError& error) {
            fail(m_path, "entry `" + *name + "`: " + error.what());
        }
    }
    return tags;
}

void IndexDocument::set(const TagEntry& tag) {
    if (tag.name.empty()) throw Error("tag: empty name");
    if (tag.media_type.empty()) throw Error("tag `" + tag.name + "`: empty media type");
    Json descriptor = {
        {"mediaType", tag.media_type},
        {"digest", tag.digest.to_string()},
        {"size", tag.size},
    };
    Json& annotations = descriptor["annotations"] = Json::object();
    annotations[std::string(k_ref_name_annotation)] = tag.name;
    for (const auto& [key, value] : tag.annotations)
        if (key != k_ref_name_annotation) annotations[key] = value;
    try {
        // Fails now, on the caller's entry, rather than later in text().
        (void)descriptor.dump();
    } catch (const nlohmann::json::exception& error) {
        throw Error("tag `" + tag.name + "`: " + error.what());
    }

    Json& manifests = m_state->value["manifests"];
    if (manifests.is_null()) manifests = Json::array();
    bool replaced = false;
    for (auto entry = manifests.begin(); entry != manifests.end();) {
        const std::string* name = name_of(*entry);
        if (name == nullptr || *name != tag.name) {
            ++entry;
        } else if (!replaced) {
            *entry = descriptor;
            replaced = true;
            ++entry;
        } else {
            entry = manifests.erase(entry);
        }
    }
    if (!replaced) manifests.push_back(std::move(descriptor));
}

bool IndexDocument::remove(std::string_view name) {
    const auto manifests = m_state->value.find("manifests");
    if (manifests == m_state->value.end()) return false;
    bool removed = false;
    for (auto entry = manifests->begin(); entry != manifests->end();) {
        const std::string* entry_name = name_of(*entry);
        if (entry_name != nullptr && *entry_name == name) {
            entry = manifests->erase(entry);
            removed = true;
        } else {
            ++entry;
        }
    }
    return removed;
}

std::string IndexDocument::text() const { return m_state->value.dump() + "\n"; }

}  // namespace cbuild::cache
