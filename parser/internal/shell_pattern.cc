#include "parser/internal/shell_pattern.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "parser/internal/text.h"
#include "parser/internal/unicode_tables.h"
#include "parser/shell_lex.h"

namespace cbuild::parser::internal {

namespace {

constexpr std::size_t k_none = static_cast<std::size_t>(-1);
constexpr char32_t k_byte_order_mark = 0xFEFF;

enum class TokenKind : std::uint8_t { literal, any_char, any_string };

struct Token {
    TokenKind kind;
    char32_t code_point;  // for literal
};

// A string as Go's regexp sees it: one code point per rune, an invalid byte being one U+FFFD,
// with the byte offset where each rune starts (and one past the end) to cut the original.
struct Runes {
    std::vector<char32_t> code_points;
    std::vector<std::size_t> offsets;
};

Runes decode(std::string_view text) {
    Runes runes;
    runes.code_points.reserve(text.size());
    runes.offsets.reserve(text.size() + 1);
    for (std::size_t pos = 0; pos < text.size();) {
        const Rune rune = decode_rune(text, pos);
        runes.code_points.push_back(rune.code_point);
        runes.offsets.push_back(pos);
        pos += rune.width;
    }
    runes.offsets.push_back(text.size());
    return runes;
}

std::string encode(const char32_t* first, const char32_t* last) {
    std::string out;
    out.reserve(static_cast<std::size_t>(last - first));
    for (; first != last; ++first) append_utf8(out, *first);
    return out;
}

[[noreturn]] void throw_bad_pattern(std::string_view pattern, char32_t escaped) {
    std::string message = "invalid pattern (";
    message += pattern;
    message += ") in substitution: invalid escape '\\";
    append_utf8(message, escaped);
    message += '\'';
    throw ExpandError(message);
}

// BuildKit's convertShellPatternToRegex, producing tokens instead of regexp text. `text` is
// the pattern as written, for the error message.
std::vector<Token> compile(const std::vector<char32_t>& pattern, std::string_view text) {
    std::vector<Token> tokens;
    std::size_t i = 0;
    // Upstream reads the pattern with text/scanner, which drops a leading byte order mark.
    if (!pattern.empty() && pattern[0] == k_byte_order_mark) i = 1;
    while (i < pattern.size()) {
        char32_t c = pattern[i++];
        if (c == '*') {
            // `.*.*` matches what `.*` does, and one state per run keeps the automaton small.
            if (tokens.empty() || tokens.back().kind != TokenKind::any_string)
                tokens.push_back({TokenKind::any_string, 0});
            continue;
        }
        if (c == '?') {
            tokens.push_back({TokenKind::any_char, 0});
            continue;
        }
        if (c == '\\') {
            // `\}` and `\/` only protect the character from the ${...} syntax; the character
            // itself is then read as an ordinary literal.
            if (i < pattern.size() && (pattern[i] == '}' || pattern[i] == '/')) continue;
            if (i == pattern.size()) throw_bad_pattern(text, k_replacement_character);
            c = pattern[i++];
            if (c != '*' && c != '?' && c != '\\') throw_bad_pattern(text, c);
        }
        tokens.push_back({TokenKind::literal, c});
    }
    return tokens;
}

struct Match {
    std::size_t start;
    std::size_t end;
};

// Go's leftmost-first search for a regexp made of literals, `.` and `.*` (all greedy or all
// lazy): the leftmost start wins, then the longest end for greedy stars, the shortest for lazy
// ones. One pass of a Thompson automaton that keeps, for each state, the earliest start that
// reaches it: a later start in the same state can only find the same ends. Rune indexes.
class Matcher {
public:
    explicit Matcher(const std::vector<Token>& tokens)
        : m_tokens(tokens), m_current(tokens.size() + 1), m_next(tokens.size() + 1) {}

    std::optional<Match> find(const std::vector<char32_t>& text, std::size_t from, bool anchored,
                              bool longest) {
        const std::size_t accept = m_tokens.size();
        std::fill(m_current.begin(), m_current.end(), k_none);
        std::optional<Match> best;
        for (std::size_t pos = from;; ++pos) {
            if (!best && (!anchored || pos == from)) enter(m_current, 0, pos);
            const std::size_t start = m_current[accept];
            if (start != k_none &&
                (!best || start < best->start || (start == best->start && longest)))
                best = Match{start, pos};
            if (pos == text.size()) break;
            bool alive = false;
            for (std::size_t& state_start : m_current) {
                if (state_start == k_none) continue;
                if (best && (state_start > best->start ||
                             (state_start == best->start && !longest))) {
                    state_start = k_none;
                    continue;
                }
                alive = true;
            }
            if (!alive && (best || anchored)) break;
            if (alive) step(text[pos]);
        }
        return best;
    }

private:
    // Puts a thread in `state` and in the states it reaches without reading: past `.*`.
    void enter(std::vector<std::size_t>& states, std::size_t state, std::size_t start) const {
        while (states[state] > start) {
            states[state] = start;
            if (state == m_tokens.size() || m_tokens[state].kind != TokenKind::any_string) break;
            ++state;
        }
    }

