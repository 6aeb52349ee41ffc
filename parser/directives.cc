// Directive lines at the top of a Dockerfile, and the syntax/check detectors.

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "parser/ast.h"
#include "parser/internal/directive_line.h"
#include "parser/internal/text.h"

namespace cbuild::parser {

namespace internal {

std::optional<Directive> match_directive_line(std::string_view line, std::string_view prefix) {
    // \s in Go's RE2 syntax: [\t\n\f\r ].
    const auto is_blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; };
    const auto is_alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
    if (line.substr(0, prefix.size()) != prefix) return std::nullopt;
    line = trim_left_space(line.substr(prefix.size()));
    std::size_t pos = 0;
    if (line.empty() || !is_alpha(line[0])) return std::nullopt;
    while (pos < line.size() && (is_alpha(line[pos]) || is_digit(line[pos]))) ++pos;
    std::string name(line.substr(0, pos));
    while (pos < line.size() && is_blank(line[pos])) ++pos;
    if (pos >= line.size() || line[pos] != '=') return std::nullopt;
    ++pos;
    while (pos < line.size() && is_blank(line[pos])) ++pos;
    std::size_t end = line.size();
    while (end > pos && is_blank(line[end - 1])) --end;
    if (end <= pos) return std::nullopt;
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return Directive{std::move(name), std::string(line.substr(pos, end - pos)), 0};
}

bool is_known_directive(std::string_view name) {
    return name == "syntax" || name == "escape" || name == "check";
}

}  // namespace internal

namespace {

std::string_view strip_bom(std::string_view bytes) {
    if (bytes.substr(0, 3) == "\xEF\xBB\xBF") bytes.remove_prefix(3);
    return bytes;
}

// ParseAll with a comment prefix; `first_line` is the line number before the first line.
// Stops quietly on a repeated directive when `throw_on_repeat` is off (detection ignores it).
std::vector<Directive> scan_directives(std::string_view bytes, std::string_view prefix, int first_line,
                                       const std::string* file_name) {
    std::vector<Directive> found;
    int line_number = first_line;
    std::size_t pos = 0;
    while (pos < bytes.size()) {
        std::size_t end = bytes.find('\n', pos);
        if (end == std::string_view::npos) end = bytes.size();
        std::string_view line = bytes.substr(pos, end - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // bufio.ScanLines drops it
        pos = end + 1;
        ++line_number;
        std::optional<Directive> directive = internal::match_directive_line(line, prefix);
        if (!directive || !internal::is_known_directive(directive->name)) break;
        for (const Directive& seen : found) {
            if (seen.name != directive->name) continue;
            if (!file_name) return found;
            throw ParseError(*file_name, line_number, 0,
                             "only one " + directive->name + " parser directive can be used",
                             std::string(line));
        }
        directive->line = line_number;
        found.push_back(std::move(*directive));
    }
    return found;
}

}  // namespace

std::vector<Directive> parse_directives(std::string_view bytes, const std::string& file_name) {
    return scan_directives(strip_bom(bytes), "#", 0, &file_name);
}

std::optional<DetectedDirective> detect_directive(std::string_view bytes, std::string_view name,
                                                  bool any_format) {
    bytes = strip_bom(bytes);
    int first_line = 0;
    if (bytes.substr(0, 2) == "#!") {
        const std::size_t newline = bytes.find('\n');
        bytes = newline == std::string_view::npos ? std::string_view{} : bytes.substr(newline + 1);
        first_line = 1;
    }
    const auto from_list = [&](const std::vector<Directive>& directives) -> std::optional<DetectedDirective> {
        for (const Directive& directive : directives) {
            if (directive.name != name) continue;
            const std::size_t space = directive.value.find(' ');
            return DetectedDirective{directive.value.substr(0, space), directive.value, directive.line};
        }
        return std::nullopt;
    };
    if (auto found = from_list(scan_directives(bytes, "#", first_line, nullptr))) return found;
    if (!any_format) return std::nullopt;
    if (auto found = from_list(scan_directives(bytes, "//", first_line, nullptr))) return found;
    const nlohmann::json document = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
    if (document.is_object()) {
        const auto it = document.find(std::string(name));
        if (it != document.end() && it->is_string())
            return DetectedDirective{it->get<std::string>(), it->get<std::string>(), first_line};
    }
    return std::nullopt;
}

}  // namespace cbuild::parser
