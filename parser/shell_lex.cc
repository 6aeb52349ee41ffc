#include "parser/shell_lex.h"

#include <cstdint>
#include <initializer_list>

#include "parser/internal/go_quote.h"
#include "parser/internal/shell_pattern.h"
#include "parser/internal/shell_words.h"
#include "parser/internal/text.h"
#include "parser/internal/unicode_tables.h"

namespace cbuild::parser {

namespace {

using internal::append_utf8;
using internal::decode_rune;
using internal::is_unicode_digit;
using internal::is_unicode_letter;
using internal::WordSplitter;

constexpr std::int32_t k_eof = -1;

// Upstream recurses without limit (Go stacks grow); ours do not, so `${a:-${b:-...}}` nested
// past this depth is refused. A level costs about 2 KB of stack (5 KB under ASan), so this
// fits any thread; real Dockerfiles nest two or three levels.
constexpr int k_max_nesting = 100;

// Kept apart from other errors so that the "missing '}'" rewrite below leaves it alone.
class NestingError : public ExpandError {
public:
    using ExpandError::ExpandError;
};

void append_rune(std::string& out, std::int32_t c) {
    if (c >= 0 && c < 0x80) {
        out += static_cast<char>(c);
    } else {
        // Go's string(rune(-1)) and WriteRune of an invalid rune both give U+FFFD.
        append_utf8(out, c < 0 ? internal::k_replacement_character : static_cast<char32_t>(c));
    }
}

std::string rune_string(std::int32_t c) {
    std::string out;
    append_rune(out, c);
    return out;
}

bool is_special_parameter(std::int32_t c) {
    switch (c) {
    case '@': case '*': case '#': case '?': case '-': case '$': case '!': case '0':
        return true;
    default:
        return false;
    }
}

// One expansion of one word: BuildKit's shellWord. The source is read rune by rune as Go's
// text/scanner reads it: an invalid byte is U+FFFD and a leading byte order mark is skipped.
class WordExpander {
public:
    WordExpander(std::string_view source, const Environment& env, char escape,
                 const ExpandOptions& options, Expansion* record)
        : m_source(source),
          m_env(env),
          m_escape(static_cast<unsigned char>(escape)),
          m_options(options),
          m_record(record),
          m_raw_escapes(options.raw_escapes) {
        load();
        if (m_ch == 0xFEFF) next();
    }

    std::string expand(WordSplitter* words) {
        return process_until(k_eof, m_options.raw_escapes, words);
    }

private:
    void load() {
        if (m_pos >= m_source.size()) {
            m_ch = k_eof;
            m_width = 0;
            return;
        }
        const auto byte = static_cast<unsigned char>(m_source[m_pos]);
        if (byte < 0x80) {
            m_ch = byte;
            m_width = 1;
            return;
        }
        const internal::Rune rune = decode_rune(m_source, m_pos);
        m_ch = static_cast<std::int32_t>(rune.code_point);
        m_width = rune.width;
    }

    std::int32_t peek() const { return m_ch; }

    // ASCII characters that end a plain run of text.
    class StopSet {
    public:
        StopSet(std::initializer_list<std::int32_t> stops) {
            for (const std::int32_t c : stops)
                if (c >= 0 && c < 0x80) m_bits[c >> 6] |= std::uint64_t{1} << (c & 63);
        }
        bool contains(unsigned char c) const { return (m_bits[c >> 6] >> (c & 63)) & 1; }

    private:
        std::uint64_t m_bits[2] = {1, 0};  // NUL always ends a run (it takes the slow path)
    };

    // Consumes the run of ASCII bytes from here that are not in `stops`, appending it to `out`:
    // the common case, copied in bulk instead of rune by rune. Returns the run.
    std::string_view take_plain_run(std::string& out, const StopSet& stops) {
        std::size_t end = m_pos;
        while (end < m_source.size()) {
            const auto byte = static_cast<unsigned char>(m_source[end]);
            if (byte >= 0x80 || stops.contains(byte)) break;
            ++end;
        }
        const std::string_view run = m_source.substr(m_pos, end - m_pos);
        out += run;
        m_pos = end;
        load();
        return run;
    }

