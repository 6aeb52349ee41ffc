#pragma once
// Text primitives with Go's semantics, which BuildKit's parser is written in: UTF-8 decoding
// that turns each invalid byte into U+FFFD, and unicode.IsSpace.

#include <cstdint>
#include <string>
#include <string_view>

namespace cbuild::parser::internal {

struct Rune {
    char32_t code_point;
    std::size_t width;  // bytes consumed; 1 for an invalid byte
    bool valid;
};

inline constexpr char32_t k_replacement_character = 0xFFFD;

// Decodes the code point at `text[pos]` (pos < size) as Go's utf8.DecodeRuneInString.
Rune decode_rune(std::string_view text, std::size_t pos);

// Go's unicode.IsSpace.
bool is_unicode_space(char32_t code_point);

// Go's unicode.IsSpace applied to one byte taken as a code point (Latin-1), as BuildKit does
// where it scans byte by byte.
inline bool is_byte_space(unsigned char c) {
    return c == ' ' || (c >= '\t' && c <= '\r') || c == 0x85 || c == 0xA0;
}

// The [\t\v\f\r ] class of BuildKit's whitespace-splitting regular expression.
inline bool is_split_space(char c) {
    return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

std::string_view trim_left_space(std::string_view text);   // bytes.TrimLeftFunc(unicode.IsSpace)
std::string_view trim_right_space(std::string_view text);
std::string_view trim_space(std::string_view text);        // strings.TrimSpace

void append_utf8(std::string& out, char32_t code_point);

}  // namespace cbuild::parser::internal
