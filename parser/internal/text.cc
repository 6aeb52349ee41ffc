#include "parser/internal/text.h"

namespace cbuild::parser::internal {

Rune decode_rune(std::string_view text, std::size_t pos) {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[pos + i]); };
    const std::size_t left = text.size() - pos;
    const unsigned char b0 = byte(0);
    if (b0 < 0x80) return {b0, 1, true};
    const Rune invalid{k_replacement_character, 1, false};
    auto continuation = [&](std::size_t i) { return i < left && (byte(i) & 0xC0) == 0x80; };
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        if (!continuation(1)) return invalid;
        return {static_cast<char32_t>(((b0 & 0x1F) << 6) | (byte(1) & 0x3F)), 2, true};
    }
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        if (!continuation(1) || !continuation(2)) return invalid;
        // Overlong forms and UTF-16 surrogates are invalid, as in Go.
        if ((b0 == 0xE0 && byte(1) < 0xA0) || (b0 == 0xED && byte(1) > 0x9F)) return invalid;
        return {static_cast<char32_t>(((b0 & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) |
                                      (byte(2) & 0x3F)),
                3, true};
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        if (!continuation(1) || !continuation(2) || !continuation(3)) return invalid;
        if ((b0 == 0xF0 && byte(1) < 0x90) || (b0 == 0xF4 && byte(1) > 0x8F)) return invalid;
        return {static_cast<char32_t>(((b0 & 0x07) << 18) | ((byte(1) & 0x3F) << 12) |
                                      ((byte(2) & 0x3F) << 6) | (byte(3) & 0x3F)),
                4, true};
    }
    return invalid;
}

bool is_unicode_space(char32_t c) {
    if (c < 0x80) return c == ' ' || (c >= '\t' && c <= '\r');
    switch (c) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000:
        return true;
    default:
        return c >= 0x2000 && c <= 0x200A;
    }
}

std::string_view trim_left_space(std::string_view text) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        const Rune rune = decode_rune(text, pos);
        if (!is_unicode_space(rune.code_point)) break;
        pos += rune.width;
    }
    return text.substr(pos);
}

std::string_view trim_right_space(std::string_view text) {
    std::size_t end = text.size();
    while (end > 0) {
        // Step back to the start of the last code point (at most 4 bytes).
        std::size_t start = end - 1;
        while (start > 0 && end - start < 4 &&
               (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
            --start;
        const Rune rune = decode_rune(text, start);
        if (start + rune.width != end) {
            // Not a whole code point ending here: an invalid byte, never a space.
            break;
        }
        if (!is_unicode_space(rune.code_point)) break;
        end = start;
    }
    return text.substr(0, end);
}

std::string_view trim_space(std::string_view text) {
    return trim_right_space(trim_left_space(text));
}

void append_utf8(std::string& out, char32_t c) {
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (c < 0x800) {
        out += static_cast<char>(0xC0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += static_cast<char>(0xE0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (c >> 18));
        out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    }
}

}  // namespace cbuild::parser::internal
