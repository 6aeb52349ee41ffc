// BuildKit's AST dump: Go's %q / strconv.Quote of each string, in s-expressions.

#include "parser/ast.h"
#include "parser/internal/go_quote.h"
#include "parser/internal/text.h"

namespace cbuild::parser {

namespace {

void append_quoted(std::string& out, std::string_view text) { out += internal::go_quote(text); }

void append_node(std::string& out, const Node& node) {
    out += node.keyword;
    if (!node.flags.empty()) {
        out += " [";
        for (std::size_t i = 0; i < node.flags.size(); ++i) {
            if (i > 0) out += ' ';
            append_quoted(out, node.flags[i]);
        }
        out += ']';
    }
    for (const Node& nested : node.nested) {
        out += " (";
        append_node(out, nested);
        out += ')';
    }
    for (const std::string& arg : node.args) {
        out += ' ';
        append_quoted(out, arg);
    }
}

}  // namespace

std::string go_quote(std::string_view text) { return internal::go_quote(text); }

std::string go_quote_rune(std::int32_t code_point) {
    if (code_point < 0 || code_point > 0x10FFFF || (code_point >= 0xD800 && code_point <= 0xDFFF)) code_point = 0xFFFD;
    if (code_point == '\'') return "'\\''";
    if (code_point == '"') return "'\"'";
    std::string utf8;
    internal::append_utf8(utf8, static_cast<char32_t>(code_point));
    const std::string quoted = internal::go_quote(utf8);  // the same escapes, between `'`
    return "'" + quoted.substr(1, quoted.size() - 2) + "'";
}

std::string dump(const Node& node) {
    std::string out;
    append_node(out, node);
    return out;
}

std::string dump(const Ast& ast) {
    std::string out;
    for (const Node& child : ast.children) {
        out += '(';
        append_node(out, child);
        out += ")\n";
    }
    return out;
}

}  // namespace cbuild::parser
