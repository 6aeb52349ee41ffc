#pragma once
// Go's number syntaxes HEALTHCHECK takes: time.ParseDuration for --interval, --timeout,
// --start-period and --start-interval (`300ms`, `-1.5h`, `2h45m`, `1µs`; a bare `0` is the only
// number allowed without a unit), and strconv.ParseInt for --retries.

#include <chrono>
#include <string>
#include <string_view>

namespace cbuild::parser::internal {

// Throws InstructionError with Go's messages: `time: invalid duration "x"`,
// `time: missing unit in duration "1"`, `time: unknown unit "d" in duration "1d"`.
std::chrono::nanoseconds parse_go_duration(std::string_view text);

// strconv.ParseInt(text, 10, 32): an optional sign and decimal digits. Throws InstructionError
// `strconv.ParseInt: parsing "x": invalid syntax` or `...: value out of range`, pointing at
// `near`.
int parse_go_int32(const std::string& text, const std::string& near);

}  // namespace cbuild::parser::internal