    std::int32_t next() {
        const std::int32_t c = m_ch;
        if (c != k_eof) {
            m_pos += m_width;
            load();
        }
        return c;
    }

    // processStopOn: expands up to `stop` (consumed) or the end of the source. Only the
    // top-level call collects words; nested ones (operator words) just give their text.
    std::string process_until(std::int32_t stop, bool raw_escapes, WordSplitter* words) {
        struct RawEscapesScope {
            bool& flag;
            bool saved;
            ~RawEscapesScope() { flag = saved; }
        } scope{m_raw_escapes, m_raw_escapes};
        m_raw_escapes = raw_escapes;

        // Characters that end a plain run: the special ones, the escape and `stop`.
        // With skip_process_quotes (heredoc bodies) quote characters are ordinary text.
        const bool quotes = !m_options.skip_process_quotes;
        const StopSet stops = quotes ? StopSet{'$', '<', '\'', '"', m_escape, stop} : StopSet{'$', '<', m_escape, stop};

        std::string result;
        while (peek() != k_eof) {
            std::int32_t c = peek();
            if (c >= 0 && c < 0x80 && !stops.contains(static_cast<unsigned char>(c))) {
                const std::string_view run = take_plain_run(result, stops);
                if (words) words->add_ascii(run);
                continue;
            }
            if (stop != k_eof && c == stop) {
                next();
                return result;
            }
            if (c == '$' || c == '<' || (quotes && (c == '\'' || c == '"'))) {
                std::string part = c == '$'    ? expand_dollar()
                                   : c == '<'  ? possible_heredoc()
                                   : c == '\'' ? single_quoted()
                                               : double_quoted();
                result += part;
                if (words && c == '$') words->add_string(part);
                else if (words) words->add_raw_string(part);
                continue;
            }
            c = next();
            if (c == m_escape) {
                if (m_raw_escapes) {
                    if (words) words->add_raw_rune(static_cast<char32_t>(c));
                    append_rune(result, c);
                }
                c = next();
                if (c == k_eof) break;  // a trailing escape character is dropped
                if (words) words->add_raw_rune(static_cast<char32_t>(c));
            } else if (words) {
                words->add_rune(static_cast<char32_t>(c));
            }
            append_rune(result, c);
        }
        if (stop != k_eof)
            throw ExpandError("unexpected end of statement while looking for matching " +
                              rune_string(stop));
        return result;
    }

    // The word of a ${...} operator, up to `stop`. Running out of input inside it is reported
    // as `eof_message`, whatever the nested error was, as upstream does.
    std::string nested_word(std::int32_t stop, bool raw_escapes, const char* eof_message) {
        struct DepthScope {
            int& depth;
            ~DepthScope() { --depth; }
        } scope{++m_depth};
        if (m_depth > k_max_nesting)
            throw NestingError("substitutions nested more than " + std::to_string(k_max_nesting) +
                               " levels deep");
        try {
            return process_until(stop, raw_escapes, nullptr);
        } catch (const NestingError&) {
            throw;
        } catch (const ExpandError&) {
            if (peek() == k_eof) throw ExpandError(eof_message);
            throw;
        }
    }

    std::string single_quoted() {
        static const StopSet single_quote_stops{'\''};
        std::string result;
        std::int32_t c = next();
        if (m_options.raw_quotes) append_rune(result, c);
        for (;;) {
            take_plain_run(result, single_quote_stops);
            c = next();
            if (c == k_eof)
                throw ExpandError(
                    "unexpected end of statement while looking for matching single-quote");
            if (c == '\'') {
                if (m_options.raw_quotes) append_rune(result, c);
                return result;
            }
            append_rune(result, c);
        }
    }

    // Inside double quotes the escape character escapes only `"`, `$` and itself.
    std::string double_quoted() {
        std::string result;
        std::int32_t c = next();
        if (m_options.raw_quotes) append_rune(result, c);
        const StopSet stops{'"', '$', m_escape};
        for (;;) {
            take_plain_run(result, stops);
            switch (peek()) {
            case k_eof:
                throw ExpandError(
                    "unexpected end of statement while looking for matching double-quote");
            case '"':
                c = next();
                if (m_options.raw_quotes) append_rune(result, c);
                return result;
            case '$':
                result += expand_dollar();
                break;
            default:
                c = next();
                if (c == m_escape) {
                    if (m_raw_escapes) append_rune(result, c);
                    const std::int32_t following = peek();
                    if (following == k_eof) continue;
                    if (following == '"' || following == '$' || following == m_escape) c = next();
                }
                append_rune(result, c);
            }
        }
    }

