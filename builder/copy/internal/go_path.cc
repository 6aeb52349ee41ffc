#include "builder/copy/internal/go_path.h"

#include <algorithm>
#include <utility>

namespace cbuild::builder::internal {

namespace {

constexpr char32_t k_rune_error = 0xFFFD;

// utf8.DecodeRuneInString: an invalid or truncated sequence is one byte of RuneError.
std::pair<char32_t, std::size_t> decode_rune(std::string_view s) {
    if (s.empty()) return {k_rune_error, 0};
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned char lead = byte(0);
    if (lead < 0x80) return {lead, 1};
    std::size_t length = 0;
    char32_t rune = 0;
    char32_t minimum = 0;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2, rune = lead & 0x1F, minimum = 0x80;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3, rune = lead & 0x0F, minimum = 0x800;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4, rune = lead & 0x07, minimum = 0x10000;
    } else {
        return {k_rune_error, 1};
    }
    if (s.size() < length) return {k_rune_error, 1};
    for (std::size_t i = 1; i < length; ++i) {
        if ((byte(i) & 0xC0) != 0x80) return {k_rune_error, 1};
        rune = (rune << 6) | (byte(i) & 0x3F);
    }
    if (rune < minimum || rune > 0x10FFFF || (rune >= 0xD800 && rune <= 0xDFFF)) return {k_rune_error, 1};
    return {rune, length};
}

struct BadPattern {};

// getEsc: one possibly escaped character of a class.
char32_t class_char(std::string_view& chunk) {
    if (chunk.empty() || chunk[0] == '-' || chunk[0] == ']') throw BadPattern{};
    if (chunk[0] == '\\') {
        chunk.remove_prefix(1);
        if (chunk.empty()) throw BadPattern{};
    }
    const auto [rune, size] = decode_rune(chunk);
    if (rune == k_rune_error && size == 1) throw BadPattern{};
    chunk.remove_prefix(size);
    if (chunk.empty()) throw BadPattern{};
    return rune;
}

// scanChunk: leading stars, then the text up to the next star outside a class.
bool scan_chunk(std::string_view& pattern, std::string_view& chunk) {
    bool star = false;
    while (!pattern.empty() && pattern[0] == '*') {
        pattern.remove_prefix(1);
        star = true;
    }
    bool in_range = false;
    std::size_t i = 0;
    for (; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '\\') {
            if (i + 1 < pattern.size()) ++i;
        } else if (c == '[') {
            in_range = true;
        } else if (c == ']') {
            in_range = false;
        } else if (c == '*' && !in_range) {
            break;
        }
    }
    chunk = pattern.substr(0, i);
    pattern.remove_prefix(i);
    return star;
}

// matchChunk: the rest of `s` after `chunk` matched its start, or nullopt. Keeps checking the
// chunk's syntax after a mismatch, as Go does.
std::optional<std::string_view> match_chunk(std::string_view chunk, std::string_view s) {
    bool failed = false;
    while (!chunk.empty()) {
        if (!failed && s.empty()) failed = true;
        switch (chunk[0]) {
        case '[': {
            char32_t rune = 0;
            if (!failed) {
                const auto [r, n] = decode_rune(s);
                rune = r;
                s.remove_prefix(n);
            }
            chunk.remove_prefix(1);
            bool negated = false;
            if (!chunk.empty() && chunk[0] == '^') {
                negated = true;
                chunk.remove_prefix(1);
            }
            bool matched = false;
            int ranges = 0;
            while (true) {
                if (!chunk.empty() && chunk[0] == ']' && ranges > 0) {
                    chunk.remove_prefix(1);
                    break;
                }
                const char32_t lo = class_char(chunk);
                char32_t hi = lo;
                if (chunk[0] == '-') {
                    chunk.remove_prefix(1);
                    hi = class_char(chunk);
                }
                if (lo <= rune && rune <= hi) matched = true;
                ++ranges;
            }
            if (matched == negated) failed = true;
            break;
        }
        case '?':
            if (!failed) {
                if (s[0] == '/') failed = true;
                s.remove_prefix(decode_rune(s).second);
            }
            chunk.remove_prefix(1);
            break;
        case '\\':
            chunk.remove_prefix(1);
            if (chunk.empty()) throw BadPattern{};
            [[fallthrough]];
        default:
            if (!failed) {
                if (chunk[0] != s[0]) failed = true;
                s.remove_prefix(1);
            }
            chunk.remove_prefix(1);
            break;
        }
    }
    if (failed) return std::nullopt;
    return s;
}

bool match(std::string_view pattern, std::string_view name) {
    while (!pattern.empty()) {
        std::string_view chunk;
        const bool star = scan_chunk(pattern, chunk);
        if (star && chunk.empty()) return name.find('/') == std::string_view::npos;
        const std::optional<std::string_view> rest = match_chunk(chunk, name);
        if (rest && (rest->empty() || !pattern.empty())) {
            name = *rest;
            continue;
        }
        bool advanced = false;
        if (star) {
            for (std::size_t i = 0; i < name.size() && name[i] != '/'; ++i) {
                const std::optional<std::string_view> skipped = match_chunk(chunk, name.substr(i + 1));
                if (skipped) {
                    if (pattern.empty() && !skipped->empty()) continue;
                    name = *skipped;
                    advanced = true;
                    break;
                }
            }
        }
        if (advanced) continue;
        // Before answering no, Go checks the rest of the pattern is well formed.
        while (!pattern.empty()) {
            scan_chunk(pattern, chunk);
            match_chunk(chunk, "");
        }
        return false;
    }
    return name.empty();
}

}  // namespace

bool has_wildcards(std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\') {
            ++i;
        } else if (text[i] == '*' || text[i] == '?' || text[i] == '[') {
            return true;
        }
    }
    return false;
}

std::optional<bool> go_match(std::string_view pattern, std::string_view name) {
    try {
        return match(pattern, name);
    } catch (const BadPattern&) {
        return std::nullopt;
    }
}

}  // namespace cbuild::builder::internal
