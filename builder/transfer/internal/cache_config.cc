#include "builder/transfer/internal/cache_config.h"

#include <openssl/evp.h>

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "common/error.h"

namespace cbuild::builder::internal {

namespace {

using nlohmann::json;

// Strict UTF-8 (RFC 3629): no overlong forms, surrogates or code points past U+10FFFF, which
// is what nlohmann's dump() accepts.
bool is_utf8(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
        const auto byte = static_cast<unsigned char>(text[i]);
        std::size_t length = 0;
        char32_t code = 0;
        char32_t min = 0;
        if (byte < 0x80) {
            ++i;
            continue;
        }
        if ((byte & 0xe0) == 0xc0) length = 2, code = byte & 0x1f, min = 0x80;
        else if ((byte & 0xf0) == 0xe0) length = 3, code = byte & 0x0f, min = 0x800;
        else if ((byte & 0xf8) == 0xf0) length = 4, code = byte & 0x07, min = 0x10000;
        else return false;
        if (i + length > text.size()) return false;
        for (std::size_t k = 1; k < length; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xc0) != 0x80) return false;
            code = (code << 6) | (next & 0x3f);
        }
        if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
        i += length;
    }
    return true;
}

std::string base64_encode(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                        reinterpret_cast<const unsigned char*>(bytes.data()),
                                        static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(written));
    return out;
}

// RFC 4648 with padding; nullopt for anything else (EVP_DecodeBlock itself skips whitespace).
std::optional<std::string> base64_decode(std::string_view text) {
    const auto in_alphabet = [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    };
    if (text.size() % 4 != 0) return std::nullopt;
    std::size_t padding = 0;
    while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
    if (!std::all_of(text.begin(), text.end() - static_cast<std::ptrdiff_t>(padding), in_alphabet)) return std::nullopt;
    std::string out(text.size() / 4 * 3, '\0');
    const int written = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                        reinterpret_cast<const unsigned char*>(text.data()),
                                        static_cast<int>(text.size()));
    if (written < 0) return std::nullopt;
    // EVP_DecodeBlock counts the padding as zero bytes.
    out.resize(static_cast<std::size_t>(written) - padding);
    return out;
}

// Key inputs, descriptions and history are bytes (a Dockerfile need not be UTF-8); JSON strings
// must be UTF-8, so bytes that are not go into {"base64": "…"}.
json bytes_json(std::string_view bytes) {
    if (is_utf8(bytes)) return std::string(bytes);
    return json{{"base64", base64_encode(bytes)}};
}

json inputs_json(const std::vector<cache::CacheKeyInput>& inputs) {
    json out = json::array();
    for (const cache::CacheKeyInput& input : inputs) {
        json values = json::array();
        for (const std::string& value : input.values) values.push_back(bytes_json(value));
        out.push_back({{"field", bytes_json(input.field)},
                       {"kind", input.kind == cache::CacheKeyInput::Kind::list ? "list" : "scalar"},
                       {"values", std::move(values)}});
    }
    return out;
}

class ConfigReader {
public:
    ConfigReader(std::string name, const std::vector<registry::Descriptor>& layers)
        : m_name(std::move(name)), m_layers(layers) {}

    CacheContents read(std::string_view bytes) const {
        const json document = json::parse(bytes, nullptr, false);
        if (document.is_discarded()) throw Error("`" + m_name + "`: the cache config is not JSON");
        // The version first: another version may have other members.
        if (!document.is_object()) throw field_error(".", "not an object");
        const auto version = document.find("version");
        if (version == document.end() || !version->is_number_integer() ||
            version->get<std::int64_t>() != k_cache_format_version)
            throw Error("`" + m_name + "`: the cache config has format version " +
                        (version == document.end() ? std::string("none") : version->dump()) + ", not " +
                        std::to_string(k_cache_format_version));
        expect_members(document, "", {"cache_mounts", "records", "version"});
        CacheContents contents;
        std::set<Digest> keys;
        const json& records = array_at(document, "records", "");
        for (std::size_t i = 0; i < records.size(); ++i) {
            const std::string where = "records[" + std::to_string(i) + "]";
            auto [record, layer] = read_record(records[i], where);
            if (!keys.insert(record.key).second) throw field_error(where + ".key", "a key given twice");
            contents.records.push_back(std::move(record));
            contents.record_layers.push_back(layer);
        }
        std::set<std::string> names;
        const json& mounts = array_at(document, "cache_mounts", "");
        for (std::size_t i = 0; i < mounts.size(); ++i) {
            const std::string where = "cache_mounts[" + std::to_string(i) + "]";
            CacheMount mount = read_mount(mounts[i], where);
            if (!names.insert(mount.name).second) throw field_error(where + ".name", "a name given twice");
            contents.mounts.push_back(std::move(mount));
        }
        return contents;
    }

private:
    Error field_error(const std::string& field, const std::string& reason) const {
        return Error("`" + m_name + "`: invalid cache config: `" + field + "`: " + reason);
    }

