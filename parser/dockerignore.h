#pragma once
// .dockerignore with Docker's semantics: the file's lines become patterns (moby/patternmatcher
// ignorefile.ReadAll), a PatternMatcher says which context paths they leave out
// (patternmatcher.PatternMatcher), and tells a context walk which directories it can skip unread
// (tonistiigi/fsutil's filter walker). No I/O: callers hand in the bytes.

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace cbuild::parser {

namespace internal {
class IgnorePattern;
}

// A malformed pattern that was given programmatically. A bad pattern read from a .dockerignore
// file is a ParseError instead, pointing at its line.
class PatternError : public Error {
public:
    using Error::Error;
};

// The patterns of a .dockerignore file, as ReadAll returns them. A line whose first byte is `#`
// is a comment (checked before trimming); blank lines are skipped; a pattern is trimmed and
// cleaned like a path (`a/./b/` → `a/b`) and loses one leading `/`; an exception keeps its `!`
// in front, with the rest trimmed and cleaned (a bare `!` stays `!`: the matcher rejects it); a
// UTF-8 BOM is ignored. Throws ParseError naming `file_name` and the line for a line of 64 KiB
// or more, which Docker's line reader refuses.
std::vector<std::string> read_ignore_file(std::string_view bytes, const std::string& file_name);

// Where the ignore file of a build may be, most preferred first: `<Dockerfile>.dockerignore`
// beside the Dockerfile, then `.dockerignore` at the root of the context. The caller reads the
// first that exists and uses it even when empty. `dockerfile` is the path as the caller resolved
// it; a Dockerfile read from stdin (`-`) or without a file name has only the context's.
std::vector<std::filesystem::path> ignore_file_for(const std::filesystem::path& dockerfile,
                                                   const std::filesystem::path& context_dir);

// Decides which paths of a build context the patterns exclude. Patterns apply in order and the
// last one that matches decides: an exception (`!pattern`) is tried only on a path that is
// currently excluded, an ordinary pattern only on one that is not. Paths are relative and
// slash-separated. Immutable once built, so one matcher can serve several threads; copies
// share the compiled patterns.
class PatternMatcher {
public:
    // What the patterns made of one directory, handed down to its entries so that a walk never
    // matches an ancestor again (patternmatcher.MatchInfo). The default is "nothing known", for
    // the entries at the root of the walk.
    class MatchInfo {
    public:
        MatchInfo() = default;

    private:
        friend class PatternMatcher;
        std::vector<bool> m_matched;  // per pattern: it matched this directory or an ancestor
        bool m_known = false;
    };

    struct Match {
        bool excluded = false;
        MatchInfo info;  // for the entries below, when the path is a directory
    };

    // What a walk does with a directory.
    struct DirectoryVisit {
        bool excluded = false;  // the directory itself is left out of the context
        // Whether to read the directory. False only when it is excluded and no exception can
        // bring back anything below it. An excluded directory that is still descended into is
        // emitted by the walk only once something inside it is included.
        bool descend = true;
        MatchInfo info;  // for its entries
    };

    PatternMatcher();  // no patterns: nothing is excluded

    // patternmatcher.New: each pattern is trimmed, dropped if empty, cleaned like a path, and
    // marked as an exception by a leading `!`. Throws PatternError for a lone `!` and for what
    // filepath.Match calls malformed (`[]a]`, `[-]`, `[x-]`, `[a-b-c]`, an unclosed `[`, a
    // trailing `\`). A pattern Go's regexp rejects although filepath.Match accepts it
    // (`[Local-Only]`, a reversed range) throws when it is first tried on a path, and each time
    // after.
    explicit PatternMatcher(const std::vector<std::string>& patterns);

    // The matcher for the bytes of a .dockerignore file; errors are ParseErrors naming
    // `file_name`, the line and the column of the pattern.
    static PatternMatcher from_ignore_file(std::string_view bytes, const std::string& file_name);

    // The current rule (MatchesOrParentMatches): `path` is excluded if it or any ancestor
    // directory matches. The path is cleaned first; "." (the context itself) is never excluded.
    bool matches_or_parent_matches(std::string_view path) const;

    // The older rule (Matches): like matches_or_parent_matches, but of the ancestors only the one
    // with as many components as the pattern is tried, so `**/dir` does not exclude `dir/file`.
    bool matches(std::string_view path) const;

    // The incremental rule a walk uses (MatchesUsingParentResults): `path` (clean, as the walk
    // produced it) is matched against the patterns that did not already match its parent, given
    // that parent's info. With a default MatchInfo the ancestors are matched as by
    // matches_or_parent_matches. Throws PatternError if `parent` came from another matcher.
    Match match_using_parent(std::string_view path, const MatchInfo& parent) const;

    // match_using_parent for a directory, plus fsutil's decision whether to descend into it.
    DirectoryVisit visit_directory(std::string_view path, const MatchInfo& parent) const;

    // Whether some exception could re-include a path below `directory`. When every exception is
    // a literal path (after dropping a trailing `/*` or `/**`), that means one of them lies
    // under `directory`; with a wildcard exception the answer is conservatively true.
    bool may_reinclude_below(std::string_view directory) const;

    bool has_exceptions() const { return m_has_exceptions; }
    std::size_t size() const;               // the patterns in effect (empty ones are dropped)
    std::vector<std::string> patterns() const;  // cleaned, exceptions with their `!`

private:
    void adopt(std::vector<internal::IgnorePattern> patterns);

    enum class AncestorRule { any, same_depth };
    bool evaluate(std::string_view path, AncestorRule rule) const;

    std::shared_ptr<const std::vector<internal::IgnorePattern>> m_patterns;
    bool m_has_exceptions = false;
    bool m_only_literal_exceptions = true;  // fsutil's onlyPrefixExcludeExceptions
};

}  // namespace cbuild::parser
