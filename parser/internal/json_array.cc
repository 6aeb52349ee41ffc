#include "parser/internal/json_array.h"

#include <nlohmann/json.hpp>

#include "parser/internal/text.h"

namespace cbuild::parser::internal {

JsonArray parse_json_array(std::string_view text) {
    text = trim_left_space(text);
    if (text.empty() || text.front() != '[') return {JsonArrayStatus::not_json_array, {}};
    const nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_array()) return {JsonArrayStatus::not_json_array, {}};
    JsonArray result{JsonArrayStatus::string_array, {}};
    result.values.reserve(parsed.size());
    for (const auto& element : parsed) {
        if (!element.is_string()) return {JsonArrayStatus::not_string_array, {}};
        result.values.push_back(element.get<std::string>());
    }
    return result;
}

}  // namespace cbuild::parser::internal
