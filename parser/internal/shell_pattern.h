#pragma once
// The pattern operators of word expansion: ${N#p} ${N##p} ${N%p} ${N%%p} ${N/p/r} ${N//p/r}.
// BuildKit turns the pattern into a Go regular expression (`*` → `.*` or `.*?`, `?` → `.`,
// everything else literal) and runs Go's regexp on it; these functions give the same answers
// with a small automaton of their own. Like Go's `.`, neither `*` nor `?` matches a newline.
// Each throws ExpandError for a bad escape in the pattern (only `\*`, `\?`, `\\`, `\}` and
// `\/` are allowed).

#include <string>
#include <string_view>

namespace cbuild::parser::internal {

// `value` without the shortest (or, with `longest`, the longest) prefix that `pattern` matches.
std::string trim_pattern_prefix(std::string_view value, std::string_view pattern, bool longest);

// `value` without the shortest or longest matching suffix. As upstream does it by reversing
// both strings, bytes that are not valid UTF-8 come back as U+FFFD.
std::string trim_pattern_suffix(std::string_view value, std::string_view pattern, bool longest);

// `value` with its leftmost-longest match of `pattern` replaced by `replacement` verbatim.
std::string replace_pattern_first(std::string_view value, std::string_view pattern,
                                  std::string_view replacement);

// `value` with every match replaced, as Go's Regexp.ReplaceAllString does: `replacement` is a
// template in which `$0` / `${0}` stand for the match, other `$name`s for nothing, `$$` for `$`.
std::string replace_pattern_all(std::string_view value, std::string_view pattern,
                                std::string_view replacement);

}  // namespace cbuild::parser::internal
