#include "parser/internal/ignore_pattern.h"

#include <algorithm>
#include <vector>

#include "common/error.h"
#include "parser/dockerignore.h"
#include "parser/internal/text.h"

namespace cbuild::parser::internal {

namespace {

// One member of a class as filepath.Match's getEsc reads it; advances `at`.
std::optional<std::string> class_member(std::string_view p, std::size_t& at) {
    if (at >= p.size()) return "unclosed character class";
    if (p[at] == '-') return "`-` must be escaped or form a range inside a character class";
    if (p[at] == ']') return "empty character class or unescaped `]`";
    if (p[at] == '\\') {
        ++at;
        if (at >= p.size()) return "unclosed character class";
    }
    const Rune rune = decode_rune(p, at);
    if (!rune.valid) return "invalid UTF-8 inside a character class";
    at += rune.width;
    if (at >= p.size()) return "unclosed character class";
    return std::nullopt;
}

bool is_regexp_escaped(char32_t c) {
    // patternmatcher means to escape `.+()|{}$`, but its lookup table is 8 bytes indexed by
    // bit c/8, which drops every character from 64 up: `|`, `{` and `}` reach the expression
    // unescaped. So in a wildcard pattern `a|b` is an alternation and `{2}` a repeat count, as
    // in Docker (a pattern without wildcards is compared as a string and is unaffected).
    return c == '.' || c == '+' || c == '(' || c == ')' || c == '$';
}

}  // namespace

std::string clean_path(std::string_view path) {
    if (path.empty()) return ".";
    const bool rooted = path[0] == '/';
    const std::size_t n = path.size();
    std::string out;
    out.reserve(n);
    std::size_t r = 0;
    std::size_t dotdot = 0;  // where `..` may no longer backtrack
    if (rooted) {
        out += '/';
        r = dotdot = 1;
    }
    while (r < n) {
        if (path[r] == '/') {
            ++r;
        } else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
            ++r;
        } else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || path[r + 2] == '/')) {
            r += 2;
            if (out.size() > dotdot) {
                std::size_t w = out.size() - 1;
                while (w > dotdot && out[w] != '/') --w;
                out.resize(w);
            } else if (!rooted) {
                if (!out.empty()) out += '/';
                out += "..";
                dotdot = out.size();
            }
        } else {
            if ((rooted && out.size() != 1) || (!rooted && !out.empty())) out += '/';
            for (; r < n && path[r] != '/'; ++r) out += path[r];
        }
    }
    return out.empty() ? "." : out;
}

std::string parent_dir(std::string_view path) {
    const std::size_t slash = path.rfind('/');
    if (slash == std::string_view::npos) return ".";
    return clean_path(path.substr(0, slash + 1));
}

std::optional<std::string> glob_syntax_error(std::string_view p) {
    // filepath.Match checks the whole pattern once a match fails, so every malformed part is
    // reported whatever the name; a linear walk over the syntax gives the same verdict.
    std::size_t at = 0;
    while (at < p.size()) {
        if (p[at] == '\\') {
            if (at + 1 >= p.size()) return "a trailing `\\` escapes nothing";
            at += 2;
            continue;
        }
        if (p[at] != '[') {
            ++at;
            continue;
        }
        ++at;
        if (at < p.size() && p[at] == '^') ++at;
        for (int members = 0;; ++members) {
            if (at < p.size() && p[at] == ']' && members > 0) {
                ++at;
                break;
            }
            if (auto error = class_member(p, at)) return error;
            if (p[at] == '-') {
                ++at;
                if (auto error = class_member(p, at)) return error;
            }
        }
    }
    return std::nullopt;
}