    static std::string path(const std::string& where, const std::string& name) {
        return where.empty() ? name : where + "." + name;
    }

    void expect_members(const json& object, const std::string& where, const std::set<std::string>& names) const {
        if (!object.is_object()) throw field_error(where.empty() ? "." : where, "not an object");
        for (const std::string& name : names)
            if (!object.contains(name)) throw field_error(path(where, name), "missing");
        for (const auto& [name, value] : object.items())
            if (!names.count(name)) throw field_error(path(where, name), "unknown member");
    }

    const json& array_at(const json& object, const std::string& name, const std::string& where) const {
        const json& value = object[name];
        if (!value.is_array()) throw field_error(path(where, name), "not an array");
        return value;
    }

    std::string string_at(const json& object, const std::string& name, const std::string& where) const {
        const json& value = object[name];
        if (!value.is_string()) throw field_error(path(where, name), "not a string");
        return value.get<std::string>();
    }

    // A string of any bytes: a JSON string, or {"base64": "…"} for bytes that are not UTF-8.
    std::string bytes_at(const json& object, const std::string& name, const std::string& where) const {
        return bytes_of(object[name], path(where, name));
    }

    std::string bytes_of(const json& value, const std::string& field) const {
        if (value.is_string()) return value.get<std::string>();
        if (value.is_object() && value.size() == 1 && value.contains("base64") && value["base64"].is_string())
            if (auto bytes = base64_decode(value["base64"].get<std::string>())) return *bytes;
        throw field_error(field, "neither a string nor {\"base64\": …}");
    }

    Digest digest_at(const json& object, const std::string& name, const std::string& where) const {
        try {
            return Digest::parse(string_at(object, name, where));
        } catch (const DigestError& error) {
            throw field_error(path(where, name), error.what());
        }
    }

    std::int64_t integer_at(const json& object, const std::string& name, const std::string& where,
                                   std::int64_t min, std::int64_t max) const {
        const json& value = object[name];
        if (!value.is_number_integer()) throw field_error(path(where, name), "not an integer");
        // A huge unsigned value would wrap in get<int64_t>(); it is out of every range here.
        if (value.is_number_unsigned() && value.get<std::uint64_t>() > static_cast<std::uint64_t>(max))
            throw field_error(path(where, name), "out of range");
        const std::int64_t number = value.get<std::int64_t>();
        if (number < min || number > max) throw field_error(path(where, name), "out of range");
        return number;
    }

    std::size_t layer_at(const json& object, const std::string& where) const {
        if (m_layers.empty()) throw field_error(path(where, "layer"), "the manifest has no layers");
        const auto last = static_cast<std::int64_t>(m_layers.size()) - 1;
        return static_cast<std::size_t>(integer_at(object, "layer", where, 0, last));
    }

