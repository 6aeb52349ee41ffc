#pragma once
// Typed, path-tracking access to JSON members for the image model's parsers, and the
// canonical writer. Every reader throws ImageFormatError naming the document and the JSON path.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "registry/image.h"

namespace cbuild::registry::internal {

using Json = nlohmann::json;

// Where a value sits: the document kind and the JSON path to it.
class Where {
public:
    explicit Where(std::string_view document) : m_document(document) {}

    Where member(std::string_view key) const;
    Where element(std::size_t index) const;
    const std::string& path() const { return m_path; }

    [[noreturn]] void fail(const std::string& reason) const;

private:
    std::string m_document;
    std::string m_path;
};

// The whole of `text` as one JSON value, at most k_max_depth levels deep (the writer and the
// value's copy are recursive, and the input comes from registries).
inline constexpr int k_max_depth = 1000;
Json parse_document(std::string_view text, const Where& where);

// The canonical bytes of a value; see the top of registry/image.h.
std::string canonical_dump(const Json& value);

// Bridges UnknownFields to the JSON object it wraps.
struct UnknownFieldsAccess {
    // The wrapped object, or nullptr when there are no members.
    static const Json* object(const UnknownFields& fields);
    static UnknownFields make(Json object);
};

// The members of `input` that `known` (the model re-encoded) does not have: keys the model
// does not know, and known keys spelled with the empty value the model omits.
UnknownFields leftover(const Json& input, const Json& known);
// `known` with the members of `unknown` under it: a model field wins over an unknown member.
Json merged(Json known, const UnknownFields& unknown);

// Readers. `object` is a JSON object; a member that is absent or null reads as empty
// (Go's encoding/json leaves the zero value), except where `required_` says otherwise.
// Fails with "must be WANTED, not a TYPE".
[[noreturn]] void wrong_type(const Json& value, const Where& where, std::string_view wanted);
void expect_object(const Json& value, const Where& where);
const Json* find(const Json& object, std::string_view key);  // nullptr: absent or null
const Json& required(const Json& object, std::string_view key, const Where& where);

std::string as_string(const Json& value, const Where& where);
std::int64_t as_int(const Json& value, const Where& where);
Digest as_digest(const Json& value, const Where& where);

std::string string_member(const Json& object, std::string_view key, const Where& where);
std::string required_string(const Json& object, std::string_view key, const Where& where);
bool bool_member(const Json& object, std::string_view key, const Where& where);
std::int64_t int_member(const Json& object, std::string_view key, const Where& where);
std::vector<std::string> strings_member(const Json& object, std::string_view key,
                                        const Where& where);
std::optional<std::vector<std::string>> optional_strings_member(const Json& object,
                                                                std::string_view key,
                                                                const Where& where);
std::map<std::string, std::string> string_map_member(const Json& object, std::string_view key,
                                                     const Where& where);
// A Go map[string]struct{}: {"80/tcp": {}}.
std::set<std::string> key_set_member(const Json& object, std::string_view key, const Where& where);
// An RFC 3339 time ("2024-01-02T03:04:05.123Z", "…+01:00"), kept verbatim; "" when absent.
std::string time_member(const Json& object, std::string_view key, const Where& where);

// Writers that apply Go's omitempty.
void put_string(Json& object, std::string_view key, const std::string& value);
void put_strings(Json& object, std::string_view key, const std::vector<std::string>& value);
void put_string_map(Json& object, std::string_view key,
                    const std::map<std::string, std::string>& value);
void put_key_set(Json& object, std::string_view key, const std::set<std::string>& value);

}  // namespace cbuild::registry::internal
