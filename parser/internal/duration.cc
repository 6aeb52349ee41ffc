#include "parser/internal/duration.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

#include "parser/internal/instruction_error.h"

namespace cbuild::parser::internal {

namespace {

constexpr std::uint64_t k_limit = std::uint64_t{1} << 63;

std::string quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::optional<std::uint64_t> unit_nanoseconds(std::string_view unit) {
    if (unit == "ns") return 1;
    // "us", U+00B5 MICRO SIGN and U+03BC GREEK SMALL LETTER MU, as Go accepts.
    if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") return 1000;
    if (unit == "ms") return 1000000;
    if (unit == "s") return 1000000000;
    if (unit == "m") return 60ull * 1000000000;
    if (unit == "h") return 3600ull * 1000000000;
    return std::nullopt;
}

}  // namespace

std::chrono::nanoseconds parse_go_duration(std::string_view text) {
    const std::string original(text);
    const auto invalid = [&]() -> InstructionError {
        return InstructionError("time: invalid duration " + quote(original));
    };
    std::string_view s = text;
    bool negative = false;
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
        negative = s[0] == '-';
        s.remove_prefix(1);
    }
    if (s == "0") return std::chrono::nanoseconds{0};
    if (s.empty()) throw invalid();

    std::uint64_t total = 0;
    while (!s.empty()) {
        if (!(s[0] == '.' || is_digit(s[0]))) throw invalid();
        // The integer part; overflow is an error.
        std::uint64_t whole = 0;
        std::size_t i = 0;
        for (; i < s.size() && is_digit(s[i]); ++i) {
            if (whole > (k_limit - 1) / 10) throw invalid();
            whole = whole * 10 + static_cast<std::uint64_t>(s[i] - '0');
            if (whole > k_limit) throw invalid();
        }
        const bool has_whole = i > 0;
        s.remove_prefix(i);
        // The fraction; digits past what fits are dropped, as Go's leadingFraction does.
        std::uint64_t fraction = 0;
        double scale = 1;
        bool has_fraction = false;
        if (!s.empty() && s[0] == '.') {
            s.remove_prefix(1);
            bool overflow = false;
            std::size_t j = 0;
            for (; j < s.size() && is_digit(s[j]); ++j) {
                if (overflow) continue;
                if (fraction > (k_limit - 1) / 10) {
                    overflow = true;
                    continue;
                }
                const std::uint64_t next = fraction * 10 + static_cast<std::uint64_t>(s[j] - '0');
                if (next > k_limit) {
                    overflow = true;
                    continue;
                }
                fraction = next;
                scale *= 10;
            }
            has_fraction = j > 0;
            s.remove_prefix(j);
        }
        if (!has_whole && !has_fraction) throw invalid();

        std::size_t unit_end = 0;
        while (unit_end < s.size() && s[unit_end] != '.' && !is_digit(s[unit_end])) ++unit_end;
        if (unit_end == 0)
            throw InstructionError("time: missing unit in duration " + quote(original));
        const std::string_view unit_text = s.substr(0, unit_end);
        s.remove_prefix(unit_end);
        const std::optional<std::uint64_t> unit = unit_nanoseconds(unit_text);
        if (!unit)
            throw InstructionError("time: unknown unit " + quote(unit_text) + " in duration " +
                                   quote(original));
        if (whole > k_limit / *unit) throw invalid();
        std::uint64_t value = whole * *unit;
        if (fraction > 0) {
            value += static_cast<std::uint64_t>(static_cast<double>(fraction) *
                                                (static_cast<double>(*unit) / scale));
            if (value > k_limit) throw invalid();
        }
        total += value;
        if (total > k_limit) throw invalid();
    }
    if (negative) return std::chrono::nanoseconds{-static_cast<std::int64_t>(total - 1) - 1};
    if (total > k_limit - 1) throw invalid();
    return std::chrono::nanoseconds{static_cast<std::int64_t>(total)};
}

int parse_go_int32(const std::string& text, const std::string& near) {
    const auto fail = [&](std::string_view why) {
        throw InstructionError("strconv.ParseInt: parsing " + quote(text) + ": " + std::string(why), near);
    };
    std::size_t pos = text.empty() || (text[0] != '+' && text[0] != '-') ? 0 : 1;
    if (pos == text.size()) fail("invalid syntax");
    std::int64_t value = 0;
    bool out_of_range = false;
    for (; pos < text.size(); ++pos) {
        if (!is_digit(text[pos])) fail("invalid syntax");
        // Keep counting digits past the limit: a bad one later is still a syntax error.
        value = std::min<std::int64_t>(value * 10 + (text[pos] - '0'), std::int64_t{1} << 32);
        out_of_range = out_of_range || value > (std::int64_t{1} << 31);
    }
    if (text[0] == '-') value = -value;
    if (out_of_range || value > INT32_MAX || value < INT32_MIN) fail("value out of range");
    return static_cast<int>(value);
}

}  // namespace cbuild::parser::internal
