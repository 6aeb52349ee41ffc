#include "parser/internal/go_quote.h"

#include <cstdio>

#include "parser/internal/text.h"
#include "parser/internal/unicode_tables.h"

namespace cbuild::parser::internal {

std::string go_quote(std::string_view text) {
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string out = "\"";
    out.reserve(text.size() + 2);
    for (std::size_t pos = 0; pos < text.size();) {
        const Rune rune = decode_rune(text, pos);
        const char32_t c = rune.code_point;
        if (!rune.valid) {
            const auto byte = static_cast<unsigned char>(text[pos]);
            out += "\\x";
            out += k_hex[byte >> 4];
            out += k_hex[byte & 0xF];
        } else if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (is_unicode_print(c)) {
            out += text.substr(pos, rune.width);
        } else if (c >= '\a' && c <= '\r') {
            static constexpr char k_letters[] = "abtnvfr";  // '\a' (7) to '\r' (13)
            out += '\\';
            out += k_letters[c - '\a'];
        } else {
            char buffer[12];
            if (c < ' ' || c == 0x7F)
                std::snprintf(buffer, sizeof buffer, "\\x%02x", static_cast<unsigned>(c));
            else if (c < 0x10000)
                std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(c));
            else
                std::snprintf(buffer, sizeof buffer, "\\U%08x", static_cast<unsigned>(c));
            out += buffer;
        }
        pos += rune.width;
    }
    out += '"';
    return out;
}

}  // namespace cbuild::parser::internal
