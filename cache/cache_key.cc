#include "cache/cache_key.h"

#include <cstdio>
#include <map>
#include <utility>

namespace cbuild::cache {

namespace {

// Bump with any change to the encoding below (see the format in cache_key.h).
constexpr std::string_view k_format_header{"cbuild-cache-key-v1\0", 20};

void add_netstring(Sha256& hasher, std::string_view bytes) {
    hasher.update(std::to_string(bytes.size()));
    hasher.update(":");
    hasher.update(bytes);
}

std::string quote(std::string_view bytes) {
    std::string out = "\"";
    for (const char c : bytes) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        default:
            // Other control bytes are escaped so that every value prints on one line; bytes
            // from 0x80 up pass through so UTF-8 paths stay readable.
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
                char escaped[5];
                std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned char>(c));
                out += escaped;
            } else {
                out += c;
            }
        }
    }
    return out + "\"";
}

// Each input of a key under a name that is unique within the key: the field name, with "#n"
// from the second occurrence of a repeated field on. Pairs the n-th "env" of one key with the
// n-th "env" of the other.
std::vector<std::string> labels_of(const std::vector<CacheKeyInput>& inputs) {
    std::map<std::string, int, std::less<>> seen;
    std::vector<std::string> labels;
    labels.reserve(inputs.size());
    for (const CacheKeyInput& input : inputs) {
        const int occurrence = ++seen[input.field];
        labels.push_back(occurrence == 1 ? input.field
                                         : input.field + "#" + std::to_string(occurrence));
    }
    return labels;
}

std::string join(const std::vector<std::string>& parts) {
    std::string out;
    for (const std::string& part : parts) out += (out.empty() ? "" : ", ") + part;
    return out;
}

}  // namespace

std::string CacheKeyInput::value_text() const {
    if (kind == Kind::scalar) return values.empty() ? std::string() : quote(values.front());
    std::string out = "[";
    for (std::size_t i = 0; i < values.size(); ++i) out += (i == 0 ? "" : ", ") + quote(values[i]);
    return out + "]";
}

CacheKeyBuilder& CacheKeyBuilder::add(std::string_view field, std::string_view value) {
    m_inputs.push_back(
        {std::string(field), CacheKeyInput::Kind::scalar, {std::string(value)}});
    return *this;
}

CacheKeyBuilder& CacheKeyBuilder::add_list(std::string_view field,
                                           const std::vector<std::string>& values) {
    m_inputs.push_back({std::string(field), CacheKeyInput::Kind::list, values});
    return *this;
}

Digest CacheKeyBuilder::finish() const {
    Sha256 hasher;
    hasher.update(k_format_header);
    for (const CacheKeyInput& input : m_inputs) {
        if (input.kind == CacheKeyInput::Kind::scalar) {
            hasher.update("S");
            add_netstring(hasher, input.field);
            add_netstring(hasher, input.values.front());
        } else {
            hasher.update("L");
            add_netstring(hasher, input.field);
            hasher.update(std::to_string(input.values.size()));
            hasher.update(":");
            for (const std::string& value : input.values) add_netstring(hasher, value);
        }
    }
    return hasher.finish();
}

std::vector<std::string> explain_difference(const CacheKeyBuilder& before,
                                            const CacheKeyBuilder& after) {
    const std::vector<CacheKeyInput>& old_inputs = before.inputs();
    const std::vector<CacheKeyInput>& new_inputs = after.inputs();
    const std::vector<std::string> old_labels = labels_of(old_inputs);
    const std::vector<std::string> new_labels = labels_of(new_inputs);

    std::map<std::string_view, std::size_t, std::less<>> old_index;
    std::map<std::string_view, std::size_t, std::less<>> new_index;
    for (std::size_t i = 0; i < old_labels.size(); ++i) old_index.emplace(old_labels[i], i);
    for (std::size_t i = 0; i < new_labels.size(); ++i) new_index.emplace(new_labels[i], i);

    std::vector<std::string> lines;
    std::vector<std::string> old_common_order;
    for (std::size_t i = 0; i < old_inputs.size(); ++i) {
        const auto match = new_index.find(old_labels[i]);
        if (match == new_index.end()) {
            lines.push_back("removed " + old_labels[i] + ": " + old_inputs[i].value_text());
            continue;
        }
        old_common_order.push_back(old_labels[i]);
        const CacheKeyInput& now = new_inputs[match->second];
        if (!(now == old_inputs[i]))
            lines.push_back("changed " + old_labels[i] + ": " + old_inputs[i].value_text() +
                            " -> " + now.value_text());
    }
    std::vector<std::string> new_common_order;
    for (std::size_t i = 0; i < new_inputs.size(); ++i) {
        if (old_index.contains(new_labels[i]))
            new_common_order.push_back(new_labels[i]);
        else
            lines.push_back("added " + new_labels[i] + ": " + new_inputs[i].value_text());
    }
    if (old_common_order != new_common_order)
        lines.push_back("reordered: " + join(old_common_order) + " -> " + join(new_common_order));
    return lines;
}

}  // namespace cbuild::cache