Translation translate(std::string_view pattern) {
    std::vector<char32_t> runes;
    for (std::size_t at = 0; at < pattern.size();) {
        const Rune rune = decode_rune(pattern, at);
        runes.push_back(rune.code_point);
        at += rune.width;
    }
    Translation out{MatchKind::exact, "^"};
    std::size_t next = 0;
    // text/scanner skips a byte order mark at the very start.
    if (!runes.empty() && runes[0] == 0xFEFF) next = 1;
    const auto peek = [&]() -> char32_t { return next < runes.size() ? runes[next] : 0xFFFFFFFF; };
    for (std::size_t i = 0; next < runes.size(); ++i) {
        const char32_t ch = runes[next++];
        if (ch == '*') {
            if (peek() == '*') {
                ++next;
                if (peek() == '/') ++next;  // `**/` is read as `**`
                if (next >= runes.size()) {
                    if (out.kind == MatchKind::exact) {
                        out.kind = MatchKind::prefix;
                    } else {
                        out.regexp += ".*";
                        out.kind = MatchKind::regexp;
                    }
                } else {
                    out.regexp += "(.*/)?";
                    out.kind = MatchKind::regexp;
                }
                // Upstream decides "suffix" from the first rune alone, whatever follows.
                if (i == 0) out.kind = MatchKind::suffix;
            } else {
                out.regexp += "[^/]*";
                out.kind = MatchKind::regexp;
            }
        } else if (ch == '?') {
            out.regexp += "[^/]";
            out.kind = MatchKind::regexp;
        } else if (is_regexp_escaped(ch)) {
            out.regexp += '\\';
            append_utf8(out.regexp, ch);
        } else if (ch == '\\') {
            if (next < runes.size()) {
                out.regexp += '\\';
                append_utf8(out.regexp, runes[next++]);
                out.kind = MatchKind::regexp;
            } else {
                out.regexp += '\\';
            }
        } else if (ch == '[' || ch == ']') {
            append_utf8(out.regexp, ch);
            out.kind = MatchKind::regexp;
        } else {
            append_utf8(out.regexp, ch);
        }
    }
    if (out.kind == MatchKind::regexp) out.regexp += '$';
    return out;
}

void throw_pattern_error(const std::optional<PatternOrigin>& origin, const std::string& message) {
    if (origin)
        throw ParseError(origin->file, origin->line, origin->column, message, origin->source_line);
    throw PatternError(message);
}

IgnorePattern::IgnorePattern(std::string text, bool exception, std::optional<PatternOrigin> origin)
    : m_text(std::move(text)),
      m_exception(exception),
      m_depth(static_cast<std::size_t>(std::count(m_text.begin(), m_text.end(), '/')) + 1),
      m_origin(std::move(origin)) {
    Translation translation = translate(m_text);
    m_kind = translation.kind;
    if (m_kind != MatchKind::regexp) return;
    try {
        m_regexp.emplace(translation.regexp);
    } catch (const RegexpSyntaxError& error) {
        // Go compiles lazily, so this surfaces only when the pattern is tried on a path.
        m_compile_error = "syntax error in pattern `" + m_text + "`: " + error.what();
    }
}

bool IgnorePattern::matches(std::string_view path) const {
    switch (m_kind) {
        case MatchKind::exact: return path == m_text;
        case MatchKind::prefix:  // `dir/**`: everything that starts with `dir/`
            return path.starts_with(std::string_view(m_text).substr(0, m_text.size() - 2));
        case MatchKind::suffix: {
            const std::string_view suffix = std::string_view(m_text).substr(2);
            if (path.ends_with(suffix)) return true;
            // `**/foo` also matches `foo` itself.
            return suffix.front() == '/' && path == suffix.substr(1);
        }
        case MatchKind::regexp: break;
    }
    if (!m_regexp) throw_pattern_error(m_origin, m_compile_error);
    return m_regexp->matches(path);
}

bool IgnorePattern::matches_ancestor(std::string_view parent) const {
    std::vector<std::size_t> ends;
    for (std::size_t slash = parent.find('/'); slash != std::string_view::npos;
         slash = parent.find('/', slash + 1))
        ends.push_back(slash);
    ends.push_back(parent.size());
    if (m_kind == MatchKind::regexp) {
        if (!m_regexp) throw_pattern_error(m_origin, m_compile_error);
        return m_regexp->matches_some_prefix(parent, ends);
    }
    return std::any_of(ends.begin(), ends.end(),
                       [&](std::size_t end) { return matches(parent.substr(0, end)); });
}

}  // namespace cbuild::parser::internal
