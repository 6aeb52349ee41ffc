#pragma once
// Go's unicode.IsLetter, unicode.IsDigit and unicode.IsPrint, which BuildKit's lexer uses for
// variable names ($KOREAN) and its error messages (%q). Tables are Unicode 15.0, the version of
// Go's unicode package since Go 1.21.

namespace cbuild::parser::internal {

bool is_unicode_letter(char32_t code_point);  // general category L
bool is_unicode_digit(char32_t code_point);   // general category Nd
bool is_unicode_print(char32_t code_point);   // categories L, M, N, P, S and the ASCII space

}  // namespace cbuild::parser::internal
