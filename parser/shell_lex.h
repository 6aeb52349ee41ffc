#pragma once
// Word expansion as BuildKit's frontend/dockerfile/shell does it: quotes, escapes, $VAR and the
// ${VAR...} operators, with or without word splitting. Used for instruction arguments (by the
// planner, with the stage's ARG/ENV in scope) and, in raw mode, to find heredoc names.

#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace cbuild::parser {

// The variables in scope: NAME=VALUE pairs in order; a later duplicate wins.
class Environment {
public:
    Environment() = default;
    // Entries "NAME=VALUE"; a bare "NAME" means NAME set to the empty string.
    static Environment from_list(const std::vector<std::string>& entries);

    void set(std::string name, std::string value);
    std::optional<std::string> get(std::string_view name) const;
    const std::vector<std::pair<std::string, std::string>>& entries() const { return m_entries; }

private:
    std::vector<std::pair<std::string, std::string>> m_entries;
};

// A malformed word (bad substitution, unterminated quote, ${N:?msg} on an unset N). The
// message has no location; callers add file:line.
class ExpandError : public Error {
public:
    using Error::Error;
};

struct ExpandOptions {
    bool raw_quotes = false;     // keep quote characters in the output
    bool raw_escapes = false;    // keep escape characters in the output
    bool skip_unset = false;     // leave $NAME / ${NAME...} literal when NAME is unset
};

// The result of one expansion, with the variable names it looked up (for lint and cache keys).
struct Expansion {
    std::string word;                 // process_word
    std::vector<std::string> words;   // process_words
    std::set<std::string> matched;    // names looked up and found
    std::set<std::string> unmatched;  // names looked up and not set
};

class ShellLex {
public:
    explicit ShellLex(char escape = '\\', ExpandOptions options = {});

    // Expands `word` as ONE word: quotes processed and removed, no splitting.
    // Throws ExpandError.
    std::string process_word(std::string_view word, const Environment& env) const;
    Expansion process_word_with_matches(std::string_view word, const Environment& env) const;

    // Expands and splits into words: unquoted whitespace and the unquoted results of
    // substitutions split; quoted text never does; `<<` followed by blanks sticks to the next
    // word. Throws ExpandError.
    std::vector<std::string> process_words(std::string_view word, const Environment& env) const;
    Expansion process_words_with_matches(std::string_view word, const Environment& env) const;

private:
    char m_escape;
    ExpandOptions m_options;
};

}  // namespace cbuild::parser
