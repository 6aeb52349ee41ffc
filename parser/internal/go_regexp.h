#pragma once
// Go regular expressions (regexp/syntax with the Perl flags) for the expressions that
// moby/patternmatcher builds from ignore patterns. Docker compiles each wildcard pattern into
// such an expression, so quirks of Go's syntax (what `\d` or `[[:alpha:]]` mean inside a
// pattern, which ranges are rejected) are part of .dockerignore semantics; we parse that syntax
// ourselves and match with a Thompson NFA, which is linear in the text: no backtracking, so no
// pattern can make a match hang.
//
// Supported: everything of Go's syntax except Unicode classes (`\pL`, `\p{Greek}`) and `(?flags)`
// groups, which are reported as syntax errors; an ignore pattern cannot produce the latter.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cbuild::parser::internal {

// The expression is not valid Go syntax (regexp.Compile would fail). The message says why.
class RegexpSyntaxError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class GoRegexp {
public:
    // Throws RegexpSyntaxError where Go's regexp.Compile returns an error.
    explicit GoRegexp(std::string_view expression);

    // Whether the expression matches somewhere in `text`, like Go's Regexp.MatchString. The text
    // is read as UTF-8; an invalid byte reads as U+FFFD, as in Go.
    bool matches(std::string_view text) const;

    // Whether the expression matches `text.substr(0, end)` for some `end` in `ends` (ascending,
    // each <= text.size()), in one pass over the text: how every ancestor directory of a path
    // is tried without re-reading the path once per ancestor.
    bool matches_some_prefix(std::string_view text, const std::vector<std::size_t>& ends) const;

    // One consuming step or control instruction of the compiled program.
    enum class Op : std::uint8_t {
        rune_class, split, jump, begin_text, end_text, word_boundary, no_word_boundary, match
    };
    struct Instruction {
        Op op;
        int x = 0;  // rune_class: index into m_classes; split and jump: a target
        int y = 0;  // split: the second target
    };
    // Sorted, non-overlapping, inclusive ranges of code points.
    using RuneRanges = std::vector<std::pair<char32_t, char32_t>>;

private:
    std::vector<RuneRanges> m_classes;  // before m_program, which is compiled into it
    std::vector<Instruction> m_program;
    bool m_anchored = false;  // the program starts with `^`, so only position 0 can match
};

// Parses `expression` into a program (split and jump targets absolute, ending in `match`),
// appending its rune classes to `classes`. Throws RegexpSyntaxError. GoRegexp's front half,
// in go_regexp_syntax.cc.
std::vector<GoRegexp::Instruction> compile_go_regexp(std::string_view expression,
                                                     std::vector<GoRegexp::RuneRanges>& classes);

}  // namespace cbuild::parser::internal
