// BuildKit's AST dump: Go's %q / strconv.Quote of each string, in s-expressions.

#include <cstdio>

#include "parser/ast.h"
#include "parser/internal/text.h"

namespace cbuild::parser {

namespace {

using internal::decode_rune;

// Go's unicode.IsPrint, approximated without the full Unicode tables: everything is printable
// except controls, separators other than the ASCII space, format characters, private use and
// the noncharacters. Unassigned code points (which Go escapes) are treated as printable.
bool is_printable(char32_t c) {
    if (c < 0x20 || (c >= 0x7F && c <= 0x9F)) return false;
    if (c == 0xA0 || c == 0xAD || c == 0x1680 || (c >= 0x2000 && c <= 0x200F) ||
        (c >= 0x2028 && c <= 0x202F) || (c >= 0x205F && c <= 0x206F) || c == 0x3000 ||
        c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB))
        return false;
    if ((c >= 0x600 && c <= 0x605) || c == 0x61C || c == 0x6DD || c == 0x70F || c == 0x180E ||
        c == 0x110BD || (c >= 0x1BCA0 && c <= 0x1BCA3) || (c >= 0x1D173 && c <= 0x1D17A) ||
        c == 0xE0001 || (c >= 0xE0020 && c <= 0xE007F))
        return false;
    if ((c >= 0xE000 && c <= 0xF8FF) || c >= 0xF0000) return false;  // private use
    if ((c & 0xFFFE) == 0xFFFE || (c >= 0xFDD0 && c <= 0xFDEF)) return false;
    return true;
}

void append_hex(std::string& out, const char* format, unsigned value) {
    char buffer[16];
    std::snprintf(buffer, sizeof buffer, format, value);
    out += buffer;
}

void append_quoted(std::string& out, std::string_view text) {
    out += '"';
    for (std::size_t pos = 0; pos < text.size();) {
        const internal::Rune rune = decode_rune(text, pos);
        const char32_t c = rune.code_point;
        if (!rune.valid) {
            append_hex(out, "\\x%02x", static_cast<unsigned char>(text[pos]));
        } else if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (is_printable(c)) {
            out.append(text.substr(pos, rune.width));
        } else {
            switch (c) {
            case '\a': out += "\\a"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\v': out += "\\v"; break;
            default:
                if (c < 0x20 || c == 0x7F) append_hex(out, "\\x%02x", c);
                else if (c < 0x10000) append_hex(out, "\\u%04x", c);
                else append_hex(out, "\\U%08x", c);
            }
        }
        pos += rune.width;
    }
    out += '"';
}

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
