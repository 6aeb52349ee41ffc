#include "registry/internal/json_fields.h"

#include <limits>
#include <utility>

namespace cbuild::registry::internal {

namespace {

std::string backticked(std::string_view text) { return "`" + std::string(text) + "`"; }

// "a string", "an array": the JSON type of `value` for messages.
std::string type_phrase(const Json& value) {
    const std::string name = value.type_name();
    const bool vowel =
        !name.empty() && std::string_view("aeiou").find(name[0]) != std::string_view::npos;
    return (vowel ? "an " : "a ") + name;
}

struct TooDeep {};

bool is_digits(std::string_view text, std::size_t from, std::size_t count) {
    if (from + count > text.size()) return false;
    for (std::size_t i = from; i < from + count; ++i)
        if (text[i] < '0' || text[i] > '9') return false;
    return true;
}

int number_at(std::string_view text, std::size_t from, std::size_t count) {
    int value = 0;
    for (std::size_t i = from; i < from + count; ++i) value = value * 10 + (text[i] - '0');
    return value;
}

// RFC 3339 section 5.6 date-time, as Go's time.Parse(time.RFC3339) accepts it: upper-case T
// and Z, fractional seconds of any length, a numeric offset with a colon.
bool is_rfc3339(std::string_view text) {
    // YYYY-MM-DDTHH:MM:SS
    if (text.size() < 20 || !is_digits(text, 0, 4) || text[4] != '-' || !is_digits(text, 5, 2) ||
        text[7] != '-' || !is_digits(text, 8, 2) || text[10] != 'T' || !is_digits(text, 11, 2) ||
        text[13] != ':' || !is_digits(text, 14, 2) || text[16] != ':' || !is_digits(text, 17, 2))
        return false;
    const int month = number_at(text, 5, 2);
    const int day = number_at(text, 8, 2);
    if (month < 1 || month > 12 || day < 1 || day > 31 || number_at(text, 11, 2) > 23 ||
        number_at(text, 14, 2) > 59 || number_at(text, 17, 2) > 59)
        return false;
    std::size_t at = 19;
    if (text[at] == '.') {
        const std::size_t digits_from = ++at;
        while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
        if (at == digits_from) return false;
    }
    const std::string_view zone = text.substr(at);
    if (zone == "Z") return true;
    return zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && is_digits(zone, 1, 2) &&
           zone[3] == ':' && is_digits(zone, 4, 2) && number_at(zone, 1, 2) <= 23 &&
           number_at(zone, 4, 2) <= 59;
}

}  // namespace

Where Where::member(std::string_view key) const {
    Where child = *this;
    child.m_path = m_path.empty() ? std::string(key) : m_path + "." + std::string(key);
    return child;
}

Where Where::element(std::size_t index) const {
    Where child = *this;
    child.m_path = m_path + "[" + std::to_string(index) + "]";
    return child;
}

void Where::fail(const std::string& reason) const {
    throw ImageFormatError(m_document, m_path, reason);
}

Json parse_document(std::string_view text, const Where& where) {
    try {
        return Json::parse(text.begin(), text.end(), [](int depth, Json::parse_event_t, Json&) {
            if (depth > k_max_depth) throw TooDeep{};
            return true;
        });
    } catch (const Json::parse_error& error) {
        // Drop nlohmann's "[json.exception.parse_error.101] " prefix; keep the position.
        std::string detail = error.what();
        if (const std::size_t close = detail.find("] "); close != std::string::npos)
            detail.erase(0, close + 2);
        where.fail("not valid JSON: " + detail);
    } catch (const TooDeep&) {
        where.fail("nested more than " + std::to_string(k_max_depth) + " levels deep");
    }
}

std::string canonical_dump(const Json& value) {
    // nlohmann's object is a std::map, so keys come out sorted bytewise, as Go sorts map keys.
    const std::string plain = value.dump(-1, ' ', false, Json::error_handler_t::replace);
    // Go additionally escapes these (json.Marshal's HTML-safe default). They can only occur
    // inside string literals of the dumped text, so a byte-level pass is exact.
    std::string out;
    out.reserve(plain.size() + plain.size() / 16);
    for (std::size_t i = 0; i < plain.size(); ++i) {
        const char c = plain[i];
        if (c == '<') {
            out += "\\u003c";
        } else if (c == '>') {
            out += "\\u003e";
        } else if (c == '&') {
            out += "\\u0026";
        } else if (c == '\xe2' && i + 2 < plain.size() && plain[i + 1] == '\x80' &&
                   (plain[i + 2] == '\xa8' || plain[i + 2] == '\xa9')) {
            out += plain[i + 2] == '\xa8' ? "\\u2028" : "\\u2029";
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

UnknownFields leftover(const Json& input, const Json& known) {
    Json rest = Json::object();
    for (const auto& [key, value] : input.items())
        if (!known.contains(key)) rest[key] = value;
    return UnknownFieldsAccess::make(std::move(rest));
}

Json merged(Json known, const UnknownFields& unknown) {
    const Json* extra = UnknownFieldsAccess::object(unknown);
    if (extra == nullptr) return known;
    Json out = *extra;
    for (auto& [key, value] : known.items()) out[key] = std::move(value);
    return out;
}

void wrong_type(const Json& value, const Where& where, std::string_view wanted) {
    where.fail("must be " + std::string(wanted) + ", not " + type_phrase(value));
}

void expect_object(const Json& value, const Where& where) {
    if (!value.is_object()) wrong_type(value, where, "an object");
}

const Json* find(const Json& object, std::string_view key) {
    const auto it = object.find(std::string(key));
    if (it == object.end() || it->is_null()) return nullptr;
    return &*it;
}

const Json& required(const Json& object, std::string_view key, const Where& where) {
    const Json* value = find(object, key);
    if (value == nullptr) where.fail("missing required member " + backticked(key));
    return *value;
}

std::string as_string(const Json& value, const Where& where) {
    if (!value.is_string()) wrong_type(value, where, "a string");
    return value.get<std::string>();
}

std::int64_t as_int(const Json& value, const Where& where) {
    if (value.is_number_integer() && !value.is_number_unsigned()) return value.get<std::int64_t>();
    if (value.is_number_unsigned()) {
        const auto unsigned_value = value.get<std::uint64_t>();
        if (unsigned_value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            where.fail("the number " + value.dump() + " does not fit in 64 bits");
        return static_cast<std::int64_t>(unsigned_value);
    }
    if (value.is_number_float()) where.fail("must be an integer, not " + value.dump());
    wrong_type(value, where, "an integer");
}

Digest as_digest(const Json& value, const Where& where) {
    const std::string text = as_string(value, where);
    try {
        return Digest::parse(text);
    } catch (const DigestError& error) {
        where.fail(error.what());
    }
}

std::string string_member(const Json& object, std::string_view key, const Where& where) {
    const Json* value = find(object, key);
    return value == nullptr ? std::string() : as_string(*value, where.member(key));
}

std::string required_string(const Json& object, std::string_view key, const Where& where) {
    return as_string(required(object, key, where), where.member(key));
}

bool bool_member(const Json& object, std::string_view key, const Where& where) {
    const Json* value = find(object, key);
    if (value == nullptr) return false;
    if (!value->is_boolean()) wrong_type(*value, where.member(key), "a boolean");
    return value->get<bool>();
}

std::int64_t int_member(const Json& object, std::string_view key, const Where& where) {
    const Json* value = find(object, key);
    return value == nullptr ? 0 : as_int(*value, where.member(key));
}

std::optional<std::vector<std::string>> optional_strings_member(const Json& object,
                                                                std::string_view key,
                                                                const Where& where) {
    const Json* value = find(object, key);
    if (value == nullptr) return std::nullopt;
    const Where at = where.member(key);
    if (!value->is_array()) wrong_type(*value, at, "an array of strings");
    std::vector<std::string> out;
    out.reserve(value->size());
    for (std::size_t i = 0; i < value->size(); ++i)
        out.push_back(as_string((*value)[i], at.element(i)));
    return out;
}

std::vector<std::string> strings_member(const Json& object, std::string_view key,
                                        const Where& where) {
    return optional_strings_member(object, key, where).value_or(std::vector<std::string>{});
}

std::map<std::string, std::string> string_map_member(const Json& object, std::string_view key,
                                                     const Where& where) {
    std::map<std::string, std::string> out;
    const Json* value = find(object, key);
    if (value == nullptr) return out;
    const Where at = where.member(key);
    if (!value->is_object()) wrong_type(*value, at, "an object of strings");
    for (const auto& [name, item] : value->items())
        out.emplace(name, item.is_null() ? std::string() : as_string(item, at.member(name)));
    return out;
}

std::set<std::string> key_set_member(const Json& object, std::string_view key, const Where& where) {
    std::set<std::string> out;
    const Json* value = find(object, key);
    if (value == nullptr) return out;
    const Where at = where.member(key);
    if (!value->is_object()) wrong_type(*value, at, "an object");
    for (const auto& [name, item] : value->items()) {
        // Go decodes each value into struct{}: any object (its members ignored) or null.
        if (!item.is_object() && !item.is_null()) wrong_type(item, at.member(name), "{}");
        out.insert(name);
    }
    return out;
}

std::string time_member(const Json& object, std::string_view key, const Where& where) {
    const Json* value = find(object, key);
    if (value == nullptr) return {};
    const std::string text = as_string(*value, where.member(key));
    if (!is_rfc3339(text))
        where.member(key).fail(backticked(text) +
                               " is not an RFC 3339 time (2006-01-02T15:04:05Z)");
    return text;
}

void put_string(Json& object, std::string_view key, const std::string& value) {
    if (!value.empty()) object[std::string(key)] = value;
}

void put_strings(Json& object, std::string_view key, const std::vector<std::string>& value) {
    if (!value.empty()) object[std::string(key)] = value;
}

void put_string_map(Json& object, std::string_view key,
                    const std::map<std::string, std::string>& value) {
    if (value.empty()) return;
    Json& out = object[std::string(key)] = Json::object();
    for (const auto& [name, item] : value) out[name] = item;
}

void put_key_set(Json& object, std::string_view key, const std::set<std::string>& value) {
    if (value.empty()) return;
    Json& out = object[std::string(key)] = Json::object();
    for (const std::string& name : value) out[name] = Json::object();
}

}  // namespace cbuild::registry::internal
