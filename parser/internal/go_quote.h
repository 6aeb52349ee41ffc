#pragma once
// Go's strconv.Quote (what `%q` prints), which BuildKit uses to name a word in its messages.

#include <string>
#include <string_view>

namespace cbuild::parser::internal {

// `text` in double quotes with Go's escapes: `\"` and `\\`; \a \b \f \n \r \t \v; `\xHH` for
// other control bytes, DEL and bytes that are not UTF-8; `\uHHHH` / `\UHHHHHHHH` for code points
// that unicode.IsPrint rejects. Printable UTF-8 is copied as it is.
std::string go_quote(std::string_view text);

}  // namespace cbuild::parser::internal
