#include "parser/internal/go_regexp.h"

#include <algorithm>
#include <array>
#include <optional>
#include <tuple>

#include "parser/internal/text.h"

namespace cbuild::parser::internal {

namespace {

using Instruction = GoRegexp::Instruction;
using Op = GoRegexp::Op;
using RuneRanges = GoRegexp::RuneRanges;
// A piece of program whose split and jump targets are relative to their own index, so pieces
// concatenate by appending.
using Fragment = std::vector<Instruction>;

constexpr char32_t k_max_rune = 0x10FFFF;
constexpr int k_max_depth = 1000;   // Go's maximum nesting depth
constexpr int k_max_repeat = 1000;  // Go's largest {n,m} count
// Go refuses programs over 128 MiB of its instructions; ours are about as many.
constexpr std::size_t k_max_program = (128u << 20) / 40;

// {code point, width} of the rune at `text[at]`, an invalid byte reading as U+FFFD (Go).
std::pair<char32_t, std::size_t> next_rune(std::string_view text, std::size_t at) {
    const Rune rune = decode_rune(text, at);
    return {rune.code_point, rune.width};
}

bool is_alnum(char32_t c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

int hex_value(char32_t c) {
    if (c >= '0' && c <= '9') return static_cast<int>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<int>(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return static_cast<int>(c - 'A' + 10);
    return -1;
}

// Go's perlGroup and posixGroup tables: ASCII only.
const RuneRanges* perl_class(char letter) {
    static const RuneRanges digit = {{'0', '9'}};
    static const RuneRanges space = {{'\t', '\n'}, {'\f', '\r'}, {' ', ' '}};
    static const RuneRanges word = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
    switch (letter) {
        case 'd': case 'D': return &digit;
        case 's': case 'S': return &space;
        case 'w': case 'W': return &word;
        default: return nullptr;
    }
}

const RuneRanges* posix_class(std::string_view name) {
    static const std::array<std::pair<std::string_view, RuneRanges>, 14> table = {{
        {"alnum", {{'0', '9'}, {'A', 'Z'}, {'a', 'z'}}},
        {"alpha", {{'A', 'Z'}, {'a', 'z'}}},
        {"ascii", {{0, 0x7F}}},
        {"blank", {{'\t', '\t'}, {' ', ' '}}},
        {"cntrl", {{0, 0x1F}, {0x7F, 0x7F}}},
        {"digit", {{'0', '9'}}},
        {"graph", {{'!', '~'}}},
        {"lower", {{'a', 'z'}}},
        {"print", {{' ', '~'}}},
        {"punct", {{'!', '/'}, {':', '@'}, {'[', '`'}, {'{', '~'}}},
        {"space", {{'\t', '\r'}, {' ', ' '}}},
        {"upper", {{'A', 'Z'}}},
        {"word", {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}},
        {"xdigit", {{'0', '9'}, {'A', 'F'}, {'a', 'f'}}},
    }};
    for (const auto& [key, ranges] : table)
        if (key == name) return &ranges;
    return nullptr;
}

RuneRanges normalized(RuneRanges ranges) {
    std::sort(ranges.begin(), ranges.end());
    RuneRanges out;
    for (const auto& range : ranges) {
        if (!out.empty() && range.first <= out.back().second + 1)
            out.back().second = std::max(out.back().second, range.second);
        else
            out.push_back(range);
    }
    return out;
}

RuneRanges complement(const RuneRanges& sorted) {
    RuneRanges out;
    char32_t next = 0;
    for (const auto& [lo, hi] : sorted) {
        if (lo > next) out.emplace_back(next, lo - 1);
        next = hi + 1;
    }
    if (next <= k_max_rune) out.emplace_back(next, k_max_rune);
    return out;
}

void append_ranges(RuneRanges& out, const RuneRanges& ranges, bool negated) {
    const RuneRanges add = negated ? complement(ranges) : ranges;
    out.insert(out.end(), add.begin(), add.end());
}

Fragment star(const Fragment& body) {
    const int n = static_cast<int>(body.size());
    Fragment out{{Op::split, 1, n + 2}};
    out.insert(out.end(), body.begin(), body.end());
    out.push_back({Op::jump, -(n + 1), 0});
    return out;
}

Fragment plus(Fragment body) {
    const int n = static_cast<int>(body.size());
    body.push_back({Op::split, -n, 1});
    return body;
}

Fragment quest(const Fragment& body) {
    const int n = static_cast<int>(body.size());
    Fragment out{{Op::split, 1, n + 1}};
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

Fragment alternate(const Fragment& left, const Fragment& right) {
    const int l = static_cast<int>(left.size());
    const int r = static_cast<int>(right.size());
    Fragment out{{Op::split, 1, l + 2}};
    out.insert(out.end(), left.begin(), left.end());
    out.push_back({Op::jump, r + 1, 0});
    out.insert(out.end(), right.begin(), right.end());
    return out;
}

// Recursive descent over Go's syntax, following regexp/syntax/parse.go case by case.
class Parser {
public:
    Parser(std::string_view expression, std::vector<RuneRanges>& classes)
        : m_s(expression), m_classes(classes) {}

    Fragment parse() {
        Fragment program = parse_alternation(0);
        if (m_at < m_s.size()) fail("unexpected )");  // only a stray `)` stops the top level
        return program;
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw RegexpSyntaxError(what + " in `" + std::string(m_s) + "`");
    }

    Fragment parse_alternation(int depth) {
        Fragment result = parse_concatenation(depth);
        while (m_at < m_s.size() && m_s[m_at] == '|') {
            ++m_at;
            result = alternate(result, parse_concatenation(depth));
        }
        return result;
    }

    Fragment parse_concatenation(int depth) {
        std::vector<Fragment> atoms;
        bool after_repeat = false;
        while (m_at < m_s.size()) {
            const char c = m_s[m_at];
            if (c == '|' || c == ')') break;
            std::optional<std::pair<int, int>> counts;
            if (c == '{' && !(counts = repeat_counts())) {
                // Not a well-formed `{n,m}`: Go takes the `{` literally.
                ++m_at;
                atoms.push_back(literal('{'));
                after_repeat = false;
                continue;
            }
            if (c == '*' || c == '+' || c == '?' || counts) {
                if (counts) {
                    const auto [min, max] = *counts;
                    const bool too_big = min < 0 || min > k_max_repeat || max > k_max_repeat;
                    if (too_big || (max >= 0 && min > max)) fail("invalid repeat count");
                }
                if (atoms.empty()) fail("missing argument to repetition operator");
                // Perl syntax: `a**` is an error, not a doubled star; `a*?` is lazy.
                if (after_repeat) fail("invalid nested repetition operator");
                if (!counts) ++m_at;
                if (m_at < m_s.size() && m_s[m_at] == '?') ++m_at;
                Fragment& last = atoms.back();
                if (counts)
                    last = repeat(last, counts->first, counts->second);
                else
                    last = c == '*' ? star(last) : c == '+' ? plus(std::move(last)) : quest(last);
                after_repeat = true;
                continue;
            }
            after_repeat = false;
            parse_atom(depth, atoms);
        }
        Fragment out;
        for (const Fragment& atom : atoms) out.insert(out.end(), atom.begin(), atom.end());
        return out;
    }

    void parse_atom(int depth, std::vector<Fragment>& atoms) {
        const char c = m_s[m_at];
        switch (c) {
            case '(': {
                if (depth + 1 >= k_max_depth) fail("expression nests too deeply");
                if (m_at + 1 < m_s.size() && m_s[m_at + 1] == '?') fail("unsupported group flags");
                ++m_at;
                Fragment inner = parse_alternation(depth + 1);
                if (m_at >= m_s.size() || m_s[m_at] != ')') fail("missing closing )");
                ++m_at;
                atoms.push_back(std::move(inner));
                return;
            }
            case '[': atoms.push_back(class_fragment(parse_class())); return;
            case '.':
                ++m_at;
                atoms.push_back(class_fragment({{0, '\n' - 1}, {'\n' + 1, k_max_rune}}));
                return;
            case '^': ++m_at; atoms.push_back({{Op::begin_text}}); return;
            case '$': ++m_at; atoms.push_back({{Op::end_text}}); return;
            case '\\': parse_escape_atom(atoms); return;
            default: break;
        }
        const auto [rune, width] = next_rune(m_s, m_at);
        m_at += width;
        atoms.push_back(literal(rune));
    }

    void parse_escape_atom(std::vector<Fragment>& atoms) {
        if (m_at + 1 >= m_s.size()) fail("trailing backslash at end of expression");
        switch (m_s[m_at + 1]) {
            case 'A': m_at += 2; atoms.push_back({{Op::begin_text}}); return;
            case 'z': m_at += 2; atoms.push_back({{Op::end_text}}); return;
            case 'b': m_at += 2; atoms.push_back({{Op::word_boundary}}); return;
            case 'B': m_at += 2; atoms.push_back({{Op::no_word_boundary}}); return;
            case 'C': fail("invalid escape sequence `\\C`");
            case 'p': case 'P': fail("unsupported Unicode class escape");
            case 'Q': {
                // Everything up to `\E` (or the end) is literal.
                const std::size_t start = m_at + 2;
                const std::size_t end = std::min(m_s.find("\\E", start), m_s.size());
                for (std::size_t at = start; at < end;) {
                    const auto [rune, width] = next_rune(m_s, at);
                    at += width;
                    atoms.push_back(literal(rune));
                }
                m_at = end == m_s.size() ? end : end + 2;
                return;
            }
            default: break;
        }
        if (const RuneRanges* group = perl_class(m_s[m_at + 1])) {
            const bool negated = m_s[m_at + 1] >= 'A' && m_s[m_at + 1] <= 'Z';
            m_at += 2;
            RuneRanges ranges;
            append_ranges(ranges, *group, negated);
            atoms.push_back(class_fragment(std::move(ranges)));
            return;
        }
        atoms.push_back(literal(parse_escape()));
    }

    // Go's parseEscape; m_at is at the backslash.
    char32_t parse_escape() {
        const std::size_t start = m_at;
        ++m_at;
        if (m_at >= m_s.size()) fail("trailing backslash at end of expression");
        auto [c, width] = next_rune(m_s, m_at);
        m_at += width;
        const auto invalid = [&]() {
            fail("invalid escape sequence `" + std::string(m_s.substr(start, m_at - start)) + "`");
        };
        const auto octal_digit = [&]() {
            return m_at < m_s.size() && m_s[m_at] >= '0' && m_s[m_at] <= '7';
        };
        // Escaped punctuation (and `\_`) is itself; other letters and digits are escapes.
        if (c < 0x80 && !is_alnum(c)) return c;
        if (c >= '1' && c <= '7' && !octal_digit()) invalid();  // a backreference
        if (c >= '0' && c <= '7') {
            char32_t value = c - '0';
            for (int i = 1; i < 3 && octal_digit(); ++i) value = value * 8 + (m_s[m_at++] - '0');
            return value;
        }
        switch (c) {
            case 'a': return '\a';
            case 'f': return '\f';
            case 'n': return '\n';
            case 'r': return '\r';
            case 't': return '\t';
            case 'v': return '\v';
            case 'x': break;
            default: invalid();
        }
        if (m_at >= m_s.size()) invalid();
        std::tie(c, width) = next_rune(m_s, m_at);
        m_at += width;
        if (c == '{') {
            char32_t value = 0;
            int digits = 0;
            for (;;) {
                if (m_at >= m_s.size()) invalid();
                std::tie(c, width) = next_rune(m_s, m_at);
                m_at += width;
                if (c == '}') break;
                const int v = hex_value(c);
                if (v < 0) invalid();
                value = value * 16 + static_cast<char32_t>(v);
                if (value > k_max_rune) invalid();
                ++digits;
            }
            if (digits == 0) invalid();
            return value;
        }
        const int high = hex_value(c);
        if (m_at >= m_s.size()) invalid();
        std::tie(c, width) = next_rune(m_s, m_at);
        m_at += width;
        const int low = hex_value(c);
        if (high < 0 || low < 0) invalid();
        return static_cast<char32_t>(high * 16 + low);
    }

    // Go's parseClass; m_at is at the `[`.
    RuneRanges parse_class() {
        ++m_at;
        bool negated = false;
        if (m_at < m_s.size() && m_s[m_at] == '^') {
            negated = true;  // With ClassNL (part of the Perl flags) `[^a]` matches \n too.
            ++m_at;
        }
        RuneRanges ranges;
        bool first = true;  // `]` is literal as the first member
        while (m_at >= m_s.size() || m_s[m_at] != ']' || first) {
            if (m_at >= m_s.size()) fail("missing closing ]");
            first = false;
            const std::string_view rest = m_s.substr(m_at);
            if (rest.size() > 2 && rest[0] == '[' && rest[1] == ':') {
                const std::size_t close = rest.find(":]", 2);
                if (close != std::string_view::npos) {
                    std::string_view name = rest.substr(2, close - 2);
                    const bool negated_group = !name.empty() && name[0] == '^';
                    if (negated_group) name.remove_prefix(1);
                    const RuneRanges* group = posix_class(name);
                    if (!group)
                        fail("invalid character class range `" +
                             std::string(rest.substr(0, close + 2)) + "`");
                    append_ranges(ranges, *group, negated_group);
                    m_at += close + 2;
                    continue;
                }
            }
            if (rest.size() > 2 && rest[0] == '\\' && (rest[1] == 'p' || rest[1] == 'P'))
                fail("unsupported Unicode class escape");
            if (rest.size() >= 2 && rest[0] == '\\') {
                if (const RuneRanges* group = perl_class(rest[1])) {
                    append_ranges(ranges, *group, rest[1] >= 'A' && rest[1] <= 'Z');
                    m_at += 2;
                    continue;
                }
            }
            const std::size_t range_start = m_at;
            const char32_t lo = class_char();
            char32_t hi = lo;
            if (m_s.size() - m_at >= 2 && m_s[m_at] == '-' && m_s[m_at + 1] != ']') {
                ++m_at;
                hi = class_char();
                if (hi < lo)
                    fail("invalid character class range `" +
                         std::string(m_s.substr(range_start, m_at - range_start)) + "`");
            }
            ranges.emplace_back(lo, hi);
        }
        ++m_at;
        ranges = normalized(std::move(ranges));
        return negated ? complement(ranges) : ranges;
    }

    char32_t class_char() {
        if (m_at >= m_s.size()) fail("missing closing ]");
        if (m_s[m_at] == '\\') return parse_escape();
        const auto [rune, width] = next_rune(m_s, m_at);
        m_at += width;
        return rune;
    }

    // Go's parseInt: digits without a leading zero; -1 when too large to matter.
    std::optional<int> parse_count(std::size_t& at) const {
        const auto digit = [&](std::size_t i) {
            return i < m_s.size() && m_s[i] >= '0' && m_s[i] <= '9';
        };
        if (!digit(at) || (m_s[at] == '0' && digit(at + 1))) return std::nullopt;
        int value = 0;
        for (; digit(at); ++at)
            if (value >= 0) value = value >= 100000000 ? -1 : value * 10 + (m_s[at] - '0');
        return value;
    }

    // Go's parseRepeat at a `{`: {min, max} of `{n}`, `{n,}` (max -1) or `{n,m}`, moving past
    // it; nullopt (and m_at unmoved) when it is not one.
    std::optional<std::pair<int, int>> repeat_counts() {
        std::size_t at = m_at + 1;
        const std::optional<int> min = parse_count(at);
        if (!min || at >= m_s.size()) return std::nullopt;
        int max = *min;
        int low = *min;
        if (m_s[at] == ',') {
            ++at;
            if (at >= m_s.size()) return std::nullopt;
            if (m_s[at] == '}') {
                max = -1;
            } else {
                const std::optional<int> high = parse_count(at);
                if (!high) return std::nullopt;
                max = *high;
                if (max < 0) low = -1;  // too big a number: an invalid count
            }
        }
        if (at >= m_s.size() || m_s[at] != '}') return std::nullopt;
        m_at = at + 1;
        return std::pair{low, max};
    }

    // x{min,max} spelled out, as Go's simplifier does: min copies, then max-min optional ones
    // (or a star when unbounded).
    Fragment repeat(const Fragment& body, int min, int max) {
        const std::size_t copies = static_cast<std::size_t>(max < 0 ? std::max(min, 1) : max);
        if (copies * (body.size() + 1) > k_max_program) fail("expression too large");
        Fragment out;
        for (int i = 0; i < min - (max < 0 && min > 0 ? 1 : 0); ++i)
            out.insert(out.end(), body.begin(), body.end());
        if (max < 0) {
            const Fragment tail = min > 0 ? plus(body) : star(body);
            out.insert(out.end(), tail.begin(), tail.end());
            return out;
        }
        const Fragment optional = quest(body);
        for (int i = min; i < max; ++i) out.insert(out.end(), optional.begin(), optional.end());
        return out;
    }

    Fragment literal(char32_t rune) { return class_fragment({{rune, rune}}); }

    Fragment class_fragment(RuneRanges ranges) {
        m_classes.push_back(std::move(ranges));
        return {{Op::rune_class, static_cast<int>(m_classes.size() - 1), 0}};
    }

    std::string_view m_s;
    std::size_t m_at = 0;
    std::vector<RuneRanges>& m_classes;
};

}  // namespace

std::vector<GoRegexp::Instruction> compile_go_regexp(std::string_view expression,
                                                     std::vector<GoRegexp::RuneRanges>& classes) {
    for (std::size_t at = 0; at < expression.size();) {
        const Rune rune = decode_rune(expression, at);
        if (!rune.valid) throw RegexpSyntaxError("invalid UTF-8");
        at += rune.width;
    }
    Fragment program = Parser(expression, classes).parse();
    if (program.size() >= k_max_program) throw RegexpSyntaxError("expression too large");
    program.push_back({Op::match});
    for (std::size_t i = 0; i < program.size(); ++i) {
        Instruction& inst = program[i];
        if (inst.op == Op::split || inst.op == Op::jump) {
            inst.x += static_cast<int>(i);
            inst.y += static_cast<int>(i);
        }
    }
    return program;
}

}  // namespace cbuild::parser::internal