    // `<<` and the blanks after it stay glued to the next word, so that `RUN <<  EOF` still
    // shows its heredoc to the parser.
    std::string possible_heredoc() {
        next();
        if (peek() != '<') return "<";
        next();
        std::string result = "<<";
        while (peek() == ' ' || peek() == '\t' || peek() == '\r') append_rune(result, next());
        return result;
    }

    std::string scan_name() {
        std::string name;
        while (peek() != k_eof) {
            const std::int32_t c = peek();
            if (name.empty() && is_unicode_digit(static_cast<char32_t>(c))) {
                // Positional parameters take every digit: $999aaa is ${999}aaa.
                while (peek() != k_eof && is_unicode_digit(static_cast<char32_t>(peek())))
                    append_rune(name, next());
                return name;
            }
            if (name.empty() && is_special_parameter(c)) return rune_string(next());
            if (!is_unicode_letter(static_cast<char32_t>(c)) &&
                !is_unicode_digit(static_cast<char32_t>(c)) && c != '_')
                break;
            append_rune(name, next());
        }
        return name;
    }

    const std::string* lookup(const std::string& name) {
        const std::string* value = m_env.find(name);
        if (m_record) (value ? m_record->matched : m_record->unmatched).insert(name);
        return value;
    }

    std::string expand_dollar() {
        next();
        if (peek() != '{') {
            std::string name = scan_name();
            if (name.empty()) return "$";
            const std::string* value = lookup(name);
            if (!value) return m_options.skip_unset ? "$" + name : std::string();
            return *value;
        }
        next();
        switch (peek()) {
        case k_eof:
            throw ExpandError("syntax error: missing '}'");
        case '{': case '}': case ':':
            throw ExpandError("syntax error: bad substitution");
        default:
            break;
        }
        const std::string name = scan_name();
        std::int32_t c = next();
        std::string operator_text = rune_string(c);
        switch (c) {
        case '}': {
            const std::string* value = lookup(name);
            if (!value) return m_options.skip_unset ? "${" + name + "}" : std::string();
            return *value;
        }
        case ':':
            // Whatever follows the colon, its word is read before the operator is checked.
            c = next();
            operator_text += rune_string(c);
            return expand_operator(name, c, operator_text, true);
        case '+': case '-': case '?': case '#': case '%':
            return expand_operator(name, c, operator_text, false);
        case '/':
            return expand_replace(name);
        default:
            throw unsupported(operator_text);
        }
    }

    static ExpandError unsupported(const std::string& operator_text) {
        return ExpandError("unsupported modifier (" + operator_text + ") in substitution");
    }

    std::string expand_operator(const std::string& name, std::int32_t op,
                                const std::string& operator_text, bool null_is_unset) {
        // Patterns keep their backslashes: the pattern syntax has escapes of its own.
        const bool pattern = op == '#' || op == '%';
        if (null_is_unset && pattern) throw unsupported(operator_text);
        std::string word = nested_word('}', pattern, "syntax error: missing '}'");
        const std::string* value = lookup(name);
        if (!value && m_options.skip_unset) return "${" + name + operator_text + word + "}";
        const bool empty = !value || (null_is_unset && value->empty());
        switch (op) {
        case '-':
            return empty ? word : *value;
        case '+':
            return empty ? std::string() : word;
        case '?':
            if (!value)
                throw ExpandError(name + ": " +
                                  (word.empty() ? "is not allowed to be unset" : word));
            if (empty)
                throw ExpandError(name + ": " +
                                  (word.empty() ? "is not allowed to be empty" : word));
            return *value;
        case '#':
        case '%': {
            // A doubled operator (## or %%), seen after expansion, asks for the longest match.
            const bool longest = !word.empty() && word[0] == static_cast<char>(op);
            const std::string_view text = value ? std::string_view(*value) : std::string_view();
            const std::string_view pattern_text = std::string_view(word).substr(longest ? 1 : 0);
            return op == '%' ? internal::trim_pattern_suffix(text, pattern_text, longest)
                             : internal::trim_pattern_prefix(text, pattern_text, longest);
        }
        default:
            throw unsupported(operator_text);
        }
    }