    std::pair<cache::CacheRecord, std::size_t> read_record(const json& object, const std::string& where) const {
        expect_members(object, where,
                       {"created", "description", "diff_id", "history", "inputs", "key", "last_used", "layer",
                        "media_type"});
        std::vector<cache::CacheKeyInput> inputs;
        const json& input_array = array_at(object, "inputs", where);
        for (std::size_t i = 0; i < input_array.size(); ++i)
            inputs.push_back(read_input(input_array[i], path(where, "inputs[" + std::to_string(i) + "]")));
        const std::size_t layer = layer_at(object, where);
        const registry::Descriptor& descriptor = m_layers[layer];
        std::string media_type = string_at(object, "media_type", where);
        if (media_type != descriptor.media_type)
            throw field_error(path(where, "media_type"),
                              "`" + media_type + "`, but its layer is `" + descriptor.media_type + "`");
        constexpr std::int64_t k_min = std::numeric_limits<std::int64_t>::min();
        constexpr std::int64_t k_max = std::numeric_limits<std::int64_t>::max();
        cache::CacheRecord record{.key = digest_at(object, "key", where),
                                  .inputs = std::move(inputs),
                                  .description = bytes_at(object, "description", where),
                                  .layer_media_type = std::move(media_type),
                                  .layer_digest = descriptor.digest,
                                  .layer_size = static_cast<std::uint64_t>(descriptor.size),
                                  .diff_id = digest_at(object, "diff_id", where),
                                  .history_json = bytes_at(object, "history", where),
                                  .created = integer_at(object, "created", where, k_min, k_max),
                                  .last_used = integer_at(object, "last_used", where, k_min, k_max)};
        return {std::move(record), layer};
    }

    cache::CacheKeyInput read_input(const json& object, const std::string& where) const {
        expect_members(object, where, {"field", "kind", "values"});
        cache::CacheKeyInput input;
        input.field = bytes_at(object, "field", where);
        const std::string kind = string_at(object, "kind", where);
        if (kind == "list") input.kind = cache::CacheKeyInput::Kind::list;
        else if (kind != "scalar") throw field_error(path(where, "kind"), "`" + kind + "` is neither scalar nor list");
        const json& values = array_at(object, "values", where);
        for (std::size_t i = 0; i < values.size(); ++i)
            input.values.push_back(bytes_of(values[i], path(where, "values[" + std::to_string(i) + "]")));
        if (input.kind == cache::CacheKeyInput::Kind::scalar && input.values.size() != 1)
            throw field_error(path(where, "values"), "a scalar needs exactly one value");
        return input;
    }

    CacheMount read_mount(const json& object, const std::string& where) const {
        expect_members(object, where, {"diff_id", "gid", "layer", "mode", "name", "uid"});
        std::string name = string_at(object, "name", where);
        // The name becomes a directory name: nothing but a digest's hex may get there.
        if (!is_cache_mount_name(name)) throw field_error(path(where, "name"), "not 64 lowercase hex digits");
        return CacheMount{.name = std::move(name),
                          .layer = layer_at(object, where),
                          .diff_id = digest_at(object, "diff_id", where),
                          .mode = static_cast<std::uint32_t>(integer_at(object, "mode", where, 0, 07777)),
                          .uid = static_cast<std::uint32_t>(integer_at(object, "uid", where, 0, 0xfffffffe)),
                          .gid = static_cast<std::uint32_t>(integer_at(object, "gid", where, 0, 0xfffffffe))};
    }

    std::string m_name;
    const std::vector<registry::Descriptor>& m_layers;
};

}  // namespace

bool is_cache_mount_name(std::string_view name) {
    return name.size() == 64 && std::all_of(name.begin(), name.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

std::string cache_config_json(const CacheContents& contents) {
    json records = json::array();
    for (std::size_t i = 0; i < contents.records.size(); ++i) {
        const cache::CacheRecord& record = contents.records[i];
        records.push_back({{"key", record.key.to_string()},
                           {"inputs", inputs_json(record.inputs)},
                           {"description", bytes_json(record.description)},
                           {"history", bytes_json(record.history_json)},
                           {"layer", contents.record_layers[i]},
                           {"diff_id", record.diff_id.to_string()},
                           {"media_type", record.layer_media_type},
                           {"created", record.created},
                           {"last_used", record.last_used}});
    }
    json mounts = json::array();
    for (const CacheMount& mount : contents.mounts)
        mounts.push_back({{"name", mount.name},
                          {"layer", mount.layer},
                          {"diff_id", mount.diff_id.to_string()},
                          {"mode", mount.mode},
                          {"uid", mount.uid},
                          {"gid", mount.gid}});
    // Object keys are sorted (nlohmann's std::map) and nothing is indented: one byte form.
    const json document{
        {"version", k_cache_format_version}, {"records", std::move(records)}, {"cache_mounts", std::move(mounts)}};
    return document.dump();
}

CacheContents read_cache_config(std::string_view bytes, const std::vector<registry::Descriptor>& layers,
                                const std::string& name) {
    return ConfigReader(name, layers).read(bytes);
}

}  // namespace cbuild::builder::internal
