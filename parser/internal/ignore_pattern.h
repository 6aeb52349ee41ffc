#pragma once
// One .dockerignore pattern compiled and matched as moby/patternmatcher does it, and the Go
// path helpers (filepath.Clean, filepath.Dir, filepath.Match's syntax check) whose exact
// behaviour the semantics depend on. strings.TrimSpace is trim_space in parser/internal/text.h.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "parser/internal/go_regexp.h"

namespace cbuild::parser::internal {

// Go's filepath.Clean on Unix: "" → ".", `a/./b/` → `a/b`, `a/../..` → `..`, `//a` → `/a`.
std::string clean_path(std::string_view path);

// Go's filepath.Dir on Unix: everything before the last `/`, cleaned; "." when there is none.
std::string parent_dir(std::string_view path);

// Why Go's filepath.Match would reject `pattern` (which is how patternmatcher.New validates),
// or nullopt when it is well formed.
std::optional<std::string> glob_syntax_error(std::string_view pattern);

// How patternmatcher matches a pattern: by string comparison when it can, else by regexp.
enum class MatchKind { exact, prefix, suffix, regexp };

struct Translation {
    MatchKind kind = MatchKind::exact;
    std::string regexp;  // the Go expression; complete only when kind is regexp
};

// patternmatcher's Pattern.compile: classifies a cleaned pattern and builds its expression.
Translation translate(std::string_view pattern);

// Where a pattern came from, so an error can point into the .dockerignore file.
struct PatternOrigin {
    std::string file;
    int line = 0;
    int column = 0;
    std::string source_line;
};

// Throws cbuild::ParseError when the origin is known, else parser::PatternError.
[[noreturn]] void throw_pattern_error(const std::optional<PatternOrigin>& origin,
                                      const std::string& message);

class IgnorePattern {
public:
    // `text` is the cleaned pattern without its `!`. A pattern whose expression Go would not
    // compile is accepted here; matching it throws, every time, as upstream does.
    IgnorePattern(std::string text, bool exception, std::optional<PatternOrigin> origin);

    const std::string& text() const { return m_text; }
    bool exception() const { return m_exception; }
    std::size_t depth() const { return m_depth; }  // components, for the older Matches rule
    MatchKind kind() const { return m_kind; }

    // Whether the pattern matches exactly this slash-separated path (no parent logic).
    bool matches(std::string_view path) const;

    // Whether the pattern matches `parent` or one of its ancestors (each prefix of `parent` that
    // ends before a `/`), as MatchesOrParentMatches tries them; one pass over `parent`.
    bool matches_ancestor(std::string_view parent) const;

private:
    std::string m_text;
    bool m_exception;
    std::size_t m_depth;
    MatchKind m_kind;
    std::optional<GoRegexp> m_regexp;
    std::string m_compile_error;  // why m_regexp is missing for a regexp pattern
    std::optional<PatternOrigin> m_origin;
};

}  // namespace cbuild::parser::internal
