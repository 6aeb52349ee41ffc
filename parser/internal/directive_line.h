#pragma once
// One directive line, shared by the Dockerfile parser and the directive detector.

#include <optional>
#include <string_view>

#include "parser/ast.h"

namespace cbuild::parser::internal {

// Matches `PREFIX name = value` (BuildKit: the prefix cut, leading Unicode spaces trimmed, then
// `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`). The name comes back lowercased. Whether the name
// is a known directive is the caller's business.
std::optional<Directive> match_directive_line(std::string_view line, std::string_view prefix);

bool is_known_directive(std::string_view name);

}  // namespace cbuild::parser::internal
