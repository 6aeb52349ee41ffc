#include "cli/cache_options.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <string_view>

#include "common/error.h"
#include "registry/reference.h"

namespace cbuild::cli {

namespace {

enum class Direction { to, from };

std::string option_name(Direction direction) { return direction == Direction::to ? "--cache-to" : "--cache-from"; }

// The fields of one value, keys lowercased as buildx does. A value without any `=` is a bare
// reference; buildx would read a comma-separated list of them, but one spec holds one cache.
std::map<std::string, std::string> parse_fields(const std::string& text, Direction direction) {
    const std::string option = option_name(direction);
    if (text.empty()) throw UsageError("empty " + option);
    if (text.find('=') == std::string::npos) {
        if (text.find(',') != std::string::npos)
            throw UsageError(option + " `" + text + "`: give one reference per " + option);
        return {{"type", "registry"}, {"ref", text}};
    }
    std::map<std::string, std::string> fields;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t comma = std::min(text.find(',', start), text.size());
        const std::string field = text.substr(start, comma - start);
        const std::size_t equals = field.find('=');
        if (equals == std::string::npos)
            throw UsageError("invalid " + option + " field `" + field + "` in `" + text + "`: expected key=value");
        std::string key = field.substr(0, equals);
        std::transform(key.begin(), key.end(), key.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (!fields.emplace(key, field.substr(equals + 1)).second)
            throw UsageError(option + " `" + text + "`: `" + key + "` is given twice");
        start = comma + 1;
    }
    return fields;
}

// Removes and returns field `key`, or nullopt.
std::optional<std::string> take(std::map<std::string, std::string>& fields, const std::string& key) {
    const auto it = fields.find(key);
    if (it == fields.end()) return std::nullopt;
    std::string value = std::move(it->second);
    fields.erase(it);
    return value;
}

// Removes and returns field `key`, which must be there and not empty.
std::string take_required(std::map<std::string, std::string>& fields, const std::string& key,
                          const std::string& text, const std::string& context) {
    auto value = take(fields, key);
    if (!value || value->empty()) throw UsageError(context + " `" + text + "` needs " + key + "=");
    return *value;
}

bool take_bool(std::map<std::string, std::string>& fields, const std::string& key, const std::string& text,
               const std::string& option) {
    const auto value = take(fields, key);
    if (!value) return false;
    if (*value != "true" && *value != "false")
        throw UsageError(option + " `" + text + "`: " + key + "=" + *value + ": expected true or false");
    return *value == "true";
}

// The type= field: registry or local.
bool take_is_local(std::map<std::string, std::string>& fields, const std::string& text, const std::string& option) {
    const auto type = take(fields, "type");
    if (!type) throw UsageError(option + " `" + text + "` needs type=");
    if (*type == "registry") return false;
    if (*type == "local") return true;
    throw UsageError(option + " `" + text + "`: unsupported type `" + *type + "` (registry, local)");
}

// Checks a registry cache reference; a cache written by tag cannot be found again by a digest.
void check_reference(const std::string& ref, const std::string& text, Direction direction) {
    const std::string option = option_name(direction);
    try {
        const registry::Reference reference = registry::Reference::parse(ref);
        if (direction == Direction::to && reference.digest())
            throw UsageError(option + " `" + text + "`: ref= must be a tag, not a digest");
    } catch (const registry::ReferenceError& error) {
        throw UsageError(option + " `" + text + "`: " + error.what());
    }
}

void reject_leftovers(const std::map<std::string, std::string>& fields, const std::string& text,
                      const std::string& context) {
    if (!fields.empty())
        throw UsageError("unsupported key `" + fields.begin()->first + "` for " + context + " `" + text + "`");
}

}  // namespace

builder::CacheExportSpec parse_cache_to(const std::string& text) {
    const std::string option = option_name(Direction::to);
    auto fields = parse_fields(text, Direction::to);
    builder::CacheExportSpec spec;
    const bool local = take_is_local(fields, text, option);
    const std::string context = option + (local ? " type=local" : " type=registry");
    if (local) {
        spec.type = builder::CacheExportSpec::Type::local;
        spec.dir = take_required(fields, "dest", text, context);
        if (const auto tag = take(fields, "tag")) {
            if (tag->empty()) throw UsageError(context + " `" + text + "`: empty tag=");
            spec.tag = *tag;
        }
    } else {
        spec.type = builder::CacheExportSpec::Type::registry;
        spec.ref = take_required(fields, "ref", text, context);
        check_reference(spec.ref, text, Direction::to);
        spec.insecure = take_bool(fields, "registry.insecure", text, option);
    }
    if (const auto mode = take(fields, "mode")) {
        if (*mode != "min" && *mode != "max")
            throw UsageError(option + " `" + text + "`: mode=" + *mode + ": expected min or max");
        spec.mode_max = *mode == "max";
    }
    spec.cache_mounts = take_bool(fields, "cache-mounts", text, option);
    reject_leftovers(fields, text, context);
    return spec;
}

builder::CacheImportSpec parse_cache_from(const std::string& text) {
    const std::string option = option_name(Direction::from);
    auto fields = parse_fields(text, Direction::from);
    builder::CacheImportSpec spec;
    const bool local = take_is_local(fields, text, option);
    const std::string context = option + (local ? " type=local" : " type=registry");
    if (local) {
        spec.type = builder::CacheImportSpec::Type::local;
        spec.dir = take_required(fields, "src", text, context);
        if (const auto tag = take(fields, "tag")) {
            if (tag->empty()) throw UsageError(context + " `" + text + "`: empty tag=");
            spec.tag = *tag;
        }
    } else {
        spec.type = builder::CacheImportSpec::Type::registry;
        spec.ref = take_required(fields, "ref", text, context);
        check_reference(spec.ref, text, Direction::from);
        spec.insecure = take_bool(fields, "registry.insecure", text, option);
    }
    reject_leftovers(fields, text, context);
    return spec;
}

}  // namespace cbuild::cli