    void step(char32_t c) {
        std::fill(m_next.begin(), m_next.end(), k_none);
        for (std::size_t state = 0; state < m_tokens.size(); ++state) {
            const std::size_t start = m_current[state];
            if (start == k_none) continue;
            const Token& token = m_tokens[state];
            switch (token.kind) {
            case TokenKind::literal:
                if (c == token.code_point) enter(m_next, state + 1, start);
                break;
            case TokenKind::any_char:
                if (c != '\n') enter(m_next, state + 1, start);
                break;
            case TokenKind::any_string:
                if (c != '\n') enter(m_next, state, start);
                break;
            }
        }
        m_current.swap(m_next);
    }

    const std::vector<Token>& m_tokens;
    std::vector<std::size_t> m_current;
    std::vector<std::size_t> m_next;
};

// BuildKit's reversePattern: reverses the runes but keeps each `\x` pair in order. A lone
// trailing backslash is moved to the front like any other rune.
std::vector<char32_t> reverse_pattern(const std::vector<char32_t>& pattern) {
    std::vector<char32_t> out(pattern.size());
    const std::size_t count = pattern.size();
    for (std::size_t i = 0; i < count;) {
        const std::size_t out_index = count - 1 - i;
        if (pattern[i] == '\\' && i + 1 < count) {
            out[out_index - 1] = pattern[i];
            out[out_index] = pattern[i + 1];
            i += 2;
        } else {
            out[out_index] = pattern[i];
            ++i;
        }
    }
    return out;
}

// Go's regexp.Expand for a regexp without groups: the match is group 0, any other name is empty.
void append_template(std::string& out, std::string_view replacement, std::string_view match) {
    while (!replacement.empty()) {
        const std::size_t dollar = replacement.find('$');
        if (dollar == std::string_view::npos) break;
        out += replacement.substr(0, dollar);
        replacement.remove_prefix(dollar + 1);
        if (!replacement.empty() && replacement[0] == '$') {
            out += '$';
            replacement.remove_prefix(1);
            continue;
        }
        const bool brace = !replacement.empty() && replacement[0] == '{';
        std::size_t i = brace ? 1 : 0;
        const std::size_t name_start = i;
        while (i < replacement.size()) {
            const Rune rune = decode_rune(replacement, i);
            if (!is_unicode_letter(rune.code_point) && !is_unicode_digit(rune.code_point) &&
                rune.code_point != '_')
                break;
            i += rune.width;
        }
        const std::string_view name = replacement.substr(name_start, i - name_start);
        if (name.empty() || (brace && (i >= replacement.size() || replacement[i] != '}'))) {
            out += '$';  // malformed: the `$` is plain text
            continue;
        }
        if (brace) ++i;
        replacement.remove_prefix(i);
        if (name == "0") out += match;
    }
    out += replacement;
}

}  // namespace

std::string trim_pattern_prefix(std::string_view value, std::string_view pattern, bool longest) {
    const std::vector<Token> tokens = compile(decode(pattern).code_points, pattern);
    const Runes runes = decode(value);
    Matcher matcher(tokens);
    const auto match = matcher.find(runes.code_points, 0, true, longest);
    if (!match) return std::string(value);
    return std::string(value.substr(runes.offsets[match->end]));
}

std::string trim_pattern_suffix(std::string_view value, std::string_view pattern, bool longest) {
    const std::vector<char32_t> reversed_pattern = reverse_pattern(decode(pattern).code_points);
    const std::string reversed_text =
        encode(reversed_pattern.data(), reversed_pattern.data() + reversed_pattern.size());
    const std::vector<Token> tokens = compile(reversed_pattern, reversed_text);
    std::vector<char32_t> reversed = decode(value).code_points;
    std::reverse(reversed.begin(), reversed.end());
    Matcher matcher(tokens);
    const auto match = matcher.find(reversed, 0, true, longest);
    const std::size_t removed = match ? match->end : 0;
    std::reverse(reversed.begin(), reversed.end());
    return encode(reversed.data(), reversed.data() + reversed.size() - removed);
}

std::string replace_pattern_first(std::string_view value, std::string_view pattern,
                                  std::string_view replacement) {
    const std::vector<Token> tokens = compile(decode(pattern).code_points, pattern);
    const Runes runes = decode(value);
    Matcher matcher(tokens);
    const auto match = matcher.find(runes.code_points, 0, false, true);
    if (!match) return std::string(value);
    std::string out(value.substr(0, runes.offsets[match->start]));
    out += replacement;
    out += value.substr(runes.offsets[match->end]);
    return out;
}

std::string replace_pattern_all(std::string_view value, std::string_view pattern,
                                std::string_view replacement) {
    const std::vector<Token> tokens = compile(decode(pattern).code_points, pattern);
    const Runes runes = decode(value);
    const std::size_t count = runes.code_points.size();
    Matcher matcher(tokens);
    std::string out;
    std::size_t last_end = 0;
    std::size_t search = 0;
    // Go's Regexp.replaceAll, in rune indexes.
    while (search <= count) {
        const auto match = matcher.find(runes.code_points, search, false, true);
        if (!match) break;
        const std::size_t start_byte = runes.offsets[match->start];
        const std::size_t end_byte = runes.offsets[match->end];
        out += value.substr(runes.offsets[last_end], start_byte - runes.offsets[last_end]);
        // An empty match right after a match is not replaced a second time.
        if (match->end > last_end || match->start == 0)
            append_template(out, replacement, value.substr(start_byte, end_byte - start_byte));
        last_end = match->end;
        search = match->end > search ? match->end : search + 1;
    }
    out += value.substr(runes.offsets[last_end]);
    return out;
}

}  // namespace cbuild::parser::internal
