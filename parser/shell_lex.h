#pragma once
// Word expansion as BuildKit's frontend/dockerfile/shell does it: quotes, escapes, $VAR and the
// ${VAR...} operators, with or without word splitting. Used for instruction arguments (by the
// planner, with the stage's ARG/ENV in scope) and, in raw mode, to find heredoc names.

#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/error.h"

namespace cbuild::parser {

// The variables in scope: NAME=VALUE pairs in order; a later duplicate wins.
class Environment {
public:
    Environment() = default;
    // A layer over `fallback`: names set here hide the fallback's; the fallback must outlive
    // this object (the planner layers a stage's ENV over its ARGs this way).
    explicit Environment(const Environment* fallback) : m_fallback(fallback) {}
    // Entries "NAME=VALUE"; a bare "NAME" means NAME set to the empty string.
    static Environment from_list(const std::vector<std::string>& entries);

    // Sets NAME, replacing an earlier value in place.
    void set(std::string name, std::string value);
    // Unsets NAME in this layer (the fallback is untouched).
    void erase(std::string_view name);
    // The value of NAME, or nullopt when it is not set. Names are case-sensitive (Linux).
    std::optional<std::string> get(std::string_view name) const;
    // The same without a copy: nullptr when NAME is not set; valid until the next set().
    const std::string* find(std::string_view name) const;
    // This layer's entries, in the order they were first set.
    const std::vector<std::pair<std::string, std::string>>& entries() const { return m_entries; }

private:
    struct NameHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view name) const { return std::hash<std::string_view>{}(name); }
    };
    std::vector<std::pair<std::string, std::string>> m_entries;
    std::unordered_map<std::string, std::size_t, NameHash, std::equal_to<>> m_index;  // name → entry
    const Environment* m_fallback = nullptr;
};

// A malformed word (bad substitution, unterminated quote, ${N:?msg} on an unset N). The
// message is upstream's, `failed to process "WORD": REASON` (e.g. REASON `N: msg`); it has no
// location, callers add file:line.
class ExpandError : public Error {
public:
    explicit ExpandError(std::string message) : Error(message), m_message(std::move(message)) {}

    // The whole message; unlike what(), it does not stop at a NUL byte taken from the word.
    const std::string& message() const { return m_message; }

private:
    std::string m_message;
};

struct ExpandOptions {
    bool raw_quotes = false;     // keep quote characters in the output
    bool raw_escapes = false;    // keep escape characters in the output
    bool skip_unset = false;     // leave $NAME / ${NAME...} literal when NAME is unset
    // Quote characters are ordinary text, as in a shell heredoc body (BuildKit's
    // SkipProcessQuotes, used for COPY/ADD heredocs).
    bool skip_process_quotes = false;
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
    Expansion expand(std::string_view word, const Environment& env, bool split,
                     bool record) const;

    char m_escape;
    ExpandOptions m_options;
};

}  // namespace cbuild::parser