    std::string expand_replace(const std::string& name) {
        const bool all = peek() == '/';
        if (all) next();
        std::string pattern = nested_word('/', true, "syntax error: missing '/' in ${}");
        std::string replacement = nested_word('}', true, "syntax error: missing '}'");
        const std::string* value = lookup(name);
        // Upstream writes one slash back even for `//`.
        if (!value && m_options.skip_unset)
            return "${" + name + "/" + pattern + "/" + replacement + "}";
        const std::string_view text = value ? std::string_view(*value) : std::string_view();
        return all ? internal::replace_pattern_all(text, pattern, replacement)
                   : internal::replace_pattern_first(text, pattern, replacement);
    }

    std::string_view m_source;
    std::size_t m_pos = 0;
    std::int32_t m_ch = k_eof;  // the rune at m_pos, or k_eof
    std::size_t m_width = 0;
    const Environment& m_env;
    std::int32_t m_escape;
    const ExpandOptions& m_options;
    Expansion* m_record;
    bool m_raw_escapes;
    int m_depth = 0;
};

}  // namespace

Environment Environment::from_list(const std::vector<std::string>& entries) {
    Environment env;
    for (const std::string& entry : entries) {
        const std::size_t equals = entry.find('=');
        if (equals == std::string::npos) env.set(entry, std::string());
        else env.set(entry.substr(0, equals), entry.substr(equals + 1));
    }
    return env;
}

void Environment::set(std::string name, std::string value) {
    if (const auto it = m_index.find(name); it != m_index.end()) {
        m_entries[it->second].second = std::move(value);
        return;
    }
    m_index.emplace(name, m_entries.size());
    m_entries.emplace_back(std::move(name), std::move(value));
}

void Environment::erase(std::string_view name) {
    const auto it = m_index.find(name);
    if (it == m_index.end()) return;
    m_entries.erase(m_entries.begin() + static_cast<std::ptrdiff_t>(it->second));
    m_index.clear();
    for (std::size_t i = 0; i < m_entries.size(); ++i) m_index.emplace(m_entries[i].first, i);
}

const std::string* Environment::find(std::string_view name) const {
    if (const auto it = m_index.find(name); it != m_index.end()) return &m_entries[it->second].second;
    return m_fallback ? m_fallback->find(name) : nullptr;
}

std::optional<std::string> Environment::get(std::string_view name) const {
    const std::string* value = find(name);
    if (!value) return std::nullopt;
    return *value;
}

ShellLex::ShellLex(char escape, ExpandOptions options) : m_escape(escape), m_options(options) {}

Expansion ShellLex::expand(std::string_view word, const Environment& env, bool split,
                           bool record) const {
    Expansion expansion;
    try {
        WordExpander expander(word, env, m_escape, m_options, record ? &expansion : nullptr);
        if (split) {
            WordSplitter splitter;
            expansion.word = expander.expand(&splitter);
            expansion.words = splitter.finish();
        } else {
            expansion.word = expander.expand(nullptr);
        }
    } catch (const ExpandError& error) {
        throw ExpandError("failed to process " + internal::go_quote(word) + ": " +
                          error.message());
    }
    return expansion;
}

std::string ShellLex::process_word(std::string_view word, const Environment& env) const {
    return expand(word, env, false, false).word;
}

Expansion ShellLex::process_word_with_matches(std::string_view word,
                                              const Environment& env) const {
    return expand(word, env, false, true);
}

std::vector<std::string> ShellLex::process_words(std::string_view word,
                                                 const Environment& env) const {
    return expand(word, env, true, false).words;
}

Expansion ShellLex::process_words_with_matches(std::string_view word,
                                               const Environment& env) const {
    return expand(word, env, true, true);
}

}  // namespace cbuild::parser
