#pragma once
// The exec form of RUN/CMD/ENTRYPOINT/SHELL and the JSON form of ADD/COPY/VOLUME: a JSON
// array whose elements must all be strings.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cbuild::parser::internal {

enum class JsonArrayStatus { string_array, not_json_array, not_string_array };

struct JsonArray {
    JsonArrayStatus status;
    std::vector<std::string> values;  // when status is string_array
};

// Parses `text` (leading whitespace allowed) as BuildKit does with Go's json.Unmarshal: it must
// begin with `[` and be one complete JSON array. A valid array holding a non-string is
// `not_string_array`, which callers turn into an error; anything else that fails is
// `not_json_array`, which callers treat as the shell or whitespace-split form.
JsonArray parse_json_array(std::string_view text);

}  // namespace cbuild::parser::internal
